// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "eddy/codec.h"
#include "eddy/spec.h"

namespace eddy {

/// The `profile` operator's spec: an exponentially decayed behavioural
/// profile per key, emitted on change at most once per `emit_every`.
ComponentSpec profile_spec();

/// "No time": no previous event, no emission yet.
inline constexpr int64_t kNoProfileTime = std::numeric_limits<int64_t>::min();

/// A category and its decayed event count.
struct CategoryScore {
    std::string name;
    double score = 0;
};

/// One key's profile. Every decayed quantity is stored as of `ref_time` (the
/// latest event time seen): value(T) = sum_i w_i * 2^(-(T - t_i) / half_life),
/// so a later reader multiplies by 2^(-(T - ref_time) / half_life).
struct ProfileState {
    int64_t ref_time = kNoProfileTime;     ///< Latest event time (ms).
    int64_t second_time = kNoProfileTime;  ///< Second-latest event time, for `recency_ms`.
    int64_t last_emit = kNoProfileTime;    ///< Event time of the last emitted profile.
    bool pending = false;                  ///< A change waits for the throttle timer.
    int64_t events = 0;                    ///< Lifetime event count (not decayed).
    int64_t purchases = 0;                 ///< Lifetime purchase count (not decayed).
    double frequency = 0;                  ///< Decayed event count.
    double dwell_sum = 0;                  ///< Decayed sum of dwell times (ms).
    double dwell_weight = 0;               ///< Decayed count of events with a dwell time.
    double scroll_sum = 0;
    double scroll_weight = 0;
    double monetary = 0;              ///< Decayed sum of purchase values.
    double buys = 0;                  ///< Decayed purchase count.
    std::vector<double> type_counts;  ///< Decayed count per `event_types` entry, in order.
    std::vector<CategoryScore> categories;
};

template <>
struct Codec<ProfileState> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const ProfileState& p, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, ProfileState& p);
    static void to_json(const ProfileState& p, JsonWriter& j);
    static size_t heap_bytes(const ProfileState& p) {
        size_t n = heap_bytes_of(p.type_counts) + heap_bytes_of(p.categories);
        for (const CategoryScore& c : p.categories) {
            n += heap_bytes_of(c.name);
        }
        return n;
    }
};

}  // namespace eddy
