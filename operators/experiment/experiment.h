// SPDX-License-Identifier: Apache-2.0
// The `experiment` operator: per variant of an A/B test and per tumbling
// event-time window, exposed and converting users, clicks over impressions,
// Wilson intervals, a two-proportion z-test and P(beat control) against the
// control variant, for the window and since the start. Design:
// docs/experiment.md. stats.cc holds the statistics, state.cc the state
// types' codecs, operator.cc the operator, spec.cc its spec.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"

namespace eddy {

/// The `experiment` operator's spec (spec.cc).
ComponentSpec experiment_spec();
/// Makes the operator from validated parameters (operator.cc).
std::unique_ptr<Operator> make_experiment(const Config& cfg);

namespace experiment {

// ---- Statistics (stats.cc) ------------------------------------------------

/// The standard normal CDF.
double normal_cdf(double z);
/// The standard normal quantile: x with normal_cdf(x) = p, for 0 < p < 1
/// (bisection refined to double precision; for configuration, not per record).
double normal_quantile(double p);

struct Interval {
    double low = 0;
    double high = 0;
};

/// The Wilson score interval of s successes in n > 0 trials (0 <= s <= n)
/// for the two-sided critical value z.
Interval wilson_interval(double s, double n, double z);

/// A treatment's proportion against the control's.
struct Comparison {
    double diff = 0;      ///< p_t - p_c.
    Interval diff_ci;     ///< Unpooled (Wald) interval of the difference.
    double lift = 0;      ///< diff / p_c; NaN when p_c = 0.
    double z = 0;         ///< Pooled two-proportion z statistic (0 when the pooled rate is 0 or 1).
    double p_value = 1;   ///< Two-sided: 2 (1 - Phi(|z|)).
    double p_beat = 0.5;  ///< P(p_t > p_c) under Beta(1 + s, 1 + n - s) posteriors.
};

/// Compares s_t of n_t (treatment) with s_c of n_c (control); n_t, n_c > 0,
/// s <= n. `z_crit` is the critical value of the difference's interval.
Comparison compare(int64_t s_t, int64_t n_t, int64_t s_c, int64_t n_c, double z_crit);

/// P(X_B > X_A) for independent X_A ~ Beta(a_a, b_a), X_B ~ Beta(a_b, b_b)
/// with positive integer parameters, by the exact finite sum (Miller 2015)
/// over the smallest of the four parameters, with early termination once the
/// rest of the sum is below 1e-16 of it. Deterministic.
double prob_beta_greater(int64_t a_a, int64_t b_a, int64_t a_b, int64_t b_b);

// ---- State (state.cc) -----------------------------------------------------

inline constexpr int64_t kNoWindow = std::numeric_limits<int64_t>::max();

/// One user's membership of one open window.
struct UserWindow {
    int64_t start = 0;
    bool exposed = false;
    bool converted = false;
};

/// What the operator keeps per user (KeyedValue<UserState> `users`), so that
/// users are counted once per window and once since the start, whatever the
/// order of their events.
struct UserState {
    uint32_t variant = UINT32_MAX;        ///< Index into Totals::variants; UINT32_MAX: none yet.
    int64_t first_exposed = kNoWindow;    ///< Start of the earliest window with an exposure.
    int64_t first_converted = kNoWindow;  ///< Start of the earliest window with a conversion.
    std::vector<UserWindow> windows;      ///< Open windows the user has events in, by start.
};

/// Counts of one variant in one window.
struct VariantCounts {
    int64_t users = 0;           ///< Distinct exposed users in the window.
    int64_t converters = 0;      ///< Of those, users with a conversion in the window.
    int64_t impressions = 0;     ///< Impression events.
    int64_t clicks = 0;          ///< Click events.
    int64_t new_users = 0;       ///< Users whose earliest exposure is in this window.
    int64_t new_converters = 0;  ///< Users who first count as converters in this window.
};

/// An open window: per variant, its counts (indexed like Totals::variants).
struct OpenWindow {
    int64_t start = 0;
    std::vector<VariantCounts> counts;
};

/// Operator-wide state (Global<Totals> `totals`): the variants in order of
/// appearance, the open windows, and the figures since the start summed over
/// every emitted window.
struct Totals {
    std::vector<std::string> variants;
    std::vector<OpenWindow> windows;        ///< By start.
    std::vector<VariantCounts> cumulative;  ///< By variant; new_users/new_converters unused.
    int64_t users = 0;                      ///< Users tracked (every variant).
};

}  // namespace experiment

template <>
struct Codec<experiment::UserState> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const experiment::UserState& u, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, experiment::UserState& u);
    static void to_json(const experiment::UserState& u, JsonWriter& j);
    static size_t heap_bytes(const experiment::UserState& u) { return heap_bytes_of(u.windows); }
};

template <>
struct Codec<experiment::Totals> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const experiment::Totals& t, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, experiment::Totals& t);
    static void to_json(const experiment::Totals& t, JsonWriter& j);
};

}  // namespace eddy
