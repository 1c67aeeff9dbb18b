// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "item_similarity/item_similarity.h"

namespace eddy {
namespace {

constexpr uint32_t kEmpty = UINT32_MAX;
constexpr uint32_t kInTop = 1u << 31;  // flag on a count: the pair is in the neighbour list
constexpr uint32_t kCountMask = kInTop - 1;

/// c(i, j) for one row i: open addressing with linear probing, power-of-two
/// capacity, at most 70% full. Grows (the only allocation) by doubling. The
/// high bit of a count says whether j is among i's neighbours.
class CoCounts {
public:
    struct Slot {
        uint32_t key = kEmpty;
        uint32_t count = 0;
    };
    /// Adds `n` to c(key); returns its slot (valid until the next add).
    Slot* add(uint32_t key, uint32_t n = 1) {
        if ((size_ + 1) * 10 > cap() * 7) {
            grow();
        }
        Slot* s = probe(key);
        if (s->key == kEmpty) {
            s->key = key;
            ++size_;
        }
        s->count += n;
        return s;
    }
    /// The slot of `key` (an empty slot when absent), nullptr when the map is empty.
    Slot* find(uint32_t key) { return cap() == 0 ? nullptr : probe(key); }
    uint32_t size() const { return size_; }
    /// Asks the CPU to fetch key's probe start. Any thread, without the row's
    /// lock: it reads the table's address atomically and a prefetch never faults.
    void prefetch(uint32_t key) const {
        uint32_t cap = cap_.load(std::memory_order_relaxed);
        const Slot* slots = slots_.load(std::memory_order_relaxed);
        if (cap != 0) {
            __builtin_prefetch(slots + ((key * 0x9E3779B1u) & (cap - 1)), 1);
        }
    }
    template <class F>
    void for_each(F&& f) {
        Slot* slots = table();
        for (uint32_t i = 0; i < cap(); ++i) {
            if (slots[i].key != kEmpty) {
                f(slots[i]);
            }
        }
    }

    CoCounts() = default;
    CoCounts(const CoCounts&) = delete;
    CoCounts& operator=(const CoCounts&) = delete;
    ~CoCounts() { delete[] table(); }

private:
    uint32_t cap() const { return cap_.load(std::memory_order_relaxed); }
    Slot* table() const { return slots_.load(std::memory_order_relaxed); }
    Slot* probe(uint32_t key) {
        Slot* slots = table();
        uint32_t mask = cap() - 1;
        uint32_t i = (key * 0x9E3779B1u) & mask;
        while (slots[i].key != kEmpty && slots[i].key != key) {
            i = (i + 1) & mask;
        }
        return &slots[i];
    }
    void grow() {
        uint32_t old_cap = cap();
        Slot* old = table();
        uint32_t cap = old_cap == 0 ? 16 : old_cap * 2;
        slots_.store(new Slot[cap], std::memory_order_relaxed);
        cap_.store(cap, std::memory_order_relaxed);
        for (uint32_t i = 0; i < old_cap; ++i) {
            if (old[i].key != kEmpty) {
                *probe(old[i].key) = old[i];
            }
        }
        delete[] old;
    }
    // Atomic only so that prefetch() may read them without the lock.
    std::atomic<Slot*> slots_{nullptr};
    std::atomic<uint32_t> cap_{0};
    uint32_t size_ = 0;
};

struct Row {
    SpinLock lock;
    uint64_t count = 0;  // c(i); written under the lock, read anywhere (atomic_ref)
    CoCounts co;
    std::vector<Neighbour> top;
    std::vector<double> judged;  // per neighbour: its score when last judged
    uint32_t min_slot = 0;       // the neighbour with the lowest judged score
    uint64_t updates = 0;        // pair updates, for the rebuild schedule
    uint64_t rebuild_at = 0;
};

uint64_t load(const uint64_t& v) {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(v)).load(std::memory_order_relaxed);
}

}  // namespace

struct SimilarityModel::Impl {
    ItemIndex items;
    ChunkedArray<Row> rows;
    PrequentialCounts counts;
    std::atomic<uint64_t> pairs{0};

    Row& row(uint32_t i) { return rows[i]; }
    const Row& row(uint32_t i) const { return rows[i]; }
    uint64_t count(uint32_t i) const { return load(rows[i].count); }

    // Row i orders neighbours j by c(i, j)^2 / c(j), the square of the cosine
    // times c(i), which is common to the row.
    double score(uint32_t j, uint32_t co) const {
        uint64_t cj = count(j);
        double c = co;
        return cj == 0 ? 0 : c * c / static_cast<double>(cj);
    }
    static void find_min(Row& r) {
        uint32_t m = 0;
        for (uint32_t s = 1; s < r.judged.size(); ++s) {
            if (r.judged[s] < r.judged[m]) {
                m = s;
            }
        }
        r.min_slot = m;
    }
    void offer(Row& r, CoCounts::Slot& slot, size_t k) {
        uint32_t j = slot.key;
        uint32_t co = slot.count & kCountMask;
        if ((slot.count & kInTop) != 0) {
            for (uint32_t s = 0; s < r.top.size(); ++s) {
                if (r.top[s].item == j) {
                    r.top[s].co = co;
                    r.judged[s] = score(j, co);
                    if (s == r.min_slot) {
                        find_min(r);
                    }
                    return;
                }
            }
            return;
        }
        if (r.top.size() < k) {
            if (r.top.capacity() < k) {
                r.top.reserve(k);
                r.judged.reserve(k);
            }
            r.top.push_back({j, co});
            r.judged.push_back(score(j, co));
            slot.count |= kInTop;
            find_min(r);
            return;
        }
        double v = score(j, co);
        if (k == 0 || v <= r.judged[r.min_slot]) {
            return;
        }
        r.co.find(r.top[r.min_slot].item)->count &= kCountMask;
        r.top[r.min_slot] = {j, co};
        r.judged[r.min_slot] = v;
        slot.count |= kInTop;
        find_min(r);
    }
    // All counts judged afresh: the k best by score, ties by index.
    void rebuild(Row& r, size_t k, std::vector<std::pair<double, Neighbour>>& scratch) const {
        scratch.clear();
        r.co.for_each([&](CoCounts::Slot& slot) {
            slot.count &= kCountMask;
            scratch.push_back({score(slot.key, slot.count), {slot.key, slot.count}});
        });
        auto better = [](const auto& a, const auto& b) {
            return a.first != b.first ? a.first > b.first : a.second.item < b.second.item;
        };
        size_t keep = std::min(k, scratch.size());
        std::partial_sort(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(keep),
                          scratch.end(), better);
        r.top.clear();
        r.judged.clear();
        for (size_t s = 0; s < keep; ++s) {
            r.top.push_back(scratch[s].second);
            r.judged.push_back(scratch[s].first);
            r.co.find(scratch[s].second.item)->count |= kInTop;
        }
        find_min(r);
        r.rebuild_at = r.updates + std::max<uint64_t>(k, r.updates);
    }
    void update(Row& r, uint32_t j, size_t k) {
        CoCounts::Slot* slot = r.co.add(j);
        if ((slot->count & kCountMask) == 1) {
            pairs.fetch_add(1, std::memory_order_relaxed);
        }
        offer(r, *slot, k);
        ++r.updates;
    }
    void maybe_rebuild(Row& r, size_t k) {
        if (r.updates >= r.rebuild_at && r.co.size() <= k) {
            // Every co-occurring item is a neighbour: nothing to choose yet.
            r.rebuild_at = r.updates + std::max<uint64_t>(k, r.updates);
        } else if (r.updates >= r.rebuild_at) {
            thread_local std::vector<std::pair<double, Neighbour>> scratch;
            rebuild(r, k, scratch);
        }
    }
};

SimilarityModel::SimilarityModel() : impl_(std::make_unique<Impl>()) {}
SimilarityModel::~SimilarityModel() = default;
SimilarityModel::SimilarityModel(SimilarityModel&& other) noexcept : impl_(std::move(other.impl_)) {
    other.impl_ = std::make_unique<Impl>();
}
SimilarityModel& SimilarityModel::operator=(SimilarityModel&& other) noexcept {
    std::swap(impl_, other.impl_);
    return *this;
}

ItemIndex& SimilarityModel::items() {
    return impl_->items;
}
const ItemIndex& SimilarityModel::items() const {
    return impl_->items;
}
PrequentialCounts& SimilarityModel::counts() {
    return impl_->counts;
}
uint64_t SimilarityModel::pairs() const {
    return impl_->pairs.load(std::memory_order_relaxed);
}

void SimilarityModel::add_item(uint32_t item) {
    impl_->rows.ensure(item);
}

void SimilarityModel::learn(uint32_t item, std::span<const uint32_t> recent, size_t k) {
    Impl& m = *impl_;
    Row& ri = m.row(item);
    // The rows and hash slots touched are scattered over a large model: ask
    // for all of them first so that their cache misses overlap.
    for (uint32_t j : recent) {
        __builtin_prefetch(&m.row(j), 1);
        ri.co.prefetch(j);
    }
    ri.lock.lock();
    std::atomic_ref<uint64_t>(ri.count).fetch_add(1, std::memory_order_relaxed);
    for (uint32_t j : recent) {
        m.update(ri, j, k);
    }
    m.maybe_rebuild(ri, k);
    ri.lock.unlock();
    for (uint32_t j : recent) {
        m.row(j).co.prefetch(item);
    }
    for (uint32_t j : recent) {
        Row& rj = m.row(j);
        rj.lock.lock();
        m.update(rj, item, k);
        m.maybe_rebuild(rj, k);
        rj.lock.unlock();
    }
}

uint64_t SimilarityModel::count(uint32_t item) const {
    return impl_->count(item);
}

uint64_t SimilarityModel::neighbours(uint32_t item, std::vector<Neighbour>& out) const {
    Row& r = const_cast<Row&>(impl_->row(item));
    r.lock.lock();
    out.assign(r.top.begin(), r.top.end());
    r.lock.unlock();
    return impl_->count(item);
}

// Layout: counts, ids, then per item c(i), its counts (index delta, count),
// its neighbours in order with their scores as last judged, and the rebuild
// schedule, so that a restored model
// continues exactly as the saved one would have.
void SimilarityModel::encode(StateWriter& w) const {
    const Impl& m = *impl_;
    m.counts.encode(w);
    m.items.encode(w);
    uint32_t n = m.items.size();
    std::vector<std::pair<uint32_t, uint32_t>> co;
    for (uint32_t i = 0; i < n; ++i) {
        const Row& r = m.row(i);
        w.varint(r.count);
        co.clear();
        const_cast<CoCounts&>(r.co).for_each([&co](const CoCounts::Slot& slot) {
            co.emplace_back(slot.key, slot.count & kCountMask);
        });
        std::sort(co.begin(), co.end());
        w.varint(co.size());
        uint32_t last = 0;
        for (const auto& [j, c] : co) {
            w.varint(j - last);
            w.varint(c);
            last = j;
        }
        w.varint(r.top.size());
        for (size_t s = 0; s < r.top.size(); ++s) {
            w.varint(r.top[s].item);
            w.varint(r.top[s].co);
            w.f64(r.judged[s]);
        }
        w.varint(r.updates);
        w.varint(r.rebuild_at);
    }
}

void SimilarityModel::to_json(JsonWriter& j) const {
    const Impl& m = *impl_;
    constexpr uint32_t kShown = 1000;
    uint32_t n = m.items.size();
    j.begin_object();
    counts_to_json(m.counts, j);
    j.field("items", n).field("pairs", pairs()).field("truncated", n > kShown);
    j.key("rows").begin_array();
    for (uint32_t i = 0; i < std::min(n, kShown); ++i) {
        const Row& r = m.row(i);
        j.begin_object().key("item");
        item_id_to_json(m.items.id(i), j);
        j.field("count", r.count).key("neighbours").begin_array();
        for (const Neighbour& nb : r.top) {
            j.begin_object().key("item");
            item_id_to_json(m.items.id(nb.item), j);
            j.field("co", nb.co).end_object();
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

bool SimilarityModel::decode(StateReader& r) {
    impl_ = std::make_unique<Impl>();
    Impl& m = *impl_;
    m.counts.decode(r);
    uint64_t n = 0;
    if (!r.varint(n) || n > ChunkedArray<Row>::kCapacity) {
        return false;
    }
    std::string id;
    for (uint64_t i = 0; i < n; ++i) {
        if (!r.str(id) || m.items.find(id) != ItemIndex::kNone) {
            return false;
        }
        m.rows.ensure(static_cast<uint32_t>(i));
        m.items.add_restored(id);
    }
    uint64_t pairs = 0;
    for (uint64_t i = 0; i < n; ++i) {
        Row& row = m.row(static_cast<uint32_t>(i));
        uint64_t size = 0;
        r.varint(row.count);
        if (!r.varint(size) || size > n) {
            return false;
        }
        uint64_t j = 0;
        for (uint64_t s = 0; s < size; ++s) {
            uint64_t delta = 0;
            uint64_t c = 0;
            r.varint(delta);
            r.varint(c);
            j += delta;
            if (!r.ok() || j >= n || c == 0 || c > kCountMask) {
                return false;
            }
            row.co.add(static_cast<uint32_t>(j), static_cast<uint32_t>(c));
        }
        pairs += size;
        if (!r.varint(size) || size > n) {
            return false;
        }
        row.top.reserve(size);
        row.judged.reserve(size);
        for (uint64_t s = 0; s < size; ++s) {
            uint64_t item = 0;
            uint64_t c = 0;
            double judged = 0;
            r.varint(item);
            r.varint(c);
            r.f64(judged);
            if (!r.ok() || item >= n || c > kCountMask) {
                return false;
            }
            CoCounts::Slot* slot = row.co.find(static_cast<uint32_t>(item));
            if (slot == nullptr || slot->key != item || (slot->count & kInTop) != 0) {
                return false;  // a neighbour must be a co-occurring item, listed once
            }
            slot->count |= kInTop;
            row.top.push_back({static_cast<uint32_t>(item), static_cast<uint32_t>(c)});
            row.judged.push_back(judged);
        }
        Impl::find_min(row);
        r.varint(row.updates);
        r.varint(row.rebuild_at);
    }
    m.pairs.store(pairs, std::memory_order_relaxed);
    return r.ok();
}

}  // namespace eddy
