// SPDX-License-Identifier: Apache-2.0
// k-means test support: the ground-truth datasets of
// /work/shared/data/clusters-ground-truth, a batch reference (k-means++ with
// n_init restarts and Lloyd iterations, written here independently of
// operators/kmeans so that it can judge them), the adjusted Rand index, and
// seeded Gaussian blobs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "io/line_reader.h"

namespace eddy::testing {

/// n points of d floats, row-major, with their true class.
struct Dataset {
    size_t n = 0;
    size_t d = 0;
    std::vector<double> x;
    std::vector<int> labels;
    const double* row(size_t i) const { return x.data() + i * d; }
};

/// The directory of the ground-truth datasets, or "" when it is absent.
inline std::string clusters_dir() {
    std::string dir = std::string(EDDY_SHARED_DATA_DIR) + "/clusters-ground-truth";
    auto probe = LineReader::open(dir + "/iris.csv", {});
    return probe.is_ok() ? dir : "";
}

/// Reads iris.csv, wine_data.csv (a header line `n,d,names...`) or
/// digits.csv.gz (no header): features then the integer class per line.
inline std::optional<Dataset> load_dataset(const std::string& file) {
    auto reader = LineReader::open(clusters_dir() + "/" + file, {});
    if (!reader.is_ok()) {
        return std::nullopt;
    }
    const bool header = file.find(".gz") == std::string::npos;
    Dataset ds;
    LineReader::Line line;
    bool first = true;
    while (true) {
        auto ev = reader.value()->next(line);
        if (!ev.is_ok() || *ev == LineReader::Event::kEnd) {
            break;
        }
        if (*ev != LineReader::Event::kLine || line.text.empty()) {
            continue;
        }
        if (first && header) {
            first = false;
            continue;
        }
        first = false;
        std::vector<double> cells;
        std::string text(line.text);
        const char* p = text.c_str();
        while (*p != '\0') {
            char* end = nullptr;
            cells.push_back(std::strtod(p, &end));
            p = *end == ',' ? end + 1 : end;
            if (end == p && *p != '\0') {
                ++p;
            }
        }
        if (cells.size() < 2) {
            continue;
        }
        if (ds.d == 0) {
            ds.d = cells.size() - 1;
        }
        ds.x.insert(ds.x.end(), cells.begin(), cells.end() - 1);
        ds.labels.push_back(static_cast<int>(cells.back()));
        ++ds.n;
    }
    return ds;
}

/// Per-dimension mean and population standard deviation (1 when constant),
/// as scikit-learn's StandardScaler.
struct Scaler {
    std::vector<double> mean;
    std::vector<double> sd;
    static Scaler fit(const Dataset& ds) {
        Scaler s;
        s.mean.assign(ds.d, 0);
        s.sd.assign(ds.d, 0);
        for (size_t i = 0; i < ds.n; ++i) {
            for (size_t j = 0; j < ds.d; ++j) {
                s.mean[j] += ds.row(i)[j] / static_cast<double>(ds.n);
            }
        }
        for (size_t i = 0; i < ds.n; ++i) {
            for (size_t j = 0; j < ds.d; ++j) {
                double v = ds.row(i)[j] - s.mean[j];
                s.sd[j] += v * v / static_cast<double>(ds.n);
            }
        }
        for (double& v : s.sd) {
            v = v > 1e-12 ? std::sqrt(v) : 1.0;
        }
        return s;
    }
    Dataset transform(const Dataset& ds) const {
        Dataset z = ds;
        for (size_t i = 0; i < ds.n; ++i) {
            for (size_t j = 0; j < ds.d; ++j) {
                z.x[i * ds.d + j] = (ds.row(i)[j] - mean[j]) / sd[j];
            }
        }
        return z;
    }
    /// Centroids in input units (k x d) to standardized units.
    std::vector<double> transform(const std::vector<double>& c) const {
        std::vector<double> z = c;
        for (size_t i = 0; i < c.size(); ++i) {
            z[i] = (c[i] - mean[i % mean.size()]) / sd[i % sd.size()];
        }
        return z;
    }
};

inline double sq_distance(const double* a, const double* b, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; ++i) {
        s += (a[i] - b[i]) * (a[i] - b[i]);
    }
    return s;
}

/// Nearest-centroid labels and the inertia (sum of squared distances).
inline double inertia_of(const Dataset& ds, const std::vector<double>& centroids, size_t k,
                         std::vector<int>* labels = nullptr) {
    double total = 0;
    if (labels != nullptr) {
        labels->assign(ds.n, 0);
    }
    for (size_t i = 0; i < ds.n; ++i) {
        double best = std::numeric_limits<double>::infinity();
        for (size_t j = 0; j < k; ++j) {
            double dist = sq_distance(ds.row(i), &centroids[j * ds.d], ds.d);
            if (dist < best) {
                best = dist;
                if (labels != nullptr) {
                    (*labels)[i] = static_cast<int>(j);
                }
            }
        }
        total += best;
    }
    return total;
}

/// Batch k-means as scikit-learn's KMeans(init="k-means++", n_init): greedy
/// k-means++ (2 + ln k trials), Lloyd until labels stop changing (at most
/// 300 iterations), the lowest inertia of `n_init` runs.
struct BatchKmeans {
    std::vector<double> centroids;
    std::vector<int> labels;
    double inertia = std::numeric_limits<double>::infinity();
};

inline BatchKmeans batch_kmeans(const Dataset& ds, size_t k, int n_init, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(0, 1);
    const size_t n = ds.n;
    const size_t d = ds.d;
    BatchKmeans best;
    for (int run = 0; run < n_init; ++run) {
        std::vector<double> c(k * d);
        size_t first = rng() % n;
        std::copy(ds.row(first), ds.row(first) + d, c.begin());
        std::vector<double> closest(n);
        for (size_t i = 0; i < n; ++i) {
            closest[i] = sq_distance(ds.row(i), c.data(), d);
        }
        const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
        for (size_t j = 1; j < k; ++j) {
            double potential = 0;
            for (double v : closest) {
                potential += v;
            }
            size_t pick_best = 0;
            double best_pot = std::numeric_limits<double>::infinity();
            std::vector<double> best_closest;
            for (int t = 0; t < trials; ++t) {
                double r = uniform(rng) * potential;
                size_t pick = n - 1;
                for (size_t i = 0; i < n; ++i) {
                    r -= closest[i];
                    if (r < 0) {
                        pick = i;
                        break;
                    }
                }
                std::vector<double> cand(n);
                double pot = 0;
                for (size_t i = 0; i < n; ++i) {
                    cand[i] = std::min(closest[i], sq_distance(ds.row(i), ds.row(pick), d));
                    pot += cand[i];
                }
                if (pot < best_pot) {
                    best_pot = pot;
                    pick_best = pick;
                    best_closest = std::move(cand);
                }
            }
            std::copy(ds.row(pick_best), ds.row(pick_best) + d, c.begin() + j * d);
            closest = std::move(best_closest);
        }
        std::vector<int> labels;
        double inertia = inertia_of(ds, c, k, &labels);
        for (int iter = 0; iter < 300; ++iter) {
            std::vector<double> sum(k * d, 0);
            std::vector<double> count(k, 0);
            for (size_t i = 0; i < n; ++i) {
                auto l = static_cast<size_t>(labels[i]);
                count[l] += 1;
                for (size_t t = 0; t < d; ++t) {
                    sum[l * d + t] += ds.row(i)[t];
                }
            }
            for (size_t j = 0; j < k; ++j) {
                if (count[j] > 0) {
                    for (size_t t = 0; t < d; ++t) {
                        c[j * d + t] = sum[j * d + t] / count[j];
                    }
                }
            }
            std::vector<int> next;
            inertia = inertia_of(ds, c, k, &next);
            if (next == labels) {
                break;
            }
            labels = std::move(next);
        }
        if (inertia < best.inertia) {
            best = {c, labels, inertia};
        }
    }
    return best;
}

/// Adjusted Rand index (Hubert and Arabie) of two labelings of the same points.
inline double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b) {
    std::map<std::pair<int, int>, double> joint;
    std::map<int, double> ra;
    std::map<int, double> rb;
    for (size_t i = 0; i < a.size(); ++i) {
        joint[{a[i], b[i]}] += 1;
        ra[a[i]] += 1;
        rb[b[i]] += 1;
    }
    auto pairs = [](double x) { return x * (x - 1) / 2; };
    double index = 0;
    double sa = 0;
    double sb = 0;
    for (const auto& [ab, v] : joint) {
        index += pairs(v);
    }
    for (const auto& [l, v] : ra) {
        sa += pairs(v);
    }
    for (const auto& [l, v] : rb) {
        sb += pairs(v);
    }
    double expected = sa * sb / pairs(static_cast<double>(a.size()));
    double max_index = (sa + sb) / 2;
    if (max_index == expected) {
        return 1.0;
    }
    return (index - expected) / (max_index - expected);
}

/// `per_blob` points around each of `blobs` centres drawn uniformly in
/// [-10, 10]^d, unit standard deviation (scikit-learn's make_blobs).
inline Dataset make_blobs(size_t blobs, size_t per_blob, size_t d, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> box(-10, 10);
    std::normal_distribution<double> noise(0, 1);
    std::vector<double> centres(blobs * d);
    for (double& c : centres) {
        c = box(rng);
    }
    Dataset ds;
    ds.d = d;
    for (size_t b = 0; b < blobs; ++b) {
        for (size_t i = 0; i < per_blob; ++i) {
            for (size_t t = 0; t < d; ++t) {
                ds.x.push_back(centres[b * d + t] + noise(rng));
            }
            ds.labels.push_back(static_cast<int>(b));
            ++ds.n;
        }
    }
    return ds;
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t m = v.size() / 2;
    return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace eddy::testing
