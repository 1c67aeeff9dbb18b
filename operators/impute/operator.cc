// SPDX-License-Identifier: Apache-2.0
// The `impute` operator: per record, fills each missing field from its
// strategy, then lets the observed values teach the statistics.
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/state.h"

#include "common/local_counter.h"
#include "impute/impute.h"

namespace eddy::impute {
namespace {

/// A field's resolved ids, counters and, for statistics, where they live.
struct Slot {
    FieldId id = kInvalidField;
    FieldId group = kInvalidField;  // group_by, or kInvalidField
    FieldId flag = kInvalidField;   // <field><suffix>, or kInvalidField
    size_t stats = 0;               // mean, median: index into ImputeStats::fields
    size_t last = 0;                // last: index into LastValues::fields
    LocalCounter filled;
    LocalCounter unfilled;
    LocalCounter ungrouped;
};

bool is_statistic(Strategy s) {
    return s == Strategy::kMean || s == Strategy::kMedian;
}

class Impute final : public Operator {
public:
    Impute(const Config& cfg, std::vector<FieldRule> rules)
        : rules_(std::move(rules)),
          suffix_(cfg.string("flag_suffix")),
          max_groups_(static_cast<size_t>(cfg.integer("max_groups"))) {
        for (const FieldRule& r : rules_) {
            if (r.strategy == Strategy::kLast) {
                last_names_.push_back(r.name);
            }
        }
    }

    Status open(OpenContext& ctx) override {
        ctx.register_state(last_);
        ctx.register_state(stats_);
        slots_.resize(rules_.size());
        size_t last = 0;
        for (size_t i = 0; i < rules_.size(); ++i) {
            const FieldRule& r = rules_[i];
            Slot& s = slots_[i];
            s.id = ctx.field(r.name);
            if (!r.group_by.empty()) {
                s.group = ctx.field(r.group_by);
            }
            if (r.flag) {
                s.flag = ctx.field(r.name + suffix_);
            }
            if (r.strategy == Strategy::kLast) {
                s.last = last++;
            }
            MetricLabels labels = {{"field", r.name}};
            s.filled.counter = ctx.counter("impute_filled_total", "Missing values filled.", labels);
            s.unfilled.counter = ctx.counter(
                "impute_unfilled_total",
                "Missing values left missing: no statistic or last value yet, and no fallback.",
                labels);
            if (s.group != kInvalidField) {
                s.ungrouped.counter = ctx.counter(
                    "impute_ungrouped_total",
                    "Values that taught only the overall statistic because `max_groups` groups "
                    "existed.",
                    labels);
            }
        }
        for (size_t i = 0; i < rules_.size(); ++i) {
            FieldId id = slots_[i].id;
            if (index_.size() <= id) {
                index_.resize(id + 1, -1);
            }
            index_[id] = static_cast<int32_t>(i);
        }
        values_.assign(rules_.size(), nullptr);
        fills_.assign(rules_.size(), Value());
        filled_.assign(rules_.size(), 0);
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        if (!resolved_) {
            resolve();  // here, not in open(): the runtime restores state after open()
        }
        current_ = nullptr;
        // One pass over the record finds every rule's value.
        std::fill(values_.begin(), values_.end(), nullptr);
        for (const Field& f : record.fields()) {
            if (f.id < index_.size() && index_[f.id] >= 0) {
                values_[static_cast<size_t>(index_[f.id])] = &f.value;
            }
        }
        bool changed = false;
        for (size_t i = 0; i < rules_.size(); ++i) {
            const FieldRule& rule = rules_[i];
            Slot& slot = slots_[i];
            const Value* v = values_[i];
            filled_[i] = 0;
            changed = changed || slot.flag != kInvalidField;
            if (!missing(rule, v)) {
                observe(rule, slot, record, *v);
                continue;
            }
            if (estimate(rule, slot, record, fills_[i])) {
                filled_[i] = 1;
                changed = true;
                slot.filled.add();
            } else {
                slot.unfilled.add();
            }
        }
        if (!changed) {
            out.emit(record);
            return;
        }
        Record& r = out.append();
        r.assign(record);
        for (size_t i = 0; i < rules_.size(); ++i) {
            if (filled_[i] != 0) {
                r.set_value(slots_[i].id, fills_[i]);
            }
            if (slots_[i].flag != kInvalidField) {
                r.set(slots_[i].flag, filled_[i] != 0);
            }
        }
    }

    void process_batch(const Batch& batch, Emitter& out) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            process(batch[i], out);
        }
        flush_counters();
    }

    void on_watermark(int64_t, Emitter&) override { flush_counters(); }
    void close(Emitter&) override { flush_counters(); }

private:
    static bool missing(const FieldRule& rule, const Value* v) {
        if (v == nullptr || v->is_null()) {
            return true;
        }
        for (const Literal& m : rule.missing_values) {
            if (m.matches(*v)) {
                return true;
            }
        }
        return false;
    }

    /// Maps each statistic field to its entry in the (possibly restored)
    /// statistics by name, adding entries for new fields.
    void resolve() {
        resolved_ = true;
        std::vector<FieldStats>& fields = stats_.get().fields;
        for (size_t i = 0; i < rules_.size(); ++i) {
            if (!is_statistic(rules_[i].strategy)) {
                continue;
            }
            size_t j = 0;
            while (j < fields.size() && fields[j].field != rules_[i].name) {
                ++j;
            }
            if (j == fields.size()) {
                fields.emplace_back();
                fields.back().field = rules_[i].name;
            }
            slots_[i].stats = j;
        }
    }

    /// The record's key's last values, laid out as `last_names_` (a key
    /// stored by a run with other `last` fields is re-laid once);
    /// nullptr when the key has none and `create` is false.
    LastValues* last_values(const Record& record, bool create) {
        if (current_ == nullptr) {
            current_ = create ? &last_.get_or_create(record.key()) : last_.find(record.key());
            if (current_ == nullptr) {
                return nullptr;
            }
            if (!laid_out(*current_)) {
                lay_out(*current_);
            }
        }
        return current_;
    }

    bool laid_out(const LastValues& l) const {
        if (l.fields.size() != last_names_.size()) {
            return false;
        }
        for (size_t i = 0; i < last_names_.size(); ++i) {
            if (l.fields[i].first != last_names_[i]) {
                return false;
            }
        }
        return true;
    }

    void lay_out(LastValues& l) const {
        std::vector<std::pair<std::string, OwnedValue>> fields(last_names_.size());
        for (size_t i = 0; i < last_names_.size(); ++i) {
            fields[i].first = last_names_[i];
            for (auto& [name, v] : l.fields) {
                if (name == last_names_[i]) {
                    fields[i].second = std::move(v);
                    break;
                }
            }
        }
        l.fields = std::move(fields);
    }

    /// The group statistic of the record, or nullptr (no group_by, a group
    /// that is missing or not a scalar, or none kept and `create` is false
    /// or `max_groups` is reached).
    RunningStat* group_stat(const Slot& slot, const Record& record, FieldStats& f, bool create,
                            bool& overflow) {
        overflow = false;
        if (slot.group == kInvalidField) {
            return nullptr;
        }
        const Value* g = record.get(slot.group);
        if (g == nullptr || g->is_null() || g->is_vector()) {
            return nullptr;
        }
        group_key_.clear();
        encode_state_key(*g, group_key_);
        if (auto it = f.groups.find(std::string_view(group_key_)); it != f.groups.end()) {
            return &it->second;
        }
        if (!create) {
            return nullptr;
        }
        if (f.groups.size() >= max_groups_) {
            overflow = true;
            return nullptr;
        }
        return &f.groups.try_emplace(group_key_).first->second;
    }

    void observe(const FieldRule& rule, Slot& slot, const Record& record, const Value& v) {
        if (rule.strategy == Strategy::kLast) {
            last_values(record, true)->fields[slot.last].second.assign(v);
            return;
        }
        if (!is_statistic(rule.strategy) || !v.is_number()) {
            return;
        }
        double x = v.as_double();
        if (!std::isfinite(x)) {
            return;
        }
        bool median = rule.strategy == Strategy::kMedian;
        FieldStats& f = stats_.get().fields[slot.stats];
        f.all.add(x, v.is_int(), median);
        bool overflow = false;
        if (RunningStat* g = group_stat(slot, record, f, true, overflow)) {
            g->add(x, v.is_int(), median);
        } else if (overflow) {
            slot.ungrouped.add();
        }
    }

    /// The value to fill the field with; false when there is none.
    bool estimate(const FieldRule& rule, const Slot& slot, const Record& record, Value& fill) {
        switch (rule.strategy) {
            case Strategy::kConstant:
            case Strategy::kUnknown:
                fill = rule.value.view();
                return true;
            case Strategy::kLast: {
                LastValues* l = last_values(record, false);
                if (l != nullptr && l->fields[slot.last].second.type != ValueType::kNull) {
                    fill = l->fields[slot.last].second.view();
                    return true;
                }
                break;
            }
            case Strategy::kMean:
            case Strategy::kMedian: {
                FieldStats& f = stats_.get().fields[slot.stats];
                bool overflow = false;
                RunningStat* s = group_stat(slot, record, f, false, overflow);
                if (s == nullptr || s->count < rule.min_count) {
                    s = &f.all;
                }
                if (s->count >= rule.min_count && s->count > 0) {
                    fill = statistic(rule.strategy, *s);
                    return true;
                }
                break;
            }
        }
        if (rule.fallback) {
            fill = rule.fallback->view();
            return true;
        }
        return false;
    }

    static Value statistic(Strategy strategy, RunningStat& s) {
        if (strategy == Strategy::kMean) {
            return Value::number(s.mean);
        }
        double m = s.current_median();
        return s.all_ints ? Value::integer(static_cast<int64_t>(m)) : Value::number(m);
    }

    void flush_counters() {
        for (Slot& s : slots_) {
            s.filled.flush();
            s.unfilled.flush();
            s.ungrouped.flush();
        }
    }

    std::vector<FieldRule> rules_;
    std::string suffix_;
    size_t max_groups_;
    std::vector<std::string> last_names_;  // the `last` fields, in order
    std::vector<Slot> slots_;              // per rule

    KeyedValue<LastValues> last_{"last"};
    Global<ImputeStats> stats_{"statistics"};
    bool resolved_ = false;

    std::vector<int32_t> index_;  // by field id: the rule's index, or -1

    // Per record, reused.
    std::vector<const Value*> values_;  // per rule: the record's value, or nullptr
    LastValues* current_ = nullptr;     // the record's key's last values, once looked up
    std::vector<Value> fills_;          // per rule: the fill, when filled_
    std::vector<uint8_t> filled_;       // per rule
    std::string group_key_;
};

}  // namespace

Result<std::unique_ptr<Operator>> make_operator(const Config& cfg) {
    std::vector<FieldRule> rules;
    std::vector<std::string> problems = parse_rules(cfg, rules);
    if (!problems.empty()) {
        return config_problems(cfg, problems);
    }
    return std::unique_ptr<Operator>(std::make_unique<Impute>(cfg, std::move(rules)));
}

}  // namespace eddy::impute
