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

uint64_t ComponentMetrics::lateness_quantile(double q) const {
    uint64_t total = late.load(std::memory_order_relaxed);
    if (total == 0) {
        return 0;
    }
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < kLatenessBuckets; ++b) {
        seen += lateness_ms[b].load(std::memory_order_relaxed);
        if (seen >= rank) {
            return b == 0 ? 0 : (uint64_t{1} << b) - 1;
        }
    }
    return UINT64_MAX;
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
