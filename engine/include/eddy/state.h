// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
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

    /// The key's value, or nullptr when it has none. The value counts as changed.
    T* find(const Value& key) {
        auto it = map_.find(encode(key));
        if (it == map_.end()) {
            return nullptr;
        }
        it->second.dirty = true;
        return &it->second.value;
    }
    /// The key's value, default-constructed on first use. The value counts as changed.
    T& get_or_create(const Value& key) {
        std::string_view k = encode(key);
        auto it = map_.find(k);
        if (it == map_.end()) {
            it = map_.emplace(std::string(k), Slot{}).first;
        }
        it->second.dirty = true;
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
    void snapshot(
        const std::function<void(std::string_view, std::string_view)>& sink) const override {
        for (const auto& [k, slot] : map_) {
            sink(k, encode_state(slot.value));
        }
    }
    bool restore(std::string_view key, std::string_view value) override {
        Slot slot;
        if (!decode_state(value, slot.value)) {
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
                put(k, encode_state(slot.value));
                slot.dirty = false;
            }
        }
    }
    uint8_t format_version() const override { return Codec<T>::kVersion; }
    bool keyed() const override { return true; }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Slot {
        T value{};
        bool dirty = false;
    };
    std::string_view encode(const Value& key) {
        scratch_.clear();
        encode_state_key(key, scratch_);
        return scratch_;
    }

    std::unordered_map<std::string, Slot, Hash, std::equal_to<>> map_;
    std::vector<std::string> erased_;
    std::string scratch_;
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
