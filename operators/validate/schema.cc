// SPDX-License-Identifier: Apache-2.0
// validate: parsing `fields` into rules, and the text helpers of reasons.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "validate/validate.h"

namespace eddy::validate {
namespace {

constexpr size_t kShownBytes = 40;    // of a string value quoted in a reason
constexpr size_t kShownAllowed = 10;  // allowed values listed in a reason

std::optional<FieldType> parse_type(std::string_view s) {
    if (s == "string") {
        return FieldType::kString;
    }
    if (s == "int" || s == "integer") {
        return FieldType::kInt;
    }
    if (s == "number" || s == "double" || s == "float") {
        return FieldType::kNumber;
    }
    if (s == "bool" || s == "boolean") {
        return FieldType::kBool;
    }
    if (s == "vector") {
        return FieldType::kVector;
    }
    if (s == "any") {
        return FieldType::kAny;
    }
    return std::nullopt;
}

}  // namespace

const char* type_noun(FieldType t) {
    switch (t) {
        case FieldType::kString:
            return "a string";
        case FieldType::kInt:
            return "an int";
        case FieldType::kNumber:
            return "a number";
        case FieldType::kBool:
            return "a bool";
        case FieldType::kVector:
            return "a vector";
        case FieldType::kAny:
            break;
    }
    return "any value";
}

/// `d` as an int64 when it is integral and in range.
std::optional<int64_t> integral(double d) {
    constexpr double kTwo63 = 9223372036854775808.0;
    if (d >= -kTwo63 && d < kTwo63 && d == std::trunc(d)) {
        return static_cast<int64_t>(d);
    }
    return std::nullopt;
}

void append_int(int64_t i, std::string& out) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
    (void)ec;
    out.append(buf, end);
}

void append_double(double d, std::string& out) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    (void)ec;  // 32 bytes always fit the shortest form of a double
    out.append(buf, end);
}

/// A value as a reason shows it: `"abc"` (cut after kShownBytes), `42`, `true`.
void append_shown(const Value& v, std::string& out) {
    switch (v.type()) {
        case ValueType::kString: {
            std::string_view s = v.as_string();
            bool cut = s.size() > kShownBytes;
            if (cut) {
                size_t n = kShownBytes;
                while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
                    --n;  // do not split a UTF-8 sequence
                }
                s = s.substr(0, n);
            }
            out += '"';
            out += s;
            out += cut ? "\"..." : "\"";
            return;
        }
        case ValueType::kInt:
            append_int(v.as_int(), out);
            return;
        case ValueType::kDouble:
            append_double(v.as_double(), out);
            return;
        case ValueType::kBool:
            out += v.as_bool() ? "true" : "false";
            return;
        case ValueType::kVector:
            out += "a vector of ";
            append_int(static_cast<int64_t>(v.as_vector().size()), out);
            out += " numbers";
            return;
        case ValueType::kNull:
            out += "null";
            return;
    }
}

/// Characters of UTF-8 text: bytes that do not continue a sequence.
int64_t code_points(std::string_view s) {
    int64_t n = 0;
    for (char c : s) {
        n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    }
    return n;
}

const char* const kRuleKeys =
    "type, required, coerce, enum, min, max, min_length, max_length, pattern, description";

/// Reads `fields` into rules; returns every problem found, or nothing.
/// Patterns are compiled (RE2), so this is for the cold path only.
std::vector<std::string> parse_schema(const Config& cfg, std::vector<FieldRule>& rules) {
    std::vector<std::string> problems;
    const bool coerce_all = cfg.boolean("coerce");
    const ConfigValue& fields = cfg.value("fields");
    if (fields.entries().empty()) {
        problems.emplace_back("`fields` is empty; give at least one field rule");
    }
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    for (const ConfigValue::Entry& field : fields.entries()) {
        const std::string& name = field.first;
        const ConfigValue& spec = field.second;
        FieldRule rule;
        rule.name = name;
        rule.coerce = coerce_all;
        const std::string base = "`fields." + name + "`";
        auto place = [&](const ConfigValue& v, const std::string& key) {
            return field_place(name, key, v);
        };
        if (spec.is_scalar() && !spec.is_null()) {
            // Shorthand: `user_id: string`.
            auto t = parse_type(spec.as_string());
            if (!t) {
                problems.push_back(place(spec, "") + " must be a type (string, int, number, " +
                                   "bool, vector, any) or a map of rules, got `" +
                                   spec.as_string() + "`");
                continue;
            }
            rule.type = *t;
            if (rule.type == FieldType::kAny || rule.type == FieldType::kVector) {
                rule.coerce = false;
            }
            rules.push_back(std::move(rule));
            continue;
        }
        if (!spec.is_map()) {
            problems.push_back(place(spec, "") +
                               " must be a map of rules like `{type: int, min: 0}` or a type "
                               "name like `string`");
            continue;
        }
        size_t before = problems.size();
        auto flag = [&](const ConfigValue& v, const std::string& key) -> bool {
            auto b = v.is_scalar() ? bool_text(v.as_string()) : std::nullopt;
            if (!b) {
                problems.push_back(place(v, key) + " must be `true` or `false`, got `" +
                                   v.to_string() + "`");
                return false;
            }
            return *b;
        };
        auto number = [&](const ConfigValue& v, const std::string& key) -> std::optional<double> {
            auto d = v.is_scalar() ? number_text(v.as_string()) : std::nullopt;
            if (!d) {
                problems.push_back(place(v, key) + " must be a number, got `" + v.to_string() +
                                   "`");
            }
            return d;
        };
        auto length = [&](const ConfigValue& v, const std::string& key) -> std::optional<int64_t> {
            auto i = v.is_scalar() ? int_text(v.as_string()) : std::nullopt;
            if (!i || *i < 0) {
                problems.push_back(place(v, key) + " must be an integer >= 0, got `" +
                                   v.to_string() + "`");
                return std::nullopt;
            }
            return i;
        };
        const ConfigValue* coerce = nullptr;
        const ConfigValue* allowed = nullptr;
        const ConfigValue* pattern = nullptr;
        if (const ConfigValue* t = spec.find("type")) {
            auto parsed = t->is_scalar() ? parse_type(t->as_string()) : std::nullopt;
            if (!parsed) {
                problems.push_back(place(*t, "type") +
                                   " must be one of string, int, number, bool, vector, any; got `" +
                                   t->to_string() + "`");
            } else {
                rule.type = *parsed;
            }
        }
        for (const auto& [key, v] : spec.entries()) {
            if (key == "type" || key == "description") {
                continue;
            }
            if (key == "required") {
                rule.required = flag(v, key);
            } else if (key == "coerce") {
                coerce = &v;
                rule.coerce = flag(v, key);
            } else if (key == "enum") {
                allowed = &v;
            } else if (key == "min") {
                rule.min = number(v, key);
            } else if (key == "max") {
                rule.max = number(v, key);
            } else if (key == "min_length") {
                rule.min_length = length(v, key);
            } else if (key == "max_length") {
                rule.max_length = length(v, key);
            } else if (key == "pattern") {
                pattern = &v;
            } else {
                problems.push_back(place(v, key) + " is not a rule; the rules are " + kRuleKeys);
            }
        }
        const bool numeric = rule.type == FieldType::kInt || rule.type == FieldType::kNumber;
        if ((rule.min || rule.max) && !numeric) {
            problems.push_back(base + ": `min` and `max` need `type: int` or `type: number`");
        }
        if (rule.min && rule.max && *rule.min > *rule.max) {
            problems.push_back(base + ": `min` is greater than `max`");
        }
        if ((rule.min_length || rule.max_length) && rule.type != FieldType::kString &&
            rule.type != FieldType::kVector) {
            problems.push_back(base +
                               ": `min_length` and `max_length` need `type: string` or "
                               "`type: vector`");
        }
        if (rule.min_length && rule.max_length && *rule.min_length > *rule.max_length) {
            problems.push_back(base + ": `min_length` is greater than `max_length`");
        }
        if (rule.type == FieldType::kAny || rule.type == FieldType::kVector) {
            if (coerce != nullptr && rule.coerce) {
                problems.push_back(place(*coerce, "coerce") + " needs a scalar `type` (string, " +
                                   "int, number or bool) to coerce to");
            }
            rule.coerce = false;
        }
        if (pattern != nullptr) {
            if (rule.type != FieldType::kString) {
                problems.push_back(base + ": `pattern` needs `type: string`");
            } else if (!pattern->is_scalar() || pattern->is_null()) {
                problems.push_back(place(*pattern, "pattern") + " must be a regular expression");
            } else {
                RE2::Options options;
                options.set_log_errors(false);
                rule.pattern = std::make_unique<RE2>(pattern->as_string(), options);
                if (!rule.pattern->ok()) {
                    problems.push_back(place(*pattern, "pattern") + " is not a valid RE2 " +
                                       "pattern: " + rule.pattern->error());
                }
            }
        }
        if (allowed != nullptr) {
            if (!allowed->is_list() || allowed->items().empty()) {
                problems.push_back(place(*allowed, "enum") +
                                   " must be a non-empty list like `[a, b]`");
            } else if (rule.type == FieldType::kVector) {
                problems.push_back(base + ": `enum` does not apply to `type: vector`");
            } else {
                for (const ConfigValue& item : allowed->items()) {
                    if (!item.is_scalar() || item.is_null()) {
                        problems.push_back(place(item, "enum") +
                                           " items must be plain values, got `" + item.to_string() +
                                           "`");
                        continue;
                    }
                    Literal a = Literal::of(item.as_string());
                    bool fits = rule.type == FieldType::kAny || rule.type == FieldType::kString ||
                                (rule.type == FieldType::kNumber && a.number) ||
                                (rule.type == FieldType::kInt && int_text(a.text)) ||
                                (rule.type == FieldType::kBool && a.boolean);
                    if (!fits) {
                        problems.push_back(place(item, "enum") + " lists `" + a.text +
                                           "`, which is not " + type_noun(rule.type));
                    }
                    if (rule.type == FieldType::kString) {
                        a.number.reset();  // "42" allows the string "42", not the number
                        a.boolean.reset();
                    }
                    if (rule.allowed.size() < kShownAllowed) {
                        rule.allowed_text += (rule.allowed.empty() ? "" : ", ") + a.text;
                    } else if (rule.allowed.size() == kShownAllowed) {
                        rule.allowed_text += ", ...";
                    }
                    rule.allowed.push_back(std::move(a));
                }
            }
        }
        if (problems.size() == before) {
            rules.push_back(std::move(rule));
        }
    }
    return problems;
}

}  // namespace eddy::validate
