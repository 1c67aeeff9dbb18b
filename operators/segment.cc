// SPDX-License-Identifier: Apache-2.0
#include "segment.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/operator.h"
#include "eddy/registry.h"
#include "eddy/state.h"

namespace eddy {

void Codec<SegmentStats>::encode(const SegmentStats& s, StateWriter& w) {
    w.varint(s.fields.size());
    for (const FieldPercentiles& f : s.fields) {
        w.str(f.field);
        f.sketch.encode(w);
        w.varint(f.refreshed_at);
        w.varint(f.quantiles.size());
        for (size_t i = 0; i < f.quantiles.size(); ++i) {
            w.f64(f.quantiles[i]);
            w.f64(f.thresholds[i]);
        }
    }
}

void Codec<SegmentStats>::to_json(const SegmentStats& s, JsonWriter& j) {
    j.begin_object().key("fields").begin_array();
    for (const FieldPercentiles& f : s.fields) {
        j.begin_object().field("field", f.field).key("sketch");
        f.sketch.to_json(j);
        j.field("refreshed_at_count", f.refreshed_at).key("thresholds").begin_array();
        for (size_t i = 0; i < f.quantiles.size(); ++i) {
            j.begin_object()
                .field("q", f.quantiles[i])
                .field("value", f.thresholds[i])
                .end_object();
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

bool Codec<SegmentStats>::decode(StateReader& r, uint8_t, SegmentStats& s) {
    uint64_t n = 0;
    if (!r.varint(n) || n > (1u << 16)) {
        return false;
    }
    s.fields.resize(n);
    for (FieldPercentiles& f : s.fields) {
        uint64_t q = 0;
        if (!r.str(f.field) || !f.sketch.decode(r) || !r.varint(f.refreshed_at) || !r.varint(q) ||
            q > (1u << 16)) {
            return false;
        }
        f.quantiles.assign(q, 0);
        f.thresholds.assign(q, 0);
        for (size_t i = 0; i < q; ++i) {
            r.f64(f.quantiles[i]);
            r.f64(f.thresholds[i]);
        }
    }
    return r.ok();
}

namespace {

enum class Cmp { kLt, kLe, kGt, kGe, kEq, kNe };

struct Condition {
    std::string field;
    Cmp cmp = Cmp::kEq;
    std::string text;  // the operand as written
    std::optional<double> number;
    std::optional<bool> boolean;
    std::optional<double> percentile;  // q in [0, 1] for "pNN"
    FieldId id = kInvalidField;
    size_t stats = 0;     // index into SegmentStats::fields (percentiles only)
    size_t quantile = 0;  // index into that entry's quantiles
};

struct Rule {
    std::string name;
    std::vector<Condition> conditions;
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

std::optional<double> parse_number(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    std::string text(s);
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(d)) {
        return std::nullopt;
    }
    return d;
}

/// "p75", "p99.9": the percentile number, or nullopt when `s` is not of that shape.
std::optional<double> parse_percentile(std::string_view s) {
    if (s.size() < 2 || (s[0] != 'p' && s[0] != 'P')) {
        return std::nullopt;
    }
    std::string_view digits = s.substr(1);
    bool dot = false;
    for (char c : digits) {
        if (c == '.' && !dot) {
            dot = true;
        } else if (c < '0' || c > '9') {
            return std::nullopt;
        }
    }
    return parse_number(digits);
}

/// Parses `text` (e.g. "> p75") into `c`; returns an error sentence or "".
std::string parse_condition(std::string_view text, Condition& c) {
    text = trim(text);
    size_t op_end = 0;
    while (op_end < text.size() &&
           std::string_view("<>=!").find(text[op_end]) != std::string_view::npos) {
        ++op_end;
    }
    std::string_view op = text.substr(0, op_end);
    static const std::pair<std::string_view, Cmp> kOps[] = {{"<", Cmp::kLt},  {"<=", Cmp::kLe},
                                                            {">", Cmp::kGt},  {">=", Cmp::kGe},
                                                            {"==", Cmp::kEq}, {"!=", Cmp::kNe}};
    if (op.empty()) {
        c.cmp = Cmp::kEq;
    } else {
        auto it = std::find_if(std::begin(kOps), std::end(kOps),
                               [op](const auto& o) { return o.first == op; });
        if (it == std::end(kOps)) {
            return "uses the unknown comparison `" + std::string(op) +
                   "`; use one of >, >=, <, <=, ==, !=";
        }
        c.cmp = it->second;
    }
    std::string_view operand = trim(text.substr(op_end));
    if (operand.empty()) {
        return "has no value to compare with; write it like \"> 5\" or \"> p75\"";
    }
    c.text = std::string(operand);
    bool ordering = c.cmp != Cmp::kEq && c.cmp != Cmp::kNe;
    if (std::optional<double> p = parse_percentile(operand)) {
        if (*p > 100) {
            return "uses `" + c.text + "`, which is not a percentile; use p0 to p100";
        }
        if (!ordering) {
            return "compares with a percentile using `" + std::string(op.empty() ? "==" : op) +
                   "`; percentiles need >, >=, < or <=";
        }
        c.percentile = *p / 100;
        return "";
    }
    c.number = parse_number(operand);
    if (operand == "true" || operand == "false") {
        c.boolean = operand == "true";
    }
    if (ordering && !c.number) {
        return "compares `" + c.text + "` with " + std::string(op) +
               ", but it is neither a number nor a percentile like `p75`";
    }
    return "";
}

/// Reads `rules` into `out`; returns an error sentence naming the rule, or "".
std::string parse_rules(const ConfigValue& rules, std::vector<Rule>& out) {
    std::set<std::string> names;
    const std::string shape =
        "; write each rule as `{name: engaged, when: {dwell_avg: \"> p75\"}}`";
    for (size_t i = 0; i < rules.items().size(); ++i) {
        const ConfigValue& item = rules.items()[i];
        std::string where = "rule " + std::to_string(i + 1) + " of `rules`";
        if (!item.is_map()) {
            return where + " is not a map" + shape;
        }
        Rule rule;
        const ConfigValue* name = item.find("name");
        if (name != nullptr && name->is_scalar() && !name->is_null() &&
            !name->as_string().empty()) {
            rule.name = name->as_string();
            where = "rule `" + rule.name + "` (" + where + ")";
        }
        for (const auto& [k, v] : item.entries()) {
            if (k != "name" && k != "when") {
                return where + " has the unknown key `" + k + "`" + shape;
            }
        }
        if (rule.name.empty()) {
            return where + " needs a `name`" + shape;
        }
        if (!names.insert(rule.name).second) {
            return where + " reuses the name `" + rule.name + "`; rule names must be unique";
        }
        const ConfigValue* when = item.find("when");
        if (when == nullptr || !when->is_map() || when->entries().empty()) {
            return where + " needs a non-empty `when` map of field: condition" + shape;
        }
        for (const auto& [field, v] : when->entries()) {
            if (!v.is_scalar() || v.is_null()) {
                return where + ": the condition on `" + field +
                       "` must be a single value like \">= 10\", \"> p75\" or \"== mobile\"";
            }
            Condition c;
            c.field = field;
            if (std::string e = parse_condition(v.as_string(), c); !e.empty()) {
                return where + ": the condition `" + field + ": \"" + v.as_string() + "\"` " + e;
            }
            rule.conditions.push_back(std::move(c));
        }
        out.push_back(std::move(rule));
    }
    return "";
}

bool compare(double a, Cmp cmp, double b) {
    switch (cmp) {
        case Cmp::kLt:
            return a < b;
        case Cmp::kLe:
            return a <= b;
        case Cmp::kGt:
            return a > b;
        case Cmp::kGe:
            return a >= b;
        case Cmp::kEq:
            return a == b;
        case Cmp::kNe:
            return a != b;
    }
    return false;
}

class Segment final : public Operator {
public:
    explicit Segment(const Config& cfg)
        : default_(cfg.string("default")),
          segment_name_(cfg.string("segment_field")),
          key_name_(cfg.string("key_field")),
          pass_through_(cfg.boolean("pass_through")) {
        std::string error = parse_rules(cfg.value("rules"), rules_);
        (void)error;  // validated by check_rules before the factory runs
    }

    Status open(OpenContext& ctx) override {
        ctx.register_state(segments_);
        ctx.register_state(stats_);
        segment_out_ = ctx.field(segment_name_);
        previous_out_ = ctx.field("previous_" + segment_name_);
        key_out_ = ctx.field(key_name_);
        for (Rule& rule : rules_) {
            for (Condition& c : rule.conditions) {
                c.id = ctx.field(c.field);
            }
        }
        resolved_ = false;
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        if (!resolved_) {
            resolve_stats();
        }
        observe(record);
        const std::string& segment = classify(record);
        const Value& key = record.key();
        std::string* previous = segments_.find(key);
        if (previous != nullptr && *previous == segment) {
            return;
        }
        Record& r = out.append();
        if (pass_through_) {
            r.assign(record);
        } else {
            r.set_time(record.time());
            r.set_value(key_out_, key);
        }
        r.set(segment_out_, std::string_view(segment));
        if (previous != nullptr) {
            r.set(previous_out_, std::string_view(*previous));
            previous->assign(segment);
        } else {
            r.set_null(previous_out_);
            segments_.get_or_create(key) = segment;
        }
    }

private:
    /// Matches percentile conditions with the (possibly restored) sketches.
    void resolve_stats() {
        resolved_ = true;
        SegmentStats& stats = stats_.get();
        SegmentStats next;
        stats_fields_.clear();
        for (Rule& rule : rules_) {
            for (Condition& c : rule.conditions) {
                if (!c.percentile) {
                    continue;
                }
                auto it = std::find_if(next.fields.begin(), next.fields.end(),
                                       [&c](const auto& f) { return f.field == c.field; });
                if (it == next.fields.end()) {
                    next.fields.emplace_back();
                    it = next.fields.end() - 1;
                    it->field = c.field;
                    stats_fields_.push_back(c.id);
                    for (FieldPercentiles& old : stats.fields) {
                        if (old.field == c.field) {
                            it->sketch = std::move(old.sketch);
                            it->refreshed_at = old.refreshed_at;
                            it->quantiles = std::move(old.quantiles);
                            it->thresholds = std::move(old.thresholds);
                        }
                    }
                    wanted_.emplace_back();
                }
                size_t index = static_cast<size_t>(it - next.fields.begin());
                std::vector<double>& qs = wanted_[index];
                auto q = std::find(qs.begin(), qs.end(), *c.percentile);
                if (q == qs.end()) {
                    qs.push_back(*c.percentile);
                    q = qs.end() - 1;
                }
                c.stats = index;
                c.quantile = static_cast<size_t>(q - qs.begin());
            }
        }
        for (size_t i = 0; i < next.fields.size(); ++i) {
            if (next.fields[i].quantiles != wanted_[i]) {
                // Other percentiles than the stored ones: recompute at once.
                next.fields[i].quantiles = wanted_[i];
                next.fields[i].thresholds.assign(wanted_[i].size(), 0);
                next.fields[i].refreshed_at = 0;
                refresh(next.fields[i]);
            }
        }
        wanted_.clear();
        stats = std::move(next);
    }

    /// Adds the record's values to the sketches and refreshes thresholds, for
    /// every record while the count is below 1024, then every count/1024 values.
    void observe(const Record& record) {
        SegmentStats& stats = stats_.get();
        for (size_t i = 0; i < stats.fields.size(); ++i) {
            const Value* v = record.get(stats_fields_[i]);
            if (v == nullptr || !v->is_number()) {
                continue;
            }
            FieldPercentiles& f = stats.fields[i];
            f.sketch.add(v->as_double());
            uint64_t n = f.sketch.count();
            if (n - f.refreshed_at >= std::max<uint64_t>(1, n / 1024)) {
                refresh(f);
            }
        }
    }

    static void refresh(FieldPercentiles& f) {
        f.refreshed_at = f.sketch.count();
        f.sketch.quantiles(f.quantiles, f.thresholds);
    }

    const std::string& classify(const Record& record) const {
        for (const Rule& rule : rules_) {
            bool all = true;
            for (const Condition& c : rule.conditions) {
                if (!holds(c, record.get(c.id))) {
                    all = false;
                    break;
                }
            }
            if (all) {
                return rule.name;
            }
        }
        return default_;
    }

    bool holds(const Condition& c, const Value* v) const {
        if (v == nullptr || v->is_null()) {
            return false;
        }
        if (c.percentile) {
            double threshold = stats_.get().fields[c.stats].thresholds[c.quantile];
            return v->is_number() && !std::isnan(threshold) &&
                   compare(v->as_double(), c.cmp, threshold);
        }
        std::optional<bool> equal;
        switch (v->type()) {
            case ValueType::kInt:
            case ValueType::kDouble:
                if (c.number) {
                    return compare(v->as_double(), c.cmp, *c.number);
                }
                break;
            case ValueType::kString:
                equal = v->as_string() == c.text;
                break;
            case ValueType::kBool:
                if (c.boolean) {
                    equal = v->as_bool() == *c.boolean;
                }
                break;
            default:
                break;
        }
        if (c.cmp == Cmp::kEq) {
            return equal.value_or(false);
        }
        if (c.cmp == Cmp::kNe) {
            return !equal.value_or(false);
        }
        return false;  // an ordering against a value of another type
    }

    std::vector<Rule> rules_;
    std::string default_;
    std::string segment_name_;
    std::string key_name_;
    bool pass_through_;

    KeyedValue<std::string> segments_{"segments"};
    Global<SegmentStats> stats_{"percentiles"};
    bool resolved_ = false;
    std::vector<FieldId> stats_fields_;        // per stats_.get().fields entry
    std::vector<std::vector<double>> wanted_;  // scratch for resolve_stats()

    FieldId segment_out_ = kInvalidField;
    FieldId previous_out_ = kInvalidField;
    FieldId key_out_ = kInvalidField;
};

std::string check_rules(const Config& cfg) {
    std::vector<Rule> rules;
    if (std::string e = parse_rules(cfg.value("rules"), rules); !e.empty()) {
        return e;
    }
    if (rules.empty()) {
        return "`rules` is empty; give at least one rule, or drop the operator";
    }
    const std::string& segment = cfg.string("segment_field");
    const std::string& key = cfg.string("key_field");
    if (!cfg.boolean("pass_through") && (segment == key || "previous_" + segment == key)) {
        return "`key_field` `" + key + "` is also an output field of `segment_field` `" + segment +
               "`; choose different names";
    }
    if (cfg.string("default").empty()) {
        return "`default` must name a segment; it is empty";
    }
    return "";
}

}  // namespace

ComponentSpec segment_spec() {
    return OperatorSpec("segment")
        .summary(
            "Assigns each key a segment from rules on its profile fields and emits the "
            "segment when it changes.")
        .description(
            "Reads records such as `profile` output. Each record is tested against `rules` in "
            "order; the first rule whose conditions all hold names the segment, else "
            "`default`. A record is emitted only when its key's segment differs from the "
            "key's previous one (the first record of a key always emits): `{<key_field>, "
            "<segment_field>, previous_<segment_field>}` with the input's event time "
            "(previous is null for a new key), or the whole input record plus those two "
            "fields with `pass_through: true`.\n\n"
            "A rule is `{name: NAME, when: {FIELD: CONDITION, ...}}`. A condition is a "
            "comparison `>`, `>=`, `<`, `<=`, `==` or `!=` followed by a number, a string, "
            "`true`/`false` or a percentile `pNN` (0 to 100, decimals allowed, ordering "
            "comparisons only); a bare value means `==`. Numbers compare numerically, strings "
            "and booleans only with `==`/`!=`. A record without the field (or with null, or "
            "with a value of another type) fails the condition, except `!=` on a value of "
            "another type, which holds; so a rule using a missing field does not match.\n\n"
            "Percentiles are running: for each field with a percentile condition, every "
            "record with a numeric value adds it to a quantile sketch (KLL, exact up to 200 "
            "values, about 1% rank error beyond) BEFORE the record is classified; `pNN` is "
            "then the smallest seen value v with at least NN% of values <= v. Thresholds are "
            "re-read from the sketch after every value while fewer than 1024 values were "
            "seen, then every count/1024 values. The sketch covers the records this instance "
            "(shard) has seen, so with parallelism > 1 each shard has its own percentiles; "
            "records from `profile` weigh active keys more, since they emit more often.")
        .keyed(KeyMode::kRequired)
        .param(Param::list("rules", ParamType::kMap)
                   .required()
                   .doc("Ordered rules `{name, when: {field: condition}}`; the first rule "
                        "whose conditions all hold wins.")
                   .example("[{name: engaged, when: {dwell_avg: \"> p75\", frequency: \">= "
                            "10\"}}, {name: buyer, when: {purchases: \">= 1\"}}]"))
        .param(Param::string("default").default_value("other").doc(
            "The segment of a record that matches no rule."))
        .param(Param::string("segment_field")
                   .default_value("segment")
                   .doc("Output field with the segment; the previous one is in "
                        "`previous_<segment_field>`."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Output field that holds the key (ignored with `pass_through`)."))
        .param(Param::boolean("pass_through")
                   .default_value(false)
                   .doc("Emit the whole input record with the segment fields added, instead "
                        "of only the key and the segment fields."))
        .keyed_state<std::string>("segments", "Per key: its current segment.")
        .global_state<SegmentStats>(
            "percentiles",
            "Per instance (shard): a quantile sketch per field used by a percentile condition, "
            "and the thresholds last read from it.")
        .rule(check_rules)
        .example("Engagement segments from profiles", R"(operators:
  profiles:
    type: profile
    input: clicks
    key: user_id
  segments:
    type: segment
    input: profiles
    key: user_id
    rules:
      - {name: buyer, when: {purchases: ">= 1"}}
      - {name: engaged, when: {dwell_avg: "> p75", frequency: ">= 10"}}
      - {name: fading, when: {engagement: "< p25"}}
    default: casual
)")
        .factory(make_component<Operator, Segment>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(segment) {
    return eddy::segment_spec();
}
