// SPDX-License-Identifier: Apache-2.0
// bandit: simulated Bernoulli arms for each policy (the best arm wins the
// last 20% of 20,000 decisions, UCB1's regret is sublinear), propensities,
// the reward window (rewards in and after it, zero reward on close,
// aggregation), segments, determinism, bad input, the spec and docs, a YAML
// topology, codecs, a stopped and resumed job, and the operator's throughput.
#include "bandit/bandit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/record.h"

#include "harness.h"
#include "io/generator.h"
#include "json_fields.h"
#include "operator_driver.h"
#include "resume_support.h"
#include "spec_support.h"
#include "time/timer_service.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::num;
using testing::raw;
using testing::run_yaml;

/// The validated definition of a bandit with `params` (a YAML flow map body).
ComponentDef bandit_def(const std::string& params) {
    std::string yaml =
        "sources:\n  in: {type: memory, records: []}\noperators:\n  op: {type: bandit, input: "
        "in, key: user_id, " +
        params + "}\nsinks:\n  out: {type: null, input: op}\n";
    return testing::component_def(yaml, "op");
}

/// One bandit called directly (no job, no threads): decisions on the main
/// output, estimates on output 1, errors (and late records) on 2.
class Driver final : public testing::OperatorDriver {
public:
    explicit Driver(const std::string& params) : OperatorDriver(bandit_def(params), {"estimates"}) {
        user_ = fields_.intern("user_id");
        type_ = fields_.intern("type");
        id_ = fields_.intern("decision_id");
        arm_ = fields_.intern("arm");
        propensity_ = fields_.intern("propensity");
        segment_ = fields_.intern("segment");
        kind_ = fields_.intern("kind");
    }

    /// A decision request of `user` at `t`; returns the decision, or nullptr
    /// when it went to errors.
    const Record* decide(const std::string& user, int64_t t, const char* segment = nullptr) {
        Record& r = input();
        r.set_time(t);
        r.set(user_, std::string_view(user));
        r.set(type_, "page_view");
        if (segment != nullptr) {
            r.set(segment_, segment);
        }
        size_t before = decisions().size();
        process(r);
        return decisions().size() > before ? &decisions()[decisions().size() - 1] : nullptr;
    }
    /// A reward event of `type` for decision `id` of `user` at `t`.
    void reward(const std::string& user, int64_t t, std::string_view id,
                const char* type = "click") {
        Record& r = input();
        r.set_time(t);
        r.set(user_, std::string_view(user));
        r.set(type_, type);
        r.set(id_, id);
        process(r);
    }
    /// A reward event of `type` without a decision id.
    void untagged(const std::string& user, int64_t t, const char* type = "click") {
        Record& r = input();
        r.set_time(t);
        r.set(user_, std::string_view(user));
        r.set(type_, type);
        process(r);
    }
    /// Keyed by user, as the runtime would key it.
    void process(Record& r) {
        const Value* key = r.get(user_);
        r.set_key(key == nullptr ? Value() : *key);
        OperatorDriver::process(r);
    }

    std::string text(const Record& r, FieldId f) const {
        const Value* v = r.get(f);
        return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    }
    std::string arm(const Record& r) const { return text(r, arm_); }
    std::string id(const Record& r) const { return text(r, id_); }
    double propensity(const Record& r) const { return r.get(propensity_)->as_double(); }
    /// The last estimate of `kind` whose `key_field` equals `value` (and
    /// segment `segment` when not empty).
    const Record* estimate(const std::string& kind, const std::string& key_field,
                           const std::string& value, const std::string& segment = "") {
        FieldId f = fields_.intern(key_field);
        const Batch& b = estimates();
        for (size_t i = b.size(); i-- > 0;) {
            if (text(b[i], kind_) == kind && text(b[i], f) == value &&
                (segment.empty() || text(b[i], segment_) == segment)) {
                return &b[i];
            }
        }
        return nullptr;
    }
    double number(const Record& r, const std::string& field) {
        const Value* v = r.get(fields_.intern(field));
        return v != nullptr && v->is_number() ? v->as_double() : std::nan("");
    }

    Batch& decisions() { return out(0); }
    Batch& estimates() { return out(1); }

private:
    FieldId user_{}, type_{}, id_{}, arm_{}, propensity_{}, segment_{}, kind_{};
};

// ---- Simulated Bernoulli arms ------------------------------------------

const std::vector<double> kArmP = {0.1, 0.3, 0.45, 0.6};  // the best is arm d
const std::string kArms = "arms: [a, b, c, d]";

struct Simulation {
    std::vector<int> chosen;     ///< Arm index per decision.
    std::vector<double> regret;  ///< Cumulative expected regret after decision i.
    std::vector<std::string> ids;
    double best_share_last_20 = 0;
};

/// `decisions` decisions of 1,000 users, one every 100 ms; the chosen arm
/// pays 1 with its probability in kArmP, as a click 1 s later; the reward
/// window is 5 s, so feedback lags about 50 decisions, as it would live.
Simulation simulate(const std::string& params, int decisions, uint64_t seed = 7) {
    Driver d(kArms + ", reward_window: 5s, estimates_every: 0, " + params);
    std::mt19937_64 rng(seed);
    std::bernoulli_distribution coin[4] = {
        std::bernoulli_distribution(kArmP[0]), std::bernoulli_distribution(kArmP[1]),
        std::bernoulli_distribution(kArmP[2]), std::bernoulli_distribution(kArmP[3])};
    struct Click {
        int64_t t;
        std::string user, id;
    };
    std::deque<Click> clicks;
    Simulation sim;
    double regret = 0;
    for (int i = 0; i < decisions; ++i) {
        int64_t t = 1'000'000 + int64_t{i} * 100;
        while (!clicks.empty() && clicks.front().t <= t) {
            d.reward(clicks.front().user, clicks.front().t, clicks.front().id);
            clicks.pop_front();
        }
        d.advance(t - 1);
        std::string user = "u" + std::to_string(i % 1000);
        const Record* r = d.decide(user, t);
        EXPECT_NE(r, nullptr);
        if (r == nullptr) {
            break;
        }
        int arm = d.arm(*r)[0] - 'a';
        sim.chosen.push_back(arm);
        sim.ids.push_back(d.id(*r));
        regret += kArmP[3] - kArmP[static_cast<size_t>(arm)];
        sim.regret.push_back(regret);
        if (coin[arm](rng)) {
            clicks.push_back({t + 1000, user, d.id(*r)});
        }
    }
    size_t tail = sim.chosen.size() / 5;
    sim.best_share_last_20 =
        static_cast<double>(
            std::count(sim.chosen.end() - static_cast<std::ptrdiff_t>(tail), sim.chosen.end(), 3)) /
        static_cast<double>(tail);
    return sim;
}

void report(const std::string& policy, const Simulation& s) {
    auto at = [&s](size_t n) { return s.regret[n - 1]; };
    std::cout << "[bandit sim] " << policy << ": best arm in last 20% = " << s.best_share_last_20
              << ", regret@2500 = " << at(2500) << ", @5000 = " << at(5000)
              << ", @10000 = " << at(10000) << ", @20000 = " << at(20000) << "\n";
}

TEST(BanditSimulationTest, EpsilonGreedyWithDecayFindsTheBestArm) {
    Simulation s = simulate(
        "policy: epsilon_greedy, epsilon: 0.2, epsilon_decay: 0.001, min_epsilon: 0.0", 20000);
    report("epsilon_greedy", s);
    EXPECT_GE(s.best_share_last_20, 0.9);
}

TEST(BanditSimulationTest, Ucb1FindsTheBestArmWithSublinearRegret) {
    Simulation s = simulate("policy: ucb1", 20000);
    report("ucb1", s);
    EXPECT_GE(s.best_share_last_20, 0.9);
    double first_half = s.regret[9999];
    double second_half = s.regret[19999] - s.regret[9999];
    // Linear regret would make the halves equal; UCB1's is O(log n).
    EXPECT_LT(second_half, 0.5 * first_half);
    // regret(n) / sqrt(n ln n) falls as n grows.
    auto ratio = [&s](size_t n) {
        double x = static_cast<double>(n);
        return s.regret[n - 1] / std::sqrt(x * std::log(x));
    };
    EXPECT_LT(ratio(20000), ratio(5000));
    EXPECT_LT(ratio(5000), ratio(1250));
    std::cout << "[bandit sim] ucb1: regret first half " << first_half << ", second half "
              << second_half << "; regret / sqrt(n ln n) at 1250, 5000, 20000: " << ratio(1250)
              << ", " << ratio(5000) << ", " << ratio(20000) << "\n";
}

TEST(BanditSimulationTest, ThompsonSamplingFindsTheBestArm) {
    Simulation s = simulate("policy: thompson", 20000);
    report("thompson", s);
    EXPECT_GE(s.best_share_last_20, 0.9);
}

TEST(BanditSimulationTest, ASeedGivesTheSameDecisionsAndAnotherSeedOthers) {
    Simulation a = simulate("policy: thompson, seed: 5", 3000);
    Simulation b = simulate("policy: thompson, seed: 5", 3000);
    Simulation c = simulate("policy: thompson, seed: 6", 3000);
    EXPECT_EQ(a.chosen, b.chosen);
    EXPECT_EQ(a.ids, b.ids);
    EXPECT_NE(a.chosen, c.chosen);
    Simulation e1 = simulate("policy: epsilon_greedy", 3000);
    Simulation e2 = simulate("policy: epsilon_greedy", 3000);
    EXPECT_EQ(e1.chosen, e2.chosen);
}

// ---- Propensities ------------------------------------------------------

TEST(BanditPropensityTest, EpsilonGreedyLogsOneMinusEpsilonPlusEpsilonOverKForTheGreedyArm) {
    Driver d("arms: [a, b, c], policy: epsilon_greedy, epsilon: 0.3, reward_window: 1s");
    // Train: every arm once, only b pays.
    for (int i = 0; i < 3; ++i) {
        const Record* r = d.decide("u" + std::to_string(i), 1000 + i);
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(d.arm(*r), std::string(1, static_cast<char>('a' + i)));  // untried first
        if (d.arm(*r) == "b") {
            d.reward("u" + std::to_string(i), 1500, d.id(*r));
        }
    }
    d.advance(10'000);
    int greedy = 0;
    const int n = 3000;
    for (int i = 0; i < n; ++i) {
        const Record* r = d.decide("v" + std::to_string(i), 20'000 + i);
        ASSERT_NE(r, nullptr);
        if (d.arm(*r) == "b") {
            ++greedy;
            EXPECT_DOUBLE_EQ(d.propensity(*r), 1 - 0.3 + 0.3 / 3);
        } else {
            EXPECT_DOUBLE_EQ(d.propensity(*r), 0.3 / 3);
        }
    }
    EXPECT_NEAR(static_cast<double>(greedy) / n, 0.8, 0.03);
}

TEST(BanditPropensityTest, Ucb1IsDeterministicAndThompsonFrequenciesMatchItsPropensities) {
    Driver ucb("arms: [a, b], policy: ucb1");
    for (int i = 0; i < 20; ++i) {
        const Record* r = ucb.decide("u", 1000 + i);
        ASSERT_NE(r, nullptr);
        EXPECT_DOUBLE_EQ(ucb.propensity(*r), 1.0);
    }
    Driver ts("arms: [a, b], policy: thompson, reward_window: 1s");
    // Evidence from 8 decisions: a pays 3 times in 4, b once in 4; then no
    // feedback, so the probabilities stay fixed while 4,000 decisions are drawn.
    int pulls[2] = {0, 0};
    for (int i = 0; i < 8; ++i) {
        std::string user = "t" + std::to_string(i);
        const Record* r = ts.decide(user, 1000 + i);
        ASSERT_NE(r, nullptr);
        int arm = ts.arm(*r) == "a" ? 0 : 1;
        int k = pulls[arm]++;
        if (arm == 0 ? k % 4 != 3 : k % 4 == 0) {
            ts.reward(user, 1000 + i, ts.id(*r));
        }
    }
    ts.advance(100'000);
    double p_a = 0;
    int a = 0;
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
        const Record* r = ts.decide("w" + std::to_string(i), 200'000 + i);
        ASSERT_NE(r, nullptr);
        double p = ts.propensity(*r);
        EXPECT_GT(p, 0);
        EXPECT_LE(p, 1);
        if (ts.arm(*r) == "a") {
            ++a;
            p_a = p;
        }
    }
    // a is the better bet, not a certain one; the arms are drawn as often as logged.
    EXPECT_GT(p_a, 0.5);
    EXPECT_LT(p_a, 1.0);
    EXPECT_NEAR(static_cast<double>(a) / n, p_a, 0.03);
}

// ---- The reward window -------------------------------------------------

TEST(BanditWindowTest, RewardsInTheWindowCountAndUnrewardedDecisionsCountZeroWhenItCloses) {
    Driver d("arms: [a, b], policy: ucb1, reward_window: 10s");
    const Record* first = d.decide("u1", 1000);  // a (untried)
    ASSERT_NE(first, nullptr);
    std::string id1 = d.id(*first);
    EXPECT_EQ(id1, "u1:1000:0");
    const Record* second = d.decide("u1", 2000);  // b
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(d.arm(*second), "b");
    std::string id2 = d.id(*second);
    d.reward("u1", 6000, id1);  // within [1000, 11000)
    d.advance(10'999);          // closes the first window only
    d.advance(11'999);          // closes the second, unrewarded
    d.close();
    const Record* a = d.estimate("arm", "arm", "a");
    const Record* b = d.estimate("arm", "arm", "b");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(d.number(*a, "resolved"), 1);
    EXPECT_EQ(d.number(*a, "mean"), 1);
    EXPECT_EQ(d.number(*b, "resolved"), 1);
    EXPECT_EQ(d.number(*b, "mean"), 0);
    EXPECT_EQ(d.count("bandit_rewards_total"), 1);
    EXPECT_EQ(d.count("bandit_unrewarded_total"), 1);
    EXPECT_EQ(d.count("bandit_late_rewards_total"), 0);
    (void)id2;
}

TEST(BanditWindowTest, RewardsAfterTheWindowAreLateCountedAndNotLearned) {
    Driver d("arms: [a, b], policy: ucb1, reward_window: 10s");
    const Record* r = d.decide("u1", 1000);
    ASSERT_NE(r, nullptr);
    std::string id = d.id(*r);
    d.reward("u1", 11'000, id);  // at the window's end: late, though still pending
    d.advance(20'000);
    d.reward("u1", 20'001, id);  // after the window closed
    d.close();
    EXPECT_EQ(d.count("bandit_late_rewards_total"), 2);
    EXPECT_EQ(d.count("bandit_unrewarded_total"), 1);
    EXPECT_TRUE(d.errors().empty());
    const Record* a = d.estimate("arm", "arm", "a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(d.number(*a, "mean"), 0);
}

TEST(BanditWindowTest, AggregationEarliestSumAndMax) {
    for (const auto& [agg, expected] :
         std::vector<std::pair<std::string, double>>{{"earliest", 1}, {"sum", 4}, {"max", 3}}) {
        Driver d(
            "arms: [a, b], policy: ucb1, ucb_exploration: 0, rewards: {click: 1, "
            "purchase: 3}, reward_aggregation: " +
            agg);
        const Record* r = d.decide("u1", 1000);
        ASSERT_NE(r, nullptr);
        std::string id = d.id(*r);
        d.reward("u1", 2000, id, "click");
        d.reward("u1", 3000, id, "purchase");
        d.close();
        const Record* a = d.estimate("arm", "arm", "a");
        ASSERT_NE(a, nullptr);
        EXPECT_EQ(d.number(*a, "rewards"), expected) << agg;
        EXPECT_EQ(d.number(*a, "resolved"), 1) << agg;
    }
}

TEST(BanditWindowTest, LastDecisionAttributionRewardsTheLatestOpenDecisionOfAnIdlessReward) {
    Driver d("arms: [a, b], policy: ucb1, reward_window: 10s, attribution: last_decision");
    ASSERT_NE(d.decide("u1", 1000), nullptr);  // a
    ASSERT_NE(d.decide("u1", 2000), nullptr);  // b
    d.untagged("u1", 3000);                    // the latest open decision: b's
    d.untagged("u2", 3000);                    // u2 has no decision
    d.untagged("u1", 500);                     // before any decision of u1
    d.close();
    const Record* a = d.estimate("arm", "arm", "a");
    const Record* b = d.estimate("arm", "arm", "b");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(d.number(*a, "mean"), 0);
    EXPECT_EQ(d.number(*b, "mean"), 1);
    EXPECT_EQ(d.count("bandit_rewards_total"), 1);
    EXPECT_EQ(d.count("bandit_unattributed_rewards_total"), 2);

    // Without it (the default), the same reward is unattributed.
    Driver by_id("arms: [a, b], policy: ucb1, reward_window: 10s");
    ASSERT_NE(by_id.decide("u1", 1000), nullptr);
    by_id.untagged("u1", 3000);
    by_id.close();
    EXPECT_EQ(by_id.count("bandit_rewards_total"), 0);
    EXPECT_EQ(by_id.count("bandit_unattributed_rewards_total"), 1);
}

TEST(BanditWindowTest, LastDecisionAttributionIgnoresDecisionsWhoseWindowHasPassed) {
    Driver d("arms: [a, b], policy: ucb1, reward_window: 10s, attribution: last_decision");
    ASSERT_NE(d.decide("u1", 1000), nullptr);
    d.untagged("u1", 11'000);  // at the end of the only window
    d.close();
    EXPECT_EQ(d.count("bandit_rewards_total"), 0);
    EXPECT_EQ(d.count("bandit_unattributed_rewards_total"), 1);
    EXPECT_EQ(d.count("bandit_unrewarded_total"), 1);
}

TEST(BanditWindowTest, MaxPendingResolvesTheOldestEarly) {
    Driver d("arms: [a, b], policy: ucb1, max_pending: 2, reward_window: 1h");
    for (int i = 0; i < 5; ++i) {
        ASSERT_NE(d.decide("u1", 1000 + i), nullptr);
    }
    EXPECT_EQ(d.count("bandit_evicted_total"), 3);
    d.close();
    EXPECT_EQ(d.count("bandit_unrewarded_total"), 5);
}

// ---- Segments and IPS --------------------------------------------------

TEST(BanditSegmentTest, SegmentsAreIndependentBandits) {
    Driver d(
        "arms: [a, b], policy: epsilon_greedy, epsilon: 0, segment_field: segment, "
        "reward_window: 1s");
    // Segment x: a pays; segment y: b pays.
    for (int i = 0; i < 40; ++i) {
        bool x = i % 2 == 0;
        std::string user = "u" + std::to_string(i);
        const Record* r = d.decide(user, 1000 + i * 10, x ? "x" : "y");
        ASSERT_NE(r, nullptr);
        if (d.arm(*r) == (x ? "a" : "b")) {
            d.reward(user, 1001 + i * 10, d.id(*r));
        }
        d.advance(1000 + i * 10);
    }
    d.advance(10'000);
    const Record* rx = d.decide("p", 20'000, "x");
    const Record* ry = d.decide("q", 20'001, "y");
    ASSERT_NE(rx, nullptr);
    ASSERT_NE(ry, nullptr);
    EXPECT_EQ(d.arm(*rx), "a");
    EXPECT_EQ(d.arm(*ry), "b");
    // A decision without a segment uses the global bandit, which has none of this evidence.
    const Record* none = d.decide("z", 20'002);
    ASSERT_NE(none, nullptr);
    EXPECT_EQ(d.arm(*none), "a");  // untried first
    d.close();
    const Record* xa = d.estimate("arm", "arm", "a", "x");
    const Record* ya = d.estimate("arm", "arm", "a", "y");
    const Record* yb = d.estimate("arm", "arm", "b", "y");
    ASSERT_NE(xa, nullptr);
    ASSERT_NE(ya, nullptr);
    ASSERT_NE(yb, nullptr);
    EXPECT_EQ(d.number(*xa, "rewards"), 1);
    EXPECT_EQ(d.number(*ya, "rewards"), 0);
    EXPECT_EQ(d.number(*yb, "rewards"), 1);
}

TEST(BanditIpsTest, TheLoggingPolicysIpsIsItsMeanRewardAndOtherPoliciesAreEstimated) {
    Driver d(kArms + ", policy: epsilon_greedy, epsilon: 0.5, reward_window: 5s");
    std::mt19937_64 rng(3);
    double total = 0;
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
        int64_t t = 1'000'000 + int64_t{i} * 100;
        std::string user = "u" + std::to_string(i % 100);
        const Record* r = d.decide(user, t);
        ASSERT_NE(r, nullptr);
        int arm = d.arm(*r)[0] - 'a';
        if (std::bernoulli_distribution(kArmP[static_cast<size_t>(arm)])(rng)) {
            d.reward(user, t + 1, d.id(*r));
            total += 1;
        }
        d.advance(t);
    }
    d.close();
    const Record* eg = d.estimate("policy", "policy", "epsilon_greedy");
    const Record* ucb = d.estimate("policy", "policy", "ucb1");
    const Record* ts = d.estimate("policy", "policy", "thompson");
    ASSERT_NE(eg, nullptr);
    ASSERT_NE(ucb, nullptr);
    ASSERT_NE(ts, nullptr);
    EXPECT_NEAR(d.number(*eg, "ips"), total / n, 1e-9);
    EXPECT_NEAR(d.number(*eg, "snips"), total / n, 1e-9);
    EXPECT_EQ(d.number(*eg, "decisions"), n);
    // Epsilon-greedy at 0.5 earns about 0.5 * 0.6 + 0.5 * mean(p) = 0.481; the
    // policies that exploit more are estimated to earn more, near the best arm's 0.6.
    EXPECT_GT(d.number(*ucb, "snips"), d.number(*eg, "snips"));
    EXPECT_GT(d.number(*ts, "snips"), d.number(*eg, "snips"));
    EXPECT_NEAR(d.number(*ts, "snips"), 0.6, 0.08);
    std::cout << "[bandit ips] logging epsilon_greedy(0.5) mean reward " << total / n
              << "; IPS/SNIPS ucb1 " << d.number(*ucb, "ips") << "/" << d.number(*ucb, "snips")
              << ", thompson " << d.number(*ts, "ips") << "/" << d.number(*ts, "snips") << "\n";
}

// ---- Bad input ---------------------------------------------------------

TEST(BanditErrorsTest, BadInputGoesToErrorsWithAReasonOrIsCounted) {
    Driver d("arms: [a, b], segment_field: segment, reward_window: 1h");
    const Record* r = d.decide("u1", 1000);
    ASSERT_NE(r, nullptr);
    std::string id = d.id(*r);
    d.reward("u1", 1001, "u1:1000:7");  // a number never handed out
    d.reward("u2", 1002, id);           // another user's decision
    d.reward("u1", 1003, "garbage");    // not an id
    d.reward("u1", 1004, "u1:999:0");   // the right number, the wrong time
    d.reward("nobody", 1005, "nobody:1:0");
    ASSERT_EQ(d.reasons_.size(), 5u);
    for (const std::string& reason : d.reasons_) {
        EXPECT_THAT(reason, HasSubstr("names no decision of this user"));
    }
    // No id at all: counted, not an error.
    Batch in;
    FieldId user = d.field("user_id"), type = d.field("type"), idf = d.field("decision_id"),
            seg = d.field("segment");
    Record& click = in.append();
    click.set_time(1006);
    click.set(user, "u1");
    click.set(type, "click");
    d.process(click);
    EXPECT_EQ(d.count("bandit_unattributed_rewards_total"), 1);
    Record& numeric = in.append();
    numeric.set_time(1007);
    numeric.set(user, "u1");
    numeric.set(type, "click");
    numeric.set(idf, int64_t{3});
    d.process(numeric);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("must be a string"));
    Record& odd_segment = in.append();
    odd_segment.set_time(1008);
    odd_segment.set(user, "u1");
    odd_segment.set(type, "page_view");
    odd_segment.set(seg, 1.5);
    d.process(odd_segment);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("neither a string nor an integer"));
    Record& no_user = in.append();
    no_user.set_time(1009);
    no_user.set(type, "page_view");
    d.process(no_user);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("no key"));
    Record& untyped = in.append();
    untyped.set_time(1010);
    untyped.set(user, "u1");
    d.process(untyped);  // neither a decision request nor a reward: ignored
    EXPECT_EQ(d.reasons_.size(), 8u);
    EXPECT_EQ(d.errors().size(), 8u);
    EXPECT_EQ(d.decisions().size(), 1u);
}

// ---- Spec, docs, YAML --------------------------------------------------

TEST(BanditSpecTest, RulesRejectBadConfigurations) {
    auto diagnostics = [](const std::string& params) {
        auto r = run_yaml(
            "sources:\n  in: {type: memory, records: []}\noperators:\n  b: {type: bandit, "
            "input: in, key: user_id, " +
            params + "}\nsinks:\n  out: {type: collect, input: b}\n");
        EXPECT_FALSE(r.status.is_ok()) << params;
        return r.diagnostics;
    };
    EXPECT_THAT(diagnostics("arms: [a]"), HasSubstr("at least 2 arms"));
    EXPECT_THAT(diagnostics("arms: [a, a]"), HasSubstr("lists `a` twice"));
    EXPECT_THAT(diagnostics("arms: [a, b], decide_on: [click]"),
                HasSubstr("both in `decide_on` and in `rewards`"));
    EXPECT_THAT(diagnostics("arms: [a, b], policy: greedy"), HasSubstr("policy"));
    EXPECT_THAT(diagnostics("arms: [a, b], epsilon: 1.5"), HasSubstr("epsilon"));
    EXPECT_THAT(diagnostics("arms: [a, b], key_field: arm"), HasSubstr("used twice"));
    EXPECT_THAT(diagnostics("arms: [a, b], min_epsilon: 0.5, epsilon: 0.1"),
                HasSubstr("min_epsilon"));
}

TEST(BanditSpecTest, TheDocsPageCoversTheSpec) {
    testing::expect_doc_covers_spec(bandit_spec(), "docs/bandit.md");
}

TEST(BanditTopologyTest, DecisionsRewardsAndEstimatesThroughAYamlTopology) {
    auto r = run_yaml(R"(sources:
  in:
    type: memory
    records:
      - {ts: 1000, user_id: u1, type: page_view, segment: web}
      - {ts: 2000, user_id: u2, type: page_view}
      - {ts: 3000, user_id: u1, type: click, decision_id: "u1:1000:0"}
      - {ts: 4000, user_id: u2, type: purchase, decision_id: "u1:1000:0"}
      - {ts: 5000, user_id: u1, type: scroll}
      - {ts: 9000000, user_id: u1, type: click, decision_id: "u1:1000:0"}
operators:
  b:
    type: bandit
    input: in
    key: user_id
    arms: [popular, similar]
    policy: epsilon_greedy
    epsilon: 0.1
    segment_field: segment
    reward_window: 1h
sinks:
  out: {type: collect, input: b}
  estimates: {type: collect, input: b.estimates}
  errors: {type: collect, input: b.errors}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(raw(out[0], "decision_id"), "\"u1:1000:0\"");
    EXPECT_EQ(raw(out[0], "user_id"), "\"u1\"");
    EXPECT_EQ(raw(out[0], "arm"), "\"popular\"");  // untried first
    EXPECT_EQ(raw(out[0], "policy"), "\"epsilon_greedy\"");
    EXPECT_EQ(raw(out[0], "segment"), "\"web\"");
    EXPECT_EQ(raw(out[0], "ts"), "1000");
    EXPECT_DOUBLE_EQ(num(out[0], "propensity"), 1 - 0.1 + 0.05);
    EXPECT_EQ(raw(out[1], "segment"), "null");
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 1u);  // u2 claiming u1's decision
    EXPECT_THAT(errors[0], HasSubstr("names no decision of this user"));
    const auto& est = r.lines("estimates");
    // At the end: per segment (global, web) 2 arms and 3 policies.
    ASSERT_EQ(est.size(), 10u);
    bool found = false;
    for (const std::string& l : est) {
        if (raw(l, "segment") == "\"web\"" && raw(l, "arm") == "\"popular\"") {
            EXPECT_EQ(num(l, "resolved"), 1);
            EXPECT_EQ(num(l, "mean"), 1);
            EXPECT_EQ(raw(l, "kind"), "\"arm\"");
            found = true;
        }
    }
    EXPECT_TRUE(found);
}

// ---- Codecs and restore ------------------------------------------------

TEST(BanditStateTest, CodecsRoundTrip) {
    BanditModel m;
    ASSERT_EQ(m.segment("", 3), 0u);
    uint32_t g = m.segment(std::string("s") + "web", 3);
    ASSERT_EQ(g, 1u);
    BanditModel::count_decision(*m.stats(g), 2);
    BanditModel::resolve(*m.stats(g), 2, 1.0, 0.5, {0.5, 1.0, 0.25});
    std::string bytes = encode_state(m);
    BanditModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(back.segments(), 2u);
    EXPECT_EQ(back.stats(1)->arms[2].pulls, 1);
    EXPECT_EQ(back.stats(1)->values[1].weighted_rewards, 2.0);
    EXPECT_EQ(encode_state(back), bytes);
    std::string json;
    ASSERT_TRUE(state_to_json<BanditModel>(bytes, json));
    EXPECT_THAT(json, HasSubstr("\"segment\":\"web\""));
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 3), back));

    UserDecisions u;
    u.next_seq = 4;
    u.pending.push_back({3, 1000, 1, 2, 0.25, {0.25, 1, 0.1}, 1, true, false});
    std::string ub = encode_state(u);
    UserDecisions ub_back;
    ASSERT_TRUE(decode_state(ub, ub_back));
    EXPECT_EQ(encode_state(ub_back), ub);
    EXPECT_EQ(ub_back.pending[0].targets[2], 0.1);
}

// Scale-out (docs/scale-out.md, "Models"): the processes' arm statistics
// add up, and a decision or reward counts once however often the models are
// merged, in both directions.
namespace {

/// One decision for `arm` of segment `id`, resolved with `reward` (the
/// logging policy gave the arm 0.5, every policy 0.5).
void decide(BanditModel& m, const std::string& id, size_t arm, double reward) {
    SegmentStats& s = *m.stats(m.segment(id, 3));
    BanditModel::count_decision(s, arm);
    BanditModel::resolve(s, arm, reward, 0.5, {0.5, 0.5, 0.5});
}

int64_t pulls(const BanditModel& m, uint32_t segment, size_t arm) {
    return m.stats(segment)->arms[arm].pulls;
}

}  // namespace

TEST(BanditMergeTest, MergedArmsAddUpAndNeverCountADecisionTwice) {
    BanditModel a;
    BanditModel b;
    a.segment("", 3);
    b.segment("", 3);
    decide(a, "", 0, 1.0);
    decide(a, "", 0, 0.0);
    decide(b, "", 0, 1.0);
    decide(b, "", 2, 1.0);
    decide(b, "sweb", 1, 0.5);  // a segment only b has
    for (int round = 0; round < 3; ++round) {
        BanditModel a_then;
        ASSERT_TRUE(decode_state(encode_state(a), a_then));  // as published
        Merge<BanditModel>::merge(a, std::vector<const BanditModel*>{&b});
        Merge<BanditModel>::merge(b, std::vector<const BanditModel*>{&a_then});
        for (BanditModel* m : {&a, &b}) {
            EXPECT_EQ(pulls(*m, 0, 0), 3) << "round " << round;
            EXPECT_EQ(m->stats(0)->arms[0].rewards, 2.0) << "round " << round;
            EXPECT_EQ(pulls(*m, 0, 2), 1) << "round " << round;
            EXPECT_EQ(m->stats(0)->decisions, 4) << "round " << round;
            EXPECT_EQ(m->stats(0)->resolved, 4) << "round " << round;
            // IPS sums: weight 0.5 / 0.5 = 1 per decision.
            EXPECT_EQ(m->stats(0)->values[0].weights, 4.0) << "round " << round;
            EXPECT_EQ(m->stats(0)->values[0].weighted_rewards, 3.0) << "round " << round;
            uint32_t web = m->segment("sweb", 3);
            ASSERT_NE(web, BanditModel::kNoSegment);
            EXPECT_EQ(pulls(*m, web, 1), 1) << "round " << round;
            EXPECT_EQ(m->stats(web)->arms[1].successes, 0.5) << "round " << round;
        }
    }
    // b's merged model, as a peer of a third process, adds only b's own.
    BanditModel c;
    c.segment("", 3);
    decide(c, "", 0, 1.0);
    Merge<BanditModel>::merge(c, std::vector<const BanditModel*>{&b});
    EXPECT_EQ(pulls(c, 0, 0), 2);
    EXPECT_EQ(pulls(c, 0, 2), 1);
    // Learning goes on after a merge, and the next merge carries it.
    decide(a, "", 1, 1.0);
    Merge<BanditModel>::merge(b, std::vector<const BanditModel*>{&a});
    EXPECT_EQ(pulls(b, 0, 1), 1);
    EXPECT_EQ(b.stats(0)->decisions, 5);
    // A merged model survives a checkpoint: its merged part is stored too.
    BanditModel restored;
    ASSERT_TRUE(decode_state(encode_state(b), restored));
    Merge<BanditModel>::merge(restored, std::vector<const BanditModel*>{&a});
    EXPECT_EQ(restored.stats(0)->decisions, 5);
    EXPECT_EQ(pulls(restored, 0, 0), 3);
    // A peer with another `arms` list is left out.
    BanditModel other;
    other.segment("", 4);
    BanditModel::count_decision(*other.stats(0), 3);
    Merge<BanditModel>::merge(c, std::vector<const BanditModel*>{&other});
    EXPECT_EQ(c.stats(0)->decisions, 1) << "c's own decision, b's merge replaced by nothing";
    // A sum keeps the last model of a process that stopped publishing.
    Shared<BanditModel> shared("arms");
    EXPECT_TRUE(shared.mergeable());
    EXPECT_TRUE(shared.merge_keeps_departed());
}

TEST(BanditMergeTest, AVersion1ModelStillLoads) {
    // Version 1 ended after the segments; version 2 adds the merged parts.
    BanditModel m;
    m.segment("", 2);
    BanditModel::count_decision(*m.stats(0), 1);
    std::string v2 = encode_state(m);
    ASSERT_EQ(static_cast<uint8_t>(v2[0]), 2);
    // Without merged parts a version 2 model ends in one zero byte.
    ASSERT_EQ(v2.back(), '\0');
    std::string v1 = v2.substr(0, v2.size() - 1);
    v1[0] = 1;
    BanditModel back;
    ASSERT_TRUE(decode_state(v1, back));
    EXPECT_EQ(back.stats(0)->arms[1].pulls, 1);
    EXPECT_EQ(encode_state(back), v2);
}

/// The generator through a bandit (page views decide; the generator's
/// clicks carry no decision id, so every decision resolves with reward 0).
std::string restore_yaml(int stop_after, const std::string& state) {
    std::string y = "parallelism: 1\n" + state +
                    "sources:\n  clicks: {type: generator, events: 6000, users: 300, seed: 11}\n"
                    "operators:\n  b: {type: bandit, input: clicks, key: user_id, arms: [x, y, "
                    "z], policy: thompson, reward_window: 10m, segment_field: device, "
                    "estimates_every: 500}\n"
                    "sinks:\n  out: {type: collect, input: b}\n  metrics: {type: collect, "
                    "input: b.estimates}\n";
    return y + testing::stop_after_sink("clicks", stop_after);
}

TEST(BanditRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    testing::expect_resume_equals_whole(restore_yaml, 2500, "bandit");
}

TEST(BanditRestoreTest, ParallelismTwoMakesEveryDecisionOnce) {
    auto one = run_yaml(restore_yaml(0, ""));
    ASSERT_TRUE(one.status.is_ok()) << one.status.message() << one.diagnostics;
    std::vector<std::string> a;
    for (const std::string& l : one.lines("out")) {
        a.push_back(raw(l, "decision_id"));
    }
    std::string y = restore_yaml(0, "");
    y.replace(y.find("parallelism: 1"), 14, "parallelism: 2");
    auto two = run_yaml(y);
    ASSERT_TRUE(two.status.is_ok()) << two.status.message() << two.diagnostics;
    std::vector<std::string> b;
    for (const std::string& l : two.lines("out")) {
        b.push_back(raw(l, "decision_id"));
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
    EXPECT_FALSE(a.empty());
}

// ---- Throughput ----------------------------------------------------------

/// The operator alone on the generated clickstream (200k events, 10k users):
/// page views decide; a click, add_to_cart or purchase of a user rewards their
/// latest decision (the id attached as a tracker would). Prints events/s; not
/// an assertion on speed, only that the stream went through.
TEST(BanditThroughputTest, GeneratedClickstream) {
    FieldTable table;
    io::GeneratorOptions options;
    options.seed = 1;
    options.users = 10'000;
    options.events = 200'000;
    auto gen_fields =
        io::GeneratorFields::resolve([&](std::string_view n) { return table.intern(n); });
    io::ClickstreamGenerator generator(options, gen_fields);
    std::vector<Batch> batches(1);
    for (;;) {
        if (batches.back().full()) {
            batches.emplace_back();
        }
        Record& r = batches.back().append();
        if (!generator.next(r)) {
            batches.back().pop_back();
            break;
        }
    }
    for (const char* policy : {"thompson", "epsilon_greedy", "ucb1"}) {
        Driver d(std::string("arms: [popular, similar, trending, recent, editorial], policy: ") +
                 policy +
                 ", rewards: {click: 1, add_to_cart: 1, purchase: 1}, reward_window: "
                 "30m, segment_field: device");
        FieldId user = d.field("user_id"), type = d.field("type"), id = d.field("decision_id");
        // The stream in this driver's field table, each reward carrying the id
        // of its user's latest decision ("<user>:<ts>:<n>") as a tracker would.
        std::map<std::string, std::pair<int64_t, std::string>> latest;
        std::vector<Batch> input;
        for (const Batch& b : batches) {
            input.emplace_back();
            for (size_t i = 0; i < b.size(); ++i) {
                Record& r = input.back().append();
                r.set_time(b[i].time());
                for (const Field& f : b[i].fields()) {
                    r.set_value(d.field(table.name(f.id)), f.value);
                }
                const Value* u = r.get(user);
                const Value* t = r.get(type);
                if (u == nullptr || !u->is_string() || t == nullptr || !t->is_string()) {
                    continue;
                }
                auto& [seq, last] = latest[std::string(u->as_string())];
                if (t->as_string() == "page_view") {
                    last = std::string(u->as_string()) + ":" + std::to_string(r.time()) + ":" +
                           std::to_string(seq++);
                } else if (!last.empty() &&
                           (t->as_string() == "click" || t->as_string() == "add_to_cart" ||
                            t->as_string() == "purchase")) {
                    r.set(id, std::string_view(last));
                }
            }
        }
        int64_t max_seen = kNoWatermark;
        int64_t events = 0;
        size_t decided = 0;
        auto start = std::chrono::steady_clock::now();
        std::clock_t cpu_start = std::clock();
        for (Batch& b : input) {
            for (size_t i = 0; i < b.size(); ++i) {
                d.process(b[i]);
                max_seen = std::max(max_seen, b[i].time());
            }
            events += static_cast<int64_t>(b.size());
            d.advance(max_seen - 30'000 - 1);
            decided += d.decisions().size();
            d.decisions().clear();
            d.estimates().clear();
        }
        d.close();
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
        std::cout << "[bandit throughput] " << policy << ": " << events << " events (" << decided
                  << " decisions, " << d.count("bandit_rewards_total") << " attributed rewards, "
                  << d.errors().size() << " errors) in " << secs << " s wall, " << cpu
                  << " s CPU = " << static_cast<double>(events) / cpu << " events per CPU second\n";
        EXPECT_GT(decided, 0u);
        EXPECT_GT(d.count("bandit_rewards_total"), 0);
    }
}

}  // namespace
}  // namespace eddy
