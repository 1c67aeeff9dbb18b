// SPDX-License-Identifier: Apache-2.0
// consent: the operator. Consent records update the key's history; events
// are decided at once or held until the watermark passes their time.
#include "eddy/operator.h"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/state.h"

#include "consent/consent.h"
#include "consent/held.h"

namespace eddy::consent {
namespace {

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
          file_{cfg.has("consent_file") ? cfg.string("consent_file") : "",
                cfg.string("file_key_field"), cfg.string("file_time_field"), purpose_name_,
                granted_name_} {}

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
        return file_.path.empty() ? Status::ok() : load_file();
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
        std::vector<ConsentChange>& changes =
            purpose_consent(state_.get_or_create(r.key()).purposes, purpose.as_string()).changes;
        insert_change(changes, {r.time(), granted});
        int64_t wm = timers_->watermark();
        if (wm != kNoWatermark && r.time() <= wm) {
            late_.add();
        }
        // Keep the latest change at or before the watermark and all after it:
        // on-time events are never older than it.
        auto current =
            std::upper_bound(changes.begin(), changes.end(), wm,
                             [](int64_t t, const ConsentChange& c) { return t < c.time; });
        if (current - changes.begin() > 1) {
            changes.erase(changes.begin(), current - 1);
        }
        updates_.add();
    }

    void hold(const Record& r) {
        ConsentState& st = state_.get_or_create(r.key());
        append_held(
            r, [this](FieldId id) { return name_of(id); }, st.held);
        ++st.held_count;
        int64_t t = r.time();
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
        Status s = load_consent_file(file_, purposes_, file_consent_);
        if (s.is_ok()) {
            ctx_->log(LogLevel::kInfo, "loaded consent of " + std::to_string(file_consent_.size()) +
                                           " keys from " + file_.path);
        }
        return s;
    }

    std::vector<std::string> purposes_;
    std::vector<std::string> strip_names_;
    bool strip_;
    bool allow_unknown_;
    bool hold_;
    std::string purpose_name_, granted_name_;
    ConsentFile file_;

    OpenContext* ctx_ = nullptr;
    Timers* timers_ = nullptr;
    KeyedValue<ConsentState> state_{"consent"};
    FieldId purpose_ = kInvalidField, granted_ = kInvalidField;
    std::vector<FieldId> strip_ids_;
    std::string bad_purpose_, bad_granted_;
    Counter dropped_, stripped_, updates_, ignored_, late_;
    // Consent from `consent_file`, by encoded key; the whole file on every shard.
    FileConsent file_consent_;
    // Scratch, reused so that the hot path does not allocate.
    std::string key_, kept_;
    std::vector<float> floats_;
    std::vector<std::string> names_;  // by FieldId
    std::unordered_map<std::string, FieldId, StringHash, std::equal_to<>> ids_;
    std::vector<std::pair<std::string_view, FieldId>> by_position_;  // names live in ids_
};

}  // namespace

Result<std::unique_ptr<Operator>> make_operator(const Config& cfg) {
    return make_component<Operator, Consent>(cfg);
}

}  // namespace eddy::consent
