// SPDX-License-Identifier: Apache-2.0
// Per-event cost of each built-in operator of topologies/behaviour.yaml, with
// the same parameters: process() per record on generated events (200k events,
// 10k users, replayed with times shifted forward), plus the timers it sets,
// fired as the runtime fires them (watermark = max time - 30 s - 1 after every
// batch of 1024 records). Reported as items (events) per second.
#include <string>

#include <benchmark/benchmark.h>

#include "support.h"

namespace eddy::bench {
namespace {

constexpr int64_t kEvents = 200'000;
constexpr int64_t kUsers = 10'000;
constexpr int64_t kOutOfOrdernessMs = 30'000;

/// Shifts every record's time by `ms` (records are replayed as later events).
void shift(Events& events, int64_t ms) {
    for (Batch& b : events.batches) {
        for (size_t i = 0; i < b.size(); ++i) {
            b[i].set_time(b[i].time() + ms);
        }
    }
}

void drive(benchmark::State& state, Driver& driver, Events& input) {
    const int64_t span = input.last_time - input.first_time + 60 * 60 * 1000;
    int64_t shifted = 0;
    int64_t max_seen = kNoWatermark;
    size_t batch = 0;
    size_t i = 0;
    size_t emitted = 0;
    for (auto _ : state) {
        Record& r = input.batches[batch][i];
        driver.process(r);
        max_seen = std::max(max_seen, r.time());
        if (++i < input.batches[batch].size()) {
            continue;
        }
        driver.advance(max_seen - kOutOfOrdernessMs - 1);
        emitted += driver.drain();
        i = 0;
        if (++batch == input.batches.size()) {
            state.PauseTiming();
            shift(input, span);
            shifted += span;
            batch = 0;
            state.ResumeTiming();
        }
    }
    shift(input, -shifted);
    state.SetItemsProcessed(state.iterations());
    state.counters["outputs_per_event"] =
        static_cast<double>(emitted) / static_cast<double>(state.iterations());
}

Events& clickstream() {
    return events(kEvents, kUsers);
}

void BM_Operator(benchmark::State& state, const std::string& type, const std::string& params) {
    Driver driver(one_operator(type, params));
    drive(state, driver, clickstream());
}

const std::string kCategories =
    "[shoes, electronics, books, home, garden, toys, beauty, sports, fashion, grocery]";
const std::string kProfile = "key: user_id, half_life: 7d, categories: " + kCategories;

BENCHMARK_CAPTURE(BM_Operator, bot_filter, std::string("bot_filter"), std::string("key: user_id"));
BENCHMARK_CAPTURE(BM_Operator, sessionizer, std::string("sessionizer"),
                  std::string("key: user_id, gap: 30m, annotate: true"));
BENCHMARK_CAPTURE(BM_Operator, window_user_minute, std::string("window"),
                  std::string("key: user_id, size: 1m, aggregations: {events: {op: count}, "
                              "pages: {op: distinct, field: url}, "
                              "dwell_avg: {op: avg, field: dwell_ms}}"));
BENCHMARK_CAPTURE(BM_Operator, window_user_10m, std::string("window"),
                  std::string("key: user_id, size: 10m, slide: 1m, aggregations: {events: "
                              "{op: count}, dwell_total: {op: sum, field: dwell_ms}, "
                              "scroll_max: {op: max, field: scroll_pct}}"));
BENCHMARK_CAPTURE(BM_Operator, window_site_minute, std::string("window"),
                  std::string("size: 1m, aggregations: {events: {op: count}, users: {op: "
                              "distinct, field: user_id}, dwell_p50: {op: quantile, field: "
                              "dwell_ms, q: 0.5}, dwell_p90: {op: quantile, field: dwell_ms, "
                              "q: 0.9}}"));
BENCHMARK_CAPTURE(BM_Operator, window_site_10m, std::string("window"),
                  std::string("size: 10m, slide: 1m, aggregations: {events: {op: count}, "
                              "users: {op: distinct, field: user_id}, dwell_avg: {op: avg, "
                              "field: dwell_ms}, dwell_stddev: {op: stddev, field: dwell_ms}}"));
BENCHMARK_CAPTURE(BM_Operator, profile, std::string("profile"), kProfile + ", emit_every: 10m");

/// segment reads profiles: its input is the profile operator's output on
/// the clickstream, with a profile per event (emit_every: 0s).
void BM_Segment(benchmark::State& state) {
    static Events profiles = [] {
        Events out;
        Driver profile(one_operator("profile", kProfile + ", emit_every: 0s"));
        Events& input = clickstream();
        for (Batch& b : input.batches) {
            for (size_t i = 0; i < b.size(); ++i) {
                profile.process(b[i]);
            }
            Batch copy;
            profile.main_output().copy_to(copy);
            profile.drain();
            for (size_t i = 0; i < copy.size(); ++i) {
                out.last_time = std::max(out.last_time, copy[i].time());
                out.first_time = out.size == 0 ? copy[i].time() : out.first_time;
                ++out.size;
            }
            out.batches.push_back(std::move(copy));
        }
        return out;
    }();
    Driver driver(one_operator(
        "segment",
        "key: user_id, default: casual, rules: [{name: buyer, when: {purchases: \">= 1\"}}, "
        "{name: engaged, when: {dwell_avg: \"> p75\", frequency: \">= 10\"}}, "
        "{name: browser, when: {n_page_view: \">= 5\"}}]"));
    drive(state, driver, profiles);
}
BENCHMARK(BM_Segment);

}  // namespace
}  // namespace eddy::bench
