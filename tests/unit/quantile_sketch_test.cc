// SPDX-License-Identifier: Apache-2.0
// QuantileSketch: exactness below k, rank error on uniform and skewed data,
// merges, determinism and the codec.
#include "common/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace eddy {
namespace {

// Largest |sketch rank - true rank| over a grid of probe values.
double max_rank_error(const QuantileSketch& s, std::vector<double> values) {
    std::sort(values.begin(), values.end());
    double worst = 0;
    for (int i = 1; i < 100; ++i) {
        double probe = values[values.size() * i / 100];
        double truth = static_cast<double>(std::upper_bound(values.begin(), values.end(), probe) -
                                           values.begin()) /
                       static_cast<double>(values.size());
        worst = std::max(worst, std::abs(s.rank(probe) - truth));
    }
    return worst;
}

// Largest |true rank of quantile(q) - q|.
double max_quantile_error(const QuantileSketch& s, std::vector<double> values) {
    std::sort(values.begin(), values.end());
    double worst = 0;
    for (int i = 1; i < 100; ++i) {
        double q = i / 100.0;
        double x = s.quantile(q);
        double lo = static_cast<double>(std::lower_bound(values.begin(), values.end(), x) -
                                        values.begin()) /
                    static_cast<double>(values.size());
        double hi = static_cast<double>(std::upper_bound(values.begin(), values.end(), x) -
                                        values.begin()) /
                    static_cast<double>(values.size());
        double err = q < lo ? lo - q : (q > hi ? q - hi : 0);
        worst = std::max(worst, err);
    }
    return worst;
}

TEST(QuantileSketchTest, EmptySketchHasNaNQuantilesAndZeroRank) {
    QuantileSketch s;
    EXPECT_EQ(s.count(), 0u);
    EXPECT_TRUE(std::isnan(s.quantile(0.5)));
    EXPECT_TRUE(std::isnan(s.quantile(0)));
    EXPECT_EQ(s.rank(42), 0);
}

TEST(QuantileSketchTest, IsExactBelowKWithLowerInvertedCdf) {
    QuantileSketch s;
    for (double v : {4.0, 1.0, 3.0, 2.0}) {
        s.add(v);
    }
    EXPECT_EQ(s.count(), 4u);
    EXPECT_EQ(s.quantile(0), 1);
    EXPECT_EQ(s.quantile(0.25), 1);  // ceil(0.25 * 4) = 1st
    EXPECT_EQ(s.quantile(0.26), 2);  // ceil(1.04) = 2nd
    EXPECT_EQ(s.quantile(0.5), 2);
    EXPECT_EQ(s.quantile(0.75), 3);
    EXPECT_EQ(s.quantile(0.76), 4);
    EXPECT_EQ(s.quantile(1), 4);
    EXPECT_EQ(s.quantile(2), 4);  // clamped
    EXPECT_EQ(s.rank(0.5), 0);
    EXPECT_EQ(s.rank(2), 0.5);
    EXPECT_EQ(s.rank(2.5), 0.5);
    EXPECT_EQ(s.rank(4), 1);
}

TEST(QuantileSketchTest, IgnoresNaN) {
    QuantileSketch s;
    s.add(std::nan(""));
    s.add(7);
    EXPECT_EQ(s.count(), 1u);
    EXPECT_EQ(s.quantile(0.5), 7);
}

TEST(QuantileSketchTest, UniformDataWithinTwoPercentAndBoundedMemory) {
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> dist(0, 1000);
    std::vector<double> values;
    QuantileSketch s;
    for (int i = 0; i < 200000; ++i) {
        values.push_back(dist(rng));
        s.add(values.back());
    }
    EXPECT_EQ(s.count(), values.size());
    EXPECT_LT(max_rank_error(s, values), 0.02);
    EXPECT_LT(max_quantile_error(s, values), 0.02);
    EXPECT_LT(s.retained(), 4u * 200 + 64);
    EXPECT_EQ(s.quantile(0), *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(s.quantile(1), *std::max_element(values.begin(), values.end()));
}

TEST(QuantileSketchTest, SkewedDataWithinTwoPercent) {
    std::mt19937_64 rng(2);
    std::lognormal_distribution<double> dist(0, 2);
    std::vector<double> values;
    QuantileSketch s;
    for (int i = 0; i < 100000; ++i) {
        // Heavy ties too: a third of the values is exactly zero.
        values.push_back(i % 3 == 0 ? 0 : dist(rng));
        s.add(values.back());
    }
    EXPECT_LT(max_rank_error(s, values), 0.02);
    EXPECT_LT(max_quantile_error(s, values), 0.02);
}

TEST(QuantileSketchTest, SortedInputWithinTwoPercent) {
    std::vector<double> values;
    QuantileSketch s;
    for (int i = 0; i < 100000; ++i) {
        values.push_back(i);
        s.add(i);
    }
    EXPECT_LT(max_rank_error(s, values), 0.02);
}

TEST(QuantileSketchTest, MergeMatchesOneSketchOverEverything) {
    std::mt19937_64 rng(3);
    std::exponential_distribution<double> dist(0.01);
    std::vector<double> values;
    QuantileSketch parts[4];
    QuantileSketch whole;
    for (int i = 0; i < 80000; ++i) {
        values.push_back(dist(rng));
        parts[i % 4].add(values.back());
        whole.add(values.back());
    }
    QuantileSketch merged;
    for (const auto& p : parts) {
        merged.merge(p);
    }
    EXPECT_EQ(merged.count(), whole.count());
    EXPECT_LT(max_rank_error(merged, values), 0.02);
    EXPECT_LT(merged.retained(), 4u * 200 + 64);
    for (double q : {0.1, 0.5, 0.9, 0.99}) {
        EXPECT_NEAR(merged.rank(merged.quantile(q)), whole.rank(whole.quantile(q)), 0.02) << q;
    }
    EXPECT_EQ(merged.quantile(0), whole.quantile(0));
    EXPECT_EQ(merged.quantile(1), whole.quantile(1));
}

TEST(QuantileSketchTest, MergeOfSmallSketchesIsExact) {
    QuantileSketch a;
    QuantileSketch b;
    QuantileSketch empty;
    for (int i = 1; i <= 5; ++i) {
        a.add(i);
        b.add(10 + i);
    }
    a.merge(b);
    a.merge(empty);
    EXPECT_EQ(a.count(), 10u);
    EXPECT_EQ(a.quantile(0.5), 5);
    EXPECT_EQ(a.quantile(0.6), 11);
    EXPECT_EQ(a.rank(11), 0.6);
    empty.merge(b);
    EXPECT_EQ(empty.quantile(0), 11);
}

TEST(QuantileSketchTest, IsDeterministicAcrossReplays) {
    QuantileSketch a;
    QuantileSketch b;
    for (int i = 0; i < 50000; ++i) {
        double v = std::fmod(i * 7919.0, 10007.0);
        a.add(v);
        b.add(v);
    }
    std::string ea;
    std::string eb;
    StateWriter wa(ea);
    StateWriter wb(eb);
    a.encode(wa);
    b.encode(wb);
    EXPECT_EQ(ea, eb);
}

TEST(QuantileSketchTest, EncodeDecodeRoundTripsAndContinuesIdentically) {
    QuantileSketch s(64);
    for (int i = 0; i < 10000; ++i) {
        s.add(std::fmod(i * 31.0, 997.0));
    }
    std::string bytes = encode_state(s);
    QuantileSketch restored;
    ASSERT_TRUE(decode_state(bytes, restored));
    EXPECT_EQ(restored.k(), 64);
    EXPECT_EQ(restored.count(), s.count());
    EXPECT_EQ(encode_state(restored), bytes);
    for (double q : {0.0, 0.1, 0.5, 0.9, 1.0}) {
        EXPECT_EQ(restored.quantile(q), s.quantile(q));
    }
    // Continuing after a restore gives the same sketch as never stopping.
    for (int i = 0; i < 5000; ++i) {
        s.add(i);
        restored.add(i);
    }
    EXPECT_EQ(encode_state(restored), encode_state(s));

    QuantileSketch empty;
    QuantileSketch empty_restored(16);
    ASSERT_TRUE(decode_state(encode_state(empty), empty_restored));
    EXPECT_EQ(empty_restored.count(), 0u);
    EXPECT_TRUE(std::isnan(empty_restored.quantile(0.5)));
}

TEST(QuantileSketchTest, DecodeRejectsTruncatedOrInconsistentBytes) {
    QuantileSketch s;
    for (int i = 0; i < 1000; ++i) {
        s.add(i);
    }
    std::string bytes = encode_state(s);
    QuantileSketch out;
    EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, bytes.size() - 3), out));
    std::string tampered = bytes;
    tampered[3] = static_cast<char>(tampered[3] ^ 1);  // n (after version and k) != weights
    EXPECT_FALSE(decode_state(tampered, out));
}

}  // namespace
}  // namespace eddy
