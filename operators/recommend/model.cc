// SPDX-License-Identifier: Apache-2.0
#include "mf/model.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "recommend/recommend.h"

namespace eddy {

void Codec<HybridUser>::encode(const HybridUser& u, StateWriter& w) {
    Codec<UserItems>::encode(u.recent, w);
    w.floats(u.factors);
    w.i64(u.events);
}

bool Codec<HybridUser>::decode(StateReader& r, uint8_t, HybridUser& u) {
    if (!Codec<UserItems>::decode(r, Codec<UserItems>::kVersion, u.recent)) {
        return false;
    }
    r.floats(u.factors);
    return r.i64(u.events);
}

void Codec<HybridUser>::to_json(const HybridUser& u, JsonWriter& j) {
    j.begin_object().key("recent");
    Codec<UserItems>::to_json(u.recent, j);
    j.key("factors").begin_array();
    for (float f : u.factors) {
        j.value(static_cast<double>(f));
    }
    j.end_array().field("events", u.events).end_object();
}

namespace {

constexpr uint32_t kMaxCategories = 65536;

/// Item factor rows: chunks of ChunkedArray's size, each k floats per item,
/// allocated once and never moved.
class FactorRows {
public:
    static constexpr uint32_t kChunkBits = ChunkedArray<float>::kChunkBits;
    static constexpr uint32_t kChunk = ChunkedArray<float>::kChunk;
    static constexpr uint32_t kMaxChunks = ChunkedArray<float>::kCapacity / kChunk;

    explicit FactorRows(int k)
        : k_(k), chunks_(std::make_unique<std::atomic<float*>[]>(kMaxChunks)) {}
    ~FactorRows() {
        for (uint32_t c = 0; c < kMaxChunks; ++c) {
            delete[] chunks_[c].load(std::memory_order_relaxed);
        }
    }
    FactorRows(const FactorRows&) = delete;
    FactorRows& operator=(const FactorRows&) = delete;

    int k() const { return k_; }
    void ensure(uint32_t i) {
        std::atomic<float*>& slot = chunks_[i >> kChunkBits];
        if (slot.load(std::memory_order_acquire) != nullptr) {
            return;
        }
        auto* fresh = new float[static_cast<size_t>(kChunk) * static_cast<size_t>(k_)]();
        float* expected = nullptr;
        if (!slot.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
            delete[] fresh;  // another shard allocated it first
        }
    }
    /// Whether item i's chunk is allocated (it may still be being filled).
    bool has(uint32_t i) const {
        return chunks_[i >> kChunkBits].load(std::memory_order_acquire) != nullptr;
    }
    float* row(uint32_t i) const {
        return chunks_[i >> kChunkBits].load(std::memory_order_acquire) +
               static_cast<size_t>(i & (kChunk - 1)) * static_cast<size_t>(k_);
    }

private:
    int k_;
    std::unique_ptr<std::atomic<float*>[]> chunks_;
};

}  // namespace

struct HybridModel::Impl {
    SimilarityModel similarity;  // its item index is the master index
    PopularityModel popularity;
    ChunkedArray<uint32_t> popularity_of;
    std::unique_ptr<FactorRows> rows;  // null until configured
    ChunkedArray<float> bias;
    ChunkedArray<uint32_t> category{kNoCategory};
    ItemIndex categories;
    std::vector<uint32_t> recent;  // the recency ring (atomic_ref slots)
    std::atomic<uint64_t> recent_next{0};
    PrequentialCounts counts;

    void shape(int k, uint32_t recent_capacity) {
        rows = std::make_unique<FactorRows>(k);
        recent.assign(recent_capacity, ItemIndex::kNone);
    }
};

HybridModel::HybridModel() : impl_(std::make_unique<Impl>()) {}
HybridModel::~HybridModel() = default;
HybridModel::HybridModel(HybridModel&& other) noexcept : impl_(std::move(other.impl_)) {
    other.impl_ = std::make_unique<Impl>();
}
HybridModel& HybridModel::operator=(HybridModel&& other) noexcept {
    std::swap(impl_, other.impl_);
    return *this;
}

void HybridModel::configure(int factors, uint32_t recent_capacity) {
    if (!configured()) {
        impl_->shape(factors, recent_capacity);
    }
}

void HybridModel::set_learning(double half_life_ms, size_t neighbours) {
    half_life_ms_ = half_life_ms;
    neighbours_ = neighbours;
    impl_->popularity.set_half_life(half_life_ms);
    impl_->similarity.set_neighbours(neighbours);
}
bool HybridModel::configured() const {
    return impl_->rows != nullptr;
}
int HybridModel::factors() const {
    return impl_->rows != nullptr ? impl_->rows->k() : 0;
}

ItemIndex& HybridModel::items() {
    return impl_->similarity.items();
}
const ItemIndex& HybridModel::items() const {
    return impl_->similarity.items();
}
SimilarityModel& HybridModel::similarity() {
    return impl_->similarity;
}
const SimilarityModel& HybridModel::similarity() const {
    return impl_->similarity;
}
PopularityModel& HybridModel::popularity() {
    return impl_->popularity;
}
const PopularityModel& HybridModel::popularity() const {
    return impl_->popularity;
}
PrequentialCounts& HybridModel::counts() {
    return impl_->counts;
}

uint32_t HybridModel::intern(std::string_view id, uint64_t seed, float init_scale, bool& created) {
    Impl& m = *impl_;
    return m.similarity.items().intern(id, created, [&](uint32_t i) {
        m.similarity.add_item(i);
        bool added = false;
        uint32_t p =
            m.popularity.items().intern(id, added, [&m](uint32_t k) { m.popularity.add_item(k); });
        m.popularity_of.ensure(i);
        m.popularity_of[i] = p;
        m.rows->ensure(i);
        mf::fill_row(m.rows->row(i), static_cast<size_t>(m.rows->k()), mf::stable_hash(id, seed),
                     init_scale);
        m.bias.ensure(i);
        m.category.ensure(i);
    });
}

uint32_t HybridModel::popularity_index(uint32_t i) const {
    return impl_->popularity_of[i];
}
float* HybridModel::item_factors(uint32_t i) {
    return impl_->rows->row(i);
}
const float* HybridModel::item_factors(uint32_t i) const {
    return impl_->rows->row(i);
}
bool HybridModel::has_item_rows(uint32_t i) const {
    return impl_->rows != nullptr && impl_->rows->has(i) && impl_->bias.has(i);
}
const float* HybridModel::item_biases(uint32_t i) const {
    return &impl_->bias[i];
}
float& HybridModel::item_bias(uint32_t i) {
    return impl_->bias[i];
}
float HybridModel::item_bias(uint32_t i) const {
    return mf::load(impl_->bias[i]);
}

uint32_t HybridModel::category_id(std::string_view name) {
    Impl& m = *impl_;
    if (uint32_t c = m.categories.find(name); c != ItemIndex::kNone) {
        return c;
    }
    if (m.categories.size() >= kMaxCategories) {
        return kNoCategory;
    }
    bool created = false;
    uint32_t c = m.categories.intern(name, created, [](uint32_t) {});
    return c < kMaxCategories ? c : kNoCategory;
}
uint32_t HybridModel::find_category(std::string_view name) const {
    uint32_t c = impl_->categories.find(name);
    return c != ItemIndex::kNone && c < kMaxCategories ? c : kNoCategory;
}
uint32_t HybridModel::category(uint32_t i) const {
    return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(impl_->category[i]))
        .load(std::memory_order_relaxed);
}
void HybridModel::set_category(uint32_t i, uint32_t category) {
    std::atomic_ref<uint32_t>(impl_->category[i]).store(category, std::memory_order_relaxed);
}

void HybridModel::touch_recent(uint32_t i) {
    std::vector<uint32_t>& ring = impl_->recent;
    if (ring.empty()) {
        return;
    }
    uint64_t at = impl_->recent_next.fetch_add(1, std::memory_order_relaxed) % ring.size();
    std::atomic_ref<uint32_t>(ring[at]).store(i, std::memory_order_relaxed);
}
uint32_t HybridModel::recent(uint64_t r) const {
    return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(impl_->recent[r]))
        .load(std::memory_order_relaxed);
}
uint64_t HybridModel::recent_count() const {
    return std::min<uint64_t>(impl_->recent_next.load(std::memory_order_relaxed),
                              impl_->recent.size());
}

// Layout: factors, ring capacity, the similarity model, the popularity
// model (each in its own layout of version 1, or since version 2 of version
// 2, with merged parts), per master item its bias, factors and category
// (+1, 0: none), the category names, the ring's cursor and slots, the
// prequential counts.
void HybridModel::encode(StateWriter& w, uint8_t version) const {
    const Impl& m = *impl_;
    const uint8_t parts = version >= 2 ? 2 : 1;
    w.varint(static_cast<uint64_t>(factors()));
    w.varint(m.recent.size());
    m.similarity.encode(w, parts);
    m.popularity.encode(w, parts);
    uint32_t n = items().size();
    w.varint(n);
    for (uint32_t i = 0; i < n; ++i) {
        w.f32(item_bias(i));
        const float* q = item_factors(i);
        for (int j = 0; j < factors(); ++j) {
            w.f32(q[j]);
        }
        uint32_t c = category(i);
        w.varint(c == kNoCategory ? 0 : uint64_t{c} + 1);
    }
    m.categories.encode(w);
    w.varint(m.recent_next.load(std::memory_order_relaxed));
    for (uint32_t slot : m.recent) {
        w.varint(slot == ItemIndex::kNone ? 0 : uint64_t{slot} + 1);
    }
    m.counts.encode(w);
}

bool HybridModel::decode(StateReader& r, uint8_t version) {
    auto m = std::make_unique<Impl>();
    const uint8_t parts = version >= 2 ? 2 : 1;
    uint64_t k = 0;
    uint64_t ring = 0;
    if (!r.varint(k) || k > 1024 || !r.varint(ring) || ring > (1u << 24)) {
        return false;
    }
    m->shape(static_cast<int>(k), static_cast<uint32_t>(ring));
    m->similarity.set_neighbours(neighbours_);
    m->popularity.set_half_life(half_life_ms_);
    if (!m->similarity.decode(r, parts) || !m->popularity.decode(r, parts)) {
        return false;
    }
    uint64_t n = 0;
    if (!r.varint(n) || n != m->similarity.items().size()) {
        return false;
    }
    for (uint32_t i = 0; i < n; ++i) {
        uint32_t p = m->popularity.items().find(m->similarity.items().id(i));
        if (p == ItemIndex::kNone) {
            return false;
        }
        m->popularity_of.ensure(i);
        m->popularity_of[i] = p;
        m->rows->ensure(i);
        m->bias.ensure(i);
        m->category.ensure(i);
        r.f32(m->bias[i]);
        float* q = m->rows->row(i);
        for (uint64_t j = 0; j < k; ++j) {
            r.f32(q[j]);
        }
        uint64_t c = 0;
        if (!r.varint(c) || c > kMaxCategories) {
            return false;
        }
        m->category[i] = c == 0 ? kNoCategory : static_cast<uint32_t>(c - 1);
    }
    uint64_t categories = 0;
    if (!r.varint(categories) || categories > kMaxCategories) {
        return false;
    }
    std::string name;
    for (uint64_t c = 0; c < categories; ++c) {
        if (!r.str(name) || m->categories.find(name) != ItemIndex::kNone) {
            return false;
        }
        m->categories.add_restored(name);
    }
    uint64_t next = 0;
    r.varint(next);
    m->recent_next.store(next, std::memory_order_relaxed);
    for (uint32_t& slot : m->recent) {
        uint64_t v = 0;
        if (!r.varint(v) || v > n) {
            return false;
        }
        slot = v == 0 ? ItemIndex::kNone : static_cast<uint32_t>(v - 1);
    }
    if (!m->counts.decode(r) || !r.ok()) {
        return false;
    }
    impl_ = std::move(m);
    return true;
}

void Merge<HybridModel>::merge(HybridModel& own, std::span<const HybridModel* const> peers) {
    if (!own.configured()) {
        return;
    }
    const int k = own.factors();
    std::vector<const HybridModel*> usable;
    std::vector<const PopularityModel*> popularity;
    std::vector<const SimilarityModel*> similarity;
    for (const HybridModel* peer : peers) {
        if (peer->configured() && peer->factors() == k) {
            usable.push_back(peer);
            popularity.push_back(&peer->impl_->popularity);
            similarity.push_back(&peer->impl_->similarity);
        }
    }
    if (usable.empty()) {
        return;
    }
    // Items only others have met, in every array at once (their factors are
    // replaced by the others' average below).
    for (const HybridModel* peer : usable) {
        const ItemIndex& theirs = peer->items();
        for (uint32_t i = 0; i < theirs.size(); ++i) {
            bool created = false;
            own.intern(theirs.id(i), 0, 0.0f, created);
        }
    }
    HybridModel::Impl& m = *own.impl_;
    Merge<PopularityModel>::merge(m.popularity, popularity);
    Merge<SimilarityModel>::merge(m.similarity, similarity);
    // Factors and biases: the average weighted by each process's own events.
    std::vector<double> sum(static_cast<size_t>(k));
    const uint32_t n = own.items().size();
    for (uint32_t i = 0; i < n; ++i) {
        std::string_view id = own.items().id(i);
        float* q = m.rows->row(i);
        double weight = static_cast<double>(m.similarity.own_count(i));
        double bias = weight * static_cast<double>(own.item_bias(i));
        for (int f = 0; f < k; ++f) {
            sum[static_cast<size_t>(f)] = weight * static_cast<double>(q[f]);
        }
        double own_weight = weight;
        uint32_t category = own.category(i);
        for (const HybridModel* peer : usable) {
            uint32_t p = peer->items().find(id);
            if (p == ItemIndex::kNone) {
                continue;
            }
            if (category == HybridModel::kNoCategory &&
                peer->category(p) != HybridModel::kNoCategory) {
                category = own.category_id(peer->impl_->categories.id(peer->category(p)));
                own.set_category(i, category);
            }
            auto w = static_cast<double>(peer->impl_->similarity.own_count(p));
            if (w == 0) {
                continue;
            }
            const float* theirs = peer->item_factors(p);
            for (int f = 0; f < k; ++f) {
                sum[static_cast<size_t>(f)] += w * static_cast<double>(theirs[f]);
            }
            bias += w * static_cast<double>(peer->item_bias(p));
            weight += w;
        }
        if (weight == own_weight || weight == 0) {
            continue;  // no other process learnt this item
        }
        for (int f = 0; f < k; ++f) {
            q[f] = static_cast<float>(sum[static_cast<size_t>(f)] / weight);
        }
        own.item_bias(i) = static_cast<float>(bias / weight);
    }
}

void HybridModel::to_json(JsonWriter& j) const {
    const Impl& m = *impl_;
    j.begin_object();
    counts_to_json(m.counts, j);
    j.field("items", static_cast<int64_t>(items().size()))
        .field("factors", static_cast<int64_t>(factors()))
        .field("categories", static_cast<int64_t>(m.categories.size()));
    j.key("similarity");
    m.similarity.to_json(j);
    j.key("popularity");
    m.popularity.to_json(j);
    j.end_object();
}

}  // namespace eddy
