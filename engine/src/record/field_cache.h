// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "eddy/value.h"

namespace eddy {

/// Resolves a field name to its id, interning it if new (ComponentContext::field
/// or FieldTable::intern). Must be callable from the decoder's thread.
using FieldResolver = std::function<FieldId(std::string_view)>;

/// A decoder's private map from field names to ids. A hit costs one hash and
/// no allocation (heterogeneous lookup); a miss asks the resolver once per name.
/// Not thread-safe: one cache per decoder.
class FieldCache {
public:
    explicit FieldCache(FieldResolver resolve) : resolve_(std::move(resolve)) {}

    FieldId get(std::string_view name) {
        auto it = ids_.find(name);
        if (it != ids_.end()) {
            return it->second;
        }
        FieldId id = resolve_(name);
        ids_.emplace(std::string(name), id);
        return id;
    }

    size_t size() const { return ids_.size(); }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    FieldResolver resolve_;
    std::unordered_map<std::string, FieldId, Hash, std::equal_to<>> ids_;
};

}  // namespace eddy
