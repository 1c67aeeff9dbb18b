// SPDX-License-Identifier: Apache-2.0
// The `next_action` operator: decayed first- and second-order Markov chains
// over an action field, per context, predicting each user's next actions.
// Design notes: docs/next_action.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
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
    /// The operator's half-life (0: no decay), which merges need to move
    /// other processes' decayed weights to this model's base times. Kept,
    /// like the limits, when a model is restored.
    void set_half_life(double half_life_ms);

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
    /// next actions scored by probability (their share of the row). Under
    /// scale-out the row is this process's own plus what the last merge
    /// added from the others.
    double predict(ChainOrder order, uint32_t context, uint32_t prev2, uint32_t prev, int64_t t,
                   double half_life_ms, double min_support, TopN& top) const;

    /// Rows created so far (this process's own).
    uint64_t rows() const;
    /// Rows the last merge added from other processes.
    uint64_t merged_rows() const;
    PrequentialCounts& counts();

    void encode(StateWriter& w) const;
    bool decode(StateReader& r, uint8_t version);
    /// A summary: counts, actions, contexts, rows and the global popularity
    /// row (this process's own).
    void to_json(JsonWriter& j) const;

private:
    friend struct Merge<NextActionModel>;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Scale-out (docs/scale-out.md, "Models"): transition counts are sums over
/// events, so the processes' chains add up. A model keeps its own rows
/// apart from the merged ones (the other processes' own rows, meeting by
/// action and context ids), and each merge rebuilds the merged rows from
/// the peers' current own rows: an event counts once however many merges
/// pass. Merged rows join with Space-Saving too (at most `transitions`
/// next actions per row, and at most `max_rows` rows), with decayed
/// weights moved to a common base time. Predictions read both. Prequential
/// counts stay each process's. The last model of a process that stopped
/// publishing stays in: its events happened.
template <>
struct Merge<NextActionModel> {
    static constexpr bool kKeepDeparted = true;
    static void merge(NextActionModel& own, std::span<const NextActionModel* const> peers);
};

template <>
struct Codec<NextActionModel> {
    static constexpr uint8_t kVersion = 2;  // 2: the merged rows (scale-out) follow the rows
    static void encode(const NextActionModel& m, StateWriter& w) { m.encode(w); }
    static bool decode(StateReader& r, uint8_t version, NextActionModel& m) {
        return m.decode(r, version);
    }
    static void to_json(const NextActionModel& m, JsonWriter& j) { m.to_json(j); }
};

/// Writes an encoded context (see the operator) as a JSON array of its values.
void context_to_json(std::string_view key, JsonWriter& j);

}  // namespace eddy
