// SPDX-License-Identifier: Apache-2.0
// The recommenders' hot paths (docs/recommenders.md):
//  - item_similarity's model update with a history of 10: one learn() of an
//    event's item with the user's 10 latest distinct items (c(i) and 2 x 10
//    co-occurrence counts and neighbour lists), on a stream of Zipf(0.8)
//    items over 10,000 (or 2,000) items and 10,000 users, after a warm-up of
//    1M events; items per second are learn() calls, since a repeat (an item
//    still in the user's window) learns nothing;
//  - top-10 over 10,000 scored items (popularity's ranking: a scan of the
//    scores with 20 excluded items);
//  - popularity's, item_similarity's and recommend's process() per event
//    through their specs, with and without emitting recommendations, on the
//    generated clickstream.
// Otherwise items per second = events (or rankings) per second. One core,
// CPU time.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/recommend.h"
#include "item_similarity/item_similarity.h"
#include "popularity/popularity.h"
#include "support.h"

namespace eddy::bench {
namespace {

constexpr uint32_t kItems = 10'000;
constexpr uint32_t kUsers = 10'000;
constexpr size_t kHistory = 10;

/// A Zipf(0.8)-like stream of (user, item) events, items distinct per user window.
struct Stream {
    std::vector<uint32_t> users;
    std::vector<uint32_t> items;
};

const Stream& stream(uint32_t items) {
    static std::vector<std::pair<uint32_t, std::unique_ptr<Stream>>> made;
    for (const auto& [n, s] : made) {
        if (n == items) {
            return *s;
        }
    }
    made.emplace_back(items, std::make_unique<Stream>([items] {
                          Stream out;
                          std::mt19937_64 rng(17);
                          std::vector<double> weights(items);
                          for (uint32_t i = 0; i < items; ++i) {
                              weights[i] = 1 / std::pow(i + 1.0, 0.8);
                          }
                          std::discrete_distribution<uint32_t> item(weights.begin(), weights.end());
                          std::uniform_int_distribution<uint32_t> user(0, kUsers - 1);
                          for (int e = 0; e < 4'000'000; ++e) {
                              out.users.push_back(user(rng));
                              out.items.push_back(item(rng));
                          }
                          return out;
                      }()));
    return *made.back().second;
}

void BM_ItemSimilarityModelUpdate(benchmark::State& state) {
    const auto items = static_cast<uint32_t>(state.range(0));
    const Stream& s = stream(items);
    SimilarityModel model;
    std::vector<uint32_t> index(items);
    std::string id;
    for (uint32_t i = 0; i < items; ++i) {
        encode_item_id(Value::integer(i), id);
        bool created = false;
        index[i] = model.items().intern(id, created, [&model](uint32_t k) { model.add_item(k); });
    }
    // Each user's kHistory latest distinct items, oldest first, in one flat
    // array, so that the loop costs little besides learn().
    std::vector<uint32_t> windows(static_cast<size_t>(kUsers) * kHistory);
    std::vector<uint8_t> sizes(kUsers, 0);
    size_t next = 0;
    int64_t updates = 0;
    auto step = [&] {
        uint32_t user = s.users[next];
        uint32_t item = index[s.items[next]];
        next = next + 1 == s.users.size() ? 0 : next + 1;
        uint32_t* w = windows.data() + static_cast<size_t>(user) * kHistory;
        size_t n = sizes[user];
        uint32_t* at = std::find(w, w + n, item);
        if (at != w + n) {
            std::rotate(at, at + 1, w + n);  // a repeat only moves to the most recent place
            return;
        }
        model.learn(item, std::span<const uint32_t>(w, n), 50);
        ++updates;
        if (n == kHistory) {
            std::copy(w + 1, w + n, w);
            --n;
        }
        w[n] = item;
        sizes[user] = static_cast<uint8_t>(n + 1);
    };
    for (int e = 0; e < 1'000'000; ++e) {
        step();  // warm-up: rows and neighbour lists filled
    }
    updates = 0;
    for (auto _ : state) {
        step();
    }
    state.SetItemsProcessed(updates);
    state.counters["repeats"] =
        1 - static_cast<double>(updates) / static_cast<double>(state.iterations());
    state.counters["pairs"] = static_cast<double>(model.pairs());
}
BENCHMARK(BM_ItemSimilarityModelUpdate)->Arg(10'000)->Arg(2'000)->MinTime(2.0);

void BM_TopTenOf10kItems(benchmark::State& state) {
    PopularityModel model;
    std::string id;
    std::mt19937_64 rng(5);
    for (uint32_t i = 0; i < kItems; ++i) {
        encode_item_id(Value::integer(i), id);
        bool created = false;
        uint32_t k = model.items().intern(id, created, [&model](uint32_t x) { model.add_item(x); });
        model.add(0, k, 1 + static_cast<double>(rng() % 100000), 0, 0);
    }
    std::vector<uint32_t> seen;
    for (int i = 0; i < 20; ++i) {
        seen.push_back(static_cast<uint32_t>(rng() % kItems));
    }
    TopN top;
    ItemMarks marks;
    size_t found = 0;
    for (auto _ : state) {
        marks.clear(model.items().size());
        for (uint32_t k : seen) {
            marks.mark(k);
        }
        top.reset(10);
        model.scan(0, [&](uint32_t k, double s) {
            if (top.admits(s) && !marks.marked(k) && model.items().ready(k)) {
                top.offer(s, k);
            }
        });
        found += top.sorted().size();
    }
    benchmark::DoNotOptimize(found);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopTenOf10kItems)->Unit(benchmark::kMicrosecond);

void BM_RecommenderProcess(benchmark::State& state, const std::string& type,
                           const std::string& params) {
    Driver driver(one_operator(type, "key: user_id, " + params));
    Events& input = events(200'000, 10'000);
    size_t batch = 0;
    size_t i = 0;
    for (auto _ : state) {
        driver.process(input.batches[batch][i]);
        if (++i == input.batches[batch].size()) {
            driver.drain();
            i = 0;
            batch = batch + 1 == input.batches.size() ? 0 : batch + 1;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_RecommenderProcess, item_similarity_update_only,
                  std::string("item_similarity"), std::string("emit: false"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, item_similarity_emit_top10, std::string("item_similarity"),
                  std::string("emit: true"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, item_similarity_evaluate, std::string("item_similarity"),
                  std::string("emit: false, evaluate: true"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, popularity_update_only, std::string("popularity"),
                  std::string("emit: false"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, popularity_emit_top10, std::string("popularity"),
                  std::string("emit: true"));
// The hybrid: learning only (co-occurrence, popularity, 5 BPR steps of 32
// factors), and emitting the top 10 after every event (a blend over every
// item: the latency of one recommendation), with and without mf.
BENCHMARK_CAPTURE(BM_RecommenderProcess, recommend_learn_only, std::string("recommend"),
                  std::string("emit: false"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, recommend_emit_top10, std::string("recommend"),
                  std::string("emit: true"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, recommend_emit_top10_without_mf, std::string("recommend"),
                  std::string("emit: true, factors: 0"));
BENCHMARK_CAPTURE(BM_RecommenderProcess, recommend_evaluate, std::string("recommend"),
                  std::string("emit: false, evaluate: true"));

}  // namespace
}  // namespace eddy::bench
