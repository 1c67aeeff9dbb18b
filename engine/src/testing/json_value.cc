// SPDX-License-Identifier: Apache-2.0
#include "testing/json_value.h"

#include <simdjson.h>

#include "eddy/json_writer.h"

namespace eddy::topology_tests {
namespace {

JsonValue convert(simdjson::dom::element e) {
    JsonValue v;
    switch (e.type()) {
        case simdjson::dom::element_type::ARRAY: {
            v.kind = JsonValue::Kind::kArray;
            simdjson::dom::array array;
            if (e.get_array().get(array) == simdjson::SUCCESS) {
                for (simdjson::dom::element item : array) {
                    v.items.push_back(convert(item));
                }
            }
            break;
        }
        case simdjson::dom::element_type::OBJECT: {
            v.kind = JsonValue::Kind::kObject;
            simdjson::dom::object object;
            if (e.get_object().get(object) == simdjson::SUCCESS) {
                for (simdjson::dom::key_value_pair kv : object) {
                    v.members.emplace_back(std::string(kv.key), convert(kv.value));
                }
            }
            break;
        }
        case simdjson::dom::element_type::INT64:
            v.kind = JsonValue::Kind::kInt;
            v.i = e.get_int64().value_unsafe();
            break;
        case simdjson::dom::element_type::UINT64:
            v.kind = JsonValue::Kind::kDouble;
            v.d = static_cast<double>(e.get_uint64().value_unsafe());
            break;
        case simdjson::dom::element_type::DOUBLE:
            v.kind = JsonValue::Kind::kDouble;
            v.d = e.get_double().value_unsafe();
            break;
        case simdjson::dom::element_type::STRING:
            v.kind = JsonValue::Kind::kString;
            v.s = std::string(e.get_string().value_unsafe());
            break;
        case simdjson::dom::element_type::BOOL:
            v.kind = JsonValue::Kind::kBool;
            v.b = e.get_bool().value_unsafe();
            break;
        case simdjson::dom::element_type::NULL_VALUE:
            break;
    }
    return v;
}

void write(const JsonValue& v, JsonWriter& j) {
    switch (v.kind) {
        case JsonValue::Kind::kNull:
            j.value(nullptr);
            break;
        case JsonValue::Kind::kBool:
            j.value(v.b);
            break;
        case JsonValue::Kind::kInt:
            j.value(v.i);
            break;
        case JsonValue::Kind::kDouble:
            j.value(v.d);
            break;
        case JsonValue::Kind::kString:
            j.value(v.s);
            break;
        case JsonValue::Kind::kArray:
            j.begin_array();
            for (const JsonValue& item : v.items) {
                write(item, j);
            }
            j.end_array();
            break;
        case JsonValue::Kind::kObject:
            j.begin_object();
            for (const auto& [key, member] : v.members) {
                j.key(key);
                write(member, j);
            }
            j.end_object();
            break;
    }
}

}  // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
    for (const auto& [name, member] : members) {
        if (name == key) {
            return &member;
        }
    }
    return nullptr;
}

const JsonValue* JsonValue::find_path(std::string_view path) const {
    if (kind != Kind::kObject) {
        return nullptr;
    }
    if (const JsonValue* exact = find(path)) {
        return exact;
    }
    for (size_t dot = path.find('.'); dot != std::string_view::npos;
         dot = path.find('.', dot + 1)) {
        if (const JsonValue* head = find(path.substr(0, dot))) {
            if (const JsonValue* rest = head->find_path(path.substr(dot + 1))) {
                return rest;
            }
        }
    }
    return nullptr;
}

std::string JsonValue::to_string() const {
    JsonWriter j;
    write(*this, j);
    return j.str();
}

std::optional<JsonValue> parse_json(std::string_view text) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    simdjson::dom::element root;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    return convert(root);
}

}  // namespace eddy::topology_tests
