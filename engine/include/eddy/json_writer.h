// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace eddy {

/// Writes compact JSON into a string, inserting commas and colons itself:
///     JsonWriter j;
///     j.begin_object().key("count").value(3).key("tags").begin_array();
///     j.value("a").end_array().end_object();   // {"count":3,"tags":["a"]}
/// Strings are escaped (ill-formed UTF-8 becomes U+FFFD); doubles are written
/// in shortest round-trip form with a `.0` when integral, NaN and infinities
/// as null. The caller nests calls correctly (a key before each value in an
/// object); complete() tells whether it did. For cold paths (inspection,
/// debugging), not per record. Not thread-safe.
class JsonWriter {
public:
    /// Writes into its own string, read with str().
    JsonWriter() : out_(own_) {}
    /// Appends to `out`, which must outlive the writer.
    explicit JsonWriter(std::string& out) : out_(out) {}
    JsonWriter(const JsonWriter&) = delete;
    JsonWriter& operator=(const JsonWriter&) = delete;

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    /// The key of the next value in the current object.
    JsonWriter& key(std::string_view name);

    JsonWriter& value(std::nullptr_t);
    JsonWriter& value(bool b);
    JsonWriter& value(double d);
    JsonWriter& value(std::string_view s);
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
    /// Any integer type (not bool), written exactly.
    template <std::integral I>
    requires(!std::same_as<I, bool>) JsonWriter& value(I i) {
        if constexpr (std::is_signed_v<I>) {
            return signed_value(static_cast<int64_t>(i));
        } else {
            return unsigned_value(static_cast<uint64_t>(i));
        }
    }
    /// A value that is already JSON, copied as it is (not checked).
    JsonWriter& raw(std::string_view json);

    /// Shorthand for key(name).value(v).
    template <class T>
    JsonWriter& field(std::string_view name, const T& v) {
        key(name);
        return value(v);
    }

    /// What was written (when writing into the writer's own string).
    const std::string& str() const { return out_; }
    /// Whether one whole value was written and every container closed.
    bool complete() const { return depth_.empty() && !after_key_ && wrote_; }

private:
    JsonWriter& signed_value(int64_t i);
    JsonWriter& unsigned_value(uint64_t u);
    void separate();
    JsonWriter& close(char c);

    std::string own_;
    std::string& out_;
    std::vector<bool> depth_;  // per open container: whether it has an element yet
    bool after_key_ = false;
    bool wrote_ = false;
};

}  // namespace eddy
