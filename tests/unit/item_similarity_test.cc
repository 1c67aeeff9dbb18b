// SPDX-License-Identifier: Apache-2.0
// item_similarity: cosine from co-occurrence, the history window, repeats,
// exclusion, the neighbour bound, prequential metrics, bad input, the codec,
// and a stopped and resumed job against an uninterrupted one.
#include "item_similarity/item_similarity.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "json_fields.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::run_yaml;

using testing::num;
using testing::raw;

/// Records "user item" pairs, one event each, times 1, 2, 3, ...
std::string events(const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::string s;
    int64_t t = 0;
    for (const auto& [u, i] : pairs) {
        s += "      - {ts: " + std::to_string(++t) + ", user_id: " + u + ", item_id: " + i + "}\n";
    }
    return s;
}

testing::RunResult run(const std::string& records, const std::string& params) {
    auto r = run_yaml("sources:\n  in:\n    type: memory\n    records:\n" + records +
                      "operators:\n  s: {type: item_similarity, input: in, key: user_id" + params +
                      "}\nsinks:\n  out: {type: collect, input: s}\n  metrics: {type: collect, "
                      "input: s.metrics}\n  errors: {type: collect, input: s.errors}\n");
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

TEST(ItemSimilarityTest, ScoresAreCosinesOfCoOccurrenceCounts) {
    auto r = run(events({{"u1", "a"},
                         {"u1", "b"},
                         {"u2", "a"},
                         {"u2", "b"},
                         {"u3", "a"},
                         {"u3", "c"},
                         {"u4", "a"}}),
                 "");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 7u);
    // c(a) = 4 (u4 included), c(b) = 2, c(c) = 1, c(a,b) = 2, c(a,c) = 1.
    const std::string& last = lines[6];
    EXPECT_EQ(raw(last, "user_id"), "\"u4\"");
    EXPECT_EQ(raw(last, "item_1"), "\"b\"");
    EXPECT_NEAR(num(last, "score_1"), 2 / std::sqrt(8.0), 1e-12);
    EXPECT_EQ(raw(last, "item_2"), "\"c\"");
    EXPECT_NEAR(num(last, "score_2"), 1 / std::sqrt(4.0), 1e-12);
    EXPECT_EQ(raw(last, "item_3"), "");
    // u3 after c: candidates are b via a (2/sqrt(3*2)); a and c are seen.
    EXPECT_EQ(raw(lines[5], "item_1"), "\"b\"");
    EXPECT_NEAR(num(lines[5], "score_1"), 2 / std::sqrt(6.0), 1e-12);
}

TEST(ItemSimilarityTest, ScoresSumOverTheUsersRecentItems) {
    auto r = run(
        events({{"u1", "a"}, {"u1", "x"}, {"u2", "b"}, {"u2", "x"}, {"u3", "a"}, {"u3", "b"}}), "");
    const auto& last = r.lines("out").back();
    // x: via a 1/sqrt(2*2) + via b 1/sqrt(2*2) = 1.
    EXPECT_EQ(raw(last, "item_1"), "\"x\"");
    EXPECT_NEAR(num(last, "score_1"), 1.0, 1e-12);
}

TEST(ItemSimilarityTest, OnlyTheLastHistoryItemsCoOccur) {
    auto r = run(events({{"u1", "a"}, {"u1", "b"}, {"u1", "c"}, {"u1", "d"}, {"u2", "a"}}),
                 ", history: 2");
    const auto& last = r.lines("out").back();
    // a co-occurs with b and c (d came 3 items later); b and c tie at 1/sqrt(2*2).
    EXPECT_EQ(raw(last, "item_1"), "\"b\"");
    EXPECT_EQ(raw(last, "item_2"), "\"c\"");
    EXPECT_EQ(raw(last, "item_3"), "");
}

TEST(ItemSimilarityTest, RepeatsDoNotCountAgain) {
    auto once = run(events({{"u1", "a"}, {"u1", "b"}, {"u2", "a"}}), "");
    auto repeated =
        run(events({{"u1", "a"}, {"u1", "b"}, {"u1", "a"}, {"u1", "b"}, {"u2", "a"}}), "");
    EXPECT_EQ(raw(once.lines("out").back(), "score_1"),
              raw(repeated.lines("out").back(), "score_1"));
    EXPECT_NEAR(num(once.lines("out").back(), "score_1"), 1 / std::sqrt(2.0), 1e-12);
}

TEST(ItemSimilarityTest, NeighboursKeepsTheMostSimilarItems) {
    // a meets b twice, c once: with one neighbour, a keeps only b.
    auto r = run(events({{"u1", "a"},
                         {"u1", "b"},
                         {"u2", "b"},
                         {"u2", "a"},
                         {"u3", "c"},
                         {"u3", "a"},
                         {"u4", "a"}}),
                 ", neighbours: 1");
    const auto& last = r.lines("out").back();
    EXPECT_EQ(raw(last, "item_1"), "\"b\"");
    EXPECT_EQ(raw(last, "item_2"), "");
}

TEST(ItemSimilarityTest, PrequentialMetricsPredictBeforeLearning) {
    auto r =
        run(events({{"u1", "a"}, {"u1", "b"}, {"u2", "a"}, {"u2", "b"}, {"u3", "b"}, {"u3", "c"}}),
            ", evaluate: true, emit: false, metrics_every: 100");
    // u1 b: new. u2 a: no history. u2 b: [a] → b at rank 1: hit.
    // u3 b: no history. u3 c: new. → evaluated 1, hits 1.
    EXPECT_TRUE(r.lines("out").empty());
    const auto& m = r.lines("metrics");
    ASSERT_EQ(m.size(), 1u);  // at the end only
    EXPECT_EQ(num(m[0], "events"), 6);
    EXPECT_EQ(num(m[0], "evaluated"), 1);
    EXPECT_EQ(num(m[0], "hits"), 1);
    EXPECT_DOUBLE_EQ(num(m[0], "ndcg"), 1);
}

TEST(ItemSimilarityTest, BadRecordsGoToErrorsWithAReason) {
    auto r = run(R"(      - {ts: 1, user_id: u1}
      - {ts: 2, user_id: u1, item_id: true}
      - {ts: 3, user_id: u1, item_id: null}
      - {ts: 4, user_id: u1, item_id: a}
)",
                 "");
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 3u);
    for (const std::string& e : errors) {
        EXPECT_THAT(e, HasSubstr("item field `item_id` is missing or neither"));
    }
    EXPECT_EQ(r.lines("out").size(), 1u);
}

TEST(ItemSimilarityTest, ModelRanksLikeABruteForceCosine) {
    // Random sessions; with K large enough the kept neighbours are all items,
    // and c(i, j) matches a brute-force count over the same windows.
    SimilarityModel m;
    std::mt19937 rng(3);
    const size_t history = 4;
    std::vector<std::vector<uint32_t>> users(20);
    std::vector<std::vector<uint32_t>> co(30, std::vector<uint32_t>(30, 0));
    std::vector<uint32_t> count(30, 0);
    std::string id;
    std::vector<uint32_t> index(30, kNoItem);
    for (int e = 0; e < 2000; ++e) {
        auto& h = users[rng() % users.size()];
        uint32_t item = static_cast<uint32_t>(std::min(rng() % 30, rng() % 30));
        if (std::find(h.begin(), h.end(), item) != h.end()) {
            continue;
        }
        encode_item_id(Value::integer(item), id);
        bool created = false;
        uint32_t i = m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); });
        index[item] = i;
        std::vector<uint32_t> recent;
        for (size_t k = h.size() > history ? h.size() - history : 0; k < h.size(); ++k) {
            recent.push_back(index[h[k]]);
            ++co[item][h[k]];
            ++co[h[k]][item];
        }
        ++count[item];
        m.learn(i, recent, 64);
        h.push_back(item);
    }
    std::vector<Neighbour> nb;
    for (uint32_t item = 0; item < 30; ++item) {
        if (index[item] == kNoItem) {
            continue;
        }
        EXPECT_EQ(m.neighbours(index[item], nb), count[item]);
        for (const Neighbour& n : nb) {
            auto other = static_cast<uint32_t>(decode_item_id(m.items().id(n.item)).as_int());
            EXPECT_EQ(n.co, co[item][other]) << item << " " << other;
        }
        size_t expected = static_cast<size_t>(
            std::count_if(co[item].begin(), co[item].end(), [](uint32_t c) { return c > 0; }));
        EXPECT_EQ(nb.size(), expected);
    }
    std::string bytes = encode_state(m);
    SimilarityModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_EQ(back.pairs(), m.pairs());
    std::string json;
    ASSERT_TRUE(state_to_json<SimilarityModel>(bytes, json));
    EXPECT_THAT(json, HasSubstr("\"neighbours\":[{\"item\":"));
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() / 2), back));
}

class ItemSimilarityRestoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_item_similarity_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string yaml(int parallelism, int stop_after, const std::string& state) const {
        std::string y = "parallelism: " + std::to_string(parallelism) + "\n" + state +
                        "sources:\n  clicks: {type: generator, events: 8000, users: 300, items: "
                        "300, seed: 5}\n"
                        "operators:\n  s: {type: item_similarity, input: clicks, key: user_id, "
                        "history: 5, neighbours: 8, evaluate: true, metrics_every: 1000}\n"
                        "sinks:\n  out: {type: collect, input: s}\n  metrics: {type: collect, "
                        "input: s.metrics}\n";
        if (stop_after > 0) {
            y +=
                "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
                "}\n";
        }
        return y;
    }

    fs::path dir_;
};

TEST_F(ItemSimilarityRestoreTest, AStoppedAndResumedJobEqualsAnUninterruptedOne) {
    auto whole = run_yaml(yaml(1, 0, ""));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message() << whole.diagnostics;
    std::vector<std::string> out = whole.lines("out");
    std::vector<std::string> metrics = whole.lines("metrics");
    ASSERT_GT(out.size(), 7000u);
    ASSERT_FALSE(metrics.empty());
    EXPECT_GT(num(metrics.back(), "hits"), 100);

    std::string state = "state: {dir: " + dir_.string() + "}\n";
    auto first = run_yaml(yaml(1, 3000, state));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();
    auto second = run_yaml(yaml(1, 0, state));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    const auto& resumed = second.lines("out");
    ASSERT_GT(resumed.size(), 1000u);
    ASSERT_LT(resumed.size(), out.size());
    std::vector<std::string> tail(out.end() - static_cast<std::ptrdiff_t>(resumed.size()),
                                  out.end());
    EXPECT_EQ(resumed, tail);
    EXPECT_EQ(second.lines("metrics").back(), metrics.back());
}

TEST_F(ItemSimilarityRestoreTest, ParallelismThreeLearnsOneModelFromEveryEvent) {
    auto one = run_yaml(yaml(1, 0, ""));
    ASSERT_TRUE(one.status.is_ok());
    std::string last_one = one.lines("metrics").back();
    auto three = run_yaml(yaml(3, 0, ""));
    ASSERT_TRUE(three.status.is_ok()) << three.status.message() << three.diagnostics;
    const auto& m = three.lines("metrics");
    ASSERT_FALSE(m.empty());
    EXPECT_EQ(num(m.back(), "events"), num(last_one, "events"));
    // One shared model: quality close to the single shard's (interleaving differs).
    EXPECT_NEAR(num(m.back(), "hit_rate"), num(last_one, "hit_rate"), 0.03);
}

}  // namespace
}  // namespace eddy
