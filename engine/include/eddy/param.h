// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy {

/// The type of a parameter. Durations are written `30s`, sizes `64MB`.
enum class ParamType { kString, kInt, kDouble, kBool, kDuration, kSize, kEnum, kList, kMap, kAny };

/// "string", "int", "double", "bool", "duration", "size", "enum", "list", "map", "any".
const char* param_type_name(ParamType type);

/// One typed parameter of a component spec, built fluently:
///     Param::duration("gap").required().doc("Inactivity that closes a session.")
/// The spec is the single source of truth for validation, `eddy operators` and docs.
class Param {
public:
    static Param string(std::string name) { return Param(std::move(name), ParamType::kString); }
    static Param integer(std::string name) { return Param(std::move(name), ParamType::kInt); }
    static Param number(std::string name) { return Param(std::move(name), ParamType::kDouble); }
    static Param boolean(std::string name) { return Param(std::move(name), ParamType::kBool); }
    static Param duration(std::string name) { return Param(std::move(name), ParamType::kDuration); }
    static Param size(std::string name) { return Param(std::move(name), ParamType::kSize); }
    /// One of `values` (strings).
    static Param enumeration(std::string name, std::vector<std::string> values) {
        Param p(std::move(name), ParamType::kEnum);
        p.values_ = std::move(values);
        return p;
    }
    /// A list whose items have type `item` (kAny: anything).
    static Param list(std::string name, ParamType item = ParamType::kString) {
        Param p(std::move(name), ParamType::kList);
        p.item_ = item;
        return p;
    }
    /// A map with free-form keys; its values have type `item` (kAny: anything).
    static Param map(std::string name, ParamType item = ParamType::kAny) {
        Param p(std::move(name), ParamType::kMap);
        p.item_ = item;
        return p;
    }
    /// Anything (validated by the component's rules).
    static Param any(std::string name) { return Param(std::move(name), ParamType::kAny); }

    Param& required() {
        required_ = true;
        return *this;
    }
    /// The default as YAML text, e.g. "30m", "10000", "true", "[a, b]".
    Param& default_value(std::string yaml_text) {
        default_ = std::move(yaml_text);
        return *this;
    }
    Param& default_value(const char* yaml_text) { return default_value(std::string(yaml_text)); }
    Param& default_value(int64_t v) { return default_value(std::to_string(v)); }
    Param& default_value(int v) { return default_value(std::to_string(v)); }
    Param& default_value(double v);
    Param& default_value(bool v) { return default_value(std::string(v ? "true" : "false")); }
    /// Inclusive bounds for int, double, duration (ms) and size (bytes) parameters.
    Param& min(double v) {
        min_ = v;
        return *this;
    }
    Param& max(double v) {
        max_ = v;
        return *this;
    }
    /// One or more sentences for docs and `eddy operators NAME`. Required.
    Param& doc(std::string text) {
        doc_ = std::move(text);
        return *this;
    }
    /// An example value as YAML text, shown in docs.
    Param& example(std::string yaml_text) {
        example_ = std::move(yaml_text);
        return *this;
    }

    const std::string& name() const { return name_; }
    ParamType type() const { return type_; }
    ParamType item_type() const { return item_; }
    bool is_required() const { return required_; }
    const std::optional<std::string>& default_text() const { return default_; }
    const std::optional<double>& min_value() const { return min_; }
    const std::optional<double>& max_value() const { return max_; }
    const std::vector<std::string>& values() const { return values_; }
    const std::string& doc_text() const { return doc_; }
    const std::string& example_text() const { return example_; }

    /// "duration", "list of string", "one of: a, b, c", ...
    std::string type_text() const;

private:
    Param(std::string name, ParamType type) : name_(std::move(name)), type_(type) {}

    std::string name_;
    ParamType type_;
    ParamType item_ = ParamType::kAny;
    bool required_ = false;
    std::optional<std::string> default_;
    std::optional<double> min_;
    std::optional<double> max_;
    std::vector<std::string> values_;
    std::string doc_;
    std::string example_;
};

}  // namespace eddy
