// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy {

/// How an event-time field is written. kAuto: numbers >= 1e11 are epoch
/// milliseconds, smaller ones epoch seconds (fractions allowed); strings are
/// ISO-8601 (or a number written as a string).
enum class TimeUnit { kAuto, kMs, kS, kUs, kNs, kIso8601 };

/// The allowed unit names, for messages and docs.
inline constexpr std::string_view kTimeUnitNames = "ms, s, us, ns, iso8601, auto";

/// `ms`, `s`, `us`, `ns`, `iso8601` or `auto`; nullopt for anything else.
std::optional<TimeUnit> parse_time_unit(std::string_view name);
const char* time_unit_name(TimeUnit unit);

/// Where a source's event time comes from (`event_time: {field: ts, unit: ms}`).
struct EventTimeOptions {
    std::string field;
    TimeUnit unit = TimeUnit::kAuto;
};

/// Parses `2025-11-28T10:00:00Z`, `2025-11-28T10:00:00.123+01:00`,
/// `2025-11-28 10:00:00` (UTC when no offset is written), `2025-11-28T10:00Z`,
/// offsets `+01`, `+0100`, `+01:00`, and a date alone (midnight UTC) into
/// milliseconds since the epoch. Fractions beyond milliseconds are truncated.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

/// Event times outside [1970-01-01, 2200-01-01) are absurd (usually a wrong
/// unit) and rejected.
inline constexpr int64_t kMinEventTimeMs = 0;
inline constexpr int64_t kMaxEventTimeMs = 7'258'118'400'000;

/// Sets `ms` from the event-time field's value `v` (nullptr when the record
/// lacks the field) read as `unit`. On failure returns a parse_error whose
/// message names `field` and says what was expected and what was found;
/// a time outside [kMinEventTimeMs, kMaxEventTimeMs) is an error too.
Status event_time_ms(const Value* v, TimeUnit unit, std::string_view field, int64_t& ms);

}  // namespace eddy
