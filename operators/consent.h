// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "eddy/codec.h"
#include "eddy/spec.h"

namespace eddy {

/// The `consent` operator's spec: passes, drops or strips each key's events
/// by the consent the key gave per purpose, from a consent stream (a second
/// input) and/or a JSON Lines file. Semantics: docs/privacy.md.
ComponentSpec consent_spec();

/// No time: no pending timer.
inline constexpr int64_t kNoConsentTime = std::numeric_limits<int64_t>::min();

/// A key's consent for one purpose from `time` (event time, ms) on.
struct ConsentChange {
    int64_t time = 0;
    bool granted = false;
};

/// The consent changes of one key for one purpose, sorted by time. Changes
/// before the latest one at or before the watermark are pruned.
struct PurposeConsent {
    std::string purpose;
    std::vector<ConsentChange> changes;
};

/// One key's state: its consent history per purpose and, with `decide_at:
/// watermark`, its events waiting for the watermark to pass their time.
struct ConsentState {
    std::vector<PurposeConsent> purposes;
    /// Held events, encoded one after the other (time, then named fields).
    std::string held;
    uint32_t held_count = 0;
    int64_t timer = kNoConsentTime;  ///< The pending event-time timer.
};

template <>
struct Codec<ConsentState> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const ConsentState& s, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, ConsentState& s);
    static void to_json(const ConsentState& s, JsonWriter& j);
    static size_t heap_bytes(const ConsentState& s) {
        size_t n = heap_bytes_of(s.purposes) + heap_bytes_of(s.held);
        for (const PurposeConsent& p : s.purposes) {
            n += heap_bytes_of(p.purpose) + heap_bytes_of(p.changes);
        }
        return n;
    }
};

}  // namespace eddy
