// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eddy/spec.h"

namespace eddy {

/// Counters of one component, summed over its shards. Written by the runtime
/// with relaxed atomics (one writer per shard), read by the summary and,
/// later, the metrics endpoint.
struct ComponentMetrics {
    std::string name;
    std::string type;
    ComponentKind kind = ComponentKind::kOperator;
    std::atomic<uint64_t> records_in{0};
    std::atomic<uint64_t> records_out{0};   ///< On the main output.
    std::atomic<uint64_t> records_side{0};  ///< On named outputs other than errors.
    std::atomic<uint64_t> errors{0};
    std::atomic<uint64_t> late{0};
    /// Where a sink writes, for the summary ("out/purchases.jsonl").
    std::string destination;

    void add_in(uint64_t n) { records_in.fetch_add(n, std::memory_order_relaxed); }
    void add_out(uint64_t n) { records_out.fetch_add(n, std::memory_order_relaxed); }
    void add_side(uint64_t n) { records_side.fetch_add(n, std::memory_order_relaxed); }
    void add_errors(uint64_t n) { errors.fetch_add(n, std::memory_order_relaxed); }
};

/// The metrics of one job: one entry per component, in topology order.
class JobMetrics {
public:
    ComponentMetrics& add(std::string name, std::string type, ComponentKind kind);
    const std::vector<std::unique_ptr<ComponentMetrics>>& components() const { return components_; }
    /// Records read by all sources (main outputs plus errors).
    uint64_t source_records() const;

private:
    std::vector<std::unique_ptr<ComponentMetrics>> components_;
};

/// The run summary printed at the end of a job: a table of components with
/// records in, out and errors, then duration, events/s and the outputs.
std::string format_summary(const JobMetrics& metrics, double seconds, const std::string& status);

}  // namespace eddy
