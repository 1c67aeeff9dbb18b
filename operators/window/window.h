// SPDX-License-Identifier: Apache-2.0
// The `window` operator: tumbling and sliding event-time windows with
// incremental aggregation over panes. spec.cc parses and validates the YAML,
// aggregates.{h,cc} hold the per-pane aggregate states and their codecs,
// operator.cc assigns events to panes and fires windows on the watermark.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eddy/lateness.h"
#include "eddy/spec.h"

namespace eddy {

/// The `window` operator's spec.
ComponentSpec window_spec();

namespace window {

enum class AggOp { kCount, kSum, kAvg, kMin, kMax, kStddev, kDistinct, kQuantile, kFirst, kLast };

/// One `aggregations` entry: output field `name` = op(field).
struct AggregationSpec {
    std::string name;
    AggOp op = AggOp::kCount;
    std::string field;  ///< Empty for a plain `count`.
    double q = 0.5;     ///< For kQuantile.
};

/// The validated parameters of one window operator.
struct WindowConfig {
    int64_t size_ms = 0;
    int64_t slide_ms = 0;
    int64_t pane_ms = 0;  ///< gcd(size, slide): the unit of incremental aggregation.
    std::vector<AggregationSpec> aggregations;
    Lateness lateness;
};

/// Reads the parameters into `out`; returns an error sentence, or "" when valid.
std::string parse_config(const Config& cfg, WindowConfig& out);

/// The operator for a validated config.
std::unique_ptr<Operator> make_operator(const Config& cfg);

}  // namespace window
}  // namespace eddy
