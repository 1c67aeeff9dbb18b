// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "eddy/config.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "popularity/popularity.h"

namespace eddy {
namespace {

class Popularity final : public Operator {
public:
    explicit Popularity(const Config& cfg)
        : half_life_ms_(static_cast<double>(cfg.duration("half_life").count())),
          default_weight_(cfg.number("default_weight")),
          type_name_(cfg.string("type_field")),
          weight_name_(cfg.has("weight_field") ? cfg.string("weight_field") : ""),
          group_name_(cfg.has("group_field") ? cfg.string("group_field") : ""),
          exclude_(static_cast<size_t>(cfg.integer("exclude_recent"))) {
        output_.configure(cfg);
        for (const auto& [type, w] : cfg.value("weights").entries()) {
            weights_.emplace_back(type, w.as_double());
        }
    }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(users_);
        ctx.register_state(model_);
        model_.get().set_half_life(half_life_ms_);
        item_ = ctx.field(output_.item_field());
        type_ = ctx.field(type_name_);
        weight_ = weight_name_.empty() ? kInvalidField : ctx.field(weight_name_);
        group_ = group_name_.empty() ? kInvalidField : ctx.field(group_name_);
        top_.reset(output_.top_n());
        parallelism_ = ctx.parallelism();
        return output_.open(ctx, "popularity");
    }

    void process(const Record& record, Emitter& out) override {
        const Value* item = record.get(item_);
        if (item == nullptr || !encode_item_id(*item, scratch_)) {
            out.error(record, "the item field `" + output_.item_field() +
                                  "` is missing or neither a string nor an integer");
            return;
        }
        double w = 0;
        if (!weight_of(record, w, out)) {
            return;
        }
        PopularityModel& model = model_.get();
        uint32_t group = 0;
        if (group_ != kInvalidField) {
            const Value* g = record.get(group_);
            if (g != nullptr && !g->is_null()) {
                if (!encode_item_id(*g, group_scratch_) ||
                    (group = model.group(group_scratch_)) == kNoItem) {
                    out.error(record, g->is_string() || g->is_int()
                                          ? "more than 4096 distinct groups in `" + group_name_ +
                                                "`; the group is not ranked"
                                          : "the group field `" + group_name_ +
                                                "` is neither a string nor an integer");
                    return;
                }
            }
        }
        bool created = false;
        uint32_t i =
            model.items().intern(scratch_, created, [&model](uint32_t k) { model.add_item(k); });
        if (i == ItemIndex::kNone) {
            out.error(record, "the item index is full (67,108,864 items)");
            return;
        }
        if (created) {
            output_.items.set(model.items().size());
        }
        const Value& key = record.key();
        UserItems& user = users_.get_or_create(key);
        int64_t t = record.time();
        last_time_ = std::max(last_time_, t);
        if (output_.evaluate() && !created && !user.items.empty()) {
            rank(model, group, user, t);
            output_.score(top_.sorted(), i, model.counts());
        }
        if (w > 0) {
            model.add(group, i, w, t, half_life_ms_);
        }
        remember(user, i, exclude_);
        user.group = group;
        if (output_.emit_enabled()) {
            throttle_emit(user, *timers_, key, t, output_.emit_every_ms(),
                          [&] { emit(user, key, t, out); });
        }
        int64_t n = model.counts().count_event();
        if (output_.evaluate() && n % output_.metrics_every() == 0) {
            output_.emit_metrics(out, t, model.counts());
        }
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        UserItems* user = users_.find(timer.key);
        if (user == nullptr || !user->pending ||
            timer.time < user->last_emit + output_.emit_every_ms()) {
            return;
        }
        emit(*user, timer.key, timer.time, out);
    }

    void close(Emitter& out) override {
        // The last shard to finish reports the final metrics of all shards.
        if (output_.evaluate() && model_.get().counts().close_shard() == parallelism_) {
            output_.emit_metrics(out, last_time_, model_.get().counts());
        }
    }

private:
    /// The event's weight: its type's weight times `weight_field` (when set
    /// and present); false (after sending the record to `errors`) when invalid.
    bool weight_of(const Record& record, double& w, Emitter& out) {
        w = default_weight_;
        if (const Value* type = record.get(type_); type != nullptr && type->is_string()) {
            std::string_view name = type->as_string();
            for (const auto& [t, tw] : weights_) {
                if (t == name) {
                    w = tw;
                    break;
                }
            }
        }
        if (weight_ == kInvalidField) {
            return true;
        }
        const Value* v = record.get(weight_);
        if (v == nullptr || v->is_null()) {
            return true;
        }
        double f = v->is_number() ? v->as_double() : std::nan("");
        if (!std::isfinite(f) || f < 0) {
            out.error(record, "the weight field `" + weight_name_ +
                                  "` must be a finite number >= 0 (got NaN, an infinity, a "
                                  "negative number or a non-number)");
            return false;
        }
        w *= f;
        return true;
    }

    /// The user's top N in `group` at time `now` into top_, excluding the
    /// user's remembered items.
    void rank(const PopularityModel& model, uint32_t group, const UserItems& user, int64_t now) {
        (void)now;
        marks_.clear(model.items().size());
        for (uint32_t k : user.items) {
            marks_.mark(k);
        }
        top_.reset(output_.top_n());
        model.scan(group, [this, &model](uint32_t k, double s) {
            if (top_.admits(s) && !marks_.marked(k) && model.items().ready(k)) {
                top_.offer(s, k);
            }
        });
    }

    void emit(UserItems& user, const Value& key, int64_t t, Emitter& out) {
        user.last_emit = t;
        user.pending = false;
        PopularityModel& model = model_.get();
        uint32_t group = user.group == kNoItem ? 0 : user.group;
        rank(model, group, user, t);
        const std::vector<TopN::Entry>& top = top_.sorted();
        scored_.assign(top.begin(), top.end());
        for (TopN::Entry& e : scored_) {
            e.score = model.decayed(e.score, t, half_life_ms_);
        }
        Record& r = output_.emit(out, t, key, scored_, model.items());
        if (group_ != kInvalidField) {
            if (group == 0) {
                r.set_null(group_);
            } else {
                r.set_value(group_, decode_item_id(model.group_id(group)));
            }
        }
    }

    double half_life_ms_;
    double default_weight_;
    std::string type_name_;
    std::string weight_name_;
    std::string group_name_;
    size_t exclude_;
    std::vector<std::pair<std::string, double>> weights_;
    RecommendationOutput output_;

    KeyedValue<UserItems> users_{"users"};
    Shared<PopularityModel> model_{"popularity"};
    Timers* timers_ = nullptr;

    FieldId item_ = kInvalidField;
    FieldId type_ = kInvalidField;
    FieldId weight_ = kInvalidField;
    FieldId group_ = kInvalidField;
    int parallelism_ = 1;

    TopN top_;
    ItemMarks marks_;
    std::vector<TopN::Entry> scored_;
    std::string scratch_;
    std::string group_scratch_;
    int64_t last_time_ = kNoRecTime;
};

std::string check_popularity(const Config& cfg) {
    for (const auto& [type, w] : cfg.value("weights").entries()) {
        bool number = w.kind() == ConfigValue::Kind::kInt || w.kind() == ConfigValue::Kind::kDouble;
        if (!number || !std::isfinite(w.as_double()) || w.as_double() < 0) {
            return "the weight of `" + type + "` in `weights` must be a finite number >= 0, got `" +
                   w.to_string() + "`";
        }
    }
    if (!std::isfinite(cfg.number("default_weight"))) {
        return "`default_weight` must be a finite number";
    }
    if (cfg.has("group_field") && cfg.string("group_field") == cfg.string("key_field")) {
        return "`group_field` and `key_field` are both `" + cfg.string("key_field") +
               "`; the output needs both: choose different names";
    }
    return check_recommender_names(cfg);
}

}  // namespace

ComponentSpec popularity_spec() {
    OperatorSpec spec("popularity");
    spec.summary(
            "Recommends the most popular items (exponentially decayed, weighted by event type, "
            "global or per group) that the user has not seen: the cold-start fallback.")
        .description(
            "Keyed by user. Every event adds its weight w = `weights`[type] (or "
            "`default_weight`), times `weight_field` when set, to its item's popularity: "
            "popularity(T) = sum_k w_k * 2^(-(T - t_k) / half_life) over the item's events "
            "(`half_life: 0s`: the plain weighted count). Events may come in any order: the "
            "sum does not depend on it. The model is one for all shards (shared state): a "
            "concurrent index of items, and per group a column of scores stored in the log "
            "domain against a fixed origin, so that an event costs one atomic "
            "compare-and-swap on one number, no item is ever rescaled and nothing overflows "
            "(docs/recommenders.md).\n\n"
            "With `group_field` (such as a segment), every event counts in its group's "
            "ranking and in the global one, and a user is served from the ranking of the "
            "group of their latest event; events without the field count and are served "
            "globally (at most 4,096 groups; events of further groups go to `errors`).\n\n"
            "After each event the operator emits the user's top N (per `emit`, `emit_every`): "
            "`{ts, <key_field>, item_1..item_N, score_1..score_N}` plus `<group_field>` when "
            "set (null for the global ranking), best first, scores being the decayed "
            "popularity at `ts`; ties go to the item seen first. Items among the user's "
            "`exclude_recent` latest distinct items are never recommended; fewer than N "
            "fields are set when fewer items qualify. Ranking scans the group's scores: "
            "O(items) per emission, about 15 us for 10,000 items (docs/recommenders.md).\n\n"
            "With `evaluate: true` each event is first predicted, then learnt (prequential): "
            "an event whose user has history and whose item was seen before is scored as a "
            "hit when its item is among the user's top N computed before the event (HR@N; "
            "NDCG@N adds 1 / log2(rank + 1) for a hit at rank 1..N); the running totals "
            "over all shards go to `metrics`. An item the user had is excluded, so it "
            "scores as a miss.\n\n"
            "Records without a string or integer item, with an invalid `weight_field` value "
            "(NaN, infinite, negative, not a number) or a group that is neither a string "
            "nor an integer go to `errors`. Metrics: `eddy_popularity_items` (gauge), "
            "`eddy_popularity_evaluated_total`, `eddy_popularity_hits_total`.")
        .param(Param::duration("half_life")
                   .default_value("1d")
                   .min(0)
                   .doc("Time after which an event's weight halves; 0s: no decay (running "
                        "counts)."))
        .param(Param::map("weights", ParamType::kDouble)
                   .default_value("{page_view: 1, click: 2, add_to_cart: 4, purchase: 8}")
                   .doc("Weight of an event by its `type_field` value; types not listed weigh "
                        "`default_weight`. A weight of 0 ignores the type (the item is still "
                        "remembered as seen by the user)."))
        .param(Param::number("default_weight")
                   .default_value(1.0)
                   .min(0)
                   .doc("Weight of events whose type is missing or not in `weights`."))
        .param(Param::string("type_field").default_value("type").doc("The event type field."))
        .param(Param::string("weight_field")
                   .doc("Optional numeric field multiplying an event's weight (a quantity, a "
                        "rating); records without it count with factor 1, records where it is "
                        "not a finite number >= 0 go to `errors`.")
                   .example("quantity"))
        .param(Param::string("group_field")
                   .doc("Optional field (string or integer) that selects a separate ranking "
                        "per value, such as a segment; also written to the output.")
                   .example("segment"));
    add_recommender_params(spec);
    spec.keyed_state<UserItems>(
            "users",
            "Per user: the latest distinct items (indexes into the item index), oldest first, "
            "at most `exclude_recent`; the group of the latest event; the throttle's last "
            "emission.")
        .shared_state<PopularityModel>(
            "popularity",
            "For all shards: the item index (ids in order of first appearance), the group "
            "index, per group the stored score of each item, the decay origin and the "
            "prequential counts.")
        .rule(check_popularity)
        .example("Decayed popularity per segment, the cold-start fallback", R"(operators:
  popular:
    type: popularity
    input: clicks
    key: user_id
    half_life: 1d
    weights: {page_view: 1, click: 2, add_to_cart: 4, purchase: 8}
    group_field: segment
    top_n: 10
    emit_every: 1m
)")
        .example("Prequential HR@10 of running popularity (no decay)", R"(operators:
  popular:
    type: popularity
    input: clicks
    key: user_id
    half_life: 0s
    evaluate: true
    emit: false
    metrics_every: 10000
)")
        .factory(make_component<Operator, Popularity>);
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(popularity) {
    return eddy::popularity_spec();
}
