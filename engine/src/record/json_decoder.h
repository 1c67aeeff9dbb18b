// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "eddy/record.h"
#include "eddy/status.h"

#include "record/field_cache.h"

namespace eddy {

/// Decodes one JSON object per call into a record. Mapping: string, bool and
/// null as such; integers as int (above INT64_MAX: double); other numbers as
/// double; arrays of only numbers as float vectors, other arrays as their
/// minified JSON text; nested objects flattened into dotted names
/// (`{"geo":{"country":"DE"}}` sets `geo.country`). Reuses one simdjson parser
/// and one padded buffer, so the steady state allocates only in the record's
/// arena. Not thread-safe: one decoder per thread.
class JsonDecoder {
public:
    explicit JsonDecoder(FieldResolver resolve);
    JsonDecoder(const JsonDecoder&) = delete;
    JsonDecoder& operator=(const JsonDecoder&) = delete;

    /// Adds the fields of the object in `line` to `out`. Errors (parse_error):
    /// malformed JSON, a top level that is not an object, invalid UTF-8 (with
    /// the byte offset). On error `out` may hold some fields; discard it.
    Status decode(std::string_view line, Record& out);

    /// The id of `name` through this decoder's cache.
    FieldId field(std::string_view name) { return fields_.get(name); }

private:
    void add_object(simdjson::dom::object object, size_t prefix_len, Record& out);
    void add_value(std::string_view name, simdjson::dom::element value, Record& out);
    void write_json(simdjson::dom::element value, std::string& out);
    FieldId field_at(size_t position, std::string_view name);

    FieldCache fields_;
    // The names of the previous record by position: lines of one stream
    // usually repeat their keys in the same order, so a compare replaces a hash.
    std::vector<std::pair<std::string, FieldId>> by_position_;
    size_t position_ = 0;  // of the next field in the current record
    simdjson::dom::parser parser_;
    std::unique_ptr<char[]> padded_;
    size_t padded_capacity_ = 0;
    std::string path_;     // dotted name of the object being flattened
    std::string scratch_;  // minified text of a mixed array
    std::vector<float> floats_;
};

}  // namespace eddy
