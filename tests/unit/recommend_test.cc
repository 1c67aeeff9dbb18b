// SPDX-License-Identifier: Apache-2.0
// recommend: the blended score (scaled sources, confidence, popularity for new
// users), segment popularity and segment changes without items, segment
// boosts, what mf learns, prequential metrics, bad input and bad
// configuration, the codecs, and a stopped and resumed job against an
// uninterrupted one.
#include "recommend/recommend.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
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
using testing::num;
using testing::raw;
using testing::run_yaml;

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  r: {type: recommend, input: in, key: user_id" + params +
           "}\nsinks:\n  out: {type: collect, input: r}\n  metrics: {type: collect, input: "
           "r.metrics}\n  errors: {type: collect, input: r.errors}\n";
}

testing::RunResult run(const std::string& records, const std::string& params) {
    auto r = run_yaml(topology(records, params));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

// Without factors (no mf) and without decay, every score is hand-computable.
constexpr const char* kNoMf = ", factors: 0, half_life: 0s";

TEST(RecommendTest, ScoresBlendScaledSourcesWeightedByConfidence) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a}
      - {ts: 2, user_id: u1, item_id: b}
      - {ts: 3, user_id: u2, item_id: a}
      - {ts: 4, user_id: u2, item_id: c, type: purchase}
      - {ts: 5, user_id: u3, item_id: a}
      - {ts: 6, user_id: u4, item_id: d}
)",
                 kNoMf);
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 6u);
    // u2 after c (n = 2, confidence 2/7): only b is left; its similarity via
    // a is the highest (scaled 1), its popularity (1) too.
    EXPECT_EQ(raw(lines[3], "item_1"), "\"b\"");
    EXPECT_NEAR(num(lines[3], "score_1"), 2.0 / 7 + 0.1, 1e-12);
    EXPECT_EQ(raw(lines[3], "item_2"), "");
    // u3 after a (n = 1, confidence 1/6): b and c are equally similar to a
    // (1/sqrt(3) each, scaled 1); c's popularity is 8 (a purchase), b's 1.
    const std::string& u3 = lines[4];
    EXPECT_EQ(raw(u3, "item_1"), "\"c\"");
    EXPECT_NEAR(num(u3, "score_1"), 1.0 / 6 + 0.1, 1e-12);
    EXPECT_EQ(raw(u3, "source_1"), "\"item_similarity\"");
    EXPECT_EQ(raw(u3, "item_2"), "\"b\"");
    EXPECT_NEAR(num(u3, "score_2"), 1.0 / 6 + 0.1 / 8, 1e-12);
    // u4 saw only d, which co-occurs with nothing: popularity alone.
    const std::string& u4 = lines[5];
    EXPECT_EQ(raw(u4, "item_1"), "\"c\"");
    EXPECT_NEAR(num(u4, "score_1"), 0.1, 1e-12);
    EXPECT_EQ(raw(u4, "source_1"), "\"popularity\"");
    EXPECT_EQ(raw(u4, "item_2"), "\"a\"");
    EXPECT_NEAR(num(u4, "score_2"), 0.1 * 3 / 8, 1e-12);
    EXPECT_EQ(raw(u4, "item_3"), "\"b\"");
    EXPECT_EQ(raw(u4, "item_4"), "");
}

TEST(RecommendTest, SegmentPopularityRanksWithinTheUsersSegment) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: x, seg: s1}
      - {ts: 2, user_id: u2, item_id: x, seg: s1}
      - {ts: 3, user_id: u3, item_id: y, seg: s2}
      - {ts: 4, user_id: u4, item_id: y, seg: s2}
      - {ts: 5, user_id: u5, item_id: y, seg: s2}
      - {ts: 6, user_id: u6, item_id: z, seg: s1}
      - {ts: 7, user_id: u7, seg: s2}
      - {ts: 8, user_id: u7, item_id: z}
)",
                 std::string(kNoMf) +
                     ", segment_field: seg, blend: {item_similarity: 0, popularity: 0, "
                     "segment_popularity: 1}");
    EXPECT_TRUE(r.lines("errors").empty());
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 7u);  // the segment change emits nothing
    // u6 is in s1, where only x has a score (y is more popular globally).
    EXPECT_EQ(raw(lines[5], "item_1"), "\"x\"");
    EXPECT_NEAR(num(lines[5], "score_1"), 1.0, 1e-12);
    EXPECT_EQ(raw(lines[5], "source_1"), "\"segment_popularity\"");
    EXPECT_EQ(raw(lines[5], "seg"), "\"s1\"");
    EXPECT_EQ(raw(lines[5], "item_2"), "");
    // u7's segment came on a record without an item.
    EXPECT_EQ(raw(lines[6], "item_1"), "\"y\"");
    EXPECT_EQ(raw(lines[6], "seg"), "\"s2\"");
}

TEST(RecommendTest, SegmentBoostMultipliesTheCategorysScoresForTheSegment) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a, cat: lux}
      - {ts: 2, user_id: u2, item_id: b, cat: std}
      - {ts: 3, user_id: u3, item_id: b, cat: std}
      - {ts: 4, user_id: u4, item_id: c, seg: vip}
      - {ts: 5, user_id: u5, item_id: c, seg: regular}
      - {ts: 6, user_id: u6, item_id: c, seg: 7}
)",
                 std::string(kNoMf) +
                     ", segment_field: seg, category_field: cat, blend: {item_similarity: 0, "
                     "popularity: 1, segment_popularity: 0}, segment_boost: {vip: {category: "
                     "lux, factor: 3}, \"7\": {category: lux, factor: 3}}");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 6u);
    // vip: a (popularity 1/2, times 3) beats b (1).
    EXPECT_EQ(raw(lines[3], "item_1"), "\"a\"");
    EXPECT_NEAR(num(lines[3], "score_1"), 1.5, 1e-12);
    EXPECT_EQ(raw(lines[3], "item_2"), "\"b\"");
    EXPECT_NEAR(num(lines[3], "score_2"), 1.0, 1e-12);
    // Another segment: no boost.
    EXPECT_EQ(raw(lines[4], "item_1"), "\"b\"");
    EXPECT_NEAR(num(lines[4], "score_2"), 0.5, 1e-12);
    // An integer segment matches the rule named by its decimal text.
    EXPECT_EQ(raw(lines[5], "item_1"), "\"a\"");
    EXPECT_EQ(raw(lines[5], "seg"), "7");
}

TEST(RecommendTest, MatrixFactorizationLearnsWhichItemsGoTogether) {
    // Two tastes: users 0..19 pick among a0..a9, users 20..39 among b0..b9,
    // in random order. With mf alone, each user should be recommended items
    // of their own taste.
    std::mt19937 rng(7);
    std::string records;
    int64_t t = 0;
    std::vector<std::vector<int>> left(40);
    for (auto& items : left) {
        items = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        std::shuffle(items.begin(), items.end(), rng);
        items.resize(7);
    }
    for (int round = 0; round < 7; ++round) {
        std::vector<int> users(40);
        std::iota(users.begin(), users.end(), 0);
        std::shuffle(users.begin(), users.end(), rng);
        for (int u : users) {
            std::string item = std::string(u < 20 ? "a" : "b") + std::to_string(left[u][round]);
            records += "      - {ts: " + std::to_string(++t) + ", user_id: u" + std::to_string(u) +
                       ", item_id: " + item + "}\n";
        }
    }
    auto r = run(records,
                 ", factors: 8, negatives: 10, learning_rate: 0.1, confidence: 0, blend: "
                 "{item_similarity: 0, popularity: 0, segment_popularity: 0, mf: 1}");
    std::map<std::string, std::string> last;
    for (const std::string& line : r.lines("out")) {
        last[raw(line, "user_id")] = line;
    }
    ASSERT_EQ(last.size(), 40u);
    int right = 0;
    int total = 0;
    for (const auto& [user, line] : last) {
        int u = std::stoi(user.substr(2));
        for (int k = 1; k <= 3; ++k) {
            std::string item = raw(line, "item_" + std::to_string(k));
            ASSERT_FALSE(item.empty()) << line;
            EXPECT_EQ(raw(line, "source_" + std::to_string(k)), "\"mf\"");
            right += item[1] == (u < 20 ? 'a' : 'b') ? 1 : 0;
            ++total;
        }
    }
    EXPECT_GE(right, total * 9 / 10) << right << " of " << total;
}

TEST(RecommendTest, PrequentialMetricsPredictBeforeLearning) {
    auto r = run(R"(      - {ts: 1, user_id: u1, item_id: a}
      - {ts: 2, user_id: u1, item_id: b}
      - {ts: 3, user_id: u2, item_id: a}
      - {ts: 4, user_id: u2, item_id: b}
      - {ts: 5, user_id: u3, item_id: c}
      - {ts: 6, user_id: u3, item_id: a}
      - {ts: 7, user_id: u4, item_id: c}
      - {ts: 8, user_id: u4, item_id: b}
)",
                 std::string(kNoMf) + ", top_n: 1, evaluate: true, emit: false");
    EXPECT_TRUE(r.lines("out").empty());
    const auto& metrics = r.lines("metrics");
    ASSERT_EQ(metrics.size(), 1u);
    // Scored: u2's b (only b is left: a hit), u3's a (a and b equally
    // popular, a seen first: a hit), u4's b (a is similar to c and more
    // popular: a miss). u1's and the new items' events are not scored.
    EXPECT_EQ(num(metrics[0], "events"), 8);
    EXPECT_EQ(num(metrics[0], "evaluated"), 3);
    EXPECT_EQ(num(metrics[0], "hits"), 2);
    EXPECT_NEAR(num(metrics[0], "hit_rate"), 2.0 / 3, 1e-12);
    EXPECT_NEAR(num(metrics[0], "ndcg"), 2.0 / 3, 1e-9);
}

TEST(RecommendTest, BadRecordsGoToErrorsWithAReasonAndZeroWeightsAreSkipped) {
    auto r =
        run(R"(      - {ts: 1, user_id: u1}
      - {ts: 2, user_id: u1, item_id: 1.5}
      - {ts: 3, user_id: u1, item_id: a, seg: 1.5}
      - {ts: 4, user_id: u1, item_id: a, cat: 2.5}
      - {ts: 5, item_id: a}
      - {ts: 6, user_id: u1, type: search}
      - {ts: 7, user_id: u1, item_id: a}
)",
            std::string(kNoMf) + ", segment_field: seg, category_field: cat, weights: {search: 0}");
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 5u);
    auto count = [&errors](const std::string& reason) {
        return std::count_if(errors.begin(), errors.end(), [&reason](const std::string& e) {
            return e.find(reason) != std::string::npos;
        });
    };
    EXPECT_EQ(count("item field `item_id` is missing or neither a string nor an integer"), 2);
    EXPECT_EQ(count("segment field `seg` is neither a string nor an integer"), 1);
    EXPECT_EQ(count("category field `cat` is neither a string nor an integer"), 1);
    EXPECT_EQ(count("key field 'user_id' is missing"), 1);
    ASSERT_EQ(r.lines("out").size(), 1u);  // the search has weight 0: not learned, no error
}

TEST(RecommendTest, SpecRulesRejectBadBlendsAndBoosts) {
    const std::string event = "      - {ts: 1, user_id: u, item_id: a}\n";
    auto expect_error = [&](const std::string& params, const std::string& message) {
        auto r = run_yaml(topology(event, params));
        EXPECT_FALSE(r.status.is_ok()) << params;
        EXPECT_THAT(r.diagnostics, HasSubstr(message)) << params;
    };
    expect_error(", blend: {mff: 1}", "`blend` has an unknown source `mff`");
    expect_error(", blend: {mf: -1}", "the weight of `mf` in `blend` must be a finite number >= 0");
    expect_error(", segment_boost: {vip: {category: lux, factor: 2}}",
                 "`segment_boost` needs `segment_field`");
    expect_error(
        ", segment_field: s, category_field: c, segment_boost: {vip: {category: lux, "
        "factor: 0}}",
        "the factor of segment `vip` in `segment_boost` must be a finite number > 0");
    expect_error(", segment_field: s, category_field: c, segment_boost: {vip: 3}",
                 "must be a map with exactly `category` and `factor`");
    expect_error(", segment_field: user_id", "`segment_field` and `key_field` are both");
}

TEST(RecommendTest, ModelAndUserCodecsRoundTrip) {
    HybridModel m;
    m.configure(4, 8);
    std::string id;
    bool created = false;
    ASSERT_TRUE(encode_item_id(Value::string_view("a"), id));
    uint32_t a = m.intern(id, 42, 0.1f, created);
    ASSERT_TRUE(created);
    ASSERT_TRUE(encode_item_id(Value::integer(7), id));
    uint32_t b = m.intern(id, 42, 0.1f, created);
    uint32_t none[] = {a};
    m.similarity().learn(b, none, 10);
    m.popularity().add(m.popularity().group("s"), m.popularity_index(b), 2, 1000, 0);
    m.set_category(b, m.category_id("lux"));
    m.touch_recent(b);
    m.counts().score(0);
    std::string bytes = encode_state(m);
    HybridModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(back.factors(), 4);
    EXPECT_EQ(back.items().find(id), b);
    EXPECT_EQ(back.popularity().stored(0, back.popularity_index(b)),
              m.popularity().stored(0, m.popularity_index(b)));
    EXPECT_EQ(back.category(b), back.category_id("lux"));
    EXPECT_EQ(back.category(a), HybridModel::kNoCategory);
    EXPECT_EQ(back.similarity().count(b), 1u);
    EXPECT_EQ(back.item_factors(b)[3], m.item_factors(b)[3]);
    EXPECT_EQ(back.recent(0), b);
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 3), back));

    HybridUser u;
    u.recent.items = {3, 1};
    u.recent.group = 2;
    u.factors = {0.5f, -1};
    u.events = 9;
    HybridUser u2;
    ASSERT_TRUE(decode_state(encode_state(u), u2));
    EXPECT_EQ(u2.recent.items, u.recent.items);
    EXPECT_EQ(u2.recent.group, 2u);
    EXPECT_EQ(u2.factors, u.factors);
    EXPECT_EQ(u2.events, 9);
}

// Scale-out (docs/scale-out.md, "Models"): items meet by id, popularity
// and co-occurrence add up without counting an event twice, factors become
// the average weighted by each process's events for the item.
namespace {

/// The master index of item `name` in `m`, adding it.
uint32_t item_in(HybridModel& m, const std::string& name) {
    std::string id;
    EXPECT_TRUE(encode_item_id(Value::string_view(name), id));
    bool created = false;
    return m.intern(id, 42, 0.1f, created);
}

/// One event of `item` after `before` (none when empty), weight 1, at 1000.
void event(HybridModel& m, const std::string& item, const std::string& before = "") {
    uint32_t i = item_in(m, item);
    std::vector<uint32_t> recent;
    if (!before.empty()) {
        recent.push_back(item_in(m, before));
    }
    m.similarity().learn(i, recent, 10);
    m.popularity().add(0, m.popularity_index(i), 1, 1000, 0);
}

double popularity_of(const HybridModel& m, const std::string& name) {
    std::string id;
    EXPECT_TRUE(encode_item_id(Value::string_view(name), id));
    uint32_t i = m.items().find(id);
    return i == ItemIndex::kNone ? -1 : m.popularity().stored(0, m.popularity_index(i));
}

uint32_t index_of(const HybridModel& m, const std::string& name) {
    std::string id;
    EXPECT_TRUE(encode_item_id(Value::string_view(name), id));
    return m.items().find(id);
}

}  // namespace

TEST(RecommendMergeTest, ModelsMergeByItemIdWithoutCountingAnEventTwice) {
    HybridModel a;
    HybridModel b;
    for (HybridModel* m : {&a, &b}) {
        m->configure(2, 8);
        m->set_learning(0, 10);
    }
    event(a, "x");
    event(a, "y", "x");
    event(a, "y");
    // b meets y first, so their indexes differ, and has z, which a has not.
    event(b, "y");
    event(b, "z", "y");
    event(b, "x", "z");
    b.set_category(index_of(b, "z"), b.category_id("books"));
    // Factors: a's row of y, then b's, set by hand to check the average.
    a.item_factors(index_of(a, "y"))[0] = 1.0f;
    a.item_bias(index_of(a, "y")) = 0.5f;
    b.item_factors(index_of(b, "y"))[0] = 4.0f;
    b.item_bias(index_of(b, "y")) = 2.0f;
    for (int round = 0; round < 3; ++round) {
        HybridModel a_then;
        ASSERT_TRUE(decode_state(encode_state(a), a_then));  // as published
        Merge<HybridModel>::merge(a, std::vector<const HybridModel*>{&b});
        Merge<HybridModel>::merge(b, std::vector<const HybridModel*>{&a_then});
        for (HybridModel* m : {&a, &b}) {
            EXPECT_EQ(popularity_of(*m, "x"), 2) << "round " << round;
            EXPECT_EQ(popularity_of(*m, "y"), 3) << "round " << round;
            EXPECT_EQ(popularity_of(*m, "z"), 1) << "round " << round;
            EXPECT_EQ(m->similarity().count(index_of(*m, "y")), 3u) << "round " << round;
            EXPECT_EQ(m->category(index_of(*m, "z")), m->category_id("books"));
        }
    }
    // y: a learnt it from 2 events (factor 1, bias 0.5), b from 1 (factor 4,
    // bias 2): the first merge makes both (2 * 1 + 4) / 3 = 2 and
    // (2 * 0.5 + 2) / 3 = 1; later merges keep it.
    for (HybridModel* m : {&a, &b}) {
        EXPECT_FLOAT_EQ(m->item_factors(index_of(*m, "y"))[0], 2.0f);
        EXPECT_FLOAT_EQ(m->item_bias(index_of(*m, "y")), 1.0f);
    }
    // z, which a never met, takes b's row.
    EXPECT_EQ(a.item_factors(index_of(a, "z"))[1], b.item_factors(index_of(b, "z"))[1]);
    // x and z co-occurred once on b, x and y once on a: both pairs are neighbours.
    std::vector<Neighbour> nb;
    a.similarity().neighbours(index_of(a, "x"), nb);
    EXPECT_EQ(nb.size(), 2u);
    // A merged model survives a checkpoint, and a version 1 one still loads.
    HybridModel restored;
    ASSERT_TRUE(decode_state(encode_state(a), restored));
    EXPECT_EQ(popularity_of(restored, "y"), 3);
    EXPECT_EQ(restored.similarity().count(index_of(restored, "y")), 3u);
    EXPECT_EQ(encode_state(restored), encode_state(a));
    HybridModel fresh;
    fresh.configure(2, 8);
    event(fresh, "x");
    std::string v1;
    StateWriter w(v1);
    w.u8(1);
    fresh.encode(w, 1);
    HybridModel back;
    ASSERT_TRUE(decode_state(v1, back));
    EXPECT_EQ(popularity_of(back, "x"), 1);
    // A model with another number of factors is left out.
    HybridModel other;
    other.configure(3, 8);
    event(other, "x");
    Merge<HybridModel>::merge(fresh, std::vector<const HybridModel*>{&other});
    EXPECT_EQ(popularity_of(fresh, "x"), 1);
    Shared<HybridModel> shared("model");
    EXPECT_TRUE(shared.mergeable());
    EXPECT_TRUE(shared.merge_keeps_departed());
}

std::string generator_yaml(int parallelism, int stop_after, const std::string& state) {
    return "parallelism: " + std::to_string(parallelism) + "\n" + state +
           "sources:\n  clicks: {type: generator, events: 6000, users: 300, items: 400, "
           "seed: 11}\n"
           "operators:\n  r: {type: recommend, input: clicks, key: user_id, factors: 8, "
           "segment_field: device, category_field: category, half_life: 2h, evaluate: "
           "true, metrics_every: 500}\n"
           "sinks:\n  out: {type: collect, input: r}\n  metrics: {type: collect, input: "
           "r.metrics}\n" +
           testing::stop_after_sink("clicks", stop_after);
}

TEST(RecommendRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    testing::expect_resume_equals_whole(
        [](int stop_after, const std::string& state) {
            return generator_yaml(1, stop_after, state);
        },
        2500, "recommend");
}

TEST(RecommendRestoreTest, ParallelismTwoLearnsFromEveryEventOnce) {
    auto two = run_yaml(generator_yaml(2, 0, ""));
    ASSERT_TRUE(two.status.is_ok()) << two.status.message() << two.diagnostics;
    ASSERT_FALSE(two.lines("metrics").empty());
    std::string last = two.lines("metrics").back();  // run_yaml() clears the lines
    auto one = run_yaml(generator_yaml(1, 0, ""));
    ASSERT_TRUE(one.status.is_ok());
    std::string whole = one.lines("metrics").back();
    EXPECT_EQ(num(last, "events"), num(whole, "events"));
    EXPECT_GT(num(whole, "evaluated"), 1000);
    EXPECT_NEAR(num(last, "hit_rate"), num(whole, "hit_rate"), 0.03);
}

// Two shards share one model: while one adds the item that opens a new
// chunk of the catalogue (items().size() counts it before its rows exist),
// the other ranks the whole catalogue on every event (evaluate: true). The
// ranking must skip rows that do not exist yet, not read them. Each chunk
// holds 4096 items: this catalogue crosses several boundaries.
TEST(RecommendRestoreTest, RankingWhileAnotherShardOpensANewChunkOfItems) {
    auto r = run_yaml(
        "parallelism: 2\n"
        "sources:\n  clicks: {type: generator, events: 30000, users: 500, items: 1000000, "
        "categories: 1000, seed: 5}\n"
        "operators:\n  r: {type: recommend, input: clicks, key: user_id, factors: 4, "
        "evaluate: true, metrics_every: 100000}\n"
        "sinks:\n  out: {type: null, input: r}\n");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
}

}  // namespace
}  // namespace eddy
