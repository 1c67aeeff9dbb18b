// SPDX-License-Identifier: Apache-2.0
// validate: the operator. Per record, one pass over the fields finds each
// rule's value; reasons are built in a reused buffer.
#include "eddy/operator.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/local_counter.h"
#include "validate/validate.h"

namespace eddy::validate {
namespace {

enum class Unknown { kAllow, kDrop, kReject };

Unknown parse_unknown(const std::string& s) {
    if (s == "drop") {
        return Unknown::kDrop;
    }
    return s == "reject" ? Unknown::kReject : Unknown::kAllow;
}

class Validate final : public Operator {
public:
    Validate(const Config& cfg, std::vector<FieldRule> rules)
        : rules_(std::move(rules)), unknown_(parse_unknown(cfg.string("unknown_fields"))) {}

    Status open(OpenContext& ctx) override {
        ctx_ = &ctx;
        for (size_t i = 0; i < rules_.size(); ++i) {
            FieldId id = ctx.field(rules_[i].name);
            if (index_.size() <= id) {
                index_.resize(id + 1, -1);
            }
            index_[id] = static_cast<int32_t>(i);
            MetricLabels labels = {{"field", rules_[i].name}};
            violations_.push_back({ctx.counter(
                "validate_violations_total", "Values that broke a rule of their field.", labels)});
            coerced_.push_back(
                {ctx.counter("validate_coerced_total", "Values coerced to their type.", labels)});
        }
        unknown_count_.counter =
            ctx.counter("validate_unknown_fields_total",
                        "Fields not in the schema that were dropped or rejected.");
        seen_.assign(rules_.size(), nullptr);
        conformed_.assign(rules_.size(), Value());
        text_.assign(rules_.size(), std::string());
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        std::fill(seen_.begin(), seen_.end(), nullptr);
        reasons_.clear();
        bool drop = false;
        for (const Field& f : record.fields()) {
            if (f.id < index_.size() && index_[f.id] >= 0) {
                seen_[static_cast<size_t>(index_[f.id])] = &f.value;
            } else if (unknown_ != Unknown::kAllow) {
                unknown_count_.add();
                drop = true;
                if (unknown_ == Unknown::kReject) {
                    start_reason(name_of(f.id));
                    reasons_ += " is not in the schema";
                }
            }
        }
        bool changed = false;
        for (size_t i = 0; i < rules_.size(); ++i) {
            const FieldRule& rule = rules_[i];
            const Value* v = seen_[i];
            if (v == nullptr || v->is_null()) {
                if (rule.required) {
                    violations_[i].add();
                    start_reason(rule.name);
                    reasons_ += v == nullptr ? " is required but missing" : " is required but null";
                }
                if (v != nullptr) {
                    conformed_[i] = *v;
                }
                continue;
            }
            bool coerced = false;
            if (!conform(i, *v, coerced)) {
                violations_[i].add();
                start_reason(rule.name);
                reasons_ += " must be ";
                reasons_ += type_noun(rule.type);
                reasons_ += ", got ";
                reasons_ += value_type_name(v->type());
                if (!v->is_vector()) {
                    reasons_ += ' ';
                    append_shown(*v, reasons_);
                }
                continue;
            }
            if (coerced) {
                coerced_[i].add();
                changed = true;
            }
            if (!check(rule, conformed_[i])) {
                violations_[i].add();
            }
        }
        if (!reasons_.empty()) {
            out.error(record, reasons_);
            return;
        }
        if (!changed && !drop) {
            out.emit(record);
            return;
        }
        Record& r = out.append();
        r.set_time(record.time());
        for (const Field& f : record.fields()) {
            if (f.id < index_.size() && index_[f.id] >= 0) {
                r.set_value(f.id, conformed_[static_cast<size_t>(index_[f.id])]);
            } else if (unknown_ == Unknown::kAllow) {
                r.set_value(f.id, f.value);
            }
        }
    }

    void process_batch(const Batch& batch, Emitter& out) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            process(batch[i], out);
        }
        flush_counters();
    }

    void close(Emitter&) override { flush_counters(); }

private:
    /// Sets conformed_[i] to `v` as rule i's type, coercing when the rule
    /// allows it (then `coerced` is set); false when `v` cannot be one.
    bool conform(size_t i, const Value& v, bool& coerced) {
        const FieldRule& rule = rules_[i];
        Value& out = conformed_[i];
        out = v;
        auto set = [&](Value c) {
            out = c;
            coerced = true;
            return true;
        };
        switch (rule.type) {
            case FieldType::kAny:
                return true;
            case FieldType::kVector:
                return v.is_vector();
            case FieldType::kString: {
                if (v.is_string()) {
                    return true;
                }
                if (!rule.coerce || !(v.is_number() || v.is_bool())) {
                    return false;
                }
                std::string& text = text_[i];
                text.clear();
                append_shown(v, text);
                return set(Value::string_view(text));
            }
            case FieldType::kInt: {
                if (v.is_int()) {
                    return true;
                }
                // JSON has one number type: 3.0 is the integer 3.
                std::optional<Value> n =
                    v.is_double() ? std::optional<Value>(v) : coerced_number(rule, v);
                if (!n) {
                    return false;
                }
                if (n->is_int()) {
                    return set(*n);
                }
                auto whole = integral(n->as_double());
                return whole && set(Value::integer(*whole));
            }
            case FieldType::kNumber: {
                if (v.is_number()) {
                    return true;
                }
                std::optional<Value> n = coerced_number(rule, v);
                return n && set(*n);
            }
            case FieldType::kBool: {
                if (v.is_bool()) {
                    return true;
                }
                if (!rule.coerce) {
                    return false;
                }
                if (v.is_string()) {
                    auto b = bool_text(v.as_string());
                    return b && set(Value::boolean(*b));
                }
                if (v.is_number() && (v.as_double() == 0 || v.as_double() == 1)) {
                    return set(Value::boolean(v.as_double() == 1));
                }
                return false;
            }
        }
        return false;
    }

    /// With the rule's `coerce`, a bool (1 or 0) or a string holding a
    /// number, as an int when the string is an integer and a double otherwise.
    static std::optional<Value> coerced_number(const FieldRule& rule, const Value& v) {
        if (!rule.coerce) {
            return std::nullopt;
        }
        if (v.is_bool()) {
            return Value::integer(v.as_bool() ? 1 : 0);
        }
        if (v.is_string()) {
            if (auto n = int_text(v.as_string())) {
                return Value::integer(*n);
            }
            if (auto d = number_text(v.as_string())) {
                return Value::number(*d);
            }
        }
        return std::nullopt;
    }

    /// Checks enum, range, length and pattern; appends a reason per failure.
    bool check(const FieldRule& rule, const Value& v) {
        size_t before = reasons_.size();
        if (!rule.allowed.empty()) {
            bool found = false;
            for (const Literal& a : rule.allowed) {
                if (a.matches(v)) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                start_reason(rule.name);
                reasons_ += " must be one of ";
                reasons_ += rule.allowed_text;
                reasons_ += ", got ";
                append_shown(v, reasons_);
            }
        }
        if (v.is_number()) {
            double d = v.as_double();
            if (rule.min && d < *rule.min) {
                start_reason(rule.name);
                reasons_ += " must be at least ";
                append_double(*rule.min, reasons_);
                reasons_ += ", got ";
                append_shown(v, reasons_);
            }
            if (rule.max && d > *rule.max) {
                start_reason(rule.name);
                reasons_ += " must be at most ";
                append_double(*rule.max, reasons_);
                reasons_ += ", got ";
                append_shown(v, reasons_);
            }
        }
        if ((rule.min_length || rule.max_length) && !lengths_fit(rule, v)) {
            int64_t n = v.is_string() ? code_points(v.as_string())
                                      : static_cast<int64_t>(v.as_vector().size());
            const char* unit = v.is_string() ? " characters long, got " : " items long, got ";
            if (rule.min_length && n < *rule.min_length) {
                start_reason(rule.name);
                reasons_ += " must be at least ";
                append_int(*rule.min_length, reasons_);
                reasons_ += unit;
                append_int(n, reasons_);
            }
            if (rule.max_length && n > *rule.max_length) {
                start_reason(rule.name);
                reasons_ += " must be at most ";
                append_int(*rule.max_length, reasons_);
                reasons_ += unit;
                append_int(n, reasons_);
            }
        }
        if (rule.pattern) {
            std::string_view s = v.as_string();
            if (!RE2::PartialMatch(s, *rule.pattern)) {
                start_reason(rule.name);
                reasons_ += " must match the pattern ";
                reasons_ += rule.pattern->pattern();
                reasons_ += ", got ";
                append_shown(v, reasons_);
            }
        }
        return reasons_.size() == before;
    }

    /// Whether a string's byte count alone proves its length within bounds
    /// (a character is 1 to 4 bytes), so that most strings are not counted.
    static bool lengths_fit(const FieldRule& rule, const Value& v) {
        if (!v.is_string()) {
            return false;
        }
        auto bytes = static_cast<int64_t>(v.as_string().size());
        return (!rule.max_length || bytes <= *rule.max_length) &&
               (!rule.min_length || (bytes + 3) / 4 >= *rule.min_length);
    }

    void start_reason(std::string_view field) {
        if (!reasons_.empty()) {
            reasons_ += "; ";
        }
        reasons_ += '`';
        reasons_ += field;
        reasons_ += '`';
    }

    /// A field's name for a reason; looked up once per field id (it takes a lock).
    std::string_view name_of(FieldId id) {
        if (names_.size() <= id) {
            names_.resize(id + 1);
        }
        if (names_[id].empty()) {
            names_[id] = ctx_->field_name(id);
        }
        return names_[id];
    }

    void flush_counters() {
        for (LocalCounter& c : violations_) {
            c.flush();
        }
        for (LocalCounter& c : coerced_) {
            c.flush();
        }
        unknown_count_.flush();
    }

    std::vector<FieldRule> rules_;
    Unknown unknown_;
    OpenContext* ctx_ = nullptr;
    std::vector<int32_t> index_;  // by field id: the rule's index, or -1
    std::vector<std::string> names_;
    std::vector<LocalCounter> violations_;  // per rule
    std::vector<LocalCounter> coerced_;     // per rule
    LocalCounter unknown_count_;

    // Per record, reused.
    std::vector<const Value*> seen_;  // per rule: the record's value, or nullptr
    std::vector<Value> conformed_;    // per rule: the value as it goes out
    std::vector<std::string> text_;   // per rule: characters of a value coerced to a string
    std::string reasons_;
};

}  // namespace

Result<std::unique_ptr<Operator>> make_operator(const Config& cfg) {
    std::vector<FieldRule> rules;
    std::vector<std::string> problems = parse_schema(cfg, rules);
    if (!problems.empty()) {
        return config_problems(cfg, problems);
    }
    return std::unique_ptr<Operator>(std::make_unique<Validate>(cfg, std::move(rules)));
}

}  // namespace eddy::validate
