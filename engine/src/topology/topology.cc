// SPDX-License-Identifier: Apache-2.0
#include "topology/topology.h"

#include <filesystem>
#include <functional>

namespace eddy {

int Topology::find(std::string_view component_name) const {
    for (size_t i = 0; i < components.size(); ++i) {
        if (components[i].name == component_name) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::vector<int> Topology::consumers(int component, std::string_view output) const {
    std::vector<int> out;
    const std::string& from = components[static_cast<size_t>(component)].name;
    for (size_t i = 0; i < components.size(); ++i) {
        for (const InputRef& in : components[i].inputs) {
            if (in.component == from && in.output == output) {
                out.push_back(static_cast<int>(i));
                break;
            }
        }
    }
    return out;
}

std::string Topology::job_name() const {
    return name.empty() ? std::filesystem::path(file).stem().string() : name;
}

std::vector<int> Topology::topological_order() const {
    std::vector<int> order;
    std::vector<int> state(components.size(), 0);  // 0 new, 1 visiting, 2 done
    std::function<void(int)> visit = [&](int i) {
        if (state[static_cast<size_t>(i)] != 0) {
            return;
        }
        state[static_cast<size_t>(i)] = 1;
        for (const InputRef& in : components[static_cast<size_t>(i)].inputs) {
            int j = find(in.component);
            if (j >= 0) {
                visit(j);
            }
        }
        state[static_cast<size_t>(i)] = 2;
        order.push_back(i);
    };
    for (size_t i = 0; i < components.size(); ++i) {
        visit(static_cast<int>(i));
    }
    return order;
}

const char* section_name(ComponentKind kind) {
    switch (kind) {
        case ComponentKind::kSource:
            return "sources";
        case ComponentKind::kOperator:
            return "operators";
        case ComponentKind::kSink:
            return "sinks";
    }
    return "";
}

}  // namespace eddy
