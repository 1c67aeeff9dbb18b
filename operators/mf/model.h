// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/state.h"
#include "eddy/value.h"

namespace eddy::mf {

/// "No category": an item or user without a `filter_field` value.
inline constexpr uint32_t kNoCategory = UINT32_MAX;
/// "No time": a user who never got recommendations.
inline constexpr int64_t kNoTime = INT64_MIN;
/// Added to AdaGrad's sum of squared gradients before the square root.
inline constexpr float kAdaGradEpsilon = 0.1f;

/// A relaxed atomic read or write of a shared model parameter (Hogwild!).
inline float load(const float& x) {
    return std::atomic_ref<float>(const_cast<float&>(x)).load(std::memory_order_relaxed);
}
inline void store(float& x, float v) {
    std::atomic_ref<float>(x).store(v, std::memory_order_relaxed);
}

/// 64-bit FNV-1a, stable across platforms: seeds per user and per item.
uint64_t stable_hash(std::string_view bytes, uint64_t seed);
/// SplitMix64: one step of a counter-based random stream.
uint64_t mix64(uint64_t x);
/// `out` filled with N(0, scale^2) draws from the stream seeded by `seed`.
void gaussian_fill(std::span<float> out, uint64_t seed, float scale);
/// The k values gaussian_fill() draws, written to a shared row with relaxed
/// atomic stores: other shards' scans read every row of a chunk and only then
/// skip the rows that are not ready, so a new row may be read while written.
void fill_row(float* row, size_t k, uint64_t seed, float scale);

/// The running evaluation and the global rating mean, shared by all shards.
struct Running {
    std::atomic<double> rating_sum{0};
    std::atomic<int64_t> ratings{0};
    std::atomic<int64_t> events{0};  ///< Events applied (learned from).
    std::atomic<int64_t> scored{0};  ///< Events scored by the prequential evaluation.
    std::atomic<double> abs_error{0};
    std::atomic<double> squared_error{0};
    std::atomic<double> hits{0};
    std::atomic<double> ndcg{0};
};

/// The item side of the model, one for every shard of the operator (a
/// Shared state): item ids to dense indices, and per item its factors,
/// AdaGrad sums, bias, event count, filter category and id. Items are never
/// removed; rows live in chunks that never move, so a shard may read one
/// while another appends. Parameters are read and written with relaxed
/// atomics (Hogwild!); the index and the category table are concurrent hash
/// maps. Codec<ItemModel> reads it plainly, while no shard runs.
class ItemModel {
public:
    static constexpr uint32_t kChunkBits = 12;
    static constexpr uint32_t kChunkItems = 1u << kChunkBits;
    static constexpr uint32_t kMaxChunks = 1u << 14;  ///< 67M items.
    static constexpr uint32_t kFull = UINT32_MAX;

    ItemModel();
    ~ItemModel();
    ItemModel(ItemModel&&) noexcept;
    ItemModel& operator=(ItemModel&&) noexcept;

    /// Starts an empty model. Call before any shard runs.
    void configure(int factors, uint32_t recent_capacity);
    /// Whether configure() or a restore gave it a shape.
    bool configured() const { return store_ != nullptr; }
    int factors() const;
    uint32_t recent_capacity() const;

    /// Items with an index (some may still be being written: see ready()).
    uint32_t size() const;
    /// The item's index, or kFull when it is new. Thread-safe.
    uint32_t find(std::string_view key) const;
    /// The item's index, adding it (factors drawn from N(0, init_scale^2)
    /// seeded by `seed` and the key) when it is new; kFull when the model is
    /// full. `added` tells whether this call added it. Thread-safe.
    uint32_t find_or_add(std::string_view key, uint64_t seed, float init_scale, bool& added);
    /// Whether item `i` is fully written (its factors and key).
    bool ready(uint32_t i) const;

    float* factors(uint32_t i);
    const float* factors(uint32_t i) const;
    float* grad2(uint32_t i);
    float& bias(uint32_t i);
    float bias(uint32_t i) const;
    std::atomic<int64_t>& count(uint32_t i);
    int64_t count(uint32_t i) const;
    std::atomic<uint32_t>& category(uint32_t i);
    uint32_t category(uint32_t i) const;
    /// The item's key as encode_state_key() wrote it.
    const std::string& key(uint32_t i) const;

    /// Items [first, first + count) of one chunk, for scans without a
    /// lookup per item; `factors` is null when the chunk is not there yet.
    struct Rows {
        const float* factors = nullptr;  ///< count * factors() floats.
        const float* bias = nullptr;
        const std::atomic<uint32_t>* category = nullptr;
        const std::atomic<uint8_t>* ready = nullptr;
        uint32_t first = 0;
        uint32_t count = 0;
    };
    /// The rows of chunk `c` among the first `size` items.
    Rows rows(uint32_t c, uint32_t size) const;

    /// The id of a category name, adding it when new. Thread-safe.
    uint32_t category_id(std::string_view name);
    /// The id of a category name already seen, or kNoCategory. Thread-safe.
    uint32_t find_category(std::string_view name) const;

    /// Records item `i` as just active, for recency-aware negative sampling.
    void touch_recent(uint32_t i);
    /// The `r`-th recently active item (r < recent_count()), or kFull.
    uint32_t recent(uint64_t r) const;
    /// Slots of the recency ring holding an item.
    uint64_t recent_count() const;

    Running& running();
    const Running& running() const;
    /// Shards that reached close(), for the last one to emit final metrics.
    std::atomic<int>& closed();

    /// An identity that changes whenever the model is replaced (restore,
    /// clear), so that shards drop what they cached from it.
    const void* identity() const { return store_.get(); }

private:
    friend struct ::eddy::Codec<ItemModel>;
    friend struct ::eddy::Merge<ItemModel>;
    struct Store;
    std::unique_ptr<Store> store_;
};

/// One user's side of the model (a KeyedValue): factors, AdaGrad sums and
/// bias, the items the user had (a bounded ring of item indices) and the
/// state of the recommendation throttle.
struct UserState {
    float bias = 0;
    int64_t events = 0;               ///< Updates applied.
    int64_t since_emit = 0;           ///< Updates since the last recommendation.
    int64_t last_emit = kNoTime;      ///< Event time of the last recommendation.
    uint32_t category = kNoCategory;  ///< The user's last `filter_field` value.
    uint32_t seen_next = 0;           ///< Where the next seen item goes once `seen` is full.
    std::vector<float> params;        ///< factors, then their AdaGrad sums.
    std::vector<uint32_t> seen;       ///< Item indices, at most `max_seen`.
};

}  // namespace eddy::mf

namespace eddy {

template <>
struct Codec<mf::ItemModel> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const mf::ItemModel& m, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, mf::ItemModel& m);
    static void to_json(const mf::ItemModel& m, JsonWriter& j);
};

/// Scale-out (docs/scale-out.md, "Models"): the other processes' item
/// models folded into this process's. Items are matched by id; an item's
/// factors and bias become the average of the processes' rows, weighted by
/// each process's event count for the item (an item new here is added with
/// the others' average). Counts, AdaGrad sums, the recency ring and the
/// running evaluation stay this process's; an item without a category here
/// takes a peer's. Peers with another number of factors are left out.
template <>
struct Merge<mf::ItemModel> {
    static void merge(mf::ItemModel& own, std::span<const mf::ItemModel* const> peers);
};

template <>
struct Codec<mf::UserState> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const mf::UserState& u, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, mf::UserState& u);
    static void to_json(const mf::UserState& u, JsonWriter& j);
    static size_t heap_bytes(const mf::UserState& u) {
        return heap_bytes_of(u.params) + heap_bytes_of(u.seen);
    }
};

}  // namespace eddy
