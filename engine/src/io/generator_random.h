// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace eddy::io::sampling {

// Deterministic numerics. std:: distributions and libm's log/exp may differ
// between implementations, so sampling uses only +, -, *, /, sqrt, frexp and
// ldexp, which IEEE-754 defines exactly.

constexpr double kLn2 = 0.693147180559945309417;

inline double det_log(double x) {
    int e = 0;
    double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
    if (m < 0.707106781186547524) {
        m *= 2;
        --e;
    }
    const double f = (m - 1) / (m + 1);  // |f| < 0.172: the atanh series converges fast
    const double f2 = f * f;
    double term = f;
    double sum = 0;
    for (int k = 1; k <= 25; k += 2) {
        sum += term / k;
        term *= f2;
    }
    return 2 * sum + e * kLn2;
}

inline double det_exp(double x) {
    x = std::clamp(x, -700.0, 700.0);
    const double k = std::floor(x / kLn2 + 0.5);
    const double r = x - k * kLn2;  // |r| <= 0.35
    double term = 1;
    double sum = 1;
    for (int i = 1; i <= 17; ++i) {
        term *= r / i;
        sum += term;
    }
    return std::ldexp(sum, static_cast<int>(k));
}

inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// SplitMix64: 8 bytes of state, so every user can own one stream.
class Rng {
public:
    explicit Rng(uint64_t seed = 0) : s_(seed) {}
    uint64_t next() { return mix64(s_ += 0x9e3779b97f4a7c15ULL); }
    /// [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double a, double b) { return a + (b - a) * uniform(); }
    /// [0, n), n > 0 (Lemire's multiply-shift).
    uint64_t below(uint64_t n) {
        __extension__ using U128 = unsigned __int128;
        return static_cast<uint64_t>((static_cast<U128>(next()) * n) >> 64);
    }
    int64_t between(int64_t lo, int64_t hi) {  // [lo, hi]
        return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
    }
    bool chance(double p) { return uniform() < p; }
    double exponential(double mean) { return -mean * det_log(1.0 - uniform()); }
    double normal() {  // Marsaglia's polar method
        for (;;) {
            const double a = 2 * uniform() - 1;
            const double b = 2 * uniform() - 1;
            const double s = a * a + b * b;
            if (s > 0 && s < 1) {
                return a * std::sqrt(-2 * det_log(s) / s);
            }
        }
    }
    double lognormal(double median, double sigma) { return median * det_exp(sigma * normal()); }

private:
    uint64_t s_;
};

/// Index of the bucket of `cdf` (cumulative weights, last = total) that `u` in [0,1) falls in.
inline size_t pick(const double* cdf, size_t n, double u) {
    const double x = u * cdf[n - 1];
    const size_t i = static_cast<size_t>(std::upper_bound(cdf, cdf + n, x) - cdf);
    return std::min(i, n - 1);
}

template <size_t N>
std::array<double, N> cumulative(const std::array<double, N>& w) {
    std::array<double, N> c{};
    double sum = 0;
    for (size_t i = 0; i < N; ++i) {
        c[i] = sum += w[i];
    }
    return c;
}

}  // namespace eddy::io::sampling
