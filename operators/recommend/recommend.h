// SPDX-License-Identifier: Apache-2.0
// The `recommend` operator: a hybrid of item-item similarity, implicit
// matrix factorization (BPR) and decayed popularity, blended per user by
// confidence. Design notes: docs/recommenders.md ("recommend").
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"

#include "common/item_index.h"
#include "common/recommend.h"
#include "item_similarity/item_similarity.h"
#include "popularity/popularity.h"

namespace eddy {

/// The `recommend` operator's spec (spec.cc).
ComponentSpec recommend_spec();
/// Makes the operator from validated parameters (operator.cc).
std::unique_ptr<Operator> make_recommend(const Config& cfg);

/// The blended sources, in the order of `source_<i>` names and blend weights.
inline constexpr std::array<const char*, 4> kBlendSources = {"item_similarity", "mf", "popularity",
                                                             "segment_popularity"};

/// A YAML scalar as text: strings as written, integers in decimal.
std::string scalar_text(const ConfigValue& v);
/// A YAML scalar as a number: typed numbers, or untyped text that parses
/// whole (values inside `segment_boost`, which has no schema); NaN otherwise.
double scalar_number(const ConfigValue& v);

/// One user's state: recent distinct items (the exclusion list and the
/// similarity basis), the segment (a popularity group), the throttle, and the
/// user's latent factors.
struct HybridUser {
    UserItems recent;
    std::vector<float> factors;  ///< Empty until the user's first event.
    int64_t events = 0;          ///< Events learned from; seeds negative sampling.
};

template <>
struct Codec<HybridUser> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const HybridUser& u, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, HybridUser& u);
    static void to_json(const HybridUser& u, JsonWriter& j);
    static size_t heap_bytes(const HybridUser& u) {
        return Codec<UserItems>::heap_bytes(u.recent) + heap_bytes_of(u.factors);
    }
};

/// The model every shard shares (Shared<HybridModel>). The similarity
/// model's item index is the master index: every per-item array here is
/// indexed by it. The popularity model keeps its own index (so that its
/// state is the `popularity` operator's), reached through a map from master
/// index to popularity index filled when an item is added. Item factors and
/// biases live in chunks that never move and are read and written with
/// relaxed atomics (Hogwild!, as in `mf`). Thread-safe except
/// configure/encode/decode and moves, which the runtime calls while no shard
/// runs.
class HybridModel {
public:
    static constexpr uint32_t kNoCategory = UINT32_MAX;

    HybridModel();
    ~HybridModel();
    HybridModel(HybridModel&& other) noexcept;
    HybridModel& operator=(HybridModel&& other) noexcept;

    /// Gives an empty model its shape; a configured (or restored) model keeps its own.
    void configure(int factors, uint32_t recent_capacity);
    /// The operator's half-life (0: none) and K (`neighbours`), which
    /// merges need (the popularity and similarity rules); kept when the
    /// model is restored.
    void set_learning(double half_life_ms, size_t neighbours);
    bool configured() const;
    int factors() const;

    /// The master item index.
    ItemIndex& items();
    const ItemIndex& items() const;
    SimilarityModel& similarity();
    const SimilarityModel& similarity() const;
    PopularityModel& popularity();
    const PopularityModel& popularity() const;

    /// The master index of encoded item `id`, adding it when new (its
    /// similarity row, popularity entry and factors drawn from N(0,
    /// init_scale^2) seeded by `seed` and the id). kNone when full.
    uint32_t intern(std::string_view id, uint64_t seed, float init_scale, bool& created);
    /// The popularity index of master item i.
    uint32_t popularity_index(uint32_t i) const;

    float* item_factors(uint32_t i);
    const float* item_factors(uint32_t i) const;
    /// Item i's bias and those after it in its chunk of ChunkedArray<float>::kChunk.
    const float* item_biases(uint32_t i) const;
    /// Whether the factor and bias chunks holding item i exist. An item
    /// another shard is adding counts in items().size() before they do.
    bool has_item_rows(uint32_t i) const;
    float& item_bias(uint32_t i);
    float item_bias(uint32_t i) const;

    /// The id of a category name, adding it when new; kNoCategory when
    /// 65,536 categories exist. Thread-safe.
    uint32_t category_id(std::string_view name);
    /// The id of a category name already seen, or kNoCategory. Thread-safe.
    uint32_t find_category(std::string_view name) const;
    /// Item i's latest category, or kNoCategory.
    uint32_t category(uint32_t i) const;
    void set_category(uint32_t i, uint32_t category);

    /// Records item i as just active (for recency-aware negative sampling).
    void touch_recent(uint32_t i);
    /// The r-th slot of the recency ring (r < recent_count()), or kNone.
    uint32_t recent(uint64_t r) const;
    uint64_t recent_count() const;

    PrequentialCounts& counts();
    /// Changes whenever the model is replaced (restore, clear): shards drop caches.
    const void* identity() const { return impl_.get(); }

    void encode(StateWriter& w, uint8_t version) const;
    bool decode(StateReader& r, uint8_t version);
    void to_json(JsonWriter& j) const;

private:
    friend struct Merge<HybridModel>;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    double half_life_ms_ = 0;
    size_t neighbours_ = 200;
};

/// Scale-out (docs/scale-out.md, "Models"): the parts merge by their own
/// rules, items meeting by id. Items only others have met are added first
/// (to the similarity, popularity and factor arrays at once); popularity
/// and similarity then add up as the `popularity` and `item_similarity`
/// operators' models do; each item's factors and bias become the average of
/// the processes' rows weighted by each one's count of events for the item,
/// as `mf`'s do; an item without a category takes a peer's. The recency
/// ring and the prequential counts stay each process's. A model with
/// another number of factors is left out. The last model of a process that
/// stopped publishing stays in (its popularity and counts are sums).
template <>
struct Merge<HybridModel> {
    static constexpr bool kKeepDeparted = true;
    static void merge(HybridModel& own, std::span<const HybridModel* const> peers);
};

template <>
struct Codec<HybridModel> {
    // 2: the similarity and popularity models carry their merged parts (scale-out).
    static constexpr uint8_t kVersion = 2;
    static void encode(const HybridModel& m, StateWriter& w) { m.encode(w, kVersion); }
    static bool decode(StateReader& r, uint8_t version, HybridModel& m) {
        return m.decode(r, version);
    }
    static void to_json(const HybridModel& m, JsonWriter& j) { m.to_json(j); }
};

}  // namespace eddy
