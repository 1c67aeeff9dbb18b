// SPDX-License-Identifier: Apache-2.0
#include "sessionizer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/lateness.h"
#include "eddy/operator.h"
#include "eddy/registry.h"

namespace eddy {

void Codec<Session>::encode(const Session& s, StateWriter& w) {
    w.str(s.id);
    w.i64(s.start);
    w.i64(s.last);
    w.i64(s.events);
    w.varint(s.counts.size());
    for (int64_t c : s.counts) {
        w.i64(c);
    }
    w.i64(s.dwell_ms);
    w.f64(s.max_scroll);
    w.u8(s.has_scroll ? 1 : 0);
    w.str(s.conversion_type);
    w.i64(s.conversion_time);
    w.str(s.entry_page);
    w.i64(s.entry_time);
    w.str(s.exit_page);
    w.i64(s.exit_time);
    w.str(s.device);
    w.i64(s.device_time);
    w.str(s.merged_ids);
    w.i64(s.revision);
    w.i64(s.closed_at);
}

bool Codec<Session>::decode(StateReader& r, uint8_t, Session& s) {
    uint64_t n = 0;
    r.str(s.id);
    r.i64(s.start);
    r.i64(s.last);
    r.i64(s.events);
    if (!r.varint(n) || n > (1u << 16)) {
        return false;
    }
    s.counts.assign(n, 0);
    for (int64_t& c : s.counts) {
        r.i64(c);
    }
    uint8_t has_scroll = 0;
    r.i64(s.dwell_ms);
    r.f64(s.max_scroll);
    r.u8(has_scroll);
    s.has_scroll = has_scroll != 0;
    r.str(s.conversion_type);
    r.i64(s.conversion_time);
    r.str(s.entry_page);
    r.i64(s.entry_time);
    r.str(s.exit_page);
    r.i64(s.exit_time);
    r.str(s.device);
    r.i64(s.device_time);
    r.str(s.merged_ids);
    r.i64(s.revision);
    r.i64(s.closed_at);
    return r.ok();
}

namespace {

/// An optional time: null when it is kNoSessionTime.
void time_field(JsonWriter& j, std::string_view name, int64_t t) {
    j.key(name);
    if (t == kNoSessionTime) {
        j.value(nullptr);
    } else {
        j.value(t);
    }
}

}  // namespace

void Codec<Session>::to_json(const Session& s, JsonWriter& j) {
    j.begin_object()
        .field("id", s.id)
        .field("open", s.is_open())
        .field("start", s.start)
        .field("last", s.last)
        .field("events", s.events)
        .key("counts")
        .begin_array();
    for (int64_t c : s.counts) {
        j.value(c);
    }
    j.end_array().field("dwell_ms", s.dwell_ms).key("max_scroll");
    if (s.has_scroll) {
        j.value(s.max_scroll);
    } else {
        j.value(nullptr);
    }
    j.field("conversion_type", s.conversion_type);
    time_field(j, "conversion_time", s.conversion_time);
    j.field("entry_page", s.entry_page);
    time_field(j, "entry_time", s.entry_time);
    j.field("exit_page", s.exit_page);
    time_field(j, "exit_time", s.exit_time);
    j.field("device", s.device);
    time_field(j, "device_time", s.device_time);
    j.field("merged_ids", s.merged_ids).field("revision", s.revision);
    time_field(j, "closed_at", s.closed_at);
    j.end_object();
}

void Codec<KeySessions>::to_json(const KeySessions& k, JsonWriter& j) {
    j.begin_object().key("sessions").begin_array();
    for (const Session& s : k.sessions) {
        Codec<Session>::to_json(s, j);
    }
    j.end_array();
    time_field(j, "timer", k.timer);
    j.end_object();
}

void Codec<KeySessions>::encode(const KeySessions& k, StateWriter& w) {
    w.varint(k.sessions.size());
    for (const Session& s : k.sessions) {
        Codec<Session>::encode(s, w);
    }
    w.i64(k.timer);
}

bool Codec<KeySessions>::decode(StateReader& r, uint8_t version, KeySessions& k) {
    uint64_t n = 0;
    if (!r.varint(n)) {
        return false;
    }
    k.sessions.clear();
    for (uint64_t i = 0; i < n; ++i) {
        Session s;
        if (!Codec<Session>::decode(r, version, s)) {
            return false;
        }
        k.sessions.push_back(std::move(s));
    }
    return r.i64(k.timer);
}

namespace {

int64_t add_sat(int64_t a, int64_t b) {  // b >= 0
    return a > kEndOfTime - b ? kEndOfTime : a + b;
}

int64_t sub_sat(int64_t a, int64_t b) {  // b >= 0
    return a < kNoWatermark + b ? kNoWatermark : a - b;
}

/// The key as text for session ids: strings as they are, numbers in decimal.
void append_key_text(const Value& key, std::string& out) {
    char buf[32];
    switch (key.type()) {
        case ValueType::kString:
            out.append(key.as_string());
            return;
        case ValueType::kInt: {
            auto res = std::to_chars(buf, buf + sizeof buf, key.as_int());
            out.append(buf, res.ptr);
            return;
        }
        case ValueType::kDouble: {
            auto res = std::to_chars(buf, buf + sizeof buf, key.as_double());
            out.append(buf, res.ptr);
            return;
        }
        case ValueType::kBool:
            out.append(key.as_bool() ? "true" : "false");
            return;
        default:
            out.append("null");
    }
}

/// What an event type means to the summary: a counter index and/or a conversion.
struct TypeRule {
    std::string type;
    int count = -1;  // index into Session::counts, -1: not counted
    bool conversion = false;
};

class Sessionizer final : public Operator {
public:
    explicit Sessionizer(const Config& cfg)
        : gap_(cfg.duration("gap").count()),
          max_duration_(cfg.has("max_duration") ? cfg.duration("max_duration").count()
                                                : kEndOfTime),
          lateness_(Lateness::from(cfg)),
          retention_(cfg.duration("update_retention").count()),
          annotate_(cfg.boolean("annotate")),
          key_name_(cfg.string("key_field")),
          type_name_(cfg.string("type_field")),
          page_name_(cfg.string("page_field")),
          dwell_name_(cfg.string("dwell_field")),
          scroll_name_(cfg.string("scroll_field")),
          device_name_(cfg.string("device_field")) {
        for (const auto& [type, field] : cfg.value("counts").entries()) {
            rule_for(type).count = static_cast<int>(count_names_.size());
            count_names_.push_back(field.as_string());
        }
        for (const std::string& type : cfg.strings("conversion_types")) {
            rule_for(type).conversion = true;
        }
    }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(state_);
        summaries_ = annotate_ ? ctx.output("sessions") : kMainOutput;
        type_ = ctx.field(type_name_);
        page_ = ctx.field(page_name_);
        dwell_ = ctx.field(dwell_name_);
        scroll_ = ctx.field(scroll_name_);
        device_in_ = ctx.field(device_name_);
        session_id_ = ctx.field("session_id");
        key_ = ctx.field(key_name_);
        start_ = ctx.field("start");
        end_ = ctx.field("end");
        duration_ = ctx.field("duration_ms");
        events_ = ctx.field("events");
        for (const std::string& n : count_names_) {
            counts_.push_back(ctx.field(n));
        }
        dwell_total_ = ctx.field("dwell_ms_total");
        max_scroll_ = ctx.field("max_scroll");
        converted_ = ctx.field("converted");
        conversion_type_ = ctx.field("conversion_type");
        entry_page_ = ctx.field("entry_page");
        exit_page_ = ctx.field("exit_page");
        device_out_ = ctx.field("device");
        revision_ = ctx.field("revision");
        merged_ids_ = ctx.field("merged_ids");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        const Value& key = record.key();
        int64_t t = record.time();
        int64_t wm = timers_->watermark();
        bool behind = wm != kNoWatermark && t <= sub_sat(wm, lateness_.allowed_ms);
        if (behind) {
            // Inside an open session's [start, last] an event changes no boundary,
            // so it is applied however far behind the watermark it is.
            if (KeySessions* ks = state_.find(key)) {
                if (Session* s = open_session_containing(*ks, t)) {
                    add_event(*s, record, t);
                    annotate(record, *s, out);
                    return;
                }
            }
            out.late(record, wm - t, lateness_.policy);
            if (lateness_.policy != LatePolicy::kUpdate) {
                return;
            }
        }
        KeySessions& ks = state_.get_or_create(key);
        Session& s = ks.sessions[place(ks, key, t, !behind)];
        add_event(s, record, t);
        s.closed_at = kNoSessionTime;  // a late event re-opens a closed session
        annotate(record, s, out);
        if (behind && close_time(s) <= wm) {
            emit_summary(s, key, out);
            s.closed_at = wm;
        }
        reschedule(ks, key);
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        KeySessions* ks = state_.find(timer.key);
        if (ks == nullptr) {
            return;
        }
        ks->timer = kNoSessionTime;  // this one fired
        int64_t now = timer.time;
        for (Session& s : ks->sessions) {
            if (s.is_open() && close_time(s) <= now) {
                emit_summary(s, timer.key, out);
                s.closed_at = now;
            }
        }
        bool keep_closed = lateness_.policy == LatePolicy::kUpdate;
        std::erase_if(ks->sessions, [&](const Session& s) {
            return !s.is_open() && (!keep_closed || add_sat(s.closed_at, retention_) <= now);
        });
        reschedule(*ks, timer.key);
    }

private:
    TypeRule& rule_for(const std::string& type) {
        for (TypeRule& r : rules_) {
            if (r.type == type) {
                return r;
            }
        }
        rules_.push_back({type, -1, false});
        return rules_.back();
    }

    /// When the watermark makes the session final: its gap has elapsed, or it
    /// has reached max_duration, plus the allowed lateness.
    int64_t close_time(const Session& s) const {
        int64_t end = std::min(add_sat(s.last, gap_), add_sat(s.start, max_duration_));
        return add_sat(end - 1, lateness_.allowed_ms);
    }

    static Session* open_session_containing(KeySessions& ks, int64_t t) {
        auto it = std::lower_bound(ks.sessions.begin(), ks.sessions.end(), t,
                                   [](const Session& s, int64_t x) { return s.last < x; });
        if (it != ks.sessions.end() && it->start <= t && it->is_open()) {
            return &*it;
        }
        return nullptr;
    }

    /// The index of the session that takes an event at `t`, after merging the
    /// sessions it bridges or creating a new one. `on_time` events ignore
    /// closed sessions (they cannot overlap them; see the spec description).
    size_t place(KeySessions& ks, const Value& key, int64_t t, bool on_time) {
        std::vector<Session>& v = ks.sessions;
        // Candidates: sessions whose [start - gap, last + gap] window strictly contains t.
        // Ranges are disjoint and sorted, so `last` increases with the index.
        auto first = std::upper_bound(v.begin(), v.end(), sub_sat(t, gap_),
                                      [](int64_t x, const Session& s) { return x < s.last; });
        int64_t before = add_sat(t, gap_);
        candidates_.clear();
        auto begin = static_cast<size_t>(first - v.begin());
        size_t end = begin;
        for (; end < v.size() && v[end].start < before; ++end) {
            if (!on_time || v[end].is_open()) {
                candidates_.push_back(end);
            }
        }
        if (candidates_.empty()) {
            return insert_new(ks, key, t);
        }
        int64_t lo = std::min(t, v[candidates_.front()].start);
        int64_t hi = std::max(t, v[candidates_.back()].last);
        if (hi - lo < max_duration_) {
            // A skipped closed session can lie between candidates only when it
            // closed by max_duration, and then the span here exceeds it.
            size_t into = candidates_.front();
            for (size_t k = candidates_.size() - 1; k > 0; --k) {
                merge(v[into], v[candidates_[k]]);
                v.erase(v.begin() + static_cast<std::ptrdiff_t>(candidates_[k]));
            }
            return into;
        }
        // Bridging would exceed max_duration: join the neighbour that stays short
        // enough, preferring the one the event follows, or start a new session.
        // Neighbours are taken among all sessions so that ranges stay disjoint.
        size_t left = SIZE_MAX;
        size_t right = SIZE_MAX;
        for (size_t i = begin; i < end; ++i) {
            if (v[i].start <= t && t <= v[i].last) {
                return i;  // an open one: on-time events are never inside closed sessions
            }
            if (v[i].last < t) {
                left = i;
            } else if (right == SIZE_MAX) {
                right = i;
            }
        }
        auto joinable = [&](size_t i) { return !on_time || v[i].is_open(); };
        if (left != SIZE_MAX && joinable(left) && t - v[left].start < max_duration_) {
            return left;
        }
        if (right != SIZE_MAX && joinable(right) && v[right].last - t < max_duration_) {
            return right;
        }
        return insert_new(ks, key, t);
    }

    size_t insert_new(KeySessions& ks, const Value& key, int64_t t) {
        auto at = std::lower_bound(ks.sessions.begin(), ks.sessions.end(), t,
                                   [](const Session& s, int64_t x) { return s.start < x; });
        Session& s = *ks.sessions.emplace(at);
        append_key_text(key, s.id);
        s.id.push_back(':');
        char buf[24];
        auto res = std::to_chars(buf, buf + sizeof buf, t);
        s.id.append(buf, res.ptr);
        s.start = t;
        s.last = t;
        s.counts.assign(count_names_.size(), 0);
        return static_cast<size_t>(&s - ks.sessions.data());
    }

    /// Folds `src` (later in time than `dst`) into `dst`, which keeps its id.
    void merge(Session& dst, const Session& src) const {
        dst.start = std::min(dst.start, src.start);
        dst.last = std::max(dst.last, src.last);
        dst.events += src.events;
        for (size_t i = 0; i < dst.counts.size() && i < src.counts.size(); ++i) {
            dst.counts[i] += src.counts[i];
        }
        dst.dwell_ms += src.dwell_ms;
        if (src.has_scroll && (!dst.has_scroll || src.max_scroll > dst.max_scroll)) {
            dst.max_scroll = src.max_scroll;
            dst.has_scroll = true;
        }
        if (src.conversion_time != kNoSessionTime &&
            (dst.conversion_time == kNoSessionTime || src.conversion_time < dst.conversion_time)) {
            dst.conversion_time = src.conversion_time;
            dst.conversion_type = src.conversion_type;
        }
        if (src.entry_time != kNoSessionTime &&
            (dst.entry_time == kNoSessionTime || src.entry_time < dst.entry_time)) {
            dst.entry_time = src.entry_time;
            dst.entry_page = src.entry_page;
        }
        if (src.exit_time != kNoSessionTime && src.exit_time >= dst.exit_time) {
            dst.exit_time = src.exit_time;
            dst.exit_page = src.exit_page;
        }
        if (src.device_time != kNoSessionTime &&
            (dst.device_time == kNoSessionTime || src.device_time < dst.device_time)) {
            dst.device_time = src.device_time;
            dst.device = src.device;
        }
        // Only ids someone has seen (in a summary, or on annotated events) are reported.
        if (annotate_ || src.revision > 0) {
            append_id(dst.merged_ids, src.id);
        }
        if (!src.merged_ids.empty()) {
            append_id(dst.merged_ids, src.merged_ids);
        }
    }

    static void append_id(std::string& list, std::string_view id) {
        if (!list.empty()) {
            list.push_back(',');
        }
        list.append(id);
    }

    void add_event(Session& s, const Record& r, int64_t t) {
        s.start = std::min(s.start, t);
        s.last = std::max(s.last, t);
        ++s.events;
        if (const Value* type = r.get(type_); type != nullptr && type->is_string()) {
            std::string_view name = type->as_string();
            for (const TypeRule& rule : rules_) {
                if (rule.type != name) {
                    continue;
                }
                if (rule.count >= 0) {
                    ++s.counts[static_cast<size_t>(rule.count)];
                }
                if (rule.conversion &&
                    (s.conversion_time == kNoSessionTime || t < s.conversion_time)) {
                    s.conversion_time = t;
                    s.conversion_type.assign(name);
                }
                break;
            }
        }
        if (const Value* d = r.get(dwell_); d != nullptr && d->is_number()) {
            s.dwell_ms += d->is_int() ? d->as_int() : std::llround(d->as_double());
        }
        if (const Value* sc = r.get(scroll_); sc != nullptr && sc->is_number()) {
            double v = sc->as_double();
            if (!s.has_scroll || v > s.max_scroll) {
                s.max_scroll = v;
                s.has_scroll = true;
            }
        }
        if (const Value* p = r.get(page_); p != nullptr && p->is_string()) {
            if (s.entry_time == kNoSessionTime || t < s.entry_time) {
                s.entry_time = t;
                s.entry_page.assign(p->as_string());
            }
            if (s.exit_time == kNoSessionTime || t >= s.exit_time) {
                s.exit_time = t;
                s.exit_page.assign(p->as_string());
            }
        }
        if (const Value* d = r.get(device_in_); d != nullptr && d->is_string()) {
            if (s.device_time == kNoSessionTime || t < s.device_time) {
                s.device_time = t;
                s.device.assign(d->as_string());
            }
        }
    }

    void annotate(const Record& record, const Session& s, Emitter& out) const {
        if (annotate_) {
            Record& r = out.append(kMainOutput);
            r.assign(record);
            r.set(session_id_, std::string_view(s.id));
        }
    }

    void emit_summary(Session& s, const Value& key, Emitter& out) {
        Record& r = out.append(summaries_);
        r.set_time(s.last);
        r.set(session_id_, std::string_view(s.id));
        r.set_value(key_, key);
        r.set(start_, s.start);
        r.set(end_, s.last);
        r.set(duration_, s.last - s.start);
        r.set(events_, s.events);
        for (size_t i = 0; i < counts_.size(); ++i) {
            r.set(counts_[i], s.counts[i]);
        }
        r.set(dwell_total_, s.dwell_ms);
        if (s.has_scroll) {
            r.set(max_scroll_, s.max_scroll);
        } else {
            r.set_null(max_scroll_);
        }
        bool converted = s.conversion_time != kNoSessionTime;
        r.set(converted_, converted);
        set_optional(r, conversion_type_, converted, s.conversion_type);
        set_optional(r, entry_page_, s.entry_time != kNoSessionTime, s.entry_page);
        set_optional(r, exit_page_, s.exit_time != kNoSessionTime, s.exit_page);
        set_optional(r, device_out_, s.device_time != kNoSessionTime, s.device);
        r.set(revision_, s.revision);
        if (!s.merged_ids.empty()) {
            r.set(merged_ids_, std::string_view(s.merged_ids));
        }
        ++s.revision;
    }

    static void set_optional(Record& r, FieldId id, bool present, const std::string& v) {
        if (present) {
            r.set(id, std::string_view(v));
        } else {
            r.set_null(id);
        }
    }

    /// Keeps exactly one pending timer per key, at its earliest due time.
    void reschedule(KeySessions& ks, const Value& key) {
        int64_t due = kEndOfTime;
        for (const Session& s : ks.sessions) {
            due = std::min(due, s.is_open() ? close_time(s) : add_sat(s.closed_at, retention_));
        }
        if (ks.sessions.empty()) {
            if (ks.timer != kNoSessionTime) {
                timers_->cancel(TimeDomain::kEventTime, key, ks.timer);
            }
            state_.erase(key);
            return;
        }
        if (due == ks.timer) {
            return;
        }
        if (ks.timer != kNoSessionTime) {
            timers_->cancel(TimeDomain::kEventTime, key, ks.timer);
        }
        ks.timer = due;
        timers_->set(TimeDomain::kEventTime, key, due);
    }

    int64_t gap_;
    int64_t max_duration_;
    Lateness lateness_;
    int64_t retention_;
    bool annotate_;
    std::string key_name_, type_name_, page_name_, dwell_name_, scroll_name_, device_name_;
    std::vector<std::string> count_names_;
    std::vector<TypeRule> rules_;

    Timers* timers_ = nullptr;
    KeyedValue<KeySessions> state_{"sessions"};
    std::vector<size_t> candidates_;  // scratch for place()
    OutputId summaries_ = kMainOutput;
    FieldId type_{}, page_{}, dwell_{}, scroll_{}, device_in_{};
    FieldId session_id_{}, key_{}, start_{}, end_{}, duration_{}, events_{}, dwell_total_{},
        max_scroll_{}, converted_{}, conversion_type_{}, entry_page_{}, exit_page_{}, device_out_{},
        revision_{}, merged_ids_{};
    std::vector<FieldId> counts_;
};

/// Summary field names that `counts` and `key_field` must not reuse.
const std::vector<std::string>& fixed_summary_fields() {
    static const std::vector<std::string> names = {
        "session_id",     "start",      "end",       "duration_ms",     "events",
        "dwell_ms_total", "max_scroll", "converted", "conversion_type", "entry_page",
        "exit_page",      "device",     "revision",  "merged_ids"};
    return names;
}

std::string check_names(const Config& cfg) {
    std::vector<std::string> seen = fixed_summary_fields();
    auto claim = [&](const std::string& name, const std::string& what) -> std::string {
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
            return what + " `" + name +
                   "` collides with another summary field; choose another name";
        }
        seen.push_back(name);
        return "";
    };
    if (std::string e = claim(cfg.string("key_field"), "key_field"); !e.empty()) {
        return e;
    }
    for (const auto& [type, field] : cfg.value("counts").entries()) {
        if (std::string e = claim(field.as_string(), "the count field for `" + type + "`");
            !e.empty()) {
            return e;
        }
    }
    return "";
}

}  // namespace

ComponentSpec sessionizer_spec() {
    OperatorSpec spec("sessionizer");
    spec.summary(
            "Groups each key's events into sessions closed by an inactivity gap or a maximum "
            "duration, and emits one summary per session.")
        .description(
            "Event-time session windows, as in Flink. Gap: an event at time t opens the window "
            "[t, t + gap); a session is the union of overlapping windows, so consecutive events "
            "belong to one session when they are strictly less than `gap` apart, and an event "
            "exactly `gap` after the last one starts a new session. Out-of-order events extend "
            "a session at either end, and an event that falls within `gap` of two sessions of "
            "its key merges them into one.\n\n"
            "Max duration: an event joins or bridges sessions only while the result spans less "
            "than `max_duration` (last - start); otherwise it joins the one session it fits in, "
            "preferring the session it follows, or starts a new session. For events in time "
            "order this splits a long run of activity at the first event at or after start + "
            "max_duration.\n\n"
            "Closing: a session closes when the watermark reaches min(last + gap, start + "
            "max_duration) - 1 + allowed_lateness; its summary is then emitted, including at "
            "the end of a finite input, whose watermark is the end of time. One event-time "
            "timer per key is kept at its earliest closing time and replaced as sessions "
            "extend or merge.\n\n"
            "Lateness: an event is late when its time is at or before watermark - "
            "allowed_lateness (the engine's definition of late when allowed_lateness is 0). "
            "Because sessions stay open allowed_lateness past their gap, every on-time event "
            "still finds its session open, and summaries are final. A late event that falls "
            "within an open session's [start, last] changes no boundary and is applied as if "
            "on time. Other late events go to `late` (side_output) or are dropped (drop). With "
            "`on_late: update` they are applied: closed sessions are kept for "
            "`update_retention` after they close, a late event extends, merges or re-opens "
            "them, and a corrected summary with the same `session_id` and `revision` + 1 is "
            "emitted as soon as the watermark allows (immediately when it is already past the "
            "session's closing time). A late event that touches no kept session forms its own "
            "session.\n\n"
            "Session ids are `<key>:<time in ms of the event that opened the session>`; for "
            "events in time order that is the session's start. When sessions merge, the one "
            "that starts first keeps its id, and ids already shown to a consumer (in a summary, "
            "or on annotated events) are listed in the summary's `merged_ids`, so that a "
            "consumer can retract them.\n\n"
            "Summary fields: `session_id`, the key (named by `key_field`), `start`, `end` (the "
            "first and last event times, ms), `duration_ms` (end - start), `events`, one count "
            "per entry of `counts`, `dwell_ms_total` (sum of `dwell_field`), `max_scroll` (max "
            "of `scroll_field`, null when absent), `converted` and `conversion_type` (the type "
            "of the earliest event whose type is in `conversion_types`, else null), "
            "`entry_page` and `exit_page` (`page_field` of the earliest and latest events that "
            "have one), `device` (`device_field` of the earliest event that has one), "
            "`revision` (0 for the first summary of an id) and, when not empty, `merged_ids` "
            "(comma-separated). The summary's event time is `end`. Fields of the wrong type "
            "(a string dwell time, say) are ignored; the event still counts.\n\n"
            "Annotate: with `annotate: true`, every applied event is also passed through on "
            "the main output with a `session_id` field, and summaries move to the `sessions` "
            "output. The id is that of the session the event joined when it arrived; a later "
            "merge into another session is reported by that session's `merged_ids`.")
        .keyed(KeyMode::kRequired)
        .param(Param::duration("gap").default_value("30m").min(1).doc(
            "Inactivity that ends a session: events strictly less than `gap` apart "
            "share a session."))
        .param(Param::duration("max_duration")
                   .min(1)
                   .doc("The longest a session may span (last - start); unlimited when unset.")
                   .example("4h"))
        .param(Param::boolean("annotate")
                   .default_value(false)
                   .doc("Also pass every applied event through the main output with a `session_id` "
                        "field; summaries then go to the `sessions` output."))
        .param(Param::string("key_field")
                   .default_value("key")
                   .doc("Name of the summary field that holds the session's key; set it to the "
                        "key's name (e.g. `user_id`) to key later operators by it."))
        .param(Param::string("type_field")
                   .default_value("type")
                   .doc("The field with the event type, used by `counts` and "
                        "`conversion_types`."))
        .param(Param::map("counts", ParamType::kString)
                   .default_value("{page_view: page_views, click: clicks, add_to_cart: "
                                  "add_to_carts, purchase: purchases, search: searches, "
                                  "video_play: video_plays, signup: signups, scroll: scrolls}")
                   .doc("Event types to count, each mapped to the summary field that holds its "
                        "count (0 when none)."))
        .param(Param::list("conversion_types")
                   .default_value("[purchase]")
                   .doc("Event types that mark a session as converted."))
        .param(Param::string("page_field")
                   .default_value("url")
                   .doc("The field with the page, for `entry_page` and `exit_page`."))
        .param(Param::string("dwell_field")
                   .default_value("dwell_ms")
                   .doc("A numeric field summed into `dwell_ms_total`."))
        .param(Param::string("scroll_field")
                   .default_value("scroll_pct")
                   .doc("A numeric field whose maximum is `max_scroll`."))
        .param(Param::string("device_field")
                   .default_value("device")
                   .doc("The field whose earliest value is the summary's `device`."))
        .param(Param::duration("update_retention")
                   .default_value("1h")
                   .min(0)
                   .doc("With `on_late: update`, how long (in watermark time) a closed session "
                        "is kept after it closes so that late events can correct it. Ignored "
                        "with other policies."));
    add_lateness(spec);
    return spec
        .output("sessions",
                "Session summaries when `annotate` is true (otherwise they "
                "are on the main output and this output stays empty).")
        .keyed_state<KeySessions>(
            "sessions",
            "Per key: its open sessions (times, counters, entry and exit page, device) and, "
            "with `on_late: update`, closed sessions for `update_retention`.")
        .rule(check_names)
        .example("30-minute sessions per user", R"(operators:
  sessions:
    type: sessionizer
    input: clicks
    key: user_id
    key_field: user_id
    gap: 30m
    max_duration: 4h
)")
        .example("Annotate events and correct sessions with late events", R"(operators:
  sessions:
    type: sessionizer
    input: clicks
    key: user_id
    annotate: true
    allowed_lateness: 1m
    on_late: update
)")
        .factory(make_component<Operator, Sessionizer>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(sessionizer) {
    return eddy::sessionizer_spec();
}
