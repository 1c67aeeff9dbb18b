// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eddy/codec.h"
#include "eddy/spec.h"

#include "common/quantile_sketch.h"

namespace eddy {

/// The `segment` operator's spec: rule-based segments over profile fields,
/// emitted when a key's segment changes.
ComponentSpec segment_spec();

/// The running distribution of one field used by percentile conditions, and
/// the thresholds last read from it (refreshed as the count grows; kept in
/// state so that a restored run uses the same thresholds as an uninterrupted one).
struct FieldPercentiles {
    std::string field;
    QuantileSketch sketch;
    uint64_t refreshed_at = 0;       ///< sketch.count() when `thresholds` were computed.
    std::vector<double> quantiles;   ///< q in [0, 1] of each percentile condition.
    std::vector<double> thresholds;  ///< The sketch's quantile(q), same order.
};

/// Every field with percentile conditions, by name (operator-wide, per shard).
struct SegmentStats {
    std::vector<FieldPercentiles> fields;
};

template <>
struct Codec<SegmentStats> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const SegmentStats& s, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, SegmentStats& s);
    static void to_json(const SegmentStats& s, JsonWriter& j);
};

}  // namespace eddy
