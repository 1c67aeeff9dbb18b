// SPDX-License-Identifier: Apache-2.0
#include "record/utf8.h"

#include <simdjson.h>

namespace eddy {
namespace {

// The length of the well-formed sequence starting at s[i], or 0 when it is
// ill-formed (Unicode Table 3-7).
size_t sequence_length(std::string_view s, size_t i) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) {
        return 1;
    }
    size_t n = s.size() - i;
    auto cont = [&](size_t k) { return (byte(i + k) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) {
        return n >= 2 && cont(1) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || !cont(1) || !cont(2)) {
            return 0;
        }
        unsigned char c1 = byte(i + 1);
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) {
            return 0;  // overlong, or a UTF-16 surrogate
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || !cont(1) || !cont(2) || !cont(3)) {
            return 0;
        }
        unsigned char c1 = byte(i + 1);
        if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) {
            return 0;  // overlong, or above U+10FFFF
        }
        return 4;
    }
    return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    return simdjson::validate_utf8(s.data(), s.size());
}

size_t find_invalid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        size_t n = sequence_length(s, i);
        if (n == 0) {
            return i;
        }
        i += n;
    }
    return std::string_view::npos;
}

void append_utf8_replacing_invalid(std::string_view s, std::string& out) {
    static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
    size_t i = 0;
    while (i < s.size()) {
        size_t n = sequence_length(s, i);
        if (n == 0) {
            out += kReplacement;
            ++i;
        } else {
            out.append(s.data() + i, n);
            i += n;
        }
    }
}

std::string_view truncate_utf8(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes) {
        return s;
    }
    size_t end = max_bytes;
    // Back up over at most three continuation bytes to the start of a sequence.
    for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80; ++k) {
        --end;
    }
    return s.substr(0, end);
}

}  // namespace eddy
