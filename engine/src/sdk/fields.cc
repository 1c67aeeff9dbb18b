// SPDX-License-Identifier: Apache-2.0
#include "eddy/fields.h"

#include <mutex>

namespace eddy {

FieldId FieldTable::intern(std::string_view name) {
    {
        std::shared_lock lock(mu_);
        auto it = ids_.find(name);
        if (it != ids_.end()) {
            return it->second;
        }
    }
    std::unique_lock lock(mu_);
    auto it = ids_.find(name);
    if (it != ids_.end()) {
        return it->second;
    }
    auto id = static_cast<FieldId>(names_.size());
    names_.emplace_back(name);
    ids_.emplace(names_.back(), id);
    return id;
}

FieldId FieldTable::find(std::string_view name) const {
    std::shared_lock lock(mu_);
    auto it = ids_.find(name);
    return it == ids_.end() ? kInvalidField : it->second;
}

std::string_view FieldTable::name(FieldId id) const {
    std::shared_lock lock(mu_);
    return id < names_.size() ? std::string_view(names_[id]) : std::string_view();
}

size_t FieldTable::size() const {
    std::shared_lock lock(mu_);
    return names_.size();
}

}  // namespace eddy
