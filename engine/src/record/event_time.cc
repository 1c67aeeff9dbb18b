// SPDX-License-Identifier: Apache-2.0
#include "record/event_time.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "record/utf8.h"

namespace eddy {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int days_in_month(int64_t y, int m) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos` into `out`.
bool digits(std::string_view s, size_t& pos, size_t n, int& out) {
    if (pos + n > s.size()) {
        return false;
    }
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[pos + i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    pos += n;
    out = v;
    return true;
}

bool parse_offset_minutes(std::string_view s, size_t& pos, int& minutes) {
    minutes = 0;
    if (pos == s.size()) {
        return true;
    }
    if (s[pos] == 'Z' || s[pos] == 'z') {
        ++pos;
        return true;
    }
    if (s[pos] != '+' && s[pos] != '-') {
        return false;
    }
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int hh = 0;
    int mm = 0;
    if (!digits(s, pos, 2, hh)) {
        return false;
    }
    if (pos < s.size()) {
        if (s[pos] == ':') {
            ++pos;
        }
        if (!digits(s, pos, 2, mm)) {
            return false;
        }
    }
    if (hh > 23 || mm > 59) {
        return false;
    }
    minutes = sign * (hh * 60 + mm);
    return true;
}

// A number written as text ("1764320000", "1764320000.5"), for lenient inputs.
std::optional<Value> parse_number_text(std::string_view s) {
    if (s.empty() || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-')) {
        return std::nullopt;
    }
    const char* end = s.data() + s.size();
    int64_t i = 0;
    auto [iend, iec] = std::from_chars(s.data(), end, i);
    if (iec == std::errc() && iend == end) {
        return Value::integer(i);
    }
    double d = 0;
    auto [dend, dec] = std::from_chars(s.data(), end, d);
    if (dec == std::errc() && dend == end && std::isfinite(d)) {
        return Value::number(d);
    }
    return std::nullopt;
}

const char* expectation(TimeUnit unit) {
    switch (unit) {
        case TimeUnit::kAuto:
            return "epoch ms or an ISO-8601 string";
        case TimeUnit::kMs:
            return "a number of epoch milliseconds (unit ms)";
        case TimeUnit::kS:
            return "a number of epoch seconds (unit s)";
        case TimeUnit::kUs:
            return "a number of epoch microseconds (unit us)";
        case TimeUnit::kNs:
            return "a number of epoch nanoseconds (unit ns)";
        case TimeUnit::kIso8601:
            return "an ISO-8601 string (unit iso8601)";
    }
    return "";
}

Status wrong_type(std::string_view field, TimeUnit unit, const Value& v) {
    std::string got = value_type_name(v.type());
    if (v.is_string()) {
        got += " '" + std::string(truncate_utf8(v.as_string(), 64)) + "'";
    }
    return Status::parse_error("event-time field '" + std::string(field) + "' must be " +
                               expectation(unit) + ", got " + got);
}

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Integer `v` in `unit` (not kIso8601) as ms; false on overflow.
bool int_to_ms(int64_t v, TimeUnit unit, int64_t& ms) {
    switch (unit) {
        case TimeUnit::kAuto:
            if (v >= 100'000'000'000) {
                ms = v;
                return true;
            }
            [[fallthrough]];
        case TimeUnit::kS:
            if (v > std::numeric_limits<int64_t>::max() / 1000 ||
                v < std::numeric_limits<int64_t>::min() / 1000) {
                return false;
            }
            ms = v * 1000;
            return true;
        case TimeUnit::kMs:
            ms = v;
            return true;
        case TimeUnit::kUs:
            ms = floor_div(v, 1000);
            return true;
        case TimeUnit::kNs:
            ms = floor_div(v, 1'000'000);
            return true;
        case TimeUnit::kIso8601:
            return false;
    }
    return false;
}

bool double_to_ms(double v, TimeUnit unit, int64_t& ms) {
    double scaled = v;
    switch (unit) {
        case TimeUnit::kAuto:
            scaled = v >= 1e11 ? v : v * 1000;
            break;
        case TimeUnit::kS:
            scaled = v * 1000;
            break;
        case TimeUnit::kMs:
            break;
        case TimeUnit::kUs:
            scaled = v / 1000;
            break;
        case TimeUnit::kNs:
            scaled = v / 1e6;
            break;
        case TimeUnit::kIso8601:
            return false;
    }
    // Rounding, not truncation: 1764320000.123 s is 1764320000122.9998 ms in binary.
    if (!std::isfinite(scaled) || std::fabs(scaled) >= 9.2e18) {
        return false;
    }
    ms = std::llround(scaled);
    return true;
}

}  // namespace

std::optional<TimeUnit> parse_time_unit(std::string_view name) {
    for (TimeUnit u : {TimeUnit::kAuto, TimeUnit::kMs, TimeUnit::kS, TimeUnit::kUs, TimeUnit::kNs,
                       TimeUnit::kIso8601}) {
        if (name == time_unit_name(u)) {
            return u;
        }
    }
    return std::nullopt;
}

const char* time_unit_name(TimeUnit unit) {
    switch (unit) {
        case TimeUnit::kAuto:
            return "auto";
        case TimeUnit::kMs:
            return "ms";
        case TimeUnit::kS:
            return "s";
        case TimeUnit::kUs:
            return "us";
        case TimeUnit::kNs:
            return "ns";
        case TimeUnit::kIso8601:
            return "iso8601";
    }
    return "auto";
}

std::optional<int64_t> parse_iso8601_ms(std::string_view s) {
    size_t pos = 0;
    int year = 0;
    int month = 0;
    int day = 0;
    if (!digits(s, pos, 4, year) || pos == s.size() || s[pos++] != '-' ||
        !digits(s, pos, 2, month) || pos == s.size() || s[pos++] != '-' ||
        !digits(s, pos, 2, day)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        return std::nullopt;
    }
    int hour = 0;
    int minute = 0;
    int second = 0;
    int millis = 0;
    if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
        ++pos;
        if (!digits(s, pos, 2, hour) || pos == s.size() || s[pos++] != ':' ||
            !digits(s, pos, 2, minute)) {
            return std::nullopt;
        }
        if (pos < s.size() && s[pos] == ':') {
            ++pos;
            if (!digits(s, pos, 2, second)) {
                return std::nullopt;
            }
            if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
                ++pos;
                size_t start = pos;
                int scale = 100;
                while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
                    millis += (s[pos] - '0') * scale;
                    scale /= 10;
                    ++pos;
                }
                if (pos == start) {
                    return std::nullopt;
                }
            }
        }
        // 60 admits a leap second; it reads as the first second of the next minute.
        if (hour > 23 || minute > 59 || second > 60) {
            return std::nullopt;
        }
    }
    int offset_minutes = 0;
    if (!parse_offset_minutes(s, pos, offset_minutes) || pos != s.size()) {
        return std::nullopt;
    }
    int64_t ms = days_from_civil(year, month, day) * kMsPerDay;
    ms += ((hour * 60LL + minute - offset_minutes) * 60 + second) * 1000 + millis;
    return ms;
}

namespace {

Status read_event_time(const Value* v, TimeUnit unit, std::string_view field, int64_t& ms) {
    if (v == nullptr) {
        return Status::parse_error("event-time field '" + std::string(field) + "' is missing");
    }
    Value number;
    if (v->is_string()) {
        std::string_view text = v->as_string();
        if (unit == TimeUnit::kAuto || unit == TimeUnit::kIso8601) {
            if (std::optional<int64_t> t = parse_iso8601_ms(text)) {
                ms = *t;
                return Status::ok();
            }
        }
        std::optional<Value> parsed =
            unit == TimeUnit::kIso8601 ? std::nullopt : parse_number_text(text);
        if (!parsed) {
            if (unit == TimeUnit::kAuto || unit == TimeUnit::kIso8601) {
                return Status::parse_error(
                    "event-time field '" + std::string(field) +
                    "' is not an ISO-8601 time like 2025-11-28T10:00:00Z, got '" +
                    std::string(truncate_utf8(text, 64)) + "'");
            }
            return wrong_type(field, unit, *v);
        }
        number = *parsed;
    } else if (v->is_number() && unit != TimeUnit::kIso8601) {
        number = *v;
    } else {
        return wrong_type(field, unit, *v);
    }
    bool ok = number.is_int() ? int_to_ms(number.as_int(), unit, ms)
                              : double_to_ms(number.as_double(), unit, ms);
    if (!ok) {
        std::string text;
        if (v->is_string()) {
            text = truncate_utf8(v->as_string(), 64);
        } else {
            char buf[32];
            auto [end, ec] = v->is_int() ? std::to_chars(buf, buf + sizeof buf, v->as_int())
                                         : std::to_chars(buf, buf + sizeof buf, v->as_double());
            (void)ec;
            text.assign(buf, end);
        }
        return Status::parse_error("event-time field '" + std::string(field) +
                                   "' is out of range: " + text);
    }
    return Status::ok();
}

}  // namespace

Status event_time_ms(const Value* v, TimeUnit unit, std::string_view field, int64_t& ms) {
    EDDY_RETURN_IF_ERROR(read_event_time(v, unit, field, ms));
    if (ms < kMinEventTimeMs || ms >= kMaxEventTimeMs) {
        return Status::parse_error("event-time field '" + std::string(field) + "' is " +
                                   std::to_string(ms) +
                                   " ms, outside 1970-01-01 to 2200-01-01; check its unit");
    }
    return Status::ok();
}

}  // namespace eddy
