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

#include "eddy/clock.h"
#include "eddy/metrics.h"
#include "eddy/record.h"
#include "eddy/spec.h"
#include "eddy/status.h"

#include "metrics/histogram.h"

namespace eddy {

/// Counters of one component, summed over its shards. Written by the runtime
/// with relaxed atomics (one writer per shard), read by the summary and
/// render_prometheus(). Everything a shard writes per batch or per record is
/// one relaxed atomic operation; gauges that differ per shard (watermark,
/// queue fill, state size) have a slot per shard, combined at render time.
struct ComponentMetrics {
    /// What one shard (instance) of the component writes for itself.
    struct Shard {
        std::atomic<int64_t> watermark{kNoWatermark};  ///< Its current event-time watermark.
        std::atomic<int64_t> queued{0};  ///< Parallel jobs: messages in its mailbox now.
    };
    /// Entries and estimated memory of one state handle, per shard; sampled
    /// on the thread that owns the shard (StateHandle is not thread-safe).
    struct StateSize {
        std::string state;
        std::unique_ptr<std::atomic<uint64_t>[]> entries;
        std::unique_ptr<std::atomic<uint64_t>[]> bytes;
    };

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
    std::atomic<uint64_t> lateness_sum_ms{0};
    /// Keyed state with a state dir: entries evicted from memory with changes
    /// (written to the spill area) and entries read from RocksDB on a miss.
    std::atomic<uint64_t> state_spilled{0};
    std::atomic<uint64_t> state_loaded{0};
    /// Parallel jobs: the most messages (batches, watermarks) that waited at
    /// once in the mailbox of one of this component's instances (at most its
    /// capacity), and the capacity of all of them (0: no mailbox).
    std::atomic<uint64_t> queue_peak{0};
    std::atomic<uint64_t> queue_capacity{0};  // a reload may add to it while /metrics reads
    /// Operators: time in process_batch()/process() per batch (ns), and the
    /// records of those batches.
    Histogram batch_ns{kBatchTimeBoundsNs, 1e9};
    std::atomic<uint64_t> batch_records{0};
    /// Sinks: processing time when write() returned minus each record's event time (ms).
    Histogram end_to_end_ms{kEndToEndBoundsMs, 1e3};
    /// Sources that know their size: what is left to read (-1: unknown), in
    /// bytes or records.
    std::atomic<int64_t> source_remaining{-1};
    std::atomic<bool> source_remaining_bytes{true};
    /// Set once (before the job runs) by set_state_names(); sampled later.
    std::vector<StateSize> states;
    std::atomic<bool> states_sampled{false};
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
        lateness_sum_ms.fetch_add(ms, std::memory_order_relaxed);
    }
    /// The upper bound (ms) of the bucket holding quantile q of lateness; 0 without late events.
    uint64_t lateness_quantile(double q) const;

    /// Per batch an operator processed: how long the call took and its records.
    void observe_batch(int64_t ns, size_t records) {
        batch_ns.observe(ns);
        batch_records.fetch_add(records, std::memory_order_relaxed);
    }
    /// Per batch a sink wrote: each record's latency from its event time to
    /// `now_ms` (one pass over the batch, buckets counted locally).
    void observe_end_to_end(const Batch& batch, int64_t now_ms);

    /// The number of shards; before the job runs. Starts at 1.
    void set_shards(size_t n);
    size_t shard_count() const { return shard_count_; }
    Shard& shard(size_t s) { return shards_[s]; }
    const Shard& shard(size_t s) const { return shards_[s]; }
    void set_watermark(size_t s, int64_t watermark) {
        shards_[s].watermark.store(watermark, std::memory_order_relaxed);
    }
    /// The smallest watermark of the shards that have one (kNoWatermark: none has).
    int64_t min_watermark() const;
    /// Messages in the mailboxes of all shards now (never negative).
    uint64_t queued() const;

    /// The names of the component's state handles; before the job runs.
    void set_state_names(const std::vector<std::string>& names);
    void set_state_size(size_t state, size_t s, uint64_t entries, uint64_t bytes) {
        states[state].entries[s].store(entries, std::memory_order_relaxed);
        states[state].bytes[s].store(bytes, std::memory_order_relaxed);
    }

private:
    size_t shard_count_ = 1;
    std::unique_ptr<Shard[]> shards_ = std::make_unique<Shard[]>(1);
};

/// Job-level figures of checkpoints, written by the job's thread at each
/// checkpoint and read by render_prometheus().
struct CheckpointMetrics {
    std::atomic<bool> enabled{false};  ///< The job has a state.dir.
    std::atomic<uint64_t> completed{0};
    std::atomic<uint64_t> last_id{0};  ///< Taken or restored; 0: none.
    std::atomic<uint64_t> last_bytes{0};
    std::atomic<int64_t> last_timestamp_ms{0};  ///< Processing time of the last one taken.
    std::atomic<int64_t> last_duration_us{0};
    Histogram duration_us{kCheckpointBoundsUs, 1e6};

    /// A checkpoint completed: its id, bytes written, when (job clock) and how long it took (µs).
    void record(uint64_t id, uint64_t bytes, int64_t timestamp_ms, int64_t duration);
};

/// Job-level figures of topology reloads (`eddy run --watch`, SIGHUP),
/// written by the thread that reloads and read by render_prometheus().
struct ReloadMetrics {
    std::atomic<bool> enabled{false};  ///< The job can be reloaded.
    std::atomic<uint64_t> applied{0};
    std::atomic<uint64_t> unchanged{0};  ///< The file changed nothing the job runs.
    std::atomic<uint64_t> refused{0};    ///< A change needs a restart; nothing applied.
    std::atomic<uint64_t> failed{0};     ///< The file was invalid, or applying it failed.
    std::atomic<bool> last_ok{true};     ///< The last reload was applied or changed nothing.
    std::atomic<int64_t> last_timestamp_ms{0};
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
    /// Thread-safe: a reload adds the metrics of the sinks it adds.
    ComponentMetrics& add(std::string name, std::string type, ComponentKind kind);
    /// Every component's metrics, in the order added. Thread-safe.
    std::vector<const ComponentMetrics*> components() const;
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

    /// Checkpoints of the job (job-level, no component label).
    CheckpointMetrics& checkpoints() { return checkpoints_; }
    const CheckpointMetrics& checkpoints() const { return checkpoints_; }
    /// Reloads of the job's topology (job-level).
    ReloadMetrics& reloads() { return reloads_; }
    const ReloadMetrics& reloads() const { return reloads_; }

    /// The job's processing-time clock, for gauges computed at render time
    /// (watermark lag); the system clock until set. Set before the job runs.
    void set_clock(const Clock& clock) { clock_ = &clock; }
    const Clock& clock() const { return *clock_; }

private:
    std::vector<std::unique_ptr<ComponentMetrics>> components_;  // guarded by mu_
    CheckpointMetrics checkpoints_;
    ReloadMetrics reloads_;
    const Clock* clock_ = &Clock::system();
    mutable std::mutex mu_;
    std::deque<ComponentMetric> component_metrics_;  // guarded by mu_
    std::deque<ComponentEvaluation> evaluations_;    // guarded by mu_
};

/// The Prometheus text exposition format (version 0.0.4) of a job's
/// metrics (docs/metrics.md): per component records in, out, side, errors
/// and late, lateness, batch time, end-to-end latency, watermark and its lag
/// behind `now_ms`, state size, spill and load, queue fill, source
/// remaining; the job's checkpoints; then the components' own metrics and
/// evaluation figures. Thread-safe; not for the hot path.
std::string render_prometheus(const JobMetrics& metrics, int64_t now_ms);
/// The same, with `now_ms` from the metrics' clock (the job's).
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
