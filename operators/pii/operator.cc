// SPDX-License-Identifier: Apache-2.0
// The `pii` operator: one pass computes every configured field's new value
// into per-rule scratch, a second copies the record with them. Nothing is
// allocated per record once the scratch strings have grown.
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>

#include "eddy/sha256.h"

#include "pii/pii.h"

namespace eddy::pii {
namespace {

constexpr int64_t kMinMs = -62'167'219'200'000;  // 0000-01-01
constexpr int64_t kMaxMs = 253'402'300'799'999;  // 9999-12-31

/// What one rule made of one value.
enum class Outcome : uint8_t { kUnchanged, kSet, kRemove, kInvalid };

struct Slot {
    Outcome outcome = Outcome::kUnchanged;
    Value value;       ///< For kSet; strings point into `text`.
    std::string text;  ///< Scratch, reserved in open().
};

/// Recent hash inputs and their MACs, direct-mapped. Ids repeat, and a
/// user's events come close together, so most lookups hit; a hit costs a
/// std::hash and a compare instead of two SHA-256 blocks (about 1 us).
class MacCache {
public:
    static constexpr size_t kSlots = 4096;
    static constexpr size_t kMaxInput = 46;  // longer inputs are not cached

    MacCache() : entries_(kSlots) {}

    const Sha256::Digest& mac(const HmacSha256& hmac, std::string_view in) {
        if (in.size() > kMaxInput) {
            spill_ = hmac.mac(in);
            return spill_;
        }
        Entry& e = entries_[std::hash<std::string_view>{}(in) & (kSlots - 1)];
        if (e.size != in.size() || std::memcmp(e.input, in.data(), in.size()) != 0) {
            e.digest = hmac.mac(in);
            e.size = static_cast<uint8_t>(in.size());
            std::memcpy(e.input, in.data(), in.size());
        }
        return e.digest;
    }

private:
    struct Entry {
        uint8_t size = UINT8_MAX;  // UINT8_MAX: empty
        char input[kMaxInput];
        Sha256::Digest digest;
    };
    std::vector<Entry> entries_;
    Sha256::Digest spill_{};
};

constexpr double kPow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12};

class Pii final : public Operator {
public:
    explicit Pii(Options options) : o_(std::move(options)) {}

    Status open(OpenContext& ctx) override {
        if (o_.needs_secret()) {
            Result<std::string> secret = read_secret(o_);
            if (!secret.is_ok()) {
                return secret.status();
            }
            hmac_.emplace(*secret);
            cache_ = std::make_unique<MacCache>();
            std::fill(secret->begin(), secret->end(), '\0');
        }
        slots_.resize(o_.rules.size());
        reasons_.resize(o_.rules.size());
        for (size_t i = 0; i < o_.rules.size(); ++i) {
            const FieldRule& r = o_.rules[i];
            FieldId id = ctx.field(r.field);
            if (id >= rule_of_.size()) {
                rule_of_.resize(id + 1, -1);
            }
            rule_of_[id] = static_cast<int>(i);
            slots_[i].text.reserve(r.prefix.size() + 64);
            reasons_[i] = "`" + r.field + "` " + invalid_text(r.action);
            invalid_.push_back(ctx.counter("pii_invalid_total",
                                           "Values a pii action could not read, by field.",
                                           {{"field", r.field}}));
        }
        dropped_ = ctx.counter("pii_dropped_records_total",
                               "Records dropped because of an invalid value (on_invalid: "
                               "drop_record).");
        return Status::ok();
    }

    void process(const Record& in, Emitter& out) override {
        bool invalid = false;
        for (const Field& f : in.fields()) {
            int r = rule(f.id);
            if (r >= 0) {
                auto i = static_cast<size_t>(r);
                apply(o_.rules[i], f.value, slots_[i]);
                if (slots_[i].outcome == Outcome::kInvalid) {
                    invalid = true;
                    invalid_[i].add();
                }
            }
        }
        if (invalid && o_.on_invalid == OnInvalid::kDropRecord) {
            dropped_.add();
            return;
        }
        if (invalid && o_.on_invalid == OnInvalid::kError) {
            // Cold path: the dead letter gets the transformed record, never raw values.
            scratch_.clear();
            Record& r = scratch_.append();
            build(in, r);
            reason_ = "pii: ";
            for (const Field& f : in.fields()) {
                int i = rule(f.id);
                if (i >= 0 && slots_[static_cast<size_t>(i)].outcome == Outcome::kInvalid) {
                    reason_ += reason_.size() > 5 ? "; " : "";
                    reason_ += reasons_[static_cast<size_t>(i)];
                }
            }
            out.error(r, reason_);
            return;
        }
        build(in, out.append());
    }

private:
    static const char* invalid_text(Action a) {
        switch (a) {
            case Action::kHash:
            case Action::kTokenize:
                return "cannot be hashed: it is a vector";
            case Action::kTruncateIp:
                return "is not an IPv4 or IPv6 address";
            case Action::kTruncateTime:
                return "is not a time: expected epoch milliseconds (or seconds with `unit: s`) "
                       "or ISO-8601 text within the years 0000-9999";
            case Action::kRound:
                return "is not a finite number";
            case Action::kGeohash:
                return "is not a geohash";
            default:
                return "is invalid";
        }
    }

    int rule(FieldId id) const { return id < rule_of_.size() ? rule_of_[id] : -1; }

    void build(const Record& in, Record& r) const {
        r.set_time(in.time());
        for (const Field& f : in.fields()) {
            int i = rule(f.id);
            if (i < 0) {
                if (!o_.drop_unlisted) {
                    r.set_value(f.id, f.value);
                }
                continue;
            }
            const Slot& s = slots_[static_cast<size_t>(i)];
            switch (s.outcome) {
                case Outcome::kUnchanged:
                    r.set_value(f.id, f.value);
                    break;
                case Outcome::kSet:
                    r.set_value(f.id, s.value);
                    break;
                case Outcome::kRemove:
                    break;
                case Outcome::kInvalid:
                    if (o_.on_invalid == OnInvalid::kNull) {
                        r.set_null(f.id);
                    }
                    break;
            }
        }
    }

    void apply(const FieldRule& rule, const Value& v, Slot& s) {
        if (rule.action == Action::kDrop) {
            s.outcome = Outcome::kRemove;
            return;
        }
        if (rule.action == Action::kKeep || v.is_null()) {
            s.outcome = Outcome::kUnchanged;
            return;
        }
        bool ok = false;
        switch (rule.action) {
            case Action::kHash:
            case Action::kTokenize:
                ok = hash(rule, v, s);
                break;
            case Action::kTruncateIp:
                ok = ip(rule, v, s);
                break;
            case Action::kTruncateTime:
                ok = time(rule, v, s);
                break;
            case Action::kRound:
                ok = round(rule, v, s);
                break;
            case Action::kGeohash:
                ok = geohash(rule, v, s);
                break;
            default:
                break;
        }
        s.outcome = ok ? Outcome::kSet : Outcome::kInvalid;
    }

    bool hash(const FieldRule& rule, const Value& v, Slot& s) {
        char buf[32];
        std::string_view text;
        if (!hash_input(v, buf, text)) {
            return false;
        }
        char hex[64];
        hex_digest(cache_->mac(*hmac_, text), static_cast<size_t>(rule.length + 1) / 2, hex);
        s.text.assign(rule.prefix);
        s.text.append(hex, static_cast<size_t>(rule.length));
        s.value = Value::string_view(s.text);
        return true;
    }

    static bool ip(const FieldRule& rule, const Value& v, Slot& s) {
        char out[INET6_ADDRSTRLEN];
        size_t n =
            v.is_string() ? truncate_ip(v.as_string(), rule.ipv4_prefix, rule.ipv6_prefix, out) : 0;
        if (n == 0) {
            return false;
        }
        s.text.assign(out, n);
        s.value = Value::string_view(s.text);
        return true;
    }

    static bool time(const FieldRule& rule, const Value& v, Slot& s) {
        int64_t scale = rule.seconds ? 1000 : 1;
        if (v.is_int()) {
            int64_t t = v.as_int();
            if (t < kMinMs / scale || t > kMaxMs / scale) {
                return false;
            }
            s.value = Value::integer(truncate_time_ms(t * scale, rule.to) / scale);
            return true;
        }
        if (v.is_double()) {
            double d = v.as_double() * static_cast<double>(scale);
            if (!(d >= static_cast<double>(kMinMs) && d <= static_cast<double>(kMaxMs))) {
                return false;  // also NaN
            }
            int64_t t = truncate_time_ms(static_cast<int64_t>(std::floor(d)), rule.to);
            s.value = Value::number(static_cast<double>(t) / static_cast<double>(scale));
            return true;
        }
        if (!v.is_string()) {
            return false;
        }
        std::optional<int64_t> ms = parse_iso8601_ms(v.as_string());
        char text[20];
        if (!ms || !format_iso8601(truncate_time_ms(*ms, rule.to), text)) {
            return false;
        }
        s.text.assign(text, sizeof text);
        s.value = Value::string_view(s.text);
        return true;
    }

    static bool round(const FieldRule& rule, const Value& v, Slot& s) {
        if (v.is_int()) {
            if (rule.decimals >= 0) {
                s.value = v;
                return true;
            }
            auto q = static_cast<int64_t>(kPow10[-rule.decimals]);
            int64_t x = v.as_int();
            int64_t rest = x % q;
            int64_t base = x - rest;
            bool away = 2 * (rest >= 0 ? rest : -rest) >= q;  // half away from zero
            if (away && __builtin_add_overflow(base, rest >= 0 ? q : -q, &base)) {
                return false;
            }
            s.value = Value::integer(base);
            return true;
        }
        if (!v.is_double() || !std::isfinite(v.as_double())) {
            return false;
        }
        double x = v.as_double();
        double r = rule.decimals >= 0
                       ? std::round(x * kPow10[rule.decimals]) / kPow10[rule.decimals]
                       : std::round(x / kPow10[-rule.decimals]) * kPow10[-rule.decimals];
        s.value = Value::number(std::isfinite(r) ? r : x);
        return true;
    }

    static bool geohash(const FieldRule& rule, const Value& v, Slot& s) {
        if (!v.is_string() || !is_geohash(v.as_string())) {
            return false;
        }
        std::string_view g = v.as_string().substr(0, static_cast<size_t>(rule.precision));
        s.text.assign(g);
        for (char& c : s.text) {
            c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
        s.value = Value::string_view(s.text);
        return true;
    }

    Options o_;
    std::optional<HmacSha256> hmac_;
    std::unique_ptr<MacCache> cache_;
    std::vector<int> rule_of_;  // by FieldId: index into o_.rules, or -1
    std::vector<Slot> slots_;   // by rule: its outcome for the current record
    std::vector<std::string> reasons_;
    std::vector<Counter> invalid_;
    Counter dropped_;
    Batch scratch_;
    std::string reason_;
};

}  // namespace

std::unique_ptr<Operator> make_operator(Options options) {
    return std::make_unique<Pii>(std::move(options));
}

}  // namespace eddy::pii
