// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>

#include "eddy/codec.h"
#include "eddy/spec.h"
#include "eddy/state.h"

#include "common/item_index.h"
#include "common/recommend.h"

namespace eddy {

/// The `popularity` operator's spec: decayed item popularity, global or per
/// group, as top-N recommendations that exclude the user's recent items.
ComponentSpec popularity_spec();

/// Item popularity shared by every shard (Shared<PopularityModel>). Group 0
/// is the global ranking; groups 1.. are the values of `group_field`. Each
/// group has a column of scores by item index. With decay (half_life > 0) a
/// score is stored in the log domain against a fixed origin t0 (the first
/// event time): s = log2(sum_k w_k * 2^((t_k - t0) / half_life)), so adding
/// an event is one compare-and-swap on one double, no item is ever rescaled,
/// nothing overflows, and the order of scores is the order of decayed
/// popularity at any time T (the decayed score is 2^(s - (T - t0) /
/// half_life)). Without decay a score is the plain weighted count, added with
/// a relaxed atomic add. Thread-safe except encode/decode and moves, which
/// the runtime calls while no shard runs.
class PopularityModel {
public:
    static constexpr uint32_t kMaxGroups = 4096;
    static constexpr double kNoScore = -std::numeric_limits<double>::infinity();

    PopularityModel();
    ~PopularityModel();
    PopularityModel(PopularityModel&& other) noexcept;
    PopularityModel& operator=(PopularityModel&& other) noexcept;

    ItemIndex& items();
    const ItemIndex& items() const;
    /// The index of group `id` (encoded item-id style), adding it when new;
    /// kNoItem when kMaxGroups groups exist.
    uint32_t group(std::string_view id);
    /// The index of group `id` if it exists (with its column), else kNoItem;
    /// adds nothing.
    uint32_t find_group(std::string_view id) const;
    /// The encoded id of group g (0: "").
    std::string_view group_id(uint32_t g) const;
    /// Makes item i scorable (called once when the item is added).
    void add_item(uint32_t item);
    /// Adds weight w (> 0) at event time t to the item in `group` and, for a
    /// group other than 0, in the global ranking too. half_life_ms 0: no decay.
    void add(uint32_t group, uint32_t item, double w, int64_t t, double half_life_ms);
    /// The item's stored score in the group (its ranking key), kNoScore if none.
    double stored(uint32_t group, uint32_t item) const;
    /// A stored score as the decayed popularity at time `now`.
    double decayed(double stored, int64_t now, double half_life_ms) const;
    /// Calls f(item, stored) for every item with a score in the group, in
    /// index order (a scan of the column; no locks).
    template <class F>
    void scan(uint32_t group, F&& f) const;

    PrequentialCounts& counts();

    /// The operator's half-life (ms; 0: no decay), which merge() needs to
    /// move another process's scores to this model's origin. Set in open().
    void set_half_life(double half_life_ms) { half_life_ms_ = half_life_ms; }

    /// The layout of `version` (Codec<PopularityModel>::kVersion; 1 has
    /// no merged part, for models inside other models).
    void encode(StateWriter& w, uint8_t version) const;
    bool decode(StateReader& r, uint8_t version);
    /// A summary: counts, groups, and the global top 100 items with scores.
    void to_json(JsonWriter& j) const;

private:
    friend struct Merge<PopularityModel>;
    struct Impl;
    const ChunkedArray<double>* column(uint32_t group) const;
    /// The part of a stored score this process learnt: the score without
    /// what the last merge added from other processes.
    double own_part(uint32_t group, uint32_t item) const;
    std::unique_ptr<Impl> impl_;
    double half_life_ms_ = 0;
};

/// Scale-out (docs/scale-out.md, "Models"): popularity is a sum over
/// events, so the processes' models add up. Each model keeps apart what the
/// last merge added (the other processes' own parts), so a merge replaces
/// that part with the others' current own parts instead of adding them
/// again: an event counts once however many merges pass. Items and groups
/// meet by id; scores move to this model's origin with its half-life.
/// Prequential counts stay each process's. Peers with decay merge only into
/// a model with decay, and peers without into one without. The last model of
/// a process that stopped publishing stays in: its events happened.
template <>
struct Merge<PopularityModel> {
    static constexpr bool kKeepDeparted = true;
    static void merge(PopularityModel& own, std::span<const PopularityModel* const> peers);
};

template <>
struct Codec<PopularityModel> {
    static constexpr uint8_t kVersion = 2;  // 2: the merged part (scale-out) follows the scores
    static void encode(const PopularityModel& m, StateWriter& w) { m.encode(w, kVersion); }
    static bool decode(StateReader& r, uint8_t version, PopularityModel& m) {
        return m.decode(r, version);
    }
    static void to_json(const PopularityModel& m, JsonWriter& j) { m.to_json(j); }
};

template <class F>
void PopularityModel::scan(uint32_t group, F&& f) const {
    const ChunkedArray<double>* col = column(group);
    if (col == nullptr) {
        return;
    }
    uint32_t n = items().size();
    for (uint32_t base = 0; base < n; base += ChunkedArray<double>::kChunk) {
        if (!col->has(base)) {
            continue;
        }
        const double* chunk = &(*col)[base];
        uint32_t end = std::min(n - base, ChunkedArray<double>::kChunk);
        for (uint32_t k = 0; k < end; ++k) {
            double s = std::atomic_ref<double>(const_cast<double&>(chunk[k]))
                           .load(std::memory_order_relaxed);
            if (s != kNoScore) {
                f(base + k, s);
            }
        }
    }
}

}  // namespace eddy
