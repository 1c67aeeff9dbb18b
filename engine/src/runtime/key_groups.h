// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <cstring>

#include "eddy/value.h"

namespace eddy {

/// Keys are hashed into a fixed number of key groups; a shard owns a
/// contiguous range of groups, so state can be re-split when parallelism changes.
inline constexpr uint32_t kKeyGroups = 4096;

/// A stable 64-bit FNV-1a hash of a key's bytes (the same on every run and machine).
inline uint64_t hash_key(const Value& key) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const void* data, size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (size_t i = 0; i < n; ++i) {
            h ^= p[i];
            h *= 1099511628211ull;
        }
    };
    switch (key.type()) {
        case ValueType::kString:
            mix(key.as_string().data(), key.as_string().size());
            break;
        case ValueType::kInt: {
            int64_t i = key.as_int();
            mix(&i, sizeof i);
            break;
        }
        case ValueType::kDouble: {
            double d = key.as_double();
            mix(&d, sizeof d);
            break;
        }
        case ValueType::kBool: {
            unsigned char b = key.as_bool() ? 1 : 0;
            mix(&b, 1);
            break;
        }
        case ValueType::kVector:
            mix(key.as_vector().data(), key.as_vector().size_bytes());
            break;
        case ValueType::kNull:
            break;
    }
    return h;
}

inline uint32_t key_group(const Value& key) {
    return static_cast<uint32_t>(hash_key(key) % kKeyGroups);
}

/// The shard in [0, parallelism) that owns a key group.
inline int shard_of_key_group(uint32_t group, int parallelism) {
    return static_cast<int>(static_cast<uint64_t>(group) * static_cast<uint64_t>(parallelism) /
                            kKeyGroups);
}

}  // namespace eddy
