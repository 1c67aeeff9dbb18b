// SPDX-License-Identifier: Apache-2.0
// The `validate` operator: checks records against a schema of field rules.
// Internal to the operator: the parsed schema and the helpers its parts share.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"
#include "eddy/value.h"

#include "common/field_rules.h"

namespace eddy {

/// The `validate` operator's spec: checks each record against a schema of
/// typed field rules, coerces where asked, and sends failing records to
/// `errors` with every reason.
ComponentSpec validate_spec();

namespace validate {

enum class FieldType { kAny, kString, kInt, kNumber, kBool, kVector };

/// The rules of one field, parsed from `fields.<name>`.
struct FieldRule {
    std::string name;
    FieldType type = FieldType::kAny;
    bool required = false;
    bool coerce = false;
    std::vector<Literal> allowed;
    std::string allowed_text;  // "a, b, c" for reasons
    std::optional<double> min;
    std::optional<double> max;
    std::optional<int64_t> min_length;
    std::optional<int64_t> max_length;
    std::unique_ptr<RE2> pattern;
};

/// Reads `fields` into rules; returns every problem found, or nothing.
/// Patterns are compiled (RE2), so this is for the cold path only.
std::vector<std::string> parse_schema(const Config& cfg, std::vector<FieldRule>& rules);

/// Makes the operator from a validated config.
Result<std::unique_ptr<Operator>> make_operator(const Config& cfg);

/// "a string", "an int", ...: the type as a reason names it.
const char* type_noun(FieldType t);
/// `d` as an int64 when it is integral and in range.
std::optional<int64_t> integral(double d);
void append_int(int64_t i, std::string& out);
/// The shortest text that reads back as `d`.
void append_double(double d, std::string& out);
/// A value as a reason shows it: `"abc"` (cut after 40 bytes), `42`, `true`.
void append_shown(const Value& v, std::string& out);
/// Characters of UTF-8 text: bytes that do not continue a sequence.
int64_t code_points(std::string_view s);

}  // namespace validate
}  // namespace eddy
