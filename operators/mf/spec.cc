// SPDX-License-Identifier: Apache-2.0
#include <cctype>
#include <cmath>
#include <set>
#include <string>

#include "eddy/registry.h"
#include "eddy/state.h"
#include "eddy/units.h"

#include "common/published_rankings.h"
#include "mf/mf.h"
#include "mf/model.h"

namespace eddy {
namespace mf {
namespace {

bool all_digits(const std::string& s) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
            return false;
        }
    }
    return true;
}

/// Reads `emit_every`: a count of updates (`5`) or a duration (`30s`).
std::string parse_emit_every(const Config& cfg, int64_t& updates, int64_t& ms) {
    const std::string& text = cfg.value("emit_every").as_string();
    updates = 0;
    ms = 0;
    if (all_digits(text)) {
        updates = std::stoll(text);
        if (updates < 1) {
            return "`emit_every` must be at least 1 update, or a duration like `30s`";
        }
        return "";
    }
    std::optional<int64_t> d = parse_duration_ms(text);
    if (!d || *d < 1) {
        return "`emit_every` must be a number of updates like `5` or a duration like `30s`, got `" +
               text + "`";
    }
    ms = *d;
    return "";
}

std::string check(const Config& cfg) {
    int64_t updates = 0;
    int64_t ms = 0;
    if (std::string e = parse_emit_every(cfg, updates, ms); !e.empty()) {
        return e;
    }
    if (cfg.number("min_rating") >= cfg.number("max_rating")) {
        return "`min_rating` must be below `max_rating`";
    }
    bool implicit = cfg.string("mode") == "implicit";
    if (implicit && cfg.boolean("evaluate") && cfg.integer("top_n") < 1) {
        return "`evaluate: true` in implicit mode measures HR@N and NDCG@N with N = `top_n`; set "
               "`top_n` to at least 1";
    }
    std::set<std::string> outputs = {"ts", "model"};
    for (int64_t i = 1; i <= cfg.integer("top_n"); ++i) {
        outputs.insert("item_" + std::to_string(i));
        outputs.insert("score_" + std::to_string(i));
    }
    if (outputs.count(cfg.string("user_field")) > 0) {
        return "`user_field` `" + cfg.string("user_field") +
               "` is also the name of an output field; choose another name such as `user_id`";
    }
    // A query without `n` gets 10 items when `top_n` is 0.
    int64_t served = cfg.integer("top_n") > 0 ? cfg.integer("top_n") : 10;
    return check_serve_cache(cfg, served);
}

}  // namespace

Options Options::from(const Config& cfg) {
    Options o;
    o.implicit = cfg.string("mode") == "implicit";
    o.item_field = cfg.string("item_field");
    o.rating_field = cfg.string("rating_field");
    o.type_field = cfg.string("type_field");
    o.filter_field = cfg.has("filter_field") ? cfg.string("filter_field") : "";
    o.user_field = cfg.string("user_field");
    o.factors = static_cast<int>(cfg.integer("factors"));
    o.learning_rate = static_cast<float>(cfg.number("learning_rate"));
    o.bias_learning_rate = static_cast<float>(cfg.number("bias_learning_rate"));
    o.bias_prior = static_cast<float>(cfg.number("bias_prior"));
    o.l2 = static_cast<float>(cfg.number("l2"));
    o.l2_bias = static_cast<float>(cfg.number("l2_bias"));
    o.init_scale = static_cast<float>(cfg.number("init_scale"));
    o.seed = static_cast<uint64_t>(cfg.integer("seed"));
    o.min_rating = cfg.number("min_rating");
    o.max_rating = cfg.number("max_rating");
    for (const auto& [type, w] : cfg.value("weights").entries()) {
        o.weights.emplace_back(type, static_cast<float>(w.as_double()));
    }
    o.default_weight = static_cast<float>(cfg.number("default_weight"));
    o.negatives = static_cast<int>(cfg.integer("negatives"));
    o.recency_share = static_cast<float>(cfg.number("recency_share"));
    o.recent_items = static_cast<uint32_t>(cfg.integer("recent_items"));
    o.top_n = static_cast<int>(cfg.integer("top_n"));
    std::string e = parse_emit_every(cfg, o.emit_every_updates, o.emit_every_ms);
    (void)e;  // validated by check() before the factory runs
    o.exclude_seen = cfg.boolean("exclude_seen");
    o.max_seen = static_cast<uint32_t>(cfg.integer("max_seen"));
    o.evaluate = cfg.boolean("evaluate");
    o.metrics_every = cfg.integer("metrics_every");
    o.serve_users = static_cast<size_t>(cfg.integer("serve_cache_users"));
    o.serve_max_age_ms = cfg.duration("serve_max_age").count();
    return o;
}

}  // namespace mf

ComponentSpec mf_spec() {
    return OperatorSpec("mf")
        .summary(
            "Incremental matrix factorization: one SGD step per rating or event, top-N "
            "recommendations per user and prequential evaluation.")
        .description(
            "Keyed by user (`key:`). Each user has latent factors and a bias (keyed state); "
            "items have factors and a bias in one model shared by all shards, so the operator "
            "learns one model at any parallelism (Hogwild!-style lock-free updates when "
            "parallelism > 1; with parallelism 1 a run is deterministic). Users and items are "
            "initialized lazily on their first event, with factors drawn from N(0, "
            "`init_scale`^2) seeded by `seed` and the id.\n\n"
            "`mode: explicit` learns ratings (`rating_field`): prediction = global mean + "
            "user bias + item bias + user . item; the biases learn with rate max(`bias_learning_"
            "rate`, 1 / (n + `bias_prior`)) where n counts the user's (item's) earlier ratings, "
            "the factors with AdaGrad (base rate `learning_rate`), both with L2 (`l2_bias`, "
            "`l2`). `mode: implicit` learns events weighted by their `type_field` (`weights`): "
            "each event takes `negatives` BPR steps against sampled items the user did not have, "
            "drawn from the `recent_items` most recently active items with probability "
            "`recency_share` and uniformly otherwise; the step is scaled by the weight.\n\n"
            "After an update, every `emit_every` updates of the user (or once per duration of "
            "event time), it emits the user's top `top_n` items (`exclude_seen`: not among the "
            "user's last `max_seen` items; `filter_field`: only items whose last value of that "
            "field equals the user's last value): `{ts, <user_field>, model: \"mf\", item_1.."
            "item_N, score_1..score_N}` (explicit: predicted ratings clamped to [`min_rating`, "
            "`max_rating`]; implicit: ranking scores). Item ids keep their type (string or "
            "int).\n\n"
            "`evaluate: true` scores every event before learning from it (prequential): MAE and "
            "RMSE of the clamped prediction (explicit), or HR@`top_n` and NDCG@`top_n` of the "
            "event's item ranked among the items the user did not have, counted when the user "
            "has history and the item was seen before (implicit). The running figures go to the "
            "`metrics` output every `metrics_every` events of the operator and once at the end, "
            "and to the gauges `mf_mae_ppm`/`mf_rmse_ppm` or `mf_hit_rate_ppm`/`mf_ndcg_ppm`.\n\n"
            "Bad records go to `errors` with a reason: a missing item, an item that is neither "
            "a string nor an integer, and (explicit) a missing, non-numeric, non-finite or out "
            "of range rating. Implicit events whose type has weight 0 are skipped and counted "
            "in `mf_skipped_total`. See docs/mf.md.")
        .keyed(KeyMode::kRequired)
        .param(Param::enumeration("mode", {"explicit", "implicit"})
                   .default_value("explicit")
                   .doc("`explicit`: learn ratings; `implicit`: learn weighted events with "
                        "sampled negatives."))
        .param(Param::string("item_field")
                   .default_value("item_id")
                   .doc("The field with the item id (a string or an integer)."))
        .param(Param::string("rating_field")
                   .default_value("rating")
                   .doc("Explicit mode: the numeric rating field."))
        .param(Param::string("type_field")
                   .default_value("type")
                   .doc("Implicit mode: the event type field, looked up in `weights`."))
        .param(Param::map("weights", ParamType::kDouble)
                   .default_value("{page_view: 1, click: 2, add_to_cart: 4, purchase: 8}")
                   .min(0)
                   .doc("Implicit mode: the weight of each event type; it scales the "
                        "learning step (capped at 1)."))
        .param(Param::number("default_weight")
                   .default_value(0.0)
                   .min(0)
                   .doc("Implicit mode: the weight of events whose type is missing or not in "
                        "`weights`; 0 skips them."))
        .param(Param::string("user_field")
                   .default_value("user_id")
                   .doc("Output field that holds the user (the key)."))
        .param(Param::integer("factors").default_value(32).min(1).max(1024).doc(
            "Latent factors per user and item. A restored model keeps its own."))
        .param(Param::number("learning_rate")
                   .default_value(0.1)
                   .min(0)
                   .max(10)
                   .doc("Step size of the factors (explicit: AdaGrad's base rate; implicit: "
                        "plain SGD)."))
        .param(Param::number("bias_learning_rate")
                   .default_value(0.03)
                   .min(0)
                   .max(10)
                   .doc("Step size of the biases; explicit mode uses at least 1 / (n + "
                        "`bias_prior`) for a user or item with n earlier ratings."))
        .param(Param::number("bias_prior")
                   .default_value(5.0)
                   .min(1)
                   .doc("Explicit mode: pseudo-count of the count-based bias learning rate; "
                        "larger values trust a new user's or item's first ratings less."))
        .param(
            Param::number("l2").default_value(0.02).min(0).doc("L2 regularization of the factors."))
        .param(Param::number("l2_bias").default_value(0.0).min(0).doc(
            "L2 regularization of the biases."))
        .param(Param::number("init_scale")
                   .default_value(0.05)
                   .min(0)
                   .max(10)
                   .doc("Standard deviation of the initial factors."))
        .param(Param::integer("seed").default_value(42).min(0).doc(
            "Seed of the initial factors and of negative sampling."))
        .param(Param::number("min_rating")
                   .default_value(1.0)
                   .doc("Explicit mode: the lowest valid rating; lower ratings go to `errors`. "
                        "Predictions are clamped to [min_rating, max_rating]."))
        .param(Param::number("max_rating")
                   .default_value(5.0)
                   .doc("Explicit mode: the highest valid rating; higher ratings go to "
                        "`errors`."))
        .param(Param::integer("negatives")
                   .default_value(10)
                   .min(0)
                   .max(1000)
                   .doc("Implicit mode: sampled negative items (BPR steps) per event."))
        .param(Param::number("recency_share")
                   .default_value(0.5)
                   .min(0)
                   .max(1)
                   .doc("Implicit mode: the share of negatives drawn from recently active "
                        "items (so popular items are sampled more); the rest are uniform."))
        .param(Param::integer("recent_items")
                   .default_value(1000)
                   .min(1)
                   .max(1 << 24)
                   .doc("Implicit mode: how many recent item events the recency sample "
                        "draws from."))
        .param(Param::integer("top_n").default_value(10).min(0).max(1000).doc(
            "Items per recommendation; 0 emits none (learning or evaluation only)."))
        .param(Param::any("emit_every")
                   .default_value("1")
                   .doc("Throttle: recommend after every N-th update of a user (`5`), or at "
                        "most once per this much event time (`30s`)."))
        .param(Param::boolean("exclude_seen")
                   .default_value(true)
                   .doc("Leave out the items the user already had (the last `max_seen`)."))
        .param(Param::integer("max_seen")
                   .default_value(1000)
                   .min(0)
                   .max(1000000)
                   .doc("Items remembered per user, for `exclude_seen`, negative sampling "
                        "and evaluation; the oldest is forgotten first."))
        .param(Param::string("filter_field")
                   .doc("Recommend only items whose last value of this field (a string, e.g. "
                        "`category`) equals the user's last value of it.")
                   .example("category"))
        .param(Param::boolean("evaluate")
                   .default_value(false)
                   .doc("Prequential evaluation: score each event before learning from it."))
        .param(Param::integer("metrics_every")
                   .default_value(1000)
                   .min(0)
                   .doc("With `evaluate`, emit the running metrics every this many events "
                        "(0: only at the end)."))
        .param(serve_cache_users_param())
        .param(serve_max_age_param())
        .output("metrics",
                "With `evaluate: true`: `{ts, model, mode, events, scored, items}` plus `mae` "
                "and `rmse` (explicit) or `hit_rate`, `ndcg` and `cutoff` (implicit).")
        .keyed_state<mf::UserState>(
            "users",
            "Per user: bias, factors and their AdaGrad sums, event count, the last "
            "`max_seen` items, the last `filter_field` value and the throttle's state.")
        .shared_state<mf::ItemModel>(
            "items",
            "For all shards: per item its factors, AdaGrad sums, bias, event count and "
            "`filter_field` value; the global rating mean, the recency ring and the running "
            "evaluation.")
        .rule(mf::check)
        .example("Movie ratings, with prequential MAE and RMSE", R"(sources:
  ratings: {type: file, path: ratings.jsonl}
operators:
  recs:
    type: mf
    input: ratings
    key: user_id
    item_field: movie_id
    rating_field: stars
    top_n: 10
    emit_every: 5
    evaluate: true
)")
        .example("Clickstream recommendations within the user's current category",
                 R"(operators:
  recs:
    type: mf
    input: clicks
    key: user_id
    mode: implicit
    weights: {page_view: 1, click: 2, add_to_cart: 4, purchase: 8}
    filter_field: category
    top_n: 10
    emit_every: 1m
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            return mf::make_operator(mf::Options::from(cfg));
        });
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(mf) {
    return eddy::mf_spec();
}
