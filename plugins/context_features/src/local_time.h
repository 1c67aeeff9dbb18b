// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <absl/time/time.h>

namespace eddy::context_features {

/// A fixed UTC offset written `+05:30`, `-08:00`, `+0530`, `+5`, `UTC+05:30`,
/// `GMT-3` or `Z`, in seconds east of UTC (ISO 8601 signs, unlike the IANA
/// `Etc/GMT+5`); at most 18 hours. nullopt when `text` is not such an offset.
std::optional<int> parse_utc_offset(std::string_view text);

/// Loads `name`: a fixed offset (parse_utc_offset), UTC, or an IANA name
/// from the system's time zone database (/usr/share/zoneinfo, or $TZDIR).
/// False when it is none of these.
bool load_time_zone(const std::string& name, absl::TimeZone& tz);

/// Wall-clock time of day and day of week of an instant in one zone.
struct LocalTime {
    int64_t ms_of_day = 0;  ///< Milliseconds since local midnight, [0, 86400000).
    int weekday = 0;        ///< 0 = Monday ... 6 = Sunday.
};

/// Converts event times to local time. Keeps the interval between the zone's
/// offset changes around the last instant, so records in time order cost a
/// comparison and an addition; only a record outside it asks the zone. One
/// per operator instance; not thread-safe.
class LocalClock {
public:
    explicit LocalClock(absl::TimeZone tz) : tz_(tz) {}
    LocalTime at(int64_t utc_ms);

private:
    void refresh(int64_t utc_ms);

    absl::TimeZone tz_;
    // offset_ms_ holds for instants in [from_ms_, until_ms_); empty at first.
    int64_t from_ms_ = 0;
    int64_t until_ms_ = 0;
    int64_t offset_ms_ = 0;
};

}  // namespace eddy::context_features
