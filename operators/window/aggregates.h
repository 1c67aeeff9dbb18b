// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "eddy/codec.h"
#include "eddy/value.h"

#include "common/hyperloglog.h"
#include "common/owned_value.h"
#include "common/quantile_sketch.h"

namespace eddy::window {

/// count, sum, avg, min, max and stddev of one numeric field. Sums of ints
/// stay exact int64 until a double arrives or they overflow.
struct Moments {
    uint64_t n = 0;
    bool all_int = true;
    int64_t isum = 0;
    double sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double mean = 0;  // Welford, kept only when a stddev is asked for
    double m2 = 0;

    void add(const Value& v, bool track_variance);
    void merge(const Moments& o);
};

/// Records with a non-null value of a field (`count` with a `field`).
struct Presence {
    uint64_t n = 0;
};

/// The value with the earliest (`first`) or latest (`last`) event time.
/// Ties keep the first arrival for `first` and the last arrival for `last`.
struct Pick {
    bool set = false;
    int64_t time = 0;
    OwnedValue value;

    void offer_first(const Value& v, int64_t t);
    void offer_last(const Value& v, int64_t t);
    void merge_first(const Pick& o);
    void merge_last(const Pick& o);
};

/// What one slot of a pane aggregates. Several aggregations share a slot when
/// they need the same state of the same field (avg and p90 of dwell_ms share
/// nothing; avg and stddev of dwell_ms share one Moments).
enum class SlotKind : uint8_t { kMoments, kPresence, kQuantiles, kDistinct, kFirst, kLast };

/// The state of one slot; the variant index is the SlotKind, except that
/// kFirst and kLast both hold a Pick.
using SlotState = std::variant<Moments, Presence, QuantileSketch, HyperLogLog, Pick>;

/// A fresh state for a slot of `kind`.
SlotState make_slot(SlotKind kind);

/// One pane of one key: the aggregates of the events in [start, start + pane).
struct Pane {
    int64_t start = 0;
    uint64_t count = 0;
    std::vector<SlotState> slots;
};

/// Everything the operator keeps per key.
struct KeyWindows {
    /// Panes that some retained window still needs, sorted by start.
    std::vector<Pane> panes;
    /// Windows ending at or before this time were emitted, or passed with no data.
    int64_t emitted_end = std::numeric_limits<int64_t>::min();
    /// The earliest event-time timer set for this key and not yet handled.
    int64_t timer_at = std::numeric_limits<int64_t>::max();
    /// With on_late: update: (window end, emissions so far) of emitted windows
    /// whose panes are still retained, sorted by end.
    std::vector<std::pair<int64_t, uint32_t>> revisions;
    /// Identifies the aggregation layout that wrote this state (see Layout).
    uint64_t layout = 0;
};

/// Merges `from` into `into` slot by slot (both of the same layout), given
/// each slot's kind; `from` is later in time than what `into` holds.
void merge_pane(Pane& into, const Pane& from, const std::vector<SlotKind>& kinds);

/// Resets `pane` to empty for `kinds`, reusing memory where possible.
void reset_pane(Pane& pane, const std::vector<SlotKind>& kinds);

}  // namespace eddy::window

namespace eddy {

template <>
struct Codec<window::KeyWindows> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const window::KeyWindows& k, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, window::KeyWindows& k);
    static void to_json(const window::KeyWindows& k, JsonWriter& j);
};

}  // namespace eddy
