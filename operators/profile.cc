// SPDX-License-Identifier: Apache-2.0
#include "profile.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/lateness.h"
#include "eddy/operator.h"
#include "eddy/registry.h"
#include "eddy/state.h"

namespace eddy {

void Codec<ProfileState>::encode(const ProfileState& p, StateWriter& w) {
    w.i64(p.ref_time);
    w.i64(p.second_time);
    w.i64(p.last_emit);
    w.u8(p.pending ? 1 : 0);
    w.i64(p.events);
    w.i64(p.purchases);
    for (double d : {p.frequency, p.dwell_sum, p.dwell_weight, p.scroll_sum, p.scroll_weight,
                     p.monetary, p.buys}) {
        w.f64(d);
    }
    w.varint(p.type_counts.size());
    for (double c : p.type_counts) {
        w.f64(c);
    }
    w.varint(p.categories.size());
    for (const CategoryScore& c : p.categories) {
        w.str(c.name);
        w.f64(c.score);
    }
}

void Codec<ProfileState>::to_json(const ProfileState& p, JsonWriter& j) {
    auto time = [&j](std::string_view name, int64_t t) {
        j.key(name);
        if (t == kNoProfileTime) {
            j.value(nullptr);
        } else {
            j.value(t);
        }
    };
    j.begin_object();
    time("ref_time", p.ref_time);
    time("second_time", p.second_time);
    time("last_emit", p.last_emit);
    j.field("pending", p.pending)
        .field("events", p.events)
        .field("purchases", p.purchases)
        .field("frequency", p.frequency)
        .field("dwell_sum", p.dwell_sum)
        .field("dwell_weight", p.dwell_weight)
        .field("scroll_sum", p.scroll_sum)
        .field("scroll_weight", p.scroll_weight)
        .field("monetary", p.monetary)
        .field("buys", p.buys)
        .key("type_counts")
        .begin_array();
    for (double c : p.type_counts) {
        j.value(c);
    }
    j.end_array().key("categories").begin_object();
    for (const CategoryScore& c : p.categories) {
        j.field(c.name, c.score);
    }
    j.end_object().end_object();
}

bool Codec<ProfileState>::decode(StateReader& r, uint8_t, ProfileState& p) {
    uint8_t pending = 0;
    r.i64(p.ref_time);
    r.i64(p.second_time);
    r.i64(p.last_emit);
    r.u8(pending);
    p.pending = pending != 0;
    r.i64(p.events);
    r.i64(p.purchases);
    for (double* d : {&p.frequency, &p.dwell_sum, &p.dwell_weight, &p.scroll_sum, &p.scroll_weight,
                      &p.monetary, &p.buys}) {
        r.f64(*d);
    }
    uint64_t n = 0;
    if (!r.varint(n) || n > (1u << 16)) {
        return false;
    }
    p.type_counts.assign(n, 0);
    for (double& c : p.type_counts) {
        r.f64(c);
    }
    if (!r.varint(n) || n > (1u << 16)) {
        return false;
    }
    p.categories.resize(n);
    for (CategoryScore& c : p.categories) {
        r.str(c.name);
        r.f64(c.score);
    }
    return r.ok();
}

namespace {

// Engagement: saturating terms, weights summing to 1 (see the spec description).
constexpr double kActivityHalfEvents = 10;  // decayed events that give half the activity term
constexpr double kDwellHalfMs = 30000;      // average dwell that gives half the dwell term
constexpr double kActivityWeight = 0.4;
constexpr double kDwellWeight = 0.2;
constexpr double kScrollWeight = 0.1;
constexpr double kConversionWeight = 0.3;
constexpr size_t kFixedFeatures = 5;
constexpr size_t kSpareCategoriesPerTop = 4;

int64_t sub_sat(int64_t a, int64_t b) {
    int64_t r = 0;
    return __builtin_sub_overflow(a, b, &r) ? std::numeric_limits<int64_t>::min() : r;
}

bool number_of(const Value* v, double& out) {
    if (v == nullptr || !v->is_number()) {
        return false;
    }
    out = v->as_double();
    return std::isfinite(out);
}

class Profile final : public Operator {
public:
    explicit Profile(const Config& cfg)
        : lateness_(Lateness::from(cfg)),
          half_life_ms_(static_cast<double>(cfg.duration("half_life").count())),
          emit_every_ms_(cfg.duration("emit_every").count()),
          top_n_(static_cast<size_t>(cfg.integer("top_categories"))),
          key_name_(cfg.string("key_field")),
          type_name_(cfg.string("type_field")),
          category_name_(cfg.string("category_field")),
          dwell_name_(cfg.string("dwell_field")),
          scroll_name_(cfg.string("scroll_field")),
          value_name_(cfg.string("value_field")),
          purchase_type_(cfg.string("purchase_type")),
          types_(cfg.strings("event_types")),
          vocabulary_(cfg.has("categories") ? cfg.strings("categories")
                                            : std::vector<std::string>{}) {
        for (size_t i = 0; i < types_.size(); ++i) {
            if (types_[i] == "add_to_cart") {
                cart_index_ = static_cast<int>(i);
            }
        }
        category_capacity_ = top_n_ * kSpareCategoriesPerTop + vocabulary_.size();
        features_.resize(types_.size() + kFixedFeatures + vocabulary_.size());
    }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(state_);
        type_ = ctx.field(type_name_);
        category_ = ctx.field(category_name_);
        dwell_ = ctx.field(dwell_name_);
        scroll_ = ctx.field(scroll_name_);
        value_ = ctx.field(value_name_);
        time_out_ = ctx.field("ts");
        key_out_ = ctx.field(key_name_);
        for (const std::string& t : types_) {
            count_out_.push_back(ctx.field("n_" + t));
        }
        frequency_out_ = ctx.field("frequency");
        events_out_ = ctx.field("events");
        dwell_out_ = ctx.field("dwell_avg");
        scroll_out_ = ctx.field("scroll_avg");
        recency_out_ = ctx.field("recency_ms");
        purchases_out_ = ctx.field("purchases");
        monetary_out_ = ctx.field("monetary");
        engagement_out_ = ctx.field("engagement");
        features_out_ = ctx.field("features");
        for (size_t i = 1; i <= top_n_; ++i) {
            top_out_.push_back(ctx.field("top_category_" + std::to_string(i)));
            affinity_out_.push_back(ctx.field("affinity_" + std::to_string(i)));
        }
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        int64_t t = record.time();
        int64_t wm = timers_->watermark();
        if (wm != kNoWatermark && t <= sub_sat(wm, lateness_.allowed_ms)) {
            out.late(record, wm - t, lateness_.policy);
            if (lateness_.policy != LatePolicy::kUpdate) {
                return;
            }
        }
        const Value& key = record.key();
        ProfileState& p = state_.get_or_create(key);
        if (p.pending && t >= p.last_emit + emit_every_ms_) {
            // The pending emit is due before this record: emit it now, as
            // the timer would have had the watermark passed it first, so
            // that results do not depend on when watermarks arrive.
            int64_t due = p.last_emit + emit_every_ms_;
            timers_->cancel(TimeDomain::kEventTime, key, due);
            emit(p, key, std::max(due, p.ref_time), out);
        }
        apply(p, record, t);
        if (p.last_emit == kNoProfileTime || p.ref_time >= p.last_emit + emit_every_ms_) {
            if (p.pending) {
                timers_->cancel(TimeDomain::kEventTime, key, p.last_emit + emit_every_ms_);
            }
            emit(p, key, p.ref_time, out);
        } else if (!p.pending) {
            p.pending = true;
            timers_->set(TimeDomain::kEventTime, key, p.last_emit + emit_every_ms_);
        }
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        ProfileState* p = state_.find(timer.key);
        if (p == nullptr || !p->pending || timer.time < p->last_emit + emit_every_ms_) {
            return;
        }
        emit(*p, timer.key, std::max(timer.time, p->ref_time), out);
    }

private:
    /// Adds one event of weight 1 at time t to the closed form held at ref_time.
    void apply(ProfileState& p, const Record& record, int64_t t) {
        if (p.type_counts.size() != types_.size()) {
            p.type_counts.resize(types_.size(), 0);
        }
        double w = 1;
        if (p.events == 0) {
            p.ref_time = t;
        } else if (t >= p.ref_time) {
            rescale(p, std::exp2(-static_cast<double>(t - p.ref_time) / half_life_ms_));
            p.second_time = p.ref_time;
            p.ref_time = t;
        } else {
            w = std::exp2(-static_cast<double>(p.ref_time - t) / half_life_ms_);
            p.second_time = std::max(p.second_time, t);
        }
        ++p.events;
        p.frequency += w;
        bool purchase = false;
        if (const Value* type = record.get(type_); type != nullptr && type->is_string()) {
            std::string_view name = type->as_string();
            for (size_t i = 0; i < types_.size(); ++i) {
                if (types_[i] == name) {
                    p.type_counts[i] += w;
                    break;
                }
            }
            purchase = name == purchase_type_;
        }
        double v = 0;
        if (number_of(record.get(dwell_), v)) {
            p.dwell_sum += w * v;
            p.dwell_weight += w;
        }
        if (number_of(record.get(scroll_), v)) {
            p.scroll_sum += w * v;
            p.scroll_weight += w;
        }
        if (purchase) {
            ++p.purchases;
            p.buys += w;
            if (number_of(record.get(value_), v)) {
                p.monetary += w * v;
            }
        }
        if (const Value* c = record.get(category_); c != nullptr && c->is_string()) {
            add_category(p, c->as_string(), w);
        }
    }

    void rescale(ProfileState& p, double f) {
        p.frequency *= f;
        p.dwell_sum *= f;
        p.dwell_weight *= f;
        p.scroll_sum *= f;
        p.scroll_weight *= f;
        p.monetary *= f;
        p.buys *= f;
        for (double& c : p.type_counts) {
            c *= f;
        }
        for (CategoryScore& c : p.categories) {
            c.score *= f;
        }
    }

    bool in_vocabulary(std::string_view name) const {
        return std::find(vocabulary_.begin(), vocabulary_.end(), name) != vocabulary_.end();
    }

    /// Space-saving style bound: when full, a new category replaces the
    /// lowest-scoring one outside `categories` (its score is not inherited).
    void add_category(ProfileState& p, std::string_view name, double w) {
        if (category_capacity_ == 0) {
            return;
        }
        for (CategoryScore& c : p.categories) {
            if (c.name == name) {
                c.score += w;
                return;
            }
        }
        if (p.categories.size() < category_capacity_) {
            p.categories.push_back({std::string(name), w});
            return;
        }
        // Full: evict the lowest-scoring category outside the vocabulary. Vocabulary
        // categories always get in (the capacity counts them), others only when heavier.
        CategoryScore* lowest = nullptr;
        for (CategoryScore& c : p.categories) {
            if (!in_vocabulary(c.name) && (lowest == nullptr || c.score < lowest->score ||
                                           (c.score == lowest->score && c.name > lowest->name))) {
                lowest = &c;
            }
        }
        if (lowest != nullptr && (lowest->score < w || in_vocabulary(name))) {
            lowest->name.assign(name);
            lowest->score = w;
        }
    }

    /// Emits the profile as of `as_of` (>= ref_time) with event time `as_of`.
    void emit(ProfileState& p, const Value& key, int64_t as_of, Emitter& out) {
        p.last_emit = as_of;
        p.pending = false;
        double f = std::exp2(-static_cast<double>(as_of - p.ref_time) / half_life_ms_);
        Record& r = out.append();
        r.set_time(as_of);
        r.set(time_out_, as_of);
        r.set_value(key_out_, key);
        // Shares and per-event values are ratios of quantities decayed alike, so
        // they are taken before the decay to `as_of` (which could underflow to 0).
        // The latest event weighs 1 at ref_time, so p.frequency >= 1.
        double cart = 0;
        for (size_t i = 0; i < types_.size(); ++i) {
            double n = p.type_counts[i] * f;
            r.set(count_out_[i], n);
            features_[i] = static_cast<float>(p.type_counts[i] / p.frequency);
            if (static_cast<int>(i) == cart_index_) {
                cart = n;
            }
        }
        double frequency = p.frequency * f;
        double monetary = p.monetary * f;
        r.set(frequency_out_, frequency);
        r.set(events_out_, p.events);
        double dwell = 0;
        double scroll = 0;
        if (p.dwell_weight > 0) {
            dwell = p.dwell_sum / p.dwell_weight;
            r.set(dwell_out_, dwell);
        } else {
            r.set_null(dwell_out_);
        }
        if (p.scroll_weight > 0) {
            scroll = p.scroll_sum / p.scroll_weight;
            r.set(scroll_out_, scroll);
        } else {
            r.set_null(scroll_out_);
        }
        if (p.second_time != kNoProfileTime) {
            r.set(recency_out_, p.ref_time - p.second_time);
        } else {
            r.set_null(recency_out_);
        }
        r.set(purchases_out_, p.purchases);
        r.set(monetary_out_, monetary);
        double conversions = cart + 2 * p.buys * f;
        double engagement = kActivityWeight * (1 - std::exp2(-frequency / kActivityHalfEvents)) +
                            kDwellWeight * (dwell > 0 ? dwell / (dwell + kDwellHalfMs) : 0) +
                            kScrollWeight * std::clamp(scroll, 0.0, 1.0) +
                            kConversionWeight * (conversions / (conversions + 1));
        r.set(engagement_out_, engagement);
        emit_categories(p, r);
        size_t n = types_.size();
        features_[n] = static_cast<float>(std::log1p(frequency));
        features_[n + 1] = static_cast<float>(std::log1p(std::max(dwell, 0.0) / 1000));
        features_[n + 2] = static_cast<float>(std::clamp(scroll, 0.0, 1.0));
        features_[n + 3] = static_cast<float>(std::log1p(std::max(p.monetary, 0.0) / p.frequency));
        features_[n + 4] = static_cast<float>(engagement);
        r.set(features_out_, std::span<const float>(features_));
    }

    /// top_category_i / affinity_i (score share among tracked categories) and
    /// the vocabulary shares of the features vector.
    void emit_categories(const ProfileState& p, Record& r) {
        double total = 0;
        for (const CategoryScore& c : p.categories) {
            total += c.score;
        }
        order_.clear();
        for (size_t i = 0; i < p.categories.size(); ++i) {
            order_.push_back(i);
        }
        size_t shown = std::min(top_n_, order_.size());
        std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(shown),
                          order_.end(), [&p](size_t a, size_t b) {
                              const CategoryScore& x = p.categories[a];
                              const CategoryScore& y = p.categories[b];
                              return x.score != y.score ? x.score > y.score : x.name < y.name;
                          });
        for (size_t i = 0; i < shown; ++i) {
            const CategoryScore& c = p.categories[order_[i]];
            r.set(top_out_[i], std::string_view(c.name));
            r.set(affinity_out_[i], total > 0 ? c.score / total : 0.0);
        }
        size_t base = types_.size() + kFixedFeatures;
        for (size_t j = 0; j < vocabulary_.size(); ++j) {
            double share = 0;
            for (const CategoryScore& c : p.categories) {
                if (c.name == vocabulary_[j]) {
                    share = total > 0 ? c.score / total : 0.0;
                    break;
                }
            }
            features_[base + j] = static_cast<float>(share);
        }
    }

    Lateness lateness_;
    double half_life_ms_;
    int64_t emit_every_ms_;
    size_t top_n_;
    std::string key_name_;
    std::string type_name_;
    std::string category_name_;
    std::string dwell_name_;
    std::string scroll_name_;
    std::string value_name_;
    std::string purchase_type_;
    std::vector<std::string> types_;
    std::vector<std::string> vocabulary_;
    int cart_index_ = -1;
    size_t category_capacity_ = 0;

    KeyedValue<ProfileState> state_{"profiles"};
    Timers* timers_ = nullptr;

    FieldId type_ = kInvalidField;
    FieldId category_ = kInvalidField;
    FieldId dwell_ = kInvalidField;
    FieldId scroll_ = kInvalidField;
    FieldId value_ = kInvalidField;
    FieldId time_out_ = kInvalidField;
    FieldId key_out_ = kInvalidField;
    std::vector<FieldId> count_out_;
    FieldId frequency_out_ = kInvalidField;
    FieldId events_out_ = kInvalidField;
    FieldId dwell_out_ = kInvalidField;
    FieldId scroll_out_ = kInvalidField;
    FieldId recency_out_ = kInvalidField;
    FieldId purchases_out_ = kInvalidField;
    FieldId monetary_out_ = kInvalidField;
    FieldId engagement_out_ = kInvalidField;
    FieldId features_out_ = kInvalidField;
    std::vector<FieldId> top_out_;
    std::vector<FieldId> affinity_out_;

    std::vector<float> features_;  // scratch, copied into each output record
    std::vector<size_t> order_;    // scratch for the top categories
};

/// Output field names besides n_<type>, top_category_<i> and affinity_<i>.
const std::vector<std::string>& fixed_output_fields() {
    static const std::vector<std::string> names = {
        "ts",         "frequency", "events",   "dwell_avg",  "scroll_avg",
        "recency_ms", "purchases", "monetary", "engagement", "features"};
    return names;
}

std::string check_names(const Config& cfg) {
    std::set<std::string> seen;
    for (const std::string& t : cfg.strings("event_types")) {
        if (t.empty()) {
            return "`event_types` must not contain an empty type";
        }
        if (!seen.insert(t).second) {
            return "`event_types` lists `" + t + "` twice; list each type once";
        }
    }
    if (cfg.has("categories")) {
        std::set<std::string> cats;
        for (const std::string& c : cfg.strings("categories")) {
            if (!cats.insert(c).second) {
                return "`categories` lists `" + c + "` twice; list each category once";
            }
        }
    }
    const std::string& key = cfg.string("key_field");
    const auto& fixed = fixed_output_fields();
    bool clash = std::find(fixed.begin(), fixed.end(), key) != fixed.end() ||
                 (key.rfind("n_", 0) == 0 && seen.count(key.substr(2)) > 0) ||
                 key.rfind("top_category_", 0) == 0 || key.rfind("affinity_", 0) == 0;
    if (clash) {
        return "`key_field` `" + key +
               "` is also the name of a profile field; choose another name such as `user_id`";
    }
    return "";
}

}  // namespace

ComponentSpec profile_spec() {
    OperatorSpec spec("profile");
    spec.summary(
            "Keeps an exponentially decayed behavioural profile per key and emits it on change, "
            "throttled by `emit_every`.")
        .description(
            "Every event adds weight 1 at its event time t_i; a decayed quantity read at time T "
            "is sum_i w_i * 2^(-(T - t_i) / half_life). Decay is lazy: values are stored as of "
            "the key's latest event time and rescaled when a newer event arrives; an older "
            "(out-of-order) event adds its weight 2^(-(latest - t) / half_life) instead, which "
            "is the same closed form, so a replay or any permutation of the same events gives "
            "the same profile (up to floating-point rounding).\n\n"
            "Emission: each applied event changes the profile. If the key has not emitted for "
            "`emit_every` of event time, the profile is emitted at once with event time = the "
            "key's latest event time; otherwise an event-time timer at last emission + "
            "`emit_every` emits the latest state then (event time = the timer's time), so the "
            "last change is never lost (at the end of input all timers fire). An event at or "
            "after that time emits the pending state first, as of the timer's time, as if the "
            "watermark had passed it already: emissions do not depend on when watermarks "
            "arrive (batching, parallelism, a restart). Decayed values "
            "in a record are evaluated at the record's event time. `emit_every: 0s` emits on "
            "every event.\n\n"
            "Late events (event time at or below watermark - `allowed_lateness`) are counted "
            "and, per `on_late`, sent to `late`, dropped, or applied (`update`) and emitted "
            "like any other change.\n\n"
            "Output fields: `ts` (the record's event time, ms); the key (named by `key_field`); "
            "`n_<type>` per `event_types` entry "
            "(decayed count); `frequency` (decayed count of all events, whatever their type); "
            "`events` (lifetime count); `dwell_avg` and `scroll_avg` (decayed-weighted means of "
            "`dwell_field` and `scroll_field` over the events that have them, null when none); "
            "`recency_ms` (time between the two latest events, null after the first event); "
            "`purchases` (lifetime count of `purchase_type` events); `monetary` (decayed sum of "
            "`value_field` over purchases); `top_category_1..N` and `affinity_1..N` (the N = "
            "`top_categories` categories with the highest decayed counts, ties by name, and "
            "each one's share of the tracked categories' decayed counts; absent when the key "
            "has fewer categories); `engagement`; and `features`, a fixed-length float vector of "
            "how the key behaves rather than how much (each type's share of `frequency`, "
            "log1p(`frequency`), dwell, scroll, value per event, engagement and the `categories` "
            "shares), laid out in docs/features.md.\n\n"
            "engagement = 0.4 * (1 - 2^(-frequency / 10)) + 0.2 * dwell_avg / (dwell_avg + "
            "30000) + 0.1 * clamp(scroll_avg, 0, 1) + 0.3 * c / (c + 1), with c = n_add_to_cart "
            "+ 2 * decayed purchases (absent terms count 0); it lies in [0, 1).\n\n"
            "Categories: a key tracks at most 4 * `top_categories` categories plus those of "
            "`categories`; when full, a new category replaces the lowest-scoring one outside "
            "`categories` if its weight is larger. Affinities are exact while a key has no "
            "more categories than that.")
        .keyed(KeyMode::kRequired)
        .param(Param::duration("half_life")
                   .default_value("7d")
                   .min(1)
                   .doc("Time after which an event's weight halves."))
        .param(Param::duration("emit_every")
                   .default_value("1m")
                   .min(0)
                   .doc("At most one profile per key per this much event time; the latest state "
                        "is emitted when the interval ends. 0s: emit on every event."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Name of the output field that holds the key."))
        .param(Param::string("type_field").default_value("type").doc("The event type field."))
        .param(Param::list("event_types")
                   .default_value("[page_view, click, add_to_cart, purchase, video_play, search, "
                                  "scroll, signup]")
                   .doc("Event types counted as `n_<type>`, in `features` order; other types "
                        "count only in `frequency`."))
        .param(Param::string("category_field")
                   .default_value("category")
                   .doc("The field with the item category (a string)."))
        .param(Param::integer("top_categories")
                   .default_value(5)
                   .min(0)
                   .max(100)
                   .doc("How many top categories to emit as `top_category_<i>` and "
                        "`affinity_<i>`."))
        .param(Param::list("categories")
                   .doc("A fixed category vocabulary: one `features` entry per category (its "
                        "affinity share, 0 when absent). Without it `features` has no "
                        "category entries.")
                   .example("[shoes, electronics, books]"))
        .param(Param::string("dwell_field")
                   .default_value("dwell_ms")
                   .doc("A numeric dwell time in ms, averaged into `dwell_avg`."))
        .param(Param::string("scroll_field")
                   .default_value("scroll_pct")
                   .doc("A numeric scroll depth (fraction 0..1), averaged into `scroll_avg`."))
        .param(Param::string("value_field")
                   .default_value("price")
                   .doc("The numeric value of a purchase, summed into `monetary`; purchases "
                        "without it still count in `purchases`."))
        .param(Param::string("purchase_type")
                   .default_value("purchase")
                   .doc("The event type that is a purchase."));
    add_lateness(spec);
    return spec
        .keyed_state<ProfileState>(
            "profiles",
            "Per key: decayed counters as of the latest event time (per type, dwell, "
            "scroll, purchases, value, categories), lifetime counts, the two latest event "
            "times and the throttle's last emission time.")
        .rule(check_names)
        .example("Profiles with a one-day half-life", R"(operators:
  profiles:
    type: profile
    input: clicks
    key: user_id
    half_life: 1d
    emit_every: 5m
    categories: [shoes, electronics, books]
)")
        .factory(make_component<Operator, Profile>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(profile) {
    return eddy::profile_spec();
}
