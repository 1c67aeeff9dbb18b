// SPDX-License-Identifier: Apache-2.0
// The `kmeans` operator's model (shared by every shard) and the per-shard
// monitor that watches it for drift; see docs/kmeans.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "eddy/codec.h"
#include "eddy/spec.h"
#include "eddy/state.h"

#include "drift/adwin.h"
#include "kmeans/batch.h"

namespace eddy {

/// The `kmeans` operator's spec: online k-means over a numeric vector.
ComponentSpec kmeans_spec();

namespace kmeans {

/// Relaxed atomic access to a plain member of the shared model (Hogwild!:
/// concurrent updates may overwrite each other, never tear).
template <class T>
T load(const T& v) {
    return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_relaxed);
}
template <class T>
void store(T& v, T x) {
    std::atomic_ref<T>(v).store(x, std::memory_order_relaxed);
}

/// Where the model is in its life. Only forward, except that a re-seed on
/// drift goes from kReady back to kBuffering.
enum class Phase : int32_t {
    kEmpty = 0,       ///< Dimensions unknown: nothing allocated.
    kAllocating = 1,  ///< One shard is sizing the arrays (microseconds).
    kBuffering = 2,   ///< Collecting the first `seed_points` points.
    kSeeding = 3,     ///< One shard runs k-means++ and Lloyd on the buffer.
    kReady = 4,       ///< Learning and assigning.
};

inline constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

}  // namespace kmeans

/// The operator-wide model, in Shared<> state: every shard reads and writes
/// it concurrently through kmeans::load/store and atomic_ref (no locks).
/// Centroids are kept in the input's units; with standardization the
/// distance weighs dimension i by 1 / variance_i (population variance of the
/// points seen since seeding began), which equals the Euclidean distance
/// between standardized points, so centroids need no rescaling when the
/// running variance moves.
struct KmeansModel {
    int32_t k = 0;
    int32_t dims = 0;                         ///< 0 until the first valid vector.
    int32_t phase = 0;                        ///< A kmeans::Phase.
    uint64_t rng = 0;                         ///< Seeding generator (kmeans::Rng state).
    int64_t generation = 0;                   ///< Seedings so far.
    int64_t points = 0;                       ///< Points learned since the last seeding.
    int64_t waited = 0;                       ///< Points that waited for another shard's seeding.
    int64_t buffered = 0;                     ///< Seed buffer slots claimed.
    int64_t filled = 0;                       ///< Seed buffer slots written.
    double stats_n = 0;                       ///< Points in the running mean/variance.
    std::vector<double> mean;                 ///< dims
    std::vector<double> m2;                   ///< dims; variance = m2 / stats_n
    std::vector<float> buffer;                ///< seed_points x dims
    std::vector<float> centroids;             ///< k x dims
    std::vector<double> counts;               ///< k, decayed point counts
    std::vector<double> sse;                  ///< k, decayed squared distances
    std::vector<float> previous;              ///< k x dims at the last snapshot (shard 0)
    int64_t previous_generation = -1;         ///< Generation of `previous`; -1: none.
    int64_t last_snapshot = kmeans::kNoTime;  ///< Event time of the last snapshot.
    int64_t max_time = kmeans::kNoTime;       ///< Latest event time learned.

    kmeans::Phase current_phase() const {
        return static_cast<kmeans::Phase>(
            std::atomic_ref<int32_t>(const_cast<int32_t&>(phase)).load(std::memory_order_acquire));
    }
    void set_phase(kmeans::Phase p) {
        std::atomic_ref<int32_t>(phase).store(static_cast<int32_t>(p), std::memory_order_release);
    }
};

template <>
struct Codec<KmeansModel> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const KmeansModel& m, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, KmeansModel& m);
    static void to_json(const KmeansModel& m, JsonWriter& j);
};

/// Scale-out (docs/scale-out.md, "Models"): the other processes' models
/// folded into this process's. Each of its centroids is matched to the
/// nearest unmatched centroid of each peer (greedily, closest pairs first,
/// in this model's distance) and becomes the average of the matched
/// centroids weighted by their decayed counts; counts, sse and the running
/// variance stay this process's. A model collecting its first seed points
/// adopts the ready peer model with the most points and learns its buffered
/// points into it (one re-seeding after drift seeds from its own). Peers of another k or dimension,
/// or not ready, are left out.
template <>
struct Merge<KmeansModel> {
    static void merge(KmeansModel& own, std::span<const KmeansModel* const> peers);
};

/// Per shard (Global<> state): the ADWIN detector on the distance to the
/// assigned centroid, and (shard 0) the reservoir sample of the points since
/// the last snapshot for the silhouette estimate.
struct KmeansMonitor {
    Adwin adwin;
    int64_t generation = -1;  ///< The model generation the monitor follows.
    uint64_t rng = 0;         ///< Reservoir sampling (kmeans::Rng state).
    int64_t seen = 0;         ///< Points offered to the reservoir.
    int32_t dims = 0;
    std::vector<float> sample;  ///< min(seen, sample_size) x dims
};

template <>
struct Codec<KmeansMonitor> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const KmeansMonitor& m, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, KmeansMonitor& m);
    static void to_json(const KmeansMonitor& m, JsonWriter& j);
};

namespace kmeans {

/// A learned point's centroid and weighted squared distance to it (before the update).
struct Assignment {
    int32_t segment = 0;
    double distance2 = 0;
};

/// Sizes the arrays of a model in kEmpty for `dims` dimensions and moves it
/// to kBuffering; waits while another shard does it. False when the model
/// has other dimensions or another k (a restored model of another config).
bool prepare(KmeansModel& m, int32_t k, int32_t dims, int64_t seed_points, uint64_t seed);

/// Adds `x` to the running mean and variance and writes the distance weight
/// of each dimension (1 / variance, or 1 while the variance is ~0) to `w`.
void standardize(KmeansModel& m, std::span<const float> x, double* w);

/// Buffers a point while the model is kBuffering. The shard that writes the
/// last slot seeds the model (best of `inits` k-means++ + Lloyd runs on the
/// buffer) and moves it to kReady. Returns false when the buffer was full
/// (the point was not kept: another shard is about to seed).
bool buffer(KmeansModel& m, std::span<const float> x, int inits, bool standardized);

/// How the operator learns (its configuration).
struct Learning {
    double decay = 1;
    int inits = 3;
    bool standardize = true;
};

/// One point, after prepare(): standardizes it (writing the distance
/// weights to `w`), then buffers it while the model collects its seed points
/// (nullopt) or learns it (its assignment). A point that arrives while
/// another shard writes the buffer's last slots or seeds waits for the
/// seeds (a few milliseconds, once per seeding; counted in `waited`) and is
/// then learned, so no point is lost at any parallelism.
std::optional<Assignment> add(KmeansModel& m, std::span<const float> x, double* w,
                              const Learning& how);

/// Assigns `x` to the nearest centroid (weights `w`) and moves that centroid
/// by (x - c) / n with n its decayed count (n <- decay * n + 1). The hot path:
/// no allocation, relaxed atomics only.
Assignment learn(KmeansModel& m, std::span<const float> x, const double* w, double decay);

/// The nearest centroid without learning.
Assignment nearest(const KmeansModel& m, std::span<const float> x, const double* w);

/// Current distance weights (1 / variance per dimension, or 1) without adding a point.
void weights(const KmeansModel& m, double* w);

/// Back to kBuffering for a new seeding (re-seed on drift); false when
/// another shard got there first.
bool restart(KmeansModel& m);

}  // namespace kmeans
}  // namespace eddy
