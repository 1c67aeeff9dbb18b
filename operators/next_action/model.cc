// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tbb/concurrent_unordered_map.h>

#include "next_action/next_action.h"

namespace eddy {
namespace {

constexpr uint64_t kActionMask = (1u << 24) - 1;
constexpr uint64_t kContextMask = (1u << 12) - 1;
// A row's counts are relative to its base time; past this many half-lives
// after the base, the row is rescaled to a new base (2^32 is far from overflow).
constexpr double kRebaseHalfLives = 32;

/// (order, context, prev2, prev) in one word: 2 + 12 + 24 + 24 bits.
uint64_t row_key(ChainOrder order, uint32_t context, uint32_t prev2, uint32_t prev) {
    return static_cast<uint64_t>(order) << 60 | (context & kContextMask) << 48 |
           (prev2 & kActionMask) << 24 | (prev & kActionMask);
}

struct KeyHash {
    size_t operator()(uint64_t k) const {
        k ^= k >> 33;  // murmur3's finalizer: the packed fields are far from uniform
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 33;
        return static_cast<size_t>(k);
    }
};

struct Entry {
    uint32_t action;
    double weight;
};

/// One state's next actions. Weights are sum 2^((t_k - base) / half_life)
/// (plain counts without decay); `total` is the sum of all weights added,
/// which Space-Saving keeps equal to the sum of the entries.
struct Row {
    mutable SpinLock lock;
    int64_t base = kNoRecTime;
    double total = 0;
    std::vector<Entry> entries;

    void rescale(double factor) {
        total *= factor;
        for (Entry& e : entries) {
            e.weight *= factor;
        }
    }
    /// The weight of one event at `t`, rebasing the row when `t` is far past its base.
    double weight_at(int64_t t, double half_life_ms) {
        if (half_life_ms <= 0) {
            return 1;
        }
        if (base == kNoRecTime) {
            base = t;
        }
        double age = static_cast<double>(t - base) / half_life_ms;
        if (age > kRebaseHalfLives) {
            rescale(std::exp2(-age));
            base = t;
            age = 0;
        }
        return std::exp2(age);
    }
    /// The decayed total at `t`.
    double support_at(int64_t t, double half_life_ms) const {
        if (half_life_ms <= 0 || base == kNoRecTime) {
            return total;
        }
        return total * std::exp2(static_cast<double>(base - t) / half_life_ms);
    }
    void add(uint32_t action, double x, uint32_t capacity) {
        total += x;
        for (Entry& e : entries) {
            if (e.action == action) {
                e.weight += x;
                return;
            }
        }
        if (entries.size() < capacity) {
            if (entries.size() == entries.capacity()) {
                // Doubling, but never past the cap: memory stays within the documented bound.
                entries.reserve(
                    std::min<size_t>(std::max<size_t>(2, 2 * entries.size()), capacity));
            }
            entries.push_back({action, x});
            return;
        }
        if (entries.empty()) {
            return;
        }
        // Space-Saving: the weakest entry (the later action on ties, so that
        // the choice does not depend on the entries' order) makes room.
        Entry* weakest = &entries[0];
        for (Entry& e : entries) {
            if (e.weight < weakest->weight ||
                (e.weight == weakest->weight && e.action > weakest->action)) {
                weakest = &e;
            }
        }
        weakest->action = action;
        weakest->weight += x;
    }
};

// Rows live in the map's nodes, which never move: one cache miss fewer per lookup.
using RowMap = tbb::concurrent_unordered_map<uint64_t, Row, KeyHash>;
// The merged rows change only in a merge, while no shard runs.
using MergedRows = std::unordered_map<uint64_t, Row, KeyHash>;

/// The weight of `action` in `row`'s entries (0 when absent).
double weight_of(const Row& row, uint32_t action) {
    for (const Entry& e : row.entries) {
        if (e.action == action) {
            return e.weight;
        }
    }
    return 0;
}

/// Rows sorted by key, for an encoding that does not depend on hashing.
template <class Map>
void write_rows(const Map& map, StateWriter& w) {
    std::vector<std::pair<uint64_t, const Row*>> rows;
    rows.reserve(map.size());
    for (const auto& [key, row] : map) {
        rows.emplace_back(key, &row);
    }
    std::sort(rows.begin(), rows.end());
    w.varint(rows.size());
    for (const auto& [key, row] : rows) {
        w.varint(key);
        w.i64(row->base);
        w.f64(row->total);
        w.varint(row->entries.size());
        for (const Entry& e : row->entries) {
            w.varint(e.action);
            w.f64(e.weight);
        }
    }
}

/// Reads what write_rows() wrote into `map` (empty); false when it does not
/// decode or names an action or context that does not exist.
template <class Map>
bool read_rows(StateReader& r, uint64_t actions, uint64_t contexts, Map& map, uint64_t& count) {
    uint64_t rows = 0;
    if (!r.varint(rows)) {
        return false;
    }
    for (uint64_t k = 0; k < rows; ++k) {
        uint64_t key = 0;
        uint64_t size = 0;
        r.varint(key);
        auto [it, inserted] =
            map.emplace(std::piecewise_construct, std::forward_as_tuple(key), std::tuple<>());
        if (!inserted) {
            return false;  // listed twice
        }
        Row* row = &it->second;
        r.i64(row->base);
        r.f64(row->total);
        if (!r.varint(size) || size > (1u << 20) || ((key >> 48) & kContextMask) >= contexts) {
            return false;
        }
        row->entries.resize(size);
        for (Entry& e : row->entries) {
            uint64_t action = 0;
            r.varint(action);
            r.f64(e.weight);
            if (!r.ok() || action >= actions) {
                return false;
            }
            e.action = static_cast<uint32_t>(action);
        }
    }
    count = rows;
    return r.ok();
}

/// predict() over this process's row (may be null) and the merged one:
/// weights scaled to `t` (a row's support over its total), summed by action.
double predict_merged(const Row* own, const Row& merged, int64_t t, double half_life_ms,
                      double min_support, TopN& top) {
    if (own != nullptr) {
        own->lock.lock();
    }
    double own_support = own != nullptr ? own->support_at(t, half_life_ms) : 0;
    double merged_support = merged.support_at(t, half_life_ms);
    double support = own_support + merged_support;
    if (support > 0 && support >= min_support) {
        double own_scale = own != nullptr && own->total > 0 ? own_support / own->total : 0;
        double merged_scale = merged.total > 0 ? merged_support / merged.total : 0;
        if (own != nullptr) {
            for (const Entry& e : own->entries) {
                double p =
                    (e.weight * own_scale + weight_of(merged, e.action) * merged_scale) / support;
                if (top.admits(p)) {
                    top.offer(p, e.action);
                }
            }
        }
        for (const Entry& e : merged.entries) {
            if (own != nullptr && weight_of(*own, e.action) != 0) {
                continue;  // offered above
            }
            double p = e.weight * merged_scale / support;
            if (top.admits(p)) {
                top.offer(p, e.action);
            }
        }
    }
    if (own != nullptr) {
        own->lock.unlock();
    }
    return support;
}

}  // namespace

struct NextActionModel::Impl {
    NextActionLimits limits;
    ItemIndex actions;
    ItemIndex contexts;  // context 0 is "" (no context)
    RowMap rows;
    std::atomic<uint64_t> row_count{0};
    PrequentialCounts counts;
    double half_life_ms = 0;
    // What the last merge added: the other processes' own rows, summed.
    MergedRows merged;

    Impl() {
        bool created = false;
        contexts.intern("", created, [](uint32_t) {});
        // A find walks its bucket's list of nodes, a cache miss each: TBB's
        // default load factor of 4 made lookups most of the operator's time.
        rows.max_load_factor(0.5f);
    }
    Row* find(uint64_t key) const {
        auto it = rows.find(key);
        return it == rows.end() ? nullptr : const_cast<Row*>(&it->second);
    }
    const Row* find_merged(uint64_t key) const {
        if (merged.empty()) {
            return nullptr;
        }
        auto it = merged.find(key);
        return it == merged.end() ? nullptr : &it->second;
    }
    Row* find_or_create(uint64_t key) {
        if (Row* r = find(key)) {
            return r;
        }
        if (row_count.load(std::memory_order_relaxed) >= limits.rows) {
            return nullptr;
        }
        auto [it, inserted] =
            rows.emplace(std::piecewise_construct, std::forward_as_tuple(key), std::tuple<>());
        if (inserted) {
            row_count.fetch_add(1, std::memory_order_relaxed);
        }
        return &it->second;
    }
};

NextActionModel::NextActionModel() : impl_(std::make_unique<Impl>()) {}
NextActionModel::~NextActionModel() = default;
NextActionModel::NextActionModel(NextActionModel&& other) noexcept : impl_(std::move(other.impl_)) {
    other.impl_ = std::make_unique<Impl>();
}
NextActionModel& NextActionModel::operator=(NextActionModel&& other) noexcept {
    std::swap(impl_, other.impl_);
    return *this;
}

void NextActionModel::set_limits(const NextActionLimits& limits) {
    impl_->limits = limits;
}

void NextActionModel::set_half_life(double half_life_ms) {
    impl_->half_life_ms = half_life_ms;
}

uint32_t NextActionModel::action(std::string_view id, bool& created) {
    created = false;
    ItemIndex& index = impl_->actions;
    if (uint32_t a = index.find(id); a != ItemIndex::kNone) {
        return a;
    }
    if (index.size() >= impl_->limits.actions) {
        return kNoItem;
    }
    uint32_t a = index.intern(id, created, [](uint32_t) {});
    return a == ItemIndex::kNone ? kNoItem : a;
}

const ItemIndex& NextActionModel::actions() const {
    return impl_->actions;
}

uint32_t NextActionModel::context(std::string_view key) {
    ItemIndex& index = impl_->contexts;
    if (uint32_t c = index.find(key); c != ItemIndex::kNone) {
        return c;
    }
    if (index.size() > impl_->limits.contexts) {
        return kNoItem;
    }
    bool created = false;
    uint32_t c = index.intern(key, created, [](uint32_t) {});
    return c == ItemIndex::kNone ? kNoItem : c;
}

const ItemIndex& NextActionModel::contexts() const {
    return impl_->contexts;
}

bool NextActionModel::learn(ChainOrder order, uint32_t context, uint32_t prev2, uint32_t prev,
                            uint32_t next, int64_t t, double half_life_ms) {
    Row* row = impl_->find_or_create(row_key(order, context, prev2, prev));
    if (row == nullptr) {
        return false;
    }
    row->lock.lock();
    row->add(next, row->weight_at(t, half_life_ms), impl_->limits.transitions);
    row->lock.unlock();
    return true;
}

double NextActionModel::predict(ChainOrder order, uint32_t context, uint32_t prev2, uint32_t prev,
                                int64_t t, double half_life_ms, double min_support,
                                TopN& top) const {
    uint64_t key = row_key(order, context, prev2, prev);
    const Row* row = impl_->find(key);
    if (const Row* merged = impl_->find_merged(key)) {
        return predict_merged(row, *merged, t, half_life_ms, min_support, top);
    }
    if (row == nullptr) {
        return 0;
    }
    row->lock.lock();
    double support = row->support_at(t, half_life_ms);
    if (support > 0 && support >= min_support && row->total > 0) {
        for (const Entry& e : row->entries) {
            double p = e.weight / row->total;
            if (top.admits(p)) {
                top.offer(p, e.action);
            }
        }
    }
    row->lock.unlock();
    return support;
}

uint64_t NextActionModel::rows() const {
    return impl_->row_count.load(std::memory_order_relaxed);
}

uint64_t NextActionModel::merged_rows() const {
    return impl_->merged.size();
}

PrequentialCounts& NextActionModel::counts() {
    return impl_->counts;
}

// Layout: counts, action ids, context ids, then the rows, each as its key,
// base, total and entries in order, so that a restored model continues
// exactly as the saved one would have; since version 2, the merged rows
// after them, the same way.
void NextActionModel::encode(StateWriter& w) const {
    const Impl& m = *impl_;
    m.counts.encode(w);
    m.actions.encode(w);
    m.contexts.encode(w);
    write_rows(m.rows, w);
    write_rows(m.merged, w);
}

bool NextActionModel::decode(StateReader& r, uint8_t version) {
    NextActionLimits limits = impl_->limits;
    double half_life_ms = impl_->half_life_ms;
    impl_ = std::make_unique<Impl>();
    Impl& m = *impl_;
    m.limits = limits;
    m.half_life_ms = half_life_ms;
    m.counts.decode(r);
    std::string id;
    uint64_t n = 0;
    if (!r.varint(n) || n > NextActionLimits::kMaxActions) {
        return false;
    }
    for (uint64_t i = 0; i < n; ++i) {
        if (!r.str(id) || m.actions.find(id) != ItemIndex::kNone) {
            return false;
        }
        m.actions.add_restored(id);
    }
    uint64_t contexts = 0;
    if (!r.varint(contexts) || contexts == 0 || contexts > NextActionLimits::kMaxContexts + 1) {
        return false;
    }
    for (uint64_t c = 0; c < contexts; ++c) {
        if (!r.str(id) || (c == 0) != id.empty()) {
            return false;
        }
        if (c > 0) {
            m.contexts.add_restored(id);
        }
    }
    uint64_t rows = 0;
    if (!read_rows(r, n, contexts, m.rows, rows)) {
        return false;
    }
    m.row_count.store(rows, std::memory_order_relaxed);
    uint64_t merged = 0;
    return version < 2 || read_rows(r, n, contexts, m.merged, merged);
}

void Merge<NextActionModel>::merge(NextActionModel& own,
                                   std::span<const NextActionModel* const> peers) {
    NextActionModel::Impl& m = *own.impl_;
    const double h = m.half_life_ms;
    m.merged.clear();
    constexpr uint32_t kUnmapped = UINT32_MAX - 1;
    for (const NextActionModel* peer : peers) {
        const NextActionModel::Impl& p = *peer->impl_;
        // Peer index -> ours, by id, on first use; kNoItem past our limits.
        std::vector<uint32_t> actions(p.actions.size(), kUnmapped);
        std::vector<uint32_t> contexts(p.contexts.size(), kUnmapped);
        auto action = [&](uint64_t a) {
            if (a >= actions.size()) {
                return kNoItem;
            }
            if (actions[a] == kUnmapped) {
                bool created = false;
                actions[a] = own.action(p.actions.id(static_cast<uint32_t>(a)), created);
            }
            return actions[a];
        };
        auto context = [&](uint64_t c) {
            if (c >= contexts.size()) {
                return kNoItem;
            }
            if (contexts[c] == kUnmapped) {
                contexts[c] = c == 0 ? 0 : own.context(p.contexts.id(static_cast<uint32_t>(c)));
            }
            return contexts[c];
        };
        for (const auto& [key, row] : p.rows) {
            auto order = static_cast<ChainOrder>(key >> 60);
            uint64_t ours = key;  // the popularity row: no context, no previous actions
            if (order != ChainOrder::kPopularity) {
                uint32_t c = context((key >> 48) & kContextMask);
                uint32_t prev = action(key & kActionMask);
                uint64_t prev2_bits = (key >> 24) & kActionMask;
                uint32_t prev2 = prev2_bits == kActionMask ? kNoItem : action(prev2_bits);
                if (c == kNoItem || prev == kNoItem ||
                    (prev2_bits != kActionMask && prev2 == kNoItem)) {
                    continue;
                }
                ours = row_key(order, c, prev2, prev);
            }
            auto found = m.merged.find(ours);
            if (found == m.merged.end()) {
                if (m.merged.size() >= m.limits.rows) {
                    continue;
                }
                found = m.merged
                            .emplace(std::piecewise_construct, std::forward_as_tuple(ours),
                                     std::tuple<>())
                            .first;
            }
            Row& into = found->second;
            // Weights are relative to a row's base time: move both to the later one.
            double factor = 1;
            if (h > 0 && row.base != kNoRecTime) {
                if (into.base == kNoRecTime) {
                    into.base = row.base;
                } else if (row.base > into.base) {
                    into.rescale(std::exp2(static_cast<double>(into.base - row.base) / h));
                    into.base = row.base;
                }
                factor = std::exp2(static_cast<double>(row.base - into.base) / h);
            }
            for (const Entry& e : row.entries) {
                uint32_t next = action(e.action);
                if (next != kNoItem) {
                    into.add(next, e.weight * factor, m.limits.transitions);
                }
            }
        }
    }
}

void NextActionModel::to_json(JsonWriter& j) const {
    const Impl& m = *impl_;
    j.begin_object();
    counts_to_json(m.counts, j);
    j.field("actions", m.actions.size()).field("rows", rows()).field("merged_rows", merged_rows());
    j.key("contexts").begin_array();
    for (uint32_t c = 1; c < m.contexts.size(); ++c) {
        context_to_json(m.contexts.id(c), j);
    }
    j.end_array().key("popularity").begin_array();
    if (const Row* row = m.find(row_key(ChainOrder::kPopularity, 0, 0, 0))) {
        TopN top;
        top.reset(20);
        for (const Entry& e : row->entries) {
            top.offer(row->total > 0 ? e.weight / row->total : 0, e.action);
        }
        for (const TopN::Entry& e : top.sorted()) {
            j.begin_object().key("action");
            item_id_to_json(m.actions.id(e.item), j);
            j.field("share", e.score).end_object();
        }
    }
    j.end_array().end_object();
}

void context_to_json(std::string_view key, JsonWriter& j) {
    // Parts are a 4-byte length and an encoded value (see the operator).
    j.begin_array();
    while (key.size() >= sizeof(uint32_t)) {
        uint32_t size = 0;
        std::memcpy(&size, key.data(), sizeof size);
        key.remove_prefix(sizeof size);
        std::string_view part = key.substr(0, std::min<size_t>(size, key.size()));
        key.remove_prefix(part.size());
        if (part.empty() || part == "n") {
            j.value(nullptr);
        } else if (part[0] == 'b' && part.size() == 2) {
            j.value(part[1] == '1');
        } else if (part[0] == 't' && part.size() == 2) {
            j.value(static_cast<int64_t>(static_cast<uint8_t>(part[1])));
        } else {
            item_id_to_json(part, j);
        }
    }
    j.end_array();
}

}  // namespace eddy
