// SPDX-License-Identifier: Apache-2.0
#include "eddy/registry.h"

namespace eddy {

Status Registry::add(ComponentSpec spec, std::string origin) {
    auto& table = by_kind_[static_cast<int>(spec.kind)];
    const char* kind = component_kind_name(spec.kind);
    auto it = table.find(spec.name);
    if (it != table.end()) {
        return Status::invalid_argument(std::string(kind) + " type '" + spec.name + "' from " +
                                        origin + " is already registered by " + it->second.origin +
                                        "; rename one of them");
    }
    bool has_factory = (spec.kind == ComponentKind::kOperator && spec.make_operator) ||
                       (spec.kind == ComponentKind::kSource && spec.make_source) ||
                       (spec.kind == ComponentKind::kSink && spec.make_sink);
    if (!has_factory) {
        return Status::invalid_argument(std::string(kind) + " type '" + spec.name + "' from " +
                                        origin + " has no factory; call .factory() in its spec");
    }
    spec.origin = std::move(origin);
    std::string name = spec.name;
    table.emplace(std::move(name), std::move(spec));
    return Status::ok();
}

const ComponentSpec* Registry::find(ComponentKind kind, std::string_view name) const {
    const auto& table = by_kind_[static_cast<int>(kind)];
    auto it = table.find(name);
    return it == table.end() ? nullptr : &it->second;
}

std::vector<const ComponentSpec*> Registry::all(ComponentKind kind) const {
    std::vector<const ComponentSpec*> out;
    for (const auto& [name, spec] : by_kind_[static_cast<int>(kind)]) {
        out.push_back(&spec);
    }
    return out;
}

std::vector<std::string> Registry::names(ComponentKind kind) const {
    std::vector<std::string> out;
    for (const auto& [name, spec] : by_kind_[static_cast<int>(kind)]) {
        out.push_back(name);
    }
    return out;
}

}  // namespace eddy
