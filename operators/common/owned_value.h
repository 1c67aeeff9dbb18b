// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "eddy/codec.h"
#include "eddy/json_writer.h"
#include "eddy/value.h"

namespace eddy {

/// Writes `v` as one JSON value: null, true or false, a number, a string or
/// an array of numbers.
void value_to_json(const Value& v, JsonWriter& j);

/// A field value that owns its characters or floats, for values kept across
/// records: a configured constant, or a value held in state.
struct OwnedValue {
    ValueType type = ValueType::kNull;
    int64_t i = 0;  ///< kInt, and kBool as 0 or 1
    double d = 0;
    std::string s;
    std::vector<float> v;

    /// Reuses this value's buffers, so steady-state updates allocate nothing.
    void assign(const Value& value);
    /// A view of this value; valid while this value is unchanged.
    Value view() const;

    /// The type byte, then an i64 for a bool (0 or 1) or an int, an f64, a
    /// string or floats. Window panes hold this encoding: it must not change.
    void encode(StateWriter& w) const;
    /// Replaces this value with the decoded one; false on malformed input.
    bool decode(StateReader& r);
    /// The value as JSON, as value_to_json() writes it.
    void to_json(JsonWriter& j) const { value_to_json(view(), j); }
    size_t heap_bytes() const { return heap_bytes_of(s) + heap_bytes_of(v); }
};

}  // namespace eddy
