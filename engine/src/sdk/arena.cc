// SPDX-License-Identifier: Apache-2.0
#include "eddy/arena.h"

#include <algorithm>
#include <cstring>

namespace eddy {

void* Arena::allocate(size_t n, size_t align) {
    if (!blocks_.empty()) {
        size_t aligned = (offset_ + align - 1) & ~(align - 1);
        if (aligned + n <= blocks_.back().size) {
            offset_ = aligned + n;
            used_ += n;
            return blocks_.back().data.get() + aligned;
        }
    }
    size_t size = std::max(block_size_, n + align);
    blocks_.push_back({std::make_unique<std::byte[]>(size), size});
    auto base = reinterpret_cast<uintptr_t>(blocks_.back().data.get());
    size_t aligned = ((base + align - 1) & ~(align - 1)) - base;
    offset_ = aligned + n;
    used_ += n;
    return blocks_.back().data.get() + aligned;
}

std::string_view Arena::copy(std::string_view s) {
    if (s.empty()) {
        return {};
    }
    char* p = static_cast<char*>(allocate(s.size(), 1));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
}

std::span<const float> Arena::copy(std::span<const float> v) {
    if (v.empty()) {
        return {};
    }
    float* p = static_cast<float*>(allocate(v.size() * sizeof(float), alignof(float)));
    std::memcpy(p, v.data(), v.size() * sizeof(float));
    return {p, v.size()};
}

size_t Arena::reserved() const {
    size_t total = 0;
    for (const Block& b : blocks_) {
        total += b.size;
    }
    return total;
}

void Arena::reset() {
    if (blocks_.size() > 1) {
        // Replace the blocks by one that holds them all, so that a batch of the
        // same size fits in one block from now on and allocates nothing.
        size_t total = 0;
        for (const Block& b : blocks_) {
            total += b.size;
        }
        blocks_.clear();
        blocks_.push_back({std::make_unique<std::byte[]>(total), total});
    }
    offset_ = 0;
    used_ = 0;
}

}  // namespace eddy
