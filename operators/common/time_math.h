// SPDX-License-Identifier: Apache-2.0
// Integer arithmetic on event times (milliseconds) that windows, buckets
// and timers share: division that rounds towards minus infinity, so that
// times before 1970 fall into the right bucket, and addition that
// saturates at the ends of int64 instead of wrapping.
#pragma once

#include <cstdint>
#include <limits>

namespace eddy {

/// a / b rounded down (towards minus infinity); b > 0.
inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/// a + b, clamped to [INT64_MIN, INT64_MAX] (kEndOfTime) on overflow.
inline int64_t sat_add(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    }
    return r;
}

}  // namespace eddy
