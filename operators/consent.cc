// SPDX-License-Identifier: Apache-2.0
#include "consent.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/operator.h"
#include "eddy/registry.h"
#include "eddy/state.h"

namespace eddy {

// A held event is [u32 payload length][payload]; the payload is the event
// time as 8 raw bytes, then the field count and (name, type, value) per field.
// Names, not FieldIds, because ids are not stable across restarts.

void Codec<ConsentState>::encode(const ConsentState& s, StateWriter& w) {
    w.varint(s.purposes.size());
    for (const PurposeConsent& p : s.purposes) {
        w.str(p.purpose);
        w.varint(p.changes.size());
        for (const ConsentChange& c : p.changes) {
            w.i64(c.time);
            w.u8(c.granted ? 1 : 0);
        }
    }
    w.str(s.held);
    w.varint(s.held_count);
    w.i64(s.timer);
}

bool Codec<ConsentState>::decode(StateReader& r, uint8_t, ConsentState& s) {
    uint64_t n = 0;
    if (!r.varint(n) || n > (1u << 16)) {
        return false;
    }
    s.purposes.assign(n, {});
    for (PurposeConsent& p : s.purposes) {
        uint64_t m = 0;
        if (!r.str(p.purpose) || !r.varint(m) || m > (1u << 20)) {
            return false;
        }
        p.changes.assign(m, {});
        for (ConsentChange& c : p.changes) {
            uint8_t g = 0;
            r.i64(c.time);
            r.u8(g);
            c.granted = g != 0;
        }
    }
    uint64_t count = 0;
    r.str(s.held);
    r.varint(count);
    s.held_count = static_cast<uint32_t>(count);
    r.i64(s.timer);
    return r.ok();
}

namespace {

/// Calls f(time, payload) for every held event; false when the bytes are malformed.
template <class F>
bool for_each_held(std::string_view held, F&& f) {
    while (!held.empty()) {
        uint32_t len = 0;
        int64_t time = 0;
        if (held.size() < sizeof len) {
            return false;
        }
        std::memcpy(&len, held.data(), sizeof len);
        if (len < sizeof time || held.size() - sizeof len < len) {
            return false;
        }
        std::string_view payload = held.substr(sizeof len, len);
        std::memcpy(&time, payload.data(), sizeof time);
        f(time, payload, held.substr(0, sizeof len + len));
        held.remove_prefix(sizeof len + len);
    }
    return true;
}

/// Reads what StateWriter wrote into a held event, as views into it (no copies).
class HeldReader {
public:
    explicit HeldReader(std::string_view in) : in_(in) {}
    bool varint(uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64 && !in_.empty(); shift += 7) {
            auto b = static_cast<uint8_t>(in_[0]);
            in_.remove_prefix(1);
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return true;
            }
        }
        return false;
    }
    bool bytes(size_t n, std::string_view& out) {
        if (in_.size() < n) {
            return false;
        }
        out = in_.substr(0, n);
        in_.remove_prefix(n);
        return true;
    }
    bool str(std::string_view& out) {
        uint64_t n = 0;
        return varint(n) && bytes(n, out);
    }
    bool done() const { return in_.empty(); }

private:
    std::string_view in_;
};

/// Reads a payload's fields, calling f(index, name, value); strings point
/// into the payload, vectors into `floats` until the next field. False when
/// malformed.
template <class F>
bool read_fields(std::string_view payload, std::vector<float>& floats, F&& f) {
    HeldReader r(payload.substr(sizeof(int64_t)));
    uint64_t n = 0;
    if (!r.varint(n)) {
        return false;
    }
    for (uint64_t i = 0; i < n; ++i) {
        std::string_view name, raw;
        uint64_t x = 0;
        Value v;
        if (!r.str(name) || !r.bytes(1, raw)) {
            return false;
        }
        bool ok = true;
        switch (static_cast<ValueType>(raw[0])) {
            case ValueType::kNull:
                break;
            case ValueType::kBool:
                ok = r.bytes(1, raw);
                v = Value::boolean(ok && raw[0] != 0);
                break;
            case ValueType::kInt:
                ok = r.varint(x);
                v = Value::integer(static_cast<int64_t>((x >> 1) ^ (~(x & 1) + 1)));
                break;
            case ValueType::kDouble: {
                double d = 0;
                ok = r.bytes(sizeof d, raw);
                if (ok) {
                    std::memcpy(&d, raw.data(), sizeof d);
                }
                v = Value::number(d);
                break;
            }
            case ValueType::kString:
                ok = r.str(raw);
                v = Value::string_view(raw);
                break;
            case ValueType::kVector:
                ok = r.varint(x) && x <= payload.size() && r.bytes(x * sizeof(float), raw);
                if (ok) {
                    floats.resize(x);
                    std::memcpy(floats.data(), raw.data(), raw.size());
                }
                v = Value::vector_view(floats);
                break;
            default:
                return false;
        }
        if (!ok) {
            return false;
        }
        f(static_cast<size_t>(i), name, v);
    }
    return r.done();
}

}  // namespace

void Codec<ConsentState>::to_json(const ConsentState& s, JsonWriter& j) {
    j.begin_object().key("purposes").begin_object();
    for (const PurposeConsent& p : s.purposes) {
        j.key(p.purpose).begin_array();
        for (const ConsentChange& c : p.changes) {
            j.begin_object().field("time", c.time).field("granted", c.granted).end_object();
        }
        j.end_array();
    }
    j.end_object().key("held").begin_array();
    std::vector<float> floats;
    bool ok = for_each_held(s.held, [&](int64_t time, std::string_view payload, std::string_view) {
        j.begin_object().field("time", time).key("fields").begin_object();
        read_fields(payload, floats, [&](size_t, std::string_view n, const Value& v) {
            j.key(n);
            switch (v.type()) {
                case ValueType::kBool:
                    j.value(v.as_bool());
                    break;
                case ValueType::kInt:
                    j.value(v.as_int());
                    break;
                case ValueType::kDouble:
                    j.value(v.as_double());
                    break;
                case ValueType::kString:
                    j.value(v.as_string());
                    break;
                case ValueType::kVector:
                    j.begin_array();
                    for (float x : v.as_vector()) {
                        j.value(static_cast<double>(x));
                    }
                    j.end_array();
                    break;
                default:
                    j.value(nullptr);
            }
        });
        j.end_object().end_object();
    });
    j.end_array().field("held_ok", ok).key("timer");
    if (s.timer == kNoConsentTime) {
        j.value(nullptr);
    } else {
        j.value(s.timer);
    }
    j.end_object();
}

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

/// Whether `text` is a whole decimal integer, into `out`.
bool whole_int(const std::string& text, int64_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

/// The latest change at or before `t`, or nullptr.
const ConsentChange* latest(const std::vector<ConsentChange>& changes, int64_t t) {
    for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
        if (it->time <= t) {
            return &*it;
        }
    }
    return nullptr;
}

const PurposeConsent* find_purpose(const std::vector<PurposeConsent>& v, std::string_view name) {
    for (const PurposeConsent& p : v) {
        if (p.purpose == name) {
            return &p;
        }
    }
    return nullptr;
}

/// Inserts a change after those at or before its time (the later record wins a tie).
void insert_change(std::vector<ConsentChange>& changes, ConsentChange c) {
    auto at = std::upper_bound(changes.begin(), changes.end(), c.time,
                               [](int64_t t, const ConsentChange& x) { return t < x.time; });
    changes.insert(at, c);
}

class Consent final : public Operator {
public:
    explicit Consent(const Config& cfg)
        : purposes_(cfg.strings("purposes")),
          strip_names_(cfg.has("strip") ? cfg.strings("strip") : std::vector<std::string>{}),
          strip_(cfg.string("action") == "strip"),
          allow_unknown_(cfg.string("unknown") == "allow"),
          hold_(cfg.string("decide_at") == "watermark"),
          purpose_name_(cfg.string("purpose_field")),
          granted_name_(cfg.string("granted_field")),
          file_(cfg.has("consent_file") ? cfg.string("consent_file") : ""),
          file_key_(cfg.string("file_key_field")),
          file_time_(cfg.string("file_time_field")) {}

    Status open(OpenContext& ctx) override {
        ctx_ = &ctx;
        timers_ = &ctx.timers();
        ctx.register_state(state_);
        purpose_ = ctx.field(purpose_name_);
        granted_ = ctx.field(granted_name_);
        for (const std::string& n : strip_names_) {
            strip_ids_.push_back(ctx.field(n));
        }
        bad_purpose_ = "consent record: `" + purpose_name_ + "` must be a string";
        bad_granted_ = "consent record: `" + granted_name_ + "` must be true or false";
        dropped_ = ctx.counter("consent_dropped_total", "Events dropped for lack of consent.");
        stripped_ = ctx.counter("consent_stripped_total", "Events stripped for lack of consent.");
        updates_ = ctx.counter("consent_updates_total", "Consent records applied.");
        ignored_ = ctx.counter("consent_ignored_total",
                               "Consent records for purposes this operator does not check.");
        late_ = ctx.counter("consent_late_updates_total",
                            "Consent records at or behind the watermark when they arrived.");
        return file_.empty() ? Status::ok() : load_file();
    }

    void process(const Record& r, Emitter& out) override {
        if (const Value* p = r.get(purpose_)) {
            update(r, *p, out);
        } else if (hold_ && r.time() > timers_->watermark()) {
            hold(r);
        } else {
            decide(r, state_.find(r.key()), out);
        }
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        ConsentState* st = state_.find(timer.key);
        if (st == nullptr) {
            return;
        }
        st->timer = kNoConsentTime;
        int64_t wm = timers_->watermark();
        int64_t next = kEndOfTime;
        uint32_t kept = 0;
        kept_.clear();
        const std::vector<PurposeConsent>* file = file_of(timer.key);
        for_each_held(st->held, [&](int64_t t, std::string_view payload, std::string_view whole) {
            if (t <= wm) {
                release(t, payload, *st, file, out);
            } else {
                kept_.append(whole);
                ++kept;
                next = std::min(next, t);
            }
        });
        st->held_count = kept;
        if (kept > 0) {
            st->held.assign(kept_);
            st->timer = next;
            timers_->set(TimeDomain::kEventTime, timer.key, next);
        } else if (st->purposes.empty()) {
            state_.erase(timer.key);
        } else {
            // Held events are transient: do not keep a burst's buffer for every key.
            std::string().swap(st->held);
        }
    }

private:
    bool stripped(FieldId id) const {
        return std::find(strip_ids_.begin(), strip_ids_.end(), id) != strip_ids_.end();
    }

    void update(const Record& r, const Value& purpose, Emitter& out) {
        if (!purpose.is_string()) {
            out.error(r, bad_purpose_);
            return;
        }
        const Value* g = r.get(granted_);
        bool granted = false;
        if (g != nullptr && g->is_bool()) {
            granted = g->as_bool();
        } else if (g != nullptr && g->is_string() &&
                   (g->as_string() == "true" || g->as_string() == "false")) {
            granted = g->as_string() == "true";
        } else {
            out.error(r, bad_granted_);
            return;
        }
        if (std::find(purposes_.begin(), purposes_.end(), purpose.as_string()) == purposes_.end()) {
            ignored_.add();
            return;
        }
        ConsentState& st = state_.get_or_create(r.key());
        auto it =
            std::find_if(st.purposes.begin(), st.purposes.end(),
                         [&](const PurposeConsent& p) { return p.purpose == purpose.as_string(); });
        if (it == st.purposes.end()) {
            st.purposes.push_back({std::string(purpose.as_string()), {}});
            it = st.purposes.end() - 1;
        }
        insert_change(it->changes, {r.time(), granted});
        int64_t wm = timers_->watermark();
        if (wm != kNoWatermark && r.time() <= wm) {
            late_.add();
        }
        // Keep the latest change at or before the watermark and all after it:
        // on-time events are never older than it.
        auto current =
            std::upper_bound(it->changes.begin(), it->changes.end(), wm,
                             [](int64_t t, const ConsentChange& c) { return t < c.time; });
        if (current - it->changes.begin() > 1) {
            it->changes.erase(it->changes.begin(), current - 1);
        }
        updates_.add();
    }

    void hold(const Record& r) {
        ConsentState& st = state_.get_or_create(r.key());
        std::string& out = st.held;
        size_t at = out.size();
        int64_t t = r.time();
        out.append(sizeof(uint32_t), '\0');
        out.append(reinterpret_cast<const char*>(&t), sizeof t);
        StateWriter w(out);
        w.varint(r.field_count());
        for (const Field& f : r.fields()) {
            w.str(name_of(f.id));
            w.u8(static_cast<uint8_t>(f.value.type()));
            switch (f.value.type()) {
                case ValueType::kBool:
                    w.u8(f.value.as_bool() ? 1 : 0);
                    break;
                case ValueType::kInt:
                    w.i64(f.value.as_int());
                    break;
                case ValueType::kDouble:
                    w.f64(f.value.as_double());
                    break;
                case ValueType::kString:
                    w.str(f.value.as_string());
                    break;
                case ValueType::kVector:
                    w.floats(f.value.as_vector());
                    break;
                default:
                    break;
            }
        }
        auto len = static_cast<uint32_t>(out.size() - at - sizeof(uint32_t));
        std::memcpy(out.data() + at, &len, sizeof len);
        ++st.held_count;
        if (st.timer == kNoConsentTime || t < st.timer) {
            if (st.timer != kNoConsentTime) {
                timers_->cancel(TimeDomain::kEventTime, r.key(), st.timer);
            }
            st.timer = t;
            timers_->set(TimeDomain::kEventTime, r.key(), t);
        }
    }

    /// The name of a field id, cached: FieldTable lookups take a lock.
    std::string_view name_of(FieldId id) {
        if (id >= names_.size()) {
            names_.resize(id + 1);
        }
        if (names_[id].empty()) {
            names_[id] = std::string(ctx_->field_name(id));
        }
        return names_[id];
    }

    /// The id of the i-th field's name. Events mostly list the same fields in
    /// the same order, so the name seen last at position i is tried first.
    FieldId id_at(size_t i, std::string_view name) {
        if (i < by_position_.size() && by_position_[i].first == name) {
            return by_position_[i].second;
        }
        auto it = ids_.find(name);
        if (it == ids_.end()) {
            it = ids_.emplace(std::string(name), ctx_->field(name)).first;
        }
        if (i >= by_position_.size()) {
            by_position_.resize(i + 1);
        }
        by_position_[i] = {it->first, it->second};
        return it->second;
    }

    void release(int64_t t, std::string_view payload, const ConsentState& st,
                 const std::vector<PurposeConsent>* file, Emitter& out) {
        bool ok = permitted(&st, file, t);
        if (!ok && !strip_) {
            dropped_.add();
            return;
        }
        if (!ok) {
            stripped_.add();
        }
        Record& r = out.append();
        r.set_time(t);
        read_fields(payload, floats_, [&](size_t i, std::string_view name, const Value& v) {
            FieldId id = id_at(i, name);
            if (ok || !stripped(id)) {
                r.set_value(id, v);
            }
        });
    }

    void decide(const Record& r, const ConsentState* st, Emitter& out) {
        if (permitted(st, file_of(r.key()), r.time())) {
            out.emit(r);
            return;
        }
        if (!strip_) {
            dropped_.add();
            return;
        }
        stripped_.add();
        Record& s = out.append();
        s.set_time(r.time());
        for (const Field& f : r.fields()) {
            if (!stripped(f.id)) {
                s.set_value(f.id, f.value);
            }
        }
    }

    /// The key's consent from `consent_file`, or nullptr.
    const std::vector<PurposeConsent>* file_of(const Value& key) {
        if (file_consent_.empty()) {
            return nullptr;
        }
        key_.clear();
        encode_state_key(key, key_);
        auto it = file_consent_.find(key_);
        return it != file_consent_.end() ? &it->second : nullptr;
    }

    /// Whether every purpose was granted as of `t`, by the latest change from
    /// the stream or the file (the stream wins a tie); unknown per `unknown`.
    bool permitted(const ConsentState* st, const std::vector<PurposeConsent>* file, int64_t t) {
        for (const std::string& p : purposes_) {
            const ConsentChange* c = nullptr;
            if (st != nullptr) {
                if (const PurposeConsent* pc = find_purpose(st->purposes, p)) {
                    c = latest(pc->changes, t);
                }
            }
            if (file != nullptr) {
                if (const PurposeConsent* pc = find_purpose(*file, p)) {
                    const ConsentChange* fc = latest(pc->changes, t);
                    if (fc != nullptr && (c == nullptr || fc->time > c->time)) {
                        c = fc;
                    }
                }
            }
            if (!(c != nullptr ? c->granted : allow_unknown_)) {
                return false;
            }
        }
        return true;
    }

    Status load_file() {
        std::ifstream in(file_);
        if (!in) {
            return Status::not_found("cannot open consent_file `" + file_ +
                                     "`: " + std::strerror(errno));
        }
        std::string line;
        int number = 0;
        while (std::getline(in, line)) {
            ++number;
            if (line.find_first_not_of(" \t\r") == std::string::npos) {
                continue;
            }
            std::string where = "`" + file_ + "` line " + std::to_string(number);
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
            int64_t time = kNoWatermark, number_key = 0;
            JsonLine parser(line);
            bool ok = parser.object([&](const std::string& name, const JsonScalar& v) {
                using K = JsonScalar::Kind;
                if (name == file_key_) {
                    if (v.kind == K::kString) {
                        key_text = v.text;
                        key = Value::string_view(key_text);
                    } else if (v.kind == K::kNumber && whole_int(v.text, number_key)) {
                        key = Value::integer(number_key);
                    }
                } else if (name == "purpose" || name == purpose_name_) {
                    has_purpose = v.kind == K::kString;
                    purpose = v.text;
                } else if (name == "granted" || name == granted_name_) {
                    has_granted = v.kind == K::kBool ||
                                  (v.kind == K::kString && (v.text == "true" || v.text == "false"));
                    granted = v.kind == K::kBool ? v.b : v.text == "true";
                } else if (name == file_time_) {
                    bad_time = v.kind != K::kNumber || !whole_int(v.text, time);
                }
            });
            std::string problem = !ok ? parser.error()
                                  : key.is_null()
                                      ? "needs `" + file_key_ + "` (a string or an integer)"
                                  : !has_purpose ? "needs `" + purpose_name_ + "` (a string)"
                                  : !has_granted ? "needs `" + granted_name_ + "` (true or false)"
                                  : bad_time     ? "`" + file_time_ + "` must be epoch milliseconds"
                                                 : "";
            if (!problem.empty()) {
                return Status::parse_error("consent_file " + where + ": " + problem);
            }
            if (std::find(purposes_.begin(), purposes_.end(), purpose) == purposes_.end()) {
                continue;
            }
            std::string k;
            encode_state_key(key, k);
            std::vector<PurposeConsent>& v = file_consent_[k];
            auto it = std::find_if(v.begin(), v.end(),
                                   [&](const PurposeConsent& p) { return p.purpose == purpose; });
            if (it == v.end()) {
                v.push_back({purpose, {}});
                it = v.end() - 1;
            }
            insert_change(it->changes, {time, granted});
        }
        ctx_->log(LogLevel::kInfo, "loaded consent of " + std::to_string(file_consent_.size()) +
                                       " keys from " + file_);
        return Status::ok();
    }

    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    std::vector<std::string> purposes_;
    std::vector<std::string> strip_names_;
    bool strip_;
    bool allow_unknown_;
    bool hold_;
    std::string purpose_name_, granted_name_, file_, file_key_, file_time_;

    OpenContext* ctx_ = nullptr;
    Timers* timers_ = nullptr;
    KeyedValue<ConsentState> state_{"consent"};
    FieldId purpose_ = kInvalidField, granted_ = kInvalidField;
    std::vector<FieldId> strip_ids_;
    std::string bad_purpose_, bad_granted_;
    Counter dropped_, stripped_, updates_, ignored_, late_;
    // Consent from `consent_file`, by encoded key; the whole file on every shard.
    std::unordered_map<std::string, std::vector<PurposeConsent>, Hash, std::equal_to<>>
        file_consent_;
    // Scratch, reused so that the hot path does not allocate.
    std::string key_, kept_;
    std::vector<float> floats_;
    std::vector<std::string> names_;  // by FieldId
    std::unordered_map<std::string, FieldId, Hash, std::equal_to<>> ids_;
    std::vector<std::pair<std::string_view, FieldId>> by_position_;  // names live in ids_
};

std::string check_consent(const Config& cfg) {
    std::vector<std::string> purposes = cfg.strings("purposes");
    if (purposes.empty()) {
        return "`purposes` is empty; name the purposes an event needs, e.g. `[analytics]`";
    }
    for (size_t i = 0; i < purposes.size(); ++i) {
        if (purposes[i].empty()) {
            return "`purposes` has an empty name";
        }
        if (std::find(purposes.begin(), purposes.begin() + static_cast<std::ptrdiff_t>(i),
                      purposes[i]) != purposes.begin() + static_cast<std::ptrdiff_t>(i)) {
            return "`purposes` lists `" + purposes[i] + "` twice";
        }
    }
    bool strip = cfg.string("action") == "strip";
    if (strip && (!cfg.has("strip") || cfg.strings("strip").empty())) {
        return "`action: strip` needs `strip`, the fields to remove, e.g. `[ip, ua]`";
    }
    if (!strip && cfg.has("strip")) {
        return "`strip` only applies with `action: strip`; with `action: drop` events are "
               "dropped whole";
    }
    if (cfg.string("purpose_field") == cfg.string("granted_field")) {
        return "`purpose_field` and `granted_field` must be different fields";
    }
    if (cfg.has("consent_file") && cfg.string("consent_file").empty()) {
        return "`consent_file` is empty; give the path of a JSON Lines file or remove it";
    }
    return "";
}

}  // namespace

ComponentSpec consent_spec() {
    return OperatorSpec("consent")
        .summary(
            "Passes each key's events only for the purposes it consented to; drops or strips "
            "the others. Consent comes from a consent stream and/or a JSON Lines file.")
        .description(
            "Keyed by the user key. Its input (or `inputs: [events, consents]`, keyed alike) "
            "carries two kinds of records, told apart by `purpose_field`: a record that has "
            "it is a consent record (`granted_field` true or false, the event time is when "
            "it takes effect) and is consumed, never passed on; any other record is an "
            "event. An event passes when every purpose in `purposes` is granted as of its "
            "event time: by the latest consent change at or before that time. Otherwise "
            "`action: drop` drops it and `action: strip` passes it without the `strip` "
            "fields. A key with no consent for a purpose as of the event time is judged by "
            "`unknown` (deny by default).\n\n"
            "`decide_at: watermark` (default) holds each event, in keyed state, until the "
            "watermark passes its time, so that every consent record up to that time has "
            "arrived on either input, however the two inputs interleave: a consent change "
            "applies exactly from its event time on, at the cost of the watermark's delay and "
            "of state for the held events. Events already behind the watermark when they "
            "arrive are decided at once. `decide_at: arrival` decides each event when it "
            "arrives, by the consent known then: a consent record that arrives after events "
            "it should govern does not apply to them. Use it when consent is known before "
            "the events (a `consent_file`, a consent stream read well ahead) or when the "
            "delay is unacceptable.\n\n"
            "Consent history per key and purpose is kept from the latest change at or "
            "before the watermark on; an event older than every kept change (very late) is "
            "judged by `unknown`. `consent_file` is read at startup: one JSON object per line "
            "with `file_key_field` (a string or an integer, matching the key), `purpose`, "
            "`granted` and optionally `file_time_field` (epoch ms; absent: from the "
            "beginning of time); a malformed line stops the job at startup with its line "
            "number. Every shard holds the whole file in memory; the stream wins a tie with "
            "the file. Consent records for other purposes are counted and ignored; one whose "
            "purpose is not a string or whose granted is not true or false goes to `errors`. "
            "Metrics: `eddy_consent_dropped_total`, `eddy_consent_stripped_total`, "
            "`eddy_consent_updates_total`, `eddy_consent_ignored_total`, "
            "`eddy_consent_late_updates_total`. See docs/privacy.md.")
        .keyed(KeyMode::kRequired)
        .param(Param::list("purposes")
                   .required()
                   .doc("The purposes an event needs consent for; all must be granted.")
                   .example("[analytics, personalization]"))
        .param(Param::enumeration("action", {"drop", "strip"})
                   .default_value("drop")
                   .doc("What happens to an event without consent: `drop` it, or `strip` the "
                        "`strip` fields and pass the rest."))
        .param(Param::list("strip")
                   .doc("Fields removed from events without consent (with `action: strip`).")
                   .example("[ip, ua, item_id]"))
        .param(Param::enumeration("unknown", {"deny", "allow"})
                   .default_value("deny")
                   .doc("How a purpose without any consent record for the key (as of the "
                        "event's time) counts: `deny` (opt-in) or `allow` (opt-out)."))
        .param(Param::enumeration("decide_at", {"watermark", "arrival"})
                   .default_value("watermark")
                   .doc("When an event is decided: once the watermark passes its time (exact "
                        "in event time, delayed), or when it arrives (immediate, by the consent "
                        "known then)."))
        .param(Param::string("purpose_field")
                   .default_value("purpose")
                   .doc("The field that makes a record a consent record, naming its purpose."))
        .param(Param::string("granted_field")
                   .default_value("granted")
                   .doc("The field of a consent record that says whether the purpose is "
                        "granted (true or false)."))
        .param(Param::string("consent_file")
                   .doc("A JSON Lines file of consent records read at startup.")
                   .example("/var/lib/consent/export.jsonl"))
        .param(Param::string("file_key_field")
                   .default_value("user_id")
                   .doc("The field of `consent_file` records that holds the key."))
        .param(Param::string("file_time_field")
                   .default_value("ts")
                   .doc("The field of `consent_file` records with the time (epoch ms) from "
                        "which the consent applies."))
        .keyed_state<ConsentState>(
            "consent",
            "Per key: the consent changes per purpose (time, granted), from the latest at "
            "or before the watermark on, and the events held until the watermark passes "
            "their time.")
        .rule(check_consent)
        .example("Drop events of users without analytics consent", R"(sources:
  clicks: {type: generator, events: 100}
  consents:
    type: file
    path: consents.jsonl            # {"user_id":"u1","purpose":"analytics","granted":true,"ts":...}
    event_time: {field: ts, unit: ms}
    watermark: {idle_timeout: 10s}
operators:
  consented:
    type: consent
    inputs: [clicks, consents]
    key: user_id
    purposes: [analytics]
)")
        .example("Strip personal fields from events without ads consent", R"(operators:
  ads_safe:
    type: consent
    input: clicks
    key: user_id
    purposes: [ads]
    action: strip
    strip: [ip, ua, referrer]
    decide_at: arrival
)")
        .factory(make_component<Operator, Consent>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(consent) {
    return eddy::consent_spec();
}
