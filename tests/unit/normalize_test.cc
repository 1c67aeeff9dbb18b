// SPDX-License-Identifier: Apache-2.0
// normalize: each method against hand-computed values, groups (per key),
// percentile ranks against exact ranks, min-max clipping, categories,
// invalid values, configuration errors, the codec, state written by another
// configuration, a stopped and resumed job against an uninterrupted one, and
// parallelism 2 against 1.
#include "normalize/normalize.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "json_fields.h"
#include "resume_support.h"
#include "spec_support.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::num;
using testing::raw;
using testing::run_yaml;

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  n:\n    type: normalize\n    input: in\n" + params +
           "sinks:\n  out: {type: collect, input: n}\n  errors: {type: collect, input: "
           "n.errors}\n";
}

struct Lines {
    std::vector<std::string> out;
    std::vector<std::string> errors;
};

Lines run_normalize(const std::string& records, const std::string& params) {
    auto r = run_yaml(topology(records, params));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return {r.lines("out"), r.lines("errors")};
}

/// `{ts: i, <field>: v}` records, one per value (`v` as YAML text).
std::string records_of(const std::string& field, const std::vector<std::string>& values,
                       const std::string& extra = "") {
    std::string out;
    for (size_t i = 0; i < values.size(); ++i) {
        out += "      - {ts: " + std::to_string(i + 1) + ", " + field + ": " + values[i] + extra +
               "}\n";
    }
    return out;
}

std::vector<double> column(const std::vector<std::string>& lines, const std::string& field) {
    std::vector<double> out;
    for (const std::string& line : lines) {
        out.push_back(num(line, field));
    }
    return out;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-12) << "value " << i + 1;
    }
}

TEST(NormalizeTest, ZscoreUsesWelfordMeanAndPopulationVarianceIncludingTheValue) {
    // x:     2   4   4   4   5   5   7   9
    // n:     1   2   3   4   5   6   7   8
    // mean:  2   3  10/3 3.5 3.8  4  31/7  5
    // M2:    0   2  8/3  3  4.8   6  96/7  32
    // var = M2 / n: 0  1  8/9  3/4  24/25  1  96/49  4
    // z = (x - mean) / sqrt(var), 0 while var is 0.
    auto lines = run_normalize(records_of("v", {"2", "4", "4", "4", "5", "5", "7", "9"}),
                               "    fields: {v: zscore}\n");
    EXPECT_EQ(raw(lines.out[0], "v_zscore"), "0.0");
    expect_near(column(lines.out, "v_zscore"), {0, 1, 1 / std::sqrt(2.0), 1 / std::sqrt(3.0),
                                                std::sqrt(1.5), 1, 18 / std::sqrt(96.0), 2});
    // The input passes unchanged, the result is added.
    EXPECT_EQ(lines.out[7], R"({"ts":8,"v":9,"v_zscore":2.0})");
}

TEST(NormalizeTest, EachKeyHasItsOwnStatistics) {
    auto lines = run_normalize(R"(      - {ts: 1, device: mobile, v: 2}
      - {ts: 2, device: desktop, v: 10}
      - {ts: 3, device: mobile, v: 4}
      - {ts: 4, device: desktop, v: 20}
      - {ts: 5, device: mobile, v: 4}
      - {ts: 6, device: tablet, v: 1000}
)",
                               "    key: device\n    fields: {v: zscore}\n");
    // mobile: 2, 4, 4 as in the sequence above; desktop: 10, 20; tablet: 1000.
    expect_near(column(lines.out, "v_zscore"), {0, 0, 1, 1, 1 / std::sqrt(2.0), 0});
}

TEST(NormalizeTest, MinCountNullsTheFirstValuesOfAGroup) {
    auto lines = run_normalize(records_of("v", {"2", "4", "4", "4"}),
                               "    fields: {v: [zscore, percentile, minmax]}\n    min_count: 3\n");
    for (const char* f : {"v_zscore", "v_percentile", "v_minmax"}) {
        EXPECT_EQ(raw(lines.out[0], f), "null") << f;
        EXPECT_EQ(raw(lines.out[1], f), "null") << f;
    }
    EXPECT_NEAR(num(lines.out[2], "v_zscore"), 1 / std::sqrt(2.0), 1e-12);
    EXPECT_NEAR(num(lines.out[3], "v_percentile"), 1.0, 1e-12);  // 4 of 4 values <= 4
    EXPECT_NEAR(num(lines.out[3], "v_minmax"), 1.0, 1e-12);      // (4 - 2) / (4 - 2)
}

TEST(NormalizeTest, PercentileRanksAreExactForSmallInputs) {
    // Values seen (current included) and the fraction <= x:
    // {10}: 1; {10,20}: 20 -> 1; {5,10,20}: 5 -> 1/3; {5,10,15,20}: 15 -> 3/4;
    // {5,10,10,15,20}: 10 -> 3/5; {5,10,10,15,20,1}: 1 -> 1/6.
    auto lines = run_normalize(records_of("v", {"10", "20", "5", "15", "10", "1"}),
                               "    fields: {v: percentile}\n");
    expect_near(column(lines.out, "v_percentile"), {1, 1, 1.0 / 3, 0.75, 0.6, 1.0 / 6});
}

TEST(NormalizeTest, PercentileRanksStayWithinTheSketchBoundOnLargeInputs) {
    auto r = run_yaml(R"(
sources:
  clicks: {type: generator, events: 20000, users: 500, seed: 3, missing_rate: 0}
operators:
  n: {type: normalize, input: clicks, fields: {dwell_ms: percentile}}
sinks:
  out: {type: collect, input: n}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 20000u);
    std::vector<double> seen;  // sorted
    double worst = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        double x = num(lines[i], "dwell_ms");
        seen.insert(std::upper_bound(seen.begin(), seen.end(), x), x);
        double exact =
            static_cast<double>(std::upper_bound(seen.begin(), seen.end(), x) - seen.begin()) /
            static_cast<double>(seen.size());
        double got = num(lines[i], "dwell_ms_percentile");
        if (i < 199) {
            ASSERT_EQ(got, exact) << "value " << i + 1 << " (exact below k = 200)";
        }
        worst = std::max(worst, std::fabs(got - exact));
    }
    // KLL at k = 200: rank error about 1.7 / k; allow twice that.
    EXPECT_LT(worst, 2 * 1.7 / 200);
}

TEST(NormalizeTest, MinmaxClipsConfiguredBoundsAndLearnsMissingOnes) {
    std::string records;
    const char* values[] = {"5", "-5", "15", "10", "2.5"};
    for (int i = 0; i < 5; ++i) {
        std::string v = values[i];
        records += "      - {ts: " + std::to_string(i + 1) + ", a: " + v + ", b: " + v +
                   ", c: " + v + ", d: " + v + "}\n";
    }
    auto lines = run_normalize(records, R"(    fields:
      a: {method: minmax, min: 0, max: 10}
      b: {method: minmax, min: 0, max: 10, clip: false}
      c: minmax
      d: {method: minmax, min: 0}
)");
    expect_near(column(lines.out, "a_minmax"), {0.5, 0, 1, 1, 0.25});
    expect_near(column(lines.out, "b_minmax"), {0.5, -0.5, 1.5, 1, 0.25});
    // Learned min and max including x: [5,5] -> 0 (max <= min); [-5,5]: -5 -> 0;
    // [-5,15]: 15 -> 1; 10 -> 15/20; 2.5 -> 7.5/20.
    expect_near(column(lines.out, "c_minmax"), {0, 0, 1, 0.75, 0.375});
    // min 0 configured, max learned: 5/5; -5 -> clipped 0; 15/15; 10/15; 2.5/15.
    expect_near(column(lines.out, "d_minmax"), {1, 0, 1, 10.0 / 15, 2.5 / 15});
}

TEST(NormalizeTest, Log1pAndReplace) {
    auto lines = run_normalize(records_of("v", {"0", "1.718281828459045", "99"}),
                               "    fields: {v: log1p}\n    replace: true\n");
    expect_near(column(lines.out, "v"), {0, 1, std::log(100.0)});
    EXPECT_EQ(raw(lines.out[0], "v_log1p"), "");
}

TEST(NormalizeTest, InvalidValuesGoToErrorsNamingTheFieldAndTeachNothing) {
    auto lines = run_normalize(R"(      - {ts: 1, v: 2, w: 1}
      - {ts: 2, v: 4, w: abc}
      - {ts: 3, v: 4, w: -1}
      - {ts: 4, v: 4, w: 3}
      - {ts: 5, w: 3}
      - {ts: 6, v: null, w: 3}
      - {ts: 7, v: 1e200, w: 3}
      - {ts: 8, v: true}
)",
                               "    fields: {v: zscore, w: log1p}\n");
    // Rejected records change no statistics: v's z-scores are those of 2, 4.
    ASSERT_EQ(lines.out.size(), 4u);
    EXPECT_NEAR(num(lines.out[0], "v_zscore"), 0, 1e-12);
    EXPECT_NEAR(num(lines.out[1], "v_zscore"), 1, 1e-12);
    // Missing and null fields are left alone.
    EXPECT_EQ(lines.out[2], R"({"ts":5,"w":3,"w_log1p":1.3862943611198906})");
    EXPECT_EQ(raw(lines.out[3], "v"), "null");
    EXPECT_EQ(raw(lines.out[3], "v_zscore"), "");
    ASSERT_EQ(lines.errors.size(), 4u);
    EXPECT_THAT(lines.errors[0], HasSubstr("field `w` must be a number for log1p, got a string"));
    EXPECT_THAT(lines.errors[1], HasSubstr("field `w` is -1; log1p needs a number above -1"));
    EXPECT_THAT(lines.errors[2],
                HasSubstr("field `v` is 1e+200; zscore takes numbers up to 1e100 in magnitude"));
    EXPECT_THAT(lines.errors[3], HasSubstr("field `v` must be a number for zscore, got a bool"));
}

TEST(NormalizeTest, OnInvalidSetNullWritesNullAndNormalizesTheRest) {
    auto lines = run_normalize(R"(      - {ts: 1, v: 2, c: a}
      - {ts: 2, v: x, c: b}
      - {ts: 3, v: 4, c: 2.5}
)",
                               "    fields: {v: zscore, c: index}\n    on_invalid: set_null\n");
    ASSERT_EQ(lines.out.size(), 3u);
    EXPECT_TRUE(lines.errors.empty());
    EXPECT_EQ(lines.out[1], R"({"ts":2,"v":"x","c":"b","v_zscore":null,"c_index":1})");
    EXPECT_NEAR(num(lines.out[2], "v_zscore"), 1, 1e-12);  // "x" was not learned
    EXPECT_EQ(raw(lines.out[2], "c_index"), "null");       // a double is not a category
}

TEST(NormalizeTest, OneHotColumnsAndConfiguredIndex) {
    auto lines = run_normalize(R"(      - {ts: 1, device: desktop, tier: 2}
      - {ts: 2, device: tv, tier: 7}
      - {ts: 3, device: mobile, tier: gold}
)",
                               R"(    fields:
      device: [{method: one_hot, values: [mobile, desktop, tablet]}, {method: index, values: [mobile, desktop]}]
      tier: {method: index, values: [gold, 2]}
)");
    EXPECT_THAT(
        lines.out,
        ElementsAre(
            R"({"ts":1,"device":"desktop","tier":2,"device_mobile":0,"device_desktop":1,"device_tablet":0,"device_index":1,"tier_index":1})",
            R"({"ts":2,"device":"tv","tier":7,"device_mobile":0,"device_desktop":0,"device_tablet":0,"device_index":-1,"tier_index":-1})",
            R"({"ts":3,"device":"mobile","tier":"gold","device_mobile":1,"device_desktop":0,"device_tablet":0,"device_index":0,"tier_index":0})"));
}

TEST(NormalizeTest, OneHotWithReplaceRemovesTheField) {
    auto lines = run_normalize(R"(      - {ts: 1, device: tablet, flag: true}
)",
                               R"(    replace: true
    fields:
      device: {method: one_hot, values: [mobile, tablet]}
      flag: {method: one_hot, values: [true, false], output: is}
)");
    EXPECT_THAT(
        lines.out,
        ElementsAre(
            R"({"ts":1,"flag":true,"device_mobile":0,"device_tablet":1,"is_true":1,"is_false":0})"));
}

TEST(NormalizeTest, LearnedIndexFollowsFirstAppearancePerKeyUpToMaxValues) {
    auto lines =
        run_normalize(R"(      - {ts: 1, user_id: u1, c: shoes}
      - {ts: 2, user_id: u1, c: books}
      - {ts: 3, user_id: u2, c: books}
      - {ts: 4, user_id: u1, c: shoes}
      - {ts: 5, user_id: u1, c: games}
      - {ts: 6, user_id: u1, c: books}
      - {ts: 7, user_id: u2, c: 42}
)",
                      "    key: user_id\n    fields: {c: {method: index, max_values: 2}}\n");
    // u1: shoes 0, books 1, shoes 0, games beyond max_values -1, books 1; u2: books 0, 42 1.
    expect_near(column(lines.out, "c_index"), {0, 1, 0, 0, -1, 1, 1});
}

/// The diagnostics of a topology whose normalize has `params`.
std::string diagnostics_for(const std::string& params) {
    auto r = run_yaml(topology("      - {ts: 1, v: 1}\n", params));
    EXPECT_FALSE(r.status.is_ok()) << params;
    return r.diagnostics;
}

TEST(NormalizeTest, ConfigurationErrorsNameThePlace) {
    EXPECT_THAT(diagnostics_for("    fields: {v: zscor}\n"),
                HasSubstr("`fields.v` (test.yaml:10:14) has the unknown method `zscor`; use "
                          "zscore, percentile, minmax, log1p, one_hot or index"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: one_hot}\n"),
                HasSubstr("`fields.v` (test.yaml:11:7): one_hot needs `values`"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: minmax, min: 5, max: 5}\n"),
                HasSubstr("`fields.v` (test.yaml:11:7): `min` must be below `max`"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: zscore, values: [a]}\n"),
                HasSubstr("`values` has no meaning for method zscore; remove it"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: minmax, min: low}\n"),
                HasSubstr("`fields.v` (test.yaml:11:7): `min` (test.yaml:11:27) must be a finite "
                          "number, got `low`"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: percentile, k: 4}\n"),
                HasSubstr("`k` (test.yaml:11:31) must be an integer between 8 and 65535"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: zscore, scale: 2}\n"),
                HasSubstr("`scale` (test.yaml:11:27) is not an option of a method"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: zscore, output: a, suffix: b}\n"),
                HasSubstr("gives both `output` and `suffix`"));
    EXPECT_THAT(diagnostics_for("    fields: {v: [zscore, zscore]}\n"),
                HasSubstr("uses zscore twice; give each method once per field"));
    EXPECT_THAT(diagnostics_for("    fields: {v: [zscore, percentile]}\n    replace: true\n"),
                HasSubstr("writes `v`, which another method writes too"));
    EXPECT_THAT(diagnostics_for("    fields: {v: zscore, w: {method: log1p, output: v_zscore}}\n"),
                HasSubstr("writes `v_zscore`, which another method writes too"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: one_hot, values: [a, b, a]}\n"),
                HasSubstr("lists `a` twice"));
    EXPECT_THAT(diagnostics_for("    fields:\n      v: {method: index, values: [a], max_values: "
                                "3}\n"),
                HasSubstr("`max_values` bounds a learned index"));
    EXPECT_THAT(diagnostics_for("    fields: {v: []}\n"), HasSubstr("is an empty list"));
    EXPECT_THAT(diagnostics_for("    fields: {}\n"), HasSubstr("`fields` is empty"));
    EXPECT_THAT(diagnostics_for("    fields: {v: {min: 1}}\n"), HasSubstr("needs a `method`"));
    EXPECT_THAT(diagnostics_for("    fields: {v: zscore}\n    on_invalid: drop\n"),
                HasSubstr("must be one of error, set_null"));
}

TEST(NormalizeTest, CodecRoundTripsEveryMethod) {
    NormalizeGroup g;
    g.layout = 0x1234567890abcdefULL;
    g.stats.resize(4);
    g.stats[0].field = "dwell_ms";
    g.stats[0].method = NormalizeMethod::kZscore;
    g.stats[0].count = 8;
    g.stats[0].mean = 5;
    g.stats[0].m2 = 32;
    g.stats[1].field = "dwell_ms";
    g.stats[1].method = NormalizeMethod::kPercentile;
    g.stats[1].sketch = std::make_unique<QuantileSketch>();
    for (int i = 0; i < 500; ++i) {
        g.stats[1].sketch->add(i);
    }
    g.stats[2].field = "scroll_pct";
    g.stats[2].method = NormalizeMethod::kMinmax;
    g.stats[2].count = 2;
    g.stats[2].min = 0.25;
    g.stats[2].max = 0.75;
    g.stats[3].field = "category";
    g.stats[3].method = NormalizeMethod::kIndex;
    g.stats[3].add("shoes");
    g.stats[3].add("books");
    std::string bytes = encode_state(g);
    NormalizeGroup back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_EQ(back.layout, g.layout);
    EXPECT_EQ(back.stats[1].sketch->count(), 500u);
    EXPECT_EQ(back.stats[3].find("books"), 1);
    EXPECT_EQ(back.stats[3].find("shoes"), 0);
    EXPECT_EQ(back.stats[3].find("games"), -1);
    std::string json;
    ASSERT_TRUE(state_to_json<NormalizeGroup>(bytes, json));
    EXPECT_THAT(json, HasSubstr(R"({"field":"dwell_ms","method":"zscore","count":8,"mean":5.0,)"
                                R"("variance":4.0})"));
    EXPECT_THAT(json, HasSubstr(R"({"field":"category","method":"index","values":["shoes",)"
                                R"("books"]})"));
    EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, bytes.size() - 2), back));
    std::string bad = bytes;
    bad[1 + 9 + 1 + 1 + 8] = 9;  // the first method byte: no such method
    EXPECT_FALSE(decode_state(bad, back));
}

TEST(NormalizeTest, TheReferencePageCoversTheSpec) {
    testing::expect_doc_covers_spec(normalize_spec(), "docs/normalize.md");
}

/// The generator through normalize (keyed by device, or not), stopped after
/// `stop_after` events when that is positive.
std::string restore_yaml(const std::string& key, int stop_after, const std::string& state) {
    return "parallelism: 1\n" + state +
           "sources:\n  clicks: {type: generator, events: 6000, users: 300, seed: 5}\n"
           "operators:\n  n:\n    type: normalize\n    input: clicks\n" +
           key +
           "    fields:\n      dwell_ms: [zscore, percentile]\n"
           "      scroll_pct: minmax\n      category: index\n"
           "sinks:\n  out: {type: collect, input: n}\n"
           "  metrics: {type: collect, input: n}\n" +
           testing::stop_after_sink("clicks", stop_after);
}

TEST(NormalizeRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    testing::expect_resume_equals_whole(
        [](int stop_after, const std::string& state) {
            return restore_yaml("    key: device\n", stop_after, state);
        },
        2500, "normalize_keyed");
    testing::expect_resume_equals_whole(
        [](int stop_after, const std::string& state) {
            return restore_yaml("", stop_after, state);
        },
        2500, "normalize_unkeyed");
}

TEST(NormalizeRestoreTest, StateOfAnotherConfigurationIsMatchedByFieldAndMethod) {
    namespace fs = std::filesystem;
    auto yaml = [](const std::string& fields, int stop_after, const std::string& state) {
        return state +
               "sources:\n  clicks: {type: generator, events: 3000, users: 100, seed: "
               "9}\noperators:\n  n: {type: normalize, input: clicks, key: device, "
               "fields: " +
               fields + "}\nsinks:\n  out: {type: collect, input: n}\n" +
               testing::stop_after_sink("clicks", stop_after);
    };
    auto whole = run_yaml(yaml("{dwell_ms: zscore, category: index}", 0, ""));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message() << whole.diagnostics;
    std::vector<std::string> z = whole.lines("out");
    fs::path dir =
        fs::temp_directory_path() / ("eddy_normalize_layout_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    std::string state = "state: {dir: " + dir.string() + "}\n";
    auto first = run_yaml(yaml("{dwell_ms: zscore, category: index}", 1000, state));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();
    // Resumed with the methods reordered and one more: dwell_ms's z-scores
    // and category's indexes continue; the new method starts fresh.
    auto second =
        run_yaml(yaml("{scroll_pct: percentile, category: index, dwell_ms: zscore}", 0, state));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    const auto& resumed = second.lines("out");
    ASSERT_GT(resumed.size(), 1000u);
    ASSERT_LT(resumed.size(), z.size());
    size_t offset = z.size() - resumed.size();
    for (size_t i = 0; i < resumed.size(); ++i) {
        ASSERT_EQ(raw(resumed[i], "dwell_ms_zscore"), raw(z[offset + i], "dwell_ms_zscore")) << i;
        ASSERT_EQ(raw(resumed[i], "category_index"), raw(z[offset + i], "category_index")) << i;
    }
    second.job.reset();
    fs::remove_all(dir);
}

TEST(NormalizeParallelTest, ParallelismTwoGivesTheSameRecordsAsOne) {
    auto run_at = [](int parallelism) {
        auto r = run_yaml("parallelism: " + std::to_string(parallelism) + R"(
sources:
  clicks: {type: generator, events: 5000, users: 200, seed: 13}
operators:
  n:
    type: normalize
    input: clicks
    key: device
    fields: {dwell_ms: [zscore, percentile], scroll_pct: minmax, category: index}
sinks:
  out: {type: collect, input: n}
)");
        EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
        std::vector<std::string> lines = r.lines("out");
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    std::vector<std::string> one = run_at(1);
    std::vector<std::string> two = run_at(2);
    // Records without a device go to `errors` (the key is missing).
    ASSERT_GT(one.size(), 4500u);
    EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace eddy
