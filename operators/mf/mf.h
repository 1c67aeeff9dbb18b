// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"

namespace eddy {

/// The `mf` operator's spec: incremental matrix factorization (one SGD step
/// per event), with top-N recommendations and prequential evaluation.
ComponentSpec mf_spec();

namespace mf {

/// The validated parameters of one `mf` operator, read once.
struct Options {
    bool implicit = false;
    std::string item_field;
    std::string rating_field;
    std::string type_field;
    std::string filter_field;  ///< Empty: no filter.
    std::string user_field;
    int factors = 32;
    float learning_rate = 0.1f;
    float bias_learning_rate = 0.03f;
    float bias_prior = 5;
    float l2 = 0.02f;
    float l2_bias = 0;
    float init_scale = 0.05f;
    uint64_t seed = 42;
    double min_rating = 1;
    double max_rating = 5;
    std::vector<std::pair<std::string, float>> weights;
    float default_weight = 0;
    int negatives = 10;
    float recency_share = 0.5f;
    uint32_t recent_items = 1000;
    int top_n = 10;
    int64_t emit_every_updates = 1;  ///< 0 when `emit_every` is a duration.
    int64_t emit_every_ms = 0;
    bool exclude_seen = true;
    uint32_t max_seen = 1000;
    bool evaluate = false;
    int64_t metrics_every = 1000;
    size_t serve_users = 0;        ///< `serve_cache_users`
    int64_t serve_max_age_ms = 0;  ///< `serve_max_age`

    static Options from(const Config& cfg);
};

/// Makes the operator (operators/mf/operator.cc).
std::unique_ptr<Operator> make_operator(const Options& options);

}  // namespace mf
}  // namespace eddy
