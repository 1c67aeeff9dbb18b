// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"

namespace eddy::bot_filter {

/// Marks "no time seen yet" in BotState.
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
/// The sliding window of the rate rule: one bucket per second of the last minute.
inline constexpr int kRateBuckets = 60;

/// The behaviour thresholds; 0 turns a rule off.
struct BehaviourLimits {
    int64_t max_events_per_minute = 60;
    int64_t max_pages_per_second = 5;
    double min_gap_cv = 0.35;
    int64_t min_events_for_regularity = 20;
    int64_t session_gap_ms = 30 * 60 * 1000;
};

/// Everything bot_filter keeps per key: the verdict and the behaviour
/// statistics. About 330 bytes per key; erased once the key is idle.
struct BotState {
    /// Event time (ms, exclusive) until which the key is a bot; 0 = not flagged.
    int64_t flagged_until = 0;
    std::string rule;    ///< `bot_rule` of the flag, set when it starts.
    std::string reason;  ///< `bot_reason` of the flag.

    /// Rate rule: events per second of event time, for the 60 seconds ending
    /// at `rate_head` (floor(ts / 1000) of the newest event), as a ring.
    int64_t rate_head = kNever;
    uint32_t rate_total = 0;
    std::array<uint32_t, kRateBuckets> rate_counts{};

    /// Regularity rule: Welford mean and M2 of the gaps between consecutive
    /// events of the current run (a gap above session_gap starts a new run).
    int64_t last_time = kNever;  ///< The latest event time seen.
    uint32_t gap_count = 0;      ///< Gaps in the run (events - 1).
    double gap_mean = 0;
    double gap_m2 = 0;

    /// Page rule: hashes of the distinct pages seen in second `page_second`
    /// (at most max_pages_per_second + 1 of them).
    int64_t page_second = kNever;
    std::vector<uint64_t> pages;

    /// Event time of the pending clean-up timer; 0 when none is set.
    int64_t cleanup_at = 0;

    bool operator==(const BotState&) const = default;
};

enum class BehaviourRule : uint8_t { kNone, kRate, kPageRate, kRegularGaps };

/// What observe() found: the first rule that fired and the numbers behind it.
struct Observation {
    BehaviourRule rule = BehaviourRule::kNone;
    int64_t count = 0;  ///< Events in the minute, pages in the second or events in the run.
    double mean_gap_ms = 0;
    double gap_cv = 0;
};

/// A stable 64-bit FNV-1a hash (the same in every build, so it can be stored).
uint64_t stable_hash(std::string_view s);

/// Adds one event at event time `time` (ms) with page hash `page` (when
/// `has_page`) to `s` and returns the first behaviour rule that fires, in the
/// order rate, page_rate, regular_gaps. Events older than the windows update
/// only what they still belong to (see docs/bot_filter.md). Allocation-free
/// once a key's page list has grown.
Observation observe(BotState& s, const BehaviourLimits& limits, int64_t time, bool has_page,
                    uint64_t page);

}  // namespace eddy::bot_filter

namespace eddy {

template <>
struct Codec<bot_filter::BotState> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const bot_filter::BotState& s, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, bot_filter::BotState& s);
    static void to_json(const bot_filter::BotState& s, JsonWriter& j);
    static size_t heap_bytes(const bot_filter::BotState& s) {
        return heap_bytes_of(s.rule) + heap_bytes_of(s.reason) + heap_bytes_of(s.pages);
    }
};

}  // namespace eddy
