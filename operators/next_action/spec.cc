// SPDX-License-Identifier: Apache-2.0
// The `next_action` operator's spec and configuration rules.
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "next_action/next_action.h"

namespace eddy {
namespace {

constexpr size_t kMaxContextFields = 8;

std::string check_next_action(const Config& cfg) {
    const std::string& field = cfg.string("field");
    std::vector<std::string> context = cfg.strings("context");
    if (context.size() > kMaxContextFields) {
        return "`context` lists " + std::to_string(context.size()) + " fields; at most " +
               std::to_string(kMaxContextFields) + " are allowed";
    }
    for (size_t i = 0; i < context.size(); ++i) {
        if (context[i].empty()) {
            return "`context` has an empty field name";
        }
        if (context[i] == field) {
            return "`context` lists `" + field +
                   "`, the action field itself; a context is what else is known about an "
                   "event, such as `device`";
        }
        for (size_t k = 0; k < i; ++k) {
            if (context[k] == context[i]) {
                return "`context` lists `" + context[i] + "` twice";
            }
        }
    }
    if (cfg.integer("max_transitions") < cfg.integer("top_k")) {
        return "`max_transitions` (" + std::to_string(cfg.integer("max_transitions")) +
               ") is below `top_k` (" + std::to_string(cfg.integer("top_k")) +
               "): a row could never fill the top k; raise `max_transitions`";
    }
    return check_ranking_names(cfg, kNextActionNames, {"order"});
}

}  // namespace

ComponentSpec next_action_spec() {
    OperatorSpec spec("next_action");
    spec.summary(
            "Predicts each user's next action (page, category or item) with decayed first- and "
            "second-order Markov chains per context, falling back to first order and then to "
            "popularity, and emits the top k with probabilities after each event.")
        .description(
            "Keyed by user. Each user's state is their two latest values of `field` (the "
            "actions, strings or integers) in arrival order. One model for all shards (shared "
            "state) counts transitions: the second order (prev2, prev) -> next, the first "
            "order prev -> next, and the global popularity of every action. A transition "
            "counts in the context of the state it leaves: the values of the `context` fields "
            "(such as device or segment; missing or null is a value of its own) and the "
            "`time_bucket` of that event, so that each context has chains of its own. Counts "
            "decay: an observation at t_k weighs 2^(-(T - t_k) / half_life) at time T "
            "(`half_life: 0s`: plain counts).\n\n"
            "After each event the operator emits `{ts, <key_field>, action_1..action_k, "
            "probability_1..probability_k, order}`: the k most likely next actions, best first, "
            "with their share of the row they come from (ties go to the action seen first). "
            "`order` is 2 when the second-order row of the user's (context, prev2, prev) has "
            "a decayed total of at least `min_support`, else 1 when the first-order row of "
            "(context, prev) has, else 0: global popularity. Fewer than k actions are set when "
            "the row knows fewer.\n\n"
            "Memory is bounded: at most `max_actions` distinct actions, `max_contexts` "
            "contexts and `max_rows` rows (one per state seen, about 100 bytes plus 16 per "
            "stored next action); a row keeps at most `max_transitions` next actions with "
            "Space-Saving (a new action replaces the weakest and inherits its count, so that "
            "every action with more than a 1 / max_transitions share of the row stays). Beyond "
            "`max_rows` new states are not learned (`eddy_next_action_unlearned_total`).\n\n"
            "With `evaluate: true` each event is first predicted from the user's previous "
            "state, then learnt (prequential): an event whose user has a previous action and "
            "whose action was seen before is a hit when it is among the top k (HR@k; NDCG@k "
            "adds 1 / log2(rank + 1)); the running totals over all shards go to `metrics`.\n\n"
            "Records whose action is missing, null or neither a string nor an integer, whose "
            "context value is a number with a fraction or a vector, or that would exceed "
            "`max_actions` or `max_contexts` go to `errors` with the reason. Metrics: "
            "`eddy_next_action_actions` and `eddy_next_action_rows` (gauges), "
            "`eddy_next_action_unlearned_total`, `eddy_next_action_evaluated_total`, "
            "`eddy_next_action_hits_total`. See docs/next_action.md.")
        .keyed(KeyMode::kRequired)
        .param(Param::string("field")
                   .required()
                   .doc("The action field (a string or an integer): a page, a category or an "
                        "item.")
                   .example("category"))
        .param(Param::list("context")
                   .default_value("[]")
                   .doc("Fields whose values select separate chains (strings, integers or "
                        "booleans; missing counts as null), such as `[device]` or `[segment]`.")
                   .example("[device]"))
        .param(Param::enumeration("time_bucket",
                                  {"none", "hour_of_day", "part_of_day", "day_of_week", "weekend"})
                   .default_value("none")
                   .doc("A context derived from the event time (UTC): the hour (0-23), the part "
                        "of the day (night 0-6 h, morning, afternoon, evening), the day of the "
                        "week or weekday versus weekend."))
        .param(Param::integer("top_k").default_value(5).min(1).max(100).doc(
            "How many next actions to emit (`action_1..action_k`, "
            "`probability_1..probability_k`), and the k of HR@k and NDCG@k."))
        .param(Param::duration("half_life")
                   .default_value("7d")
                   .min(0)
                   .doc("Time after which an observed transition's weight halves; 0s: no "
                        "decay."))
        .param(Param::number("min_support")
                   .default_value(3.0)
                   .min(0)
                   .doc("The decayed number of observations a second- or first-order row needs "
                        "to be used; below it the prediction falls back to the next lower "
                        "order (2, then 1, then popularity)."))
        .param(Param::duration("max_gap").default_value("0s").min(0).doc(
            "A user inactive for longer starts a new chain (no transition is "
            "learned across the gap), as a session would; 0s: never."))
        .param(Param::boolean("collapse_repeats")
                   .default_value(false)
                   .doc("An event with the same action as the user's previous one is neither "
                        "learned nor advances the chain (useful for categories); it still "
                        "emits a prediction."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Name of the output field that holds the key (the user)."))
        .param(Param::integer("max_actions")
                   .default_value(100000)
                   .min(1)
                   .max(NextActionLimits::kMaxActions)
                   .doc("Distinct actions the model learns; events with further actions go to "
                        "`errors`."))
        .param(Param::integer("max_contexts")
                   .default_value(1024)
                   .min(1)
                   .max(NextActionLimits::kMaxContexts)
                   .doc("Distinct contexts (combinations of context values and time bucket); "
                        "events of further contexts go to `errors`."))
        .param(Param::integer("max_rows")
                   .default_value(1000000)
                   .min(1)
                   .doc("Transition rows (states) the model holds, over both orders and all "
                        "contexts, plus the popularity row; transitions from further states are "
                        "not learned."))
        .param(Param::integer("max_transitions")
                   .default_value(20)
                   .min(1)
                   .max(1024)
                   .doc("Next actions stored per row (Space-Saving beyond it); at least "
                        "`top_k`."))
        .param(Param::boolean("emit").default_value(true).doc(
            "Emit predictions on the main output; `false` with `evaluate: true` only "
            "measures."))
        .param(Param::boolean("evaluate")
                   .default_value(false)
                   .doc("Prequential evaluation: for every event, first predict from the user's "
                        "previous state, score the prediction against the event's action "
                        "(HR@k, NDCG@k), then learn. Results go to `metrics`."))
        .param(Param::integer("metrics_every")
                   .default_value(1000)
                   .min(1)
                   .doc("With `evaluate`, emit the running metrics on `metrics` every this many "
                        "events (counted over all shards), and once at the end."))
        .output("metrics",
                "With `evaluate: true`: running `{ts, events, evaluated, hits, hit_rate, ndcg, "
                "top_k}` over all shards.")
        .keyed_state<ActionHistory>("history",
                                    "Per user: the two latest actions (indexes into the action "
                                    "index), the context of the latest event and its time.")
        .shared_state<NextActionModel>(
            "model",
            "For all shards: the action and context indexes, every transition row (decayed "
            "counts of the next actions per state) and the prequential counts.")
        .rule(check_next_action)
        .example("Next category per device and part of the day", R"(operators:
  next:
    type: next_action
    input: clicks
    key: user_id
    field: category
    context: [device]
    time_bucket: part_of_day
    top_k: 3
    half_life: 1d
    min_support: 5
    max_gap: 30m
    collapse_repeats: true
)")
        .example("Prequential HR@5 of the next page", R"(operators:
  next:
    type: next_action
    input: clicks
    key: user_id
    field: url
    evaluate: true
    emit: false
    metrics_every: 10000
)")
        .factory(make_next_action);
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(next_action) {
    return eddy::next_action_spec();
}
