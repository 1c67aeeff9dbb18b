// SPDX-License-Identifier: Apache-2.0
#include "metrics/metrics.h"

namespace eddy {

ComponentMetrics& JobMetrics::add(std::string name, std::string type, ComponentKind kind) {
    auto m = std::make_unique<ComponentMetrics>();
    m->name = std::move(name);
    m->type = std::move(type);
    m->kind = kind;
    components_.push_back(std::move(m));
    return *components_.back();
}

uint64_t JobMetrics::source_records() const {
    uint64_t n = 0;
    for (const auto& c : components_) {
        if (c->kind == ComponentKind::kSource) {
            n += c->records_out.load(std::memory_order_relaxed) +
                 c->errors.load(std::memory_order_relaxed);
        }
    }
    return n;
}

}  // namespace eddy
