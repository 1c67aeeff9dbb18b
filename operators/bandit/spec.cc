// SPDX-License-Identifier: Apache-2.0
// The `bandit` operator's spec and configuration rules.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "bandit/bandit.h"

namespace eddy {
namespace {

std::string check_bandit(const Config& cfg) {
    std::vector<std::string> arms = cfg.strings("arms");
    if (arms.size() < 2) {
        return "`arms` must list at least 2 arms to choose from, got " +
               std::to_string(arms.size());
    }
    if (arms.size() > 1024) {
        return "`arms` lists " + std::to_string(arms.size()) + " arms; at most 1024 are supported";
    }
    for (size_t i = 0; i < arms.size(); ++i) {
        if (std::find(arms.begin(), arms.begin() + static_cast<std::ptrdiff_t>(i), arms[i]) !=
            arms.begin() + static_cast<std::ptrdiff_t>(i)) {
            return "`arms` lists `" + arms[i] + "` twice; every arm must be named once";
        }
    }
    std::vector<std::string> decide_on = cfg.strings("decide_on");
    if (decide_on.empty()) {
        return "`decide_on` must name at least one event type that requests a decision";
    }
    if (cfg.value("rewards").entries().empty()) {
        return "`rewards` must map at least one event type to its reward, e.g. {click: 1}";
    }
    for (const auto& [type, r] : cfg.value("rewards").entries()) {
        bool number = r.kind() == ConfigValue::Kind::kInt || r.kind() == ConfigValue::Kind::kDouble;
        if (!number || !std::isfinite(r.as_double())) {
            return "the reward of `" + type + "` in `rewards` must be a finite number, got `" +
                   r.to_string() + "`";
        }
        if (std::find(decide_on.begin(), decide_on.end(), type) != decide_on.end()) {
            return "`" + type +
                   "` is both in `decide_on` and in `rewards`; an event type either requests a "
                   "decision or rewards one";
        }
    }
    std::vector<std::string> outputs = {"arm",
                                        "propensity",
                                        "policy",
                                        "kind",
                                        cfg.string("key_field"),
                                        cfg.string("decision_id_field")};
    if (cfg.has("segment_field")) {
        outputs.push_back(cfg.string("segment_field"));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
        if (std::find(outputs.begin(), outputs.begin() + static_cast<std::ptrdiff_t>(i),
                      outputs[i]) != outputs.begin() + static_cast<std::ptrdiff_t>(i)) {
            return "the output field `" + outputs[i] +
                   "` is used twice (key_field, decision_id_field, segment_field and the fixed "
                   "ts, arm, propensity, policy and kind must differ); choose another name";
        }
    }
    if (cfg.number("min_epsilon") > cfg.number("epsilon")) {
        return "`min_epsilon` must not exceed `epsilon`";
    }
    return "";
}

}  // namespace

ComponentSpec bandit_spec() {
    OperatorSpec spec("bandit");
    spec.summary(
            "Chooses an arm (a strategy, a layout, an item) per decision request with "
            "epsilon-greedy, UCB1 or Thompson sampling, learns from delayed rewards that carry "
            "the decision id, and estimates each policy's value off-policy.")
        .description(
            "Keyed by user. A record whose `type_field` is in `decide_on` requests a decision: "
            "the operator chooses one of `arms` with the configured `policy` and emits "
            "`{ts, <key_field>, <decision_id_field>, arm, propensity, policy}` (plus "
            "`<segment_field>` when set) on the main output. `propensity` is the probability "
            "with which the policy chose that arm, so the log supports off-policy evaluation. "
            "Decision ids are `<key>:<decision time in ms>:<n>`, n counting the user's "
            "decisions.\n\n"
            "A record whose type is in `rewards` and that carries a decision id of the same user "
            "rewards that decision with the type's value, if its event time is within "
            "[decision time, decision time + `reward_window`). Rewards of one decision combine "
            "by `reward_aggregation`. When the watermark passes the end of the window, a "
            "decision without a reward counts with reward 0; rewards for it that come later are "
            "late: counted in `eddy_bandit_late_rewards_total` and otherwise ignored. Reward "
            "events without a decision id are counted in "
            "`eddy_bandit_unattributed_rewards_total` and ignored, unless `attribution` is "
            "`last_decision`: then they reward the user's latest decision whose window holds "
            "their event time (last-touch attribution, for channels that cannot carry the "
            "id).\n\n"
            "Policies (n_a: the arm's decisions with a final reward, mean_a their mean reward, "
            "K arms): `epsilon_greedy` explores uniformly with probability eps = max("
            "`min_epsilon`, `epsilon` / (1 + `epsilon_decay` * decisions)) and otherwise takes "
            "the arm of highest mean (propensity 1 - eps + eps/K for it, eps/K for the others); "
            "`ucb1` takes the arm of highest mean_a + sqrt(`ucb_exploration` * ln n / n_a) "
            "(propensity 1); `thompson` chooses each arm with its posterior probability of "
            "being the best under Beta(`prior_alpha` + successes, `prior_beta` + failures) "
            "(rewards clamped to [0, 1]), estimated from `thompson_samples` draws. Arms without "
            "a final reward are tried first by epsilon-greedy's greedy choice and by UCB1.\n\n"
            "Arm statistics are one model for all shards (shared state), one bandit per value of "
            "`segment_field` when set (records without it use the global bandit, at most 4,096 "
            "segments). Randomness comes from `seed`, the key and the decision number, so a run "
            "at parallelism 1 is deterministic.\n\n"
            "The `estimates` output has, every `estimates_every` decisions and at the end, per "
            "segment one record per arm `{ts, kind: arm, arm, pulls, resolved, rewards, mean, "
            "ucb, alpha, beta, p_best}` and one per policy `{ts, kind: policy, policy, logging, "
            "decisions, ips, snips}`: the inverse-propensity estimate of what each policy would "
            "have earned, IPS = sum(r * pi(a) / p) / n, and its self-normalized form, where p "
            "is the logged propensity and pi(a) the probability the policy gave the logged arm "
            "at decision time (docs/bandit.md).\n\n"
            "Decision requests without a key, with a segment that is neither a string nor an "
            "integer, and rewards whose decision id is not a string or names no decision of "
            "the user go to `errors`. Metrics: `eddy_bandit_decisions_total`, "
            "`eddy_bandit_rewards_total`, `eddy_bandit_unrewarded_total`, "
            "`eddy_bandit_late_rewards_total`, `eddy_bandit_unattributed_rewards_total`, "
            "`eddy_bandit_evicted_total`.")
        .keyed(KeyMode::kRequired)
        .param(Param::list("arms")
                   .required()
                   .doc("The arms to choose from (2 to 1,024 names).")
                   .example("[popular, similar, trending]"))
        .param(Param::enumeration("policy", {"epsilon_greedy", "ucb1", "thompson"})
                   .default_value("thompson")
                   .doc("The policy that chooses arms; the other two are evaluated off-policy."))
        .param(Param::list("decide_on")
                   .default_value("[page_view]")
                   .doc("Event types that request a decision."))
        .param(Param::map("rewards", ParamType::kDouble)
                   .default_value("{click: 1, purchase: 1}")
                   .doc("Event types that reward a decision, with their reward. UCB1 and "
                        "Thompson sampling assume rewards in [0, 1]."))
        .param(Param::duration("reward_window")
                   .default_value("30m")
                   .min(1)
                   .doc("How long after a decision (in event time) a reward counts; a decision "
                        "without one by then has reward 0."))
        .param(Param::enumeration("reward_aggregation", {"earliest", "sum", "max"})
                   .default_value("earliest")
                   .doc("How several rewards of one decision combine: the first one (learned "
                        "at once), their sum or their maximum (learned when the window "
                        "closes)."))
        .param(Param::enumeration("attribution", {"decision_id", "last_decision"})
                   .default_value("decision_id")
                   .doc("Which decision a reward event rewards: only the one its decision id "
                        "names (`decision_id`), or, when it carries no id, the user's latest "
                        "decision whose reward window holds the event (`last_decision`)."))
        .param(Param::number("epsilon").default_value(0.1).min(0).max(1).doc(
            "epsilon_greedy: the exploration probability before decay."))
        .param(Param::number("epsilon_decay")
                   .default_value(0.0)
                   .min(0)
                   .doc("epsilon_greedy: eps = epsilon / (1 + epsilon_decay * decisions of the "
                        "segment); 0: constant."))
        .param(Param::number("min_epsilon")
                   .default_value(0.0)
                   .min(0)
                   .max(1)
                   .doc("epsilon_greedy: the floor of the decayed epsilon."))
        .param(Param::number("ucb_exploration")
                   .default_value(2.0)
                   .min(0)
                   .doc("ucb1: c in mean + sqrt(c ln n / n_a); 2 is Auer et al.'s UCB1."))
        .param(Param::number("prior_alpha")
                   .default_value(1.0)
                   .min(0.001)
                   .doc("thompson: alpha of every arm's Beta prior."))
        .param(Param::number("prior_beta")
                   .default_value(1.0)
                   .min(0.001)
                   .doc("thompson: beta of every arm's Beta prior."))
        .param(Param::integer("thompson_samples")
                   .default_value(1000)
                   .min(10)
                   .max(1000000)
                   .doc("thompson: joint posterior draws that estimate each arm's probability "
                        "of being the best, recomputed when a segment's evidence grows by 5%."))
        .param(Param::string("segment_field")
                   .doc("Optional field (string or integer) of decision requests that selects "
                        "an independent bandit per value; also written to decisions.")
                   .example("segment"))
        .param(Param::string("type_field").default_value("type").doc("The event type field."))
        .param(Param::string("decision_id_field")
                   .default_value("decision_id")
                   .doc("The field of decisions and of reward events that holds the decision "
                        "id."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Name of the decision field that holds the key."))
        .param(Param::integer("seed").default_value(1).doc("Seed of every random choice."))
        .param(Param::integer("estimates_every")
                   .default_value(10000)
                   .min(0)
                   .doc("Emit `estimates` after every this many decisions (over all shards); 0: "
                        "only at the end."))
        .param(Param::integer("max_pending")
                   .default_value(100)
                   .min(1)
                   .doc("Open decisions kept per user; beyond it the oldest is resolved early "
                        "with the reward it has (counted in eddy_bandit_evicted_total)."))
        .output("estimates",
                "Per segment, each arm's running statistics and each policy's IPS and SNIPS "
                "value estimates.")
        .keyed_state<UserDecisions>(
            "decisions",
            "Per user: the next decision number and the decisions whose reward window is open "
            "(time, segment, arm, propensities, reward so far).")
        .shared_state<BanditModel>(
            "arms",
            "For all shards: per segment the arms' pulls, final rewards and successes, and the "
            "IPS sums of each policy.")
        .global_state<BanditShard>(
            "shard",
            "Per shard: the latest event time and, per segment, the Thompson probabilities "
            "and the evidence they were computed at.")
        .rule(check_bandit)
        .example("Thompson sampling over three recommendation strategies", R"(operators:
  strategy:
    type: bandit
    input: clicks
    key: user_id
    arms: [popular, similar, trending]
    policy: thompson
    decide_on: [page_view]
    rewards: {click: 1, purchase: 1}
    reward_window: 30m
)")
        .example("Epsilon-greedy with decay, one bandit per segment", R"(operators:
  layout:
    type: bandit
    input: clicks
    key: user_id
    arms: [grid, list, carousel]
    policy: epsilon_greedy
    epsilon: 0.2
    epsilon_decay: 0.001
    min_epsilon: 0.01
    segment_field: device
    estimates_every: 1000
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            return make_bandit(cfg);
        });
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(bandit) {
    return eddy::bandit_spec();
}
