// SPDX-License-Identifier: Apache-2.0
// mf: one SGD update per rating (explicit, 32 factors) or per event
// (implicit, BPR with sampled negatives), and a top-10 recommendation over
// a model of 10,000 items. process() is called directly on records of 10k
// users and 10k items; reported as items (events) per second.
#include <optional>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "mf/mf.h"
#include "support.h"

namespace eddy::bench {
namespace {

constexpr int64_t kUsers = 10'000;
constexpr int64_t kItems = 10'000;
constexpr size_t kEvents = 1 << 18;

/// A registry with `mf`, whether or not it is among the built-ins yet.
const Registry& registry() {
    static Registry r = [] {
        Registry copy = builtin_registry();
        if (copy.find(ComponentKind::kOperator, "mf") == nullptr) {
            Status s = copy.add(mf_spec(), "bench");
            (void)s;
        }
        return copy;
    }();
    return r;
}

ComponentDef mf_def(const std::string& params) {
    std::string yaml =
        "sources:\n  in: {type: file, path: in.jsonl}\noperators:\n  op: {type: mf, input: in, "
        "key: user_id, " +
        params + "}\nsinks:\n  out: {type: null, input: op}\n";
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "micro.yaml", diags);
    std::optional<Topology> topology;
    if (root) {
        topology = validate_topology(*root, registry(), diags);
    }
    if (!topology) {
        std::string all;
        for (const Diagnostic& d : diags.sorted()) {
            all += d.to_string() + "\n";
        }
        fail("invalid mf benchmark topology:\n" + all);
    }
    return topology->components[static_cast<size_t>(topology->find("op"))];
}

/// Ratings (or click events) of random users on Zipf-ish items, every item
/// at least once in the first kItems events so that the model is full-size.
Events& ratings() {
    static Events e = [] {
        Events out;
        std::mt19937_64 rng(7);
        FieldId user = fields().intern("user_id");
        FieldId item = fields().intern("item_id");
        FieldId rating = fields().intern("rating");
        FieldId type = fields().intern("type");
        std::uniform_int_distribution<int64_t> users(1, kUsers);
        std::uniform_real_distribution<double> u01(0, 1);
        for (size_t i = 0; i < kEvents; ++i) {
            if (out.batches.empty() || out.batches.back().full()) {
                out.batches.emplace_back();
            }
            Record& r = out.batches.back().append();
            int64_t it = i < static_cast<size_t>(kItems)
                             ? static_cast<int64_t>(i) + 1
                             : 1 + static_cast<int64_t>(kItems * u01(rng) * u01(rng));
            r.set_time(static_cast<int64_t>(i));
            r.set(user, users(rng));
            r.set(item, it);
            r.set(rating, 1 + static_cast<int64_t>(rng() % 5));
            r.set(type, std::string_view("click"));
            ++out.size;
        }
        return out;
    }();
    return e;
}

void drive(benchmark::State& state, Driver& driver) {
    Events& input = ratings();
    size_t batch = 0;
    size_t i = 0;
    for (auto _ : state) {
        driver.process(input.batches[batch][i]);
        if (++i == input.batches[batch].size()) {
            i = 0;
            driver.drain();
            batch = (batch + 1) % input.batches.size();
        }
    }
    state.SetItemsProcessed(state.iterations());
}

/// Learning only (top_n: 0): the cost of one update.
void BM_MfUpdate(benchmark::State& state, const std::string& params) {
    Driver driver(mf_def("top_n: 0, " + params));
    drive(state, driver);
}
BENCHMARK_CAPTURE(BM_MfUpdate, explicit_32, std::string("factors: 32"));
BENCHMARK_CAPTURE(BM_MfUpdate, explicit_32_evaluate, std::string("factors: 32, evaluate: true"));
BENCHMARK_CAPTURE(BM_MfUpdate, implicit_32_neg1,
                  std::string("factors: 32, mode: implicit, default_weight: 1, negatives: 1"));
BENCHMARK_CAPTURE(BM_MfUpdate, implicit_32_neg10,
                  std::string("factors: 32, mode: implicit, default_weight: 1, negatives: 10"));

/// An update plus a top-10 over the 10,000 items (excluding the user's own).
void BM_MfUpdateAndTop10(benchmark::State& state) {
    Driver driver(mf_def("factors: 32, top_n: 10"));
    Events& input = ratings();
    for (size_t b = 0; b * Batch::kDefaultCapacity < static_cast<size_t>(kItems); ++b) {
        for (size_t i = 0; i < input.batches[b].size(); ++i) {
            driver.process(input.batches[b][i]);  // every item into the model
        }
        driver.drain();
    }
    drive(state, driver);
}
BENCHMARK(BM_MfUpdateAndTop10);

}  // namespace
}  // namespace eddy::bench
