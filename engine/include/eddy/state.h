// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

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
    virtual void snapshot(const std::function<void(std::string_view, std::string_view)>& sink) const = 0;
    /// Adds one entry produced by snapshot(); false when the value does not decode.
    virtual bool restore(std::string_view key, std::string_view value) = 0;
    /// The encoded value of one key (for queryable state); false when absent.
    virtual bool lookup(std::string_view key, std::string& value) const = 0;
    virtual void clear() = 0;

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

    /// The key's value, or nullptr when it has none.
    T* find(const Value& key) {
        auto it = map_.find(encode(key));
        return it == map_.end() ? nullptr : &it->second;
    }
    /// The key's value, default-constructed on first use.
    T& get_or_create(const Value& key) {
        std::string_view k = encode(key);
        auto it = map_.find(k);
        if (it != map_.end()) {
            return it->second;
        }
        return map_.emplace(std::string(k), T{}).first->second;
    }
    /// Removes the key's value; returns whether it had one.
    bool erase(const Value& key) {
        auto it = map_.find(encode(key));
        if (it == map_.end()) {
            return false;
        }
        map_.erase(it);
        return true;
    }
    /// Calls f(encoded_key, value) for every key; f must not add or erase keys.
    template <class F>
    void for_each(F&& f) {
        for (auto& [k, v] : map_) {
            f(std::string_view(k), v);
        }
    }

    size_t size() const override { return map_.size(); }
    void snapshot(const std::function<void(std::string_view, std::string_view)>& sink) const override {
        for (const auto& [k, v] : map_) {
            sink(k, encode_state(v));
        }
    }
    bool restore(std::string_view key, std::string_view value) override {
        T v{};
        if (!decode_state(value, v)) {
            return false;
        }
        map_.insert_or_assign(std::string(key), std::move(v));
        return true;
    }
    bool lookup(std::string_view key, std::string& value) const override {
        auto it = map_.find(key);
        if (it == map_.end()) {
            return false;
        }
        value = encode_state(it->second);
        return true;
    }
    void clear() override { map_.clear(); }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::string_view encode(const Value& key) {
        scratch_.clear();
        encode_state_key(key, scratch_);
        return scratch_;
    }

    std::unordered_map<std::string, T, Hash, std::equal_to<>> map_;
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
    void snapshot(const std::function<void(std::string_view, std::string_view)>& sink) const override {
        sink({}, encode_state(value_));
    }
    bool restore(std::string_view, std::string_view value) override { return decode_state(value, value_); }
    bool lookup(std::string_view, std::string& value) const override {
        value = encode_state(value_);
        return true;
    }
    void clear() override { value_ = T{}; }

private:
    T value_{};
};

}  // namespace eddy
