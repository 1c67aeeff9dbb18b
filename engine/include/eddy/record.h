// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "eddy/arena.h"
#include "eddy/value.h"

namespace eddy {

/// Event time and watermarks are milliseconds since the Unix epoch.
inline constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();
/// The watermark of an input that has ended: every timer and window fires.
inline constexpr int64_t kEndOfTime = std::numeric_limits<int64_t>::max();

struct Field {
    FieldId id;
    Value value;
};

/// One event: an event time, a key and named fields in insertion order.
/// Records live in a Batch; their strings live in the batch's arena. Set
/// string and vector fields through set(), which copies into that arena.
class Record {
public:
    int64_t time() const { return time_; }
    void set_time(int64_t ms) { time_ = ms; }

    /// The key the current operator is keyed by (null for unkeyed operators).
    /// The runtime sets it from the operator's `key:` field before process().
    const Value& key() const { return key_; }
    /// `key` must live in this record's arena (for example, a field's value).
    void set_key(const Value& key) { key_ = key; }

    /// The field's value, or nullptr when the record has no such field.
    /// A linear scan: records have tens of fields, and ids compare as ints.
    const Value* get(FieldId id) const {
        for (const Field& f : fields_) {
            if (f.id == id) {
                return &f.value;
            }
        }
        return nullptr;
    }
    bool has(FieldId id) const { return get(id) != nullptr; }

    /// Sets or replaces a field. Strings and vectors are copied into the arena.
    void set(FieldId id, bool b) { put(id, Value::boolean(b)); }
    void set(FieldId id, int64_t i) { put(id, Value::integer(i)); }
    void set(FieldId id, int i) { put(id, Value::integer(i)); }
    void set(FieldId id, double d) { put(id, Value::number(d)); }
    void set(FieldId id, std::string_view s) { put(id, Value::string_view(arena_->copy(s))); }
    void set(FieldId id, const char* s) { set(id, std::string_view(s)); }
    void set(FieldId id, std::span<const float> v) { put(id, Value::vector_view(arena_->copy(v))); }
    void set_null(FieldId id) { put(id, Value::null()); }
    /// Sets a value whose string or vector already lives in this record's arena.
    void set_value_in_arena(FieldId id, const Value& v) { put(id, v); }
    /// Sets a value, copying its string or vector into this record's arena.
    void set_value(FieldId id, const Value& v);

    /// Removes the field if present; returns whether it was.
    bool erase(FieldId id);

    std::span<const Field> fields() const { return fields_; }
    size_t field_count() const { return fields_.size(); }

    Arena& arena() const { return *arena_; }

    /// Copies time, key and fields of `other` (deep: strings into this arena).
    void assign(const Record& other);

    /// Empties the record, keeping its field capacity.
    void clear() {
        fields_.clear();
        time_ = 0;
        key_ = Value();
    }

    explicit Record(Arena* arena) : arena_(arena) {}

private:
    void put(FieldId id, const Value& v) {
        for (Field& f : fields_) {
            if (f.id == id) {
                f.value = v;
                return;
            }
        }
        fields_.push_back({id, v});
    }

    int64_t time_ = 0;
    Value key_;
    std::vector<Field> fields_;
    Arena* arena_;
};

/// Records travelling together, with the watermark that follows them. A batch
/// reuses its records and arena across clear() so that steady-state processing
/// allocates nothing. Move-only; a batch belongs to one thread at a time.
class Batch {
public:
    static constexpr size_t kDefaultCapacity = 1024;

    Batch() : arena_(std::make_unique<Arena>()) {}
    Batch(Batch&&) = default;
    Batch& operator=(Batch&&) = default;

    /// A new empty record at the end; valid until the next clear().
    Record& append();
    /// A deep copy of `r` at the end.
    Record& append_copy(const Record& r);
    /// Drops the last record (for example, one a decoder could not finish).
    void pop_back() { --size_; }

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    bool full(size_t capacity = kDefaultCapacity) const { return size_ >= capacity; }
    Record& operator[](size_t i) { return *records_[i]; }
    const Record& operator[](size_t i) const { return *records_[i]; }

    /// Iterates records in order.
    template <class F>
    void for_each(F&& f) const {
        for (size_t i = 0; i < size_; ++i) {
            f(static_cast<const Record&>(*records_[i]));
        }
    }

    /// The watermark after these records: no later record of this stream has an
    /// event time at or below it, except late ones. kNoWatermark when unknown.
    int64_t watermark() const { return watermark_; }
    void set_watermark(int64_t wm) { watermark_ = wm; }

    /// Empties the batch (records and arena), keeping capacity; resets the watermark.
    void clear();

    Arena& arena() { return *arena_; }

    /// Deep copy of every record and the watermark into `dst` (cleared first).
    void copy_to(Batch& dst) const;

private:
    // unique_ptr keeps each Record's address, and so its arena pointer, stable.
    std::vector<std::unique_ptr<Record>> records_;
    size_t size_ = 0;
    int64_t watermark_ = kNoWatermark;
    std::unique_ptr<Arena> arena_;
};

}  // namespace eddy
