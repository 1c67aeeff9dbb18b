// SPDX-License-Identifier: Apache-2.0
// normalize: the operator (per record: check every input, then learn and write).
#include "eddy/operator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/state.h"

#include "normalize/normalize.h"

namespace eddy {
namespace {

/// Numbers beyond this magnitude could overflow a running variance or a
/// min-max range; zscore and minmax treat them as invalid.
constexpr double kMaxMagnitude = 1e100;

class Vocabulary {
public:
    void assign(const std::vector<std::string>& values) {
        map_.clear();
        for (size_t i = 0; i < values.size(); ++i) {
            map_.emplace(values[i], static_cast<int64_t>(i));
        }
    }
    int64_t find(std::string_view v) const {
        auto it = map_.find(v);
        return it == map_.end() ? -1 : it->second;
    }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> map_;
};

enum class Input : uint8_t { kMissing, kValid, kInvalid };

class Normalize final : public Operator {
public:
    explicit Normalize(const Config& cfg)
        : min_count_(static_cast<uint64_t>(cfg.integer("min_count"))),
          invalid_to_errors_(cfg.string("on_invalid") == "error") {
        std::string error =
            parse_normalize_fields(cfg.value("fields"), cfg.boolean("replace"), configs_);
        (void)error;  // validated by check_normalize before the factory runs
        layout_ = normalize_layout(configs_);
        entries_.resize(configs_.size());
        for (size_t i = 0; i < configs_.size(); ++i) {
            Entry& e = entries_[i];
            e.config = &configs_[i];
            e.vocabulary.assign(configs_[i].values);
            if (configs_[i].learns()) {
                e.slot = static_cast<int>(slots_.size());
                slots_.push_back(&configs_[i]);
            }
        }
        inputs_.resize(entries_.size());
        status_.resize(entries_.size());
    }

    Status open(OpenContext& ctx) override {
        ctx.register_state(state_);
        for (Entry& e : entries_) {
            e.input = ctx.field(e.config->field);
            e.output = ctx.field(e.config->output);
            if (e.config->method == NormalizeMethod::kOneHot) {
                for (const std::string& value : e.config->values) {
                    e.columns.push_back(ctx.field(e.config->output + "_" + value));
                }
            }
        }
        invalid_total_ = ctx.counter("normalize_invalid_total",
                                     "Values normalize could not use (wrong type or range).");
        unknown_total_ = ctx.counter(
            "normalize_unknown_categories_total",
            "Categories outside a configured vocabulary or beyond a learned index's max_values.");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        // Every input is checked before any statistic changes, so that a
        // rejected record leaves no trace in the statistics.
        for (size_t i = 0; i < entries_.size(); ++i) {
            const Value* v = record.get(entries_[i].input);
            inputs_[i] = v;
            if (v == nullptr || v->is_null()) {
                status_[i] = Input::kMissing;
            } else if (valid(*entries_[i].config, *v)) {
                status_[i] = Input::kValid;
            } else {
                status_[i] = Input::kInvalid;
                invalid_total_.add();
                if (invalid_to_errors_) {
                    out.error(record, reason(*entries_[i].config, *v));
                    return;
                }
            }
        }
        Record& r = out.append();
        r.assign(record);
        NormalizeGroup* group = nullptr;
        for (size_t i = 0; i < entries_.size(); ++i) {
            const Entry& e = entries_[i];
            if (status_[i] == Input::kMissing) {
                continue;
            }
            if (status_[i] == Input::kInvalid) {
                write_null(e, r);
                continue;
            }
            NormalizeStats* stats = nullptr;
            if (e.slot >= 0) {
                if (group == nullptr) {
                    group = &state_.get_or_create(record.key());
                    if (group->layout != layout_) {
                        adopt_layout(*group);
                    }
                }
                stats = &group->stats[static_cast<size_t>(e.slot)];
            }
            apply(e, *inputs_[i], stats, r);
        }
    }

private:
    struct Entry {
        const NormalizeEntry* config = nullptr;
        int slot = -1;  // index into NormalizeGroup::stats; -1: learns nothing
        FieldId input = kInvalidField;
        FieldId output = kInvalidField;
        std::vector<FieldId> columns;  // one_hot: one per configured value
        Vocabulary vocabulary;         // one_hot, index with `values`
    };

    static bool is_category(const Value& v) { return v.is_string() || v.is_int() || v.is_bool(); }

    static bool valid(const NormalizeEntry& c, const Value& v) {
        switch (c.method) {
            case NormalizeMethod::kZscore:
            case NormalizeMethod::kMinmax:
                return v.is_number() && std::fabs(v.as_double()) <= kMaxMagnitude;
            case NormalizeMethod::kPercentile:
                return v.is_number() && std::isfinite(v.as_double());
            case NormalizeMethod::kLog1p:
                return v.is_number() && std::isfinite(v.as_double()) && v.as_double() > -1;
            case NormalizeMethod::kOneHot:
            case NormalizeMethod::kIndex:
                return is_category(v);
        }
        return false;
    }

    /// Why `v` is invalid for `c` (cold: bad records only).
    static std::string reason(const NormalizeEntry& c, const Value& v) {
        std::string method = normalize_method_name(c.method);
        std::string field = "`" + c.field + "`";
        if (c.method == NormalizeMethod::kOneHot || c.method == NormalizeMethod::kIndex) {
            return "field " + field + " must be a string, an integer or a boolean for " + method +
                   ", got a " + value_type_name(v.type());
        }
        if (!v.is_number()) {
            return "field " + field + " must be a number for " + method + ", got a " +
                   value_type_name(v.type());
        }
        char text[32];
        std::snprintf(text, sizeof text, "%g", v.as_double());
        if (c.method == NormalizeMethod::kLog1p && std::isfinite(v.as_double())) {
            return "field " + field + " is " + text + "; log1p needs a number above -1";
        }
        if (!std::isfinite(v.as_double())) {
            return "field " + field + " is " + text + "; " + method + " needs a finite number";
        }
        return "field " + field + " is " + text + "; " + method +
               " takes numbers up to 1e100 in magnitude";
    }

    void write_null(const Entry& e, Record& r) const {
        if (e.config->method == NormalizeMethod::kOneHot) {
            if (e.config->erase_input) {
                (void)r.erase(e.input);
            }
            for (FieldId id : e.columns) {
                r.set_null(id);
            }
        } else {
            r.set_null(e.output);
        }
    }

    /// Gives a group one statistics entry per learning (field, method), kept
    /// from what it had when it was written by another configuration.
    void adopt_layout(NormalizeGroup& g) const {
        std::vector<NormalizeStats> next(slots_.size());
        for (size_t j = 0; j < slots_.size(); ++j) {
            const NormalizeEntry& c = *slots_[j];
            auto old = std::find_if(g.stats.begin(), g.stats.end(), [&c](const NormalizeStats& s) {
                return s.method == c.method && s.field == c.field;
            });
            if (old != g.stats.end()) {
                next[j] = std::move(*old);
            } else {
                next[j].field = c.field;
                next[j].method = c.method;
            }
            if (c.method == NormalizeMethod::kPercentile && !next[j].sketch) {
                next[j].sketch = std::make_unique<QuantileSketch>(c.k);
            }
        }
        g.stats = std::move(next);
        g.layout = layout_;
    }

    /// The category as text; ints are written into `buffer`.
    static std::string_view category_text(const Value& v, char (&buffer)[24]) {
        if (v.is_string()) {
            return v.as_string();
        }
        if (v.is_bool()) {
            return v.as_bool() ? "true" : "false";
        }
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v.as_int());
        (void)ec;
        return {buffer, static_cast<size_t>(end - buffer)};
    }

    void apply(const Entry& e, const Value& v, NormalizeStats* s, Record& r) {
        const NormalizeEntry& c = *e.config;
        switch (c.method) {
            case NormalizeMethod::kZscore: {
                double x = v.as_double();
                ++s->count;
                double n = static_cast<double>(s->count);
                double delta = x - s->mean;
                s->mean += delta / n;
                s->m2 += delta * (x - s->mean);
                if (s->count < min_count_) {
                    r.set_null(e.output);
                    return;
                }
                double variance = s->m2 / n;
                r.set(e.output, variance > 0 ? (x - s->mean) / std::sqrt(variance) : 0.0);
                return;
            }
            case NormalizeMethod::kPercentile: {
                double x = v.as_double();
                s->sketch->add(x);
                if (s->sketch->count() < min_count_) {
                    r.set_null(e.output);
                    return;
                }
                r.set(e.output, s->sketch->rank(x));
                return;
            }
            case NormalizeMethod::kMinmax: {
                double x = v.as_double();
                if (s != nullptr) {
                    if (s->count == 0) {
                        s->min = s->max = x;
                    } else {
                        s->min = std::min(s->min, x);
                        s->max = std::max(s->max, x);
                    }
                    ++s->count;
                    if (s->count < min_count_) {
                        r.set_null(e.output);
                        return;
                    }
                }
                double lo = c.min ? *c.min : s->min;
                double hi = c.max ? *c.max : s->max;
                double y = hi > lo ? (x - lo) / (hi - lo) : 0.0;
                r.set(e.output, c.clip ? std::clamp(y, 0.0, 1.0) : y);
                return;
            }
            case NormalizeMethod::kLog1p:
                r.set(e.output, std::log1p(v.as_double()));
                return;
            case NormalizeMethod::kOneHot: {
                char buffer[24];
                int64_t hot = e.vocabulary.find(category_text(v, buffer));
                if (hot < 0) {
                    unknown_total_.add();
                }
                if (c.erase_input) {
                    (void)r.erase(e.input);
                }
                for (size_t i = 0; i < e.columns.size(); ++i) {
                    r.set(e.columns[i], static_cast<int64_t>(static_cast<int64_t>(i) == hot));
                }
                return;
            }
            case NormalizeMethod::kIndex: {
                char buffer[24];
                std::string_view text = category_text(v, buffer);
                int64_t index = -1;
                if (s == nullptr) {
                    index = e.vocabulary.find(text);
                } else {
                    index = s->find(text);
                    if (index < 0 && static_cast<int64_t>(s->values.size()) < c.max_values) {
                        index = s->add(text);
                    }
                }
                if (index < 0) {
                    unknown_total_.add();
                }
                r.set(e.output, index);
                return;
            }
        }
    }

    uint64_t min_count_;
    bool invalid_to_errors_;
    std::vector<NormalizeEntry> configs_;
    std::vector<Entry> entries_;
    std::vector<const NormalizeEntry*> slots_;  // the entries that learn, by slot
    uint64_t layout_ = 0;

    KeyedValue<NormalizeGroup> state_{"stats"};
    Counter invalid_total_;
    Counter unknown_total_;

    std::vector<const Value*> inputs_;  // scratch: per entry, its input value
    std::vector<Input> status_;         // scratch: per entry, whether the input is usable
};

}  // namespace

std::unique_ptr<Operator> make_normalize(const Config& cfg) {
    return std::make_unique<Normalize>(cfg);
}

}  // namespace eddy
