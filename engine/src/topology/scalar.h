// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

/// How the topology format reads a YAML scalar (kept as text by the loader)
/// as a typed value: the validator, the JSON Schema and `eddy test` all read
/// them alike. nullopt when the text is not one.

/// A whole decimal number, all of `text`.
std::optional<int64_t> parse_yaml_int(std::string_view text);
/// A finite number as strtod reads it, all of `text`.
std::optional<double> parse_yaml_double(const std::string& text);
/// true, True, TRUE, false, False or FALSE.
std::optional<bool> parse_yaml_bool(std::string_view text);

}  // namespace eddy
