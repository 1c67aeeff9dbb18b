// SPDX-License-Identifier: Apache-2.0
// The HyperLogLog distinct-count sketch: accuracy, sparse/dense, merges, codec.
#include "common/hyperloglog.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

namespace eddy {
namespace {

double relative_error(double estimate, double truth) {
    return std::abs(estimate - truth) / truth;
}

HyperLogLog with_strings(int from, int to, int precision = HyperLogLog::kDefaultPrecision) {
    HyperLogLog h(precision);
    for (int i = from; i < to; ++i) {
        std::string s = "user-" + std::to_string(i);
        h.add(Value::string_view(s));
    }
    return h;
}

TEST(HyperLogLogTest, EmptySketchEstimatesZero) {
    HyperLogLog h;
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.estimate(), 0.0);
}

TEST(HyperLogLogTest, SmallCountsAreExactWhenRoundedAndCloseAtAThousand) {
    for (int n : {1, 2, 3, 10, 100}) {
        EXPECT_EQ(std::llround(with_strings(0, n).estimate()), n) << n;
    }
    EXPECT_LT(relative_error(with_strings(0, 1000).estimate(), 1000), 0.01);
}

TEST(HyperLogLogTest, DuplicatesDoNotCount) {
    HyperLogLog h;
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 50; ++i) {
            h.add(Value::integer(i));
        }
    }
    EXPECT_EQ(std::llround(h.estimate()), 50);
}

TEST(HyperLogLogTest, RelativeErrorWithinTwoPercentAtOneHundredThousandDistinct) {
    for (int seed = 0; seed < 5; ++seed) {
        int from = seed * 1'000'000;
        HyperLogLog h = with_strings(from, from + 100'000);
        EXPECT_FALSE(h.is_sparse());
        EXPECT_LT(relative_error(h.estimate(), 100'000), 0.02) << "seed " << seed;
    }
}

TEST(HyperLogLogTest, AccurateAcrossTheSparseToDenseSwitchAndAtAMillion) {
    // 2048 entries is the sparse limit at precision 14: check around it.
    for (int n : {1500, 2000, 2100, 5000, 20'000, 50'000, 1'000'000}) {
        EXPECT_LT(relative_error(with_strings(0, n).estimate(), n), 0.025) << n;
    }
}

TEST(HyperLogLogTest, IntsAndIntegralDoublesCountAlikeButStringsDiffer) {
    HyperLogLog h;
    h.add(Value::integer(5));
    h.add(Value::number(5.0));
    EXPECT_EQ(std::llround(h.estimate()), 1);
    h.add(Value::string_view("5"));
    h.add(Value::number(5.5));
    h.add(Value::boolean(true));
    EXPECT_EQ(std::llround(h.estimate()), 4);
}

TEST(HyperLogLogTest, MergeEqualsTheUnionForSparseAndDense) {
    HyperLogLog a = with_strings(0, 60'000);
    HyperLogLog b = with_strings(40'000, 100'000);
    HyperLogLog all = with_strings(0, 100'000);
    ASSERT_TRUE(a.merge(b));
    EXPECT_EQ(a.estimate(), all.estimate());  // registers are a max: merge is exact

    HyperLogLog small1 = with_strings(0, 30);
    HyperLogLog small2 = with_strings(20, 50);
    ASSERT_TRUE(small1.merge(small2));
    EXPECT_TRUE(small1.is_sparse());
    EXPECT_EQ(std::llround(small1.estimate()), 50);

    HyperLogLog sparse_into_dense = with_strings(0, 100'000);
    ASSERT_TRUE(sparse_into_dense.merge(with_strings(0, 10)));
    EXPECT_EQ(sparse_into_dense.estimate(), all.estimate());
}

TEST(HyperLogLogTest, MergeRefusesAnotherPrecision) {
    HyperLogLog a(14);
    HyperLogLog b(12);
    b.add(Value::integer(1));
    EXPECT_FALSE(a.merge(b));
    EXPECT_TRUE(a.empty());
}

TEST(HyperLogLogTest, ClearKeepsNothing) {
    HyperLogLog h = with_strings(0, 10'000);
    h.clear();
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.estimate(), 0.0);
    h.add(Value::integer(1));
    EXPECT_EQ(std::llround(h.estimate()), 1);
}

TEST(HyperLogLogTest, CodecRoundTripsSparseAndDense) {
    for (int n : {0, 7, 3000}) {
        HyperLogLog h = with_strings(0, n, 12);
        std::string bytes = encode_state(h);
        HyperLogLog back;
        ASSERT_TRUE(decode_state(bytes, back)) << n;
        EXPECT_EQ(back.precision(), 12);
        EXPECT_EQ(back.is_sparse(), h.is_sparse());
        EXPECT_EQ(back.estimate(), h.estimate());
        EXPECT_EQ(encode_state(back), bytes);
    }
    // Sparse encodings are small: a few bytes per value.
    EXPECT_LT(encode_state(with_strings(0, 7)).size(), 30u);
}

TEST(HyperLogLogTest, DecodeRejectsMalformedInput) {
    std::string bytes = encode_state(with_strings(0, 20));
    HyperLogLog back;
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 1), back));
    EXPECT_FALSE(decode_state(std::string("\x01\x30\x00", 3), back));  // precision 48
    EXPECT_FALSE(decode_state(std::string("\x01\x0e\x07", 3), back));  // unknown mode
}

TEST(HyperLogLogTest, HashesAreStableAcrossRuns) {
    // Stored sketches must stay mergeable with new ones: pin a few hashes.
    EXPECT_EQ(hash_bytes("", 0), hash_bytes("", 0));
    EXPECT_NE(hash_value(Value::string_view("a")), hash_value(Value::string_view("b")));
    EXPECT_EQ(hash_value(Value::string_view("user-1")), 0x0d7993100da321a2ULL);
}

}  // namespace
}  // namespace eddy
