// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "eddy/codec.h"
#include "eddy/value.h"

namespace eddy {

/// Where a keyed state's entries live beyond its bounded in-memory cache:
/// the last checkpoint, plus entries evicted since then ("spilled"). The
/// runtime binds one to every KeyedValue of a job with a state dir; without
/// one, state lives in memory only. Values are stored bytes (see
/// KeyedValue::snapshot). Called by one thread at a time, like the handle.
class StateBacking {
public:
    enum class Found { kNo, kCommitted, kSpilled };
    virtual ~StateBacking() = default;
    /// Reads a key's stored bytes without changing anything.
    virtual Found read(std::string_view key, std::string& stored) = 0;
    /// Forgets a spilled entry (it moved back into the cache, or was erased).
    virtual void unspill(std::string_view key) = 0;
    /// Keeps an evicted, changed entry until the next checkpoint commits it.
    virtual void spill(std::string_view key, std::string_view stored) = 0;
    /// A stored value that the codec cannot read: the state is corrupt.
    virtual void corrupt(std::string_view key) = 0;
};

/// A state type whose codec tells how much memory a value holds outside its
/// own object (vectors, strings, maps), for the bounded state cache:
///     static size_t heap_bytes(const T&);
/// Without it the cache guesses from the encoded size, which undercounts
/// containers of small objects.
template <class T>
concept HeapMeasured = requires(const T& value) {
    { Codec<T>::heap_bytes(value) } -> std::convertible_to<size_t>;
};

/// How an operator-wide model (Shared<T>) learnt by several processes
/// meets the others' (scale-out, docs/scale-out.md): specialize it with
///     static void merge(T& own, std::span<const T* const> peers);
/// which folds the latest models the other processes published into this
/// process's own, while no shard runs. The rule should be one that every
/// process applying it to the same models agrees on (a weighted average,
/// say), so that the processes converge on one model. Without a
/// specialization each process keeps its own model.
template <class T>
struct Merge;

template <class T>
concept Mergeable = requires(T& own, std::span<const T* const> peers) {
    Merge<T>::merge(own, peers);
};

/// Whether a merge rule keeps the models of processes that stopped
/// publishing: `static constexpr bool kKeepDeparted = true;` in Merge<T> for
/// sums (their events happened; dropping them would lose counts). Averages
/// drop them after a while (the others have merged what they knew).
template <class T>
constexpr bool merge_keeps_departed() {
    if constexpr (requires { Merge<T>::kKeepDeparted; }) {
        return Merge<T>::kKeepDeparted;
    } else {
        return false;
    }
}

/// The base of every state handle. An operator declares its handles as
/// members and registers them in open() with OpenContext::register_state();
/// the runtime then snapshots, restores and measures them through this
/// interface (checkpoints, savepoints, rescaling, `GET /v1/state`).
class StateHandle {
public:
    explicit StateHandle(std::string name) : name_(std::move(name)) {}
    virtual ~StateHandle() = default;
    StateHandle(const StateHandle&) = delete;
    StateHandle& operator=(const StateHandle&) = delete;

    /// The state's name, unique within its operator.
    const std::string& name() const { return name_; }
    /// Number of entries (keys) held by this shard.
    virtual size_t size() const = 0;
    /// Calls `sink` with every entry as (encoded key, encoded value).
    virtual void snapshot(
        const std::function<void(std::string_view, std::string_view)>& sink) const = 0;
    /// Adds one entry produced by snapshot(); false when the value does not decode.
    virtual bool restore(std::string_view key, std::string_view value) = 0;
    /// The encoded value of one key (for queryable state); false when absent.
    virtual bool lookup(std::string_view key, std::string& value) const = 0;
    virtual void clear() = 0;
    /// Calls erase(key) for every entry removed and then put(key, value) for
    /// every entry possibly changed since the last call, and forgets both
    /// (checkpoint deltas). Entries handed out by reference count as changed.
    virtual void flush_changes(
        const std::function<void(std::string_view)>& erase,
        const std::function<void(std::string_view, std::string_view)>& put) = 0;
    /// The version byte of the value encoding (Codec<T>::kVersion).
    virtual uint8_t format_version() const = 0;
    /// Whether values are per key (KeyedValue) rather than one per instance (Global).
    virtual bool keyed() const = 0;
    /// Event-time TTL (`state_ttl:` on the operator), set by the runtime before
    /// open() returns: keys untouched for more than `ttl_ms` of event time, as
    /// `*now` tells it, count as absent and are dropped. 0 = never.
    virtual void set_ttl(int64_t ttl_ms, const int64_t* now) {
        (void)ttl_ms;
        (void)now;
    }
    /// Drops every cached key whose TTL has passed; returns how many (runtime, at checkpoints).
    virtual size_t expire() { return 0; }
    /// Keyed state: from now on, keys not in memory are read from `backing`,
    /// and evict() moves entries there. Set by the runtime before open() returns.
    virtual void bind(StateBacking* backing) { (void)backing; }
    /// An estimate of the memory held by the in-memory entries, in bytes.
    virtual size_t memory_bytes() const { return 0; }
    /// Drops least recently used entries from memory (changed ones go to the
    /// backing) until memory_bytes() <= target. Only between calls into the
    /// operator, so references handed out stay valid for one call.
    virtual void evict(size_t target) { (void)target; }
    /// Whether every shard of the operator uses one value (Shared): the
    /// runtime then snapshots and restores it once, through shard 0.
    virtual bool shared() const { return false; }
    /// Shared state: from now on, use the value of `first`, the same state
    /// of shard 0 (runtime, in register_state()). False when `first` is not
    /// a handle of the same type.
    virtual bool share(StateHandle& first) {
        (void)first;
        return false;
    }
    /// Shared state whose type is Mergeable: other processes' models can be
    /// folded into it with merge().
    virtual bool mergeable() const { return false; }
    /// Whether merge() wants the last model of processes that stopped
    /// publishing too (merge_keeps_departed()).
    virtual bool merge_keeps_departed() const { return false; }
    /// Decodes each of `peers` (values as lookup() encodes them) and merges
    /// them into this state (Merge<T>); false, merging nothing, when one does
    /// not decode. Only while no shard runs.
    virtual bool merge(std::span<const std::string_view> peers) {
        (void)peers;
        return false;
    }

private:
    std::string name_;
};

/// Appends the state-key encoding of `key` (a type byte, then its bytes) to
/// `out`. Strings and ints never collide: "42" and 42 are different keys.
void encode_state_key(const Value& key, std::string& out);

/// A value of type T per key, for one operator instance (one shard's keys).
/// Entries live in a hash map that serves as a write-back cache: with a state
/// dir, a key not in memory is read from the last checkpoint (or the spill
/// area) on first use, and the runtime evicts the least recently used entries
/// when the cache exceeds its share of `state.cache`, so state can be larger
/// than memory. Lookups of cached keys allocate nothing. References returned
/// stay valid until the key is erased, the state cleared, or the operator's
/// current call returns (eviction happens only between calls).
/// Not thread-safe: an operator instance is called by one thread at a time.
template <Encodable T>
class KeyedValue final : public StateHandle {
public:
    explicit KeyedValue(std::string name) : StateHandle(std::move(name)) {}

    /// The key's value, or nullptr when it has none (or its TTL passed). The
    /// value counts as changed and touched.
    T* find(const Value& key) {
        Slot* slot = locate(encode(key));
        if (slot == nullptr) {
            return nullptr;
        }
        touch(*slot);
        return &slot->value;
    }
    /// The key's value, default-constructed on first use (or when its TTL
    /// passed). The value counts as changed and touched.
    T& get_or_create(const Value& key) {
        std::string_view k = encode(key);
        Slot* slot = locate(k);
        if (slot == nullptr) {
            slot = &insert(k, Slot{});
            if (!erased_.empty()) {
                if (auto e = erased_.find(k); e != erased_.end()) {
                    erased_.erase(e);  // the checkpoint overwrites the old value instead
                }
            }
        }
        touch(*slot);
        return slot->value;
    }
    /// Removes the key's value; returns whether it had one.
    bool erase(const Value& key) {
        std::string_view k = encode(key);
        if (locate(k) == nullptr) {
            return false;
        }
        auto it = map_.find(k);
        bytes_ -= it->second.charge;
        erased_.insert(it->first);
        map_.erase(it);
        return true;
    }
    /// Calls f(encoded_key, value) for every key in memory; f must not add or
    /// erase keys. With a state dir, keys evicted from memory are not visited.
    template <class F>
    void for_each(F&& f) {
        for (auto& [k, slot] : map_) {
            slot.dirty = true;
            f(std::string_view(k), slot.value);
        }
    }

    /// Number of keys in memory.
    size_t size() const override { return map_.size(); }
    /// Stored values are the 8-byte little-endian event time of the last
    /// access (for state_ttl) followed by the codec's encoding.
    void snapshot(
        const std::function<void(std::string_view, std::string_view)>& sink) const override {
        for (const auto& [k, slot] : map_) {
            sink(k, stored(slot));
        }
    }
    bool restore(std::string_view key, std::string_view value) override {
        Slot slot;
        if (!unstore(value, slot)) {
            return false;
        }
        if (auto it = map_.find(key); it != map_.end()) {
            bytes_ -= it->second.charge;
            map_.erase(it);
        }
        insert(key, std::move(slot));
        return true;
    }
    bool lookup(std::string_view key, std::string& value) const override {
        if (auto it = map_.find(key); it != map_.end()) {
            value = encode_state(it->second.value);
            return true;
        }
        if (backing_ == nullptr || erased_.contains(key) ||
            backing_->read(key, value) == StateBacking::Found::kNo ||
            value.size() < sizeof(int64_t)) {
            return false;
        }
        value.erase(0, sizeof(int64_t));
        return true;
    }
    void clear() override {
        for (const auto& [k, slot] : map_) {
            erased_.insert(k);
        }
        map_.clear();
        bytes_ = 0;
    }
    void flush_changes(
        const std::function<void(std::string_view)>& erase,
        const std::function<void(std::string_view, std::string_view)>& put) override {
        for (const std::string& k : erased_) {
            erase(k);
        }
        erased_.clear();
        for (auto& [k, slot] : map_) {
            if (slot.dirty) {
                std::string bytes = stored(slot);
                size_t heap = heap_of(slot.value, bytes.size());
                learn(heap);
                recharge(slot, heap);
                put(k, bytes);
                slot.dirty = false;
            }
        }
    }
    uint8_t format_version() const override { return Codec<T>::kVersion; }
    bool keyed() const override { return true; }
    void set_ttl(int64_t ttl_ms, const int64_t* now) override {
        ttl_ = ttl_ms;
        now_ = now;
    }
    size_t expire() override {
        if (ttl_ <= 0) {
            return 0;
        }
        size_t dropped = 0;
        for (auto it = map_.begin(); it != map_.end();) {
            if (it->second.touched + ttl_ < *now_) {
                bytes_ -= it->second.charge;
                erased_.insert(it->first);
                it = map_.erase(it);
                ++dropped;
            } else {
                ++it;
            }
        }
        return dropped;
    }
    void bind(StateBacking* backing) override { backing_ = backing; }
    size_t memory_bytes() const override { return bytes_; }
    // CLOCK: a pass over the map clears the "recently used" bit of the entries
    // that have it and evicts the others; a second pass finds every bit clear.
    void evict(size_t target) override {
        if (backing_ == nullptr) {
            return;  // memory is the only place state can live
        }
        for (int pass = 0; pass < 2 && bytes_ > target; ++pass) {
            for (auto it = map_.begin(); it != map_.end() && bytes_ > target;) {
                Slot& slot = it->second;
                if (slot.recent) {
                    slot.recent = false;
                    ++it;
                    continue;
                }
                if (slot.dirty) {
                    backing_->spill(it->first, stored(slot));
                }
                bytes_ -= slot.charge;
                it = map_.erase(it);
            }
        }
    }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Slot {
        T value{};
        int64_t touched = 0;  // event time of the last access, with a TTL
        uint32_t charge = 0;  // estimated bytes, counted in bytes_
        uint32_t key_bytes = 0;
        bool dirty = false;  // changed since the last checkpoint
        bool recent = true;  // used since the last eviction pass
    };
    // Per entry besides the key's bytes and the value's heap: the slot, the
    // key object, and the hash node, bucket and allocator overhead.
    static constexpr size_t kEntryOverhead = sizeof(Slot) + sizeof(std::string) + 40;

    // The key's cached slot, loading it from the backing on a miss; nullptr
    // when the key has no value (never had one, erased, or its TTL passed).
    Slot* locate(std::string_view k) {
        if (auto it = map_.find(k); it != map_.end()) {
            if (!expired(it->second)) {
                return &it->second;
            }
            bytes_ -= it->second.charge;
            erased_.insert(it->first);
            map_.erase(it);
            return nullptr;
        }
        if (backing_ == nullptr || (!erased_.empty() && erased_.contains(k))) {
            return nullptr;
        }
        StateBacking::Found found = backing_->read(k, load_);
        if (found == StateBacking::Found::kNo) {
            return nullptr;
        }
        if (found == StateBacking::Found::kSpilled) {
            backing_->unspill(k);
        }
        Slot slot;
        if (!unstore(load_, slot)) {
            backing_->corrupt(k);
            return nullptr;
        }
        if (expired(slot)) {
            erased_.emplace(k);
            return nullptr;
        }
        // A spilled entry is newer than the checkpoint: it must be written again.
        slot.dirty = found == StateBacking::Found::kSpilled;
        return &insert(k, std::move(slot));
    }
    Slot& insert(std::string_view k, Slot&& slot) {
        slot.key_bytes = static_cast<uint32_t>(k.size());
        slot.charge = static_cast<uint32_t>(k.size() + kEntryOverhead +
                                            static_cast<size_t>(average_heap_bytes_));
        bytes_ += slot.charge;
        return map_.emplace(std::string(k), std::move(slot)).first->second;
    }
    void recharge(Slot& slot, size_t heap) {
        auto charge = static_cast<uint32_t>(slot.key_bytes + kEntryOverhead + heap);
        bytes_ = bytes_ - slot.charge + charge;
        slot.charge = charge;
    }
    // What a value holds outside its object: measured by its codec when it
    // can, else guessed as its encoded size.
    static size_t heap_of(const T& value, size_t encoded_size) {
        if constexpr (HeapMeasured<T>) {
            return Codec<T>::heap_bytes(value);
        } else {
            return encoded_size;
        }
    }
    void learn(size_t heap) {
        average_heap_bytes_ += (static_cast<double>(heap) - average_heap_bytes_) / 16;
    }
    bool expired(const Slot& slot) const { return ttl_ > 0 && slot.touched + ttl_ < *now_; }
    static bool unstore(std::string_view value, Slot& slot) {
        if (value.size() < sizeof slot.touched) {
            return false;
        }
        std::memcpy(&slot.touched, value.data(), sizeof slot.touched);
        return decode_state(value.substr(sizeof slot.touched), slot.value);
    }
    static std::string stored(const Slot& slot) {
        std::string out(reinterpret_cast<const char*>(&slot.touched), sizeof slot.touched);
        out += encode_state(slot.value);
        return out;
    }
    void touch(Slot& slot) {
        slot.dirty = true;
        slot.recent = true;
        if (ttl_ > 0) {
            slot.touched = *now_;
        }
        // Values grow as they are used: every 64th access measures one (every
        // 1024th when measuring means encoding it).
        constexpr uint64_t kSampleMask = HeapMeasured<T> ? 63 : 1023;
        if ((++accesses_ & kSampleMask) == 0 && backing_ != nullptr) {
            size_t heap = 0;
            if constexpr (HeapMeasured<T>) {
                heap = Codec<T>::heap_bytes(slot.value);
            } else {
                sample_.clear();
                StateWriter w(sample_);
                Codec<T>::encode(slot.value, w);
                heap = sample_.size();
            }
            learn(heap);
            recharge(slot, heap);
        }
    }
    std::string_view encode(const Value& key) {
        scratch_.clear();
        encode_state_key(key, scratch_);
        return scratch_;
    }

    std::unordered_map<std::string, Slot, Hash, std::equal_to<>> map_;
    // Keys erased since the last checkpoint (the checkpoint deletes them).
    std::unordered_set<std::string, Hash, std::equal_to<>> erased_;
    std::string scratch_;
    std::string load_;
    StateBacking* backing_ = nullptr;
    size_t bytes_ = 0;
    // A moving average of heap_of() of values, charged to new entries.
    double average_heap_bytes_ = 64;
    uint64_t accesses_ = 0;
    std::string sample_;
    int64_t ttl_ = 0;
    const int64_t* now_ = nullptr;
};

/// One operator-wide value (a model, global counters) per operator instance.
template <Encodable T>
class Global final : public StateHandle {
public:
    explicit Global(std::string name) : StateHandle(std::move(name)) {}
    T& get() { return value_; }
    const T& get() const { return value_; }

    size_t size() const override { return 1; }
    void snapshot(
        const std::function<void(std::string_view, std::string_view)>& sink) const override {
        sink({}, encode_state(value_));
    }
    bool restore(std::string_view, std::string_view value) override {
        return decode_state(value, value_);
    }
    bool lookup(std::string_view, std::string& value) const override {
        value = encode_state(value_);
        return true;
    }
    void clear() override { value_ = T{}; }
    void flush_changes(
        const std::function<void(std::string_view)>&,
        const std::function<void(std::string_view, std::string_view)>& put) override {
        put({}, encode_state(value_));
    }
    uint8_t format_version() const override { return Codec<T>::kVersion; }
    bool keyed() const override { return false; }

private:
    T value_{};
};

/// One operator-wide value shared by every shard of the operator: a model
/// that all shards learn into (k-means centroids, item factors, item
/// popularity), so that the operator has one model at any parallelism, as it
/// would with one shard. Shards call into it at the same time, so T must be
/// safe for that without locks on the hot path: numbers through relaxed
/// atomics (std::atomic_ref), as in Hogwild! SGD, and concurrent containers
/// (tbb::concurrent_hash_map) for what grows. With parallelism 1 nothing is
/// concurrent and results are deterministic; with more, updates interleave
/// and results depend on timing (docs/state.md). The runtime snapshots and
/// restores the value once, through shard 0, while no shard runs (a
/// checkpoint quiesces the job), so Codec<T> may read it plainly.
template <Encodable T>
class Shared final : public StateHandle {
public:
    explicit Shared(std::string name)
        : StateHandle(std::move(name)), value_(std::make_shared<T>()) {}
    T& get() { return *value_; }
    const T& get() const { return *value_; }

    size_t size() const override { return 1; }
    void snapshot(
        const std::function<void(std::string_view, std::string_view)>& sink) const override {
        sink({}, encode_state(*value_));
    }
    bool restore(std::string_view, std::string_view value) override {
        return decode_state(value, *value_);
    }
    bool lookup(std::string_view, std::string& value) const override {
        value = encode_state(*value_);
        return true;
    }
    void clear() override { *value_ = T{}; }
    void flush_changes(
        const std::function<void(std::string_view)>&,
        const std::function<void(std::string_view, std::string_view)>& put) override {
        put({}, encode_state(*value_));
    }
    uint8_t format_version() const override { return Codec<T>::kVersion; }
    bool keyed() const override { return false; }
    bool shared() const override { return true; }
    bool share(StateHandle& first) override {
        auto* same = dynamic_cast<Shared<T>*>(&first);
        if (same == nullptr) {
            return false;
        }
        value_ = same->value_;
        return true;
    }
    bool mergeable() const override { return Mergeable<T>; }
    bool merge_keeps_departed() const override {
        if constexpr (Mergeable<T>) {
            return ::eddy::merge_keeps_departed<T>();
        } else {
            return false;
        }
    }
    bool merge(std::span<const std::string_view> peers) override {
        if constexpr (Mergeable<T>) {
            std::vector<std::unique_ptr<T>> decoded;
            std::vector<const T*> views;
            for (std::string_view bytes : peers) {
                decoded.push_back(std::make_unique<T>());
                if (!decode_state(bytes, *decoded.back())) {
                    return false;
                }
                views.push_back(decoded.back().get());
            }
            Merge<T>::merge(*value_, views);
            return true;
        } else {
            (void)peers;
            return false;
        }
    }

private:
    std::shared_ptr<T> value_;
};

}  // namespace eddy
