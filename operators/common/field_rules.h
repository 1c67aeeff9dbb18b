// SPDX-License-Identifier: Apache-2.0
// Helpers for operators configured by a `fields` map of per-field rules
// (validate, impute): the text of untyped YAML scalars, and messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/config.h"
#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy {

/// The whole of `s` as a decimal integer (optional `-`, no spaces).
std::optional<int64_t> int_text(std::string_view s);
/// The whole of `s` as a finite decimal number (`3.5`, `-1e3`; no spaces, no `+`).
std::optional<double> number_text(std::string_view s);
/// `true` or `false`.
std::optional<bool> bool_text(std::string_view s);

/// A plain value written in the config (an `enum` item, a missing-value
/// marker), read in every form a record's value may take: it matches a
/// string with the same text, and a number or bool equal to what the text
/// reads as.
struct Literal {
    std::string text;
    std::optional<double> number;
    std::optional<bool> boolean;

    static Literal of(const std::string& text) {
        return {text, number_text(text), bool_text(text)};
    }
    bool matches(const Value& v) const {
        switch (v.type()) {
            case ValueType::kString:
                return v.as_string() == text;
            case ValueType::kInt:
            case ValueType::kDouble:
                return number && v.as_double() == *number;
            case ValueType::kBool:
                return boolean && v.as_bool() == *boolean;
            default:
                return false;
        }
    }
};

/// "`fields.<field>`", or "`fields.<field>.<key>`" when `key` is not empty,
/// followed by where `v` was written (" (topology.yaml:12:5)") when known.
std::string field_place(const std::string& field, const std::string& key, const ConfigValue& v);

/// `problems` joined by "; ", as a spec rule reports them.
std::string join_problems(const std::vector<std::string>& problems);

/// The error that stops an operator whose config has `problems`.
Status config_problems(const Config& cfg, const std::vector<std::string>& problems);

}  // namespace eddy
