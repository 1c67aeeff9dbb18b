// SPDX-License-Identifier: Apache-2.0
#include "record/json_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>

#include "record/json.h"
#include "record/utf8.h"

namespace eddy {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

const char* json_type_name(element_type type) {
    switch (type) {
        case element_type::ARRAY:
            return "an array";
        case element_type::OBJECT:
            return "an object";
        case element_type::INT64:
        case element_type::UINT64:
        case element_type::DOUBLE:
            return "a number";
        case element_type::STRING:
            return "a string";
        case element_type::BOOL:
            return "a boolean";
        case element_type::NULL_VALUE:
            return "null";
    }
    return "a value";
}

// The value of an element whose type() was checked (get() cannot fail then).
template <class T>
T as(element e) {
    T value{};
    simdjson::error_code code = e.get(value);
    (void)code;
    return value;
}

bool is_number(element_type type) {
    return type == element_type::INT64 || type == element_type::UINT64 ||
           type == element_type::DOUBLE;
}

// A double rounded to float; beyond float's range it becomes an infinity
// (a plain cast would be undefined behaviour there).
float to_float(double d) {
    // FLT_MAX plus half a unit in the last place: the round-to-nearest limit.
    constexpr double kLimit = 3.4028235677973366e38;
    if (std::fabs(d) < kLimit) {
        return static_cast<float>(d);
    }
    return d > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
}

Status json_error(simdjson::error_code code, std::string_view line) {
    if (code == simdjson::UTF8_ERROR) {
        return Status::parse_error("invalid UTF-8 at byte offset " +
                                   std::to_string(find_invalid_utf8(line)));
    }
    if (code == simdjson::NUMBER_ERROR) {
        return Status::parse_error("invalid JSON: a number is malformed or out of range");
    }
    return Status::parse_error(std::string("invalid JSON: ") + simdjson::error_message(code));
}

}  // namespace

JsonDecoder::JsonDecoder(FieldResolver resolve) : fields_(std::move(resolve)) {}

Status JsonDecoder::decode(std::string_view line, Record& out) {
    size_t needed = line.size() + simdjson::SIMDJSON_PADDING;
    if (needed > padded_capacity_) {
        padded_capacity_ = std::max(needed, 2 * padded_capacity_);
        padded_ = std::make_unique<char[]>(padded_capacity_);
    }
    std::memcpy(padded_.get(), line.data(), line.size());
    std::memset(padded_.get() + line.size(), 0, simdjson::SIMDJSON_PADDING);

    element doc;
    simdjson::error_code code = parser_.parse(padded_.get(), line.size(), false).get(doc);
    if (code != simdjson::SUCCESS) {
        return json_error(code, line);
    }
    if (doc.type() != element_type::OBJECT) {
        return Status::parse_error(std::string("a JSON line must be an object, got ") +
                                   json_type_name(doc.type()));
    }
    path_.clear();
    position_ = 0;
    add_object(as<simdjson::dom::object>(doc), 0, out);
    return Status::ok();
}

// path_[0, prefix_len) holds the dotted prefix of `object`'s members, with the
// trailing dot; 0 at the top level, where keys are used without a copy.
void JsonDecoder::add_object(simdjson::dom::object object, size_t prefix_len, Record& out) {
    for (simdjson::dom::key_value_pair member : object) {
        std::string_view name = member.key;
        if (prefix_len > 0) {
            path_.resize(prefix_len);
            path_ += member.key;
            name = path_;
        }
        if (member.value.type() == element_type::OBJECT) {
            if (prefix_len == 0) {
                path_.assign(member.key);
            }
            path_ += '.';
            add_object(as<simdjson::dom::object>(member.value), path_.size(), out);
        } else {
            add_value(name, member.value, out);
        }
    }
}

FieldId JsonDecoder::field_at(size_t position, std::string_view name) {
    if (position < by_position_.size()) {
        std::pair<std::string, FieldId>& hint = by_position_[position];
        if (hint.first == name) {
            return hint.second;
        }
        FieldId id = fields_.get(name);
        hint.first.assign(name);
        hint.second = id;
        return id;
    }
    FieldId id = fields_.get(name);
    by_position_.emplace_back(std::string(name), id);
    return id;
}

void JsonDecoder::add_value(std::string_view name, element value, Record& out) {
    FieldId id = field_at(position_++, name);
    switch (value.type()) {
        case element_type::STRING:
            out.set(id, as<std::string_view>(value));
            break;
        case element_type::INT64:
            out.set(id, as<int64_t>(value));
            break;
        case element_type::UINT64:
            out.set(id, static_cast<double>(as<uint64_t>(value)));
            break;
        case element_type::DOUBLE:
            out.set(id, as<double>(value));
            break;
        case element_type::BOOL:
            out.set(id, as<bool>(value));
            break;
        case element_type::NULL_VALUE:
            out.set_null(id);
            break;
        case element_type::ARRAY: {
            simdjson::dom::array array = as<simdjson::dom::array>(value);
            bool numeric = true;
            for (element item : array) {
                if (!is_number(item.type())) {
                    numeric = false;
                    break;
                }
            }
            if (numeric) {
                floats_.clear();
                for (element item : array) {
                    floats_.push_back(to_float(as<double>(item)));
                }
                out.set(id, std::span<const float>(floats_));
            } else {
                scratch_.clear();
                write_json(value, scratch_);
                out.set(id, std::string_view(scratch_));
            }
            break;
        }
        case element_type::OBJECT:
            break;  // flattened by add_object
    }
}

void JsonDecoder::write_json(element value, std::string& out) {
    switch (value.type()) {
        case element_type::ARRAY: {
            out += '[';
            bool first = true;
            for (element item : as<simdjson::dom::array>(value)) {
                if (!first) {
                    out += ',';
                }
                first = false;
                write_json(item, out);
            }
            out += ']';
            break;
        }
        case element_type::OBJECT: {
            out += '{';
            bool first = true;
            for (simdjson::dom::key_value_pair member : as<simdjson::dom::object>(value)) {
                if (!first) {
                    out += ',';
                }
                first = false;
                append_json_string(member.key, out);
                out += ':';
                write_json(member.value, out);
            }
            out += '}';
            break;
        }
        case element_type::STRING:
            append_json_string(as<std::string_view>(value), out);
            break;
        case element_type::INT64:
            append_json_value(Value::integer(as<int64_t>(value)), out);
            break;
        case element_type::UINT64:
            out += std::to_string(as<uint64_t>(value));
            break;
        case element_type::DOUBLE:
            append_json_double(as<double>(value), out);
            break;
        case element_type::BOOL:
            out += as<bool>(value) ? "true" : "false";
            break;
        case element_type::NULL_VALUE:
            out += "null";
            break;
    }
}

}  // namespace eddy
