// SPDX-License-Identifier: Apache-2.0
// consent: reading `consent_file`, one JSON object per line, at startup.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/record.h"
#include "eddy/state.h"

#include "common/field_rules.h"
#include "consent/consent.h"

namespace eddy::consent {
namespace {

/// A scalar of a JSON Lines consent file (nested values are skipped).
struct JsonScalar {
    enum class Kind { kString, kNumber, kBool, kNull, kNested } kind = Kind::kNull;
    std::string text;  ///< Strings unescaped; numbers as written.
    bool b = false;
};

/// Reads one JSON object per line, flat enough for consent records.
class JsonLine {
public:
    explicit JsonLine(std::string_view s) : s_(s) {}

    /// Calls f(key, scalar) per member; false with `error_` set when malformed.
    template <class F>
    bool object(F&& f) {
        ws();
        if (!eat('{')) {
            return fail("expected a JSON object");
        }
        ws();
        if (eat('}')) {
            return end();
        }
        std::string key;
        JsonScalar v;
        do {
            ws();
            key.clear();
            if (!string(key)) {
                return fail("expected a member name in double quotes");
            }
            ws();
            if (!eat(':')) {
                return fail("expected `:` after a member name");
            }
            if (!value(v, 0)) {
                return false;
            }
            f(key, v);
            ws();
        } while (eat(','));
        return eat('}') ? end() : fail("expected `,` or `}`");
    }
    const std::string& error() const { return error_; }

private:
    bool end() {
        ws();
        return i_ == s_.size() || fail("unexpected text after the object");
    }
    bool fail(const char* why) {
        if (error_.empty()) {
            error_ = std::string(why) + " at column " + std::to_string(i_ + 1);
        }
        return false;
    }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r')) {
            ++i_;
        }
    }
    bool eat(char c) {
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) {
            return false;
        }
        i_ += word.size();
        return true;
    }
    static void utf8(uint32_t cp, std::string& out) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    bool hex4(uint32_t& cp) {
        if (i_ + 4 > s_.size()) {
            return false;
        }
        auto [end, ec] = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, cp, 16);
        if (ec != std::errc() || end != s_.data() + i_ + 4) {
            return false;
        }
        i_ += 4;
        return true;
    }
    bool string(std::string& out) {
        if (!eat('"')) {
            return false;
        }
        while (i_ < s_.size()) {
            char c = s_[i_++];
            if (c == '"') {
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return fail("control character in a string");
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size()) {
                break;
            }
            char e = s_[i_++];
            static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
            if (size_t k = kFrom.find(e); k != std::string_view::npos) {
                out += kTo[k];
                continue;
            }
            uint32_t cp = 0;
            if (e != 'u' || !hex4(cp)) {
                return fail("bad escape in a string");
            }
            if (cp >= 0xd800 && cp < 0xdc00) {
                uint32_t low = 0;
                if (!literal("\\u") || !hex4(low) || low < 0xdc00 || low > 0xdfff) {
                    return fail("unpaired surrogate in a string");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            }
            utf8(cp, out);
        }
        return fail("unterminated string");
    }
    bool value(JsonScalar& v, int depth) {
        ws();
        if (depth > 32) {
            return fail("nesting too deep");
        }
        v.text.clear();
        v.kind = depth > 0 ? JsonScalar::Kind::kNested : JsonScalar::Kind::kString;
        if (i_ < s_.size() && s_[i_] == '"') {
            return string(v.text) || fail("bad string");
        }
        bool is_true = literal("true");
        if (is_true || literal("false")) {
            v.b = is_true;
            v.kind = depth > 0 ? v.kind : JsonScalar::Kind::kBool;
            return true;
        }
        if (literal("null")) {
            v.kind = depth > 0 ? v.kind : JsonScalar::Kind::kNull;
            return true;
        }
        char open = i_ < s_.size() ? s_[i_] : '\0';
        if (open == '{' || open == '[') {
            ++i_;
            char close = open == '{' ? '}' : ']';
            ws();
            if (eat(close)) {
                v.kind = JsonScalar::Kind::kNested;
                return true;
            }
            std::string key;
            do {
                ws();
                if (open == '{' && (!string(key) || (ws(), !eat(':')))) {
                    return fail("bad member in a nested object");
                }
                if (!value(v, depth + 1)) {
                    return false;
                }
                ws();
            } while (eat(','));
            v.kind = JsonScalar::Kind::kNested;
            return eat(close) || fail("unterminated nested value");
        }
        size_t start = i_;
        while (i_ < s_.size() && s_[i_] != '\0' &&
               std::strchr("+-.0123456789eE", s_[i_]) != nullptr) {
            ++i_;
        }
        if (i_ == start) {
            return fail("expected a value");
        }
        v.text.assign(s_.substr(start, i_ - start));
        v.kind = depth > 0 ? v.kind : JsonScalar::Kind::kNumber;
        return true;
    }

    std::string_view s_;
    size_t i_ = 0;
    std::string error_;
};

}  // namespace

Status load_consent_file(const ConsentFile& file, const std::vector<std::string>& purposes,
                         FileConsent& out) {
    std::ifstream in(file.path);
    if (!in) {
        return Status::not_found("cannot open consent_file `" + file.path +
                                 "`: " + std::strerror(errno));
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        std::string where = "`" + file.path + "` line " + std::to_string(number);
        // A consent change is a few dozen bytes; a longer line is not one
        // (a wrong file, a single-line JSON array) and stops the start.
        constexpr size_t kMaxLineBytes = 64 * 1024;
        if (line.size() > kMaxLineBytes) {
            return Status::parse_error("consent_file " + where + " is " +
                                       std::to_string(line.size()) +
                                       " bytes long; the file holds one JSON object per "
                                       "line, each under 64 KiB");
        }
        Value key;
        std::string key_text, purpose;
        bool has_purpose = false, has_granted = false, granted = false, bad_time = false;
        int64_t time = kNoWatermark;
        JsonLine parser(line);
        bool ok = parser.object([&](const std::string& name, const JsonScalar& v) {
            using K = JsonScalar::Kind;
            if (name == file.key_field) {
                if (v.kind == K::kString) {
                    key_text = v.text;
                    key = Value::string_view(key_text);
                } else if (auto n = v.kind == K::kNumber ? int_text(v.text) : std::nullopt) {
                    key = Value::integer(*n);
                }
            } else if (name == "purpose" || name == file.purpose_field) {
                has_purpose = v.kind == K::kString;
                purpose = v.text;
            } else if (name == "granted" || name == file.granted_field) {
                has_granted = v.kind == K::kBool ||
                              (v.kind == K::kString && (v.text == "true" || v.text == "false"));
                granted = v.kind == K::kBool ? v.b : v.text == "true";
            } else if (name == file.time_field) {
                auto t = v.kind == K::kNumber ? int_text(v.text) : std::nullopt;
                bad_time = !t;
                time = t.value_or(time);
            }
        });
        std::string problem = !ok ? parser.error()
                              : key.is_null()
                                  ? "needs `" + file.key_field + "` (a string or an integer)"
                              : !has_purpose ? "needs `" + file.purpose_field + "` (a string)"
                              : !has_granted ? "needs `" + file.granted_field + "` (true or false)"
                              : bad_time ? "`" + file.time_field + "` must be epoch milliseconds"
                                         : "";
        if (!problem.empty()) {
            return Status::parse_error("consent_file " + where + ": " + problem);
        }
        if (std::find(purposes.begin(), purposes.end(), purpose) == purposes.end()) {
            continue;
        }
        std::string k;
        encode_state_key(key, k);
        insert_change(purpose_consent(out[k], purpose).changes, {time, granted});
    }
    return Status::ok();
}

}  // namespace eddy::consent
