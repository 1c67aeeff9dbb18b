// SPDX-License-Identifier: Apache-2.0
// The hybrid recommender's process() per event through its spec, on the
// generated clickstream (200,000 events, 10,000 users, its default catalogue
// of 5,000 items): learning only (co-occurrence, popularity, 5 BPR steps of
// 32 factors), learning and emitting the top 10 after every event (a blend
// over every item: the latency of one recommendation), and prequential
// evaluation.
#include <string>

#include <benchmark/benchmark.h>

#include "support.h"

namespace eddy::bench {
namespace {

void BM_RecommendProcess(benchmark::State& state, const std::string& params) {
    Driver driver(one_operator("recommend", "key: user_id, " + params));
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
BENCHMARK_CAPTURE(BM_RecommendProcess, learn_only, std::string("emit: false"))
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RecommendProcess, learn_and_emit_top10, std::string("emit: true"))
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RecommendProcess, learn_and_emit_top10_without_mf,
                  std::string("emit: true, factors: 0"))
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RecommendProcess, evaluate, std::string("emit: false, evaluate: true"))
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace eddy::bench
