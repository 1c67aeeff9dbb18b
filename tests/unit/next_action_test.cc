// SPDX-License-Identifier: Apache-2.0
// next_action: a chain learned and predicted with exact probabilities, second
// order beating first order, the fallback 2 -> 1 -> 0 by min_support, decay
// by the half-life, contexts and time buckets, repeats and gaps, the memory
// bounds, bad input, two shards sharing one model against one shard, the
// codec, a stopped and resumed job, a whole topology, and (disabled by
// default) the operator's throughput on the generated clickstream.
#include "next_action/next_action.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "io/generator.h"
#include "json_fields.h"
#include "resume_support.h"
#include "time/timer_service.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::num;
using testing::raw;
using testing::run_yaml;

constexpr int64_t kHour = 3'600'000;

/// One record of the memory source: `{ts, user_id, page}` plus `extra`.
std::string ev(int64_t ts, const std::string& user, const std::string& page,
               const std::string& extra = "") {
    return "      - {ts: " + std::to_string(ts) + ", user_id: " + user + ", page: " + page + extra +
           "}\n";
}

std::string topology(const std::string& records, const std::string& params, int parallelism = 1) {
    return "parallelism: " + std::to_string(parallelism) +
           "\nsources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  n: {type: next_action, input: in, key: user_id, field: page" + params +
           "}\nsinks:\n  out: {type: collect, input: n}\n  metrics: {type: collect, input: "
           "n.metrics}\n  errors: {type: collect, input: n.errors}\n";
}

testing::RunResult run(const std::string& records, const std::string& params, int parallelism = 1) {
    auto r = run_yaml(topology(records, params, parallelism));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

TEST(NextActionTest, LearnsAChainAndPredictsItsProbabilities) {
    auto r = run(ev(1, "u1", "a") + ev(2, "u1", "b") + ev(3, "u2", "a") + ev(4, "u2", "b") +
                     ev(5, "u3", "a") + ev(6, "u3", "c") + ev(7, "u4", "a"),
                 ", half_life: 0s, min_support: 1, top_k: 3");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 7u);
    // u1's first event: nothing but popularity (a 1 of 1).
    EXPECT_EQ(raw(lines[0], "order"), "0");
    EXPECT_EQ(raw(lines[0], "user_id"), "\"u1\"");
    EXPECT_EQ(raw(lines[0], "action_1"), "\"a\"");
    EXPECT_EQ(num(lines[0], "probability_1"), 1);
    EXPECT_EQ(raw(lines[0], "action_2"), "");
    // After u1's b nothing has followed b yet: popularity, a and b tie, a came first.
    EXPECT_EQ(raw(lines[1], "order"), "0");
    EXPECT_EQ(raw(lines[1], "action_1"), "\"a\"");
    EXPECT_EQ(raw(lines[1], "action_2"), "\"b\"");
    EXPECT_EQ(num(lines[1], "probability_2"), 0.5);
    // u4 at a: a -> b twice, a -> c once.
    const std::string& last = lines[6];
    EXPECT_EQ(raw(last, "ts"), "7");
    EXPECT_EQ(raw(last, "order"), "1");
    EXPECT_EQ(raw(last, "action_1"), "\"b\"");
    EXPECT_DOUBLE_EQ(num(last, "probability_1"), 2.0 / 3);
    EXPECT_EQ(raw(last, "action_2"), "\"c\"");
    EXPECT_DOUBLE_EQ(num(last, "probability_2"), 1.0 / 3);
    EXPECT_EQ(raw(last, "action_3"), "");
    EXPECT_TRUE(r.lines("errors").empty());
}

TEST(NextActionTest, SecondOrderSeparatesWhatFirstOrderMixes) {
    // x m -> p and y m -> q: after m alone it is a coin toss.
    std::string records;
    int64_t t = 0;
    auto chain = [&records, &t](const std::string& user, std::vector<std::string> pages) {
        for (const std::string& page : pages) {
            records += ev(++t, user, page);
        }
    };
    chain("u1", {"x", "m", "p"});
    chain("u2", {"x", "m", "p"});
    chain("v1", {"y", "m", "q"});
    chain("v2", {"y", "m", "q"});
    chain("w1", {"x", "m"});
    chain("w2", {"y", "m"});
    chain("w3", {"z", "m"});
    auto r = run(records, ", half_life: 0s, min_support: 2, top_k: 2");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 18u);
    EXPECT_EQ(raw(lines[13], "order"), "2");
    EXPECT_EQ(raw(lines[13], "action_1"), "\"p\"");
    EXPECT_EQ(num(lines[13], "probability_1"), 1);
    EXPECT_EQ(raw(lines[13], "action_2"), "");
    EXPECT_EQ(raw(lines[15], "order"), "2");
    EXPECT_EQ(raw(lines[15], "action_1"), "\"q\"");
    // (z, m) was never seen: the first order of m, p and q half each.
    EXPECT_EQ(raw(lines[17], "order"), "1");
    EXPECT_EQ(raw(lines[17], "action_1"), "\"p\"");
    EXPECT_EQ(num(lines[17], "probability_1"), 0.5);
    EXPECT_EQ(raw(lines[17], "action_2"), "\"q\"");
    EXPECT_EQ(num(lines[17], "probability_2"), 0.5);
}

TEST(NextActionTest, FallsBackFromSecondToFirstOrderToPopularityByMinSupport) {
    // Second order (s, a) -> b once; first order a -> b twice.
    std::string records = ev(1, "u1", "s") + ev(2, "u1", "a") + ev(3, "u1", "b") +
                          ev(4, "u2", "t") + ev(5, "u2", "a") + ev(6, "u2", "b") +
                          ev(7, "u3", "s") + ev(8, "u3", "a") + ev(9, "u4", "b");
    auto order_after = [&records](double min_support) {
        auto r = run(records, ", half_life: 0s, min_support: " + std::to_string(min_support));
        const auto& lines = r.lines("out");
        EXPECT_EQ(lines.size(), 9u);
        return lines.size() == 9 ? raw(lines[7], "order") + raw(lines[8], "order") : "";
    };
    // u3 after (s, a); u4 after b, which nothing has followed: always popularity.
    EXPECT_EQ(order_after(1), "20");
    EXPECT_EQ(order_after(2), "10");
    EXPECT_EQ(order_after(3), "00");
    auto r = run(records, ", half_life: 0s, min_support: 3, top_k: 2");
    // Popularity: a 3, s 2, b 2 (s was seen first), t 1.
    EXPECT_EQ(raw(r.lines("out")[7], "action_1"), "\"a\"");
    EXPECT_DOUBLE_EQ(num(r.lines("out")[7], "probability_1"), 3.0 / 8);
    EXPECT_EQ(raw(r.lines("out")[7], "action_2"), "\"s\"");
}

TEST(NextActionTest, OldTransitionsLoseWeightByTheHalfLife) {
    std::string records = ev(0, "u1", "a") + ev(0, "u1", "b") +                  // a -> b at 0
                          ev(0, "u4", "x") + ev(0, "u4", "y") +                  // x -> y at 0
                          ev(2 * kHour, "u2", "a") + ev(2 * kHour, "u2", "c") +  // a -> c at 2h
                          ev(2 * kHour, "u3", "a") +                             // predict at a
                          ev(2 * kHour, "u5", "x") +                             // predict at x
                          ev(200 * kHour, "u6", "a") + ev(200 * kHour, "u6", "d") +
                          ev(200 * kHour, "u7", "a");
    auto r = run(records, ", half_life: 1h, min_support: 0.5, top_k: 3");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 11u);
    // At 2h: b weighs 2^-2, c 1: shares 0.2 and 0.8; support 1.25.
    EXPECT_EQ(raw(lines[6], "order"), "1");
    EXPECT_EQ(raw(lines[6], "action_1"), "\"c\"");
    EXPECT_NEAR(num(lines[6], "probability_1"), 0.8, 1e-12);
    EXPECT_EQ(raw(lines[6], "action_2"), "\"b\"");
    EXPECT_NEAR(num(lines[6], "probability_2"), 0.2, 1e-12);
    // x's row weighs 0.25 at 2h, below min_support 0.5: popularity.
    EXPECT_EQ(raw(lines[7], "order"), "0");
    // 198 half-lives later (the row rebases), the fresh d is all that counts.
    EXPECT_EQ(raw(lines[10], "order"), "1");
    EXPECT_EQ(raw(lines[10], "action_1"), "\"d\"");
    EXPECT_NEAR(num(lines[10], "probability_1"), 1.0, 1e-12);
}

TEST(NextActionTest, ContextsKeepChainsApart) {
    std::string records =
        ev(1, "m1", "a", ", device: mobile") + ev(2, "m1", "b", ", device: mobile") +
        ev(3, "d1", "a", ", device: desktop") + ev(4, "d1", "c", ", device: desktop") +
        ev(5, "m2", "a", ", device: mobile") + ev(6, "d2", "a", ", device: desktop") +
        ev(7, "n1", "a");
    auto r = run(records, ", half_life: 0s, min_support: 1, context: [device]");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(raw(lines[4], "order"), "1");
    EXPECT_EQ(raw(lines[4], "action_1"), "\"b\"");
    EXPECT_EQ(num(lines[4], "probability_1"), 1);
    EXPECT_EQ(raw(lines[5], "order"), "1");
    EXPECT_EQ(raw(lines[5], "action_1"), "\"c\"");
    // Without a device: a context of its own, with no chain yet.
    EXPECT_EQ(raw(lines[6], "order"), "0");
    // Without the context, a -> b and a -> c mix.
    auto mixed = run(records, ", half_life: 0s, min_support: 1");
    EXPECT_EQ(num(mixed.lines("out")[4], "probability_1"), 0.5);
}

TEST(NextActionTest, TimeBucketsKeepChainsApart) {
    const int64_t morning = 8 * kHour;  // 1970-01-01 08:00 UTC
    const int64_t evening = 20 * kHour;
    std::string records = ev(morning, "u1", "a") + ev(morning, "u1", "b") + ev(evening, "u2", "a") +
                          ev(evening, "u2", "c") + ev(morning + kHour, "u3", "a") +
                          ev(evening + kHour, "u4", "a");
    auto r = run(records, ", half_life: 0s, min_support: 1, time_bucket: part_of_day");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(raw(lines[4], "action_1"), "\"b\"");
    EXPECT_EQ(raw(lines[5], "action_1"), "\"c\"");
    EXPECT_EQ(raw(lines[5], "order"), "1");
}

TEST(NextActionTest, RepeatsCollapseAndGapsStartANewChain) {
    std::string records = ev(0, "u1", "a") + ev(1, "u1", "a") + ev(2, "u1", "b") +
                          ev(3, "u2", "a") + ev(4, "u2", "a");
    auto collapsed = run(records, ", half_life: 0s, min_support: 1, collapse_repeats: true");
    ASSERT_EQ(collapsed.lines("out").size(), 5u);
    EXPECT_EQ(raw(collapsed.lines("out")[4], "action_1"), "\"b\"");  // a -> a never learned
    EXPECT_EQ(num(collapsed.lines("out")[4], "probability_1"), 1);
    // Without collapsing, a -> a counts ((a, a) -> b once is below min_support).
    auto plain = run(records, ", half_life: 0s, min_support: 2");
    EXPECT_EQ(raw(plain.lines("out")[4], "order"), "1");
    EXPECT_EQ(raw(plain.lines("out")[4], "action_1"), "\"a\"");  // a -> a 2 of 3
    EXPECT_DOUBLE_EQ(num(plain.lines("out")[4], "probability_1"), 2.0 / 3);

    std::string gapped = ev(0, "u1", "a") + ev(2 * kHour, "u1", "b") + ev(3 * kHour, "u2", "a");
    auto r = run(gapped, ", half_life: 0s, min_support: 1, max_gap: 30m");
    ASSERT_EQ(r.lines("out").size(), 3u);
    EXPECT_EQ(raw(r.lines("out")[2], "order"), "0");  // a -> b spanned the gap
}

TEST(NextActionTest, RowsKeepTheirHeaviestTransitionsWithinTheBounds) {
    // Row a meets b, c, d with max_transitions 2: d replaces c (the weaker
    // on ties is the later action) and inherits its count.
    std::string records = ev(1, "u1", "a") + ev(2, "u1", "b") + ev(3, "u2", "a") +
                          ev(4, "u2", "c") + ev(5, "u3", "a") + ev(6, "u3", "d") + ev(7, "u4", "a");
    auto r = run(records, ", half_life: 0s, min_support: 1, top_k: 2, max_transitions: 2");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(raw(lines[6], "action_1"), "\"d\"");
    EXPECT_DOUBLE_EQ(num(lines[6], "probability_1"), 2.0 / 3);
    EXPECT_EQ(raw(lines[6], "action_2"), "\"b\"");
    EXPECT_DOUBLE_EQ(num(lines[6], "probability_2"), 1.0 / 3);
    // max_rows 2: the popularity row and a's first-order row; b's is never made.
    std::string more = ev(1, "u1", "a") + ev(2, "u1", "b") + ev(3, "u1", "c") + ev(4, "u2", "b");
    auto bounded = run(more, ", half_life: 0s, min_support: 1, max_rows: 2");
    ASSERT_EQ(bounded.lines("out").size(), 4u);
    EXPECT_EQ(raw(bounded.lines("out")[3], "order"), "0");
}

TEST(NextActionTest, BadRecordsGoToErrorsWithAReason) {
    std::string records = ev(1, "u1", "null") + "      - {ts: 2, user_id: u1}\n" +
                          ev(3, "u1", "1.5") + ev(4, "u1", "a", ", device: 2.5") +
                          "      - {ts: 5, page: a}\n" + ev(6, "u1", "a", ", device: phone") +
                          ev(7, "u1", "b", ", device: tablet") +
                          ev(8, "u1", "b", ", device: phone") + ev(9, "u1", "7", ", device: phone");
    auto r = run(records, ", context: [device], max_actions: 2, max_contexts: 1");
    const auto& errors = r.lines("errors");
    auto count = [&errors](const std::string& reason) {
        return std::count_if(errors.begin(), errors.end(), [&reason](const std::string& e) {
            return e.find(reason) != std::string::npos;
        });
    };
    EXPECT_EQ(count("the action field `page` is missing"), 2);
    EXPECT_EQ(count("the action field `page` must be a string or an integer, got a double"), 1);
    EXPECT_EQ(count("the context field `device` must be a string, an integer or a boolean, "
                    "got a double"),
              1);
    EXPECT_EQ(count("key field 'user_id' is missing"), 1);
    EXPECT_EQ(count("more than `max_contexts` (1) distinct contexts"), 1);         // tablet
    EXPECT_EQ(count("more than `max_actions` (2) distinct values of `page`"), 1);  // 7
    EXPECT_EQ(errors.size(), 7u);
    ASSERT_EQ(r.lines("out").size(), 2u);  // a and b on the phone
    EXPECT_EQ(raw(r.lines("out")[1], "order"), "0");
}

TEST(NextActionTest, SpecRulesRejectBadContextsBoundsAndNameClashes) {
    const std::string one = ev(1, "u1", "a");
    for (const auto& [params, message] : std::vector<std::pair<std::string, std::string>>{
             {", context: [page]", "the action field itself"},
             {", context: [device, device]", "lists `device` twice"},
             {", top_k: 10, max_transitions: 5", "is below `top_k`"},
             {", key_field: action_2", "may clash"},
             {", key_field: order", "also the name of an output field"},
         }) {
        auto bad = run_yaml(topology(one, params));
        EXPECT_FALSE(bad.status.is_ok()) << params;
        EXPECT_THAT(bad.diagnostics, HasSubstr(message)) << params;
    }
    auto missing = run_yaml(
        "sources:\n  in: {type: memory, records: []}\noperators:\n  n: {type: next_action, "
        "input: in, key: user_id}\nsinks:\n  out: {type: collect, input: n}\n");
    EXPECT_FALSE(missing.status.is_ok());
    EXPECT_THAT(missing.diagnostics, HasSubstr("field"));
}

TEST(NextActionTest, PrequentialMetricsPredictFromThePreviousState) {
    std::string records = ev(1, "u1", "a") + ev(2, "u1", "b") + ev(3, "u2", "a") +
                          ev(4, "u2", "b") + ev(5, "u3", "a") + ev(6, "u3", "c");
    auto r = run(records,
                 ", half_life: 0s, min_support: 1, top_k: 1, evaluate: true, emit: "
                 "false, metrics_every: 3");
    // ts 2: b new, not scored. ts 4: a -> [b] hit. ts 6: c new, not scored.
    EXPECT_TRUE(r.lines("out").empty());
    const auto& m = r.lines("metrics");
    ASSERT_EQ(m.size(), 3u);  // after events 3 and 6, and at the end
    EXPECT_EQ(num(m[1], "events"), 6);
    EXPECT_EQ(num(m[1], "evaluated"), 1);
    EXPECT_EQ(num(m[1], "hits"), 1);
    EXPECT_DOUBLE_EQ(num(m[1], "hit_rate"), 1);
    EXPECT_DOUBLE_EQ(num(m[1], "ndcg"), 1);
    EXPECT_EQ(num(m[1], "top_k"), 1);
    EXPECT_EQ(m[2], m[1]);
}

TEST(NextActionTest, ModelCodecRoundTrips) {
    NextActionModel m;
    std::string id;
    bool created = false;
    ASSERT_TRUE(encode_item_id(Value::string_view("a"), id));
    uint32_t a = m.action(id, created);
    EXPECT_TRUE(created);
    ASSERT_TRUE(encode_item_id(Value::integer(42), id));
    uint32_t b = m.action(id, created);
    uint32_t c = m.context(std::string("\x01\0\0\0n", 5));
    ASSERT_NE(c, kNoItem);
    ASSERT_TRUE(m.learn(ChainOrder::kPopularity, 0, 0, 0, a, 1000, kHour));
    ASSERT_TRUE(m.learn(ChainOrder::kFirst, c, kNoItem, a, b, 2000, kHour));
    ASSERT_TRUE(m.learn(ChainOrder::kSecond, c, b, a, b, 3000, kHour));
    m.counts().score(0);
    std::string bytes = encode_state(m);
    NextActionModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(back.rows(), 3u);
    EXPECT_EQ(back.actions().find(id), b);
    EXPECT_EQ(back.counts().hits, 1);
    EXPECT_EQ(encode_state(back), bytes);
    TopN top;
    top.reset(2);
    EXPECT_NEAR(back.predict(ChainOrder::kFirst, c, kNoItem, a, 2000, kHour, 0, top), 1, 1e-12);
    ASSERT_EQ(top.sorted().size(), 1u);
    EXPECT_EQ(top.sorted()[0].item, b);
    std::string json;
    ASSERT_TRUE(state_to_json<NextActionModel>(bytes, json));
    EXPECT_THAT(json, HasSubstr("\"actions\":2,\"rows\":3,\"merged_rows\":0,\"contexts\":[[null]],"
                                "\"popularity\":[{\"action\":\"a\",\"share\":1.0}]"));
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 3), back));

    ActionHistory h{a, b, c, 1234};
    ActionHistory h2;
    ASSERT_TRUE(decode_state(encode_state(h), h2));
    EXPECT_EQ(h2.prev2, a);
    EXPECT_EQ(h2.prev, b);
    EXPECT_EQ(h2.context, c);
    EXPECT_EQ(h2.last_time, 1234);
}

// Scale-out (docs/scale-out.md, "Models"): the processes' transition counts
// add up, whatever order each process met the actions in, and an event
// counts once however often the models are merged.
namespace {

/// Learns `from` -> `to` (first order, no context) and the popularity of
/// `to` at `t`, adding actions by name.
void observe(NextActionModel& m, const std::string& from, const std::string& to, int64_t t,
             double half_life = 0) {
    auto action = [&m](const std::string& name) {
        std::string id;
        EXPECT_TRUE(encode_item_id(Value::string_view(name), id));
        bool created = false;
        return m.action(id, created);
    };
    uint32_t a = action(from);
    uint32_t b = action(to);
    ASSERT_TRUE(m.learn(ChainOrder::kFirst, 0, kNoItem, a, b, t, half_life));
    ASSERT_TRUE(m.learn(ChainOrder::kPopularity, 0, 0, 0, b, t, half_life));
}

/// Next actions after `from` at `t`: name -> probability; the support in `support`.
std::map<std::string, double> after(const NextActionModel& m, const std::string& from, int64_t t,
                                    double half_life = 0, double* support = nullptr) {
    std::string id;
    EXPECT_TRUE(encode_item_id(Value::string_view(from), id));
    std::map<std::string, double> out;
    uint32_t a = m.actions().find(id);
    if (a == ItemIndex::kNone) {
        return out;
    }
    TopN top;
    top.reset(10);
    double s = m.predict(ChainOrder::kFirst, 0, kNoItem, a, t, half_life, 0, top);
    if (support != nullptr) {
        *support = s;
    }
    for (const TopN::Entry& e : top.sorted()) {
        std::string_view name = m.actions().id(e.item);
        out[std::string(name.substr(1))] = e.score;  // encoded ids: a type byte, then the text
    }
    return out;
}

}  // namespace

TEST(NextActionMergeTest, MergedChainsAddUpAndNeverCountAnEventTwice) {
    NextActionModel a;
    NextActionModel b;
    observe(a, "home", "cart", 1000);
    observe(a, "home", "cart", 1000);
    observe(a, "home", "search", 1000);
    // b meets the actions in another order, so its indexes differ.
    observe(b, "search", "help", 1000);
    observe(b, "home", "search", 1000);
    std::map<std::string, double> want = {{"cart", 0.5}, {"search", 0.5}};
    for (int round = 0; round < 3; ++round) {
        NextActionModel a_then;
        ASSERT_TRUE(decode_state(encode_state(a), a_then));  // as published
        Merge<NextActionModel>::merge(a, std::vector<const NextActionModel*>{&b});
        Merge<NextActionModel>::merge(b, std::vector<const NextActionModel*>{&a_then});
        for (NextActionModel* m : {&a, &b}) {
            double support = 0;
            EXPECT_EQ(after(*m, "home", 1000, 0, &support), want) << "round " << round;
            EXPECT_EQ(support, 4) << "round " << round;
            EXPECT_EQ(after(*m, "search", 1000), (std::map<std::string, double>{{"help", 1.0}}));
        }
    }
    EXPECT_EQ(a.rows(), 2u) << "a's own rows: home's, and popularity";
    EXPECT_EQ(a.merged_rows(), 3u) << "b's: search's, home's and popularity";
    // b's merged model, as a peer of a third process, adds only b's own.
    NextActionModel c;
    observe(c, "home", "cart", 1000);
    Merge<NextActionModel>::merge(c, std::vector<const NextActionModel*>{&b});
    EXPECT_EQ(after(c, "home", 1000),
              (std::map<std::string, double>{{"cart", 0.5}, {"search", 0.5}}));
    // Learning goes on after a merge, and the next merge carries it.
    observe(a, "home", "cart", 1000);
    observe(a, "home", "cart", 1000);
    Merge<NextActionModel>::merge(b, std::vector<const NextActionModel*>{&a});
    EXPECT_EQ(after(b, "home", 1000),
              (std::map<std::string, double>{{"cart", 4.0 / 6}, {"search", 2.0 / 6}}));
    // A merged model survives a checkpoint: its merged rows are stored too.
    NextActionModel restored;
    ASSERT_TRUE(decode_state(encode_state(b), restored));
    EXPECT_EQ(after(restored, "home", 1000), after(b, "home", 1000));
    std::string json;
    ASSERT_TRUE(state_to_json<NextActionModel>(encode_state(b), json));
    EXPECT_THAT(json, HasSubstr("\"rows\":3,\"merged_rows\":2"));
    // A sum keeps the last model of a process that stopped publishing.
    Shared<NextActionModel> shared("model");
    EXPECT_TRUE(shared.mergeable());
    EXPECT_TRUE(shared.merge_keeps_departed());
}

TEST(NextActionMergeTest, MergedDecayedCountsMatchTheClosedFormOverBothProcesses) {
    // a's events are an hour older than b's: with a half-life of an hour, at
    // b's time each of a's counts half as much as each of b's.
    NextActionModel a;
    NextActionModel b;
    a.set_half_life(kHour);
    b.set_half_life(kHour);
    observe(a, "home", "cart", 0, kHour);
    observe(a, "home", "cart", 0, kHour);
    observe(b, "home", "search", kHour, kHour);
    NextActionModel a_published;
    ASSERT_TRUE(decode_state(encode_state(a), a_published));
    Merge<NextActionModel>::merge(b, std::vector<const NextActionModel*>{&a_published});
    NextActionModel b_published;
    ASSERT_TRUE(decode_state(encode_state(b), b_published));
    Merge<NextActionModel>::merge(a, std::vector<const NextActionModel*>{&b_published});
    for (NextActionModel* m : {&a, &b}) {
        double support = 0;
        std::map<std::string, double> got = after(*m, "home", kHour, kHour, &support);
        EXPECT_NEAR(support, 2 * 0.5 + 1, 1e-12);
        EXPECT_NEAR(got["cart"], 0.5, 1e-12);
        EXPECT_NEAR(got["search"], 0.5, 1e-12);
        // An hour later every weight has halved; the shares stay.
        double later = 0;
        EXPECT_EQ(after(*m, "home", 2 * kHour, kHour, &later).size(), 2u);
        EXPECT_NEAR(later, support / 2, 1e-12);
    }
}

TEST(NextActionMergeTest, AVersion1ModelStillLoads) {
    // Version 1 ended after the rows; version 2 adds the merged rows.
    NextActionModel m;
    observe(m, "home", "cart", 1000);
    std::string v2 = encode_state(m);
    ASSERT_EQ(static_cast<uint8_t>(v2[0]), 2);
    ASSERT_EQ(v2.back(), '\0');  // no merged rows
    std::string v1 = v2.substr(0, v2.size() - 1);
    v1[0] = 1;
    NextActionModel back;
    ASSERT_TRUE(decode_state(v1, back));
    EXPECT_EQ(after(back, "home", 1000), (std::map<std::string, double>{{"cart", 1.0}}));
    EXPECT_EQ(encode_state(back), v2);
}

/// One operator instance called directly on one thread; instances made with
/// `first` share its Shared<> state, as the runtime's shards do.
class Shard final : public OpenContext, public Emitter {
public:
    Shard(const ComponentDef& def, FieldTable& fields, Shard* first, int index, int parallelism)
        : def_(def), fields_(fields), first_(first), index_(index), parallelism_(parallelism) {
        auto made = def.spec->make_operator(def.config);
        EXPECT_TRUE(made.is_ok());
        op_ = std::move(made).value();
        key_ = fields_.intern(def.key);
        encoder_ = std::make_unique<JsonEncoder>([this](FieldId id) { return fields_.name(id); });
        EXPECT_TRUE(op_->open(*this).is_ok());
    }

    std::string_view name() const override { return def_.name; }
    FieldId field(std::string_view n) override { return fields_.intern(n); }
    std::string_view field_name(FieldId id) const override { return fields_.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view n) override { return n == "metrics" ? 1 : 2; }
    int shard() const override { return index_; }
    int parallelism() const override { return parallelism_; }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle& s) override {
        if (first_ != nullptr && s.shared()) {
            for (StateHandle* h : first_->states_) {
                if (h->name() == s.name()) {
                    EXPECT_TRUE(s.share(*h));
                }
            }
        }
        states_.push_back(&s);
    }

    Record& append(OutputId out) override {
        return out == kMainOutput ? main_.append() : other_.append();
    }
    void emit(const Record& r, OutputId out) override { append(out).assign(r); }
    void error(const Record&, std::string_view reason) override { errors_.emplace_back(reason); }
    void late(const Record&, int64_t, LatePolicy) override {}

    /// Sets the key as the runtime does, calls process(), and returns the
    /// main output as JSON lines.
    std::vector<std::string> process(Record& r) {
        const Value* key = r.get(key_);
        r.set_key(key == nullptr ? Value() : *key);
        op_->process(r, *this);
        std::vector<std::string> lines;
        for (size_t i = 0; i < main_.size(); ++i) {
            encoder_->append(main_[i], lines.emplace_back());
        }
        main_.clear();
        other_.clear();
        return lines;
    }
    Operator& op() { return *op_; }
    NextActionModel& model() {
        for (StateHandle* h : states_) {
            if (auto* m = dynamic_cast<Shared<NextActionModel>*>(h)) {
                return m->get();
            }
        }
        ADD_FAILURE() << "no model";
        std::abort();
    }
    void discard_output() {
        main_.clear();
        other_.clear();
    }
    std::vector<std::string> errors_;

private:
    ComponentDef def_;
    FieldTable& fields_;
    Shard* first_;
    int index_;
    int parallelism_;
    ManualClock clock_{0};
    TimerService timers_;
    std::unique_ptr<Operator> op_;
    std::vector<StateHandle*> states_;
    Batch main_;
    Batch other_;
    FieldId key_ = kInvalidField;
    std::unique_ptr<JsonEncoder> encoder_;
};

ComponentDef next_action_def(const std::string& params) {
    std::string yaml =
        "sources:\n  in: {type: memory, records: []}\noperators:\n  n: {type: next_action, "
        "input: in, key: user_id, " +
        params + "}\nsinks:\n  out: {type: collect, input: n}\n";
    return testing::component_def(yaml, "n");
}

/// `count` generated events, in batches.
std::vector<Batch> generated(FieldTable& fields, int64_t count, int64_t users) {
    io::GeneratorOptions options;
    options.seed = 5;
    options.users = users;
    options.events = count;
    auto gen_fields =
        io::GeneratorFields::resolve([&fields](std::string_view n) { return fields.intern(n); });
    io::ClickstreamGenerator generator(options, gen_fields);
    std::vector<Batch> batches;
    for (;;) {
        if (batches.empty() || batches.back().full()) {
            batches.emplace_back();
        }
        Record& r = batches.back().append();
        if (!generator.next(r)) {
            batches.back().pop_back();
            break;
        }
    }
    return batches;
}

TEST(NextActionTest, TwoShardsSharingTheModelPredictLikeOne) {
    const std::string params =
        "field: category, context: [device], half_life: 1h, min_support: 2, top_k: 3";
    ComponentDef def = next_action_def(params);
    FieldTable fields;
    std::vector<Batch> events = generated(fields, 4000, 200);
    Shard whole(def, fields, nullptr, 0, 1);
    Shard first(def, fields, nullptr, 0, 2);
    Shard second(def, fields, &first, 1, 2);
    FieldId user = fields.intern("user_id");
    size_t compared = 0;
    std::vector<int> orders(3, 0);
    for (Batch& b : events) {
        for (size_t i = 0; i < b.size(); ++i) {
            // Events in the same global order; each user's on one shard.
            std::vector<std::string> one = whole.process(b[i]);
            const Value* u = b[i].get(user);
            Shard& shard = std::hash<std::string_view>{}(u->as_string()) % 2 == 0 ? first : second;
            std::vector<std::string> two = shard.process(b[i]);
            ASSERT_EQ(one, two);
            compared += one.size();
            if (!one.empty()) {
                ++orders[static_cast<size_t>(num(one[0], "order"))];
            }
        }
    }
    EXPECT_GT(compared, 3800u);  // 2% of the events miss their category
    EXPECT_EQ(whole.errors_.size() + compared, 4000u);
    EXPECT_GT(orders[2], 100);  // every order is exercised
    EXPECT_GT(orders[1], 100);
    EXPECT_GT(orders[0], 100);
}

TEST(NextActionTest, ParallelismTwoSeesEveryEventOnce) {
    std::string records;
    for (int i = 0; i < 60; ++i) {
        std::string u = "u" + std::to_string(i % 7);
        records += ev(i, u, std::string(1, static_cast<char>('a' + i % 5)));
    }
    const std::string params = ", half_life: 0s, min_support: 1, evaluate: true";
    auto two = run(records, params, 2);
    std::vector<std::string> out_two = two.lines("out");
    std::string metrics_two = two.lines("metrics").back();
    auto one = run(records, params, 1);
    ASSERT_EQ(out_two.size(), 60u);
    EXPECT_EQ(num(metrics_two, "events"), 60);
    EXPECT_EQ(num(metrics_two, "events"), num(one.lines("metrics").back(), "events"));
    // Per user, the events arrive in order on one shard: the same emission times.
    auto times_of = [](const std::vector<std::string>& lines, const std::string& user) {
        std::vector<std::string> ts;
        for (const std::string& l : lines) {
            if (raw(l, "user_id") == "\"" + user + "\"") {
                ts.push_back(raw(l, "ts"));
            }
        }
        return ts;
    };
    for (int u = 0; u < 7; ++u) {
        std::string name = "u" + std::to_string(u);
        EXPECT_EQ(times_of(out_two, name), times_of(one.lines("out"), name)) << name;
    }
}

/// The generator through next_action, optionally stopped after `stop_after`
/// events (the topology of expect_resume_equals_whole()).
std::string restore_yaml(int stop_after, const std::string& state) {
    return "parallelism: 1\n" + state +
           "sources:\n  clicks: {type: generator, events: 6000, users: 300, items: 400, seed: "
           "11}\n"
           "operators:\n  n: {type: next_action, input: clicks, key: user_id, field: category, "
           "context: [device], time_bucket: part_of_day, half_life: 2h, min_support: 2, "
           "max_gap: 30m, evaluate: true, metrics_every: 500}\n"
           "sinks:\n  out: {type: collect, input: n}\n  metrics: {type: collect, input: "
           "n.metrics}\n" +
           testing::stop_after_sink("clicks", stop_after);
}

TEST(NextActionRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    testing::expect_resume_equals_whole(restore_yaml, 2500, "next_action");
}

TEST(NextActionTopologyTest, PredictsPagesOfTheGeneratedClickstream) {
    auto r = run_yaml(
        "name: next_page\nparallelism: 1\n"
        "sources:\n  clicks: {type: generator, events: 3000, users: 100, seed: 3}\n"
        "operators:\n"
        "  humans: {type: filter, input: clicks, field: type, op: ne, value: search}\n"
        "  next:\n    type: next_action\n    input: humans\n    key: user_id\n"
        "    field: category\n    context: [device]\n    top_k: 3\n    half_life: 1d\n"
        "    min_support: 3\n    collapse_repeats: true\n    evaluate: true\n"
        "    metrics_every: 1000\n"
        "sinks:\n  out: {type: collect, input: next}\n  metrics: {type: collect, input: "
        "next.metrics}\n  errors: {type: collect, input: next.errors}\n");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& out = r.lines("out");
    ASSERT_GT(out.size(), 2000u);
    std::vector<int> orders(3, 0);
    for (const std::string& line : out) {
        int order = static_cast<int>(num(line, "order"));
        ASSERT_TRUE(order >= 0 && order <= 2) << line;
        ++orders[static_cast<size_t>(order)];
        ASSERT_FALSE(raw(line, "action_1").empty()) << line;
        double p1 = num(line, "probability_1");
        double sum = p1;
        for (const char* k : {"2", "3"}) {
            if (!raw(line, std::string("probability_") + k).empty()) {
                double p = num(line, std::string("probability_") + k);
                EXPECT_LE(p, p1 + 1e-12);
                sum += p;
            }
        }
        EXPECT_LE(sum, 1 + 1e-9) << line;
    }
    EXPECT_GT(orders[2], 0);
    EXPECT_GT(orders[1], 0);
    EXPECT_GT(orders[0], 0);
    for (const std::string& e : r.lines("errors")) {
        EXPECT_THAT(e, HasSubstr("the action field `category` is missing"));
    }
    ASSERT_FALSE(r.lines("metrics").empty());
    // Category chains of the generator's segments are far from random (3 of 20 categories).
    EXPECT_GT(num(r.lines("metrics").back(), "hit_rate"), 0.3);
}

/// Events per second of the operator alone (process_batch() on pre-generated
/// events, emitting after every event). Run with --gtest_also_run_disabled_tests.
TEST(NextActionThroughputTest, DISABLED_EventsPerSecond) {
    FieldTable fields;
    std::vector<Batch> events = generated(fields, 1'000'000, 10'000);
    for (const std::string params :
         {"field: category", "field: category, context: [device], time_bucket: part_of_day",
          "field: item_id", "field: url, context: [device]",
          "field: item_id, evaluate: true, emit: false"}) {
        ComponentDef def = next_action_def(params + ", half_life: 1d");
        Shard shard(def, fields, nullptr, 0, 1);
        FieldId user = fields.intern("user_id");
        for (Batch& b : events) {  // the runtime sets keys before the operator runs
            for (size_t i = 0; i < b.size(); ++i) {
                const Value* u = b[i].get(user);
                b[i].set_key(u == nullptr ? Value() : *u);
            }
        }
        size_t n = 0;
        auto cpu = [] {
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
        };
        double cpu_start = cpu();
        auto start = std::chrono::steady_clock::now();
        for (const Batch& b : events) {
            shard.op().process_batch(b, shard);
            shard.discard_output();
            n += b.size();
        }
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        double cpu_secs = cpu() - cpu_start;
        std::printf(
            "next_action {%s}: %zu events, %.3f s wall, %.3f s CPU = %.0f events/s "
            "(CPU), %llu rows\n",
            params.c_str(), n, secs, cpu_secs, static_cast<double>(n) / cpu_secs,
            static_cast<unsigned long long>(shard.model().rows()));
    }
}

}  // namespace
}  // namespace eddy
