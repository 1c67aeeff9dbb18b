// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/state.h"

#include "common/local_counter.h"
#include "next_action/next_action.h"

namespace eddy {
namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

enum class TimeBucket { kNone, kHourOfDay, kPartOfDay, kDayOfWeek, kWeekend };

TimeBucket time_bucket_of(const std::string& name) {
    if (name == "hour_of_day") {
        return TimeBucket::kHourOfDay;
    }
    if (name == "part_of_day") {
        return TimeBucket::kPartOfDay;
    }
    if (name == "day_of_week") {
        return TimeBucket::kDayOfWeek;
    }
    return name == "weekend" ? TimeBucket::kWeekend : TimeBucket::kNone;
}

/// The bucket of event time `t` (UTC): hour 0-23; night, morning, afternoon,
/// evening 0-3; Monday 0 to Sunday 6; weekday 0 or weekend 1.
uint8_t bucket(TimeBucket b, int64_t t) {
    int64_t day = t >= 0 ? t / kDayMs : (t - kDayMs + 1) / kDayMs;
    int64_t hour = (t - day * kDayMs) / kHourMs;
    int64_t weekday = ((day + 3) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
    switch (b) {
        case TimeBucket::kHourOfDay:
            return static_cast<uint8_t>(hour);
        case TimeBucket::kPartOfDay:
            return static_cast<uint8_t>(hour / 6);
        case TimeBucket::kDayOfWeek:
            return static_cast<uint8_t>(weekday);
        case TimeBucket::kWeekend:
            return weekday >= 5 ? 1 : 0;
        case TimeBucket::kNone:
            break;
    }
    return 0;
}

class NextAction final : public Operator {
public:
    explicit NextAction(const Config& cfg)
        : field_name_(cfg.string("field")),
          context_names_(cfg.strings("context")),
          time_bucket_(time_bucket_of(cfg.string("time_bucket"))),
          half_life_ms_(static_cast<double>(cfg.duration("half_life").count())),
          min_support_(cfg.number("min_support")),
          max_gap_ms_(cfg.duration("max_gap").count()),
          collapse_repeats_(cfg.boolean("collapse_repeats")) {
        output_.configure(cfg, kNextActionNames);
        limits_.actions = static_cast<uint32_t>(cfg.integer("max_actions"));
        limits_.contexts = static_cast<uint32_t>(cfg.integer("max_contexts"));
        limits_.rows = static_cast<uint64_t>(cfg.integer("max_rows"));
        limits_.transitions = static_cast<uint32_t>(cfg.integer("max_transitions"));
    }

    Status open(OpenContext& ctx) override {
        ctx.register_state(users_);
        ctx.register_state(model_);
        model_.get().set_limits(limits_);
        model_.get().set_half_life(half_life_ms_);
        parallelism_ = ctx.parallelism();
        field_ = ctx.field(field_name_);
        for (const std::string& name : context_names_) {
            context_.push_back(ctx.field(name));
        }
        order_out_ = ctx.field("order");
        if (Status s = output_.open(ctx, "next_action"); !s.is_ok()) {
            return s;
        }
        rows_full_.counter =
            ctx.counter("next_action_unlearned_total",
                        "Transitions not learned because the model holds `max_rows` rows.");
        rows_gauge_ = ctx.gauge("next_action_rows", "Transition rows the model holds.");
        top_.reset(output_.top_n());
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        const Value* v = record.get(field_);
        if (v == nullptr || v->is_null()) {
            out.error(record, "the action field `" + field_name_ + "` is missing");
            return;
        }
        if (!encode_item_id(*v, action_scratch_)) {
            out.error(record, "the action field `" + field_name_ +
                                  "` must be a string or an integer, got a " +
                                  value_type_name(v->type()));
            return;
        }
        NextActionModel& model = model_.get();
        int64_t t = record.time();
        uint32_t context = 0;
        if (!context_.empty() || time_bucket_ != TimeBucket::kNone) {
            if (!context_key(record, t, out)) {
                return;
            }
            context = model.context(context_scratch_);
            if (context == kNoItem) {
                out.error(record, "more than `max_contexts` (" + std::to_string(limits_.contexts) +
                                      ") distinct contexts; the event is not learned");
                return;
            }
        }
        bool created = false;
        uint32_t action = model.action(action_scratch_, created);
        if (action == kNoItem) {
            out.error(record, "more than `max_actions` (" + std::to_string(limits_.actions) +
                                  ") distinct values of `" + field_name_ +
                                  "`; the event is not learned");
            return;
        }
        ActionHistory& user = users_.get_or_create(record.key());
        if (max_gap_ms_ > 0 && user.last_time != kNoRecTime && t - user.last_time > max_gap_ms_) {
            user.prev2 = kNoItem;  // a new session starts a new chain
            user.prev = kNoItem;
        }
        user.last_time = std::max(user.last_time, t);
        bool repeat = collapse_repeats_ && user.prev == action;
        if (!repeat) {
            // A transition belongs to the context of the state it leaves, as
            // the prediction made then: the same row predicts and scores.
            if (output_.evaluate() && !created && user.prev != kNoItem) {
                predict(model, user, user.context, t);
                output_.score(top_.sorted(), action, model.counts());
            }
            learn(model, user, user.context, action, t);
        }
        user.context = context;
        if (output_.emit_enabled()) {
            ChainOrder order = predict(model, user, context, t);
            Record& r = output_.emit(out, t, record.key(), top_.sorted(), model.actions());
            r.set(order_out_, static_cast<int64_t>(order));
        }
        int64_t n = model.counts().count_event();
        if ((n & 1023) == 0) {
            output_.items.set(model.actions().size());
            rows_gauge_.set(static_cast<int64_t>(model.rows()));
        }
        if (output_.evaluate() && n % output_.metrics_every() == 0) {
            output_.emit_metrics(out, t, model.counts());
        }
        last_time_ = std::max(last_time_, t);
    }

    void process_batch(const Batch& batch, Emitter& out) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            process(batch[i], out);
        }
        rows_full_.flush();
    }

    void close(Emitter& out) override {
        NextActionModel& model = model_.get();
        rows_full_.flush();
        output_.items.set(model.actions().size());
        rows_gauge_.set(static_cast<int64_t>(model.rows()));
        // The last shard to finish reports the final metrics of all shards.
        if (output_.evaluate() && model.counts().close_shard() == parallelism_) {
            output_.emit_metrics(out, last_time_, model.counts());
        }
    }

private:
    /// The event's context into context_scratch_: per context field a 4-byte
    /// length and the value (encode_item_id, "n" for null or missing, "b0" or
    /// "b1"), then the time bucket ("t" and its number). False (after sending
    /// the record to `errors`) for a value of another type.
    bool context_key(const Record& record, int64_t t, Emitter& out) {
        context_scratch_.clear();
        for (size_t i = 0; i < context_.size(); ++i) {
            const Value* v = record.get(context_[i]);
            if (v == nullptr || v->is_null()) {
                part_scratch_.assign("n");
            } else if (v->is_bool()) {
                part_scratch_.assign(v->as_bool() ? "b1" : "b0");
            } else if (!encode_item_id(*v, part_scratch_)) {
                out.error(record, "the context field `" + context_names_[i] +
                                      "` must be a string, an integer or a boolean, got a " +
                                      value_type_name(v->type()));
                return false;
            }
            append_part(part_scratch_);
        }
        if (time_bucket_ != TimeBucket::kNone) {
            char part[2] = {'t', static_cast<char>(bucket(time_bucket_, t))};
            append_part(std::string_view(part, sizeof part));
        }
        return true;
    }

    void append_part(std::string_view part) {
        auto size = static_cast<uint32_t>(part.size());
        context_scratch_.append(reinterpret_cast<const char*>(&size), sizeof size);
        context_scratch_.append(part);
    }

    /// Adds the event to global popularity and, given the user's previous
    /// actions, to its first- and second-order rows; advances the chain.
    void learn(NextActionModel& model, ActionHistory& user, uint32_t context, uint32_t action,
               int64_t t) {
        learned(model.learn(ChainOrder::kPopularity, 0, 0, 0, action, t, half_life_ms_));
        if (user.prev != kNoItem) {
            learned(model.learn(ChainOrder::kFirst, context, kNoItem, user.prev, action, t,
                                half_life_ms_));
            if (user.prev2 != kNoItem) {
                learned(model.learn(ChainOrder::kSecond, context, user.prev2, user.prev, action, t,
                                    half_life_ms_));
            }
        }
        user.prev2 = user.prev;
        user.prev = action;
    }

    void learned(bool ok) {
        if (!ok) {
            rows_full_.add();
        }
    }

    bool supported(double support) const { return support > 0 && support >= min_support_; }

    /// The user's next actions into top_: the second-order row when it has
    /// `min_support`, else the first-order row when it has, else popularity.
    ChainOrder predict(const NextActionModel& model, const ActionHistory& user, uint32_t context,
                       int64_t t) {
        top_.reset(output_.top_n());
        if (user.prev2 != kNoItem && user.prev != kNoItem &&
            supported(model.predict(ChainOrder::kSecond, context, user.prev2, user.prev, t,
                                    half_life_ms_, min_support_, top_))) {
            return ChainOrder::kSecond;
        }
        if (user.prev != kNoItem &&
            supported(model.predict(ChainOrder::kFirst, context, kNoItem, user.prev, t,
                                    half_life_ms_, min_support_, top_))) {
            return ChainOrder::kFirst;
        }
        model.predict(ChainOrder::kPopularity, 0, 0, 0, t, half_life_ms_, 0, top_);
        return ChainOrder::kPopularity;
    }

    std::string field_name_;
    std::vector<std::string> context_names_;
    TimeBucket time_bucket_;
    double half_life_ms_;
    double min_support_;
    int64_t max_gap_ms_;
    bool collapse_repeats_;
    NextActionLimits limits_;

    KeyedValue<ActionHistory> users_{"history"};
    Shared<NextActionModel> model_{"model"};
    int parallelism_ = 1;

    FieldId field_ = kInvalidField;
    std::vector<FieldId> context_;
    FieldId order_out_ = kInvalidField;
    RecommendationOutput output_;
    LocalCounter rows_full_;
    Gauge rows_gauge_;

    TopN top_;
    std::string action_scratch_;
    std::string context_scratch_;
    std::string part_scratch_;
    int64_t last_time_ = kNoRecTime;
};

}  // namespace

Result<std::unique_ptr<Operator>> make_next_action(const Config& cfg) {
    return std::unique_ptr<Operator>(std::make_unique<NextAction>(cfg));
}

void Codec<ActionHistory>::encode(const ActionHistory& h, StateWriter& w) {
    w.varint(h.prev2);
    w.varint(h.prev);
    w.varint(h.context);
    w.i64(h.last_time);
}

bool Codec<ActionHistory>::decode(StateReader& r, uint8_t, ActionHistory& h) {
    uint64_t prev2 = 0;
    uint64_t prev = 0;
    uint64_t context = 0;
    r.varint(prev2);
    r.varint(prev);
    r.varint(context);
    r.i64(h.last_time);
    h.prev2 = static_cast<uint32_t>(prev2);
    h.prev = static_cast<uint32_t>(prev);
    h.context = static_cast<uint32_t>(context);
    return r.ok() && prev2 <= kNoItem && prev <= kNoItem &&
           context < NextActionLimits::kMaxContexts;
}

void Codec<ActionHistory>::to_json(const ActionHistory& h, JsonWriter& j) {
    auto index = [&j](uint32_t a) {
        if (a == kNoItem) {
            j.value(nullptr);
        } else {
            j.value(static_cast<int64_t>(a));
        }
    };
    j.begin_object().key("prev2");
    index(h.prev2);
    j.key("prev");
    index(h.prev);
    j.field("context", h.context).key("last_time");
    if (h.last_time == kNoRecTime) {
        j.value(nullptr);
    } else {
        j.value(h.last_time);
    }
    j.end_object();
}

}  // namespace eddy
