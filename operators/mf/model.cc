// SPDX-License-Identifier: Apache-2.0
#include "mf/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <utility>

#include <oneapi/tbb/concurrent_hash_map.h>

#include "eddy/json_writer.h"

namespace eddy::mf {

uint64_t stable_hash(std::string_view bytes, uint64_t seed) {
    uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
    for (char c : bytes) {
        h ^= static_cast<uint8_t>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void gaussian_fill(std::span<float> out, uint64_t seed, float scale) {
    constexpr double kUnit = 1.0 / 9007199254740992.0;  // 2^-53
    for (size_t j = 0; j < out.size(); j += 2) {
        // Box-Muller: two independent normals from two uniforms in (0, 1).
        double u1 = (static_cast<double>(mix64(seed++) >> 11) + 0.5) * kUnit;
        double u2 = (static_cast<double>(mix64(seed++) >> 11) + 0.5) * kUnit;
        double r = std::sqrt(-2 * std::log(u1));
        out[j] = static_cast<float>(scale * r * std::cos(2 * M_PI * u2));
        if (j + 1 < out.size()) {
            out[j + 1] = static_cast<float>(scale * r * std::sin(2 * M_PI * u2));
        }
    }
}

void fill_row(float* row, size_t k, uint64_t seed, float scale) {
    constexpr size_t kDraws = 16;  // even: gaussian_fill takes one seed per value, in pairs
    float draws[kDraws];
    for (size_t j = 0; j < k; j += kDraws) {
        const size_t n = std::min(kDraws, k - j);
        gaussian_fill(std::span<float>(draws, n), seed + j, scale);
        for (size_t t = 0; t < n; ++t) {
            store(row[j + t], draws[t]);
        }
    }
}

namespace {

struct KeyCompare {
    using is_transparent = void;
    static size_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
    static bool equal(std::string_view a, std::string_view b) { return a == b; }
};

using Index = tbb::concurrent_hash_map<std::string, uint32_t, KeyCompare>;

}  // namespace

struct ItemModel::Store {
    struct Chunk {
        explicit Chunk(int k)
            : factors(new float[static_cast<size_t>(kChunkItems) * static_cast<size_t>(k)]()),
              grad2(new float[static_cast<size_t>(kChunkItems) * static_cast<size_t>(k)]()),
              bias(new float[kChunkItems]()),
              count(new std::atomic<int64_t>[kChunkItems]),
              category(new std::atomic<uint32_t>[kChunkItems]),
              ready(new std::atomic<uint8_t>[kChunkItems]),
              keys(new std::string[kChunkItems]) {
            for (uint32_t i = 0; i < kChunkItems; ++i) {
                category[i].store(kNoCategory, std::memory_order_relaxed);
            }
        }
        std::unique_ptr<float[]> factors;
        std::unique_ptr<float[]> grad2;
        std::unique_ptr<float[]> bias;
        std::unique_ptr<std::atomic<int64_t>[]> count;
        std::unique_ptr<std::atomic<uint32_t>[]> category;
        std::unique_ptr<std::atomic<uint8_t>[]> ready;
        std::unique_ptr<std::string[]> keys;
    };

    Store(int k, uint32_t recent)
        : factors(k),
          recent_capacity(recent),
          chunks(new std::atomic<Chunk*>[kMaxChunks]),
          recent_ring(new std::atomic<uint32_t>[recent == 0 ? 1 : recent]) {
        for (uint32_t i = 0; i < kMaxChunks; ++i) {
            chunks[i].store(nullptr, std::memory_order_relaxed);
        }
    }
    ~Store() {
        for (uint32_t i = 0; i < kMaxChunks; ++i) {
            delete chunks[i].load(std::memory_order_relaxed);
        }
    }

    Chunk& chunk(uint32_t i) const {
        return *chunks[i >> kChunkBits].load(std::memory_order_acquire);
    }
    Chunk& chunk_for_new(uint32_t i) {
        std::atomic<Chunk*>& slot = chunks[i >> kChunkBits];
        Chunk* c = slot.load(std::memory_order_acquire);
        if (c == nullptr) {
            auto* fresh = new Chunk(factors);
            if (slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
                c = fresh;
            } else {
                delete fresh;  // another shard allocated it first; `c` is theirs
            }
        }
        return *c;
    }
    static uint32_t slot(uint32_t i) { return i & (kChunkItems - 1); }

    const int factors;
    const uint32_t recent_capacity;
    std::atomic<uint32_t> size{0};
    std::unique_ptr<std::atomic<Chunk*>[]> chunks;
    Index index;
    Index categories;
    std::atomic<uint32_t> category_count{0};
    std::unique_ptr<std::atomic<uint32_t>[]> recent_ring;
    std::atomic<uint64_t> recent_pos{0};
    Running running;
    std::atomic<int> closed{0};
};

ItemModel::ItemModel() = default;
ItemModel::~ItemModel() = default;
ItemModel::ItemModel(ItemModel&&) noexcept = default;
ItemModel& ItemModel::operator=(ItemModel&&) noexcept = default;

void ItemModel::configure(int factors, uint32_t recent_capacity) {
    store_ = std::make_unique<Store>(factors, recent_capacity);
}

int ItemModel::factors() const {
    return store_->factors;
}
uint32_t ItemModel::recent_capacity() const {
    return store_->recent_capacity;
}
uint32_t ItemModel::size() const {
    return store_->size.load(std::memory_order_acquire);
}

uint32_t ItemModel::find(std::string_view key) const {
    Index::const_accessor a;
    return store_->index.find(a, key) ? a->second : kFull;
}

uint32_t ItemModel::find_or_add(std::string_view key, uint64_t seed, float init_scale,
                                bool& added) {
    added = false;
    if (uint32_t i = find(key); i != kFull) {
        return i;
    }
    Store& s = *store_;
    Index::accessor a;
    if (!s.index.insert(a, std::string(key))) {
        return a->second;  // another shard added it meanwhile
    }
    // The accessor holds the new entry's lock: other shards asking for this
    // key wait until its row is written.
    uint32_t i = s.size.load(std::memory_order_relaxed);
    do {
        if (i >= kMaxChunks * kChunkItems) {
            s.index.erase(a);
            return kFull;
        }
    } while (!s.size.compare_exchange_weak(i, i + 1, std::memory_order_acq_rel));
    Store::Chunk& c = s.chunk_for_new(i);
    uint32_t at = Store::slot(i);
    size_t k = static_cast<size_t>(s.factors);
    fill_row(&c.factors[at * k], k, stable_hash(key, seed), init_scale);
    c.keys[at].assign(key);
    c.ready[at].store(1, std::memory_order_release);
    a->second = i;
    added = true;
    return i;
}

bool ItemModel::ready(uint32_t i) const {
    // The index is claimed before its chunk exists: check the chunk first.
    const Store::Chunk* c = store_->chunks[i >> kChunkBits].load(std::memory_order_acquire);
    return c != nullptr && c->ready[Store::slot(i)].load(std::memory_order_acquire) != 0;
}

float* ItemModel::factors(uint32_t i) {
    return &store_->chunk(i).factors[Store::slot(i) * static_cast<size_t>(store_->factors)];
}
const float* ItemModel::factors(uint32_t i) const {
    return &store_->chunk(i).factors[Store::slot(i) * static_cast<size_t>(store_->factors)];
}
float* ItemModel::grad2(uint32_t i) {
    return &store_->chunk(i).grad2[Store::slot(i) * static_cast<size_t>(store_->factors)];
}
float& ItemModel::bias(uint32_t i) {
    return store_->chunk(i).bias[Store::slot(i)];
}
float ItemModel::bias(uint32_t i) const {
    return load(store_->chunk(i).bias[Store::slot(i)]);
}
std::atomic<int64_t>& ItemModel::count(uint32_t i) {
    return store_->chunk(i).count[Store::slot(i)];
}
int64_t ItemModel::count(uint32_t i) const {
    return store_->chunk(i).count[Store::slot(i)].load(std::memory_order_relaxed);
}
std::atomic<uint32_t>& ItemModel::category(uint32_t i) {
    return store_->chunk(i).category[Store::slot(i)];
}
uint32_t ItemModel::category(uint32_t i) const {
    return store_->chunk(i).category[Store::slot(i)].load(std::memory_order_relaxed);
}
const std::string& ItemModel::key(uint32_t i) const {
    return store_->chunk(i).keys[Store::slot(i)];
}

ItemModel::Rows ItemModel::rows(uint32_t c, uint32_t size) const {
    Rows r;
    const Store::Chunk* chunk = store_->chunks[c].load(std::memory_order_acquire);
    r.first = c << kChunkBits;
    if (chunk == nullptr || r.first >= size) {
        return r;
    }
    r.count = size - r.first < kChunkItems ? size - r.first : kChunkItems;
    r.factors = chunk->factors.get();
    r.bias = chunk->bias.get();
    r.category = chunk->category.get();
    r.ready = chunk->ready.get();
    return r;
}

uint32_t ItemModel::category_id(std::string_view name) {
    Store& s = *store_;
    {
        Index::const_accessor a;
        if (s.categories.find(a, name)) {
            return a->second;
        }
    }
    Index::accessor a;
    if (s.categories.insert(a, std::string(name))) {
        a->second = s.category_count.fetch_add(1, std::memory_order_relaxed);
    }
    return a->second;
}

uint32_t ItemModel::find_category(std::string_view name) const {
    Index::const_accessor a;
    return store_->categories.find(a, name) ? a->second : kNoCategory;
}

void ItemModel::touch_recent(uint32_t i) {
    Store& s = *store_;
    if (s.recent_capacity == 0) {
        return;
    }
    uint64_t at = s.recent_pos.fetch_add(1, std::memory_order_relaxed);
    s.recent_ring[at % s.recent_capacity].store(i, std::memory_order_relaxed);
}

uint32_t ItemModel::recent(uint64_t r) const {
    return store_->recent_ring[r].load(std::memory_order_relaxed);
}

uint64_t ItemModel::recent_count() const {
    uint64_t pos = store_->recent_pos.load(std::memory_order_relaxed);
    return pos < store_->recent_capacity ? pos : store_->recent_capacity;
}

Running& ItemModel::running() {
    return store_->running;
}
const Running& ItemModel::running() const {
    return store_->running;
}
std::atomic<int>& ItemModel::closed() {
    return store_->closed;
}

}  // namespace eddy::mf

namespace eddy {

using mf::ItemModel;

void Codec<ItemModel>::encode(const ItemModel& m, StateWriter& w) {
    if (!m.configured()) {
        w.varint(0);
        return;
    }
    const ItemModel::Store& s = *m.store_;
    auto k = static_cast<size_t>(s.factors);
    w.varint(static_cast<uint64_t>(s.factors));
    w.varint(s.recent_capacity);
    uint32_t n = s.size.load();
    w.varint(n);
    for (uint32_t i = 0; i < n; ++i) {
        const ItemModel::Store::Chunk& c = s.chunk(i);
        uint32_t at = ItemModel::Store::slot(i);
        w.str(c.keys[at]);
        w.f32(c.bias[at]);
        w.i64(c.count[at].load());
        w.varint(static_cast<uint64_t>(c.category[at].load()) + 1);  // kNoCategory -> 0
        w.floats(std::span<const float>(&c.factors[at * k], k));
        w.floats(std::span<const float>(&c.grad2[at * k], k));
    }
    w.varint(s.categories.size());
    for (const auto& [name, id] : s.categories) {
        w.str(name);
        w.varint(id);
    }
    uint64_t pos = s.recent_pos.load();
    w.varint(pos);
    uint64_t filled = pos < s.recent_capacity ? pos : s.recent_capacity;
    for (uint64_t r = 0; r < filled; ++r) {
        w.varint(s.recent_ring[r].load());
    }
    const mf::Running& run = s.running;
    w.f64(run.rating_sum.load());
    w.i64(run.ratings.load());
    w.i64(run.events.load());
    w.i64(run.scored.load());
    w.f64(run.abs_error.load());
    w.f64(run.squared_error.load());
    w.f64(run.hits.load());
    w.f64(run.ndcg.load());
}

bool Codec<ItemModel>::decode(StateReader& r, uint8_t, ItemModel& m) {
    uint64_t k = 0;
    uint64_t recent = 0;
    uint64_t n = 0;
    if (!r.varint(k)) {
        return false;
    }
    if (k == 0) {
        m.store_.reset();
        return true;
    }
    if (k > 4096 || !r.varint(recent) || recent > (1u << 26) || !r.varint(n) ||
        n > static_cast<uint64_t>(ItemModel::kMaxChunks) * ItemModel::kChunkItems) {
        return false;
    }
    auto store =
        std::make_unique<ItemModel::Store>(static_cast<int>(k), static_cast<uint32_t>(recent));
    ItemModel::Store& s = *store;
    std::string key;
    std::vector<float> floats;
    for (uint32_t i = 0; i < n; ++i) {
        ItemModel::Store::Chunk& c = s.chunk_for_new(i);
        uint32_t at = ItemModel::Store::slot(i);
        float bias = 0;
        int64_t count = 0;
        uint64_t category = 0;
        if (!r.str(key) || !r.f32(bias) || !r.i64(count) || !r.varint(category)) {
            return false;
        }
        if (!r.floats(floats) || floats.size() != k) {
            return false;
        }
        std::memcpy(&c.factors[at * k], floats.data(), k * sizeof(float));
        if (!r.floats(floats) || floats.size() != k) {
            return false;
        }
        std::memcpy(&c.grad2[at * k], floats.data(), k * sizeof(float));
        c.bias[at] = bias;
        c.count[at].store(count);
        c.category[at].store(static_cast<uint32_t>(category - 1));
        c.keys[at] = key;
        c.ready[at].store(1);
        mf::Index::accessor a;
        if (!s.index.insert(a, key)) {
            return false;  // the same item twice
        }
        a->second = i;
        s.size.store(i + 1);
    }
    uint64_t categories = 0;
    if (!r.varint(categories)) {
        return false;
    }
    for (uint64_t i = 0; i < categories; ++i) {
        uint64_t id = 0;
        if (!r.str(key) || !r.varint(id)) {
            return false;
        }
        mf::Index::accessor a;
        s.categories.insert(a, key);
        a->second = static_cast<uint32_t>(id);
        if (id + 1 > s.category_count.load()) {
            s.category_count.store(static_cast<uint32_t>(id + 1));
        }
    }
    uint64_t pos = 0;
    if (!r.varint(pos)) {
        return false;
    }
    s.recent_pos.store(pos);
    uint64_t filled = pos < recent ? pos : recent;
    for (uint64_t i = 0; i < filled; ++i) {
        uint64_t item = 0;
        if (!r.varint(item) || item >= n) {
            return false;
        }
        s.recent_ring[i].store(static_cast<uint32_t>(item));
    }
    double d = 0;
    int64_t v = 0;
    mf::Running& run = s.running;
    r.f64(d), run.rating_sum.store(d);
    r.i64(v), run.ratings.store(v);
    r.i64(v), run.events.store(v);
    r.i64(v), run.scored.store(v);
    r.f64(d), run.abs_error.store(d);
    r.f64(d), run.squared_error.store(d);
    r.f64(d), run.hits.store(d);
    r.f64(d), run.ndcg.store(d);
    if (!r.ok()) {
        return false;
    }
    m.store_ = std::move(store);
    return true;
}

void Codec<ItemModel>::to_json(const ItemModel& m, JsonWriter& j) {
    j.begin_object();
    if (!m.configured()) {
        j.end_object();
        return;
    }
    const mf::Running& run = m.running();
    j.field("factors", m.factors())
        .field("items", m.size())
        .field("ratings", run.ratings.load())
        .field("rating_mean", run.ratings.load() > 0
                                  ? run.rating_sum.load() / static_cast<double>(run.ratings.load())
                                  : 0.0)
        .field("events", run.events.load())
        .field("scored", run.scored.load())
        .key("top_items")
        .begin_array();
    // The 20 most frequent items, to keep the dump readable.
    std::vector<std::pair<int64_t, uint32_t>> top;
    for (uint32_t i = 0; i < m.size(); ++i) {
        top.emplace_back(m.count(i), i);
    }
    size_t shown = top.size() < 20 ? top.size() : 20;
    std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(shown), top.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t t = 0; t < shown; ++t) {
        uint32_t i = top[t].second;
        const std::string& k = m.key(i);
        j.begin_object();
        if (!k.empty() && k[0] == static_cast<char>(ValueType::kInt) && k.size() == 9) {
            int64_t id = 0;
            std::memcpy(&id, k.data() + 1, sizeof id);
            j.field("item", id);
        } else {
            j.field("item", std::string_view(k).substr(k.empty() ? 0 : 1));
        }
        j.field("events", top[t].first).field("bias", static_cast<double>(m.bias(i)));
        j.end_object();
    }
    j.end_array().end_object();
}

void Codec<mf::UserState>::encode(const mf::UserState& u, StateWriter& w) {
    w.f32(u.bias);
    w.i64(u.events);
    w.i64(u.since_emit);
    w.i64(u.last_emit);
    w.varint(static_cast<uint64_t>(u.category) + 1);
    w.varint(u.seen_next);
    w.floats(u.params);
    w.varint(u.seen.size());
    for (uint32_t i : u.seen) {
        w.varint(i);
    }
}

bool Codec<mf::UserState>::decode(StateReader& r, uint8_t, mf::UserState& u) {
    uint64_t category = 0;
    uint64_t next = 0;
    uint64_t n = 0;
    if (!r.f32(u.bias) || !r.i64(u.events) || !r.i64(u.since_emit) || !r.i64(u.last_emit) ||
        !r.varint(category) || !r.varint(next) || !r.floats(u.params) || !r.varint(n) ||
        n > (1u << 24)) {
        return false;
    }
    u.category = static_cast<uint32_t>(category - 1);
    u.seen_next = static_cast<uint32_t>(next);
    u.seen.resize(n);
    for (uint32_t& i : u.seen) {
        uint64_t v = 0;
        r.varint(v);
        i = static_cast<uint32_t>(v);
    }
    return r.ok();
}

void Codec<mf::UserState>::to_json(const mf::UserState& u, JsonWriter& j) {
    j.begin_object()
        .field("bias", static_cast<double>(u.bias))
        .field("events", u.events)
        .field("since_emit", u.since_emit)
        .key("last_emit");
    if (u.last_emit == mf::kNoTime) {
        j.value(nullptr);
    } else {
        j.value(u.last_emit);
    }
    j.field("seen_items", u.seen.size()).key("factors").begin_array();
    for (size_t i = 0; i < u.params.size() / 2; ++i) {
        j.value(static_cast<double>(u.params[i]));
    }
    j.end_array().end_object();
}

void Merge<ItemModel>::merge(ItemModel& own, std::span<const ItemModel* const> peers) {
    if (!own.configured()) {
        return;
    }
    const auto k = static_cast<size_t>(own.factors());
    // Per item of this model: the weighted sums of factors and bias, and the weight.
    struct Sum {
        double weight = 0;
        double bias = 0;
        std::vector<double> factors;
    };
    std::unordered_map<uint32_t, Sum> sums;
    for (const ItemModel* peer : peers) {
        if (!peer->configured() || static_cast<size_t>(peer->factors()) != k) {
            continue;
        }
        std::unordered_map<uint32_t, std::string_view> category_names;
        for (const auto& [name, id] : peer->store_->categories) {
            category_names.emplace(id, name);
        }
        const uint32_t n = peer->size();
        for (uint32_t i = 0; i < n; ++i) {
            if (!peer->ready(i)) {
                continue;
            }
            const auto weight = static_cast<double>(peer->count(i));
            bool added = false;
            // A new item's row is written below (its own weight is 0).
            uint32_t j = own.find_or_add(peer->key(i), 0, 0.0f, added);
            if (j == ItemModel::kFull) {
                continue;
            }
            if (uint32_t c = peer->category(i);
                c != mf::kNoCategory && own.category(j) == mf::kNoCategory) {
                if (auto name = category_names.find(c); name != category_names.end()) {
                    own.category(j).store(own.category_id(name->second), std::memory_order_relaxed);
                }
            }
            if (weight <= 0) {
                continue;
            }
            Sum& sum = sums[j];
            if (sum.factors.empty()) {
                const auto mine = static_cast<double>(own.count(j).load(std::memory_order_relaxed));
                const float* row = own.factors(j);
                sum.factors.assign(k, 0);
                for (size_t f = 0; f < k; ++f) {
                    sum.factors[f] = mine * row[f];
                }
                sum.bias = mine * own.bias(j);
                sum.weight = mine;
            }
            const float* row = peer->factors(i);
            for (size_t f = 0; f < k; ++f) {
                sum.factors[f] += weight * row[f];
            }
            sum.bias += weight * peer->bias(i);
            sum.weight += weight;
        }
    }
    for (const auto& [j, sum] : sums) {
        float* row = own.factors(j);
        for (size_t f = 0; f < k; ++f) {
            row[f] = static_cast<float>(sum.factors[f] / sum.weight);
        }
        own.bias(j) = static_cast<float>(sum.bias / sum.weight);
    }
}

}  // namespace eddy
