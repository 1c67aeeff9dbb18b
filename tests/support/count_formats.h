// SPDX-License-Identifier: Apache-2.0
// Test support: two encodings of a count, so that a test can store state in
// one format and read it back in a newer one.
#pragma once

#include <cstdint>

#include "eddy/codec.h"

namespace eddy {
namespace testing {

struct CountV1 {
    int64_t n = 0;
};
struct CountV2 {
    int64_t n = 0;
};

}  // namespace testing

template <>
struct Codec<testing::CountV1> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const testing::CountV1& c, StateWriter& w) { w.i64(c.n); }
    static bool decode(StateReader& r, uint8_t, testing::CountV1& c) { return r.i64(c.n); }
};
template <>
struct Codec<testing::CountV2> {
    static constexpr uint8_t kVersion = 2;
    static void encode(const testing::CountV2& c, StateWriter& w) { w.i64(c.n); }
    static bool decode(StateReader& r, uint8_t, testing::CountV2& c) { return r.i64(c.n); }
};

}  // namespace eddy
