// SPDX-License-Identifier: Apache-2.0
// The numeric kernels of implicit matrix factorization, shared by `mf` and
// `recommend`: access to shared parameters, dot products, scoring rows of
// item factors, and one BPR step.
#pragma once

#include <cmath>
#include <cstdint>

#include "mf/model.h"

namespace eddy::mf {

/// Access to shared model parameters. With parallelism > 1 other shards
/// read and write them at the same time: relaxed atomics (Hogwild!). With
/// parallelism 1 nothing else touches the model, so plain (vectorizable)
/// loads and stores are race-free.
template <bool kConcurrent>
float ld(const float& x) {
    if constexpr (kConcurrent) {
        return load(x);
    } else {
        return x;
    }
}
template <bool kConcurrent>
void st(float& x, float v) {
    if constexpr (kConcurrent) {
        store(x, v);
    } else {
        x = v;
    }
}

/// p . q with q shared; eight independent lanes, so the loop vectorizes
/// (and atomic loads are not serialized behind one addition chain).
template <bool kConcurrent>
float dot(const float* p, const float* q, int k) {
    constexpr int kLanes = 8;
    float acc[kLanes] = {};
    int j = 0;
    for (; j + kLanes <= k; j += kLanes) {
        for (int l = 0; l < kLanes; ++l) {
            acc[l] += p[j + l] * ld<kConcurrent>(q[j + l]);
        }
    }
    for (; j < k; ++j) {
        acc[0] += p[j] * ld<kConcurrent>(q[j]);
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// out[s] = bias[s] + p . q_s for the n rows of k floats at q (plain loads:
/// parallelism 1 only). Four rows at a time; cloned for AVX2 CPUs.
void score_rows(const float* p, const float* q, const float* bias, uint32_t n, int k, float* out);

/// Step sizes and regularization of a BPR step.
struct BprRates {
    float learning_rate = 0.05f;
    float bias_learning_rate = 0.05f;
    float l2 = 0.02f;
    float l2_bias = 0.0f;
};

/// One BPR step (Rendle et al. 2009) for user factors p (owned by the
/// caller), positive item (qi, bi) and negative item (qc, bc), each shared,
/// scaled by the event's weight (the factor step by min(rate * weight, 1)).
template <bool kConcurrent>
void bpr_step(float* p, float* qi, float& bi, float* qc, float& bc, int k, float weight,
              const BprRates& r) {
    const float lr = std::fmin(r.learning_rate * weight, 1.0f);
    float b_pos = ld<kConcurrent>(bi);
    float b_neg = ld<kConcurrent>(bc);
    float x = (b_pos + dot<kConcurrent>(p, qi, k)) - (b_neg + dot<kConcurrent>(p, qc, k));
    float g = 1.0f / (1.0f + std::exp(x));  // sigmoid(-x)
    st<kConcurrent>(bi, b_pos + r.bias_learning_rate * weight * (g - r.l2_bias * b_pos));
    st<kConcurrent>(bc, b_neg + r.bias_learning_rate * weight * (-g - r.l2_bias * b_neg));
    for (int j = 0; j < k; ++j) {
        float pj = p[j];
        float a = ld<kConcurrent>(qi[j]);
        float b = ld<kConcurrent>(qc[j]);
        p[j] = pj + lr * (g * (a - b) - r.l2 * pj);
        st<kConcurrent>(qi[j], a + lr * (g * pj - r.l2 * a));
        st<kConcurrent>(qc[j], b + lr * (-g * pj - r.l2 * b));
    }
}

}  // namespace eddy::mf
