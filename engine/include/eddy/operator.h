// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string_view>

#include "eddy/context.h"
#include "eddy/lateness.h"
#include "eddy/record.h"
#include "eddy/state.h"
#include "eddy/status.h"

namespace eddy {

enum class TimeDomain { kEventTime, kProcessingTime };

/// A timer that fired: its domain, its time (ms) and the key it was set for.
struct Timer {
    TimeDomain domain;
    int64_t time;
    Value key;  ///< Valid during on_timer() only.
};

/// Per-key timers of one operator instance. Setting the same (key, time) twice
/// fires once. Event-time timers fire when the watermark reaches their time,
/// processing-time timers when the clock does; both call Operator::on_timer().
class Timers {
public:
    virtual ~Timers() = default;
    virtual void set(TimeDomain domain, const Value& key, int64_t time) = 0;
    virtual void cancel(TimeDomain domain, const Value& key, int64_t time) = 0;
    /// The current watermark of this operator's input (kNoWatermark before the first).
    virtual int64_t watermark() const = 0;
};

/// What an operator can ask the runtime during open(); see ComponentContext.
class OpenContext : public ComponentContext {
public:
    /// Timers for this operator instance; valid until close().
    virtual Timers& timers() = 0;
    /// Registers a state handle (a member of the operator) so that the runtime
    /// can snapshot, restore and measure it. Names must be unique per operator.
    virtual void register_state(StateHandle& state) = 0;
};

/// Where an operator emits records. Emitted records are copied into the
/// output's batch, so the argument may be a record of the input batch.
/// Never called concurrently; valid during the call that received it.
class Emitter {
public:
    virtual ~Emitter() = default;
    /// A new, empty record on `output`, to be filled by the caller. Its event
    /// time is 0 until the caller sets it with Record::set_time().
    virtual Record& append(OutputId output = kMainOutput) = 0;
    /// A deep copy of `record` on `output`.
    virtual void emit(const Record& record, OutputId output = kMainOutput) = 0;
    /// `record` on the `errors` output with an `error` field naming `reason`.
    virtual void error(const Record& record, std::string_view reason) = 0;
    /// A record that arrived `lateness_ms` after the watermark passed its time
    /// (by the operator's own definition). Always counted in the `late` metric
    /// and the lateness histogram; with LatePolicy::kSideOutput it is also
    /// emitted on the `late` output with a `lateness_ms` field. The spec must
    /// declare the output (add_lateness() does).
    virtual void late(const Record& record, int64_t lateness_ms, LatePolicy policy) = 0;
};

/// A stream operator: one instance per shard, called by one thread at a time,
/// so it needs no locks. Lifecycle: open() once, then any mix of process(),
/// on_watermark() and on_timer(), then close() once. Never throw from these:
/// bad records go to Emitter::error(); a failed open() stops the job cleanly.
class Operator {
public:
    virtual ~Operator() = default;

    /// Setup: resolve field ids and outputs, read state. Default: nothing.
    virtual Status open(OpenContext& ctx) {
        (void)ctx;
        return Status::ok();
    }

    /// One record. For keyed operators record.key() is set.
    virtual void process(const Record& record, Emitter& out) = 0;

    /// A batch of records; the default calls process() for each.
    virtual void process_batch(const Batch& batch, Emitter& out) {
        for (size_t i = 0; i < batch.size(); ++i) {
            process(batch[i], out);
        }
    }

    /// The input's watermark advanced to `watermark` (after due timers fired).
    virtual void on_watermark(int64_t watermark, Emitter& out) {
        (void)watermark;
        (void)out;
    }

    /// A timer set through Timers fired.
    virtual void on_timer(const Timer& timer, Emitter& out) {
        (void)timer;
        (void)out;
    }

    /// The job is ending: emit what is pending. Called once, after the last input.
    virtual void close(Emitter& out) { (void)out; }
};

}  // namespace eddy
