// SPDX-License-Identifier: Apache-2.0
#include "kmeans/batch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace eddy::kmeans {

double distance2(const float* a, const float* b, const double* weights, size_t d) {
    double s = 0;
    if (weights == nullptr) {
        for (size_t i = 0; i < d; ++i) {
            double diff = static_cast<double>(a[i]) - b[i];
            s += diff * diff;
        }
        return s;
    }
    for (size_t i = 0; i < d; ++i) {
        double diff = static_cast<double>(a[i]) - b[i];
        s += weights[i] * diff * diff;
    }
    return s;
}

namespace {

/// Index of the first cumulative weight above r * total (linear scan).
size_t sample_index(const std::vector<double>& weights, double total, Rng& rng) {
    double r = rng.uniform() * total;
    for (size_t i = 0; i < weights.size(); ++i) {
        r -= weights[i];
        if (r < 0) {
            return i;
        }
    }
    for (size_t i = weights.size(); i-- > 0;) {
        if (weights[i] > 0) {
            return i;
        }
    }
    return weights.size() - 1;
}

}  // namespace

std::vector<float> plus_plus(const Points& x, size_t k, Rng& rng) {
    const size_t d = x.d;
    std::vector<float> centers(k * d);
    size_t first = rng.below(x.n);
    std::copy(x.row(first), x.row(first) + d, centers.begin());
    std::vector<double> closest(x.n);
    double potential = 0;
    for (size_t i = 0; i < x.n; ++i) {
        closest[i] = distance2(x.row(i), centers.data(), x.weights, d);
        potential += closest[i];
    }
    const size_t trials = 2 + static_cast<size_t>(std::log(static_cast<double>(k)));
    std::vector<double> candidate(x.n);
    std::vector<double> best_closest(x.n);
    for (size_t c = 1; c < k; ++c) {
        size_t best = 0;
        double best_potential = std::numeric_limits<double>::infinity();
        for (size_t t = 0; t < trials; ++t) {
            size_t pick = potential > 0 ? sample_index(closest, potential, rng) : rng.below(x.n);
            double p = 0;
            for (size_t i = 0; i < x.n; ++i) {
                candidate[i] = std::min(closest[i], distance2(x.row(i), x.row(pick), x.weights, d));
                p += candidate[i];
            }
            if (p < best_potential) {
                best_potential = p;
                best = pick;
                best_closest.swap(candidate);
            }
        }
        std::copy(x.row(best), x.row(best) + d, centers.begin() + static_cast<long>(c * d));
        closest.swap(best_closest);
        potential = best_potential;
    }
    return centers;
}

Clustering assign(const Points& x, size_t k, const std::vector<float>& centroids) {
    Clustering out;
    out.centroids = centroids;
    out.labels.assign(x.n, 0);
    out.sizes.assign(k, 0);
    out.sse.assign(k, 0);
    for (size_t i = 0; i < x.n; ++i) {
        double best = std::numeric_limits<double>::infinity();
        int32_t label = 0;
        for (size_t j = 0; j < k; ++j) {
            double dist = distance2(x.row(i), &centroids[j * x.d], x.weights, x.d);
            if (dist < best) {
                best = dist;
                label = static_cast<int32_t>(j);
            }
        }
        out.labels[i] = label;
        out.sizes[static_cast<size_t>(label)] += 1;
        out.sse[static_cast<size_t>(label)] += best;
        out.inertia += best;
    }
    return out;
}

Clustering lloyd(const Points& x, size_t k, std::vector<float> init, int max_iter) {
    const size_t d = x.d;
    Clustering c = assign(x, k, init);
    std::vector<double> sums(k * d);
    for (int iter = 1; iter <= max_iter; ++iter) {
        c.iterations = iter;
        std::fill(sums.begin(), sums.end(), 0.0);
        for (size_t i = 0; i < x.n; ++i) {
            double* s = &sums[static_cast<size_t>(c.labels[i]) * d];
            const float* p = x.row(i);
            for (size_t t = 0; t < d; ++t) {
                s[t] += p[t];
            }
        }
        for (size_t j = 0; j < k; ++j) {
            if (c.sizes[j] > 0) {
                for (size_t t = 0; t < d; ++t) {
                    init[j * d + t] = static_cast<float>(sums[j * d + t] / c.sizes[j]);
                }
                continue;
            }
            // An empty cluster restarts at the point furthest from its centroid.
            size_t far = 0;
            double far_d = -1;
            for (size_t i = 0; i < x.n; ++i) {
                double dist =
                    distance2(x.row(i), &init[static_cast<size_t>(c.labels[i]) * d], x.weights, d);
                if (dist > far_d) {
                    far_d = dist;
                    far = i;
                }
            }
            std::copy(x.row(far), x.row(far) + d, init.begin() + static_cast<long>(j * d));
        }
        Clustering next = assign(x, k, init);
        next.iterations = iter;
        bool same = next.labels == c.labels;
        c = std::move(next);
        if (same) {
            break;
        }
    }
    return c;
}

Clustering best_of(const Points& x, size_t k, int n_init, Rng& rng, int max_iter) {
    Clustering best;
    best.inertia = std::numeric_limits<double>::infinity();
    for (int r = 0; r < std::max(1, n_init); ++r) {
        Clustering c = lloyd(x, k, plus_plus(x, k, rng), max_iter);
        if (c.inertia < best.inertia) {
            best = std::move(c);
        }
    }
    return best;
}

double silhouette(const Points& x, const std::vector<int32_t>& labels, size_t k) {
    std::vector<double> sizes(k, 0);
    for (int32_t l : labels) {
        sizes[static_cast<size_t>(l)] += 1;
    }
    if (std::count_if(sizes.begin(), sizes.end(), [](double s) { return s > 0; }) < 2) {
        return 0;
    }
    std::vector<double> sums(k);
    double total = 0;
    for (size_t i = 0; i < x.n; ++i) {
        std::fill(sums.begin(), sums.end(), 0.0);
        for (size_t j = 0; j < x.n; ++j) {
            if (j != i) {
                sums[static_cast<size_t>(labels[j])] +=
                    std::sqrt(distance2(x.row(i), x.row(j), x.weights, x.d));
            }
        }
        const auto own = static_cast<size_t>(labels[i]);
        if (sizes[own] <= 1) {
            continue;  // s = 0
        }
        double a = sums[own] / (sizes[own] - 1);
        double b = std::numeric_limits<double>::infinity();
        for (size_t c = 0; c < k; ++c) {
            if (c != own && sizes[c] > 0) {
                b = std::min(b, sums[c] / sizes[c]);
            }
        }
        double m = std::max(a, b);
        total += m > 0 ? (b - a) / m : 0;
    }
    return total / static_cast<double>(x.n);
}

}  // namespace eddy::kmeans
