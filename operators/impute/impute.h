// SPDX-License-Identifier: Apache-2.0
// The `impute` operator: fills missing values per field (constant, running
// mean or median, last value of the key, an `unknown` category).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/spec.h"
#include "eddy/value.h"

#include "common/field_rules.h"
#include "common/owned_value.h"
#include "common/quantile_sketch.h"

namespace eddy {

/// The `impute` operator's spec.
ComponentSpec impute_spec();

/// A running statistic of one field, over all records or one group's.
struct RunningStat {
    int64_t count = 0;       ///< Values seen.
    double mean = 0;         ///< Their mean, updated incrementally.
    bool all_ints = true;    ///< Whether every value was an int (the median is then one).
    QuantileSketch sketch;   ///< The values, for `median` fields only.
    double median = 0;       ///< The median as last read from the sketch...
    uint64_t median_at = 0;  ///< ...when it had this many values (0: never read).

    void add(double x, bool is_int, bool keep_sketch);
    /// The median, re-read from the sketch when it is stale: after every
    /// new value up to 128 values, then after every count/128 new values.
    double current_median();
};

/// The statistics of one `mean` or `median` field.
struct FieldStats {
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::string field;
    RunningStat all;
    /// By group value, encoded as a state key (encode_state_key()).
    std::unordered_map<std::string, RunningStat, Hash, std::equal_to<>> groups;
};

/// Every `mean` and `median` field's statistics, by field name.
struct ImputeStats {
    std::vector<FieldStats> fields;
};

/// A key's last seen value of each `last` field, by field name.
struct LastValues {
    std::vector<std::pair<std::string, OwnedValue>> fields;
};

template <>
struct Codec<ImputeStats> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const ImputeStats& s, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, ImputeStats& s);
    static void to_json(const ImputeStats& s, JsonWriter& j);
};

template <>
struct Codec<LastValues> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const LastValues& l, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, LastValues& l);
    static void to_json(const LastValues& l, JsonWriter& j);
    static size_t heap_bytes(const LastValues& l);
};

namespace impute {

enum class Strategy { kConstant, kMean, kMedian, kLast, kUnknown };

/// One field's configuration, parsed from `fields.<name>`.
struct FieldRule {
    std::string name;
    Strategy strategy = Strategy::kConstant;
    OwnedValue value;                    ///< constant and unknown: the fill
    std::optional<OwnedValue> fallback;  ///< mean, median, last: before any value
    std::string group_by;                ///< mean, median: empty for none
    int64_t min_count = 1;               ///< mean, median: values a statistic needs
    bool flag = false;
    std::vector<Literal> missing_values;  ///< besides absent and null
};

/// Reads `fields`; returns every problem found (empty when the config is fine).
std::vector<std::string> parse_rules(const Config& cfg, std::vector<FieldRule>& rules);

/// `text` as a value: of `type` (string, int, number, bool) when given,
/// otherwise true/false, an integer, a number or else a string.
std::optional<OwnedValue> parse_constant(const std::string& text, std::string_view type);

/// Makes the operator from a validated config.
Result<std::unique_ptr<Operator>> make_operator(const Config& cfg);

}  // namespace impute
}  // namespace eddy
