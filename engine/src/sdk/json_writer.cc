// SPDX-License-Identifier: Apache-2.0
#include "eddy/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace eddy {
namespace {

constexpr char kHex[] = "0123456789abcdef";

/// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629:
/// no overlongs, surrogates or code points above U+10FFFF), or 0.
size_t utf8_sequence(std::string_view s) {
    auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char c = b(0);
    size_t n = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0 || s.size() < n) {
        return 0;
    }
    for (size_t i = 1; i < n; ++i) {
        if ((b(i) & 0xc0) != 0x80) {
            return 0;
        }
    }
    if ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) > 0x9f) || (c == 0xf0 && b(1) < 0x90) ||
        (c == 0xf4 && b(1) > 0x8f)) {
        return 0;
    }
    return n;
}

void append_escaped(std::string_view s, std::string& out) {
    out += '"';
    while (!s.empty()) {
        auto c = static_cast<unsigned char>(s[0]);
        if (c >= 0x80) {
            size_t n = utf8_sequence(s);
            if (n == 0) {
                out += "\xef\xbf\xbd";  // U+FFFD for one ill-formed byte
                n = 1;
            } else {
                out.append(s.data(), n);
            }
            s.remove_prefix(n);
            continue;
        }
        s.remove_prefix(1);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

}  // namespace

void JsonWriter::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!depth_.empty()) {
        if (depth_.back()) {
            out_ += ',';
        }
        depth_.back() = true;
    }
    wrote_ = true;
}

JsonWriter& JsonWriter::begin_object() {
    separate();
    out_ += '{';
    depth_.push_back(false);
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    separate();
    out_ += '[';
    depth_.push_back(false);
    return *this;
}

JsonWriter& JsonWriter::close(char c) {
    if (!depth_.empty()) {
        depth_.pop_back();
    }
    out_ += c;
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    return close('}');
}

JsonWriter& JsonWriter::end_array() {
    return close(']');
}

JsonWriter& JsonWriter::key(std::string_view name) {
    separate();
    append_escaped(name, out_);
    out_ += ':';
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::value(std::nullptr_t) {
    return raw("null");
}

JsonWriter& JsonWriter::value(bool b) {
    return raw(b ? "true" : "false");
}

JsonWriter& JsonWriter::value(double d) {
    if (!std::isfinite(d)) {
        return raw("null");
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    (void)ec;  // 32 bytes always fit the shortest form of a double
    separate();
    out_.append(buf, end);
    if (std::memchr(buf, '.', end - buf) == nullptr &&
        std::memchr(buf, 'e', end - buf) == nullptr) {
        out_ += ".0";
    }
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
    separate();
    append_escaped(s, out_);
    return *this;
}

JsonWriter& JsonWriter::signed_value(int64_t i) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
    (void)ec;
    return raw(std::string_view(buf, end - buf));
}

JsonWriter& JsonWriter::unsigned_value(uint64_t u) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, u);
    (void)ec;
    return raw(std::string_view(buf, end - buf));
}

JsonWriter& JsonWriter::raw(std::string_view json) {
    separate();
    out_ += json;
    return *this;
}

}  // namespace eddy
