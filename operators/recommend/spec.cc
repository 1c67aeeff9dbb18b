// SPDX-License-Identifier: Apache-2.0
// The `recommend` operator's spec and configuration rules.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>

#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "common/published_rankings.h"
#include "recommend/recommend.h"

namespace eddy {

/// A YAML scalar as text: strings as written, integers in decimal.
std::string scalar_text(const ConfigValue& v) {
    if (v.kind() == ConfigValue::Kind::kString) {
        return v.as_string();
    }
    return v.kind() == ConfigValue::Kind::kInt ? std::to_string(v.as_int()) : v.to_string();
}

/// A YAML scalar as a number: typed numbers, or untyped text (values inside
/// `segment_boost`, which has no schema) that parses whole; NaN otherwise.
double scalar_number(const ConfigValue& v) {
    if (v.kind() == ConfigValue::Kind::kInt || v.kind() == ConfigValue::Kind::kDouble) {
        return v.as_double();
    }
    const std::string& text = v.as_string();
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    return v.is_scalar() && !text.empty() && end == text.c_str() + text.size() ? d : std::nan("");
}

namespace {

std::string check_recommend(const Config& cfg) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    for (const ConfigValue::Entry& entry : cfg.value("blend").entries()) {
        const std::string& name = entry.first;
        const ConfigValue& w = entry.second;
        bool known = std::find_if(kBlendSources.begin(), kBlendSources.end(),
                                  [&](const char* s) { return name == s; }) != kBlendSources.end();
        if (!known) {
            return "`blend` has an unknown source `" + name +
                   "`; the sources are item_similarity, mf, popularity and segment_popularity";
        }
        bool number = w.kind() == ConfigValue::Kind::kInt || w.kind() == ConfigValue::Kind::kDouble;
        if (!number || !std::isfinite(w.as_double()) || w.as_double() < 0) {
            return "the weight of `" + name + "` in `blend` must be a finite number >= 0, got `" +
                   w.to_string() + "`";
        }
    }
    for (const auto& [type, w] : cfg.value("weights").entries()) {
        bool number = w.kind() == ConfigValue::Kind::kInt || w.kind() == ConfigValue::Kind::kDouble;
        if (!number || !std::isfinite(w.as_double()) || w.as_double() < 0) {
            return "the weight of `" + type + "` in `weights` must be a finite number >= 0, got `" +
                   w.to_string() + "`";
        }
    }
    if (cfg.has("segment_boost")) {
        if (!cfg.has("segment_field") || !cfg.has("category_field")) {
            return "`segment_boost` needs `segment_field` (the user's segment) and "
                   "`category_field` (the item's category)";
        }
        for (const auto& [segment, rule] : cfg.value("segment_boost").entries()) {
            const ConfigValue* category = rule.is_map() ? rule.find("category") : nullptr;
            const ConfigValue* factor = rule.is_map() ? rule.find("factor") : nullptr;
            if (category == nullptr || factor == nullptr || rule.entries().size() != 2) {
                return "the boost of segment `" + segment +
                       "` in `segment_boost` must be a map with exactly `category` and `factor`, "
                       "e.g. {category: premium, factor: 1.5}";
            }
            if (category->is_map() || category->is_list()) {
                return "the category of segment `" + segment +
                       "` in `segment_boost` must be a string or an integer";
            }
            double f = scalar_number(*factor);
            if (!std::isfinite(f) || f <= 0) {
                return "the factor of segment `" + segment +
                       "` in `segment_boost` must be a finite number > 0, got `" +
                       factor->to_string() + "`";
            }
        }
    }
    if (cfg.has("segment_field") && cfg.string("segment_field") == cfg.string("key_field")) {
        return "`segment_field` and `key_field` are both `" + cfg.string("key_field") +
               "`; the output needs both: choose different names";
    }
    if (std::string e = check_serve_cache(cfg, cfg.integer("top_n")); !e.empty()) {
        return e;
    }
    return check_recommender_names(cfg);
}

}  // namespace

ComponentSpec recommend_spec() {
    OperatorSpec spec("recommend");
    spec.summary(
            "A hybrid recommender: blends item-item similarity, implicit matrix factorization "
            "and decayed (segment) popularity by how much it knows about each user, boosts "
            "categories per segment, and emits the top N with the source of each item.")
        .description(
            "Keyed by user. One model for all shards (shared state) learns from every event "
            "three ways: item-item co-occurrence over each user's `history` latest distinct "
            "items (as `item_similarity`, keeping `neighbours` per item), implicit matrix "
            "factorization with `negatives` BPR steps per event against sampled items the user "
            "did not have (as `mf` in implicit mode), and popularity decayed with `half_life`, "
            "global and per segment (as `popularity` with `group_field`). Events are weighted by "
            "their `type_field` (`weights`); an event of weight 0 is not learned.\n\n"
            "Ranking a user with n remembered items scores every item the user may get "
            "(not among their `exclude_recent` latest): each source's score is scaled to [0, 1] "
            "over those items (similarity sums and popularity by their maximum, mf from its "
            "minimum to its maximum), then\n\n"
            "score = c * (b_sim * sim + b_mf * mf) + b_pop * popularity + b_seg * "
            "segment_popularity, with c = n / (n + `confidence`)\n\n"
            "and the `blend` weights b. A new user (n = 0) therefore gets popularity and their "
            "segment's popularity; the learned models take over as the user's history grows. "
            "With `segment_boost`, a user whose latest `segment_field` value names a rule has "
            "the scores of items whose latest `category_field` value is the rule's category "
            "multiplied by its factor.\n\n"
            "After each event the operator emits the user's top N (per `emit`, `emit_every`): "
            "`{ts, <key_field>, item_1..item_N, score_1..score_N, source_1..source_N}` and the "
            "user's segment (under `segment_field`, when set), best first; `source_i` names "
            "the source with the largest part in item i's score (`item_similarity`, `mf`, "
            "`popularity` or `segment_popularity`). Ranking scans every item: O(items x "
            "factors) per recommendation.\n\n"
            "With `evaluate: true` each event is first predicted, then learnt (prequential "
            "HR@N and NDCG@N, as `item_similarity`), the running totals over all shards going "
            "to `metrics` (docs/recommenders.md).\n\n"
            "Records without a string or integer item (and without a segment), or with a segment "
            "or category that is "
            "neither a string nor an integer, go to `errors`. Metrics: `eddy_recommend_items` "
            "and `eddy_recommend_pairs` (gauges), `eddy_recommend_skipped_total`, "
            "`eddy_recommend_segment_updates_total`, `eddy_recommend_evaluated_total`, "
            "`eddy_recommend_hits_total`.")
        .param(Param::map("blend", ParamType::kDouble)
                   .default_value(
                       "{item_similarity: 1.0, mf: 0.5, popularity: 0.1, segment_popularity: 0.1}")
                   .doc("Weight of each source in the blended score; sources not listed keep "
                        "these defaults, 0 turns a source off."))
        .param(Param::number("confidence")
                   .default_value(5.0)
                   .min(0)
                   .doc("Items a user must have for the learned models (item_similarity, mf) to "
                        "count at half their `blend` weight: c = n / (n + confidence)."))
        .param(Param::integer("history").default_value(10).min(1).max(1000).doc(
            "How many of a user's latest distinct items an event co-occurs with, and how many "
            "items the similarity scores are computed from."))
        .param(Param::integer("neighbours")
                   .default_value(200)
                   .min(1)
                   .max(1000)
                   .doc("Most similar items kept per item."))
        .param(Param::integer("factors").default_value(32).min(0).max(1024).doc(
            "Latent factors per user and item (0: no mf). A restored model keeps its own."))
        .param(Param::number("learning_rate")
                   .default_value(0.05)
                   .min(0)
                   .doc("Step size of the factors in a BPR step (scaled by the event's weight, "
                        "at most 1)."))
        .param(Param::number("bias_learning_rate")
                   .default_value(0.05)
                   .min(0)
                   .doc("Step size of the item biases."))
        .param(
            Param::number("l2").default_value(0.02).min(0).doc("L2 regularization of the factors."))
        .param(Param::number("init_scale")
                   .default_value(0.1)
                   .min(0)
                   .doc("Standard deviation of the initial factors."))
        .param(
            Param::integer("negatives")
                .default_value(5)
                .min(0)
                .max(100)
                .doc("BPR steps per event, each against one sampled item the user did not have."))
        .param(Param::number("recency_share")
                   .default_value(0.5)
                   .min(0)
                   .max(1)
                   .doc("Share of negatives drawn from recently active items (the rest "
                        "uniformly from all items)."))
        .param(Param::integer("recent_items")
                   .default_value(1000)
                   .min(1)
                   .max(1 << 24)
                   .doc("Size of the ring of recently active items that negatives are drawn from."))
        .param(Param::integer("seed").default_value(42).min(0).doc(
            "Seed of the initial factors and of negative sampling."))
        .param(Param::duration("half_life")
                   .default_value("1d")
                   .min(0)
                   .doc("Time after which an event's popularity weight halves; 0s: no decay."))
        .param(
            Param::map("weights", ParamType::kDouble)
                .default_value(
                    "{page_view: 1, click: 2, add_to_cart: 4, purchase: 8, search: 0, signup: 0}")
                .doc("Weight of an event by its `type_field` value (popularity weight and BPR "
                     "step scale); types not listed weigh `default_weight`; weight 0: the "
                     "event is not learned (searches and signups have no item)."))
        .param(Param::number("default_weight")
                   .default_value(1.0)
                   .min(0)
                   .doc("Weight of events whose type is missing or not in `weights`."))
        .param(Param::string("type_field").default_value("type").doc("The event type field."))
        .param(Param::string("segment_field")
                   .doc("Optional field with the user's segment (a string or an integer): segment "
                        "popularity, segment boosts, and written to the output. A record with a "
                        "segment and no item only sets the user's segment, so the segment changes "
                        "that `kmeans` or `segment` emit can be an input beside the events.")
                   .example("segment"))
        .param(Param::string("category_field")
                   .doc("Optional field with the item's category (a string or an integer); an "
                        "item keeps the latest seen. Needed by `segment_boost`.")
                   .example("category"))
        .param(Param::map("segment_boost")
                   .doc("Per segment value, a category whose items' scores are multiplied by a "
                        "factor for users in that segment.")
                   .example("{premium: {category: premium, factor: 1.5}}"));
    add_recommender_params(spec);
    spec.param(serve_cache_users_param()).param(serve_max_age_param());
    spec.keyed_state<HybridUser>(
            "users",
            "Per user: the latest distinct items (indexes into the item index), oldest first, "
            "at most max(`history`, `exclude_recent`); the segment; the throttle's last "
            "emission; the latent factors and the count of events learned.")
        .shared_state<HybridModel>(
            "model",
            "For all shards: the item index, item-item co-occurrence rows with neighbour lists, "
            "global and per-segment popularity, item factors and biases, item categories, the "
            "ring of recently active items and the prequential counts.")
        .rule(check_recommend)
        .example("Hybrid recommendations per user, boosted by segment", R"(operators:
  recs:
    type: recommend
    input: clicks
    key: user_id
    item_field: item_id
    segment_field: segment
    category_field: category
    segment_boost:
      premium: {category: premium, factor: 1.5}
    top_n: 10
    emit_every: 1m
)")
        .example("Prequential HR@10 of the blend", R"(operators:
  recs:
    type: recommend
    input: clicks
    key: user_id
    evaluate: true
    emit: false
    metrics_every: 10000
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            return make_recommend(cfg);
        });
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(recommend) {
    return eddy::recommend_spec();
}
