// SPDX-License-Identifier: Apache-2.0
#include "record/json.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "record/utf8.h"

namespace eddy {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Escapes of the bytes below 0x20 that JSON names; the others use \u00XX.
char short_escape(unsigned char c) {
    switch (c) {
        case '\b':
            return 'b';
        case '\f':
            return 'f';
        case '\n':
            return 'n';
        case '\r':
            return 'r';
        case '\t':
            return 't';
        default:
            return 0;
    }
}

bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

void append_escaped_ascii_safe(std::string_view s, std::string& out) {
    size_t run = 0;  // start of the pending run of bytes copied as they are
    for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (!needs_escape(c)) {
            continue;
        }
        out.append(s.data() + run, i - run);
        run = i + 1;
        out += '\\';
        if (c == '"' || c == '\\') {
            out += static_cast<char>(c);
        } else if (char e = short_escape(c)) {
            out += e;
        } else {
            out += "u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    out.append(s.data() + run, s.size() - run);
}

}  // namespace

void append_json_string(std::string_view s, std::string& out) {
    out += '"';
    if (is_valid_utf8(s)) {
        append_escaped_ascii_safe(s, out);
    } else {
        // Cold path: a string that did not come from a validating decoder.
        std::string clean;
        append_utf8_replacing_invalid(s, clean);
        append_escaped_ascii_safe(clean, out);
    }
    out += '"';
}

void append_json_double(double d, std::string& out) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    (void)ec;  // 32 bytes always fit the shortest form of a double
    out.append(buf, end);
    if (std::memchr(buf, '.', end - buf) == nullptr &&
        std::memchr(buf, 'e', end - buf) == nullptr) {
        out += ".0";
    }
}

void append_json_value(const Value& v, std::string& out) {
    switch (v.type()) {
        case ValueType::kNull:
            out += "null";
            break;
        case ValueType::kBool:
            out += v.as_bool() ? "true" : "false";
            break;
        case ValueType::kInt: {
            char buf[24];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.as_int());
            (void)ec;
            out.append(buf, end);
            break;
        }
        case ValueType::kDouble:
            append_json_double(v.as_double(), out);
            break;
        case ValueType::kString:
            append_json_string(v.as_string(), out);
            break;
        case ValueType::kVector: {
            out += '[';
            bool first = true;
            for (float f : v.as_vector()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                if (!std::isfinite(f)) {
                    out += "null";
                    continue;
                }
                char buf[32];
                auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
                (void)ec;
                out.append(buf, end);
            }
            out += ']';
            break;
        }
    }
}

std::string_view JsonEncoder::name(FieldId id) {
    if (id >= names_.size()) {
        names_.resize(id + 1);
    }
    std::string& key = names_[id];
    if (key.empty()) {
        append_json_string(name_of_(id), key);
        key += ':';
    }
    return key;
}

void JsonEncoder::append(const Record& record, std::string& out) {
    out += '{';
    bool first = true;
    for (const Field& f : record.fields()) {
        if (!first) {
            out += ',';
        }
        first = false;
        out += name(f.id);
        append_json_value(f.value, out);
    }
    out += '}';
}

}  // namespace eddy
