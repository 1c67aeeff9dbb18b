// SPDX-License-Identifier: Apache-2.0
// The statistics of the `experiment` operator (docs/experiment.md).
#include <algorithm>
#include <cmath>
#include <limits>

#include "experiment/experiment.h"

namespace eddy::experiment {
namespace {

double log_beta(double a, double b) {
    return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
}

/// sum_{i=0}^{a_b-1} B(a_a+i, b_a+b_b) / ((b_b+i) B(1+i, b_b) B(a_a, b_a)) = P(X_B > X_A).
/// Consecutive terms have the ratio (a_a+i)(b_b+i) / ((a_a+b_a+b_b+i)(1+i)), so
/// each costs a few multiplications; the running term and sum are kept
/// scaled by exp(log_scale) so that neither underflows nor overflows.
double miller_sum(double a_a, double b_a, double a_b, double b_b) {
    constexpr double kRescale = 1e150;
    const double log_rescale = std::log(kRescale);
    double log_scale = log_beta(a_a, b_a + b_b) - log_beta(a_a, b_a);
    double term = 1;
    double sum = 0;
    const auto terms = static_cast<int64_t>(a_b);
    for (int64_t i = 0; i < terms; ++i) {
        sum += term;
        const auto x = static_cast<double>(i);
        double ratio = (a_a + x) * (b_b + x) / ((a_a + b_a + b_b + x) * (1 + x));
        term *= ratio;
        // ratio < 1 exactly when i > (a_a * b_b - (a_a + b_a + b_b)) / (b_a + 1),
        // so once below 1 it stays below 1: every later term is smaller than
        // this one, and the rest is at most term * (terms left).
        if (ratio < 1 && term * static_cast<double>(terms - i - 1) < 1e-16 * sum) {
            break;
        }
        if (term > kRescale) {
            term /= kRescale;
            sum /= kRescale;
            log_scale += log_rescale;
        }
    }
    if (sum <= 0) {
        return 0;
    }
    return std::exp(std::log(sum) + log_scale);
}

}  // namespace

double normal_cdf(double z) {
    return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

double normal_quantile(double p) {
    double lo = -40;
    double hi = 40;
    for (int i = 0; i < 200 && lo < hi; ++i) {
        double mid = 0.5 * (lo + hi);
        if (mid == lo || mid == hi) {
            break;
        }
        (normal_cdf(mid) < p ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

Interval wilson_interval(double s, double n, double z) {
    const double p = s / n;
    const double z2 = z * z;
    const double denom = 1 + z2 / n;
    const double center = (p + z2 / (2 * n)) / denom;
    const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom;
    return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

Comparison compare(int64_t s_t, int64_t n_t, int64_t s_c, int64_t n_c, double z_crit) {
    Comparison c;
    const auto st = static_cast<double>(s_t), nt = static_cast<double>(n_t);
    const auto sc = static_cast<double>(s_c), nc = static_cast<double>(n_c);
    const double pt = st / nt;
    const double pc = sc / nc;
    c.diff = pt - pc;
    const double se = std::sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc);
    c.diff_ci = {c.diff - z_crit * se, c.diff + z_crit * se};
    c.lift = pc > 0 ? c.diff / pc : std::numeric_limits<double>::quiet_NaN();
    const double pooled = (st + sc) / (nt + nc);
    const double se_pooled = std::sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc));
    if (se_pooled > 0) {
        c.z = c.diff / se_pooled;
        c.p_value = std::erfc(std::abs(c.z) / std::sqrt(2.0));
    }
    c.p_beat = prob_beta_greater(1 + s_c, 1 + n_c - s_c, 1 + s_t, 1 + n_t - s_t);
    return c;
}

double prob_beta_greater(int64_t a_a, int64_t b_a, int64_t a_b, int64_t b_b) {
    // P(X_B > X_A) = 1 - P(X_A > X_B), and with 1 - X ~ Beta(b, a) also
    // P(1 - X_A > 1 - X_B) and 1 - P(1 - X_B > 1 - X_A): the sum runs over
    // the second argument's `a`, so take the form whose count is smallest.
    const auto aa = static_cast<double>(a_a), ba = static_cast<double>(b_a);
    const auto ab = static_cast<double>(a_b), bb = static_cast<double>(b_b);
    const int64_t fewest = std::min({a_a, a_b, b_a, b_b});
    double p = 0;
    if (fewest == a_b) {
        p = miller_sum(aa, ba, ab, bb);
    } else if (fewest == a_a) {
        p = 1 - miller_sum(ab, bb, aa, ba);
    } else if (fewest == b_a) {
        p = miller_sum(bb, ab, ba, aa);
    } else {
        p = 1 - miller_sum(ba, aa, bb, ab);
    }
    return std::clamp(p, 0.0, 1.0);
}

}  // namespace eddy::experiment
