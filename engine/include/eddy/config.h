// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy {

/// Where a value was written: file, 1-based line and column. Line 0 = unknown.
struct Location {
    std::string file;
    int line = 0;
    int column = 0;
    /// "topology.yaml:12:5", or the file alone when the line is unknown.
    std::string to_string() const;
};

/// A configuration value as written in YAML, after validation against a spec:
/// scalars are typed (durations in milliseconds, sizes in bytes, enums as
/// strings), lists and maps keep their order. Owns its data.
class ConfigValue {
public:
    enum class Kind { kNull, kBool, kInt, kDouble, kString, kList, kMap };
    using Entry = std::pair<std::string, ConfigValue>;

    ConfigValue() = default;
    /// A YAML null that was written as `literal` (`null`, `~`; empty when
    /// nothing was written), so that `type: null` can name the null sink.
    static ConfigValue null_literal(std::string literal, Location loc = {});
    static ConfigValue boolean(bool b, Location loc = {});
    static ConfigValue integer(int64_t i, Location loc = {});
    static ConfigValue number(double d, Location loc = {});
    static ConfigValue string(std::string s, Location loc = {});
    static ConfigValue list(std::vector<ConfigValue> items, Location loc = {});
    static ConfigValue map(std::vector<Entry> entries, Location loc = {});

    Kind kind() const { return kind_; }
    bool is_null() const { return kind_ == Kind::kNull; }
    bool is_list() const { return kind_ == Kind::kList; }
    bool is_map() const { return kind_ == Kind::kMap; }
    bool is_scalar() const { return kind_ != Kind::kList && kind_ != Kind::kMap; }

    bool as_bool() const { return b_; }
    int64_t as_int() const { return i_; }
    double as_double() const { return kind_ == Kind::kInt ? static_cast<double>(i_) : d_; }
    /// The text of a string scalar; for untyped scalars and nulls, the text as written.
    const std::string& as_string() const { return s_; }
    const std::vector<ConfigValue>& items() const { return items_; }
    const std::vector<Entry>& entries() const { return entries_; }
    std::vector<Entry>& mutable_entries() { return entries_; }

    /// The value under `key` in a map, or nullptr.
    const ConfigValue* find(std::string_view key) const;

    const Location& location() const { return loc_; }
    void set_location(Location loc) { loc_ = std::move(loc); }

    /// Compact YAML-flow text, for docs and messages: `{a: 1, b: [x, y]}`.
    std::string to_string() const;

private:
    Kind kind_ = Kind::kNull;
    bool b_ = false;
    int64_t i_ = 0;
    double d_ = 0;
    std::string s_;
    std::vector<ConfigValue> items_;
    std::vector<Entry> entries_;
    Location loc_;
};

/// The validated parameters of one component, as its factory sees them.
/// Every parameter of the spec is present (explicitly or by default) unless it
/// is optional without a default; unknown keys were rejected before. Typed
/// getters never fail for a parameter of the matching type in the spec; asking
/// for an undeclared name or the wrong type is a programming error (asserts).
class Config {
public:
    Config() = default;
    Config(std::string component, std::string type, ConfigValue params, Location loc)
        : component_(std::move(component)),
          type_(std::move(type)),
          params_(std::move(params)),
          loc_(std::move(loc)) {}

    /// The component's name in the topology (the map key), e.g. `sessions`.
    const std::string& component() const { return component_; }
    /// The component's `type`, e.g. `sessionizer`.
    const std::string& type() const { return type_; }
    /// Where the component is defined.
    const Location& location() const { return loc_; }

    bool has(std::string_view name) const;
    const std::string& string(std::string_view name) const;
    int64_t integer(std::string_view name) const;
    double number(std::string_view name) const;
    bool boolean(std::string_view name) const;
    std::chrono::milliseconds duration(std::string_view name) const;
    uint64_t size(std::string_view name) const;
    /// A list parameter's items.
    const std::vector<ConfigValue>& list(std::string_view name) const;
    /// A list of strings, copied.
    std::vector<std::string> strings(std::string_view name) const;
    /// Any parameter as its value tree (maps, nested lists).
    const ConfigValue& value(std::string_view name) const;
    /// Where a parameter was written (the component's place for defaults).
    Location location_of(std::string_view name) const;

    /// All parameters, as a map value.
    const ConfigValue& params() const { return params_; }

private:
    const ConfigValue& get(std::string_view name) const;

    std::string component_;
    std::string type_;
    ConfigValue params_;
    Location loc_;
};

}  // namespace eddy
