// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "eddy/codec.h"
#include "eddy/spec.h"

namespace eddy {

/// The `sessionizer` operator's spec: sessions per key closed by an inactivity
/// gap or a maximum duration, one summary per session.
ComponentSpec sessionizer_spec();

/// "No time": an absent optional time, a session that is still open, no timer.
inline constexpr int64_t kNoSessionTime = std::numeric_limits<int64_t>::min();

/// One session of one key: open, or closed and kept for corrections under
/// `on_late: update`. Times are event times in ms.
struct Session {
    std::string id;  ///< "<key>:<time of the event that opened it>", kept through merges.
    int64_t start = 0;
    int64_t last = 0;
    int64_t events = 0;
    std::vector<int64_t> counts;  ///< Per counted type, in the order of the `counts` parameter.
    int64_t dwell_ms = 0;
    double max_scroll = 0;
    bool has_scroll = false;
    std::string conversion_type;               ///< The type of the earliest conversion event.
    int64_t conversion_time = kNoSessionTime;  ///< kNoSessionTime: not converted.
    std::string entry_page;
    int64_t entry_time = kNoSessionTime;  ///< kNoSessionTime: no event had a page.
    std::string exit_page;
    int64_t exit_time = kNoSessionTime;
    std::string device;
    int64_t device_time = kNoSessionTime;
    std::string merged_ids;              ///< Comma-separated ids of sessions merged into this one.
    int64_t revision = 0;                ///< Summaries emitted so far under this id.
    int64_t closed_at = kNoSessionTime;  ///< Watermark when it closed; kNoSessionTime: open.

    bool is_open() const { return closed_at == kNoSessionTime; }
};

/// All sessions of one key, sorted by start with disjoint [start, last]
/// ranges, and the one event-time timer the key has pending.
struct KeySessions {
    std::vector<Session> sessions;
    int64_t timer = kNoSessionTime;
};

template <>
struct Codec<Session> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const Session& s, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, Session& s);
    static void to_json(const Session& s, JsonWriter& j);
};

template <>
struct Codec<KeySessions> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const KeySessions& k, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, KeySessions& k);
    static void to_json(const KeySessions& k, JsonWriter& j);
    static size_t heap_bytes(const KeySessions& k) {
        size_t n = heap_bytes_of(k.sessions);
        for (const Session& s : k.sessions) {
            n += heap_bytes_of(s.id) + heap_bytes_of(s.counts) + heap_bytes_of(s.conversion_type) +
                 heap_bytes_of(s.entry_page) + heap_bytes_of(s.exit_page) +
                 heap_bytes_of(s.device) + heap_bytes_of(s.merged_ids);
        }
        return n;
    }
};

}  // namespace eddy
