// SPDX-License-Identifier: Apache-2.0
// drift: ADWIN flags a jump in the mean within 40 values and stays quiet on
// a stationary stream; the operator's alerts, keys, direction and errors.
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "drift/adwin.h"
#include "harness.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::run_yaml;

/// The index of the first value that made the detector cut, or -1.
int64_t first_alert(const std::vector<double>& values, const AdwinParams& params) {
    Adwin a;
    AdwinChange change;
    for (size_t i = 0; i < values.size(); ++i) {
        if (a.add(values[i], params, change)) {
            return static_cast<int64_t>(i);
        }
    }
    return -1;
}

std::vector<double> gaussian(size_t n, double mean, double sd, std::mt19937_64& rng) {
    std::normal_distribution<double> g(mean, sd);
    std::vector<double> v(n);
    for (double& x : v) {
        x = g(rng);
    }
    return v;
}

TEST(AdwinTest, AJumpInTheMeanIsFlaggedWithin40Values) {
    // 1,000 values N(10, 1), then N(12, 1): a jump of two standard deviations.
    std::vector<int64_t> delays;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        std::mt19937_64 rng(seed);
        std::vector<double> v = gaussian(1000, 10, 1, rng);
        std::vector<double> after = gaussian(1000, 12, 1, rng);
        v.insert(v.end(), after.begin(), after.end());
        int64_t at = first_alert(v, AdwinParams{});
        ASSERT_GE(at, 1000) << "false alarm before the jump, seed " << seed;
        delays.push_back(at - 999);
    }
    std::sort(delays.begin(), delays.end());
    std::printf("[drift] 2-sd jump: detection delay median %lld, max %lld values (20 seeds)\n",
                static_cast<long long>(delays[10]), static_cast<long long>(delays.back()));
    EXPECT_LE(delays.back(), 40);
}

TEST(AdwinTest, AStationaryStreamRaisesNoAlert) {
    int alarms = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        std::mt19937_64 rng(100 + seed);
        std::vector<double> v = gaussian(10000, 5, 2, rng);
        alarms += first_alert(v, AdwinParams{}) >= 0 ? 1 : 0;
    }
    std::printf("[drift] stationary N(5, 2), 10,000 values: %d of 20 seeds alarmed\n", alarms);
    EXPECT_EQ(alarms, 0);
}

TEST(AdwinTest, WindowKeepsOnlyTheRecentRegime) {
    Adwin a;
    AdwinChange change;
    AdwinParams params;
    for (int i = 0; i < 5000; ++i) {
        a.add(i < 2500 ? 0.0 : 1.0, params, change);
    }
    EXPECT_NEAR(a.mean(), 1.0, 1e-9);
    EXPECT_LE(a.width(), 2500);
    // Memory stays logarithmic: about 5 buckets per power of two.
    Adwin b;
    for (int i = 0; i < 100000; ++i) {
        b.add(1.0, params, change);
    }
    EXPECT_EQ(b.width(), 100000);
    std::string bytes = encode_state(b);
    EXPECT_LT(bytes.size(), 2000u);
    Adwin c;
    ASSERT_TRUE(decode_state(bytes, c));
    EXPECT_EQ(encode_state(c), bytes);
}

std::string records(const std::vector<double>& v, const std::string& key = "") {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        s += "      - {ts: " + std::to_string(i) + ", score: " + std::to_string(v[i]) + key + "}\n";
    }
    return s;
}

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  d: {type: drift, input: in, field: score" + params +
           "}\nsinks:\n  out: {type: collect, input: d}\n  errors: {type: collect, input: "
           "d.errors}\n";
}

TEST(DriftTest, TheOperatorEmitsOneAlertNamingTheStatistic) {
    std::mt19937_64 rng(5);
    std::vector<double> v = gaussian(1000, 10, 1, rng);
    std::vector<double> after = gaussian(200, 13, 1, rng);
    v.insert(v.end(), after.begin(), after.end());
    auto r = run_yaml(topology(records(v), ""));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& out = r.lines("out");
    ASSERT_GE(out.size(), 1u);
    EXPECT_THAT(out[0], HasSubstr(R"("statistic":"score_mean")"));
    EXPECT_THAT(out[0], HasSubstr(R"("threshold":)"));
    EXPECT_THAT(out[0], ::testing::Not(HasSubstr("user_id")));
    int64_t ts = std::stoll(out[0].substr(out[0].find("\"ts\":") + 5));
    EXPECT_GE(ts, 1000);
    EXPECT_LE(ts, 1040);
    // A fall, watched for rises only, raises nothing.
    std::vector<double> fall = gaussian(1000, 10, 1, rng);
    std::vector<double> low = gaussian(200, 7, 1, rng);
    fall.insert(fall.end(), low.begin(), low.end());
    auto up = run_yaml(topology(records(fall), ", direction: up"));
    ASSERT_TRUE(up.status.is_ok());
    EXPECT_TRUE(up.lines("out").empty()) << up.lines("out").front();
}

TEST(DriftTest, KeyedWindowsAreIndependent) {
    std::string s;
    std::mt19937_64 rng(9);
    std::normal_distribution<double> g(0, 1);
    for (int i = 0; i < 600; ++i) {
        s += "      - {ts: " + std::to_string(i) +
             ", user_id: a, score: " + std::to_string(g(rng) + (i >= 300 ? 5 : 0)) + "}\n";
        s += "      - {ts: " + std::to_string(i) +
             ", user_id: b, score: " + std::to_string(g(rng)) + "}\n";
    }
    auto r = run_yaml(topology(s, ", key: user_id"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    ASSERT_EQ(r.lines("out").size(), 1u);
    EXPECT_THAT(r.lines("out")[0], HasSubstr(R"("user_id":"a")"));
}

TEST(DriftTest, BadValuesGoToErrors) {
    auto r = run_yaml(topology(R"(      - {ts: 1, score: 1}
      - {ts: 2}
      - {ts: 3, score: high}
      - {ts: 4, score: nan}
)",
                               ""));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_THAT(errors[0], HasSubstr("the field `score` is missing"));
    EXPECT_THAT(errors[1], HasSubstr("is a string, not a number"));
    EXPECT_THAT(errors[2], HasSubstr("not a finite number"));
    auto bad = run_yaml(topology("      - {ts: 1, score: 1}\n", ", delta: 1.5"));
    EXPECT_FALSE(bad.status.is_ok());
    EXPECT_THAT(bad.diagnostics, HasSubstr("`delta` must be between 0 and 1"));
}

}  // namespace
}  // namespace eddy
