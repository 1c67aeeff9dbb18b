// SPDX-License-Identifier: Apache-2.0
// The value transforms of `pii`: allocation-free, for the hot path.
#include <charconv>
#include <cstring>

#include <arpa/inet.h>

#include "common/time_math.h"
#include "pii/pii.h"

namespace eddy::pii {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;
// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the times ISO-8601
// text can show with four-digit years, and far from int64 overflow.
constexpr int64_t kMinMs = -62'167'219'200'000;
constexpr int64_t kMaxMs = 253'402'300'799'999;

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's
// public-domain algorithms, http://howardhinnant.github.io/date_algorithms.html).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
    int64_t year;
    unsigned month;
    unsigned day;
};

Civil civil_from_days(int64_t z) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

unsigned days_in_month(int64_t y, unsigned m) {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : kDays[m - 1];
}

/// Zeroes every bit after the first `prefix` bits of `n` bytes.
void mask_bytes(unsigned char* p, int n, int prefix) {
    for (int i = 0; i < n; ++i) {
        int bits = prefix - 8 * i;
        if (bits >= 8) {
            continue;
        }
        p[i] &= bits <= 0 ? 0 : static_cast<unsigned char>(0xff << (8 - bits));
    }
}

/// Reads exactly `n` digits at `s[pos]`; -1 when they are not digits.
int digits(std::string_view s, size_t pos, size_t n) {
    if (pos + n > s.size()) {
        return -1;
    }
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/// Dotted-quad text of 4 bytes; glibc's inet_ntop formats IPv4 with sprintf.
size_t format_ipv4(const unsigned char* a, char* out) {
    char* p = out;
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            *p++ = '.';
        }
        p = std::to_chars(p, p + 3, a[i]).ptr;
    }
    *p = '\0';
    return static_cast<size_t>(p - out);
}

void put2(char* out, unsigned v) {
    out[0] = static_cast<char>('0' + v / 10);
    out[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

size_t truncate_ip(std::string_view text, int v4_prefix, int v6_prefix, char* out) {
    // inet_pton wants a C string; no address text is this long.
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) {
        return 0;
    }
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (text.find(':') == std::string_view::npos) {
        unsigned char a[4];
        if (inet_pton(AF_INET, buf, a) != 1) {
            return 0;
        }
        mask_bytes(a, 4, v4_prefix);
        return format_ipv4(a, out);
    }
    unsigned char a[16];
    if (inet_pton(AF_INET6, buf, a) != 1) {
        return 0;
    }
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, sizeof kMapped) == 0) {
        mask_bytes(a + 12, 4, v4_prefix);  // ::ffff:a.b.c.d is an IPv4 address
    } else {
        mask_bytes(a, 16, v6_prefix);
    }
    return inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN) != nullptr ? std::strlen(out) : 0;
}

int64_t truncate_time_ms(int64_t ms, TimeUnit unit) {
    switch (unit) {
        case TimeUnit::kSecond:
            return floor_div(ms, 1000) * 1000;
        case TimeUnit::kMinute:
            return floor_div(ms, 60'000) * 60'000;
        case TimeUnit::kHour:
            return floor_div(ms, 3'600'000) * 3'600'000;
        case TimeUnit::kDay:
            return floor_div(ms, kMsPerDay) * kMsPerDay;
        case TimeUnit::kWeek: {
            int64_t days = floor_div(ms, kMsPerDay);
            int64_t since_monday = days + 3 - floor_div(days + 3, 7) * 7;  // 1970-01-01: Thursday
            return (days - since_monday) * kMsPerDay;
        }
        case TimeUnit::kMonth: {
            Civil c = civil_from_days(floor_div(ms, kMsPerDay));
            return days_from_civil(c.year, c.month, 1) * kMsPerDay;
        }
        case TimeUnit::kYear: {
            Civil c = civil_from_days(floor_div(ms, kMsPerDay));
            return days_from_civil(c.year, 1, 1) * kMsPerDay;
        }
    }
    return ms;
}

std::optional<int64_t> parse_iso8601_ms(std::string_view s) {
    int year = digits(s, 0, 4);
    int month = digits(s, 5, 2);
    int day = digits(s, 8, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || s[4] != '-' || s[7] != '-' ||
        static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month))) {
        return std::nullopt;
    }
    int64_t ms =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMsPerDay;
    size_t pos = 10;
    if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
        int hour = digits(s, pos + 1, 2);
        int minute = digits(s, pos + 4, 2);
        if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || s[pos + 3] != ':') {
            return std::nullopt;
        }
        ms += (hour * 3600 + minute * 60) * int64_t{1000};
        pos += 6;
        if (pos < s.size() && s[pos] == ':') {
            int second = digits(s, pos + 1, 2);
            if (second < 0 || second > 59) {
                return std::nullopt;
            }
            ms += second * 1000;
            pos += 3;
            if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
                size_t start = ++pos;
                int frac = 0;
                for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos) {
                    if (pos - start < 3) {
                        frac = frac * 10 + (s[pos] - '0');
                    }
                }
                if (pos == start || pos - start > 9) {
                    return std::nullopt;
                }
                for (size_t n = pos - start; n < 3; ++n) {
                    frac *= 10;
                }
                ms += frac;
            }
        }
        if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
            ++pos;
        } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
            int sign = s[pos] == '+' ? 1 : -1;
            int oh = digits(s, pos + 1, 2);
            size_t at = pos + 3;
            int om = 0;  // `+hh` alone is allowed
            if (at < s.size()) {
                at += s[at] == ':' ? 1 : 0;
                om = digits(s, at, 2);
                at += 2;
            }
            if (oh < 0 || oh > 23 || om < 0 || om > 59) {
                return std::nullopt;
            }
            pos = at;
            ms -= sign * (oh * 3600 + om * 60) * int64_t{1000};
        }
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    return ms;
}

bool format_iso8601(int64_t ms, char* out) {
    if (ms < kMinMs || ms > kMaxMs) {
        return false;
    }
    int64_t days = floor_div(ms, kMsPerDay);
    int64_t in_day = (ms - days * kMsPerDay) / 1000;
    Civil c = civil_from_days(days);
    auto year = static_cast<unsigned>(c.year);
    put2(out, year / 100);
    put2(out + 2, year % 100);
    out[4] = '-';
    put2(out + 5, c.month);
    out[7] = '-';
    put2(out + 8, c.day);
    out[10] = 'T';
    put2(out + 11, static_cast<unsigned>(in_day / 3600));
    out[13] = ':';
    put2(out + 14, static_cast<unsigned>(in_day / 60 % 60));
    out[16] = ':';
    put2(out + 17, static_cast<unsigned>(in_day % 60));
    out[19] = 'Z';
    return true;
}

bool hash_input(const Value& v, char* buf, std::string_view& out) {
    switch (v.type()) {
        case ValueType::kString:
            out = v.as_string();
            return true;
        case ValueType::kInt: {
            auto r = std::to_chars(buf, buf + 32, v.as_int());
            out = std::string_view(buf, static_cast<size_t>(r.ptr - buf));
            return true;
        }
        case ValueType::kDouble: {
            auto r = std::to_chars(buf, buf + 32, v.as_double());
            out = std::string_view(buf, static_cast<size_t>(r.ptr - buf));
            return true;
        }
        case ValueType::kBool:
            out = v.as_bool() ? "true" : "false";
            return true;
        default:
            return false;
    }
}

bool is_geohash(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        char l = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        bool digit = l >= '0' && l <= '9';
        bool letter = l >= 'b' && l <= 'z' && l != 'i' && l != 'l' && l != 'o';
        if (!digit && !letter) {
            return false;
        }
    }
    return true;
}

}  // namespace eddy::pii
