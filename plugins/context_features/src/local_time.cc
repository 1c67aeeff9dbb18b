// SPDX-License-Identifier: Apache-2.0
#include "local_time.h"

#include <limits>

namespace eddy::context_features {
namespace {

constexpr int64_t kDayMs = 86'400'000;

std::optional<int> digits(std::string_view s) {
    if (s.empty() || s.size() > 2) {
        return std::nullopt;
    }
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace

std::optional<int> parse_utc_offset(std::string_view text) {
    if (text == "Z") {
        return 0;
    }
    if (text.starts_with("UTC") || text.starts_with("GMT")) {
        text.remove_prefix(3);
    }
    if (text.size() < 2 || (text[0] != '+' && text[0] != '-')) {
        return std::nullopt;
    }
    const int sign = text[0] == '-' ? -1 : 1;
    text.remove_prefix(1);
    std::string_view hh = text;
    std::string_view mm = "00";
    if (size_t colon = text.find(':'); colon != std::string_view::npos) {
        hh = text.substr(0, colon);
        mm = text.substr(colon + 1);
        if (mm.size() != 2) {
            return std::nullopt;
        }
    } else if (text.size() == 4) {
        hh = text.substr(0, 2);
        mm = text.substr(2);
    }
    std::optional<int> h = digits(hh);
    std::optional<int> m = digits(mm);
    if (!h || !m || *m >= 60 || *h * 60 + *m > 18 * 60) {
        return std::nullopt;
    }
    return sign * (*h * 3600 + *m * 60);
}

bool load_time_zone(const std::string& name, absl::TimeZone& tz) {
    if (name.empty()) {
        return false;
    }
    if (std::optional<int> offset = parse_utc_offset(name)) {
        tz = absl::FixedTimeZone(*offset);
        return true;
    }
    return absl::LoadTimeZone(name, &tz);
}

void LocalClock::refresh(int64_t utc_ms) {
    const absl::Time t = absl::FromUnixMillis(utc_ms);
    offset_ms_ = static_cast<int64_t>(tz_.At(t).offset) * 1000;
    from_ms_ = std::numeric_limits<int64_t>::min();
    until_ms_ = std::numeric_limits<int64_t>::max();
    absl::TimeZone::CivilTransition change;
    // Transitions fall on whole seconds; the one at or before utc_ms is the
    // last one strictly before utc_ms + 1.
    if (utc_ms < std::numeric_limits<int64_t>::max() &&
        tz_.PrevTransition(absl::FromUnixMillis(utc_ms + 1), &change)) {
        from_ms_ = absl::ToUnixMillis(tz_.At(change.to).trans);
    }
    if (tz_.NextTransition(t, &change)) {
        until_ms_ = absl::ToUnixMillis(tz_.At(change.to).trans);
    }
    if (from_ms_ > utc_ms || until_ms_ <= utc_ms) {
        // Not expected from the zone database; fall back to this instant only.
        from_ms_ = utc_ms;
        until_ms_ = utc_ms == std::numeric_limits<int64_t>::max() ? utc_ms : utc_ms + 1;
    }
}

LocalTime LocalClock::at(int64_t utc_ms) {
    if (utc_ms < from_ms_ || utc_ms >= until_ms_) {
        refresh(utc_ms);
    }
    int64_t local = 0;
    if (__builtin_add_overflow(utc_ms, offset_ms_, &local)) {
        local = utc_ms;  // within hours of the end of time: no offset
    }
    // Floor division without the overflow of days * kDayMs near the ends of time.
    const int64_t rem = local % kDayMs;
    const int64_t days = local / kDayMs - (rem < 0 ? 1 : 0);
    LocalTime out;
    out.ms_of_day = rem < 0 ? rem + kDayMs : rem;
    // 1970-01-01 was a Thursday: 3 days after a Monday.
    out.weekday = static_cast<int>(((days % 7) + 7 + 3) % 7);
    return out;
}

}  // namespace eddy::context_features
