// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <tbb/concurrent_hash_map.h>

#include "eddy/codec.h"
#include "eddy/value.h"

namespace eddy {

/// A busy-waiting lock for a short critical section (a model row changing as
/// a unit). Uncontended it costs one atomic exchange.
class SpinLock {
public:
    void lock() {
        while (busy_.exchange(true, std::memory_order_acquire)) {
            while (busy_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            }
        }
    }
    void unlock() {
        busy_.store(false, std::memory_order_release);
    }

private:
    std::atomic<bool> busy_{false};
};

/// An append-only array of up to kCapacity elements in chunks of kChunk that
/// never move, so that shards may read element i while another shard adds
/// element j. ensure(i) makes element i exist (allocating its chunk, once,
/// with a compare-and-swap); elements start value-initialized or as `fill`.
template <class T>
class ChunkedArray {
public:
    static constexpr uint32_t kChunkBits = 12;
    static constexpr uint32_t kChunk = 1u << kChunkBits;
    static constexpr uint32_t kMaxChunks = 1u << 14;
    static constexpr uint32_t kCapacity = kChunk * kMaxChunks;  ///< 67,108,864

    ChunkedArray() : chunks_(std::make_unique<std::atomic<T*>[]>(kMaxChunks)) {}
    /// Elements start as `fill` (for copyable T).
    explicit ChunkedArray(T fill) : ChunkedArray() {
        fill_ = fill;
        filled_ = true;
    }
    ~ChunkedArray() {
        for (uint32_t c = 0; c < kMaxChunks; ++c) {
            delete[] chunks_[c].load(std::memory_order_relaxed);
        }
    }
    ChunkedArray(const ChunkedArray&) = delete;
    ChunkedArray& operator=(const ChunkedArray&) = delete;

    /// Element i; ensure(i) must have been called (by any thread) before.
    T& operator[](uint32_t i) {
        return chunks_[i >> kChunkBits].load(std::memory_order_acquire)[i & (kChunk - 1)];
    }
    const T& operator[](uint32_t i) const {
        return chunks_[i >> kChunkBits].load(std::memory_order_acquire)[i & (kChunk - 1)];
    }
    /// Whether element i exists.
    bool has(uint32_t i) const {
        return i < kCapacity && chunks_[i >> kChunkBits].load(std::memory_order_acquire) != nullptr;
    }
    /// Makes element i exist; i < kCapacity.
    void ensure(uint32_t i) {
        std::atomic<T*>& slot = chunks_[i >> kChunkBits];
        if (slot.load(std::memory_order_acquire) != nullptr) {
            return;
        }
        T* fresh = new T[kChunk]();
        if constexpr (std::is_copy_assignable_v<T>) {
            if (filled_) {
                std::fill(fresh, fresh + kChunk, fill_);
            }
        }
        T* expected = nullptr;
        if (!slot.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
            delete[] fresh;  // another shard allocated it first
        }
    }

private:
    std::unique_ptr<std::atomic<T*>[]> chunks_;
    T fill_{};
    bool filled_ = false;
};

/// An item id as the index stores it: a type byte ('s' string, 'i' int64)
/// and the bytes. Fills `out` (reused) and returns false for other types.
bool encode_item_id(const Value& item, std::string& out);
/// The Value of an encoded id; strings view `id`.
Value decode_item_id(std::string_view id);

/// Maps item ids (strings or ints) to dense indexes 0, 1, 2, ... in order of
/// first appearance, for every shard of an operator at once: a
/// tbb::concurrent_hash_map from id to index, and the ids by index in a
/// ChunkedArray. An index is handed out exactly once per id; `ready(i)`
/// turns true once the caller's per-item initialization (see intern()) is
/// done, so readers that scan 0..size() skip items still being added.
/// Thread-safe except clear(), encode() and decode(), which the runtime calls
/// while no shard runs.
class ItemIndex {
public:
    static constexpr uint32_t kNone = UINT32_MAX;

    /// The index of `id` (encoded), or kNone when it was never added.
    uint32_t find(std::string_view id) const;
    /// The index of `id`, adding it when new: then `init(index)` runs before
    /// any other shard can see the index (it prepares the caller's rows), and
    /// `created` is set. Returns kNone when the index is full (kCapacity items).
    template <class Init>
    uint32_t intern(std::string_view id, bool& created, Init&& init) {
        created = false;
        Map::const_accessor found;
        if (map_.find(found, id)) {
            return found->second;
        }
        found.release();
        Map::accessor acc;
        if (!map_.insert(acc, id)) {
            return acc->second;  // another shard added it meanwhile
        }
        uint32_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= ChunkedArray<Entry>::kCapacity) {
            map_.erase(acc);
            next_.fetch_sub(1, std::memory_order_relaxed);
            return kNone;
        }
        entries_.ensure(i);
        entries_[i].id.assign(id);
        init(i);
        entries_[i].ready.store(true, std::memory_order_release);
        acc->second = i;
        created = true;
        return i;
    }
    /// How many indexes were handed out (some may not be ready yet).
    uint32_t size() const { return next_.load(std::memory_order_acquire); }
    /// Whether item i exists and is initialized.
    bool ready(uint32_t i) const {
        return entries_.has(i) && entries_[i].ready.load(std::memory_order_acquire);
    }
    /// The encoded id of a ready item; valid for the life of the index.
    std::string_view id(uint32_t i) const { return entries_[i].id; }

    /// Ids in index order. Restoring calls add_restored() in the same order.
    void encode(StateWriter& w) const;
    /// Appends an id as index size(); for decoding only (no shard runs).
    void add_restored(std::string_view id);

private:
    struct Entry {
        std::string id;
        std::atomic<bool> ready{false};
    };
    struct HashCompare {
        using is_transparent = void;
        static size_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
        static bool equal(std::string_view a, std::string_view b) { return a == b; }
    };
    using Map = tbb::concurrent_hash_map<std::string, uint32_t, HashCompare>;

    mutable Map map_;
    ChunkedArray<Entry> entries_;
    std::atomic<uint32_t> next_{0};
};

}  // namespace eddy
