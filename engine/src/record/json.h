// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/record.h"

namespace eddy {

/// Appends `s` as a quoted JSON string: `"` `\` and control characters are
/// escaped, valid UTF-8 passes through, ill-formed bytes become U+FFFD.
void append_json_string(std::string_view s, std::string& out);

/// Appends `d` in shortest round-trip form, with a `.0` when it would otherwise
/// read back as an integer; NaN and infinities become `null`.
void append_json_double(double d, std::string& out);

/// Appends one value as JSON (vectors as arrays of numbers).
void append_json_value(const Value& v, std::string& out);

/// Writes records as JSON objects: fields in record order, strings escaped,
/// doubles in shortest round-trip form, vectors as arrays. Field names are
/// fetched through `name_of` once per id and cached. Not thread-safe.
class JsonEncoder {
public:
    explicit JsonEncoder(std::function<std::string_view(FieldId)> name_of)
        : name_of_(std::move(name_of)) {}

    /// Appends `record` as one JSON object, without a newline, to `out`.
    void append(const Record& record, std::string& out);

private:
    /// `"name":`, escaped, for `id`.
    std::string_view name(FieldId id);

    std::function<std::string_view(FieldId)> name_of_;
    std::vector<std::string> names_;  // quoted keys with colon, by id; empty until first use
};

}  // namespace eddy
