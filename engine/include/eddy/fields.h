// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <deque>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "eddy/value.h"

namespace eddy {

/// The job-wide table of interned field names. Ids are dense, start at 0 and
/// never change for the life of the job. Thread-safe; lookups take a shared
/// lock, so hot paths cache the ids they need (operators resolve them in
/// open(); decoders keep a local cache of the names they meet).
class FieldTable {
public:
    /// The id of `name`, interning it on first use.
    FieldId intern(std::string_view name);
    /// The id of `name`, or kInvalidField when it was never interned.
    FieldId find(std::string_view name) const;
    /// The name of `id`; the view stays valid for the life of the table.
    std::string_view name(FieldId id) const;
    size_t size() const;

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    mutable std::shared_mutex mu_;
    std::deque<std::string> names_;  // a deque never moves its elements
    std::unordered_map<std::string, FieldId, Hash, std::equal_to<>> ids_;
};

}  // namespace eddy
