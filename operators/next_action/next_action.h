// SPDX-License-Identifier: Apache-2.0
// The `next_action` operator: decayed first- and second-order Markov chains
// over an action field, per context, predicting each user's next actions.
// Design notes: docs/next_action.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "eddy/codec.h"
#include "eddy/spec.h"

#include "common/item_index.h"
#include "common/recommend.h"

namespace eddy {

/// next_action's output fields: action_1..action_k and
/// probability_1..probability_k, sized by `top_k`; the action field is `field`.
inline constexpr RankingNames kNextActionNames{"top_k", "action", "probability", "field"};

/// The `next_action` operator's spec.
ComponentSpec next_action_spec();
/// The operator, from a validated config (the spec's factory).
Result<std::unique_ptr<Operator>> make_next_action(const Config& cfg);

/// One user's place in their chain: the two latest actions (indexes into the
/// model's action index, kNoItem when absent), the context of the latest
/// event (the state a transition leaves from) and its time.
struct ActionHistory {
    uint32_t prev2 = kNoItem;
    uint32_t prev = kNoItem;
    uint32_t context = 0;
    int64_t last_time = kNoRecTime;
};

template <>
struct Codec<ActionHistory> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const ActionHistory& h, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, ActionHistory& h);
    static void to_json(const ActionHistory& h, JsonWriter& j);
    static size_t heap_bytes(const ActionHistory&) { return 0; }
};

/// Where a prediction comes from: a transition row of the model.
enum class ChainOrder : uint8_t { kPopularity = 0, kFirst = 1, kSecond = 2 };

/// The model's size limits (the operator's `max_*` parameters).
struct NextActionLimits {
    /// Row keys hold 24-bit actions, the all-ones one meaning "none".
    static constexpr uint32_t kMaxActions = (1u << 24) - 1;
    /// Row keys hold 12-bit contexts, 0 being the empty one.
    static constexpr uint32_t kMaxContexts = (1u << 12) - 1;

    uint32_t actions = 100'000;
    uint32_t contexts = 1024;
    uint64_t rows = 1'000'000;
    uint32_t transitions = 20;
};

/// Transition counts shared by every shard (Shared<NextActionModel>). A row
/// holds the decayed counts of the actions that followed one state: (context,
/// prev2, prev) for the second order, (context, prev) for the first, and one
/// global row (every event) for popularity. A row keeps at most
/// `limits.transitions` next actions with Space-Saving: a new action
/// replaces the weakest entry and inherits its count, so that the entries
/// always sum to the row's total and any action with more than a
/// 1/transitions share of the row is kept. Counts decay by 2^(-age /
/// half_life), stored relative to a per-row base time that moves forward
/// (rescaling the row) every 32 half-lives, so that nothing overflows.
/// Rows live in a concurrent map (never erased) and change under their own
/// spinlock. Thread-safe except encode/decode and moves, which the runtime
/// calls while no shard runs.
class NextActionModel {
public:
    NextActionModel();
    ~NextActionModel();
    NextActionModel(NextActionModel&& other) noexcept;
    NextActionModel& operator=(NextActionModel&& other) noexcept;

    /// Sets the limits; call before the first learn() (open(), every shard alike).
    void set_limits(const NextActionLimits& limits);

    /// The index of an encoded action id (encode_item_id), adding it (and
    /// setting `created`) when new; kNoItem when it is new and the index
    /// holds `limits.actions`.
    uint32_t action(std::string_view id, bool& created);
    const ItemIndex& actions() const;
    /// The index of an encoded context, adding it when new; kNoItem when it
    /// is new and `limits.contexts` exist. Context 0 is the empty context
    /// (no `context` fields, no time bucket), not counted in the limit.
    uint32_t context(std::string_view key);
    const ItemIndex& contexts() const;

    /// Adds one observation of `next` at time `t` to the row of (order,
    /// context, prev2, prev), creating the row unless `limits.rows` exist.
    /// Returns false when the row could not be created. half_life_ms 0: no decay.
    bool learn(ChainOrder order, uint32_t context, uint32_t prev2, uint32_t prev, uint32_t next,
               int64_t t, double half_life_ms);
    /// The row's decayed total at `t` (0 when it does not exist). When that
    /// is at least `min_support` (and > 0), fills `top` with the row's best
    /// next actions scored by probability (their share of the row).
    double predict(ChainOrder order, uint32_t context, uint32_t prev2, uint32_t prev, int64_t t,
                   double half_life_ms, double min_support, TopN& top) const;

    /// Rows created so far.
    uint64_t rows() const;
    PrequentialCounts& counts();

    void encode(StateWriter& w) const;
    bool decode(StateReader& r);
    /// A summary: counts, actions, contexts, rows and the global popularity row.
    void to_json(JsonWriter& j) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

template <>
struct Codec<NextActionModel> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const NextActionModel& m, StateWriter& w) { m.encode(w); }
    static bool decode(StateReader& r, uint8_t, NextActionModel& m) { return m.decode(r); }
    static void to_json(const NextActionModel& m, JsonWriter& j) { m.to_json(j); }
};

/// Writes an encoded context (see the operator) as a JSON array of its values.
void context_to_json(std::string_view key, JsonWriter& j);

}  // namespace eddy
