// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "mf/model.h"

namespace eddy::mf {

/// One shard's cache of the shared item index: an open-addressing table of
/// (key hash, item index), checked against the model's copy of the key, so
/// that a known item costs one hash and one probe, with no lock.
class ItemCache {
public:
    void clear() {
        slots_.assign(kInitial, Slot{});
        used_ = 0;
    }
    /// The item's index, or ItemModel::kFull when not cached.
    uint32_t find(const ItemModel& model, std::string_view key, uint64_t hash) const {
        if (slots_.empty()) {
            return ItemModel::kFull;
        }
        size_t mask = slots_.size() - 1;
        for (size_t at = hash & mask;; at = (at + 1) & mask) {
            const Slot& s = slots_[at];
            if (s.item == ItemModel::kFull) {
                return ItemModel::kFull;
            }
            if (s.hash == hash && model.key(s.item) == key) {
                return s.item;
            }
        }
    }
    void insert(uint64_t hash, uint32_t item) {
        if (slots_.empty()) {
            clear();
        }
        if (2 * (used_ + 1) > slots_.size()) {
            grow();
        }
        place(hash, item);
        ++used_;
    }

private:
    static constexpr size_t kInitial = 1024;
    struct Slot {
        uint64_t hash = 0;
        uint32_t item = ItemModel::kFull;
    };
    void place(uint64_t hash, uint32_t item) {
        size_t mask = slots_.size() - 1;
        size_t at = hash & mask;
        while (slots_[at].item != ItemModel::kFull) {
            at = (at + 1) & mask;
        }
        slots_[at] = Slot{hash, item};
    }
    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        for (const Slot& s : old) {
            if (s.item != ItemModel::kFull) {
                place(s.hash, s.item);
            }
        }
    }
    std::vector<Slot> slots_;
    size_t used_ = 0;
};

}  // namespace eddy::mf
