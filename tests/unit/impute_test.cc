// SPDX-License-Identifier: Apache-2.0
// impute: every strategy with hand-computed fills, groups, fallbacks, flags,
// what teaches the statistics, config diagnostics, codecs and a resumed job.
#include "impute/impute.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "resume_support.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  imp:\n    type: impute\n    input: in\n" + params +
           "sinks:\n  out: {type: collect, input: imp}\n";
}

std::vector<std::string> run_impute(const std::string& records, const std::string& params) {
    auto r = run_yaml(topology(records, params));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r.lines("out");
}

std::string diagnostics_for(const std::string& params) {
    auto r = run_yaml(topology("      - {a: 1}\n", params));
    EXPECT_FALSE(r.status.is_ok()) << params;
    return r.diagnostics;
}

TEST(ImputeTest, ConstantsUnknownCategoriesAndFlags) {
    auto lines = run_impute(R"(      - {country: DE, referrer: search}
      - {n: 1}
      - {country: null, referrer: ""}
)",
                            R"(    flag: true
    fields:
      country: unknown
      referrer: {strategy: constant, value: direct, missing_values: [""]}
      zip: {strategy: constant, value: "007", type: string, flag: false}
      code: {strategy: constant, value: "007"}
      segment: {strategy: unknown, value: none}
)");
    EXPECT_THAT(
        lines,
        ElementsAre(R"({"country":"DE","referrer":"search","country_imputed":false,)"
                    R"("referrer_imputed":false,"zip":"007","code":7,"code_imputed":true,)"
                    R"("segment":"none","segment_imputed":true})",
                    R"({"n":1,"country":"unknown","country_imputed":true,"referrer":"direct",)"
                    R"("referrer_imputed":true,"zip":"007","code":7,"code_imputed":true,)"
                    R"("segment":"none","segment_imputed":true})",
                    R"({"country":"unknown","referrer":"direct","country_imputed":true,)"
                    R"("referrer_imputed":true,"zip":"007","code":7,"code_imputed":true,)"
                    R"("segment":"none","segment_imputed":true})"));
}

TEST(ImputeTest, RunningMeanAndLowerMedian) {
    // a (mean) and b (median) see 10, 30, 20, 1000; c (median) sees 1.5 and 2.5
    // and is filled with 1.5 wherever it is missing.
    // Before ts 2: {10}: mean 10, median 10. Before ts 4: {10, 30}: mean 20,
    // median the 1st of 2 = 10. Before ts 7: {10, 30, 20, 1000}: mean 265,
    // median the 2nd of 4 = 20; c: {1.5, 2.5}: 1.5.
    auto lines = run_impute(R"(      - {ts: 1, a: 10, b: 10, c: 1.5}
      - {ts: 2}
      - {ts: 3, a: 30, b: 30, c: 2.5}
      - {ts: 4}
      - {ts: 5, a: 20, b: 20}
      - {ts: 6, a: 1000, b: 1000}
      - {ts: 7}
)",
                            "    fields: {a: mean, b: median, c: median}\n");
    EXPECT_THAT(
        lines,
        ElementsAre(R"({"ts":1,"a":10,"b":10,"c":1.5})", R"({"ts":2,"a":10.0,"b":10,"c":1.5})",
                    R"({"ts":3,"a":30,"b":30,"c":2.5})", R"({"ts":4,"a":20.0,"b":10,"c":1.5})",
                    R"({"ts":5,"a":20,"b":20,"c":1.5})", R"({"ts":6,"a":1000,"b":1000,"c":1.5})",
                    R"({"ts":7,"a":265.0,"b":20,"c":1.5})"));
}

TEST(ImputeTest, OnlyObservedNumbersTeachAndFallbacksComeFirst) {
    // a: nothing yet and no fallback, so it stays missing; then 4, the fill
    // 4 does not count, then 8: the mean is (4 + 8) / 2 = 6, not 16 / 3.
    // A string does not teach. b: fallback -1 until min_count 2 values.
    auto lines = run_impute(R"(      - {ts: 1}
      - {ts: 2, a: 4, b: 4}
      - {ts: 3}
      - {ts: 4, a: 8, b: 8}
      - {ts: 5, a: abc, b: abc}
      - {ts: 6}
)",
                            R"(    fields:
      a: mean
      b: {strategy: mean, fallback: -1, min_count: 2, flag: true}
)");
    EXPECT_THAT(lines, ElementsAre(R"({"ts":1,"b":-1,"b_imputed":true})",
                                   R"({"ts":2,"a":4,"b":4,"b_imputed":false})",
                                   R"({"ts":3,"a":4.0,"b":-1,"b_imputed":true})",
                                   R"({"ts":4,"a":8,"b":8,"b_imputed":false})",
                                   R"({"ts":5,"a":"abc","b":"abc","b_imputed":false})",
                                   R"({"ts":6,"a":6.0,"b":6.0,"b_imputed":true})"));
}

TEST(ImputeTest, GroupsFallBackToTheOverallStatistic) {
    // d: median per device. Mobile {10, 20}: 10; desktop {100}: 100; tablet
    // and no device: overall {10, 20, 100}: 20. e: the same with min_count 2,
    // so desktop (one value) uses the overall median too.
    const std::string records = R"(      - {device: mobile, d: 10, e: 10}
      - {device: mobile, d: 20, e: 20}
      - {device: desktop, d: 100, e: 100}
      - {device: mobile}
      - {device: desktop}
      - {device: tablet}
      - {n: 1}
)";
    auto lines = run_impute(records, R"(    fields:
      d: {strategy: median, group_by: device}
      e: {strategy: median, group_by: device, min_count: 2}
)");
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(lines[3], R"({"device":"mobile","d":10,"e":10})");
    EXPECT_EQ(lines[4], R"({"device":"desktop","d":100,"e":20})");
    EXPECT_EQ(lines[5], R"({"device":"tablet","d":20,"e":20})");
    EXPECT_EQ(lines[6], R"({"n":1,"d":20,"e":20})");

    // With one group kept, desktop's value teaches only the overall median.
    lines = run_impute(records, R"(    max_groups: 1
    fields:
      d: {strategy: median, group_by: device}
)");
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(lines[3], R"({"device":"mobile","d":10})");
    EXPECT_EQ(lines[4], R"({"device":"desktop","d":20})");
}

TEST(ImputeTest, LastValueOfTheKey) {
    auto lines = run_impute(R"(      - {user_id: a, device: mobile}
      - {user_id: b}
      - {user_id: a}
      - {user_id: a, device: ""}
      - {user_id: a, device: tablet}
      - {user_id: a, device: null}
      - {user_id: b}
)",
                            R"(    key: user_id
    fields:
      device: {strategy: last, fallback: unknown, missing_values: [""]}
)");
    EXPECT_THAT(
        lines,
        ElementsAre(R"({"user_id":"a","device":"mobile"})", R"({"user_id":"b","device":"unknown"})",
                    R"({"user_id":"a","device":"mobile"})", R"({"user_id":"a","device":"mobile"})",
                    R"({"user_id":"a","device":"tablet"})", R"({"user_id":"a","device":"tablet"})",
                    R"({"user_id":"b","device":"unknown"})"));
}

TEST(ImputeTest, WithoutAKeyLastIsTheStreamsLastValue) {
    auto lines = run_impute(R"(      - {user_id: a}
      - {user_id: a, device: mobile}
      - {user_id: b}
)",
                            "    fields: {device: last}\n");
    EXPECT_THAT(lines, ElementsAre(R"({"user_id":"a"})", R"({"user_id":"a","device":"mobile"})",
                                   R"({"user_id":"b","device":"mobile"})"));
}

TEST(ImputeTest, EveryConfigProblemIsReportedWithItsPlace) {
    std::string d = diagnostics_for(R"(    fields:
      a: {value: 1}
      b: avg
      c: {strategy: constant}
      d: {strategy: mean, value: 0}
      e: {strategy: constant, value: 1, fallback: 2}
      f: {strategy: last, group_by: device}
      g: {strategy: median, group_by: g}
      h: {strategy: mean, min_count: 0}
      i: {strategy: constant, value: abc, type: int}
      j: {strategy: mean, typo: 1}
      k: {strategy: constant, value: 1, flag: true}
      k_imputed: {strategy: constant, value: 1}
)");
    EXPECT_THAT(d, HasSubstr("`fields.a` (test.yaml:11:7) needs a `strategy`"));
    EXPECT_THAT(d, HasSubstr("`fields.b` (test.yaml:12:7) must be one of constant, mean, median, "
                             "last, unknown; got `avg`"));
    EXPECT_THAT(d, HasSubstr("`fields.c`: the constant strategy needs a `value`"));
    EXPECT_THAT(d, HasSubstr("`fields.d.value` (test.yaml:14:27) applies to the constant and "
                             "unknown strategies; use `fallback`"));
    EXPECT_THAT(d, HasSubstr("`fields.e.fallback` (test.yaml:15:41) applies to the mean, median "
                             "and last strategies"));
    EXPECT_THAT(d, HasSubstr("`fields.f.group_by` (test.yaml:16:27) applies to the mean and "
                             "median strategies only"));
    EXPECT_THAT(d, HasSubstr("`fields.g.group_by` (test.yaml:17:29) names the field itself"));
    EXPECT_THAT(d, HasSubstr("`fields.h.min_count` (test.yaml:18:27) must be an integer >= 1"));
    EXPECT_THAT(d, HasSubstr("`fields.i.value` (test.yaml:19:31) `abc` is not of type int"));
    EXPECT_THAT(d, HasSubstr("`fields.j.typo` (test.yaml:20:27) is not a setting"));
    EXPECT_THAT(d, HasSubstr("the flag `k_imputed` of `fields.k` is also a field to impute"));
}

TEST(ImputeTest, ConstantsAreTypedAsYamlReadsThem) {
    EXPECT_EQ(impute::parse_constant("true", "")->type, ValueType::kBool);
    EXPECT_EQ(impute::parse_constant("-3", "")->i, -3);
    EXPECT_EQ(impute::parse_constant("2.5", "")->d, 2.5);
    EXPECT_EQ(impute::parse_constant("n/a", "")->s, "n/a");
    EXPECT_EQ(impute::parse_constant("3", "number")->type, ValueType::kDouble);
    EXPECT_EQ(impute::parse_constant("true", "string")->s, "true");
    EXPECT_FALSE(impute::parse_constant("2.5", "int").has_value());
    EXPECT_FALSE(impute::parse_constant("1", "bool").has_value());
}

TEST(ImputeTest, StateCodecsRoundTrip) {
    ImputeStats stats;
    stats.fields.resize(2);
    stats.fields[0].field = "dwell_ms";
    for (double x : {5.0, 1.0, 3.0}) {
        stats.fields[0].all.add(x, true, true);
        stats.fields[0].groups["\x04mobile"].add(x, true, true);
    }
    stats.fields[0].groups["\x04tablet"].add(2.5, false, true);
    EXPECT_EQ(stats.fields[0].all.current_median(), 3.0);
    stats.fields[1].field = "scroll_pct";
    stats.fields[1].all.add(0.5, false, false);
    std::string bytes = encode_state(stats);
    ImputeStats back;
    ASSERT_TRUE(decode_state(bytes, back));
    ASSERT_EQ(back.fields.size(), 2u);
    EXPECT_EQ(back.fields[0].all.count, 3);
    EXPECT_EQ(back.fields[0].all.mean, 3.0);
    EXPECT_EQ(back.fields[0].all.median, 3.0);
    EXPECT_EQ(back.fields[0].all.median_at, 3u);
    EXPECT_EQ(back.fields[0].groups.size(), 2u);
    EXPECT_FALSE(back.fields[0].groups["\x04tablet"].all_ints);
    EXPECT_EQ(back.fields[1].all.mean, 0.5);
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 2), back));
    std::string json;
    ASSERT_TRUE(state_to_json<ImputeStats>(bytes, json));
    EXPECT_THAT(json, HasSubstr(R"("groups":{"mobile":{"count":3,)"));

    LastValues last;
    last.fields.resize(2);
    last.fields[0].first = "device";
    last.fields[0].second.assign(Value::string_view("mobile"));
    last.fields[1].first = "n";
    last.fields[1].second.assign(Value::integer(-7));
    LastValues last_back;
    ASSERT_TRUE(decode_state(encode_state(last), last_back));
    EXPECT_EQ(last_back.fields[0].second.s, "mobile");
    EXPECT_EQ(last_back.fields[1].second.i, -7);
    json.clear();
    ASSERT_TRUE(state_to_json<LastValues>(encode_state(last), json));
    EXPECT_EQ(json, R"({"device":"mobile","n":-7})");
}

TEST(ImputeRestoreTest, StateIsKeptByFieldNameWhenTheFieldsChange) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("eddy_impute_fields_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const std::string state = "state: {dir: " + dir.string() + "}\n";
    auto first =
        run_yaml(state + topology(R"(      - {user_id: a, device: mobile, d: 4}
      - {user_id: b, d: 8}
)",
                                  "    key: user_id\n    fields: {device: last, d: mean}\n"));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    first.job.reset();
    // A new `last` field before the old one, a new statistic before the old
    // one: a's device and the mean of d (6) come back by name. The first
    // run's source has ended, so the second reads another one.
    std::string yaml = topology("      - {user_id: a}\n", R"(    key: user_id
    fields:
      country: {strategy: last, fallback: none}
      device: last
      e: median
      d: mean
)");
    yaml.replace(yaml.find("  in:"), 5, "  more:");
    yaml.replace(yaml.find("input: in\n"), 10, "input: more\n");
    auto second = run_yaml(state + yaml);
    ASSERT_TRUE(second.status.is_ok()) << second.status.message() << second.diagnostics;
    ASSERT_TRUE(second.job->restored());
    EXPECT_THAT(second.lines("out"),
                ElementsAre(R"({"user_id":"a","country":"none","device":"mobile","d":6.0})"));
    second.job.reset();
    fs::remove_all(dir);
}

/// The generator with many gaps through impute, optionally stopped after
/// `stop_after` events (the topology of expect_resume_equals_whole()).
std::string restore_yaml(int stop_after, const std::string& state) {
    return "parallelism: 1\n" + state +
           "sources:\n  clicks: {type: generator, events: 6000, users: 300, "
           "missing_rate: 0.2, seed: 11}\n"
           "operators:\n  imp:\n    type: impute\n    input: clicks\n    key: user_id\n"
           "    flag: true\n    fields:\n"
           "      dwell_ms: {strategy: median, group_by: device}\n"
           "      scroll_pct: {strategy: mean, group_by: country}\n"
           "      device: {strategy: last, fallback: unknown}\n"
           "      country: unknown\n"
           "sinks:\n  out: {type: collect, input: imp}\n  metrics: {type: collect, "
           "input: imp}\n" +
           testing::stop_after_sink("clicks", stop_after);
}

TEST(ImputeRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    testing::expect_resume_equals_whole(restore_yaml, 2500, "impute");
}

}  // namespace
}  // namespace eddy
