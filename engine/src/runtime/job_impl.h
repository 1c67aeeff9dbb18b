// SPDX-License-Identifier: Apache-2.0
// The executor behind Job, shared by job.cc (data flow) and checkpoint.cc
// (state, checkpoints and restore). Internal to the runtime.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "io/kafka_transaction.h"
#include "runtime/job.h"
#include "runtime/key_groups.h"
#include "runtime/mailbox.h"
#include "runtime/owner_tasks.h"
#include "runtime/parallel_decode.h"
#include "runtime/plan.h"
#include "runtime/reload.h"
#include "runtime/scale_out.h"
#include "runtime/tap.h"
#include "state/backing.h"
#include "state/expiry.h"
#include "state/layout.h"
#include "state/store.h"
#include "time/timer_service.h"
#include "time/watermark.h"

namespace eddy {
namespace detail {

inline constexpr int kLoggedErrorsPerComponent = 5;

inline spdlog::level::level_enum to_spdlog(LogLevel level) {
    switch (level) {
        case LogLevel::kTrace:
            return spdlog::level::trace;
        case LogLevel::kDebug:
            return spdlog::level::debug;
        case LogLevel::kInfo:
            return spdlog::level::info;
        case LogLevel::kWarn:
            return spdlog::level::warn;
        case LogLevel::kError:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

/// The id of `output` among `def`'s outputs (0 main, then the spec's
/// outputs, then `errors`); -1 when it has none of that name.
inline int output_id(const ComponentDef& def, std::string_view output) {
    if (output.empty()) {
        return 0;
    }
    if (output == "errors") {
        return static_cast<int>(def.spec->outputs.size()) + 1;
    }
    for (size_t i = 0; i < def.spec->outputs.size(); ++i) {
        if (def.spec->outputs[i].name == output) {
            return static_cast<int>(i) + 1;
        }
    }
    return -1;
}

/// Where a sink writes, for the run summary: its `path`, or standard output.
inline void set_destination(ComponentMetrics& metrics, const ComponentDef& sink) {
    if (sink.config.has("path")) {
        metrics.destination = sink.config.string("path");
    } else if (sink.type == "stdout") {
        metrics.destination = "standard output";
    }
}

/// A state key encoded by eddy::encode_state_key, as a Value (strings and
/// vectors viewing `storage`).
Value decode_state_key(std::string_view encoded, std::string& storage);

}  // namespace detail

class Job::Impl {
public:
    explicit Impl(Job& job) : job_(job) {}

    Status build();
    Status run();
    /// Writes every change since the last checkpoint, the timers, watermarks
    /// and source positions in one synced batch (checkpoint.cc).
    Status checkpoint();
    /// Job::place_of() and Job::set_advertised_address() (job_scale_out.cc).
    Job::KeyPlace place_of(std::string_view op, const Value& key) const;
    void set_advertised_address(std::string address) { advertised_ = std::move(address); }
    uint64_t checkpoints() const { return checkpoints_; }
    /// The size of the last checkpoint's write batch and how long it took.
    uint64_t last_checkpoint_bytes() const { return last_checkpoint_bytes_; }
    double last_checkpoint_ms() const { return last_checkpoint_ms_; }
    bool restored() const { return resuming_; }
    /// Job::run_on_owner().
    Status post_task(std::string_view op, const Value* key,
                     std::function<void(const OwnerView*)> task);
    /// Job::for_each_instance().
    Status for_each_instance(std::string_view op, const std::function<void(Operator&)>& f);
    /// Job::find_owner().
    Status find_owner(std::string_view op, const Value* key, SharedOwner& out) const;
    /// Job::open_tap() and Job::close_tap() (job_taps.cc).
    Result<std::shared_ptr<Tap>> open_tap(TapRequest request);
    void close_tap(const std::shared_ptr<Tap>& tap);
    size_t open_taps() {
        std::lock_guard lock(taps_mu_);
        return taps_.size();
    }
    /// Ends every open tap, and every tap opened later, with `reason`.
    void end_taps(const std::string& reason);
    /// Job's stepped runs (job_steps.cc).
    Status start_steps();
    Result<StepOutcome> step();
    Status inject(std::string_view op, Batch& records);
    Status advance_sources_watermark(int64_t watermark);
    int64_t sources_watermark() const;
    Status finish_steps();
    FieldId intern(std::string_view name) { return fields_.intern(name); }
    /// Job::explain_time() (job_time.cc).
    TimeReport explain_time(int64_t timeout_ms);
    /// Job::reload() (job_reload.cc): hands the request to the job's thread
    /// and waits for it.
    Status request_reload(const ReloadPlan& plan);
    /// Refuses reloads from now on, and the one waiting (the run ended).
    void close_reloads();
    /// Sinks a job's reloads may add: build() reserves room for them, so
    /// that instances_ never moves while other threads read it.
    static constexpr size_t kMaxAddedSinks = 64;

private:
    struct NodeInstance;
    struct OperatorRuntime;

    /// Where one output of one component goes: a destination node and how
    /// records are spread over its shards.
    struct Destination {
        int node = -1;
        bool hash = false;
        FieldId key = kInvalidField;
        std::string key_name;
        /// The channel of each upstream shard at every destination instance.
        std::vector<size_t> channel_of_shard;
        size_t dest_shards = 1;
        // For hashing: [from shard * dest_shards + destination shard], so
        // that upstream shards on different threads never share one.
        std::vector<Batch> staging;
        std::vector<size_t> next;  // per upstream shard: round robin when parallelism differs
    };
    using Routes = std::vector<Destination>;

    /// What every component context shares; `Interface` is the SDK context type.
    template <class Interface>
    class BaseContext : public Interface {
    public:
        BaseContext(Impl& impl, const ComponentDef& def, int shard, int parallelism)
            : impl_(impl), def_(def), shard_(shard), parallelism_(parallelism) {}
        std::string_view name() const override { return def_.name; }
        FieldId field(std::string_view n) override { return impl_.fields_.intern(n); }
        std::string_view field_name(FieldId id) const override { return impl_.fields_.name(id); }
        const Clock& clock() const override { return *impl_.job_.options_.clock; }
        void log(LogLevel level, std::string_view message) override {
            spdlog::log(detail::to_spdlog(level), "[{}] {}", def_.name, message);
        }
        OutputId output(std::string_view n) override {
            if (n == "errors") {
                return errors_output();
            }
            for (size_t i = 0; i < def_.spec->outputs.size(); ++i) {
                if (def_.spec->outputs[i].name == n) {
                    return static_cast<OutputId>(i + 1);
                }
            }
            spdlog::critical(
                "internal error: component '{}' ({}) asked for output '{}', which its spec "
                "does not declare; add .output(\"{}\", ...) to the spec",
                def_.name, def_.type, n, n);
            std::abort();
        }
        int shard() const override { return shard_; }
        bool resuming() const override { return impl_.resuming_; }
        Counter counter(std::string_view name, std::string_view help,
                        const MetricLabels& labels) override {
            return Counter(impl_.job_.metrics_.component_metric(def_.name, name, help,
                                                                MetricKind::kCounter, labels));
        }
        Gauge gauge(std::string_view name, std::string_view help,
                    const MetricLabels& labels) override {
            return Gauge(impl_.job_.metrics_.component_metric(def_.name, name, help,
                                                              MetricKind::kGauge, labels));
        }
        EvaluationMetric evaluation(std::string_view metric, int top_n) override {
            return EvaluationMetric(
                impl_.job_.metrics_.component_evaluation(def_.name, metric, top_n));
        }
        int parallelism() const override { return parallelism_; }

        OutputId errors_output() const {
            return static_cast<OutputId>(def_.spec->outputs.size() + 1);
        }
        size_t output_count() const { return def_.spec->outputs.size() + 2; }
        std::string output_name(size_t id) const {
            if (id == 0) {
                return "";
            }
            if (id == errors_output()) {
                return "errors";
            }
            return def_.spec->outputs[id - 1].name;
        }

        Impl& impl_;
        const ComponentDef& def_;
        int shard_;
        int parallelism_;
        size_t index_ = 0;  // in Topology::components
        ComponentMetrics* metrics_ = nullptr;
        int logged_errors_ = 0;
    };

    struct OperatorRuntime final : BaseContext<OpenContext>, Emitter {
        OperatorRuntime(Impl& impl, const ComponentDef& def, int shard, int parallelism)
            : BaseContext(impl, def, shard, parallelism) {}

        Timers& timers() override { return timers_; }
        void register_state(StateHandle& handle) override {
            for (StateHandle* s : states_) {
                if (s->name() == handle.name()) {
                    spdlog::critical("internal error: operator '{}' registers state '{}' twice",
                                     def_.name, handle.name());
                    std::abort();
                }
            }
            states_.push_back(&handle);
            if (handle.shared()) {
                // Shard 0 opens first: its handle owns the value the others share.
                auto [first, added] =
                    impl_.shared_states_.try_emplace({def_.name, handle.name()}, &handle);
                if (!added && !handle.share(*first->second)) {
                    spdlog::critical(
                        "internal error: operator '{}' registers shared state '{}' with "
                        "another type in shard {}",
                        def_.name, handle.name(), shard_);
                    std::abort();
                }
            }
            if (def_.state_ttl_ms) {
                handle.set_ttl(*def_.state_ttl_ms, &ttl_now_);
            }
        }

        // Emitter.
        Record& append(OutputId out) override { return outputs_[out].append(); }
        void emit(const Record& record, OutputId out) override {
            outputs_[out].append_copy(record);
        }
        void error(const Record& record, std::string_view reason) override {
            Record& r = outputs_[errors_output()].append_copy(record);
            r.set(impl_.error_field_, reason);
            r.set(impl_.error_at_field_, std::string_view(def_.name));
            if (logged_errors_ < detail::kLoggedErrorsPerComponent) {
                ++logged_errors_;
                spdlog::warn("[{}] record sent to errors: {}", def_.name, reason);
            }
        }

        void late(const Record& record, int64_t lateness_ms, LatePolicy policy) override {
            metrics_->add_late(lateness_ms);
            if (policy == LatePolicy::kSideOutput && late_output_ != UINT32_MAX) {
                Record& r = outputs_[late_output_].append_copy(record);
                r.set(impl_.lateness_field_, lateness_ms);
            }
        }

        std::unique_ptr<Operator> op_;
        std::vector<StateHandle*> states_;
        std::vector<std::unique_ptr<state::RocksBacking>> backings_;  // of keyed states
        size_t cache_budget_ = 0;  // bytes of keyed state kept in memory; 0 = unbounded
        int64_t ttl_now_ = 0;      // event time for state_ttl: the latest record or watermark seen
        OutputId late_output_ = UINT32_MAX;  // none declared
        TimerService timers_;
        std::vector<Batch> outputs_;
        std::vector<Routes*>
            routes_;  // per output id; null when nothing outside the chain reads it
        // Per output id: the operators of the same chain instance that read it.
        std::vector<std::vector<size_t>> internal_;
        FieldId key_ = kInvalidField;
        Batch keyed_;  // scratch for batches where some records lack the key
    };

    struct SourceRuntime final : BaseContext<ComponentContext>, SourceEmitter {
        SourceRuntime(Impl& impl, const ComponentDef& def)
            : BaseContext(impl, def, 0, 1),
              watermarks_(def.watermark.max_out_of_orderness_ms, def.watermark.idle_timeout_ms) {}

        Record& append() override { return main_.append(); }
        void set_split(uint32_t split) override { splits_.push_back({main_.size(), split}); }
        void discard_last() override { main_.pop_back(); }
        void error(std::string_view reason, int64_t position, std::string_view raw) override {
            Record& r = errors_.append();
            r.set_time(this->clock().now_ms());
            r.set(impl_.error_field_, reason);
            r.set(impl_.error_at_field_, std::string_view(def_.name));
            r.set(impl_.position_field_, position);
            r.set(impl_.raw_field_, raw.substr(0, 1024));
            if (logged_errors_ < detail::kLoggedErrorsPerComponent) {
                ++logged_errors_;
                spdlog::warn("[{}] input at position {} sent to errors: {}", def_.name, position,
                             reason);
            }
        }

        std::unique_ptr<Source> source_;
        // Parallel jobs, line sources: lines read here, decoded on the arena.
        LineSource* lines_ = nullptr;
        std::unique_ptr<ParallelDecoder> decoder_;
        RawLines raw_;
        WatermarkGenerator watermarks_;
        // This poll's set_split() calls: (index in main_ of the next record, split).
        std::vector<std::pair<size_t, uint32_t>> splits_;
        Batch main_;
        Batch errors_;
        Routes routes_main_;
        Routes routes_errors_;
        int64_t sent_watermark_ = kNoWatermark;
        bool ended_ = false;
        bool idle_ = false;
        // Published for explain_time(), which reads them from another thread.
        std::atomic<int64_t> shown_max_seen_{kNoWatermark};
        std::atomic<bool> shown_idle_{false};
        std::atomic<bool> shown_ended_{false};
        bool caught_up_ = false;  // a poll has returned less than it asked for
        int node_ = -1;
    };

    struct SinkRuntime final : BaseContext<SinkContext> {
        using BaseContext::BaseContext;

        Record& reject(std::string_view reason) override {
            Record& r = errors_.append();
            r.set_time(this->clock().now_ms());
            stamp(r, reason);
            return r;
        }
        void reject(const Record& record, std::string_view reason) override {
            stamp(errors_.append_copy(record), reason);
        }
        void stamp(Record& r, std::string_view reason) {
            r.set(impl_.error_field_, reason);
            r.set(impl_.error_at_field_, std::string_view(def_.name));
            if (logged_errors_ < detail::kLoggedErrorsPerComponent) {
                ++logged_errors_;
                spdlog::warn("[{}] record sent to errors: {}", def_.name, reason);
            }
        }

        std::unique_ptr<Sink> sink_;
        Batch errors_;                     // rejected by the last call into the sink
        Routes* routes_errors_ = nullptr;  // null when nothing reads `errors`
    };

    struct NodeInstance {
        const PlanNode* node = nullptr;
        int shard = 0;
        std::vector<std::unique_ptr<OperatorRuntime>> ops;  // chain
        SinkRuntime* sink = nullptr;
        WatermarkCombiner combiner;
        int64_t output_watermark = kNoWatermark;
        std::vector<std::string> input_names;  // per combiner channel, for explain_time()
        // Parallel jobs: the instance's input and the thread that serves it.
        std::unique_ptr<Mailbox> mailbox;
        std::thread worker;
        // Reads from the HTTP API, run by the thread that owns the instance.
        TaskInbox tasks;
        // Parallel jobs: where the mailbox's fill is counted (its first component).
        ComponentMetrics* queue_metrics = nullptr;
        std::atomic<bool> sampling{false};  // a sample_state() task is queued
    };

    /// Makes the thread that owns `inst` run its posted tasks soon.
    void wake(NodeInstance& inst);

    NodeInstance& instance(int node, int shard) {
        return *instances_[static_cast<size_t>(node)][static_cast<size_t>(shard)];
    }

    Status build_routes();
    void deliver(NodeInstance& inst, size_t channel, Batch& batch);
    void deliver_idle(NodeInstance& inst, size_t channel, bool idle);
    void process_into(NodeInstance& inst, size_t k, Batch& batch);
    void flush_outputs(NodeInstance& inst, size_t k);
    void route(Routes& routes, int from_shard, Batch& batch);
    void advance(NodeInstance& inst, int64_t watermark);
    void broadcast_watermark(Routes& routes, int from_shard, int64_t watermark);
    void broadcast_idle(Routes& routes, int from_shard, bool idle);
    bool poll_source(SourceRuntime& src);
    /// Routes a poll's (or a decoded chunk's) records and the errors so far.
    void emit_polled(SourceRuntime& src, Batch& records);
    void send_source_watermark(SourceRuntime& src);
    /// Parallel jobs: line sources decode on a task arena of `threads` threads.
    void start_parallel_decoding(int threads);
    void fire_processing_timers();
    void fire_processing_timers(NodeInstance& inst, int64_t now);
    // Taps (job_taps.cc). The hot path asks tapped() once per batch and
    // output; only a tapped component takes taps_mu_.
    bool tapped(size_t component) const {
        return tap_counts_[component].load(std::memory_order_relaxed) != 0;
    }
    /// Offers `batch`, emitted on `output` ("" main) of a component, to its taps.
    void tap_records(const ComponentDef& def, size_t component, std::string_view output, int shard,
                     const Batch& batch);
    /// A keyed operator's batch holding a traced key: the state before it.
    struct Trace {
        std::shared_ptr<Tap> tap;
        std::string encoded_key;
        TapEvent event;
    };
    void begin_traces(OperatorRuntime& op, int shard, const Batch& input,
                      std::vector<Trace>& traces);
    /// The same for a timer about to fire: a state event without inputs.
    void begin_timer_traces(OperatorRuntime& op, int shard, const Timer& timer,
                            std::vector<Trace>& traces);
    void end_traces(OperatorRuntime& op, std::vector<Trace>& traces);
    /// Starts tracing `key` for `tap`: the event's header and the state before.
    void start_trace(const std::shared_ptr<Tap>& tap, OperatorRuntime& op, int shard,
                     const Value& key, Trace& trace);
    /// Calls on_timer() for `timer`, traced when the operator is tapped by key.
    void fire_timer(NodeInstance& inst, size_t k, const Timer& timer);
    /// Recounts tap_counts_ after taps_ changed; under taps_mu_.
    void count_taps();
    /// Messages a mailbox holds before its senders wait (backpressure).
    static constexpr size_t kMailboxCapacity = 32;
    /// After a call into the operator: evicts keyed state beyond the cache
    /// budget and stops the job if its state could not be read.
    void maintain_state(OperatorRuntime& op) {
        if (op.backings_.empty()) {
            return;
        }
        size_t used = 0;
        for (const StateHandle* h : op.states_) {
            used += h->memory_bytes();
        }
        if (used > op.cache_budget_) {
            evict(op, used);
        }
        for (const auto& b : op.backings_) {
            if (uint64_t n = b->take_loaded(); n > 0) {
                op.metrics_->state_loaded.fetch_add(n, std::memory_order_relaxed);
            }
            if (uint64_t n = b->take_spilled(); n > 0) {
                op.metrics_->state_spilled.fetch_add(n, std::memory_order_relaxed);
            }
            if (!b->failure().empty()) {
                fail(Status::io_error("state of operator '" + op.def_.name + "' in '" +
                                      job_.topology_.state.dir + "': " + b->failure()));
            }
        }
    }
    void evict(OperatorRuntime& op, size_t used);
    /// Between two timers of one firing (which may be millions, as when the
    /// input ends): passes on full output batches, so that their memory
    /// stays bounded, and keeps the state cache within its budget.
    void after_timer(NodeInstance& inst, size_t k) {
        OperatorRuntime& op = *inst.ops[k];
        size_t pending = 0;
        for (const Batch& b : op.outputs_) {
            pending += b.size();
        }
        if (pending >= job_.options_.batch_size) {
            maintain_state(op);
            flush_outputs(inst, k);
        }
    }
    /// After a call into a sink: passes on what it rejected.
    void pass_rejected(SinkRuntime& sink);
    /// Flushes every sink, upstream ones first, so that what one rejects
    /// reaches the sink that reads its `errors` before that one flushes.
    Status flush_sinks();
    void close_all();
    void close_sink(SinkRuntime& sink);
    /// JobOptions::metrics_file: the Prometheus text of the metrics now.
    Status write_metrics();
    /// On the job's thread, every kSampleIntervalMs and at the end: source
    /// progress, mailbox peaks, and state sizes (sample_state(), on the
    /// thread that owns each instance: a task when workers run).
    void sample_metrics();
    void sample_state(NodeInstance& inst);
    static constexpr int64_t kSampleIntervalMs = 1000;
    void fail_on_error(Status s) {
        if (!s.is_ok()) {
            fail(std::move(s));
        }
    }
    void fail(Status s) {
        std::lock_guard lock(failure_mu_);
        if (failure_.is_ok()) {
            failure_ = std::move(s);
            failed_.store(true);
        }
    }
    bool failed() const { return failed_.load(std::memory_order_relaxed); }

    // Parallel execution (job.cc): every chain and sink instance has a thread
    // and a bounded mailbox; sources run on the job's thread. A checkpoint
    // pauses the sources and waits until nothing is in flight.
    void start_workers();
    void start_worker(NodeInstance& inst);
    void stop_workers();
    void work(NodeInstance& inst);
    void send(NodeInstance& inst, Message&& m) {
        in_flight_.fetch_add(1);
        inst.mailbox->push(std::move(m));
        inst.queue_metrics->shard(static_cast<size_t>(inst.shard))
            .queued.fetch_add(1, std::memory_order_relaxed);
    }
    void finish_one() {
        if (in_flight_.fetch_sub(1) == 1) {
            std::lock_guard lock(quiet_mu_);
            quiet_cv_.notify_all();
        }
    }
    /// Waits until every message sent has been processed and no processing-
    /// time timer runs; from then on until resume() the workers are idle.
    void quiesce();
    void resume();

    /// Runs the instance's tasks unless a checkpoint holds the workers.
    void run_tasks(NodeInstance& inst);
    /// Sequential jobs: runs every instance's tasks on the job's thread.
    void run_all_tasks();
    void close_tasks();
    /// Sets Job::ready() once every source has caught up.
    void note_caught_up();
    template <class F>
    void guarded(const ComponentDef& def, const char* what, F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            fail(Status::internal("operator '" + def.name + "' (" + def.type + ") threw in " +
                                  what + ": " + e.what()));
        } catch (...) {
            fail(Status::internal("operator '" + def.name + "' (" + def.type + ") threw in " +
                                  what));
        }
    }

    // Reloads (job_reload.cc).
    struct ReloadRequest {
        std::vector<ComponentDef> reconfigured;
        std::vector<ComponentDef> added_sinks;
        std::vector<ReloadPlan::ErrorLink> error_links;
        std::promise<Status> done;
    };
    /// On the job's thread, every worker idle: applies the waiting request.
    void apply_pending_reload();
    Status apply_reload(ReloadRequest& request);
    void attach_sink(std::unique_ptr<SinkRuntime> sink);
    /// Undoes what opening `op` (null: its open() failed) with `rt` did:
    /// states registered beyond the first `states`, timers, outputs; closes it.
    void discard_opened(OperatorRuntime& rt, std::unique_ptr<Operator> op, size_t states);
    /// Adds to `routes` a destination feeding `dest` from `from_shards`
    /// upstream shards whose watermarks are `watermarks`.
    void connect(Routes& routes, int from_shards, NodeInstance& dest, const std::string& from_name,
                 const std::vector<int64_t>& watermarks);
    int64_t from_watermark(const SinkRuntime& sink);
    SinkRuntime* running_sink(const std::string& name);

    // State and checkpoints (checkpoint.cc).
    // Scale-out (job_scale_out.cc, docs/scale-out.md).
    Status open_scale_out();
    /// This state dir's process id ("scaleout_member" in the store's meta),
    /// made on first use: model keys, transactional ids.
    std::string member_id();
    /// Before the sinks open: names the transactional kafka sink's
    /// transaction (job_transaction.cc); at most one per topology.
    Status open_transaction();
    void join_repartition_writers(SinkRuntime& owner, KafkaTransactionalSink& t);
    /// checkpoint(), before the store commits: commits the transactional
    /// sink's transaction with `offsets`; nothing without one.
    Status commit_transaction(const std::vector<GroupOffsets>& offsets);
    KafkaTransactionalSink* txn_sink_ = nullptr;
    std::string txn_name_;
    /// The transactional sink when repartition writers write through its
    /// producer: it opens first and closes last.
    SinkRuntime* txn_owner_ = nullptr;
    static constexpr int64_t kDefaultTransactionTimeoutMs = 60000;
    /// Creates the repartition topics of the topology that do not exist yet,
    /// with as many partitions as their upstream source's topic.
    Status create_repartition_topics();
    Status open_scale_out_source(size_t index, const KafkaClientOptions& client,
                                 const std::string& job, uint64_t writer, bool& mergeable);
    /// Moves state for the partitions the scale-out sources gain or lose.
    void move_partitions();
    void move_partitions(ScaleOut& so);
    Status restore_partitions(ScaleOut& so, const std::vector<int32_t>& partitions,
                              std::map<int32_t, int64_t>& resume);
    Status drop_partitions(ScaleOut& so, const std::set<int32_t>& partitions);
    void note_restore(ScaleOut& so, int32_t partition, int64_t ms, uint64_t records);
    /// The caches of `so`'s scoped operators no longer hold every stored entry.
    void forget_memory_complete(const ScaleOut& so);
    /// The scale-out source whose partitions hold operator `op`'s keyed
    /// state; null when none does.
    ScaleOut* scale_out_of(std::string_view op) const;
    /// checkpoint(): a keyed entry (value nullopt: erased) or a timer change
    /// for the changelog, and the markers of the checkpoint.
    void log_entry(ScaleOut& so, const std::string& op, uint8_t handle, std::string_view encoded,
                   std::optional<std::string_view> value);
    void log_timer(ScaleOut& so, const std::string& op, TimeDomain domain, int64_t time,
                   std::string_view encoded, bool added);
    /// `offsets`: with a transactional sink, where each scale-out source's
    /// group has read to, for the transaction.
    Status publish_changelog(rocksdb::WriteBatch& batch, std::vector<GroupOffsets>& offsets);
    /// checkpoint(), while no shard runs: publishes the scoped operators'
    /// mergeable models and merges the other processes' into them.
    void sync_models();
    /// Publishes the partitions this process owns and its HTTP address to
    /// the model topic, and reads the others', for place_of().
    void sync_members(bool publish);
    /// One per scale-out source, in the order of sources_; the first is the
    /// topology's first scale-out source.
    std::vector<std::unique_ptr<ScaleOut>> scale_outs_;
    std::unique_ptr<ScaleOutModels> models_;
    std::string advertised_;
    /// Which process owns each partition of each scale-out source (in the
    /// order of scale_outs_), for the HTTP threads' place_of().
    struct Placement {
        struct Partitions {
            int32_t count = 0;
            std::set<int32_t> owned;
            std::map<int32_t, std::string> address;  // partitions owned elsewhere
        };
        std::vector<Partitions> sources;
        std::map<std::string, size_t, std::less<>> source_of;  // scoped operator -> index
    };
    std::atomic<bool> placed_{false};  // placement_ set: without scale-out, no lock is taken
    mutable std::mutex placement_mu_;
    std::shared_ptr<const Placement> placement_;

    Status open_state();
    Status restore();
    Status check_compatibility();
    /// Whether an operator's families in the store hold anything.
    bool holds_entries(const std::string& op);
    /// Makes keyed state a write-back cache over the store (after restore,
    /// which may drop families).
    Status bind_state();
    /// Adds the entries evicted since the last checkpoint to `batch`, and
    /// empties the spill areas in it.
    Status commit_spilled(rocksdb::WriteBatch& batch);
    /// Records each state_ttl operator's clocks in `batch`.
    std::vector<std::pair<std::string, state::Expiry>> record_expiry(rocksdb::WriteBatch& batch);
    std::string operator_meta(const ComponentDef& def, const OperatorRuntime& op) const;

    Job& job_;
    std::unique_ptr<state::StateStore> store_;
    bool resuming_ = false;
    bool closed_ = false;  // after close_all(): nothing left to checkpoint
    bool metrics_warned_ = false;
    uint64_t checkpoints_ = 0;
    uint64_t last_checkpoint_bytes_ = 0;
    double last_checkpoint_ms_ = 0;
    uint64_t checkpoint_id_ = 0;
    FieldTable fields_;
    FieldId error_field_ = kInvalidField;
    FieldId error_at_field_ = kInvalidField;
    FieldId position_field_ = kInvalidField;
    FieldId raw_field_ = kInvalidField;
    FieldId lateness_field_ = kInvalidField;
    std::vector<std::unique_ptr<SourceRuntime>> sources_;
    std::vector<std::unique_ptr<SinkRuntime>> sinks_;
    // Shared state: (operator, state name) -> shard 0's handle.
    std::map<std::pair<std::string, std::string>, StateHandle*> shared_states_;
    std::vector<std::vector<std::unique_ptr<NodeInstance>>> instances_;  // [node][shard]
    // Routes per (component, output id); operators keep pointers into it.
    std::vector<std::vector<std::unique_ptr<Routes>>> routes_;
    // Empty batches that carry only a watermark, one per nesting depth.
    std::vector<std::unique_ptr<Batch>> watermark_batches_;
    size_t watermark_depth_ = 0;
    std::mutex failure_mu_;
    std::atomic<bool> failed_{false};
    Status failure_;  // guarded by failure_mu_ while workers run
    bool threaded_ = false;
    bool parallel_ = false;  // chains and sinks run on threads of their own (build())
    std::atomic<int64_t> in_flight_{0};
    std::atomic<bool> paused_{false};
    std::mutex quiet_mu_;
    std::condition_variable quiet_cv_;
    // Sequential jobs: the job's thread waits here when no source has data,
    // and a posted task wakes it.
    std::mutex wake_mu_;
    std::condition_variable wake_cv_;
    std::atomic<bool> tasks_posted_{false};
    // Operator name -> (plan node, position in the chain).
    std::map<std::string, std::pair<int, size_t>, std::less<>> operator_at_;
    BatchPool pool_;
    // Open taps; tap_counts_[component] is how many of them read it.
    std::unique_ptr<std::atomic<uint32_t>[]> tap_counts_;
    std::mutex taps_mu_;
    std::vector<std::shared_ptr<Tap>> taps_;
    std::string taps_ended_;  // end_taps()'s reason: later taps end at once
    // Fields a tap's key may be in: every operator's and exchange's key.
    std::vector<FieldId> tap_key_fields_;
    // Reloads: the request waiting for the job's thread, and what reloads
    // added (stable addresses: runtimes point into them).
    std::mutex reload_mu_;
    std::shared_ptr<ReloadRequest> reload_request_;  // guarded by reload_mu_
    bool reload_closed_ = false;                     // guarded by reload_mu_
    std::atomic<bool> reload_pending_{false};
    std::deque<ComponentDef> added_defs_;
    std::deque<PlanNode> added_nodes_;
    std::deque<Routes> added_routes_;
    // Sinks that read the errors of sinks a reload added: closed after them.
    std::vector<SinkRuntime*> close_last_;
    // Held while instances_ grows (a reload adds a sink) and by readers on
    // other threads that walk it (explain_time()).
    std::mutex graph_mu_;
};

}  // namespace eddy
