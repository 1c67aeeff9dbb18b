// SPDX-License-Identifier: Apache-2.0
// normalize: the `fields` grammar, the configuration rule and the spec.
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/registry.h"

#include "normalize/normalize.h"

namespace eddy {
namespace {

/// A YAML scalar as written (untyped maps keep scalars as strings).
std::optional<double> option_number(const ConfigValue& v) {
    if (v.kind() == ConfigValue::Kind::kInt || v.kind() == ConfigValue::Kind::kDouble) {
        return v.as_double();
    }
    if (!v.is_scalar() || v.is_null()) {
        return std::nullopt;
    }
    const std::string& text = v.as_string();
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(d)) {
        return std::nullopt;
    }
    return d;
}

std::optional<int64_t> option_integer(const ConfigValue& v) {
    std::optional<double> d = option_number(v);
    if (!d || *d != std::floor(*d) || std::fabs(*d) > 1e15) {
        return std::nullopt;
    }
    return static_cast<int64_t>(*d);
}

std::optional<bool> option_bool(const ConfigValue& v) {
    if (v.kind() == ConfigValue::Kind::kBool) {
        return v.as_bool();
    }
    if (v.is_scalar() && (v.as_string() == "true" || v.as_string() == "false")) {
        return v.as_string() == "true";
    }
    return std::nullopt;
}

std::string option_text(const ConfigValue& v) {
    return v.kind() == ConfigValue::Kind::kInt ? std::to_string(v.as_int()) : v.as_string();
}

const std::string kMethodList = "zscore, percentile, minmax, log1p, one_hot or index";

std::optional<NormalizeMethod> parse_method(std::string_view name) {
    for (NormalizeMethod m : kNormalizeMethods) {
        if (name == normalize_method_name(m)) {
            return m;
        }
    }
    return std::nullopt;
}

/// Reads one method of `field`: a method name, or a map with `method` and
/// options. Returns an error sentence (naming the place) or "".
std::string parse_method_entry(const std::string& field, const ConfigValue& v, bool replace,
                               NormalizeEntry& e) {
    std::string where = "`fields." + field + "` (" + v.location().to_string() + ")";
    e.field = field;
    const ConfigValue* method = &v;
    if (v.is_map()) {
        method = v.find("method");
        if (method == nullptr) {
            return where + " needs a `method`: one of " + kMethodList;
        }
    }
    if (!method->is_scalar() || method->is_null()) {
        return where + " must be a method (" + kMethodList +
               "), a map like `{method: minmax, min: 0, max: 1}` or a list of those";
    }
    std::optional<NormalizeMethod> m = parse_method(method->as_string());
    if (!m) {
        return where + " has the unknown method `" + method->as_string() + "`; use " + kMethodList;
    }
    e.method = *m;
    std::string name = normalize_method_name(e.method);
    std::string suffix = name;
    bool has_output = false;
    bool has_suffix = false;
    bool has_max_values = false;
    if (v.is_map()) {
        auto only_for = [&](const std::string& key, std::initializer_list<NormalizeMethod> ms) {
            for (NormalizeMethod x : ms) {
                if (x == e.method) {
                    return std::string();
                }
            }
            return where + ": `" + key + "` has no meaning for method " + name + "; remove it";
        };
        for (const auto& [key, opt] : v.entries()) {
            std::string at = where + ": `" + key + "` (" + opt.location().to_string() + ")";
            std::string error;
            if (key == "method") {
                continue;
            } else if (key == "output" || key == "suffix") {
                if (!opt.is_scalar() || opt.is_null() || option_text(opt).empty()) {
                    return at + " must be a non-empty field name";
                }
                (key == "output" ? has_output : has_suffix) = true;
                (key == "output" ? e.output : suffix) = option_text(opt);
            } else if (key == "min" || key == "max") {
                error = only_for(key, {NormalizeMethod::kMinmax});
                std::optional<double> d = option_number(opt);
                if (error.empty() && !d) {
                    return at + " must be a finite number, got `" + opt.to_string() + "`";
                }
                (key == "min" ? e.min : e.max) = d;
            } else if (key == "clip") {
                error = only_for(key, {NormalizeMethod::kMinmax});
                std::optional<bool> b = option_bool(opt);
                if (error.empty() && !b) {
                    return at + " must be `true` or `false`, got `" + opt.to_string() + "`";
                }
                e.clip = b.value_or(true);
            } else if (key == "k") {
                error = only_for(key, {NormalizeMethod::kPercentile});
                std::optional<int64_t> k = option_integer(opt);
                if (error.empty() && (!k || *k < 8 || *k > 65535)) {
                    return at + " must be an integer between 8 and 65535, got `" + opt.to_string() +
                           "`";
                }
                e.k = static_cast<int>(k.value_or(kNormalizeSketchK));
            } else if (key == "values") {
                error = only_for(key, {NormalizeMethod::kOneHot, NormalizeMethod::kIndex});
                if (error.empty() && (!opt.is_list() || opt.items().empty())) {
                    return at + " must be a non-empty list of categories like `[mobile, desktop]`";
                }
                std::set<std::string> seen;
                for (const ConfigValue& item : opt.items()) {
                    if (!item.is_scalar() || item.is_null()) {
                        return at + " must list plain values, got `" + item.to_string() + "`";
                    }
                    std::string text = option_text(item);
                    if (!seen.insert(text).second) {
                        return at + " lists `" + text + "` twice; list each category once";
                    }
                    e.values.push_back(std::move(text));
                }
            } else if (key == "max_values") {
                error = only_for(key, {NormalizeMethod::kIndex});
                std::optional<int64_t> n = option_integer(opt);
                if (error.empty() && (!n || *n < 1 || *n > (1 << 24))) {
                    return at + " must be an integer between 1 and 16777216, got `" +
                           opt.to_string() + "`";
                }
                e.max_values = n.value_or(kNormalizeMaxValues);
                has_max_values = true;
            } else {
                return at +
                       " is not an option of a method; the options are method, output, "
                       "suffix, min, max, clip (minmax), k (percentile), values (one_hot, "
                       "index) and max_values (index)";
            }
            if (!error.empty()) {
                return error;
            }
        }
    }
    if (has_output && has_suffix) {
        return where + " gives both `output` and `suffix`; give one";
    }
    if (e.method == NormalizeMethod::kOneHot && e.values.empty()) {
        return where +
               ": one_hot needs `values`, the categories that get a column, like "
               "`{method: one_hot, values: [mobile, desktop, tablet]}`";
    }
    if (has_max_values && !e.values.empty()) {
        return where + ": `max_values` bounds a learned index; with `values` the index is fixed";
    }
    if (e.min && e.max && *e.min >= *e.max) {
        return where + ": `min` must be below `max`";
    }
    if (!has_output) {
        if (e.method == NormalizeMethod::kOneHot) {
            e.output = has_suffix ? field + "_" + suffix : field;
            e.erase_input = replace && !has_suffix;
        } else {
            e.output = replace && !has_suffix ? field : field + "_" + suffix;
        }
    }
    return "";
}

}  // namespace

std::string parse_normalize_fields(const ConfigValue& fields, bool replace,
                                   std::vector<NormalizeEntry>& out) {
    if (fields.entries().empty()) {
        return "`fields` is empty; give at least one field and its method, like `{dwell_ms: "
               "zscore}`";
    }
    std::set<std::pair<std::string, NormalizeMethod>> methods;
    std::set<std::string> outputs;
    for (const auto& [field, v] : fields.entries()) {
        std::vector<const ConfigValue*> items;
        if (v.is_list()) {
            for (const ConfigValue& item : v.items()) {
                items.push_back(&item);
            }
            if (items.empty()) {
                return "`fields." + field + "` (" + v.location().to_string() +
                       ") is an empty list; give at least one method";
            }
        } else {
            items.push_back(&v);
        }
        for (const ConfigValue* item : items) {
            NormalizeEntry e;
            if (std::string error = parse_method_entry(field, *item, replace, e); !error.empty()) {
                return error;
            }
            std::string where = "`fields." + field + "` (" + item->location().to_string() + ")";
            if (!methods.insert({field, e.method}).second) {
                return where + " uses " + normalize_method_name(e.method) +
                       " twice; give each method once per field";
            }
            std::vector<std::string> names;
            if (e.method == NormalizeMethod::kOneHot) {
                for (const std::string& value : e.values) {
                    names.push_back(e.output + "_" + value);
                }
            } else {
                names.push_back(e.output);
            }
            if (e.erase_input) {
                names.push_back(field);  // replaced by the columns
            }
            for (const std::string& name : names) {
                if (!outputs.insert(name).second) {
                    return where + " writes `" + name +
                           "`, which another method writes too; give one an `output` or a "
                           "`suffix`";
                }
            }
            out.push_back(std::move(e));
        }
    }
    return "";
}

namespace {

std::string check_normalize(const Config& cfg) {
    std::vector<NormalizeEntry> entries;
    return parse_normalize_fields(cfg.value("fields"), cfg.boolean("replace"), entries);
}

}  // namespace

// FNV-1a over the (field, method) list of the entries that learn.
uint64_t normalize_layout(const std::vector<NormalizeEntry>& entries) {
    uint64_t h = 14695981039346656037ULL;
    auto mix = [&h](uint8_t b) {
        h ^= b;
        h *= 1099511628211ULL;
    };
    for (const NormalizeEntry& e : entries) {
        if (!e.learns()) {
            continue;
        }
        for (char c : e.field) {
            mix(static_cast<uint8_t>(c));
        }
        mix(0);
        mix(static_cast<uint8_t>(e.method));
    }
    return h == 0 ? 1 : h;  // 0 marks a group that has no layout yet
}

ComponentSpec normalize_spec() {
    return OperatorSpec("normalize")
        .summary(
            "Puts numeric fields on common scales (z-score, percentile rank, min-max, log1p) and "
            "encodes categorical fields (one-hot, stable index), learning the statistics per key.")
        .description(
            "`fields` maps each input field to a method, a map of a method and its options, or a "
            "list of those (several methods of one field). Each method writes "
            "`<field>_<method>` (or `<field>_<suffix>`, an explicit `output`, or the field itself "
            "with `replace: true`); the rest of the record passes unchanged.\n\n"
            "Methods: `zscore` = (x - mean) / std with the running mean and population standard "
            "deviation (Welford) of the group's values, 0 while std is 0. `percentile` = the "
            "fraction of the group's values <= x, in (0, 1], from a KLL sketch (exact below `k` "
            "values, about 1.7/k rank error beyond). `minmax` = (x - min) / (max - min) clipped "
            "to [0, 1] (`clip: false` keeps values outside), each bound configured (`min`, "
            "`max`) or learned (the group's running min or max), 0 when max <= min. `log1p` = "
            "ln(1 + x), for x > -1. `one_hot` = one 0/1 integer column `<field>_<value>` per "
            "category of `values` (all 0 for another category). `index` = the category's "
            "position in `values`, or, without `values`, in the group's own list of categories "
            "in order of first appearance (state, so stable across restarts), -1 for a category "
            "outside `values` or beyond `max_values`. Categories are strings, integers (as "
            "decimal text) or booleans.\n\n"
            "Statistics are learned per group: with `key:` each key value (a device, a segment, "
            "a user) has its own, held as keyed state, so results are the same at any "
            "parallelism and after a restore; without `key:` the operator runs as one instance "
            "with one group. Each value is added to its group's statistics BEFORE it is "
            "normalized, so the first value of a group gives zscore 0, percentile 1 and minmax "
            "0; with `min_count` n, the output is null until the group has learned n values.\n\n"
            "A missing or null field is left alone (no output, nothing learned). A value of the "
            "wrong type (a string for a numeric method, a double for a categorical one), not "
            "finite, beyond 1e100 in magnitude (zscore, minmax) or <= -1 (log1p) is invalid: "
            "with `on_invalid: error` the record goes to `errors` with a reason naming the "
            "field, before anything is learned from it; with `on_invalid: set_null` the method's "
            "output is null and the rest of the record is normalized. See docs/normalize.md.")
        .keyed(KeyMode::kOptional)
        .param(Param::map("fields")
                   .required()
                   .doc("Field name to its method: `zscore`, `percentile`, `minmax`, `log1p`, "
                        "`one_hot` or `index`; or a map `{method, output, suffix, min, max, "
                        "clip, k, values, max_values}`; or a list of those. Options: `output` "
                        "(the output field; for one_hot the prefix of its columns), `suffix` "
                        "(default: the method's name), `min`/`max` and `clip` (minmax, default "
                        "clip: true), `k` (percentile sketch size, default 200), `values` (the "
                        "categories of one_hot, required, or a fixed vocabulary for index), "
                        "`max_values` (a learned index's size bound, default 1000).")
                   .example("{dwell_ms: [zscore, percentile], scroll_pct: {method: minmax, min: "
                            "0, max: 1}, price: log1p, device: {method: one_hot, values: [mobile, "
                            "desktop, tablet]}, category: index}"))
        .param(Param::boolean("replace").default_value(false).doc(
            "Write each result into its input field instead of `<field>_<method>` (a one_hot "
            "field is replaced by its columns). A method with `output` or `suffix` still writes "
            "there."))
        .param(Param::integer("min_count")
                   .default_value(1)
                   .min(1)
                   .doc("Values a group must have learned (the current one included) before "
                        "zscore, percentile and learned minmax emit a number; null before."))
        .param(Param::enumeration("on_invalid", {"error", "set_null"})
                   .default_value("error")
                   .doc("An invalid value: `error` sends the record to `errors` with the reason; "
                        "`set_null` writes null for that method and passes the record on."))
        .keyed_state<NormalizeGroup>(
            "stats",
            "Per key (one group without `key:`): for each (field, method) that learns, the "
            "count, mean and sum of squared deviations (zscore), the KLL sketch (percentile), "
            "the running min and max (minmax) or the categories in order of first appearance "
            "(index without `values`).")
        .rule(check_normalize)
        .example("Scale a device's dwell times and encode categories", R"(operators:
  scaled:
    type: normalize
    input: clicks
    key: device
    fields:
      dwell_ms: [zscore, percentile]
      scroll_pct: {method: minmax, min: 0, max: 1}
      referrer: {method: one_hot, values: [direct, search, social, email, ads]}
      category: index
)")
        .example("Each user's dwell time against their own history", R"(operators:
  per_user:
    type: normalize
    input: clicks
    key: user_id
    fields:
      dwell_ms: {method: zscore, output: dwell_z}
    min_count: 5
    on_invalid: set_null
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            return make_normalize(cfg);
        });
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(normalize) {
    return eddy::normalize_spec();
}
