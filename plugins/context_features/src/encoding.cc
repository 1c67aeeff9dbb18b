// SPDX-License-Identifier: Apache-2.0
#include "encoding.h"

#include <charconv>
#include <set>

namespace eddy::context_features {
namespace {

constexpr const char* kRuleExample = "{values: [desktop, mobile, tablet], as: one_hot}";

/// "`country` in `encode` (topology.yaml:12:5)": the subject of every message.
std::string where(const std::string& field, const ConfigValue& v) {
    std::string s = "`" + field + "` in `encode`";
    if (v.location().line > 0) {
        s += " (" + v.location().to_string() + ")";
    }
    return s;
}

Result<EncodeRule> parse_rule(const std::string& field, const ConfigValue& body) {
    const std::string at = where(field, body);
    if (field.empty()) {
        return Status::invalid_argument(
            "a field name in `encode` is empty; write the name of "
            "the field to encode, e.g. `device_class: " +
            std::string(kRuleExample) + "`");
    }
    if (!body.is_map()) {
        return Status::invalid_argument("the encoding of " + at + " must be a map like " +
                                        kRuleExample + ", got `" + body.to_string() + "`");
    }
    EncodeRule rule;
    rule.field = field;
    const ConfigValue* values = nullptr;
    for (const auto& [key, v] : body.entries()) {
        if (key == "values") {
            values = &v;
        } else if (key == "as") {
            const std::string text = v.is_scalar() ? v.as_string() : v.to_string();
            if (text == "one_hot") {
                rule.as = EncodeAs::kOneHot;
            } else if (text == "index") {
                rule.as = EncodeAs::kIndex;
            } else {
                return Status::invalid_argument("`as` of " + where(field, v) +
                                                " must be one_hot or index, got `" + text + "`");
            }
        } else {
            return Status::invalid_argument("the encoding of " + at + " has an unknown key `" +
                                            key + "`; its keys are `values` and `as`, e.g. " +
                                            kRuleExample);
        }
    }
    if (values == nullptr) {
        return Status::invalid_argument("the encoding of " + at +
                                        " needs `values`, the list of values to encode, e.g. " +
                                        kRuleExample);
    }
    if (!values->is_list() || values->items().empty()) {
        return Status::invalid_argument("`values` of " + where(field, *values) +
                                        " must be a non-empty list like [de, fr, us], got `" +
                                        values->to_string() + "`");
    }
    std::set<std::string, std::less<>> seen;
    for (const ConfigValue& item : values->items()) {
        if (!item.is_scalar() || item.is_null()) {
            return Status::invalid_argument(
                "`values` of " + where(field, item) +
                " may hold only strings, integers and booleans, got `" + item.to_string() +
                "`; a missing or null field needs no value: it is encoded as all zeros "
                "(one_hot) or -1 (index)");
        }
        if (item.as_string().empty()) {
            return Status::invalid_argument("`values` of " + where(field, item) +
                                            " lists an empty string; list only non-empty values");
        }
        if (!seen.insert(item.as_string()).second) {
            return Status::invalid_argument("`values` of " + where(field, item) + " lists `" +
                                            item.as_string() + "` twice; list each value once");
        }
        rule.values.push_back(item.as_string());
    }
    return rule;
}

}  // namespace

int EncodeRule::listed_other() const {
    for (size_t i = 0; i < values.size(); ++i) {
        if (values[i] == "other") {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::vector<std::string> EncodeRule::outputs() const {
    if (as == EncodeAs::kIndex) {
        return {field + "_index"};
    }
    std::vector<std::string> out;
    for (const std::string& v : values) {
        out.push_back(field + "_" + v);
    }
    if (listed_other() < 0) {
        out.push_back(field + "_other");
    }
    return out;
}

Result<std::vector<EncodeRule>> parse_encode(const ConfigValue& block) {
    std::vector<EncodeRule> rules;
    for (const auto& [field, body] : block.entries()) {
        Result<EncodeRule> rule = parse_rule(field, body);
        if (!rule.is_ok()) {
            return rule.status();
        }
        rules.push_back(std::move(rule.value()));
    }
    return rules;
}

ValueMatcher::ValueMatcher(const std::vector<std::string>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
        positions_.emplace(values[i], static_cast<int>(i));
    }
}

bool ValueMatcher::matchable(const Value& v) {
    return v.is_string() || v.is_int() || v.is_bool();
}

int ValueMatcher::match(const Value* v) const {
    if (v == nullptr || v->is_null()) {
        return kMissing;
    }
    std::string_view text;
    char buf[24];
    if (v->is_string()) {
        text = v->as_string();
    } else if (v->is_int()) {
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v->as_int());
        text = std::string_view(buf, static_cast<size_t>(end - buf));
    } else if (v->is_bool()) {
        text = v->as_bool() ? "true" : "false";
    } else {
        return kNotListed;
    }
    auto it = positions_.find(text);
    return it == positions_.end() ? kNotListed : it->second;
}

}  // namespace eddy::context_features
