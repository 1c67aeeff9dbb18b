// SPDX-License-Identifier: Apache-2.0
// segment: thresholds, percentiles, first match wins, emit on change only,
// rule validation and the codec.
#include "segment.h"

#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  s:\n    type: segment\n    input: in\n    key: user_id\n" + params +
           "sinks:\n  out: {type: collect, input: s}\n";
}

std::vector<std::string> run_segment(const std::string& records, const std::string& params) {
    auto r = run_yaml(topology(records, params));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r.lines("out");
}

std::string diagnostics_for(const std::string& rules) {
    auto r = run_yaml(topology("      - {ts: 1, user_id: a}\n", "    rules: " + rules + "\n"));
    EXPECT_FALSE(r.status.is_ok()) << rules;
    return r.diagnostics;
}

TEST(SegmentTest, FirstMatchingRuleWinsAndOnlyChangesAreEmitted) {
    auto lines =
        run_segment(R"(      - {ts: 1, user_id: a, purchases: 0, frequency: 3, dwell_avg: 6000}
      - {ts: 2, user_id: a, purchases: 0, frequency: 12, dwell_avg: 6000}
      - {ts: 3, user_id: a, purchases: 0, frequency: 15, dwell_avg: 7000}
      - {ts: 4, user_id: b, purchases: 2, frequency: 20, dwell_avg: 9000}
      - {ts: 5, user_id: a, purchases: 1, frequency: 15, dwell_avg: 7000}
      - {ts: 6, user_id: a, frequency: 15}
      - {ts: 7, user_id: a, frequency: 10, dwell_avg: 5000.5}
)",
                    R"(    rules:
      - {name: buyer, when: {purchases: ">= 1"}}
      - {name: engaged, when: {frequency: ">= 10", dwell_avg: "> 5000"}}
)");
    EXPECT_THAT(lines,
                ElementsAre(R"({"user_id":"a","segment":"other","previous_segment":null})",
                            R"({"user_id":"a","segment":"engaged","previous_segment":"other"})",
                            R"({"user_id":"b","segment":"buyer","previous_segment":null})",
                            R"({"user_id":"a","segment":"buyer","previous_segment":"engaged"})",
                            // Missing fields: neither rule matches.
                            R"({"user_id":"a","segment":"other","previous_segment":"buyer"})",
                            // Exactly at ">= 10" and just above "> 5000".
                            R"({"user_id":"a","segment":"engaged","previous_segment":"other"})"));
}

TEST(SegmentTest, RunningPercentileIncludesTheCurrentValue) {
    // Values seen so far (current included) and p50 = the ceil(n/2)-th smallest:
    // {10}: 10; {10,20}: 10; {5,10,20}: 10; {5,10,15,20}: 10; {5,10,10,15,20}: 10.
    auto lines = run_segment(R"(      - {ts: 1, user_id: k1, score: 10}
      - {ts: 2, user_id: k2, score: 20}
      - {ts: 3, user_id: k3, score: 5}
      - {ts: 4, user_id: k4, score: 15}
      - {ts: 5, user_id: k5, score: 10}
      - {ts: 6, user_id: k6}
      - {ts: 7, user_id: k7, score: abc}
      - {ts: 8, user_id: k8, score: 20}
      - {ts: 9, user_id: k9, score: 4}
)",
                             R"(    rules:
      - {name: top, when: {score: ">= p100"}}
      - {name: high, when: {score: "> p50"}}
      - {name: bottom, when: {score: "<= p0"}}
    default: low
    segment_field: tier
    key_field: who
)");
    EXPECT_THAT(lines, ElementsAre(R"({"who":"k1","tier":"top","previous_tier":null})",
                                   R"({"who":"k2","tier":"top","previous_tier":null})",
                                   R"({"who":"k3","tier":"bottom","previous_tier":null})",
                                   R"({"who":"k4","tier":"high","previous_tier":null})",
                                   R"({"who":"k5","tier":"low","previous_tier":null})",
                                   R"({"who":"k6","tier":"low","previous_tier":null})",
                                   R"({"who":"k7","tier":"low","previous_tier":null})",
                                   R"({"who":"k8","tier":"top","previous_tier":null})",
                                   R"({"who":"k9","tier":"bottom","previous_tier":null})"));
}

TEST(SegmentTest, StringBooleanAndInequalityConditions) {
    auto lines = run_segment(R"(      - {ts: 1, user_id: a, device: mobile, vip: true, country: DE}
      - {ts: 2, user_id: b, device: mobile, vip: false, country: FR}
      - {ts: 3, user_id: c, device: desktop, vip: true, country: FR}
      - {ts: 4, user_id: d, device: 7, country: 5}
)",
                             R"(    rules:
      - {name: vip_mobile, when: {device: "== mobile", vip: true}}
      - {name: abroad_mobile, when: {device: mobile, country: "!= DE"}}
      - {name: numbers, when: {device: "== 7"}}
)");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_THAT(lines[0], HasSubstr(R"("segment":"vip_mobile")"));
    EXPECT_THAT(lines[1], HasSubstr(R"("segment":"abroad_mobile")"));
    EXPECT_THAT(lines[2], HasSubstr(R"("segment":"other")"));
    EXPECT_THAT(lines[3], HasSubstr(R"("segment":"numbers")"));
}

TEST(SegmentTest, PassThroughKeepsTheInputRecord) {
    auto lines = run_segment(R"(      - {ts: 1, user_id: a, frequency: 3}
      - {ts: 2, user_id: a, frequency: 4}
)",
                             R"(    rules: [{name: active, when: {frequency: "> 3"}}]
    pass_through: true
)");
    EXPECT_THAT(
        lines,
        ElementsAre(
            R"({"ts":1,"user_id":"a","frequency":3,"segment":"other","previous_segment":null})",
            R"({"ts":2,"user_id":"a","frequency":4,"segment":"active","previous_segment":"other"})"));
}

TEST(SegmentTest, ProfilesFeedSegments) {
    auto r = run_yaml(R"(
sources:
  in:
    type: memory
    records:
      - {ts: 0, user_id: a, type: page_view}
      - {ts: 0, user_id: a, type: purchase, price: 5}
      - {ts: 0, user_id: b, type: click}
operators:
  p: {type: profile, input: in, key: user_id, emit_every: 0s}
  s:
    type: segment
    input: p
    key: user_id
    rules: [{name: buyer, when: {purchases: ">= 1", monetary: "> 4.5"}}]
sinks:
  out: {type: collect, input: s}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"user_id":"a","segment":"other","previous_segment":null})",
                            R"({"user_id":"a","segment":"buyer","previous_segment":"other"})",
                            R"({"user_id":"b","segment":"other","previous_segment":null})"));
}

TEST(SegmentTest, RulesAreValidatedWithMessagesNamingTheRule) {
    EXPECT_THAT(diagnostics_for(R"([{name: engaged, when: {dwell_avg: "=> 5"}}])"),
                HasSubstr("rule `engaged` (rule 1 of `rules`): the condition `dwell_avg: \"=> "
                          "5\"` uses the unknown comparison `=>`"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {x: "> 1"}}, {name: b, when: {x: "> p101"}}])"),
                HasSubstr("rule `b` (rule 2 of `rules`): the condition `x: \"> p101\"` uses "
                          "`p101`, which is not a percentile; use p0 to p100"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {x: "== p50"}}])"),
                HasSubstr("percentiles need >, >=, < or <="));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {x: "> 10s"}}])"),
                HasSubstr("neither a number nor a percentile"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {x: ">"}}])"),
                HasSubstr("has no value to compare with"));
    EXPECT_THAT(diagnostics_for(R"([{when: {x: "> 1"}}])"),
                HasSubstr("rule 1 of `rules` needs a `name`"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, whn: {x: "> 1"}}])"),
                HasSubstr("rule `a` (rule 1 of `rules`) has the unknown key `whn`"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {}}])"), HasSubstr("needs a non-empty `when`"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {x: [1, 2]}}])"),
                HasSubstr("the condition on `x` must be a single value"));
    EXPECT_THAT(diagnostics_for(R"([{name: a, when: {x: 1}}, {name: a, when: {x: 2}}])"),
                HasSubstr("reuses the name `a`"));
    EXPECT_THAT(diagnostics_for("[]"), HasSubstr("`rules` is empty"));
}

TEST(SegmentTest, StatsCodecRoundTrips) {
    SegmentStats s;
    s.fields.emplace_back();
    s.fields[0].field = "dwell_avg";
    for (int i = 0; i < 1000; ++i) {
        s.fields[0].sketch.add(i);
    }
    s.fields[0].refreshed_at = 1000;
    s.fields[0].quantiles = {0.5, 0.75};
    s.fields[0].thresholds = {499, 749};
    std::string bytes = encode_state(s);
    SegmentStats t;
    ASSERT_TRUE(decode_state(bytes, t));
    EXPECT_EQ(encode_state(t), bytes);
    ASSERT_EQ(t.fields.size(), 1u);
    EXPECT_EQ(t.fields[0].field, "dwell_avg");
    EXPECT_EQ(t.fields[0].sketch.count(), 1000u);
    EXPECT_EQ(t.fields[0].thresholds[1], 749);
    EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, bytes.size() - 4), t));
    SegmentStats empty;
    ASSERT_TRUE(decode_state(encode_state(empty), t));
    EXPECT_TRUE(t.fields.empty());
}

}  // namespace
}  // namespace eddy
