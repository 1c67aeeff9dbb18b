// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/metrics.h"
#include "eddy/spec.h"
#include "eddy/status.h"

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
    /// Lateness histogram: bucket b counts late events with lateness in
    /// [2^(b-1), 2^b) ms (bucket 0: under 1 ms); the last bucket is open-ended.
    static constexpr size_t kLatenessBuckets = 40;
    std::array<std::atomic<uint64_t>, kLatenessBuckets> lateness_ms{};
    /// Keyed state with a state dir: entries evicted from memory with changes
    /// (written to the spill area) and entries read from RocksDB on a miss.
    std::atomic<uint64_t> state_spilled{0};
    std::atomic<uint64_t> state_loaded{0};
    /// Parallel jobs: the most messages (batches, watermarks) that waited at
    /// once in the mailbox of this component's instance (at most its capacity).
    std::atomic<uint64_t> queue_peak{0};
    /// Where a sink writes, for the summary ("out/purchases.jsonl").
    std::string destination;

    void add_in(uint64_t n) { records_in.fetch_add(n, std::memory_order_relaxed); }
    void add_out(uint64_t n) { records_out.fetch_add(n, std::memory_order_relaxed); }
    void add_side(uint64_t n) { records_side.fetch_add(n, std::memory_order_relaxed); }
    void add_errors(uint64_t n) { errors.fetch_add(n, std::memory_order_relaxed); }
    void add_late(int64_t lateness) {
        late.fetch_add(1, std::memory_order_relaxed);
        uint64_t ms = lateness > 0 ? static_cast<uint64_t>(lateness) : 0;
        size_t bucket = std::min<size_t>(std::bit_width(ms), kLatenessBuckets - 1);
        lateness_ms[bucket].fetch_add(1, std::memory_order_relaxed);
    }
    /// The upper bound (ms) of the bucket holding quantile q of lateness; 0 without late events.
    uint64_t lateness_quantile(double q) const;
};

enum class MetricKind { kCounter, kGauge };

/// A metric a component asked for through ComponentContext::counter() or
/// gauge(): exported as eddy_<name>{component="...", labels...}.
struct ComponentMetric {
    std::string component;
    std::string name;
    std::string help;
    MetricKind kind = MetricKind::kCounter;
    MetricLabels labels;
    MetricCell cell;
};

/// A figure of a component's prequential evaluation (ComponentContext::
/// evaluation()): exported as eddy_evaluation{component, metric[, top_n]}.
struct ComponentEvaluation {
    std::string component;
    std::string metric;  ///< "mae", "rmse", "hit_rate", "ndcg", ...
    int top_n = 0;       ///< The N of a ranking metric; 0: none.
    EvaluationCell cell;
};

/// How a figure is shown: "MAE", "RMSE", "HR@10", "NDCG@10", else the
/// metric's name (with "@N" when it has a cutoff).
std::string evaluation_label(std::string_view metric, int top_n);

/// The metrics of one job: one entry per component, in topology order, and
/// the metrics components registered themselves.
class JobMetrics {
public:
    ComponentMetrics& add(std::string name, std::string type, ComponentKind kind);
    const std::vector<std::unique_ptr<ComponentMetrics>>& components() const { return components_; }
    /// Records read by all sources (main outputs plus errors).
    uint64_t source_records() const;

    /// The cell of a component's metric, made on first use (and made live
    /// again when it was retired). Thread-safe; cells never move.
    MetricCell* component_metric(std::string_view component, std::string_view name,
                                 std::string_view help, MetricKind kind,
                                 const MetricLabels& labels);
    /// Calls f(const ComponentMetric&) for each, in the order first asked for.
    template <class F>
    void for_each_component_metric(F&& f) const {
        std::lock_guard lock(mu_);
        for (const ComponentMetric& m : component_metrics_) {
            f(m);
        }
    }

    /// The cell of a component's evaluation figure, made on first use.
    /// Thread-safe; cells never move.
    EvaluationCell* component_evaluation(std::string_view component, std::string_view metric,
                                         int top_n);
    /// Calls f(const ComponentEvaluation&) for each, in the order first asked for.
    template <class F>
    void for_each_evaluation(F&& f) const {
        std::lock_guard lock(mu_);
        for (const ComponentEvaluation& e : evaluations_) {
            f(e);
        }
    }

private:
    std::vector<std::unique_ptr<ComponentMetrics>> components_;
    mutable std::mutex mu_;
    std::deque<ComponentMetric> component_metrics_;  // guarded by mu_
    std::deque<ComponentEvaluation> evaluations_;    // guarded by mu_
};

/// The Prometheus text exposition format (version 0.0.4) of a job's
/// metrics: records in, out, side, errors and late per component, state
/// spill and load counts, queue peaks, then the components' own metrics.
std::string render_prometheus(const JobMetrics& metrics);

/// Writes `text` to `path` through a temporary file and a rename, so that a
/// reader (node_exporter's textfile collector) never sees half of it.
Status write_file_atomically(const std::string& path, const std::string& text);

/// The run summary printed at the end of a job: a table of components with
/// records in, out and errors, then duration, events/s and the outputs, and
/// an "evaluation" table of the prequential figures when there are any.
std::string format_summary(const JobMetrics& metrics, double seconds, const std::string& status);

/// The summary's "evaluation" table: a row per figure (component, metric,
/// value with four decimals or "-" when nothing was scored, scored events);
/// empty when no component evaluates.
std::string format_evaluation(const JobMetrics& metrics);

}  // namespace eddy
