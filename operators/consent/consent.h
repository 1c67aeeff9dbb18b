// SPDX-License-Identifier: Apache-2.0
// The `consent` operator: passes, drops or strips each key's events by the
// consent the key gave per purpose. Internal to the operator: its state and
// the helpers its parts share.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"
#include "eddy/status.h"

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
    /// Held events, encoded one after the other (see consent/held.h).
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

namespace consent {

/// The latest change at or before `t`, or nullptr.
const ConsentChange* latest(const std::vector<ConsentChange>& changes, int64_t t);

/// The consent for purpose `name`, or nullptr.
const PurposeConsent* find_purpose(const std::vector<PurposeConsent>& v, std::string_view name);

/// The consent for purpose `name`, added (with no changes) when missing.
PurposeConsent& purpose_consent(std::vector<PurposeConsent>& v, std::string_view name);

/// Inserts a change after those at or before its time (the later record wins a tie).
void insert_change(std::vector<ConsentChange>& changes, ConsentChange c);

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

/// Consent from `consent_file`, by key encoded with encode_state_key().
using FileConsent =
    std::unordered_map<std::string, std::vector<PurposeConsent>, StringHash, std::equal_to<>>;

/// Where `consent_file` and its records are, from the operator's config.
struct ConsentFile {
    std::string path;
    std::string key_field;      ///< `file_key_field`
    std::string time_field;     ///< `file_time_field`
    std::string purpose_field;  ///< `purpose_field` (`purpose` is read too)
    std::string granted_field;  ///< `granted_field` (`granted` is read too)
};

/// Reads `file` (one JSON object per line) into `out`, keeping the consent
/// for `purposes` only; a line that is not a consent record stops with an
/// error naming the file and line.
Status load_consent_file(const ConsentFile& file, const std::vector<std::string>& purposes,
                         FileConsent& out);

/// Makes the operator from a validated config.
Result<std::unique_ptr<Operator>> make_operator(const Config& cfg);

}  // namespace consent
}  // namespace eddy
