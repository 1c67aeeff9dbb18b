// SPDX-License-Identifier: Apache-2.0
// item_similarity: cosine from co-occurrence, the history window, repeats,
// exclusion, the neighbour bound, prequential metrics, bad input, the codec,
// and a stopped and resumed job against an uninterrupted one.
#include "item_similarity/item_similarity.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
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

/// FNV-1a of `bytes`: a stable fingerprint of an encoded model.
uint64_t fingerprint(const std::string& bytes) {
    uint64_t h = 14695981039346656037ull;
    for (char c : bytes) {
        h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    }
    return h;
}

/// Feeds `events` skewed (user, item) events through learn() with `history`
/// and `k` (`late_k` for the second half) as the operator does (repeats
/// within the history skipped) and returns the encoded model. Integer
/// arithmetic only, so that the stream is the same on every platform.
std::string learn_fixed_stream(int events, uint32_t items, size_t history, size_t k,
                               size_t late_k = 0) {
    SimilarityModel m;
    std::mt19937_64 rng(11);
    std::vector<uint32_t> index(items, kNoItem);
    std::vector<std::vector<uint32_t>> users(300);
    std::vector<uint32_t> recent;
    std::string id;
    for (int e = 0; e < events; ++e) {
        auto& h = users[rng() % users.size()];
        // The smallest of three uniform draws: popular low items, a long tail.
        uint64_t item = std::min({rng() % items, rng() % items, rng() % items});
        if (index[item] == kNoItem) {
            encode_item_id(Value::integer(static_cast<int64_t>(item)), id);
            bool created = false;
            index[item] = m.items().intern(id, created, [&m](uint32_t x) { m.add_item(x); });
        }
        uint32_t i = index[item];
        if (std::find(h.begin(), h.end(), i) != h.end()) {
            continue;
        }
        size_t n = std::min(history, h.size());
        recent.assign(h.end() - static_cast<std::ptrdiff_t>(n), h.end());
        m.learn(i, recent, e < events / 2 || late_k == 0 ? k : late_k);
        h.push_back(i);
        if (h.size() > history) {
            h.erase(h.begin());
        }
    }
    // In the layout of version 1, as the fingerprints were taken (version 2
    // only appends the merged part, empty here).
    std::string bytes;
    StateWriter w(bytes);
    w.u8(1);
    m.encode(w, 1);
    return bytes;
}

TEST(ItemSimilarityTest, AFixedStreamBuildsTheSameModelByteForByte) {
    // Pins the update rules as first released (counts, the incremental
    // neighbour lists with their judged scores and weakest entry, the
    // rebuild schedule) and the state encoding: a faster implementation
    // must build exactly the same model. Small K forces many replacements.
    EXPECT_EQ(fingerprint(learn_fixed_stream(60'000, 400, 10, 4)), 0x369500c336f7111dull);
    EXPECT_EQ(fingerprint(learn_fixed_stream(60'000, 400, 10, 50)), 0x748274b0ef98ff15ull);
    EXPECT_EQ(fingerprint(learn_fixed_stream(20'000, 3'000, 3, 1)), 0xded35c72a1faa181ull);
    // Lists longer than K after K shrinks, shorter after it grows.
    EXPECT_EQ(fingerprint(learn_fixed_stream(60'000, 400, 10, 8, 3)), 0x304093e3a8f42ab8ull);
    EXPECT_EQ(fingerprint(learn_fixed_stream(60'000, 400, 10, 3, 8)), 0x01f34d8f9e244fd6ull);
}

TEST(ItemSimilarityTest, ConcurrentLearnersKeepEveryRowConsistent) {
    // Four threads learn into one model. Counts are sums, so whatever the
    // interleaving they must match a brute-force count; with K = 5 rows keep
    // replacing and rebuilding their neighbour lists concurrently, and each
    // list must still hold min(K, co-occurring items) distinct items with
    // their current counts.
    constexpr uint32_t kItems = 40;
    constexpr int kThreads = 4;
    constexpr size_t kHistory = 4;
    constexpr size_t kNeighbours = 5;
    SimilarityModel m;
    std::string id;
    for (uint32_t x = 0; x < kItems; ++x) {
        encode_item_id(Value::integer(x), id);
        bool created = false;
        ASSERT_EQ(m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); }), x);
    }
    using Counts = std::vector<std::vector<uint32_t>>;
    std::vector<Counts> co(kThreads, Counts(kItems, std::vector<uint32_t>(kItems, 0)));
    std::vector<std::vector<uint32_t>> count(kThreads, std::vector<uint32_t>(kItems, 0));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(100 + t);
            std::vector<std::vector<uint32_t>> users(10);
            for (int e = 0; e < 20'000; ++e) {
                auto& h = users[rng() % users.size()];
                auto item = static_cast<uint32_t>(std::min(rng() % kItems, rng() % kItems));
                if (std::find(h.begin(), h.end(), item) != h.end()) {
                    continue;
                }
                for (uint32_t j : h) {
                    ++co[t][item][j];
                    ++co[t][j][item];
                }
                ++count[t][item];
                m.learn(item, h, kNeighbours);
                h.push_back(item);
                if (h.size() > kHistory) {
                    h.erase(h.begin());
                }
            }
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    uint64_t pairs = 0;
    std::vector<Neighbour> nb;
    for (uint32_t i = 0; i < kItems; ++i) {
        uint64_t c = 0;
        std::vector<uint32_t> total(kItems, 0);
        for (int t = 0; t < kThreads; ++t) {
            c += count[t][i];
            for (uint32_t j = 0; j < kItems; ++j) {
                total[j] += co[t][i][j];
            }
        }
        auto met = static_cast<size_t>(
            std::count_if(total.begin(), total.end(), [](uint32_t x) { return x > 0; }));
        pairs += met;
        EXPECT_EQ(m.neighbours(i, nb), c);
        EXPECT_EQ(nb.size(), std::min(kNeighbours, met)) << i;
        std::vector<uint32_t> seen;
        for (const Neighbour& n : nb) {
            EXPECT_EQ(n.co, total[n.item]) << i << " " << n.item;
            seen.push_back(n.item);
        }
        std::sort(seen.begin(), seen.end());
        EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << i;
    }
    EXPECT_EQ(m.pairs(), pairs);
    std::string bytes = encode_state(m);
    SimilarityModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
}

// Scale-out (docs/scale-out.md, "Models"): the processes' counts add up,
// whatever order each met the items in, and an event counts once however
// often the models are merged.
namespace {

/// Learns one event of `user` (its history of 4) in `m`, adding the item.
void learn_event(SimilarityModel& m, std::vector<std::string>& history, const std::string& item) {
    auto index = [&m](const std::string& name) {
        std::string id;
        EXPECT_TRUE(encode_item_id(Value::string_view(name), id));
        bool created = false;
        return m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); });
    };
    if (std::find(history.begin(), history.end(), item) != history.end()) {
        return;
    }
    std::vector<uint32_t> recent;
    for (size_t k = history.size() > 4 ? history.size() - 4 : 0; k < history.size(); ++k) {
        recent.push_back(index(history[k]));
    }
    m.learn(index(item), recent, 64);
    history.push_back(item);
}

/// Item name -> (count, neighbour name -> c(i, j)), through neighbours().
std::map<std::string, std::pair<uint64_t, std::map<std::string, uint32_t>>> view(
    const SimilarityModel& m) {
    std::map<std::string, std::pair<uint64_t, std::map<std::string, uint32_t>>> out;
    std::vector<Neighbour> nb;
    for (uint32_t i = 0; i < m.items().size(); ++i) {
        auto& [count, pairs] = out[std::string(m.items().id(i).substr(1))];
        count = m.neighbours(i, nb);
        EXPECT_EQ(count, m.count(i));
        for (const Neighbour& n : nb) {
            pairs[std::string(m.items().id(n.item).substr(1))] = n.co;
        }
    }
    return out;
}

}  // namespace

TEST(ItemSimilarityMergeTest, MergedCountsAddUpAndNeverCountAnEventTwice) {
    // Users 0..9 on process a, 10..19 on b, as a group spreads partitions;
    // `all` learns every event in the same order.
    SimilarityModel a;
    SimilarityModel b;
    SimilarityModel all;
    for (SimilarityModel* m : {&a, &b, &all}) {
        m->set_neighbours(64);
    }
    std::mt19937 rng(5);
    std::vector<std::vector<std::string>> split(20);
    std::vector<std::vector<std::string>> whole(20);
    for (int e = 0; e < 1500; ++e) {
        size_t user = rng() % 20;
        std::string item = "i" + std::to_string(std::min(rng() % 25, rng() % 25));
        learn_event(user < 10 ? a : b, split[user], item);
        learn_event(all, whole[user], item);
    }
    auto want = view(all);
    for (int round = 0; round < 3; ++round) {
        SimilarityModel a_then;
        ASSERT_TRUE(decode_state(encode_state(a), a_then));  // as published
        Merge<SimilarityModel>::merge(a, std::vector<const SimilarityModel*>{&b});
        Merge<SimilarityModel>::merge(b, std::vector<const SimilarityModel*>{&a_then});
        EXPECT_EQ(view(a), want) << "round " << round;
        EXPECT_EQ(view(b), want) << "round " << round;
    }
    // b's merged model, as a peer of a third process, adds only b's own.
    SimilarityModel c;
    c.set_neighbours(64);
    std::vector<std::string> c_user;
    learn_event(c, c_user, "i1");
    learn_event(c, c_user, "i2");
    SimilarityModel b_alone;
    std::vector<std::vector<std::string>> b_users(20);
    rng.seed(5);
    for (int e = 0; e < 1500; ++e) {
        size_t user = rng() % 20;
        std::string item = "i" + std::to_string(std::min(rng() % 25, rng() % 25));
        if (user >= 10) {
            learn_event(b_alone, b_users[user], item);
        }
    }
    Merge<SimilarityModel>::merge(c, std::vector<const SimilarityModel*>{&b});
    auto got = view(c);
    auto only_b = view(b_alone);
    EXPECT_EQ(got["i1"].first, only_b["i1"].first + 1);
    EXPECT_EQ(got["i1"].second["i2"], only_b["i1"].second["i2"] + 1);
    // A merged model survives a checkpoint: its merged part is stored too.
    SimilarityModel restored;
    restored.set_neighbours(64);
    ASSERT_TRUE(decode_state(encode_state(a), restored));
    EXPECT_EQ(view(restored), want);
    EXPECT_EQ(encode_state(restored), encode_state(a));
    // A sum keeps the last model of a process that stopped publishing.
    Shared<SimilarityModel> shared("model");
    EXPECT_TRUE(shared.mergeable());
    EXPECT_TRUE(shared.merge_keeps_departed());
}

TEST(ItemSimilarityMergeTest, AVersion1ModelStillLoads) {
    SimilarityModel m;
    std::vector<std::string> user;
    learn_event(m, user, "x");
    learn_event(m, user, "y");
    std::string v2 = encode_state(m);
    ASSERT_EQ(static_cast<uint8_t>(v2[0]), 2);
    ASSERT_EQ(v2.back(), '\0');  // no merged part
    std::string v1 = v2.substr(0, v2.size() - 1);
    v1[0] = 1;
    SimilarityModel back;
    ASSERT_TRUE(decode_state(v1, back));
    EXPECT_EQ(view(back), view(m));
    EXPECT_EQ(encode_state(back), v2);
}

/// The encoded state of a model with items 0, 1 and 2 whose rows are
/// written by `rows`, in the layout of SimilarityModel::encode.
template <class Rows>
std::string state_with_rows(Rows&& rows) {
    SimilarityModel m;
    std::string id;
    for (int x = 0; x < 3; ++x) {
        encode_item_id(Value::integer(x), id);
        bool created = false;
        m.items().intern(id, created, [&m](uint32_t k) { m.add_item(k); });
    }
    std::string bytes = encode_state(m);
    // Three empty rows (five zero varints each), then no merged part.
    bytes.resize(bytes.size() - 16);
    StateWriter w(bytes);
    rows(w);
    w.varint(0);
    return bytes;
}

/// Writes a row: c(i), its (item, count) pairs, its (item, count, judged)
/// neighbours, then updates 2 and rebuild at 50.
void write_row(StateWriter& w, uint64_t count,
               const std::vector<std::pair<uint64_t, uint64_t>>& pairs,
               const std::vector<std::pair<uint64_t, uint64_t>>& neighbours) {
    w.varint(count);
    w.varint(pairs.size());
    uint64_t last = 0;
    for (const auto& [j, c] : pairs) {
        w.varint(j - last);
        w.varint(c);
        last = j;
    }
    w.varint(neighbours.size());
    for (const auto& [j, c] : neighbours) {
        w.varint(j);
        w.varint(c);
        w.f64(4.0);
    }
    w.varint(2);
    w.varint(50);
}

TEST(ItemSimilarityTest, DecodeRefusesRowsThatContradictThemselves) {
    // 0 and 1 met twice; 2 met nobody.
    auto state = [](const std::vector<std::pair<uint64_t, uint64_t>>& pairs0,
                    const std::vector<std::pair<uint64_t, uint64_t>>& neighbours0) {
        return state_with_rows([&](StateWriter& w) {
            write_row(w, 1, pairs0, neighbours0);
            write_row(w, 1, {{0, 2}}, {{0, 2}});
            write_row(w, 0, {}, {});
        });
    };
    SimilarityModel m;
    std::string good = state({{1, 2}}, {{1, 2}});
    ASSERT_TRUE(decode_state(good, m));
    EXPECT_EQ(encode_state(m), good);
    std::vector<Neighbour> nb;
    EXPECT_EQ(m.neighbours(0, nb), 1u);
    ASSERT_EQ(nb.size(), 1u);
    EXPECT_EQ(nb[0].item, 1u);
    EXPECT_EQ(nb[0].co, 2u);
    EXPECT_EQ(m.pairs(), 2u);

    // A neighbour's count differs from its pair's.
    EXPECT_FALSE(decode_state(state({{1, 2}}, {{1, 3}}), m));
    // A pair listed twice.
    EXPECT_FALSE(decode_state(state({{1, 2}, {1, 1}}, {{1, 2}}), m));
    // More neighbours than pairs.
    EXPECT_FALSE(decode_state(state({{1, 2}}, {{1, 2}, {2, 1}}), m));
    // A neighbour that never co-occurred.
    EXPECT_FALSE(decode_state(state({{1, 2}}, {{2, 2}}), m));
    // A neighbour listed twice.
    EXPECT_FALSE(decode_state(state({{1, 2}, {2, 1}}, {{1, 2}, {1, 2}}), m));
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
