// SPDX-License-Identifier: Apache-2.0
#include "mf/kernels.h"

#include <cstring>

namespace eddy::mf {
namespace {

/// Eight floats; GCC and Clang lower it to two SSE or one AVX register.
/// Passed by reference only: by value it would change the ABI with AVX.
using V8 = float __attribute__((vector_size(32)));
float hsum(const V8& v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

}  // namespace

// ThreadSanitizer cannot run an ifunc resolver (it runs before the TSan
// runtime starts), so sanitized builds get the default version only.
#if defined(__SANITIZE_THREAD__)
#define EDDY_SCORE_ROWS_CLONES
#else
#define EDDY_SCORE_ROWS_CLONES __attribute__((target_clones("default", "avx2")))
#endif

EDDY_SCORE_ROWS_CLONES void score_rows(const float* p, const float* q, const float* bias,
                                       uint32_t n, int k, float* out) {
    uint32_t s = 0;
    auto kk = static_cast<size_t>(k);
    if (k % 8 == 0) {
        for (; s + 4 <= n; s += 4) {
            const float* r = q + s * kk;
            V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
            V8 pv;
            V8 x0;
            V8 x1;
            V8 x2;
            V8 x3;
            for (size_t j = 0; j < kk; j += 8) {
                std::memcpy(&pv, p + j, sizeof pv);  // unaligned loads
                std::memcpy(&x0, r + j, sizeof x0);
                std::memcpy(&x1, r + kk + j, sizeof x1);
                std::memcpy(&x2, r + 2 * kk + j, sizeof x2);
                std::memcpy(&x3, r + 3 * kk + j, sizeof x3);
                a0 += pv * x0;
                a1 += pv * x1;
                a2 += pv * x2;
                a3 += pv * x3;
            }
            out[s] = bias[s] + hsum(a0);
            out[s + 1] = bias[s + 1] + hsum(a1);
            out[s + 2] = bias[s + 2] + hsum(a2);
            out[s + 3] = bias[s + 3] + hsum(a3);
        }
    }
    for (; s < n; ++s) {
        out[s] = bias[s] + dot<false>(p, q + s * kk, k);
    }
}

}  // namespace eddy::mf
