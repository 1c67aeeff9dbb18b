// SPDX-License-Identifier: Apache-2.0
// experiment: the statistics against hand-computed and independently
// computed values, windows emitted on the watermark, distinct users per
// variant and window and since the start (also out of order), bad input,
// late events, a snapshot and restore mid-stream, a stopped and resumed
// job, simulated A/B and A/A tests, the spec's rules and docs, and a YAML
// topology with the ab_assign plugin.
#include "experiment/experiment.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/record.h"

#include "harness.h"
#include "json_fields.h"
#include "operator_driver.h"
#include "spec_support.h"
#include "time/timer_service.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::num;
using testing::raw;
using testing::run_yaml;

constexpr double kZ95 = 1.959963984540054;
constexpr int64_t kDay = 86'400'000;

// ---- Statistics ------------------------------------------------------------

TEST(ExperimentStatsTest, NormalQuantileAndCdf) {
    EXPECT_NEAR(experiment::normal_quantile(0.975), kZ95, 1e-12);
    EXPECT_NEAR(experiment::normal_quantile(0.995), 2.5758293035489004, 1e-12);
    EXPECT_NEAR(experiment::normal_cdf(kZ95), 0.975, 1e-12);
    EXPECT_NEAR(experiment::normal_cdf(0), 0.5, 1e-15);
}

TEST(ExperimentStatsTest, WilsonIntervalMatchesHandComputedValues) {
    // p = 0.1, n = 100: ((p + z^2/2n) -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).
    experiment::Interval a = experiment::wilson_interval(10, 100, kZ95);
    EXPECT_NEAR(a.low, 0.0552291370606751, 1e-12);
    EXPECT_NEAR(a.high, 0.17436566150491345, 1e-12);
    // No successes: the interval still has width (unlike the Wald interval).
    experiment::Interval b = experiment::wilson_interval(0, 10, kZ95);
    EXPECT_EQ(b.low, 0);
    EXPECT_NEAR(b.high, 0.2775327998628892, 1e-12);
    experiment::Interval c = experiment::wilson_interval(10, 10, kZ95);
    EXPECT_NEAR(c.low, 0.7224672001371107, 1e-12);
    EXPECT_NEAR(c.high, 1.0, 1e-12);
}

TEST(ExperimentStatsTest, TwoProportionZTestMatchesHandComputedValues) {
    // 250/1000 against a control of 200/1000: pooled p = 0.225,
    // se = sqrt(0.225 * 0.775 * (2 / 1000)), z = 0.05 / se.
    experiment::Comparison c = experiment::compare(250, 1000, 200, 1000, kZ95);
    EXPECT_NEAR(c.diff, 0.05, 1e-12);
    EXPECT_NEAR(c.lift, 0.25, 1e-12);
    EXPECT_NEAR(c.z, 2.677397763008329, 1e-9);
    EXPECT_NEAR(c.p_value, 0.007419649261025693, 1e-9);
    EXPECT_NEAR(c.diff_ci.low, 0.01346362168753984, 1e-9);
    EXPECT_NEAR(c.diff_ci.high, 0.08653637831246014, 1e-9);
    EXPECT_GT(c.p_beat, 0.99);
    // The same data the other way round.
    experiment::Comparison d = experiment::compare(200, 1000, 250, 1000, kZ95);
    EXPECT_NEAR(d.z, -c.z, 1e-12);
    EXPECT_NEAR(d.p_value, c.p_value, 1e-12);
    EXPECT_NEAR(d.p_beat, 1 - c.p_beat, 1e-9);
    // Nothing converts anywhere: no evidence either way.
    experiment::Comparison e = experiment::compare(0, 50, 0, 80, kZ95);
    EXPECT_EQ(e.z, 0);
    EXPECT_EQ(e.p_value, 1);
    EXPECT_TRUE(std::isnan(e.lift));
}

TEST(ExperimentStatsTest, ProbabilityToBeatIsExactOnKnownCases) {
    using experiment::prob_beta_greater;
    // Identical posteriors: one half by symmetry, at every size.
    EXPECT_NEAR(prob_beta_greater(1, 1, 1, 1), 0.5, 1e-12);
    EXPECT_NEAR(prob_beta_greater(11, 91, 11, 91), 0.5, 1e-9);
    EXPECT_NEAR(prob_beta_greater(5001, 95001, 5001, 95001), 0.5, 1e-7);
    // B ~ Beta(2, 1) has density 2x: P(B > U) = int 2x * x dx = 2/3.
    EXPECT_NEAR(prob_beta_greater(1, 1, 2, 1), 2.0 / 3, 1e-12);
    // A ~ Beta(1, 2) has density 2(1 - x): P(U > A) = int 2(1 - x)^2 dx = 2/3.
    EXPECT_NEAR(prob_beta_greater(1, 2, 1, 1), 2.0 / 3, 1e-12);
    // Against numerical integration in 30-digit arithmetic (mpmath.quad of
    // f_A(x) (1 - I_x(a_B, b_B))): 100/1000 vs 120/1000 and 10/100 vs 15/100.
    EXPECT_NEAR(prob_beta_greater(101, 901, 121, 881), 0.9231834389735598, 1e-9);
    EXPECT_NEAR(prob_beta_greater(11, 91, 16, 86), 0.8532837899339661, 1e-9);
}

TEST(ExperimentStatsTest, ProbabilityToBeatIsConsistentAcrossItsFourForms) {
    using experiment::prob_beta_greater;
    // Each argument order takes another of the four sums; P(B > A) + P(A > B) = 1.
    const int64_t cases[][4] = {{3, 40, 7, 30},           {50, 4, 45, 9},
                                {1200, 9000, 1300, 8800}, {9000, 1200, 8800, 1300},
                                {2, 2, 300, 500},         {400, 3, 2, 700}};
    for (const auto& c : cases) {
        double forward = prob_beta_greater(c[0], c[1], c[2], c[3]);
        double backward = prob_beta_greater(c[2], c[3], c[0], c[1]);
        EXPECT_NEAR(forward + backward, 1.0, 1e-9) << c[0] << " " << c[1] << " " << c[2];
        // 1 - X ~ Beta(b, a): P(1 - X_A > 1 - X_B) is the same probability.
        EXPECT_NEAR(prob_beta_greater(c[3], c[2], c[1], c[0]), forward, 1e-9);
    }
}

TEST(ExperimentStatsTest, ProbabilityToBeatAgreesWithMonteCarloAndTheNormalLimit) {
    // 50,000 / 1,000,000 against 50,600 / 1,000,000: posteriors are nearly
    // normal, so P ~ Phi(diff / sqrt(var_a + var_b)).
    double p = experiment::prob_beta_greater(50'001, 950'001, 50'601, 949'401);
    auto var = [](double a, double b) { return a * b / ((a + b) * (a + b) * (a + b + 1)); };
    double mean_a = 50'001.0 / 1'000'002, mean_b = 50'601.0 / 1'000'002;
    double normal = experiment::normal_cdf((mean_b - mean_a) /
                                           std::sqrt(var(50'001, 950'001) + var(50'601, 949'401)));
    EXPECT_NEAR(p, normal, 2e-3);
    EXPECT_GT(p, 0.97);
    // A seeded Monte Carlo estimate of a small case (200,000 draws: sd < 0.0012).
    std::mt19937_64 rng(7);
    auto beta = [&rng](double a, double b) {
        std::gamma_distribution<double> x(a, 1), y(b, 1);
        double g = x(rng);
        return g / (g + y(rng));
    };
    int wins = 0;
    const int draws = 200'000;
    for (int i = 0; i < draws; ++i) {
        double xa = beta(4, 30);
        wins += beta(6, 28) > xa ? 1 : 0;
    }
    EXPECT_NEAR(experiment::prob_beta_greater(4, 30, 6, 28), static_cast<double>(wins) / draws,
                0.005);
}

// ---- The operator, driven directly ---------------------------------------

ComponentDef experiment_def(const std::string& params) {
    std::string yaml =
        "sources:\n  in: {type: memory, records: []}\noperators:\n  op: {type: experiment, "
        "input: in, " +
        params +
        "}\nsinks:\n  out: {type: null, input: op}\n  late: {type: null, input: op.late}\n";
    return testing::component_def(yaml, "op");
}

/// One experiment operator called directly (no job, no threads): results on
/// the main output, late records on 1, errors (with their reasons) on 2.
class Driver final : public testing::OperatorDriver {
public:
    explicit Driver(const std::string& params) : OperatorDriver(experiment_def(params), {"late"}) {
        user_ = fields_.intern("user_id");
        type_ = fields_.intern("type");
        variant_ = fields_.intern("variant");
    }

    /// An event of `user` in `variant` at `t`.
    void event(const std::string& user, const char* variant, const char* type, int64_t t) {
        Record& r = input();
        r.set_time(t);
        r.set(user_, std::string_view(user));
        r.set(variant_, variant);
        r.set(type_, type);
        process(r);
    }
    /// The `field` of the last result of `variant` (NaN when null or absent).
    double result(const std::string& variant, const std::string& field) const {
        const Batch& b = out(0);
        for (size_t i = b.size(); i-- > 0;) {
            const Value* v = b[i].get(fields_.find(std::string("variant")));
            if (v != nullptr && v->is_string() && v->as_string() == variant) {
                const Value* f = b[i].get(fields_.find(field));
                if (f == nullptr || f->is_null()) {
                    return std::nan("");
                }
                return f->is_bool() ? (f->as_bool() ? 1.0 : 0.0) : f->as_double();
            }
        }
        return std::nan("");
    }
    /// Every result as `variant:start:users:converters` (for comparing runs).
    std::vector<std::string> summary() const {
        std::vector<std::string> lines;
        const Batch& b = results();
        for (size_t i = 0; i < b.size(); ++i) {
            std::string line;
            for (const Field& f : b[i].fields()) {
                line += std::string(fields_.name(f.id)) + "=";
                const Value& v = f.value;
                line += v.is_string() ? std::string(v.as_string())
                        : v.is_null() ? "null"
                        : v.is_bool() ? (v.as_bool() ? "true" : "false")
                        : v.is_int()  ? std::to_string(v.as_int())
                                      : std::to_string(v.as_double());
                line += " ";
            }
            lines.push_back(line);
        }
        return lines;
    }
    Batch& results() { return out(0); }
    const Batch& results() const { return out(0); }
    Batch& late_records() { return out(1); }

    FieldId user_{}, type_{}, variant_{};
};

TEST(ExperimentWindowTest, ResultsAreEmittedOnceTheWatermarkPassesTheWindow) {
    Driver d("control: a, window: 1h");
    const int64_t hour = 3'600'000;
    d.event("u1", "a", "page_view", 10);
    d.event("u2", "b", "page_view", 20);
    d.advance(hour - 2);
    EXPECT_EQ(d.results().size(), 0u);
    d.advance(hour - 1);  // window_end - 1: nothing inside [0, 1h) can still arrive
    ASSERT_EQ(d.results().size(), 2u);
    EXPECT_EQ(d.results()[0].time(), hour - 1);
    EXPECT_EQ(d.result("a", "window_start"), 0);
    EXPECT_EQ(d.result("a", "window_end"), hour);
    EXPECT_EQ(d.result("a", "is_control"), 1);
    EXPECT_EQ(d.result("b", "is_control"), 0);
    d.advance(10 * hour);  // windows without events emit nothing
    EXPECT_EQ(d.results().size(), 2u);
    EXPECT_EQ(d.count("experiment_windows_total"), 1);
}

TEST(ExperimentWindowTest, UsersAreCountedOncePerVariantAndWindow) {
    Driver d("control: control, variants: [control, one_click], cumulative: false");
    // control: u1 (3 views, 1 click), u2 (view, purchase twice), u3 (view):
    // 5 impressions.
    d.event("u1", "control", "page_view", 1000);
    d.event("u1", "control", "page_view", 2000);
    d.event("u1", "control", "click", 2500);
    d.event("u1", "control", "page_view", 3000);
    d.event("u2", "control", "page_view", 4000);
    d.event("u2", "control", "purchase", 5000);
    d.event("u2", "control", "purchase", 6000);
    d.event("u3", "control", "page_view", 7000);
    // one_click: u4 buys without a view first, u5 views.
    d.event("u4", "one_click", "purchase", 8000);
    d.event("u5", "one_click", "page_view", 9000);
    d.event("u5", "one_click", "click", 9500);
    d.event("u5", "one_click", "click", 9600);
    d.advance(kDay - 1);
    ASSERT_EQ(d.results().size(), 2u);
    EXPECT_EQ(d.result("control", "users"), 3);
    EXPECT_EQ(d.result("control", "converters"), 1);
    EXPECT_DOUBLE_EQ(d.result("control", "conversion_rate"), 1.0 / 3);
    EXPECT_EQ(d.result("control", "impressions"), 5);
    EXPECT_EQ(d.result("control", "clicks"), 1);
    EXPECT_DOUBLE_EQ(d.result("control", "ctr"), 0.2);
    EXPECT_EQ(d.result("one_click", "users"), 2);
    EXPECT_EQ(d.result("one_click", "converters"), 1);
    EXPECT_EQ(d.result("one_click", "impressions"), 1);
    EXPECT_EQ(d.result("one_click", "clicks"), 2);
    // More clicks than impressions: a ratio, but no interval and no test.
    EXPECT_DOUBLE_EQ(d.result("one_click", "ctr"), 2.0);
    EXPECT_TRUE(std::isnan(d.result("one_click", "ctr_ci_low")));
    EXPECT_TRUE(std::isnan(d.result("one_click", "ctr_p_value")));
    // The control row has no comparison; the treatment's is against it.
    EXPECT_TRUE(std::isnan(d.result("control", "conversion_diff")));
    EXPECT_DOUBLE_EQ(d.result("one_click", "conversion_diff"), 0.5 - 1.0 / 3);
    EXPECT_DOUBLE_EQ(d.result("one_click", "conversion_lift"), (0.5 - 1.0 / 3) / (1.0 / 3));
    experiment::Interval ci = experiment::wilson_interval(1, 3, kZ95);
    EXPECT_NEAR(d.result("control", "conversion_ci_low"), ci.low, 1e-12);
    EXPECT_NEAR(d.result("control", "conversion_ci_high"), ci.high, 1e-12);
    EXPECT_EQ(d.result("one_click", "conversion_significant"), 0);
    EXPECT_TRUE(std::isnan(d.result("control", "cum_users")));  // cumulative: false
    EXPECT_EQ(d.count("experiment_users_total{variant=control}"), 3);
    EXPECT_EQ(d.count("experiment_events_total{variant=one_click}"), 4);
}

TEST(ExperimentWindowTest, ExposuresRestrictTheDenominator) {
    Driver d("control: a, exposures: [page_view]");
    d.event("u1", "a", "page_view", 1);
    d.event("u2", "a", "purchase", 2);  // converts but was never exposed
    d.event("u3", "a", "search", 3);
    d.event("u4", "a", "purchase", 4);  // exposed later in the window: counts
    d.event("u4", "a", "page_view", 5);
    d.advance(kDay);
    EXPECT_EQ(d.result("a", "users"), 2);
    EXPECT_EQ(d.result("a", "converters"), 1);
    EXPECT_EQ(d.result("a", "cum_users"), 2);
    EXPECT_EQ(d.result("a", "cum_converters"), 1);
}

TEST(ExperimentWindowTest, CumulativeFiguresCountEachUserOnceFromTheirFirstWindow) {
    Driver d("control: a, window: 1d");
    // Day 0: u1 views. Day 1: u1 buys, u2 views. u3's day-1 event arrives
    // before its day-0 event (the watermark is still in day 0): the user
    // counts from day 0.
    d.event("u1", "a", "page_view", 1000);
    d.event("u3", "a", "purchase", kDay + 50);
    d.event("u3", "a", "page_view", 2000);
    d.advance(kDay - 1);
    ASSERT_EQ(d.results().size(), 1u);
    EXPECT_EQ(d.result("a", "users"), 2);
    EXPECT_EQ(d.result("a", "converters"), 0);
    EXPECT_EQ(d.result("a", "cum_users"), 2);
    EXPECT_EQ(d.result("a", "cum_converters"), 0);
    d.event("u1", "a", "purchase", kDay + 1000);
    d.event("u2", "a", "page_view", kDay + 2000);
    d.advance(2 * kDay - 1);
    ASSERT_EQ(d.results().size(), 2u);
    EXPECT_EQ(d.result("a", "users"), 3);       // u1, u2, u3 active on day 1
    EXPECT_EQ(d.result("a", "converters"), 2);  // u1 and u3 bought on day 1
    EXPECT_EQ(d.result("a", "cum_users"), 3);   // u1 and u3 once, plus u2
    EXPECT_EQ(d.result("a", "cum_converters"), 2);
    EXPECT_EQ(d.result("a", "cum_impressions"), 3);
    EXPECT_DOUBLE_EQ(d.result("a", "cum_conversion_rate"), 2.0 / 3);
}

TEST(ExperimentWindowTest, LateEventsGoToLateAndCountNowhere) {
    Driver d("control: a, window: 1h, allowed_lateness: 10m");
    const int64_t hour = 3'600'000;
    d.event("u1", "a", "page_view", 100);
    d.advance(hour + 60'000);  // past the end, within the allowed lateness
    EXPECT_EQ(d.results().size(), 0u);
    d.event("u2", "a", "page_view", 200);  // still counted
    d.advance(hour + 600'000 - 1);
    ASSERT_EQ(d.results().size(), 1u);
    EXPECT_EQ(d.result("a", "users"), 2);
    d.event("u3", "a", "page_view", 300);  // its window is out: late
    ASSERT_EQ(d.late_records().size(), 1u);
    d.event("u3", "a", "page_view", hour + 5);
    d.advance(2 * hour + 600'000);
    EXPECT_EQ(d.result("a", "users"), 1);
    EXPECT_EQ(d.result("a", "cum_users"), 3);  // u1, u2, then u3 in the second hour
}

TEST(ExperimentErrorsTest, BadInputGoesToErrorsWithAReason) {
    Driver d("control: a, variants: [a, b], max_users: 3");
    Batch in;
    auto record = [&](int64_t t) -> Record& {
        Record& r = in.append();
        r.set_time(t);
        return r;
    };
    Record& no_variant = record(1);
    no_variant.set(d.user_, "u1");
    d.process(no_variant);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("no variant"));
    Record& int_variant = record(2);
    int_variant.set(d.user_, "u1");
    int_variant.set(d.variant_, int64_t{1});
    d.process(int_variant);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("must be a string, got int"));
    Record& no_user = record(3);
    no_user.set(d.variant_, "a");
    d.process(no_user);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("no user"));
    Record& double_user = record(4);
    double_user.set(d.variant_, "a");
    double_user.set(d.user_, 1.5);
    d.process(double_user);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("got double"));
    Record& empty_user = record(5);
    empty_user.set(d.variant_, "a");
    empty_user.set(d.user_, "");
    d.process(empty_user);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("empty string"));
    Record& bad_type = record(6);
    bad_type.set(d.variant_, "a");
    bad_type.set(d.user_, "u1");
    bad_type.set(d.type_, int64_t{7});
    d.process(bad_type);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("`type` must be a string"));
    d.event("u1", "c", "page_view", 7);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("not one of `variants` (a, b)"));
    d.event("u1", "a", "page_view", 8);
    d.event("u1", "b", "page_view", 9);
    EXPECT_THAT(d.reasons_.back(), HasSubstr("first seen in variant `a`"));
    EXPECT_EQ(d.count("experiment_variant_switches_total"), 1);
    Record& int_user = record(10);  // integer users are fine
    int_user.set(d.variant_, "b");
    int_user.set(d.user_, int64_t{42});
    d.process(int_user);
    d.event("u3", "b", "page_view", 11);
    d.event("u4", "b", "page_view", 12);  // the fourth user
    EXPECT_THAT(d.reasons_.back(), HasSubstr("max_users (3)"));
    EXPECT_EQ(d.count("experiment_users_over_limit_total"), 1);
    EXPECT_EQ(d.errors().size(), 9u);
    EXPECT_EQ(d.reasons_.size(), 9u);
    d.advance(kDay);
    EXPECT_EQ(d.result("a", "users"), 1);
    EXPECT_EQ(d.result("b", "users"), 2);
}

TEST(ExperimentErrorsTest, VariantsBeyondMaxVariantsAreRefused) {
    Driver d("control: a, max_variants: 2");
    d.event("u1", "b", "page_view", 1);  // the control is known before it is seen
    d.event("u2", "c", "page_view", 2);
    ASSERT_EQ(d.reasons_.size(), 1u);
    EXPECT_THAT(d.reasons_[0], HasSubstr("max_variants (2)"));
    d.advance(kDay);
    ASSERT_EQ(d.results().size(), 2u);  // the control (no users) and b
    EXPECT_EQ(d.result("a", "users"), 0);
    EXPECT_TRUE(std::isnan(d.result("a", "conversion_rate")));
    EXPECT_TRUE(std::isnan(d.result("b", "conversion_p_value")));  // no control users
}

// ---- State ---------------------------------------------------------------

TEST(ExperimentStateTest, CodecsRoundTrip) {
    experiment::UserState u;
    u.variant = 2;
    u.first_exposed = kDay;
    u.windows = {{kDay, true, false}, {2 * kDay, true, true}};
    std::string bytes = encode_state(u);
    experiment::UserState back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_EQ(back.first_converted, experiment::kNoWindow);
    EXPECT_TRUE(back.windows[1].converted);
    std::string json;
    ASSERT_TRUE(state_to_json<experiment::UserState>(bytes, json));
    EXPECT_THAT(json, HasSubstr("\"first_converted\":null"));

    experiment::Totals t;
    t.variants = {"control", "b"};
    t.cumulative.resize(2);
    t.cumulative[1].users = 7;
    t.windows.push_back({kDay, {{1, 0, 3, 1, 1, 0}, {2, 1, 0, 0, 2, 1}}});
    t.users = 9;
    std::string tb = encode_state(t);
    experiment::Totals tback;
    ASSERT_TRUE(decode_state(tb, tback));
    EXPECT_EQ(encode_state(tback), tb);
    EXPECT_EQ(tback.windows[0].counts[1].new_converters, 1);
    EXPECT_FALSE(decode_state(tb.substr(0, tb.size() - 2), tback));
}

/// A seeded stream of `users` users over three days, in time order, with
/// conversion probability `p_a` in variant a and `p_b` in b.
struct Event {
    std::string user;
    const char* variant;
    const char* type;
    int64_t t;
};
std::vector<Event> ab_stream(int users, double p_a, double p_b, uint64_t seed, int days = 3) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> when(0, int64_t{days} * kDay - 1);
    std::vector<Event> events;
    for (int i = 0; i < users; ++i) {
        std::string user = "u" + std::to_string(i);
        const char* variant = (rng() & 1) != 0 ? "b" : "a";
        std::bernoulli_distribution converts(variant[0] == 'a' ? p_a : p_b);
        int64_t t = when(rng);
        events.push_back({user, variant, "page_view", t});
        if (converts(rng)) {
            events.push_back({user, variant, "purchase", t + 60'000});
        } else if ((rng() & 3) == 0) {
            events.push_back({user, variant, "click", t + 30'000});
        }
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const Event& x, const Event& y) { return x.t < y.t; });
    return events;
}

void feed(Driver& d, const std::vector<Event>& events, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
        const Event& e = events[i];
        d.event(e.user, e.variant, e.type, e.t);
        if (i % 100 == 99) {
            d.advance(e.t - 3'600'000);  // an hour of out-of-orderness
        }
    }
}

TEST(ExperimentStateTest, ASnapshotRestoredIntoANewInstanceContinuesExactly) {
    std::vector<Event> events = ab_stream(4000, 0.1, 0.12, 3);
    const std::string params = "control: a, window: 1d";
    Driver whole(params);
    feed(whole, events, 0, events.size());
    whole.advance(kEndOfTime);
    ASSERT_EQ(whole.results().size(), 6u);  // 3 days x 2 variants

    // Stop in the middle of day 2 with open windows and users in them.
    const size_t half = events.size() * 5 / 9;
    Driver first(params);
    feed(first, events, 0, half);
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> saved;
    for (StateHandle* h : first.states_) {
        h->snapshot([&](std::string_view k, std::string_view v) {
            saved[h->name()].emplace_back(std::string(k), std::string(v));
        });
    }
    ASSERT_EQ(saved.size(), 2u);
    Driver second(params);
    for (StateHandle* h : second.states_) {
        for (const auto& [k, v] : saved[h->name()]) {
            ASSERT_TRUE(h->restore(k, v)) << h->name();
        }
    }
    second.advance(events[half - 1].t - 3'600'000);
    feed(second, events, half, events.size());
    second.advance(kEndOfTime);
    std::vector<std::string> resumed = first.summary();
    for (const std::string& line : second.summary()) {
        resumed.push_back(line);
    }
    EXPECT_EQ(resumed, whole.summary());
    EXPECT_FALSE(first.results().empty());
}

// ---- Simulated experiments ----------------------------------------------

TEST(ExperimentSimulationTest, ATrulyBetterVariantIsSignificantAndAnAATestIsNot) {
    // 40,000 users: a converts at 10%, b at 12% (a 20% lift).
    Driver ab("control: a, window: 1d");
    std::vector<Event> events = ab_stream(40'000, 0.10, 0.12, 11);
    feed(ab, events, 0, events.size());
    ab.advance(kEndOfTime);
    EXPECT_EQ(ab.result("b", "cum_conversion_significant"), 1);
    EXPECT_LT(ab.result("b", "cum_conversion_p_value"), 0.001);
    EXPECT_GT(ab.result("b", "cum_conversion_p_beat_control"), 0.999);
    EXPECT_NEAR(ab.result("b", "cum_conversion_lift"), 0.2, 0.08);
    EXPECT_LT(ab.result("b", "cum_conversion_diff_ci_low"), 0.02);
    EXPECT_GT(ab.result("b", "cum_conversion_diff_ci_high"), 0.02);
    EXPECT_EQ(ab.result("a", "cum_users") + ab.result("b", "cum_users"), 40'000);

    // A/A: 200 experiments of 2,000 users without a difference. At 95%
    // confidence about 5% are significant by chance; the test is calibrated.
    int significant = 0, bayes_significant = 0;
    for (uint64_t seed = 100; seed < 300; ++seed) {
        Driver aa("control: a, window: 30d");
        std::vector<Event> same = ab_stream(2000, 0.1, 0.1, seed, 1);
        feed(aa, same, 0, same.size());
        aa.advance(kEndOfTime);
        significant += aa.result("b", "conversion_significant") == 1 ? 1 : 0;
        double p = aa.result("b", "conversion_p_beat_control");
        bayes_significant += (p >= 0.975 || p <= 0.025) ? 1 : 0;
    }
    EXPECT_GE(significant, 3);
    EXPECT_LE(significant, 20);
    EXPECT_LE(bayes_significant, 20);
    // The first A/A experiment, as a single test, is not significant.
    Driver aa("control: a, window: 30d, test: bayesian");
    std::vector<Event> same = ab_stream(20'000, 0.1, 0.1, 5, 1);
    feed(aa, same, 0, same.size());
    aa.advance(kEndOfTime);
    EXPECT_EQ(aa.result("b", "conversion_significant"), 0);
    EXPECT_GT(aa.result("b", "conversion_p_value"), 0.05);
}

// ---- Spec, docs, YAML ----------------------------------------------------

TEST(ExperimentSpecTest, RulesRejectBadConfigurations) {
    auto diagnostics = [](const std::string& params) {
        auto r = run_yaml(
            "sources:\n  in: {type: memory, records: []}\noperators:\n  x: {type: experiment, "
            "input: in, " +
            params + "}\nsinks:\n  out: {type: collect, input: x}\n");
        EXPECT_FALSE(r.status.is_ok()) << params;
        return r.diagnostics;
    };
    EXPECT_THAT(diagnostics("window: 1d"), HasSubstr("control"));
    EXPECT_THAT(diagnostics("control: a, variants: [a]"), HasSubstr("at least 2 variants"));
    EXPECT_THAT(diagnostics("control: a, variants: [a, b, a]"), HasSubstr("`a` twice"));
    EXPECT_THAT(diagnostics("control: c, variants: [a, b]"), HasSubstr("not one of `variants`"));
    EXPECT_THAT(diagnostics("control: a, conversions: []"), HasSubstr("conversions"));
    EXPECT_THAT(diagnostics("control: a, clicks: [page_view]"), HasSubstr("both in"));
    EXPECT_THAT(diagnostics("control: a, user_field: variant"), HasSubstr("three different"));
    EXPECT_THAT(diagnostics("control: a, on_late: update"), HasSubstr("not supported"));
    EXPECT_THAT(diagnostics("control: a, confidence: 1.5"), HasSubstr("confidence"));
    EXPECT_THAT(diagnostics("control: a, test: frequentist"), HasSubstr("test"));
    EXPECT_THAT(diagnostics("control: a, key: user_id"), HasSubstr("key"));
}

TEST(ExperimentSpecTest, TheDocsPageCoversTheSpec) {
    testing::expect_doc_covers_spec(experiment_spec(), "docs/experiment.md");
}

/// One record per poll, so that the watermark (max ts - 1 with the default
/// out-of-orderness of 0s) advances after every record.
JobOptions record_by_record() {
    JobOptions options;
    options.batch_size = 1;
    return options;
}

TEST(ExperimentTopologyTest, ResultsLateAndErrorsThroughAYamlTopology) {
    auto r = run_yaml(R"(sources:
  in:
    type: memory
    records:
      - {ts: 1000, user_id: u1, type: page_view, variant: control}
      - {ts: 2000, user_id: u2, type: page_view, variant: one_click}
      - {ts: 3000, user_id: u2, type: purchase, variant: one_click}
      - {ts: 4000, user_id: u3, type: page_view}
      - {ts: 90000000, user_id: u1, type: page_view, variant: control}
      - {ts: 5000, user_id: u4, type: page_view, variant: control}
operators:
  x:
    type: experiment
    input: in
    experiment: checkout_button
    control: control
    window: 1d
sinks:
  out: {type: collect, input: x}
  late: {type: collect, input: x.late}
  errors: {type: collect, input: x.errors}
)",
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 4u);  // two days, two variants
    EXPECT_EQ(raw(out[0], "variant"), "\"control\"");
    EXPECT_EQ(raw(out[0], "experiment"), "\"checkout_button\"");
    EXPECT_EQ(raw(out[0], "window_start"), "0");
    EXPECT_EQ(raw(out[0], "window_end"), std::to_string(kDay));
    EXPECT_EQ(raw(out[0], "is_control"), "true");
    EXPECT_EQ(raw(out[0], "conversion_p_value"), "null");
    EXPECT_EQ(num(out[1], "users"), 1);
    EXPECT_EQ(num(out[1], "converters"), 1);
    EXPECT_EQ(num(out[1], "conversion_rate"), 1);
    EXPECT_EQ(raw(out[1], "conversion_significant"), "false");
    EXPECT_EQ(num(out[2], "cum_users"), 1);  // u1 again on day 2
    EXPECT_EQ(num(out[3], "cum_converters"), 1);
    ASSERT_EQ(r.lines("late").size(), 1u);
    EXPECT_THAT(r.lines("late")[0], HasSubstr("\"u4\""));
    ASSERT_EQ(r.lines("errors").size(), 1u);
    EXPECT_THAT(r.lines("errors")[0], HasSubstr("no variant"));
}

/// The generator through ab_assign (the plugin) into hourly experiment
/// results; `stop_after` > 0 stops the job after that many source records.
std::string plugin_yaml(int stop_after, const std::string& state) {
    std::string y = "parallelism: 1\nplugins: [\"" EDDY_PLUGINS_DIR "/libab_assign.so\"]\n" +
                    state +
                    "sources:\n  clicks: {type: generator, events: 20000, users: 500, seed: 5}\n"
                    "operators:\n  assign: {type: ab_assign, input: clicks, experiment: t, "
                    "variants: {control: 50, b: 50}}\n"
                    "  x: {type: experiment, input: assign, control: control, window: 10m}\n"
                    "sinks:\n  out: {type: collect, input: x}\n";
    if (stop_after > 0) {
        y += "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
             "}\n";
    }
    return y;
}

TEST(ExperimentRestoreTest, AStoppedAndResumedJobEmitsWhatAnUninterruptedOneDoes) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("eddy_experiment_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    auto whole = run_yaml(plugin_yaml(0, ""));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message() << whole.diagnostics;
    std::vector<std::string> expected = whole.lines("out");
    ASSERT_GT(expected.size(), 4u);

    std::string state = "state: {dir: " + dir.string() + "}\n";
    auto first = run_yaml(plugin_yaml(9000, state));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    std::vector<std::string> got = first.lines("out");
    first.job.reset();
    auto second = run_yaml(plugin_yaml(0, state));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    for (const std::string& line : second.lines("out")) {
        got.push_back(line);
    }
    second.job.reset();
    fs::remove_all(dir);
    EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace eddy
