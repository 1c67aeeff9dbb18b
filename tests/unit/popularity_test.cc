// SPDX-License-Identifier: Apache-2.0
// popularity: weights, decay against the closed form, any event order,
// groups, exclusion of seen items, the throttle, prequential metrics, bad
// input, the codec, and a stopped and resumed job against an uninterrupted one.
#include "popularity/popularity.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "json_fields.h"
#include "resume_support.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::run_yaml;

constexpr int64_t kHour = 3600000;

using testing::num;
using testing::raw;

std::string topology(const std::string& records, const std::string& params,
                     const std::string& source_extra = "") {
    return "sources:\n  in:\n    type: memory\n" + source_extra + "    records:\n" + records +
           "operators:\n  p: {type: popularity, input: in, key: user_id" + params +
           "}\nsinks:\n  out: {type: collect, input: p}\n  metrics: {type: collect, input: "
           "p.metrics}\n  errors: {type: collect, input: p.errors}\n";
}

testing::RunResult run(const std::string& records, const std::string& params,
                       const std::string& source_extra = "") {
    auto r = run_yaml(topology(records, params, source_extra));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

TEST(PopularityTest, RanksByWeightedCountAndExcludesSeenItems) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a, type: page_view}
      - {ts: 2, user_id: u2, item_id: b, type: purchase}
      - {ts: 3, user_id: u3, item_id: c, type: click}
      - {ts: 4, user_id: u3, item_id: a, type: page_view}
      - {ts: 5, user_id: u4, item_id: c, type: other}
)",
                 ", half_life: 0s, top_n: 3");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 5u);
    // After u1's page view: a = 1, excluded for u1.
    EXPECT_EQ(raw(lines[0], "item_1"), "");
    EXPECT_EQ(raw(lines[0], "user_id"), "\"u1\"");
    // u3 after c (2) and a (1 + 1): b = 8 is the only unseen item.
    EXPECT_EQ(raw(lines[3], "item_1"), "\"b\"");
    EXPECT_EQ(num(lines[3], "score_1"), 8);
    EXPECT_EQ(raw(lines[3], "item_2"), "");
    // u4 saw c (now 2 + 1 = 3, default weight): b 8, a 2.
    EXPECT_EQ(raw(lines[4], "item_1"), "\"b\"");
    EXPECT_EQ(raw(lines[4], "item_2"), "\"a\"");
    EXPECT_EQ(num(lines[4], "score_2"), 2);
    EXPECT_EQ(raw(lines[4], "item_3"), "");
    EXPECT_EQ(raw(lines[4], "ts"), "5");
}

TEST(PopularityTest, IntegerItemsStayIntegersAndTiesGoToTheItemSeenFirst) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: 7}
      - {ts: 2, user_id: u2, item_id: 3}
      - {ts: 3, user_id: u3, item_id: 9}
)",
                 ", half_life: 0s");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(raw(lines[2], "item_1"), "7");
    EXPECT_EQ(raw(lines[2], "item_2"), "3");
}

TEST(PopularityTest, DecayMatchesTheClosedFormInAnyOrder) {
    const std::string in_order = R"(      - {ts: 0, user_id: u1, item_id: a}
      - {ts: 3600000, user_id: u2, item_id: b}
      - {ts: 3600000, user_id: u2, item_id: a}
      - {ts: 7200000, user_id: u3, item_id: c}
)";
    const std::string shuffled = R"(      - {ts: 3600000, user_id: u2, item_id: a}
      - {ts: 0, user_id: u1, item_id: a}
      - {ts: 3600000, user_id: u2, item_id: b}
      - {ts: 7200000, user_id: u3, item_id: c}
)";
    for (const std::string& records : {in_order, shuffled}) {
        auto r = run(records, ", half_life: 1h", "    watermark: {max_out_of_orderness: 10h}\n");
        const auto& lines = r.lines("out");
        ASSERT_EQ(lines.size(), 4u);
        const std::string& last = lines[3];  // u3 at 2h, saw only c
        EXPECT_EQ(raw(last, "item_1"), "\"a\"");
        EXPECT_NEAR(num(last, "score_1"), 0.25 + 0.5, 1e-12);  // 2^-2 + 2^-1
        EXPECT_EQ(raw(last, "item_2"), "\"b\"");
        EXPECT_NEAR(num(last, "score_2"), 0.5, 1e-12);
    }
}

TEST(PopularityTest, GroupsRankSeparatelyAndEventsWithoutAGroupUseTheGlobalRanking) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a, segment: x}
      - {ts: 2, user_id: u2, item_id: a, segment: x}
      - {ts: 3, user_id: u3, item_id: b, segment: y}
      - {ts: 4, user_id: u4, item_id: b, segment: y}
      - {ts: 5, user_id: u5, item_id: c, segment: y}
      - {ts: 6, user_id: u6, item_id: a, segment: y}
      - {ts: 7, user_id: u7, item_id: d}
)",
                 ", half_life: 0s, group_field: segment");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 7u);
    // u6 in y: b 2, c 1 (a is seen; a's x events do not count in y).
    EXPECT_EQ(raw(lines[5], "segment"), "\"y\"");
    EXPECT_EQ(raw(lines[5], "item_1"), "\"b\"");
    EXPECT_EQ(num(lines[5], "score_1"), 2);
    EXPECT_EQ(raw(lines[5], "item_2"), "\"c\"");
    EXPECT_EQ(raw(lines[5], "item_3"), "");
    // u7 without a segment: the global ranking, a 3, b 2, c 1.
    EXPECT_EQ(raw(lines[6], "segment"), "null");
    EXPECT_EQ(raw(lines[6], "item_1"), "\"a\"");
    EXPECT_EQ(num(lines[6], "score_1"), 3);
    EXPECT_EQ(raw(lines[6], "item_2"), "\"b\"");
}

TEST(PopularityTest, ExcludeRecentBoundsTheSeenItems) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a}
      - {ts: 2, user_id: u1, item_id: b}
      - {ts: 3, user_id: u1, item_id: c}
)",
                 ", half_life: 0s, exclude_recent: 2");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(raw(lines[2], "item_1"), "\"a\"");  // a dropped out of the 2 latest
    EXPECT_EQ(raw(lines[2], "item_2"), "");
}

TEST(PopularityTest, ThrottleEmitsTheLatestStateWhenTheIntervalEnds) {
    auto r = run(R"(      - {ts: 0, user_id: u1, item_id: a}
      - {ts: 600000, user_id: u1, item_id: b}
      - {ts: 1200000, user_id: u2, item_id: c}
      - {ts: 1800000, user_id: u2, item_id: c}
)",
                 ", half_life: 0s, emit_every: 1h");
    const auto& lines = r.lines("out");
    std::vector<std::string> u1;
    for (const std::string& l : lines) {
        if (raw(l, "user_id") == "\"u1\"") {
            u1.push_back(l);
        }
    }
    ASSERT_EQ(u1.size(), 2u);
    EXPECT_EQ(raw(u1[0], "ts"), "0");
    EXPECT_EQ(raw(u1[1], "ts"), std::to_string(kHour));  // the timer, with c known by then
    EXPECT_EQ(raw(u1[1], "item_1"), "\"c\"");
}

TEST(PopularityTest, PrequentialMetricsPredictBeforeLearning) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a}
      - {ts: 2, user_id: u2, item_id: a}
      - {ts: 3, user_id: u2, item_id: b}
      - {ts: 4, user_id: u1, item_id: b}
      - {ts: 5, user_id: u1, item_id: c}
      - {ts: 6, user_id: u2, item_id: a}
)",
                 ", half_life: 0s, top_n: 1, evaluate: true, emit: false, metrics_every: 3");
    // ts 2: u2 has no history. ts 3: u2 [a], item b known? no (new) → skipped.
    // ts 4: u1 [a], b known; top 1 excluding a = b → hit at rank 1.
    // ts 5: c new → skipped. ts 6: u2 [a, b], a seen by u2 → excluded → miss.
    EXPECT_TRUE(r.lines("out").empty());
    const auto& m = r.lines("metrics");
    ASSERT_EQ(m.size(), 3u);  // after events 3 and 6, and at the end
    EXPECT_EQ(num(m[0], "events"), 3);
    EXPECT_EQ(num(m[0], "evaluated"), 0);
    EXPECT_EQ(num(m[1], "events"), 6);
    EXPECT_EQ(num(m[1], "evaluated"), 2);
    EXPECT_EQ(num(m[1], "hits"), 1);
    EXPECT_DOUBLE_EQ(num(m[1], "hit_rate"), 0.5);
    EXPECT_DOUBLE_EQ(num(m[1], "ndcg"), 0.5);
    EXPECT_EQ(num(m[1], "top_n"), 1);
    EXPECT_EQ(m[2], m[1]);
}

TEST(PopularityTest, BadRecordsGoToErrorsWithAReason) {
    auto r = run(R"(      - {ts: 1, user_id: u1}
      - {ts: 2, user_id: u1, item_id: 1.5}
      - {ts: 3, user_id: u1, item_id: a, qty: nan}
      - {ts: 4, user_id: u1, item_id: a, qty: -2}
      - {ts: 5, user_id: u1, item_id: a, qty: lots}
      - {ts: 6, item_id: a}
      - {ts: 7, user_id: u1, item_id: a, qty: 2}
)",
                 ", half_life: 0s, weight_field: qty");
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 6u);
    auto count = [&errors](const std::string& reason) {
        return std::count_if(errors.begin(), errors.end(), [&reason](const std::string& e) {
            return e.find(reason) != std::string::npos;
        });
    };
    EXPECT_EQ(count("item field `item_id` is missing or neither a string nor an integer"), 2);
    EXPECT_EQ(count("weight field `qty` must be a finite number >= 0"), 3);
    EXPECT_EQ(count("key field 'user_id' is missing"), 1);
    ASSERT_EQ(r.lines("out").size(), 1u);
}

TEST(PopularityTest, SpecRulesRejectBadWeightsAndNameClashes) {
    auto bad =
        run_yaml(topology("      - {ts: 1, user_id: u, item_id: a}\n", ", weights: {click: -1}"));
    EXPECT_FALSE(bad.status.is_ok());
    EXPECT_THAT(bad.diagnostics, HasSubstr("weight of `click`"));
    auto clash =
        run_yaml(topology("      - {ts: 1, user_id: u, item_id: a}\n", ", key_field: item_3"));
    EXPECT_FALSE(clash.status.is_ok());
    EXPECT_THAT(clash.diagnostics, HasSubstr("key_field"));
}

TEST(PopularityTest, ModelCodecRoundTrips) {
    PopularityModel m;
    bool created = false;
    std::string id;
    ASSERT_TRUE(encode_item_id(Value::string_view("a"), id));
    uint32_t a = m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); });
    ASSERT_TRUE(encode_item_id(Value::integer(42), id));
    uint32_t b = m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); });
    uint32_t g = m.group("sx");
    m.add(0, a, 2, 1000, kHour);
    m.add(g, b, 1, 2000, kHour);
    m.counts().score(0);
    std::string bytes = encode_state(m);
    PopularityModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(back.items().size(), 2u);
    EXPECT_EQ(back.items().find(id), b);
    EXPECT_EQ(back.stored(0, a), m.stored(0, a));
    EXPECT_EQ(back.stored(0, b), m.stored(0, b));
    EXPECT_EQ(back.stored(g, b), m.stored(g, b));
    EXPECT_EQ(back.stored(g, a), PopularityModel::kNoScore);
    EXPECT_EQ(back.group("sx"), g);
    EXPECT_EQ(back.counts().hits, 1);
    EXPECT_EQ(encode_state(back), bytes);
    std::string json;
    ASSERT_TRUE(state_to_json<PopularityModel>(bytes, json));
    EXPECT_THAT(json, HasSubstr("\"items\":2,\"groups\":[\"x\"],\"top\":[{\"item\":\"a\""));
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 3), back));
}

/// Interns item `name` (a string id) in `m`.
uint32_t item_of(PopularityModel& m, const std::string& name) {
    std::string id;
    EXPECT_TRUE(encode_item_id(Value::string_view(name), id));
    bool created = false;
    return m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); });
}

/// The decayed popularity of item `name` at `now` in `group`.
double popularity_of(PopularityModel& m, const std::string& name, int64_t now, double half_life,
                     uint32_t group = 0) {
    return m.decayed(m.stored(group, item_of(m, name)), now, half_life);
}

// Scale-out (docs/scale-out.md, "Models"): the processes' counts add up, and
// an event counts once however often the models are merged, in both
// directions.
TEST(PopularityTest, MergedModelsAddUpAndNeverCountAnEventTwice) {
    PopularityModel a;
    PopularityModel b;
    a.add(0, item_of(a, "x"), 2, 1000, 0);
    b.add(0, item_of(b, "y"), 1, 1000, 0);
    b.add(0, item_of(b, "x"), 1, 1000, 0);
    uint32_t shoes = b.group("shoes");
    b.add(shoes, item_of(b, "y"), 4, 1000, 0);
    for (int round = 0; round < 3; ++round) {
        PopularityModel a_then;
        ASSERT_TRUE(decode_state(encode_state(a), a_then));  // as published
        Merge<PopularityModel>::merge(a, std::vector<const PopularityModel*>{&b});
        Merge<PopularityModel>::merge(b, std::vector<const PopularityModel*>{&a_then});
        for (PopularityModel* m : {&a, &b}) {
            EXPECT_EQ(popularity_of(*m, "x", 1000, 0), 3) << "round " << round;
            EXPECT_EQ(popularity_of(*m, "y", 1000, 0), 5) << "round " << round;
            EXPECT_EQ(popularity_of(*m, "y", 1000, 0, m->group("shoes")), 4);
        }
    }
    // b's merged model, as a peer of a third process, adds only b's own events.
    PopularityModel c;
    c.add(0, item_of(c, "x"), 10, 1000, 0);
    Merge<PopularityModel>::merge(c, std::vector<const PopularityModel*>{&b});
    EXPECT_EQ(popularity_of(c, "x", 1000, 0), 11);
    // Learning goes on after a merge, and the next merge carries it.
    a.add(0, item_of(a, "x"), 1, 2000, 0);
    Merge<PopularityModel>::merge(b, std::vector<const PopularityModel*>{&a});
    EXPECT_EQ(popularity_of(b, "x", 2000, 0), 4);
    // A merged model survives a checkpoint: its merged part is stored too.
    PopularityModel restored;
    ASSERT_TRUE(decode_state(encode_state(b), restored));
    restored.set_half_life(0);
    Merge<PopularityModel>::merge(restored, std::vector<const PopularityModel*>{&a});
    EXPECT_EQ(popularity_of(restored, "x", 2000, 0), 4);
    // A sum keeps the last model of a process that stopped publishing.
    Shared<PopularityModel> shared("popularity");
    EXPECT_TRUE(shared.mergeable());
    EXPECT_TRUE(shared.merge_keeps_departed());
}

// With decay, each process's scores are kept against its own first event;
// a merge moves the others' to this model's origin, so the decayed
// popularity is the closed form over every process's events.
TEST(PopularityTest, MergedDecayedScoresMatchTheClosedFormOverBothProcesses) {
    PopularityModel a;
    PopularityModel b;
    a.set_half_life(kHour);
    b.set_half_life(kHour);
    a.add(0, item_of(a, "x"), 1, 0, kHour);
    b.add(0, item_of(b, "x"), 2, 3 * kHour, kHour);  // b's origin is 3 h later
    b.add(0, item_of(b, "z"), 1, 4 * kHour, kHour);
    PopularityModel a_published;
    ASSERT_TRUE(decode_state(encode_state(a), a_published));
    Merge<PopularityModel>::merge(b, std::vector<const PopularityModel*>{&a_published});
    PopularityModel published;  // as a peer's model arrives: decoded, its half-life unset
    ASSERT_TRUE(decode_state(encode_state(b), published));
    Merge<PopularityModel>::merge(a, std::vector<const PopularityModel*>{&published});
    Merge<PopularityModel>::merge(a, std::vector<const PopularityModel*>{&published});
    const int64_t now = 5 * kHour;
    EXPECT_NEAR(popularity_of(a, "x", now, kHour), std::exp2(-5.0) + 2 * std::exp2(-2.0), 1e-12);
    EXPECT_NEAR(popularity_of(a, "z", now, kHour), std::exp2(-1.0), 1e-12);
    // A model without decay does not take scores with decay.
    PopularityModel plain;
    plain.add(0, item_of(plain, "x"), 1, 0, 0);
    Merge<PopularityModel>::merge(plain, std::vector<const PopularityModel*>{&b});
    EXPECT_EQ(popularity_of(plain, "x", now, 0), 1);
}

TEST(PopularityTest, ModelsStoredBeforeMergingExistedStillDecode) {
    PopularityModel m;
    m.add(0, item_of(m, "x"), 2, 1000, 0);
    std::string v1;
    StateWriter w(v1);
    w.u8(1);
    m.encode(w, 1);
    PopularityModel back;
    ASSERT_TRUE(decode_state(v1, back));
    EXPECT_EQ(popularity_of(back, "x", 1000, 0), 2);
}

/// The generator through popularity, optionally stopped after `stop_after`
/// events (the topology of expect_resume_equals_whole()).
std::string restore_yaml(int stop_after, const std::string& state) {
    std::string y = "parallelism: 1\n" + state +
                    "sources:\n  clicks: {type: generator, events: 6000, users: 300, items: "
                    "400, seed: 11}\n"
                    "operators:\n  p: {type: popularity, input: clicks, key: user_id, "
                    "half_life: 2h, group_field: category, evaluate: true, metrics_every: "
                    "500}\n"
                    "sinks:\n  out: {type: collect, input: p}\n  metrics: {type: collect, "
                    "input: p.metrics}\n";
    if (stop_after > 0) {
        y += "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
             "}\n";
    }
    return y;
}

TEST(PopularityRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    testing::expect_resume_equals_whole(restore_yaml, 2500, "popularity");
}

TEST(PopularityRestoreTest, ParallelismTwoSeesEveryEventOnce) {
    std::string y = restore_yaml(0, "");
    y.replace(y.find("parallelism: 1"), 14, "parallelism: 2");
    auto r = run_yaml(y);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    ASSERT_FALSE(r.lines("metrics").empty());
    std::string last = r.lines("metrics").back();  // run_yaml() clears the lines
    auto whole = run_yaml(restore_yaml(0, ""));
    ASSERT_TRUE(whole.status.is_ok());
    // Same events counted; evaluation may differ slightly with interleaving.
    EXPECT_EQ(num(last, "events"), num(whole.lines("metrics").back(), "events"));
    EXPECT_NEAR(num(last, "hit_rate"), num(whole.lines("metrics").back(), "hit_rate"), 0.03);
}

}  // namespace
}  // namespace eddy
