// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eddy/config.h"
#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy::context_features {

enum class EncodeAs { kOneHot, kIndex };

/// One entry of the `encode` parameter: `<field>: {values: [...], as: one_hot|index}`.
struct EncodeRule {
    std::string field;
    std::vector<std::string> values;  ///< As written; integers and booleans as text.
    EncodeAs as = EncodeAs::kOneHot;

    /// The position of a listed `other`, which then also takes the values
    /// not listed; -1 when `other` is not listed.
    int listed_other() const;
    /// The fields it writes, in order: `<field>_<value>` per value and, unless
    /// `other` is listed, `<field>_other` (one_hot); or `<field>_index`.
    std::vector<std::string> outputs() const;
};

/// Parses the `encode` parameter (a map of field to rule), checking each rule.
/// The error is one sentence naming the field, the place and what to write.
Result<std::vector<EncodeRule>> parse_encode(const ConfigValue& block);

/// Finds a record value among a rule's values. Built in the constructor;
/// allocation-free per record.
class ValueMatcher {
public:
    static constexpr int kMissing = -1;    ///< The field is absent or null.
    static constexpr int kNotListed = -2;  ///< Present, but not among the values.

    explicit ValueMatcher(const std::vector<std::string>& values);

    /// Whether `v` can match at all: a string, an integer (as its decimal
    /// text) or a boolean (`true`, `false`). Doubles and vectors cannot.
    static bool matchable(const Value& v);

    /// The value's position in the list, kMissing, or kNotListed (also for
    /// values that are not matchable()).
    int match(const Value* v) const;

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, int, Hash, std::equal_to<>> positions_;
};

}  // namespace eddy::context_features
