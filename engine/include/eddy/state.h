// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/codec.h"
#include "eddy/value.h"

namespace eddy {

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
    /// Drops every key whose TTL has passed; returns how many (runtime, at checkpoints).
    virtual size_t expire() { return 0; }

private:
    std::string name_;
};

/// Appends the state-key encoding of `key` (a type byte, then its bytes) to
/// `out`. Strings and ints never collide: "42" and 42 are different keys.
void encode_state_key(const Value& key, std::string& out);

/// A value of type T per key, for one operator instance (one shard's keys).
/// Lookups allocate nothing; inserting a new key allocates its entry.
/// References returned stay valid until the key is erased or the state cleared.
/// Not thread-safe: an operator instance is called by one thread at a time.
template <Encodable T>
class KeyedValue final : public StateHandle {
public:
    explicit KeyedValue(std::string name) : StateHandle(std::move(name)) {}

    /// The key's value, or nullptr when it has none (or its TTL passed). The
    /// value counts as changed and touched.
    T* find(const Value& key) {
        auto it = map_.find(encode(key));
        if (it == map_.end() || expired(it)) {
            return nullptr;
        }
        touch(it->second);
        return &it->second.value;
    }
    /// The key's value, default-constructed on first use (or when its TTL
    /// passed). The value counts as changed and touched.
    T& get_or_create(const Value& key) {
        std::string_view k = encode(key);
        auto it = map_.find(k);
        if (it == map_.end() || expired(it)) {
            it = map_.emplace(std::string(k), Slot{}).first;
        }
        touch(it->second);
        return it->second.value;
    }
    /// Removes the key's value; returns whether it had one.
    bool erase(const Value& key) {
        auto it = map_.find(encode(key));
        if (it == map_.end()) {
            return false;
        }
        erased_.push_back(it->first);
        map_.erase(it);
        return true;
    }
    /// Calls f(encoded_key, value) for every key; f must not add or erase keys.
    template <class F>
    void for_each(F&& f) {
        for (auto& [k, slot] : map_) {
            slot.dirty = true;
            f(std::string_view(k), slot.value);
        }
    }

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
        if (value.size() < sizeof slot.touched) {
            return false;
        }
        std::memcpy(&slot.touched, value.data(), sizeof slot.touched);
        if (!decode_state(value.substr(sizeof slot.touched), slot.value)) {
            return false;
        }
        map_.insert_or_assign(std::string(key), std::move(slot));
        return true;
    }
    bool lookup(std::string_view key, std::string& value) const override {
        auto it = map_.find(key);
        if (it == map_.end()) {
            return false;
        }
        value = encode_state(it->second.value);
        return true;
    }
    void clear() override {
        for (const auto& [k, slot] : map_) {
            erased_.push_back(k);
        }
        map_.clear();
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
                put(k, stored(slot));
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
                erased_.push_back(it->first);
                it = map_.erase(it);
                ++dropped;
            } else {
                ++it;
            }
        }
        return dropped;
    }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Slot {
        T value{};
        bool dirty = false;
        int64_t touched = 0;  // event time of the last access, with a TTL
    };
    using Iterator =
        typename std::unordered_map<std::string, Slot, Hash, std::equal_to<>>::iterator;
    // A key whose TTL passed is dropped here, lazily, and reads as absent.
    bool expired(Iterator& it) {
        if (ttl_ <= 0 || it->second.touched + ttl_ >= *now_) {
            return false;
        }
        erased_.push_back(it->first);
        map_.erase(it);
        return true;
    }
    static std::string stored(const Slot& slot) {
        std::string out(reinterpret_cast<const char*>(&slot.touched), sizeof slot.touched);
        out += encode_state(slot.value);
        return out;
    }
    void touch(Slot& slot) {
        slot.dirty = true;
        if (ttl_ > 0) {
            slot.touched = *now_;
        }
    }
    std::string_view encode(const Value& key) {
        scratch_.clear();
        encode_state_key(key, scratch_);
        return scratch_;
    }

    std::unordered_map<std::string, Slot, Hash, std::equal_to<>> map_;
    std::vector<std::string> erased_;
    std::string scratch_;
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

}  // namespace eddy
