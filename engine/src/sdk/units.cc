// SPDX-License-Identifier: Apache-2.0
#include "eddy/units.h"

#include <cctype>
#include <charconv>

namespace eddy {
namespace {

struct Unit {
    std::string_view suffix;
    int64_t factor;
};

// Longest suffixes first so that "ms" is not read as "m" followed by junk.
constexpr Unit kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000},
};

constexpr Unit kSizeUnits[] = {
    {"KiB", 1LL << 10}, {"MiB", 1LL << 20}, {"GiB", 1LL << 30}, {"TiB", 1LL << 40},
    {"KB", 1LL << 10},  {"MB", 1LL << 20},  {"GB", 1LL << 30},  {"TB", 1LL << 40},
    {"K", 1LL << 10},   {"M", 1LL << 20},   {"G", 1LL << 30},   {"B", 1},
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

std::optional<int64_t> parse_duration_ms(std::string_view text) {
    text = trim(text);
    if (text.empty()) {
        return std::nullopt;
    }
    int64_t total = 0;
    while (!text.empty()) {
        int64_t n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || n < 0) {
            return std::nullopt;
        }
        text.remove_prefix(static_cast<size_t>(end - text.data()));
        bool matched = false;
        for (const Unit& u : kDurationUnits) {
            if (text.starts_with(u.suffix) && !(u.suffix == "m" && text.starts_with("ms"))) {
                int64_t ms = 0;
                if (__builtin_mul_overflow(n, u.factor, &ms) ||
                    __builtin_add_overflow(total, ms, &total)) {
                    return std::nullopt;
                }
                text.remove_prefix(u.suffix.size());
                matched = true;
                break;
            }
        }
        if (!matched) {
            return std::nullopt;
        }
    }
    return total;
}

std::string format_duration_ms(int64_t ms) {
    if (ms == 0) {
        return "0s";
    }
    std::string out;
    if (ms < 0) {
        out = "-";
        ms = -ms;
    }
    static constexpr Unit kDescending[] = {
        {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
    for (const Unit& u : kDescending) {
        if (ms >= u.factor) {
            out += std::to_string(ms / u.factor);
            out += u.suffix;
            ms %= u.factor;
        }
    }
    return out;
}

std::optional<uint64_t> parse_size_bytes(std::string_view text) {
    text = trim(text);
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data()) {
        return std::nullopt;
    }
    std::string_view rest = trim(text.substr(static_cast<size_t>(end - text.data())));
    if (rest.empty()) {
        return n;
    }
    for (const Unit& u : kSizeUnits) {
        if (rest == u.suffix) {
            uint64_t bytes = 0;
            if (__builtin_mul_overflow(n, static_cast<uint64_t>(u.factor), &bytes)) {
                return std::nullopt;
            }
            return bytes;
        }
    }
    return std::nullopt;
}

std::string format_size_bytes(uint64_t bytes) {
    static constexpr Unit kDescending[] = {
        {"TB", 1LL << 40}, {"GB", 1LL << 30}, {"MB", 1LL << 20}, {"KB", 1LL << 10}};
    for (const Unit& u : kDescending) {
        auto f = static_cast<uint64_t>(u.factor);
        if (bytes >= f && bytes % f == 0) {
            return std::to_string(bytes / f) + std::string(u.suffix);
        }
    }
    return std::to_string(bytes);
}

}  // namespace eddy
