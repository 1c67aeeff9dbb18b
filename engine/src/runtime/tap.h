// SPDX-License-Identifier: Apache-2.0
// Live records from a running job, for `eddy tap` (GET /v1/tap): what a
// component emits, and, with a key, each keyed operator's state for that key
// before and after the batch that touched it. Until a tap is opened a job
// pays one relaxed atomic load per batch and output; a tap never blocks the
// job: when its reader falls behind, events are dropped and counted.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/record.h"
#include "eddy/state.h"

#include "record/json.h"

namespace eddy {

/// What to tap.
struct TapRequest {
    /// A component's name, or "*" for every component (then with every
    /// output unless `output` is "errors").
    std::string component;
    /// "" the main output (for a sink: the records it receives), an output's
    /// name (`errors`, `late`, ...), or "*" for every output.
    std::string output;
    /// When set, only records for this key: the record's key, or a field of
    /// it that some operator or exchange keys by. Keyed operators then also
    /// report their state for the key before and after each batch.
    std::optional<std::string> key;
    /// The fraction of records taken, in (0, 1].
    double sample = 1;
    /// Events (records and state traces) after which the tap ends; 0 for none.
    uint64_t limit = 0;
    /// Events queued for a slow reader before new ones are dropped.
    size_t capacity = 4096;
    size_t capacity_bytes = 8u << 20;
};

/// One keyed state of an operator for one key, as checkpointed (the
/// 8-byte touched time, here 0, then the codec's version byte and bytes),
/// for state::append_state_value to render.
struct StoredState {
    std::string name;
    uint8_t version = 0;
    bool found = false;
    std::string stored;
};

/// Appends to `out` the value of `encoded_key` (eddy::encode_state_key) in
/// each keyed state of `states` (only the one named `only`, when not empty).
void read_stored_states(const std::vector<StateHandle*>& states, std::string_view encoded_key,
                        std::string_view only, std::vector<StoredState>& out);

struct TapEvent {
    enum class Kind { kRecord, kState };
    Kind kind = Kind::kRecord;
    std::string component;
    std::string output;  ///< kRecord: "" for the main output (or a sink's input)
    int shard = 0;
    int64_t time = 0;  ///< kRecord: the record's event time
    std::string json;  ///< kRecord: the record as a JSON object
    // kState: the operator's type, the traced key's records in the batch
    // (JSON objects), and its keyed states before and after the batch.
    std::string type;
    std::string key;
    std::vector<std::string> inputs;
    std::vector<StoredState> before;
    std::vector<StoredState> after;
    // kState from a timer of the key (no inputs): its domain and time.
    bool timer = false;
    TimeDomain timer_domain = TimeDomain::kEventTime;
    int64_t timer_time = 0;
};

/// One open tap: filled on the job's threads, read by one reader.
class Tap {
public:
    Tap(TapRequest request, size_t component, const FieldTable& fields);

    const TapRequest& request() const { return request_; }

    /// Waits up to `wait` for events and moves them to the end of `out`.
    /// Returns false once the tap has ended: `out` then holds its last events.
    bool take(std::vector<TapEvent>& out, std::chrono::milliseconds wait);
    /// Events dropped since the last call, because the reader was behind.
    uint64_t take_dropped();
    /// Why the tap ended ("" while it is open).
    std::string end_reason() const;

    // For the runtime, which serializes these calls (Job::Impl::taps_mu_).

    /// Whether the tap reads component index `component` (some output of it).
    bool reads_component(size_t component) const {
        return component_ == SIZE_MAX || component_ == component;
    }
    /// Whether the tap reads component index `component`, output `output`.
    bool reads(size_t component, std::string_view output) const;
    /// Whether `record` is of the requested key (true without one).
    bool matches(const Record& record, const std::vector<FieldId>& key_fields) const;
    /// Whether `key` is the requested key (false without one).
    bool is_key(const Value& key) const;
    /// Samples, encodes and queues the matching records of `batch`; ends
    /// the tap when its limit is reached.
    void offer(std::string_view component, std::string_view output, int shard, const Batch& batch,
               const std::vector<FieldId>& key_fields);
    /// Encodes `record` as a JSON object.
    std::string encode(const Record& record);
    /// Queues `event` and counts it against the limit.
    void deliver(TapEvent&& event);
    /// Ends the tap: the reader gets what is queued, then the end.
    void end(std::string reason);
    bool ended() const { return ended_.load(std::memory_order_acquire); }

private:
    bool sampled();
    void push(TapEvent&& event);

    const TapRequest request_;
    const size_t component_;  // SIZE_MAX: every component
    std::optional<int64_t> key_int_;
    JsonEncoder encoder_;
    uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
    uint64_t taken_ = 0;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<TapEvent> queue_;
    size_t queued_bytes_ = 0;
    uint64_t dropped_ = 0;
    std::string end_reason_;
    std::atomic<bool> ended_{false};
};

}  // namespace eddy
