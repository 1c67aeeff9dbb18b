// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <cmath>
#include <string>

#include "eddy/registry.h"
#include "eddy/state.h"

#include "drift/adwin.h"
#include "drift/drift.h"

namespace eddy {
namespace {

enum class Direction { kBoth, kUp, kDown };

class Drift final : public Operator {
public:
    explicit Drift(const Config& cfg)
        : field_name_(cfg.string("field")),
          key_name_(cfg.string("key_field")),
          statistic_(field_name_ + "_mean") {
        params_.delta = cfg.number("delta");
        params_.check_every = cfg.integer("check_every");
        params_.min_side = cfg.integer("min_window");
        const std::string& d = cfg.string("direction");
        direction_ = d == "up" ? Direction::kUp : d == "down" ? Direction::kDown : Direction::kBoth;
    }

    Status open(OpenContext& ctx) override {
        ctx.register_state(windows_);
        field_ = ctx.field(field_name_);
        ts_out_ = ctx.field("ts");
        key_out_ = ctx.field(key_name_);
        statistic_out_ = ctx.field("statistic");
        value_out_ = ctx.field("value");
        threshold_out_ = ctx.field("threshold");
        before_out_ = ctx.field("before");
        after_out_ = ctx.field("after");
        window_out_ = ctx.field("window");
        dropped_out_ = ctx.field("dropped");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        const Value* v = record.get(field_);
        if (v == nullptr || v->is_null()) {
            out.error(record, "the field `" + field_name_ + "` is missing");
            return;
        }
        if (!v->is_number()) {
            out.error(record, "the field `" + field_name_ + "` is a " + value_type_name(v->type()) +
                                  ", not a number");
            return;
        }
        const double x = v->as_double();
        if (!std::isfinite(x)) {
            out.error(record, "the field `" + field_name_ + "` is not a finite number");
            return;
        }
        const Value& key = record.key();
        Adwin& window = windows_.get_or_create(key);
        AdwinChange change;
        if (!window.add(x, params_, change)) {
            return;
        }
        const double rise = change.after - change.before;
        if ((direction_ == Direction::kUp && rise <= 0) ||
            (direction_ == Direction::kDown && rise >= 0)) {
            return;
        }
        Record& r = out.append();
        r.set_time(record.time());
        r.set(ts_out_, record.time());
        if (!key.is_null()) {
            r.set_value(key_out_, key);
        }
        r.set(statistic_out_, std::string_view(statistic_));
        r.set(value_out_, change.difference);
        r.set(threshold_out_, change.threshold);
        r.set(before_out_, change.before);
        r.set(after_out_, change.after);
        r.set(window_out_, window.width());
        r.set(dropped_out_, change.dropped);
    }

private:
    std::string field_name_;
    std::string key_name_;
    std::string statistic_;
    AdwinParams params_;
    Direction direction_ = Direction::kBoth;

    KeyedValue<Adwin> windows_{"windows"};

    FieldId field_ = kInvalidField;
    FieldId ts_out_ = kInvalidField;
    FieldId key_out_ = kInvalidField;
    FieldId statistic_out_ = kInvalidField;
    FieldId value_out_ = kInvalidField;
    FieldId threshold_out_ = kInvalidField;
    FieldId before_out_ = kInvalidField;
    FieldId after_out_ = kInvalidField;
    FieldId window_out_ = kInvalidField;
    FieldId dropped_out_ = kInvalidField;
};

std::string check_delta(const Config& cfg) {
    double delta = cfg.number("delta");
    if (delta <= 0 || delta >= 1) {
        return "`delta` must be between 0 and 1 (exclusive), such as 0.0001";
    }
    return "";
}

}  // namespace

ComponentSpec drift_spec() {
    return OperatorSpec("drift")
        .summary("Detects a change in the mean of a numeric field with ADWIN and emits an alert.")
        .description(
            "Keeps an ADWIN adaptive window (Bifet and Gavalda, 2007) over the values of "
            "`field`: an exponential histogram of at most 5 buckets per size 2^i, so memory "
            "and time per value are O(log W) for a window of W values. After each value (or "
            "every `check_every` values) the window is cut wherever its older and newer parts "
            "have means further apart than eps = sqrt(2 m v L) + 2/3 m L, with m = 1/n0 + "
            "1/n1, v the window's variance and L = ln(2 ln(W) / `delta`); both parts need at "
            "least `min_window` values. A cut is a change: the older part is dropped and an "
            "alert `{ts, <key_field>, statistic, value, threshold, before, after, window, "
            "dropped}` is emitted, with `statistic` = `<field>_mean`, `value` the newer minus "
            "the older mean at the first cut found and `threshold` its eps, `before` and "
            "`after` the means of the dropped and kept values, `window` the values kept and "
            "`dropped` those dropped. `direction` keeps only rises or falls.\n\n"
            "With a `key`, each key has its own window (for example a drift per user); "
            "without one, one window sees the whole stream. Values that are missing, not "
            "numbers or not finite go to `errors`. Feed it any numeric stream, such as the "
            "`distance` of `kmeans` or a window's average.")
        .keyed(KeyMode::kOptional)
        .param(Param::string("field")
                   .required()
                   .doc("The numeric field to watch.")
                   .example("distance"))
        .param(Param::number("delta").default_value(0.0001).doc(
            "Confidence: the chance of a false alarm per cut test is about "
            "delta / ln(W). Smaller means fewer false alarms and later detection."))
        .param(Param::integer("check_every")
                   .default_value(1)
                   .min(1)
                   .max(1024)
                   .doc("Test for a cut after every this many values (larger is cheaper and "
                        "detects up to that many values later)."))
        .param(Param::integer("min_window")
                   .default_value(5)
                   .min(1)
                   .max(1000000)
                   .doc("Fewest values on each side of a cut."))
        .param(Param::enumeration("direction", {"both", "up", "down"})
                   .default_value("both")
                   .doc("Which changes alert: rises, falls or both (the window is cut either "
                        "way)."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Name of the alert field that holds the key (keyed only)."))
        .keyed_state<Adwin>("windows",
                            "Per key (one entry without a key): the ADWIN buckets, width, sum "
                            "and variance of the window.")
        .rule(check_delta)
        .example("Alert when the k-means distance rises", R"(operators:
  profiles: {type: profile, input: clicks, key: user_id}
  segments: {type: kmeans, input: profiles, key: user_id, field: features, k: 4}
  distance_drift:
    type: drift
    input: segments
    field: distance
    direction: up
)")
        .factory(make_component<Operator, Drift>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(drift) {
    return eddy::drift_spec();
}
