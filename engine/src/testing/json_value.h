// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::topology_tests {

/// A JSON value as a tree: what a test compares against (a record a tap
/// encoded, a state value its codec rendered). Objects keep their order.
struct JsonValue {
    enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
    Kind kind = Kind::kNull;
    bool b = false;
    int64_t i = 0;
    double d = 0;
    std::string s;
    std::vector<JsonValue> items;
    std::vector<std::pair<std::string, JsonValue>> members;

    bool is_number() const { return kind == Kind::kInt || kind == Kind::kDouble; }
    double number() const { return kind == Kind::kInt ? static_cast<double>(i) : d; }
    /// An object's member, or nullptr.
    const JsonValue* find(std::string_view key) const;
    /// A member by dotted path (`session.clicks`): an exact member name
    /// first, then the path split at its first dot. Nullptr when absent.
    const JsonValue* find_path(std::string_view path) const;
    /// Compact JSON text.
    std::string to_string() const;
};

/// Parses one JSON text; nullopt when it is not valid JSON.
std::optional<JsonValue> parse_json(std::string_view text);

}  // namespace eddy::topology_tests
