// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace eddy {

/// Interned field name. Resolve names once in open() and use ids per record.
using FieldId = uint32_t;
inline constexpr FieldId kInvalidField = UINT32_MAX;

enum class ValueType : uint8_t { kNull, kBool, kInt, kDouble, kString, kVector };

/// "null", "bool", "int", "double", "string" or "vector".
const char* value_type_name(ValueType type);

/// A field value. Strings and vectors are views: they point into the arena of
/// the batch that holds the record, so a Value is cheap to copy and never owns
/// memory. Copy a record with Batch::append_copy() to move it between batches.
class Value {
public:
    Value() = default;
    static Value null() { return {}; }
    static Value boolean(bool b) {
        Value v(ValueType::kBool);
        v.u_.b = b;
        return v;
    }
    static Value integer(int64_t i) {
        Value v(ValueType::kInt);
        v.u_.i = i;
        return v;
    }
    static Value number(double d) {
        Value v(ValueType::kDouble);
        v.u_.d = d;
        return v;
    }
    /// A view of `s`; the caller keeps the characters alive (see Record::set).
    static Value string_view(std::string_view s) {
        Value v(ValueType::kString);
        v.u_.s = s.data();
        v.size_ = static_cast<uint32_t>(s.size());
        return v;
    }
    /// A view of `f`; the caller keeps the floats alive (see Record::set).
    static Value vector_view(std::span<const float> f) {
        Value v(ValueType::kVector);
        v.u_.v = f.data();
        v.size_ = static_cast<uint32_t>(f.size());
        return v;
    }

    ValueType type() const { return type_; }
    bool is_null() const { return type_ == ValueType::kNull; }
    bool is_bool() const { return type_ == ValueType::kBool; }
    bool is_int() const { return type_ == ValueType::kInt; }
    bool is_double() const { return type_ == ValueType::kDouble; }
    bool is_number() const { return is_int() || is_double(); }
    bool is_string() const { return type_ == ValueType::kString; }
    bool is_vector() const { return type_ == ValueType::kVector; }

    /// Accessors require the matching type (checked by the caller).
    bool as_bool() const { return u_.b; }
    int64_t as_int() const { return u_.i; }
    /// The number as a double; ints are converted.
    double as_double() const { return type_ == ValueType::kInt ? static_cast<double>(u_.i) : u_.d; }
    std::string_view as_string() const { return {u_.s, size_}; }
    std::span<const float> as_vector() const { return {u_.v, size_}; }

    /// Deep equality: same type and same contents (ints and doubles never equal).
    bool operator==(const Value& other) const;

private:
    explicit Value(ValueType t) : type_(t) {}

    ValueType type_ = ValueType::kNull;
    uint32_t size_ = 0;
    union {
        bool b;
        int64_t i;
        double d;
        const char* s;
        const float* v;
    } u_{};
};

}  // namespace eddy
