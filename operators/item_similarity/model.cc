// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "item_similarity/item_similarity.h"

namespace eddy {
namespace {

constexpr uint32_t kEmpty = UINT32_MAX;
// A slot's value is c(i, j), or, while j is a neighbour, kInTop | j's place
// in the neighbour list, which then holds the count: an update of a
// neighbour goes straight to its entry, and an evicted neighbour's count goes
// back to a slot whose index the list keeps, without probing for it.
constexpr uint32_t kInTop = 1u << 31;
constexpr uint32_t kCountMask = kInTop - 1;

struct Slot {
    uint32_t key = kEmpty;
    uint32_t value = 0;
};

/// A neighbour: its score as last judged, the item and c(i, item), together
/// since an update of a neighbour changes both numbers.
struct Entry {
    double judged;
    uint32_t item;
    uint32_t co;
};

uint32_t home(uint32_t key, uint32_t mask) {
    return (key * 0x9E3779B1u) & mask;
}

/// One item's row in one cache line: c(i, j) for every j met (open
/// addressing with linear probing, power-of-two capacity, at most 70% full,
/// grown by doubling) and up to K neighbours in one block (their entries,
/// then the index of each one's slot in the table). The weakest neighbour's
/// judged score is copied here, so that a pair that does not enter (most
/// updates) touches only this line and its slot. c(i) lives apart, in a dense
/// array, since scores read c(j) of many rows. Changed only under `lock`.
struct alignas(64) Row {
    SpinLock lock;
    uint32_t top_size = 0;
    uint32_t top_cap = 0;
    uint32_t min_slot = 0;  // the neighbour with the lowest judged score
    // Atomic only so that prefetch() may read them without the lock.
    std::atomic<Slot*> slots{nullptr};
    std::atomic<uint32_t> cap{0};
    uint32_t size = 0;         // distinct j
    double min_judged = 0;     // entries()[min_slot].judged while top_size > 0
    std::byte* top = nullptr;  // top_cap entries, then their slots' indexes
    uint64_t updates = 0;      // pair updates, for the rebuild schedule
    uint64_t rebuild_at = 0;

    Row() = default;
    Row(const Row&) = delete;
    Row& operator=(const Row&) = delete;
    ~Row() {
        delete[] table();
        ::operator delete(top);
    }

    Slot* table() const { return slots.load(std::memory_order_relaxed); }
    uint32_t capacity() const { return cap.load(std::memory_order_relaxed); }
    Entry* entries() const { return reinterpret_cast<Entry*>(top); }
    uint32_t* slot_of() const { return reinterpret_cast<uint32_t*>(top + sizeof(Entry) * top_cap); }

    /// Asks the CPU to fetch key's probe start. Any thread, without the
    /// lock: it reads the table's address atomically and a prefetch never faults.
    void prefetch(uint32_t key) const {
        uint32_t c = cap.load(std::memory_order_relaxed);
        const Slot* s = slots.load(std::memory_order_relaxed);
        if (c != 0) {
            __builtin_prefetch(s + home(key, c - 1), 1);
        }
    }
    /// The index of key's slot, or of the empty slot where it would go.
    uint32_t probe(uint32_t key) const {
        const Slot* s = table();
        uint32_t mask = capacity() - 1;
        uint32_t at = home(key, mask);
        while (s[at].key != kEmpty && s[at].key != key) {
            at = (at + 1) & mask;
        }
        return at;
    }
    /// The index of key's slot, added with value 0 when new (the only
    /// allocation: the table doubles past 70%).
    uint32_t insert(uint32_t key) {
        if ((size + 1) * 10 > capacity() * 7) {
            grow();
        }
        uint32_t at = probe(key);
        Slot& s = table()[at];
        if (s.key == kEmpty) {
            s.key = key;
            s.value = 0;
            ++size;
        }
        return at;
    }
    /// The index of key's slot, or kEmpty when absent.
    uint32_t find(uint32_t key) const {
        if (capacity() == 0) {
            return kEmpty;
        }
        uint32_t at = probe(key);
        return table()[at].key == key ? at : kEmpty;
    }
    /// c(i, slot's key).
    uint32_t co(const Slot& s) const {
        return (s.value & kInTop) != 0 ? entries()[s.value & kCountMask].co : s.value;
    }
    void grow() {
        uint32_t old_cap = capacity();
        Slot* old = table();
        uint32_t new_cap = old_cap == 0 ? 16 : old_cap * 2;
        auto* fresh = new Slot[new_cap];
        uint32_t mask = new_cap - 1;
        uint32_t* slot_of_top = slot_of();
        for (uint32_t i = 0; i < old_cap; ++i) {
            if (old[i].key == kEmpty) {
                continue;
            }
            uint32_t at = home(old[i].key, mask);
            while (fresh[at].key != kEmpty) {
                at = (at + 1) & mask;
            }
            fresh[at] = old[i];
            if ((old[i].value & kInTop) != 0) {
                slot_of_top[old[i].value & kCountMask] = at;
            }
        }
        slots.store(fresh, std::memory_order_relaxed);
        cap.store(new_cap, std::memory_order_relaxed);
        delete[] old;
    }
    /// Room for `n` neighbours, keeping the current ones.
    void reserve(uint32_t n) {
        if (top_cap >= n) {
            return;
        }
        auto* block =
            static_cast<std::byte*>(::operator new((sizeof(Entry) + sizeof(uint32_t)) * n));
        std::copy_n(entries(), top_size, reinterpret_cast<Entry*>(block));
        std::copy_n(slot_of(), top_size, reinterpret_cast<uint32_t*>(block + sizeof(Entry) * n));
        ::operator delete(top);
        top = block;
        top_cap = n;
    }
    void find_min() {
        const Entry* e = entries();
        uint32_t m = 0;
        for (uint32_t s = 1; s < top_size; ++s) {
            if (e[s].judged < e[m].judged) {
                m = s;
            }
        }
        min_slot = m;
        min_judged = top_size == 0 ? 0 : e[m].judged;
    }
    /// Makes the pair at slot `at` neighbour number `s` (count `co`, score `v`).
    void place(uint32_t s, uint32_t at, uint32_t co, double v) {
        Slot& slot = table()[at];
        entries()[s] = {v, slot.key, co};
        slot_of()[s] = at;
        slot.value = kInTop | s;
    }
};

static_assert(sizeof(Row) == 64, "a row's header is one cache line");

uint64_t load(const uint64_t& v) {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(v)).load(std::memory_order_relaxed);
}

/// A rebuild's candidate: a pair's score, its item and its slot.
struct Candidate {
    double score;
    uint32_t item;
    uint32_t slot;
};

/// The neighbour order: higher score first, then lower index.
bool better(const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
}

/// Replaces the top of a heap ordered by better() (its weakest entry) with
/// `c`, which is better, and restores the heap.
void replace_weakest(std::vector<Candidate>& heap, const Candidate& c) {
    size_t n = heap.size();
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && better(heap[child], heap[child + 1])) {
            ++child;  // the weaker child
        }
        if (!better(c, heap[child])) {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = c;
}

}  // namespace

struct SimilarityModel::Impl {
    ItemIndex items;
    ChunkedArray<Row> rows;
    ChunkedArray<uint64_t> counts;  // c(i): written under row i's lock, read anywhere
    PrequentialCounts prequential;
    std::atomic<uint64_t> pairs{0};
    size_t k = 20;  // the operator's `neighbours`
    // The last merge's part, by item (empty before any merge): the other
    // processes' c(i), and the K best merged pairs with their merged c(i, j).
    // Changed only by a merge, while no shard runs.
    std::vector<uint64_t> merged_counts;
    std::vector<std::vector<Neighbour>> merged_top;

    Row& row(uint32_t i) { return rows[i]; }
    const Row& row(uint32_t i) const { return rows[i]; }
    uint64_t count(uint32_t i) const { return load(counts[i]); }
    uint64_t merged_count(uint32_t i) const {
        return i < merged_counts.size() ? merged_counts[i] : 0;
    }
    uint64_t total(uint32_t i) const { return count(i) + merged_count(i); }
    /// Own c(i, j) from row i, locked by the caller; 0 when absent.
    static uint32_t own_co(const Row& r, uint32_t j) {
        uint32_t at = r.find(j);
        return at == kEmpty ? 0 : r.co(r.table()[at]);
    }

    // Row i orders neighbours j by c(i, j)^2 / c(j), the square of the cosine
    // times c(i), which is common to the row.
    double score(uint32_t j, uint32_t co) const {
        uint64_t cj = count(j);
        double c = co;
        return cj == 0 ? 0 : c * c / static_cast<double>(cj);
    }
    // A pair that is not a neighbour and whose count grew to `co`: it enters
    // the list while there is room, else replaces the weakest neighbour when
    // its score beats that neighbour's judged score.
    void offer(Row& r, uint32_t at, uint32_t j, uint32_t co, size_t k) const {
        if (r.top_size < k) {
            r.reserve(static_cast<uint32_t>(k));
            r.place(r.top_size++, at, co, score(j, co));
            r.find_min();
            return;
        }
        if (k == 0) {
            return;
        }
        double v = score(j, co);
        if (v <= r.min_judged) {
            return;
        }
        r.table()[r.slot_of()[r.min_slot]].value = r.entries()[r.min_slot].co;
        r.place(r.min_slot, at, co, v);
        r.find_min();
    }
    // All counts judged afresh: the k best by score, ties by index. A heap of
    // the best so far (weakest on top) starts from the current neighbours,
    // rescored, which are mostly still among the best: the other pairs then
    // rarely beat the weakest and the heap seldom changes.
    void rebuild(Row& r, size_t k, std::vector<Candidate>& best) const {
        best.clear();
        Slot* slots = r.table();
        const Entry* top = r.entries();
        const uint32_t* top_slot = r.slot_of();
        const uint32_t old = r.top_size;
        auto consider = [&best, k](const Candidate& c) {
            if (best.size() < k) {
                best.push_back(c);
                std::push_heap(best.begin(), best.end(), better);
            } else if (k != 0 && better(c, best.front())) {
                replace_weakest(best, c);
            }
        };
        for (uint32_t s = 0; s < old; ++s) {
            consider({score(top[s].item, top[s].co), top[s].item, top_slot[s]});
        }
        for (uint32_t at = 0, cap = r.capacity(); at < cap; ++at) {
            const Slot& s = slots[at];
            if (s.key != kEmpty && (s.value & kInTop) == 0) {  // neighbours are offered already
                consider({score(s.key, s.value), s.key, at});
            }
        }
        for (uint32_t s = 0; s < old; ++s) {
            slots[top_slot[s]].value = top[s].co;  // counts back in their slots
        }
        std::sort_heap(best.begin(), best.end(), better);
        auto keep = static_cast<uint32_t>(best.size());
        r.reserve(keep);
        for (uint32_t s = 0; s < keep; ++s) {
            const Candidate& c = best[s];
            r.place(s, c.slot, slots[c.slot].value, c.score);
        }
        r.top_size = keep;
        r.find_min();
        r.rebuild_at = r.updates + std::max<uint64_t>(k, r.updates);
    }
    // c(i, j) += 1 in row r; returns 1 when the pair is new.
    uint64_t update(Row& r, uint32_t j, size_t k) const {
        uint32_t at = r.insert(j);
        Slot& s = r.table()[at];
        uint64_t fresh = 0;
        if ((s.value & kInTop) != 0) {
            uint32_t n = s.value & kCountMask;
            Entry& e = r.entries()[n];
            e.judged = score(j, ++e.co);
            if (n == r.min_slot) {
                r.find_min();
            }
        } else {
            uint32_t co = ++s.value;
            fresh = co == 1 ? 1 : 0;
            offer(r, at, j, co, k);
        }
        ++r.updates;
        return fresh;
    }
    void maybe_rebuild(Row& r, size_t k) const {
        if (r.updates >= r.rebuild_at && r.size <= k) {
            // Every co-occurring item is a neighbour: nothing to choose yet.
            r.rebuild_at = r.updates + std::max<uint64_t>(k, r.updates);
        } else if (r.updates >= r.rebuild_at) {
            thread_local std::vector<Candidate> scratch;
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
    return impl_->prequential;
}
uint64_t SimilarityModel::pairs() const {
    return impl_->pairs.load(std::memory_order_relaxed);
}

void SimilarityModel::add_item(uint32_t item) {
    impl_->counts.ensure(item);
    impl_->rows.ensure(item);
}

void SimilarityModel::set_neighbours(size_t k) {
    impl_->k = k;
}

void SimilarityModel::learn(uint32_t item, std::span<const uint32_t> recent, size_t k) {
    Impl& m = *impl_;
    Row& ri = m.row(item);
    // The rows and hash slots touched are scattered over a large model: ask
    // for all of them first so that their cache misses overlap.
    for (uint32_t j : recent) {
        Row& rj = m.row(j);
        __builtin_prefetch(&rj, 1);
        ri.prefetch(j);
        rj.prefetch(item);
    }
    uint64_t fresh = 0;
    ri.lock.lock();
    // Only the holder of row i's lock writes c(i): no read-modify-write needed.
    std::atomic_ref<uint64_t>(m.counts[item]).store(m.count(item) + 1, std::memory_order_relaxed);
    for (uint32_t j : recent) {
        fresh += m.update(ri, j, k);
    }
    m.maybe_rebuild(ri, k);
    ri.lock.unlock();
    for (uint32_t j : recent) {
        Row& rj = m.row(j);
        rj.lock.lock();
        fresh += m.update(rj, item, k);
        m.maybe_rebuild(rj, k);
        rj.lock.unlock();
    }
    if (fresh != 0) {
        m.pairs.fetch_add(fresh, std::memory_order_relaxed);
    }
}

uint64_t SimilarityModel::count(uint32_t item) const {
    return impl_->total(item);
}

uint64_t SimilarityModel::own_count(uint32_t item) const {
    return impl_->count(item);
}

uint64_t SimilarityModel::neighbours(uint32_t item, std::vector<Neighbour>& out) const {
    const Impl& m = *impl_;
    Row& r = const_cast<Row&>(m.row(item));
    r.lock.lock();
    out.resize(r.top_size);
    const Entry* e = r.entries();
    for (uint32_t s = 0; s < r.top_size; ++s) {
        out[s] = {e[s].item, e[s].co};
    }
    if (item >= m.merged_top.size() || m.merged_top[item].empty()) {
        r.lock.unlock();
        return m.count(item);
    }
    // Both parts: each of our neighbours with its merged count, then each
    // merged pair that is not one of them with our count.
    const std::vector<Neighbour>& merged = m.merged_top[item];
    size_t own = out.size();
    for (size_t s = 0; s < own; ++s) {
        for (const Neighbour& nb : merged) {
            if (nb.item == out[s].item) {
                out[s].co += nb.co;
                break;
            }
        }
    }
    for (const Neighbour& nb : merged) {
        bool ours = false;
        for (size_t s = 0; s < own && !ours; ++s) {
            ours = out[s].item == nb.item;
        }
        if (!ours) {
            out.push_back({nb.item, nb.co + Impl::own_co(r, nb.item)});
        }
    }
    r.lock.unlock();
    // The best K by c(i, j)^2 / c(j), as a row orders its own; ties by index.
    auto score = [&m](const Neighbour& nb) {
        uint64_t cj = m.total(nb.item);
        double c = nb.co;
        return cj == 0 ? 0 : c * c / static_cast<double>(cj);
    };
    size_t keep = std::min(out.size(), std::max(m.k, own));
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                      [&score](const Neighbour& a, const Neighbour& b) {
                          double sa = score(a);
                          double sb = score(b);
                          return sa != sb ? sa > sb : a.item < b.item;
                      });
    out.resize(keep);
    return m.total(item);
}

void Merge<SimilarityModel>::merge(SimilarityModel& own,
                                   std::span<const SimilarityModel* const> peers) {
    SimilarityModel::Impl& m = *own.impl_;
    m.merged_counts.clear();
    m.merged_top.clear();
    // Each peer's items as ours, adding those we have not met.
    std::vector<std::vector<uint32_t>> to_own(peers.size());
    for (size_t p = 0; p < peers.size(); ++p) {
        const ItemIndex& theirs = peers[p]->impl_->items;
        to_own[p].resize(theirs.size());
        for (uint32_t i = 0; i < theirs.size(); ++i) {
            bool created = false;
            to_own[p][i] =
                m.items.intern(theirs.id(i), created, [&own](uint32_t k) { own.add_item(k); });
        }
    }
    const uint32_t n = m.items.size();
    m.merged_counts.assign(n, 0);
    std::vector<std::vector<uint32_t>> from_own(peers.size(), std::vector<uint32_t>(n, kEmpty));
    for (size_t p = 0; p < peers.size(); ++p) {
        for (uint32_t i = 0; i < to_own[p].size(); ++i) {
            uint32_t mine = to_own[p][i];
            if (mine != ItemIndex::kNone) {
                m.merged_counts[mine] += peers[p]->impl_->count(i);
                from_own[p][mine] = i;
            }
        }
    }
    m.merged_top.assign(n, {});
    std::unordered_map<uint32_t, uint64_t> sums;
    std::vector<std::pair<double, Neighbour>> ranked;
    for (uint32_t i = 0; i < n; ++i) {
        sums.clear();
        for (size_t p = 0; p < peers.size(); ++p) {
            uint32_t theirs = from_own[p][i];
            if (theirs == kEmpty) {
                continue;
            }
            const Row& row = peers[p]->impl_->row(theirs);
            const Slot* slots = row.table();
            for (uint32_t at = 0, cap = row.capacity(); at < cap; ++at) {
                if (slots[at].key == kEmpty || slots[at].key >= to_own[p].size()) {
                    continue;
                }
                uint32_t j = to_own[p][slots[at].key];
                if (j != ItemIndex::kNone) {
                    sums[j] += row.co(slots[at]);
                }
            }
        }
        if (sums.empty()) {
            continue;
        }
        // The K best pairs over both parts, keeping their merged counts.
        ranked.clear();
        const Row& mine = m.row(i);
        for (const auto& [j, co] : sums) {
            double both = static_cast<double>(co + SimilarityModel::Impl::own_co(mine, j));
            uint64_t cj = m.total(j);
            double score = cj == 0 ? 0 : both * both / static_cast<double>(cj);
            ranked.push_back(
                {score, {j, static_cast<uint32_t>(std::min<uint64_t>(co, kCountMask))}});
        }
        size_t keep = std::min(ranked.size(), m.k);
        std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep),
                          ranked.end(), [](const auto& a, const auto& b) {
                              return a.first != b.first ? a.first > b.first
                                                        : a.second.item < b.second.item;
                          });
        m.merged_top[i].reserve(keep);
        for (size_t s = 0; s < keep; ++s) {
            m.merged_top[i].push_back(ranked[s].second);
        }
    }
}

// Layout: counts, ids, then per item c(i), its counts (index delta, count),
// its neighbours in order with their scores as last judged, and the rebuild
// schedule, so that a restored model continues exactly as the saved one
// would have.
void SimilarityModel::encode(StateWriter& w, uint8_t version) const {
    const Impl& m = *impl_;
    m.prequential.encode(w);
    m.items.encode(w);
    uint32_t n = m.items.size();
    std::vector<std::pair<uint32_t, uint32_t>> co;
    for (uint32_t i = 0; i < n; ++i) {
        const Row& r = m.row(i);
        w.varint(m.count(i));
        co.clear();
        const Slot* slots = r.table();
        for (uint32_t at = 0, cap = r.capacity(); at < cap; ++at) {
            if (slots[at].key != kEmpty) {
                co.emplace_back(slots[at].key, r.co(slots[at]));
            }
        }
        std::sort(co.begin(), co.end());
        w.varint(co.size());
        uint32_t last = 0;
        for (const auto& [j, c] : co) {
            w.varint(j - last);
            w.varint(c);
            last = j;
        }
        w.varint(r.top_size);
        for (uint32_t s = 0; s < r.top_size; ++s) {
            w.varint(r.entries()[s].item);
            w.varint(r.entries()[s].co);
            w.f64(r.entries()[s].judged);
        }
        w.varint(r.updates);
        w.varint(r.rebuild_at);
    }
    if (version < 2) {
        return;
    }
    // Since version 2, the merged part: per item its c(i) and pairs.
    w.varint(m.merged_counts.size());
    for (uint32_t i = 0; i < m.merged_counts.size(); ++i) {
        w.varint(m.merged_counts[i]);
        const std::vector<Neighbour>& top = m.merged_top[i];
        w.varint(top.size());
        for (const Neighbour& nb : top) {
            w.varint(nb.item);
            w.varint(nb.co);
        }
    }
}

void SimilarityModel::to_json(JsonWriter& j) const {
    const Impl& m = *impl_;
    constexpr uint32_t kShown = 1000;
    uint32_t n = m.items.size();
    j.begin_object();
    counts_to_json(m.prequential, j);
    j.field("items", n).field("pairs", pairs()).field("truncated", n > kShown);
    j.key("rows").begin_array();
    for (uint32_t i = 0; i < std::min(n, kShown); ++i) {
        const Row& r = m.row(i);
        j.begin_object().key("item");
        item_id_to_json(m.items.id(i), j);
        j.field("count", m.count(i)).key("neighbours").begin_array();
        for (uint32_t s = 0; s < r.top_size; ++s) {
            j.begin_object().key("item");
            item_id_to_json(m.items.id(r.entries()[s].item), j);
            j.field("co", r.entries()[s].co).end_object();
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

bool SimilarityModel::decode(StateReader& r, uint8_t version) {
    size_t k = impl_->k;
    impl_ = std::make_unique<Impl>();
    Impl& m = *impl_;
    m.k = k;
    m.prequential.decode(r);
    uint64_t n = 0;
    if (!r.varint(n) || n > ChunkedArray<Row>::kCapacity) {
        return false;
    }
    std::string id;
    for (uint64_t i = 0; i < n; ++i) {
        if (!r.str(id) || m.items.find(id) != ItemIndex::kNone) {
            return false;
        }
        m.counts.ensure(static_cast<uint32_t>(i));
        m.rows.ensure(static_cast<uint32_t>(i));
        m.items.add_restored(id);
    }
    uint64_t pairs = 0;
    for (uint64_t i = 0; i < n; ++i) {
        Row& row = m.row(static_cast<uint32_t>(i));
        uint64_t size = 0;
        r.varint(m.counts[static_cast<uint32_t>(i)]);
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
            uint32_t at = row.insert(static_cast<uint32_t>(j));
            if (row.table()[at].value != 0) {
                return false;  // listed twice
            }
            row.table()[at].value = static_cast<uint32_t>(c);
        }
        pairs += size;
        if (!r.varint(size) || size > row.size) {
            return false;  // neighbours are co-occurring items
        }
        row.reserve(static_cast<uint32_t>(size));
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
            uint32_t at = row.find(static_cast<uint32_t>(item));
            if (at == kEmpty || row.table()[at].value != c) {
                // A neighbour is a co-occurring item, listed once, with its count.
                return false;
            }
            row.place(row.top_size++, at, static_cast<uint32_t>(c), judged);
        }
        row.find_min();
        r.varint(row.updates);
        r.varint(row.rebuild_at);
    }
    m.pairs.store(pairs, std::memory_order_relaxed);
    if (version < 2) {
        return r.ok();
    }
    uint64_t merged = 0;
    if (!r.varint(merged) || (merged != 0 && merged != n)) {
        return false;
    }
    m.merged_counts.assign(merged, 0);
    m.merged_top.assign(merged, {});
    for (uint64_t i = 0; i < merged; ++i) {
        uint64_t size = 0;
        r.varint(m.merged_counts[i]);
        if (!r.varint(size) || size > n) {
            return false;
        }
        for (uint64_t s = 0; s < size; ++s) {
            uint64_t item = 0;
            uint64_t c = 0;
            r.varint(item);
            r.varint(c);
            if (!r.ok() || item >= n || c > kCountMask) {
                return false;
            }
            m.merged_top[i].push_back({static_cast<uint32_t>(item), static_cast<uint32_t>(c)});
        }
    }
    return r.ok();
}

}  // namespace eddy
