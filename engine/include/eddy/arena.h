// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace eddy {

/// Bump allocator for the strings and vectors of one batch. Memory handed out
/// stays valid until reset(); reset() keeps the largest block for reuse, so a
/// batch that is cleared and refilled allocates nothing in the steady state.
/// Not thread-safe: a batch belongs to one thread at a time.
class Arena {
public:
    explicit Arena(size_t block_size = 64 * 1024) : block_size_(block_size) {}
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    /// `n` bytes aligned to `align` (a power of two).
    void* allocate(size_t n, size_t align = alignof(std::max_align_t));

    /// A copy of `s` that lives as long as the arena's current generation.
    std::string_view copy(std::string_view s);
    std::span<const float> copy(std::span<const float> v);

    /// Forgets everything allocated; keeps one block of memory.
    void reset();

    /// Bytes handed out since the last reset.
    size_t used() const { return used_; }
    /// Bytes of memory held, in `block_count()` blocks.
    size_t reserved() const;
    size_t block_count() const { return blocks_.size(); }

private:
    struct Block {
        std::unique_ptr<std::byte[]> data;
        size_t size = 0;
    };
    std::vector<Block> blocks_;
    size_t block_size_;
    size_t offset_ = 0;  // in blocks_.back()
    size_t used_ = 0;
};

}  // namespace eddy
