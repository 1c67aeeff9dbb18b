// SPDX-License-Identifier: Apache-2.0
#include "state/expiry.h"

#include <algorithm>
#include <cstring>

#include "eddy/codec.h"

#include "state/layout.h"

namespace eddy::state {

std::string Expiry::encode() const {
    std::string out;
    StateWriter w(out);
    w.i64(ttl_ms);
    w.varint(now.size());
    for (int64_t t : now) {
        w.i64(t);
    }
    return out;
}

std::optional<Expiry> Expiry::decode(std::string_view bytes) {
    StateReader r(bytes);
    Expiry e;
    uint64_t shards = 0;
    if (!r.i64(e.ttl_ms) || !r.varint(shards) || shards == 0 || shards > 65536) {
        return std::nullopt;
    }
    e.now.resize(shards);
    for (int64_t& t : e.now) {
        r.i64(t);
    }
    if (!r.done()) {
        return std::nullopt;
    }
    return e;
}

int64_t Expiry::cutoff() const {
    return now.empty() ? 0 : *std::min_element(now.begin(), now.end());
}

bool Expiry::expired(std::string_view encoded_key, std::string_view stored) const {
    if (ttl_ms <= 0 || now.empty() || stored.size() < sizeof(int64_t)) {
        return false;
    }
    int64_t touched = 0;
    std::memcpy(&touched, stored.data(), sizeof touched);
    // The owner of the key group, as runtime/key_groups.h assigns them.
    uint64_t group = key_group_of_encoded(encoded_key);
    size_t shard = static_cast<size_t>(group * now.size() / 4096);
    return touched + ttl_ms < now[shard];
}

}  // namespace eddy::state
