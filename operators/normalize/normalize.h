// SPDX-License-Identifier: Apache-2.0
// The `normalize` operator: per-field scaling and category encoding with
// statistics learned per key. Semantics and state: docs/normalize.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"

#include "common/quantile_sketch.h"

namespace eddy {

/// The `normalize` operator's spec (spec.cc): per field z-score, percentile
/// rank, min-max, log1p, one-hot or a stable index, with the learned
/// statistics kept per key (docs/normalize.md).
ComponentSpec normalize_spec();
/// Makes the operator from validated parameters (operator.cc).
std::unique_ptr<Operator> make_normalize(const Config& cfg);

enum class NormalizeMethod : uint8_t { kZscore, kPercentile, kMinmax, kLog1p, kOneHot, kIndex };
inline constexpr NormalizeMethod kNormalizeMethods[] = {
    NormalizeMethod::kZscore, NormalizeMethod::kPercentile, NormalizeMethod::kMinmax,
    NormalizeMethod::kLog1p,  NormalizeMethod::kOneHot,     NormalizeMethod::kIndex};

/// "zscore", "percentile", "minmax", "log1p", "one_hot" or "index".
const char* normalize_method_name(NormalizeMethod method);

/// What one (field, method) has learned in one group (key). Which members
/// are used depends on the method.
struct NormalizeStats {
    std::string field;
    NormalizeMethod method = NormalizeMethod::kZscore;
    uint64_t count = 0;                      ///< Values learned (zscore, minmax).
    double mean = 0;                         ///< zscore: running mean (Welford).
    double m2 = 0;                           ///< zscore: sum of squared deviations from the mean.
    double min = 0;                          ///< minmax: smallest value learned (when count > 0).
    double max = 0;                          ///< minmax: largest value learned (when count > 0).
    std::unique_ptr<QuantileSketch> sketch;  ///< percentile: the values' distribution.
    std::vector<std::string> values;         ///< index: categories by first appearance.
    std::vector<uint32_t> sorted;  ///< index: positions in `values`, by value (not stored).

    /// The position of `value` in `values`, or -1.
    int64_t find(std::string_view value) const;
    /// Appends `value` to `values` (not present) and returns its position.
    int64_t add(std::string_view value);
    /// Rebuilds `sorted` from `values`.
    void sort_values();
};

/// One group's statistics: one entry per (field, method) that learns, in
/// the order of `fields`. `layout` fingerprints that list, so that state
/// written by another configuration is matched up by field and method when
/// a group is next used.
struct NormalizeGroup {
    uint64_t layout = 0;
    std::vector<NormalizeStats> stats;
};

template <>
struct Codec<NormalizeGroup> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const NormalizeGroup& g, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, NormalizeGroup& g);
    static void to_json(const NormalizeGroup& g, JsonWriter& j);
    static size_t heap_bytes(const NormalizeGroup& g);
};

/// Defaults of the per-method options `k` (percentile) and `max_values` (index).
inline constexpr int kNormalizeSketchK = 200;
inline constexpr int64_t kNormalizeMaxValues = 1000;

/// One configured (field, method), as parsed from `fields`.
struct NormalizeEntry {
    std::string field;
    NormalizeMethod method = NormalizeMethod::kZscore;
    /// The output field; for one_hot the prefix of its columns `<prefix>_<value>`.
    std::string output;
    bool erase_input = false;  ///< one_hot with `replace`: the input field is removed.
    std::optional<double> min;
    std::optional<double> max;
    bool clip = true;
    int k = kNormalizeSketchK;
    std::vector<std::string> values;  ///< one_hot and index: the configured vocabulary.
    int64_t max_values = kNormalizeMaxValues;

    /// Whether the entry keeps statistics per group.
    bool learns() const {
        switch (method) {
            case NormalizeMethod::kZscore:
            case NormalizeMethod::kPercentile:
                return true;
            case NormalizeMethod::kMinmax:
                return !min || !max;
            case NormalizeMethod::kIndex:
                return values.empty();
            default:
                return false;
        }
    }
};

/// Reads `fields` (validated or not) into `out`, in order; returns an error
/// sentence naming the place, or "" (spec.cc).
std::string parse_normalize_fields(const ConfigValue& fields, bool replace,
                                   std::vector<NormalizeEntry>& out);

/// A fingerprint of the (field, method) list of the entries that learn; never 0.
uint64_t normalize_layout(const std::vector<NormalizeEntry>& entries);

}  // namespace eddy
