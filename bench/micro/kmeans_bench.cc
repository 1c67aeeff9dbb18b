// SPDX-License-Identifier: Apache-2.0
// Online k-means: the model update (nearest of k = 8 centroids in d = 16,
// then the centroid step) with and without the running standardization, and
// the whole `kmeans` operator per record (read the vector, update, ADWIN,
// reservoir, segment-change check per key). Points come from 8 Gaussian
// blobs. Reported as items (points) per second on one core.
#include <random>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kmeans/kmeans.h"
#include "support.h"

namespace eddy::bench {
namespace {

constexpr size_t kK = 8;
constexpr size_t kD = 16;
constexpr size_t kPoints = 1 << 14;

std::vector<float> blob_points(size_t n, size_t d, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> box(-10, 10);
    std::normal_distribution<float> noise(0, 1);
    std::vector<float> centres(kK * d);
    for (float& c : centres) {
        c = box(rng);
    }
    std::vector<float> x(n * d);
    for (size_t i = 0; i < n; ++i) {
        size_t b = rng() % kK;
        for (size_t j = 0; j < d; ++j) {
            x[i * d + j] = centres[b * d + j] + noise(rng);
        }
    }
    return x;
}

/// A model seeded from the first 256 points.
void seeded(KmeansModel& m, const std::vector<float>& x, bool standardized) {
    std::vector<double> w(kD, 1.0);
    if (!kmeans::prepare(m, kK, kD, 256, 42)) {
        fail("cannot prepare the model");
    }
    for (size_t i = 0; m.current_phase() == kmeans::Phase::kBuffering; ++i) {
        std::span<const float> p(&x[i * kD], kD);
        if (standardized) {
            kmeans::standardize(m, p, w.data());
        }
        kmeans::buffer(m, p, 3, standardized);
    }
}

void BM_KmeansUpdate(benchmark::State& state) {
    const bool standardized = state.range(0) != 0;
    std::vector<float> x = blob_points(kPoints, kD, 7);
    KmeansModel m;
    seeded(m, x, standardized);
    std::vector<double> w(kD, 1.0);
    size_t i = 0;
    int64_t segments = 0;
    for (auto _ : state) {
        std::span<const float> p(&x[i * kD], kD);
        if (standardized) {
            kmeans::standardize(m, p, w.data());
        }
        segments += kmeans::learn(m, p, w.data(), 0.9999).segment;
        i = (i + 1) % kPoints;
    }
    benchmark::DoNotOptimize(segments);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KmeansUpdate)->ArgName("standardize")->Arg(0)->Arg(1);

void BM_KmeansOperator(benchmark::State& state) {
    Driver driver(one_operator("kmeans", "key: id, field: features, k: 8"));
    std::vector<float> x = blob_points(kPoints, kD, 9);
    const FieldId features = fields().intern("features");
    const FieldId id = fields().intern("id");
    const FieldId ts = fields().intern("ts");
    Batch batch;
    for (size_t i = 0; i < kPoints; ++i) {
        Record& r = batch.append();
        r.set_time(static_cast<int64_t>(i));
        r.set(ts, static_cast<int64_t>(i));
        r.set(id, "u" + std::to_string(i % 5000));
        r.set(features, std::span<const float>(&x[i * kD], kD));
    }
    size_t i = 0;
    size_t emitted = 0;
    for (auto _ : state) {
        driver.process(batch[i]);
        if (++i == kPoints) {
            i = 0;
            emitted += driver.drain();
        }
    }
    emitted += driver.drain();
    state.SetItemsProcessed(state.iterations());
    state.counters["outputs_per_point"] =
        static_cast<double>(emitted) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_KmeansOperator);

}  // namespace
}  // namespace eddy::bench
