// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/registry.h"
#include "eddy/status.h"

#include "metrics/metrics.h"
#include "runtime/plan.h"
#include "runtime/tap.h"
#include "topology/topology.h"

namespace eddy {

struct ReloadPlan;  // runtime/reload.h

struct JobOptions {
    /// Processing time for timers, idle detection and sources without event time.
    const Clock* clock = &Clock::system();
    /// Records per poll of a source.
    size_t batch_size = Batch::kDefaultCapacity;
    /// Called about twice a second while the job runs (for the progress line).
    std::function<void(const struct JobProgress&)> on_progress;
    /// With a `state.dir`: ignore and delete earlier state instead of restoring it.
    bool fresh = false;
    /// With `fresh`: delete the state even when it belongs to another topology.
    bool force = false;
    /// A savepoint directory (`eddy savepoint create`) to start from: state.dir
    /// is replaced by a copy of it, then restored as usual. Refused when it is
    /// not a savepoint, when it is of another topology (unless `force`), and
    /// when state.dir already holds a checkpoint (unless `fresh`). Needs state.dir.
    std::string from_savepoint;
    /// Operators whose incompatible or orphaned state may be dropped on restore.
    std::vector<std::string> allow_state_drop;
    /// When not empty: the job's metrics in the Prometheus text format are
    /// written to this file (atomically) at start, every `metrics_interval_ms`
    /// and at the end, for node_exporter's textfile collector or a look by hand.
    std::string metrics_file;
    int64_t metrics_interval_ms = 10000;
};

/// What a task posted with Job::run_on_owner() sees of one operator
/// instance, on the thread that owns it (valid only during the call).
struct OwnerView {
    const ComponentDef* def = nullptr;
    Operator* op = nullptr;
    const std::vector<StateHandle*>* states = nullptr;
    int shard = 0;
    int parallelism = 1;
    int64_t watermark = kNoWatermark;  ///< The instance's current event-time watermark.
    uint64_t checkpoint_id = 0;        ///< The last checkpoint taken or restored; 0: none.
};

/// The instance of an operator that owns a key, as any thread may see it
/// (Job::find_owner()): for PublishedQueryable::query_published().
struct SharedOwner {
    const ComponentDef* def = nullptr;
    const Operator* op = nullptr;
    int shard = 0;
    int64_t watermark = kNoWatermark;  ///< The shard's watermark, as last published.
    uint64_t checkpoint_id = 0;        ///< The last checkpoint taken or restored; 0: none.
};

/// Where event time stands in a running job: the answer to "why hasn't my
/// window fired?" (Job::explain_time(), GET /v1/time, `eddy explain-time`).
/// Times are event-time milliseconds; kNoWatermark: none yet; INT64_MAX
/// (kEndOfTime): a finished input, or no timer.
struct TimeReport {
    struct Source {
        std::string name;
        int64_t watermark = kNoWatermark;       ///< What it has sent downstream.
        int64_t max_event_time = kNoWatermark;  ///< The latest event time it has read.
        int64_t max_out_of_orderness_ms = 0;
        int64_t idle_timeout_ms = -1;  ///< -1: never idle.
        bool idle = false;
        bool ended = false;
    };
    /// One input channel of an instance: an upstream component (one of its
    /// shards when it has several).
    struct Input {
        std::string from;  ///< "component[.output][ shard N]"
        int64_t watermark = kNoWatermark;
        bool idle = false;
    };
    struct OperatorTimers {
        std::string name;
        int64_t next_event_time = INT64_MAX;
        int64_t next_processing_time = INT64_MAX;
        uint64_t pending = 0;
    };
    /// One shard of a chain of operators, or a sink.
    struct Instance {
        std::vector<std::string> components;
        bool sink = false;
        int shard = 0;
        int parallelism = 1;
        bool answered = false;  ///< False: its thread did not answer in time, or
        bool stopped = false;   ///< the job has stopped (its thread runs no more tasks).
        /// The smallest watermark of the inputs that are not idle: the
        /// operators' event time.
        int64_t watermark = kNoWatermark;
        std::vector<Input> inputs;
        std::vector<OperatorTimers> operators;  ///< Empty for a sink.
    };
    int64_t processing_time = 0;  ///< The job clock's now, in ms.
    std::vector<Source> sources;
    std::vector<Instance> instances;  ///< In plan order.
};

/// Progress of the finite sources, summed.
struct JobProgress {
    uint64_t done = 0;
    uint64_t total = 0;  ///< 0 when no source knows its size.
    bool bytes = true;
    uint64_t records = 0;
    double seconds = 0;
};

/// A running topology: the plan's components instantiated (one instance per
/// shard of each chain), connected, and driven from one thread. Records flow
/// in batches depth-first from each source poll through chains, exchanges and
/// sinks; watermarks follow the records. Finite sources end the job when they
/// are drained (after a final kEndOfTime watermark, so every timer fires);
/// request_stop() ends it early. Either way operators are closed in plan
/// order and sinks are flushed and closed.
class Job {
public:
    ~Job();
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

    /// Instantiates every component through its factory and opens it.
    static Result<std::unique_ptr<Job>> create(const Topology& topology, JobOptions options = {});

    /// Runs until the input ends, stop is requested, or a component fails.
    /// Returns ok, or the failure (a source that cannot read, a sink that
    /// cannot write, an operator that threw).
    Status run();

    /// Stepped runs, for `eddy test` (engine/src/testing/): instead of run(),
    /// the caller drives the job on its own thread, one call at a time.
    /// Sequential jobs only (every chain of parallelism 1). Call
    /// start_steps() once, then step(), inject() and advance_watermark() in
    /// any order, then finish_steps(); never run() as well (job_steps.cc).
    struct StepOutcome {
        bool had_data = false;  ///< A source emitted records or errors.
        bool ended = false;     ///< Every source has ended.
    };
    /// Unsupported: a parallel job; invalid: a run already started. The
    /// others return invalid before start_steps() and after finish_steps().
    Status start_steps();
    /// One round of run()'s loop: polls each source that has not ended
    /// once, fires the processing-time timers due at the clock's time and
    /// runs posted tasks (run_on_owner()). Returns the run's failure, if any.
    Result<StepOutcome> step();
    /// Hands `records` to operator `op` as if its input had emitted them:
    /// keys set from its key field, process(), then its outputs passed on.
    /// Not found: no operator of that name.
    Status inject(std::string_view op, Batch& records);
    /// Raises the watermark of every source that has not ended to
    /// `watermark` (never lowers it) and sends it downstream, firing the
    /// event-time timers it makes due.
    Status advance_watermark(int64_t watermark);
    /// The highest watermark any source has sent; kNoWatermark before any.
    int64_t sources_watermark() const;
    /// Ends a stepped run as run() ends (last checkpoint with `state.dir`,
    /// operators closed, sinks flushed and closed); returns its failure.
    Status finish_steps();
    /// The id of field `name` in the job's table (interned on first use),
    /// for records made outside the job, as for inject(). Not thread-safe:
    /// call it from the thread that drives a stepped run.
    FieldId field(std::string_view name);

    /// Applies the live part of a reload (runtime/reload.h, plan_reload())
    /// to the running job: the operators in `plan.reconfigured` are replaced
    /// by new instances made from their new parameters (their old instances
    /// closed), and `plan.added_sinks` are opened and wired in. It happens on
    /// the job's thread between two polls, with every worker idle, so no
    /// record is lost or seen twice; state is untouched. All or nothing:
    /// when a new instance or sink cannot be opened, or an operator turns
    /// out to keep state, have timers pending or answer queries
    /// (unsupported), nothing changes. The plan's specs (their registry)
    /// must outlive the job. Thread-safe; blocks until done. Aborted: the
    /// job is not running, or stopped first.
    Status reload(const ReloadPlan& plan);

    /// Asks run() to stop soon. Async-signal-safe.
    void request_stop() { stop_.store(true, std::memory_order_relaxed); }
    bool stopped_early() const { return stopped_early_; }

    /// Takes a checkpoint now (between polls). Ok and nothing done without `state.dir`;
    /// an error once run() has ended (its last checkpoint was taken then).
    Status checkpoint();
    /// The number of checkpoints this run completed, and whether it restored one.
    uint64_t checkpoints() const;
    bool restored() const;
    /// Bytes written by the last checkpoint and its duration in milliseconds.
    uint64_t last_checkpoint_bytes() const;
    double last_checkpoint_ms() const;

    /// Runs `task` on the thread that owns the shard of operator `op` that
    /// holds `key` (shard 0 when `key` is null), between two batches, never
    /// during a checkpoint: it may read the instance's state as process()
    /// left it, and must be quick. It is called with nullptr when the job
    /// ends before it could run. Thread-safe; returns at once (not found:
    /// no operator of that name). For the HTTP API (engine/src/serve/).
    Status run_on_owner(std::string_view op, const Value* key,
                        std::function<void(const OwnerView*)> task);
    /// The instance of operator `op` that owns `key` (shard 0 when `key` is
    /// null), without running anything on its thread: only what is safe to
    /// read beside process() may be read of it. Thread-safe; instances live
    /// as long as the job (not found: no operator of that name).
    Status find_owner(std::string_view op, const Value* key, SharedOwner& out) const;
    /// Calls `f` on every instance (shard) of operator `op`, on the calling
    /// thread: `f` may only call what is documented as safe from any thread
    /// (PublishedQueryable::keep_answers()). Not found: no such operator.
    Status for_each_instance(std::string_view op, const std::function<void(Operator&)>& f);
    /// Where event time stands: each source's watermark (read beside the
    /// run) and, from a task on the thread that owns each instance, its
    /// inputs' watermarks, which are idle, and its operators' next timers.
    /// Waits at most `timeout_ms` for the instances (those that did not
    /// answer are marked so). Thread-safe; for the HTTP API.
    TimeReport explain_time(int64_t timeout_ms);
    /// Opens a tap (runtime/tap.h): live records of a component, from now
    /// until close_tap(), its limit, or the end of the job. Thread-safe.
    /// Not found: no such component or output; invalid: a bad sample.
    Result<std::shared_ptr<Tap>> open_tap(TapRequest request);
    /// Ends `tap` and stops feeding it. Thread-safe.
    void close_tap(const std::shared_ptr<Tap>& tap);
    /// How many taps are open. Thread-safe.
    size_t open_taps() const;
    /// Scale-out (docs/scale-out.md): which process holds operator `op`'s
    /// state of `key`. kHere also without scale-out and for an operator
    /// whose state is not scoped by partition; kElsewhere with the owner's HTTP address; kUnknown
    /// while no process has said it owns the key's partition. Thread-safe.
    struct KeyPlace {
        enum class Where { kHere, kElsewhere, kUnknown };
        Where where = Where::kHere;
        int32_t partition = -1;
        std::string address;  ///< host:port of the owner's HTTP API (kElsewhere)
    };
    KeyPlace place_of(std::string_view op, const Value& key) const;
    /// The HTTP API's address (host:port) as the other processes' clients
    /// reach it; with scale-out the process publishes it with the
    /// partitions it owns, for redirects. Call before run().
    void set_advertised_address(std::string address);

    /// Whether run() is processing (it has started and not yet ended).
    bool running() const { return running_.load(std::memory_order_acquire); }
    /// Whether state is restored and every source has caught up with its
    /// input at least once (a poll that returned less than it asked for).
    bool ready() const { return ready_.load(std::memory_order_acquire); }

    const JobMetrics& metrics() const { return metrics_; }
    /// For components outside the plan that add metrics (the HTTP API).
    JobMetrics& metrics() { return metrics_; }
    const PhysicalPlan& plan() const { return plan_; }
    const Topology& topology() const { return topology_; }
    double elapsed_seconds() const { return elapsed_; }

private:
    class Impl;
    explicit Job(const Topology& topology, JobOptions options);

    Topology topology_;
    PhysicalPlan plan_;
    JobOptions options_;
    JobMetrics metrics_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> running_{false};
    std::atomic<bool> ready_{false};
    bool stopped_early_ = false;
    double elapsed_ = 0;
    std::unique_ptr<Impl> impl_;
};

}  // namespace eddy
