// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::state {

/// What a checkpoint records of an operator's state_ttl, in meta
/// `ttl/<operator>`: the TTL and the event time ("now") of each shard, so that
/// a restored job expires exactly what the interrupted one would have, and
/// inspection shows only the keys the job can still see.
struct Expiry {
    int64_t ttl_ms = 0;
    std::vector<int64_t> now;  // per shard

    std::string encode() const;
    static std::optional<Expiry> decode(std::string_view bytes);
    /// The smallest "now": entries older than it by the TTL are gone for every shard.
    int64_t cutoff() const;
    /// Whether a keyed entry (encoded key and stored value, which starts
    /// with its 8-byte touched time) has expired for the shard that owns it.
    bool expired(std::string_view encoded_key, std::string_view stored) const;
};

}  // namespace eddy::state
