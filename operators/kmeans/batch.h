// SPDX-License-Identifier: Apache-2.0
// Batch k-means (k-means++ seeding, Lloyd iterations) and the silhouette, on
// points stored row-major as floats, with a weight per dimension (1/variance
// for standardized distances, 1 for plain ones). Used by the kmeans operator
// to seed from its buffer, and by `eddy kselect`. Cold path: allocates freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eddy::kmeans {

/// SplitMix64: a tiny seeded generator whose whole state is one integer, so
/// that state can checkpoint it.
struct Rng {
    uint64_t state = 0;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Uniform in [0, n); n > 0.
    uint64_t below(uint64_t n) { return next() % n; }
};

/// n points of d dimensions, row-major, and the weight of each dimension.
struct Points {
    const float* data = nullptr;
    size_t n = 0;
    size_t d = 0;
    const double* weights = nullptr;  ///< d weights; nullptr: all 1.
    const float* row(size_t i) const { return data + i * d; }
};

/// Weighted squared distance between two d-vectors.
double distance2(const float* a, const float* b, const double* weights, size_t d);

struct Clustering {
    std::vector<float> centroids;  ///< k x d, row-major.
    std::vector<int32_t> labels;   ///< Per point, its centroid.
    std::vector<double> sizes;     ///< Points per centroid.
    std::vector<double> sse;       ///< Sum of squared distances per centroid.
    double inertia = 0;            ///< Sum of sse.
    int iterations = 0;
};

/// Greedy k-means++ (as scikit-learn: 2 + ln k candidates per step, the one
/// that lowers the potential most wins). Needs k <= n.
std::vector<float> plus_plus(const Points& x, size_t k, Rng& rng);

/// Lloyd iterations from `init` until no label changes or `max_iter`. An
/// empty cluster takes the point furthest from its centroid.
Clustering lloyd(const Points& x, size_t k, std::vector<float> init, int max_iter = 300);

/// The best (lowest inertia) of `n_init` k-means++ + Lloyd runs. Needs k <= n.
Clustering best_of(const Points& x, size_t k, int n_init, Rng& rng, int max_iter = 300);

/// Labels (nearest centroid) and inertia of `centroids` on `x`.
Clustering assign(const Points& x, size_t k, const std::vector<float>& centroids);

/// Mean silhouette of `labels` (Rousseeuw; a point alone in its cluster
/// scores 0). O(n^2 d). Returns 0 when fewer than two clusters are used.
double silhouette(const Points& x, const std::vector<int32_t>& labels, size_t k);

}  // namespace eddy::kmeans
