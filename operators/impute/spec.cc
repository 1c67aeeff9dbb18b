// SPDX-License-Identifier: Apache-2.0
// The `impute` operator's spec and the parsing of its `fields`.
#include <set>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "impute/impute.h"

namespace eddy::impute {
namespace {

const char* const kRuleKeys =
    "strategy, value, fallback, type, group_by, min_count, flag, missing_values, description";

std::optional<Strategy> parse_strategy(std::string_view s) {
    if (s == "constant") {
        return Strategy::kConstant;
    }
    if (s == "mean") {
        return Strategy::kMean;
    }
    if (s == "median") {
        return Strategy::kMedian;
    }
    if (s == "last") {
        return Strategy::kLast;
    }
    if (s == "unknown") {
        return Strategy::kUnknown;
    }
    return std::nullopt;
}

}  // namespace

std::optional<OwnedValue> parse_constant(const std::string& text, std::string_view type) {
    OwnedValue v;
    if (type == "string") {
        v.type = ValueType::kString;
        v.s = text;
        return v;
    }
    if (auto b = bool_text(text); b && (type.empty() || type == "bool")) {
        v.type = ValueType::kBool;
        v.i = *b ? 1 : 0;
        return v;
    }
    if (auto i = int_text(text); i && (type.empty() || type == "int")) {
        v.type = ValueType::kInt;
        v.i = *i;
        return v;
    }
    if (auto d = number_text(text); d && (type.empty() || type == "number")) {
        v.type = ValueType::kDouble;
        v.d = *d;
        return v;
    }
    if (type.empty()) {
        v.type = ValueType::kString;
        v.s = text;
        return v;
    }
    return std::nullopt;
}

std::vector<std::string> parse_rules(const Config& cfg, std::vector<FieldRule>& rules) {
    std::vector<std::string> problems;
    const ConfigValue& fields = cfg.value("fields");
    if (fields.entries().empty()) {
        problems.emplace_back("`fields` is empty; give at least one field to impute");
    }
    const bool flag_all = cfg.boolean("flag");
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    for (const ConfigValue::Entry& field : fields.entries()) {
        const std::string& name = field.first;
        const ConfigValue& spec = field.second;
        const std::string base = "`fields." + name + "`";
        auto place = [&](const ConfigValue& v, const std::string& key) {
            return field_place(name, key, v);
        };
        FieldRule rule;
        rule.name = name;
        rule.flag = flag_all;
        const ConfigValue* strategy = &spec;
        if (spec.is_map()) {
            strategy = spec.find("strategy");
            if (strategy == nullptr) {
                problems.push_back(place(spec, "") + " needs a `strategy`: constant, mean, " +
                                   "median, last or unknown");
                continue;
            }
        } else if (!spec.is_scalar() || spec.is_null()) {
            problems.push_back(place(spec, "") + " must be a strategy like `median` or a map " +
                               "like `{strategy: constant, value: 0}`");
            continue;
        }
        auto parsed = strategy->is_scalar() ? parse_strategy(strategy->as_string()) : std::nullopt;
        if (!parsed) {
            problems.push_back(place(*strategy, spec.is_map() ? "strategy" : "") +
                               " must be one of constant, mean, median, last, unknown; got `" +
                               strategy->to_string() + "`");
            continue;
        }
        rule.strategy = *parsed;
        const bool statistic =
            rule.strategy == Strategy::kMean || rule.strategy == Strategy::kMedian;
        size_t before = problems.size();
        const ConfigValue* value = nullptr;
        const ConfigValue* fallback = nullptr;
        const ConfigValue* type = nullptr;
        if (spec.is_map()) {
            for (const auto& [key, v] : spec.entries()) {
                if (key == "strategy" || key == "description") {
                    continue;
                }
                if (key == "value") {
                    value = &v;
                } else if (key == "fallback") {
                    fallback = &v;
                } else if (key == "type") {
                    type = &v;
                } else if (key == "group_by") {
                    if (!statistic) {
                        problems.push_back(place(v, key) +
                                           " applies to the mean and median strategies only");
                    } else if (!v.is_scalar() || v.is_null() || v.as_string().empty()) {
                        problems.push_back(place(v, key) + " must name a field like `device`");
                    } else if (v.as_string() == name) {
                        problems.push_back(place(v, key) +
                                           " names the field itself, which is missing whenever "
                                           "it is imputed; group by another field");
                    } else {
                        rule.group_by = v.as_string();
                    }
                } else if (key == "min_count") {
                    auto n = v.is_scalar() ? int_text(v.as_string()) : std::nullopt;
                    if (!statistic) {
                        problems.push_back(place(v, key) +
                                           " applies to the mean and median strategies only");
                    } else if (!n || *n < 1) {
                        problems.push_back(place(v, key) + " must be an integer >= 1, got `" +
                                           v.to_string() + "`");
                    } else {
                        rule.min_count = *n;
                    }
                } else if (key == "flag") {
                    auto b = v.is_scalar() ? bool_text(v.as_string()) : std::nullopt;
                    if (!b) {
                        problems.push_back(place(v, key) + " must be `true` or `false`, got `" +
                                           v.to_string() + "`");
                    } else {
                        rule.flag = *b;
                    }
                } else if (key == "missing_values") {
                    if (!v.is_list()) {
                        problems.push_back(place(v, key) + " must be a list like `[\"\", n/a]`");
                        continue;
                    }
                    for (const ConfigValue& item : v.items()) {
                        if (!item.is_scalar() || item.is_null()) {
                            problems.push_back(place(item, key) +
                                               " items must be plain values, got `" +
                                               item.to_string() + "`");
                            continue;
                        }
                        rule.missing_values.push_back(Literal::of(item.as_string()));
                    }
                } else {
                    problems.push_back(place(v, key) + " is not a setting; the settings are " +
                                       kRuleKeys);
                }
            }
        }
        std::string type_name;
        if (type != nullptr) {
            type_name = type->is_scalar() ? type->as_string() : "";
            if (type_name != "string" && type_name != "int" && type_name != "number" &&
                type_name != "bool") {
                problems.push_back(place(*type, "type") +
                                   " must be one of string, int, number, bool; got `" +
                                   type->to_string() + "`");
                type_name.clear();
            } else if (rule.strategy == Strategy::kUnknown && type_name != "string") {
                problems.push_back(place(*type, "type") +
                                   " of the unknown strategy is always string");
            } else if (value == nullptr && fallback == nullptr) {
                problems.push_back(place(*type, "type") +
                                   " types `value` or `fallback`; give one of them");
            }
        }
        auto constant = [&](const ConfigValue& v,
                            const std::string& key) -> std::optional<OwnedValue> {
            if (!v.is_scalar() || v.is_null()) {
                problems.push_back(place(v, key) + " must be a plain value like `0` or " +
                                   "`unknown`, got " + (v.is_null() ? "null" : v.to_string()));
                return std::nullopt;
            }
            auto c = parse_constant(v.as_string(), type_name);
            if (!c) {
                problems.push_back(place(v, key) + " `" + v.as_string() + "` is not of type " +
                                   type_name);
            }
            return c;
        };
        switch (rule.strategy) {
            case Strategy::kConstant:
                if (value == nullptr) {
                    problems.push_back(base + ": the constant strategy needs a `value`");
                } else if (auto c = constant(*value, "value")) {
                    rule.value = std::move(*c);
                }
                break;
            case Strategy::kUnknown:
                rule.value.type = ValueType::kString;
                rule.value.s = "unknown";
                if (value != nullptr) {
                    if (!value->is_scalar() || value->is_null()) {
                        problems.push_back(place(*value, "value") + " must be a category name");
                    } else {
                        rule.value.s = value->as_string();
                    }
                }
                break;
            case Strategy::kMean:
            case Strategy::kMedian:
            case Strategy::kLast:
                if (value != nullptr) {
                    problems.push_back(place(*value, "value") + " applies to the constant and " +
                                       "unknown strategies; use `fallback` for a value to use " +
                                       "before any has been seen");
                }
                break;
        }
        if (fallback != nullptr) {
            if (rule.strategy == Strategy::kConstant || rule.strategy == Strategy::kUnknown) {
                problems.push_back(place(*fallback, "fallback") +
                                   " applies to the mean, median and last strategies; the " +
                                   "constant and unknown strategies always have a value");
            } else if (auto c = constant(*fallback, "fallback")) {
                rule.fallback = std::move(*c);
            }
        }
        if (problems.size() == before) {
            rules.push_back(std::move(rule));
        }
    }
    const std::string& suffix = cfg.string("flag_suffix");
    std::set<std::string> names;
    for (const FieldRule& r : rules) {
        names.insert(r.name);
    }
    for (const FieldRule& r : rules) {
        if (r.flag && names.count(r.name + suffix) > 0) {
            problems.push_back("the flag `" + r.name + suffix + "` of `fields." + r.name +
                               "` is also a field to impute; change `flag_suffix` or the field");
        }
    }
    if (suffix.empty()) {
        problems.emplace_back("`flag_suffix` must not be empty: the flag would replace the field");
    }
    return problems;
}

namespace {

std::string check_impute(const Config& cfg) {
    std::vector<FieldRule> rules;
    return join_problems(parse_rules(cfg, rules));
}

}  // namespace
}  // namespace eddy::impute

namespace eddy {

ComponentSpec impute_spec() {
    return OperatorSpec("impute")
        .summary(
            "Fills missing values per field: a constant, the running mean or median "
            "(optionally per group), the key's last value, or an `unknown` category.")
        .description(
            "A value is missing when its field is absent or null, or equals one of the field's "
            "`missing_values`. Each field in `fields` has a `strategy`:\n\n"
            "- `constant`: `value`, typed as YAML reads it (true/false, an integer, a number, "
            "else a string; `type: string` keeps `007` a string).\n"
            "- `unknown`: the category string `value` (default `unknown`), for string fields.\n"
            "- `mean`: the running mean of the field's numeric values seen so far (a double).\n"
            "- `median`: the running median: the ceil(n/2)-th smallest value (the lower "
            "median, always a seen value; an int when every value was an int), from a KLL "
            "sketch, exact up to 200 values and within about 1% in rank beyond. It is "
            "re-read from the sketch after every new value up to 128 values, then after every "
            "count/128 new values (a lag below the sketch's 1% error).\n"
            "- `last`: the last value the record's key had for the field (with no `key`, the "
            "last value of the stream).\n\n"
            "Only observed values teach the statistics and `last`: an imputed value never "
            "does, nor do values that are not finite numbers (they pass on untouched; put "
            "`validate` first to reject them). With `group_by: FIELD`, `mean` and `median` "
            "are kept per value of that field in the input record as well as over all "
            "records; a record uses its group's statistic, and the overall one when its group "
            "is missing, has fewer than `min_count` values, or was not kept because "
            "`max_groups` groups exist. Before a statistic (or a key's last value) exists, "
            "`fallback` is used; without one the value stays missing and the record passes "
            "on as it came.\n\n"
            "With `flag` (global or per field), each such field gets `<field>_imputed`: true "
            "when it was filled, false otherwise. The statistics are per instance: without "
            "a `key`, impute runs as one instance and they cover every record; with a `key` "
            "(for `last` per key) and parallelism above 1, each shard learns from its own "
            "keys' records. Both survive restarts. Metrics: `eddy_impute_filled_total{field}`, "
            "`eddy_impute_unfilled_total{field}` and `eddy_impute_ungrouped_total{field}`. "
            "docs/cleaning.md has the details.")
        .keyed(KeyMode::kOptional)
        .param(Param::map("fields")
                   .required()
                   .doc("Field name to its imputation: a map with `strategy` (constant, mean, "
                        "median, last, unknown) and `value`, `fallback`, `type`, `group_by`, "
                        "`min_count`, `flag`, `missing_values`, `description`; or a bare "
                        "strategy name.")
                   .example("{dwell_ms: {strategy: median, group_by: device, fallback: 0}, "
                            "country: unknown, referrer: {strategy: constant, value: direct}}"))
        .param(Param::boolean("flag").default_value(false).doc(
            "Add `<field>_imputed` (true or false) for every field; a field's own `flag` "
            "overrides it."))
        .param(Param::string("flag_suffix")
                   .default_value("_imputed")
                   .doc("The suffix that names a field's flag."))
        .param(Param::integer("max_groups")
                   .default_value(1000)
                   .min(1)
                   .max(1000000)
                   .doc("Most groups kept per `group_by` field (per instance); values of "
                        "further groups teach only the overall statistic."))
        .keyed_state<LastValues>("last",
                                 "Per key (one entry without a key): the last observed value of "
                                 "each `last` field.")
        .global_state<ImputeStats>(
            "statistics",
            "Per instance (shard): for each `mean` and `median` field, the count, mean and "
            "(median) KLL sketch over all records and per `group_by` value.")
        .rule(impute::check_impute)
        .example("Fill the gaps of clickstream events", R"(operators:
  filled:
    type: impute
    input: clicks
    flag: true
    fields:
      dwell_ms: {strategy: median, group_by: device, fallback: 0}
      scroll_pct: {strategy: mean, min_count: 10}
      country: unknown
      referrer: {strategy: constant, value: direct}
)")
        .example("Carry a user's last device forward", R"(operators:
  devices:
    type: impute
    input: clicks
    key: user_id
    fields:
      device: {strategy: last, fallback: unknown, missing_values: ["", n/a]}
)")
        .factory(impute::make_operator);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(impute) {
    return eddy::impute_spec();
}
