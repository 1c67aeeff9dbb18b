// SPDX-License-Identifier: Apache-2.0
#include "bot_filter/behaviour.h"

#include <algorithm>
#include <cmath>

#include "common/time_math.h"

namespace eddy::bot_filter {
namespace {

size_t bucket(int64_t second) {
    return static_cast<size_t>(((second % kRateBuckets) + kRateBuckets) % kRateBuckets);
}

/// Counts the event in its second; returns the events of the minute ending at
/// the newest second, or 0 when the event is older than that minute.
uint32_t count_rate(BotState& s, int64_t second) {
    if (s.rate_head == kNever) {
        s.rate_head = second;
    }
    if (second > s.rate_head) {
        if (second - s.rate_head >= kRateBuckets) {
            s.rate_counts.fill(0);
            s.rate_total = 0;
        } else {
            for (int64_t k = s.rate_head + 1; k <= second; ++k) {
                uint32_t& c = s.rate_counts[bucket(k)];
                s.rate_total -= c;
                c = 0;
            }
        }
        s.rate_head = second;
    }
    if (second <= s.rate_head - kRateBuckets) {
        return 0;
    }
    ++s.rate_counts[bucket(second)];
    return ++s.rate_total;
}

/// Adds a page to its second's set; returns the distinct pages of that second.
size_t count_pages(BotState& s, int64_t second, uint64_t page, size_t cap) {
    if (s.page_second == kNever || second > s.page_second) {
        s.pages.clear();
        s.page_second = second;
    }
    if (second != s.page_second) {
        return 0;
    }
    if (std::find(s.pages.begin(), s.pages.end(), page) == s.pages.end() && s.pages.size() < cap) {
        s.pages.push_back(page);
    }
    return s.pages.size();
}

}  // namespace

uint64_t stable_hash(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

Observation observe(BotState& s, const BehaviourLimits& limits, int64_t time, bool has_page,
                    uint64_t page) {
    Observation found;
    const int64_t second = floor_div(time, 1000);
    if (limits.max_events_per_minute > 0) {
        uint32_t n = count_rate(s, second);
        if (n > limits.max_events_per_minute) {
            found = {BehaviourRule::kRate, n, 0, 0};
        }
    }
    if (limits.max_pages_per_second > 0 && has_page) {
        size_t cap = static_cast<size_t>(limits.max_pages_per_second) + 1;
        size_t n = count_pages(s, second, page, cap);
        if (n > static_cast<size_t>(limits.max_pages_per_second) &&
            found.rule == BehaviourRule::kNone) {
            found = {BehaviourRule::kPageRate, static_cast<int64_t>(n), 0, 0};
        }
    }
    if (s.last_time == kNever) {
        s.last_time = time;
        return found;
    }
    if (time < s.last_time) {  // out of order: its gaps are unknown, keep the run as it is
        return found;
    }
    const int64_t gap = time - s.last_time;
    s.last_time = time;
    if (gap > limits.session_gap_ms) {
        s.gap_count = 0;
        s.gap_mean = 0;
        s.gap_m2 = 0;
        return found;
    }
    ++s.gap_count;
    const double g = static_cast<double>(gap);
    const double delta = g - s.gap_mean;
    s.gap_mean += delta / s.gap_count;
    s.gap_m2 += delta * (g - s.gap_mean);
    if (limits.min_gap_cv > 0 && found.rule == BehaviourRule::kNone &&
        s.gap_count + 1 >= static_cast<uint64_t>(limits.min_events_for_regularity)) {
        // cv = sqrt(m2 / n) / mean < limit, without the square root.
        const double limit = limits.min_gap_cv * s.gap_mean;
        if (s.gap_mean <= 0 || s.gap_m2 < s.gap_count * limit * limit) {
            double cv = s.gap_mean > 0 ? std::sqrt(s.gap_m2 / s.gap_count) / s.gap_mean : 0;
            found = {BehaviourRule::kRegularGaps, s.gap_count + 1, s.gap_mean, cv};
        }
    }
    return found;
}

}  // namespace eddy::bot_filter

namespace eddy {

void Codec<bot_filter::BotState>::encode(const bot_filter::BotState& s, StateWriter& w) {
    w.i64(s.flagged_until);
    w.str(s.rule);
    w.str(s.reason);
    w.i64(s.rate_head);
    w.varint(s.rate_total);
    for (uint32_t c : s.rate_counts) {
        w.varint(c);
    }
    w.i64(s.last_time);
    w.varint(s.gap_count);
    w.f64(s.gap_mean);
    w.f64(s.gap_m2);
    w.i64(s.page_second);
    w.varint(s.pages.size());
    for (uint64_t p : s.pages) {
        w.varint(p);
    }
    w.i64(s.cleanup_at);
}

namespace {

/// A time field that is null when it holds `none` (not set).
void time_field(JsonWriter& j, std::string_view name, int64_t t, int64_t none) {
    j.key(name);
    if (t == none) {
        j.value(nullptr);
    } else {
        j.value(t);
    }
}

}  // namespace

void Codec<bot_filter::BotState>::to_json(const bot_filter::BotState& s, JsonWriter& j) {
    using bot_filter::kNever;
    j.begin_object();
    time_field(j, "flagged_until", s.flagged_until, 0);
    j.field("rule", s.rule).field("reason", s.reason);
    // The rate ring in time order: [epoch second, events] for each second of
    // the minute ending at rate_head that had events.
    time_field(j, "rate_head_second", s.rate_head, kNever);
    j.field("rate_total", s.rate_total).key("rate_events_per_second").begin_array();
    if (s.rate_head != kNever) {
        for (int64_t second = s.rate_head - bot_filter::kRateBuckets + 1; second <= s.rate_head;
             ++second) {
            auto b = static_cast<size_t>(
                ((second % bot_filter::kRateBuckets) + bot_filter::kRateBuckets) %
                bot_filter::kRateBuckets);
            if (s.rate_counts[b] != 0) {
                j.begin_array().value(second).value(s.rate_counts[b]).end_array();
            }
        }
    }
    j.end_array();
    time_field(j, "last_time", s.last_time, kNever);
    j.field("gap_count", s.gap_count).field("gap_mean_ms", s.gap_mean).field("gap_m2", s.gap_m2);
    time_field(j, "page_second", s.page_second, kNever);
    // Page hashes as hex: 64-bit values do not survive JSON readers that use doubles.
    j.key("page_hashes").begin_array();
    for (uint64_t p : s.pages) {
        static const char* digits = "0123456789abcdef";
        char hex[16];
        for (int i = 0; i < 16; ++i) {
            hex[i] = digits[(p >> (60 - 4 * i)) & 0xf];
        }
        j.value(std::string_view(hex, sizeof hex));
    }
    j.end_array();
    time_field(j, "cleanup_at", s.cleanup_at, 0);
    j.end_object();
}

bool Codec<bot_filter::BotState>::decode(StateReader& r, uint8_t, bot_filter::BotState& s) {
    uint64_t v = 0;
    r.i64(s.flagged_until);
    r.str(s.rule);
    r.str(s.reason);
    r.i64(s.rate_head);
    r.varint(v);
    s.rate_total = static_cast<uint32_t>(v);
    for (uint32_t& c : s.rate_counts) {
        r.varint(v);
        c = static_cast<uint32_t>(v);
    }
    r.i64(s.last_time);
    r.varint(v);
    s.gap_count = static_cast<uint32_t>(v);
    r.f64(s.gap_mean);
    r.f64(s.gap_m2);
    r.i64(s.page_second);
    uint64_t n = 0;
    if (!r.varint(n) || n > 4096) {
        return false;
    }
    s.pages.resize(n);
    for (uint64_t& p : s.pages) {
        r.varint(p);
    }
    r.i64(s.cleanup_at);
    return r.ok();
}

}  // namespace eddy
