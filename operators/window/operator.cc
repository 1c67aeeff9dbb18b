// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "eddy/state.h"

#include "common/time_math.h"
#include "window/aggregates.h"
#include "window/window.h"

namespace eddy::window {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();

/// One aggregate state kept per pane, shared by the outputs that need it.
struct Slot {
    SlotKind kind;
    std::string field_name;
    std::string first_output;  // for error messages
    bool numeric = false;
    bool track_variance = false;
    FieldId field = kInvalidField;
};

/// One output field: which op reads which slot (-1: the pane's record count).
struct Output {
    const AggregationSpec* spec;
    int slot = -1;
    FieldId field = kInvalidField;
};

SlotKind slot_kind(AggOp op) {
    switch (op) {
        case AggOp::kCount:
            return SlotKind::kPresence;
        case AggOp::kDistinct:
            return SlotKind::kDistinct;
        case AggOp::kQuantile:
            return SlotKind::kQuantiles;
        case AggOp::kFirst:
            return SlotKind::kFirst;
        case AggOp::kLast:
            return SlotKind::kLast;
        default:
            return SlotKind::kMoments;
    }
}

/// Windows are [s, s + size) for every s that is a multiple of slide; panes
/// are [p, p + pane) for multiples p of pane = gcd(size, slide), so every
/// window is a whole number of panes. Time arithmetic saturates at the ends.
class WindowOperator final : public Operator {
public:
    explicit WindowOperator(const Config& cfg) {
        std::string error = parse_config(cfg, cfg_);  // validated by the spec's rule
        (void)error;
        size_ = cfg_.size_ms;
        slide_ = cfg_.slide_ms;
        pane_ = cfg_.pane_ms;
        allowed_ = cfg_.lateness.allowed_ms;
        policy_ = cfg_.lateness.policy;
        update_ = policy_ == LatePolicy::kUpdate;
        fire_delay_ = update_ ? 0 : allowed_;
        build_slots();
    }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(state_);
        for (Slot& s : slots_) {
            s.field = ctx.field(s.field_name);
        }
        for (Output& o : outputs_) {
            o.field = ctx.field(o.spec->name);
        }
        window_start_ = ctx.field("window_start");
        window_end_ = ctx.field("window_end");
        key_ = ctx.field("key");
        revision_ = ctx.field("revision");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        if (!read_values(record, out)) {
            return;
        }
        const int64_t t = record.time();
        const int64_t wm = timers_->watermark();
        bool late_update = false;
        if (wm != kNoWatermark) {
            if (wm >= sat_add(last_end_of(t) - 1, allowed_)) {
                // Every window of t is gone: under update too, nothing is left to correct.
                out.late(record, lateness(wm, t), update_ ? LatePolicy::kSideOutput : policy_);
                return;
            }
            if (update_ && wm >= end_after(t) - 1) {
                late_update = true;
                out.late(record, lateness(wm, t), LatePolicy::kUpdate);
            }
        }
        KeyWindows& kw = state_.get_or_create(record.key());
        if (kw.layout != layout_) {
            kw = KeyWindows{};
            kw.layout = layout_;
        }
        if (wm != kNoWatermark) {
            // Windows whose time has passed without data for this key stay unemitted.
            kw.emitted_end = std::max(kw.emitted_end, sat_add(sat_add(wm, 1), -fire_delay_));
        }
        apply(pane_for(kw, t, record.key()), record);
        if (late_update) {
            reemit(kw, t, wm, record.key(), out);
        }
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        KeyWindows* kw = state_.find(timer.key);
        if (kw == nullptr) {
            return;
        }
        if (kw->layout != layout_) {
            state_.erase(timer.key);
            return;
        }
        const int64_t now = timer.time;
        const int64_t due_end = sat_add(sat_add(now, 1), -fire_delay_);
        for (int64_t e = end_with_data(*kw, kw->emitted_end); e <= due_end;
             e = end_with_data(*kw, e)) {
            emit_window(*kw, e, timer.key, 0, out);
            if (update_ && sat_add(e - 1, allowed_) > now) {
                kw->revisions.emplace_back(e, 0);
            }
        }
        kw->emitted_end = std::max(kw->emitted_end, due_end);
        evict(*kw, now);
        if (kw->panes.empty() && kw->revisions.empty()) {
            state_.erase(timer.key);
            return;
        }
        int64_t next = kNever;
        if (int64_t e = end_with_data(*kw, kw->emitted_end); e != kNever) {
            next = sat_add(e - 1, fire_delay_);
        }
        if (!kw->panes.empty()) {
            next = std::min(next, sat_add(last_end_of(kw->panes.front().start) - 1, allowed_));
        }
        if (!kw->revisions.empty()) {
            next = std::min(next, sat_add(kw->revisions.front().first - 1, allowed_));
        }
        kw->timer_at = next;
        timers_->set(TimeDomain::kEventTime, timer.key, next);
    }

private:
    void build_slots() {
        uint64_t layout = 1469598103934665603ULL;
        auto mix = [&](std::string_view s) {
            for (char c : s) {
                layout = (layout ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
            }
            layout = (layout ^ 0xff) * 1099511628211ULL;
        };
        mix(std::to_string(size_) + "/" + std::to_string(slide_));
        for (const AggregationSpec& a : cfg_.aggregations) {
            Output& o = outputs_.emplace_back();
            o.spec = &a;
            if (a.op == AggOp::kCount && a.field.empty()) {
                continue;
            }
            SlotKind kind = slot_kind(a.op);
            auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) {
                return s.kind == kind && s.field_name == a.field;
            });
            if (it == slots_.end()) {
                Slot s{kind, a.field, a.name};
                s.numeric = kind == SlotKind::kMoments || kind == SlotKind::kQuantiles;
                it = slots_.insert(slots_.end(), std::move(s));
                kinds_.push_back(kind);
                mix(std::to_string(static_cast<int>(kind)) + ":" + a.field);
            }
            it->track_variance = it->track_variance || a.op == AggOp::kStddev;
            o.slot = static_cast<int>(it - slots_.begin());
        }
        layout_ = layout;
        values_.resize(slots_.size());
    }

    /// Reads each slot's value into values_; false (after reporting the record
    /// on `errors`) when a numeric aggregation meets a non-number.
    bool read_values(const Record& record, Emitter& out) {
        for (size_t i = 0; i < slots_.size(); ++i) {
            const Value* v = record.get(slots_[i].field);
            if (v != nullptr && v->is_null()) {
                v = nullptr;
            }
            if (v != nullptr && slots_[i].numeric) {
                if (!v->is_number()) {
                    out.error(record, "field `" + slots_[i].field_name +
                                          "` must be a number for aggregation `" +
                                          slots_[i].first_output + "`, got " +
                                          value_type_name(v->type()));
                    return false;
                }
                if (v->is_double() && std::isnan(v->as_double())) {
                    v = nullptr;
                }
            }
            values_[i] = v;
        }
        return true;
    }

    void apply(Pane& pane, const Record& record) {
        ++pane.count;
        for (size_t i = 0; i < slots_.size(); ++i) {
            const Value* v = values_[i];
            if (v == nullptr) {
                continue;
            }
            SlotState& s = pane.slots[i];
            switch (slots_[i].kind) {
                case SlotKind::kMoments:
                    std::get<Moments>(s).add(*v, slots_[i].track_variance);
                    break;
                case SlotKind::kPresence:
                    ++std::get<Presence>(s).n;
                    break;
                case SlotKind::kQuantiles:
                    std::get<QuantileSketch>(s).add(v->as_double());
                    break;
                case SlotKind::kDistinct:
                    std::get<HyperLogLog>(s).add(*v);
                    break;
                case SlotKind::kFirst:
                    std::get<Pick>(s).offer_first(*v, record.time());
                    break;
                case SlotKind::kLast:
                    std::get<Pick>(s).offer_last(*v, record.time());
                    break;
            }
        }
    }

    /// The pane holding time t, created (with its timer) when new.
    Pane& pane_for(KeyWindows& kw, int64_t t, const Value& key) {
        const int64_t start = floor_div(t, pane_) * pane_;
        if (!kw.panes.empty() && kw.panes.back().start == start) {
            return kw.panes.back();  // the in-order fast path
        }
        auto it = std::lower_bound(kw.panes.begin(), kw.panes.end(), start,
                                   [](const Pane& p, int64_t s) { return p.start < s; });
        if (it != kw.panes.end() && it->start == start) {
            return *it;
        }
        Pane pane;
        pane.start = start;
        pane.slots.reserve(kinds_.size());
        for (SlotKind k : kinds_) {
            pane.slots.push_back(make_slot(k));
        }
        it = kw.panes.insert(it, std::move(pane));
        // The first thing this pane needs: its first window not yet emitted, or
        // (under update, when all have been) its expiry.
        int64_t first = std::max(end_after(start), end_after(kw.emitted_end));
        int64_t last = last_end_of(start);
        int64_t need =
            first <= last ? sat_add(first - 1, fire_delay_) : sat_add(last - 1, allowed_);
        if (need < kw.timer_at) {
            kw.timer_at = need;
            timers_->set(TimeDomain::kEventTime, key, need);
        }
        return *it;
    }

    /// Under update: re-emits each fired, retained window containing t.
    void reemit(KeyWindows& kw, int64_t t, int64_t wm, const Value& key, Emitter& out) {
        for (int64_t e = end_after(t); e <= last_end_of(t) && e - 1 <= wm; e += slide_) {
            if (sat_add(e - 1, allowed_) <= wm) {
                continue;
            }
            auto it = std::lower_bound(
                kw.revisions.begin(), kw.revisions.end(), e,
                [](const std::pair<int64_t, uint32_t>& r, int64_t end) { return r.first < end; });
            uint32_t revision = 0;
            if (it != kw.revisions.end() && it->first == e) {
                revision = ++it->second;
            } else {
                kw.revisions.insert(it, {e, 0});
            }
            emit_window(kw, e, key, revision, out);
        }
    }

    void evict(KeyWindows& kw, int64_t now) {
        const int64_t expired_end = sat_add(sat_add(now, 1), -allowed_);
        auto pane = std::find_if(kw.panes.begin(), kw.panes.end(),
                                 [&](const Pane& p) { return last_end_of(p.start) > expired_end; });
        kw.panes.erase(kw.panes.begin(), pane);
        auto rev = std::find_if(kw.revisions.begin(), kw.revisions.end(),
                                [&](const auto& r) { return r.first > expired_end; });
        kw.revisions.erase(kw.revisions.begin(), rev);
    }

    void emit_window(KeyWindows& kw, int64_t end, const Value& key, uint32_t revision,
                     Emitter& out) {
        const int64_t start = end - size_;
        auto by_start = [](const Pane& p, int64_t s) { return p.start < s; };
        auto first = std::lower_bound(kw.panes.begin(), kw.panes.end(), start, by_start);
        auto last = std::lower_bound(first, kw.panes.end(), end, by_start);
        const Pane* agg = &*first;
        if (last - first != 1) {
            reset_pane(scratch_, kinds_);
            for (auto it = first; it != last; ++it) {
                merge_pane(scratch_, *it, kinds_);
            }
            agg = &scratch_;
        }
        Record& r = out.append();
        r.set_time(end - 1);
        r.set(window_start_, start);
        r.set(window_end_, end);
        if (!key.is_null()) {
            r.set_value(key_, key);
        }
        for (const Output& o : outputs_) {
            write_result(r, o, *agg);
        }
        if (update_) {
            r.set(revision_, static_cast<int64_t>(revision));
        }
    }

    static void write_result(Record& r, const Output& o, const Pane& agg) {
        const AggregationSpec& a = *o.spec;
        if (o.slot < 0) {
            r.set(o.field, static_cast<int64_t>(agg.count));
            return;
        }
        const SlotState& s = agg.slots[static_cast<size_t>(o.slot)];
        if (a.op == AggOp::kCount) {
            r.set(o.field, static_cast<int64_t>(std::get<Presence>(s).n));
        } else if (a.op == AggOp::kDistinct) {
            r.set(o.field, static_cast<int64_t>(std::llround(std::get<HyperLogLog>(s).estimate())));
        } else if (a.op == AggOp::kQuantile) {
            const auto& sketch = std::get<QuantileSketch>(s);
            sketch.count() == 0 ? r.set_null(o.field) : r.set(o.field, sketch.quantile(a.q));
        } else if (a.op == AggOp::kFirst || a.op == AggOp::kLast) {
            const Pick& p = std::get<Pick>(s);
            p.set ? r.set_value(o.field, p.value.view()) : r.set_null(o.field);
        } else {
            write_moment(r, o.field, a.op, std::get<Moments>(s));
        }
    }

    static void write_moment(Record& r, FieldId field, AggOp op, const Moments& m) {
        if (m.n == 0) {
            r.set_null(field);
            return;
        }
        switch (op) {
            case AggOp::kSum:
                m.all_int ? r.set(field, m.isum) : r.set(field, m.sum);
                break;
            case AggOp::kAvg:
                r.set(field, m.sum / static_cast<double>(m.n));
                break;
            case AggOp::kMin:
                m.all_int ? r.set(field, static_cast<int64_t>(m.min)) : r.set(field, m.min);
                break;
            case AggOp::kMax:
                m.all_int ? r.set(field, static_cast<int64_t>(m.max)) : r.set(field, m.max);
                break;
            default:  // kStddev, population
                r.set(field, std::sqrt(std::max(0.0, m.m2 / static_cast<double>(m.n))));
                break;
        }
    }

    /// The smallest window end after x (x itself excluded).
    int64_t end_after(int64_t x) const {
        if (x < kMinTime / 2) {
            return kMinTime;  // before every window
        }
        return floor_div(x - size_, slide_) * slide_ + slide_ + size_;
    }
    /// The end of the last window containing time t.
    int64_t last_end_of(int64_t t) const { return floor_div(t, slide_) * slide_ + size_; }

    /// The smallest window end after `after` whose window holds a pane, or kNever.
    int64_t end_with_data(const KeyWindows& kw, int64_t after) const {
        auto it = std::upper_bound(kw.panes.begin(), kw.panes.end(), sat_add(after, -size_),
                                   [](int64_t s, const Pane& p) { return s < p.start; });
        const int64_t floor_end = end_after(after);
        for (; it != kw.panes.end(); ++it) {
            int64_t e = std::max(floor_end, end_after(it->start));
            if (e <= last_end_of(it->start)) {
                return e;
            }
        }
        return kNever;
    }

    static int64_t lateness(int64_t wm, int64_t t) { return wm > t ? sat_add(wm, -t) : 0; }

    WindowConfig cfg_;
    int64_t size_ = 0;
    int64_t slide_ = 0;
    int64_t pane_ = 0;
    int64_t allowed_ = 0;
    int64_t fire_delay_ = 0;  // how long after window_end - 1 a window is first emitted
    LatePolicy policy_ = LatePolicy::kSideOutput;
    bool update_ = false;

    std::vector<Slot> slots_;
    std::vector<SlotKind> kinds_;
    std::vector<Output> outputs_;
    uint64_t layout_ = 0;
    std::vector<const Value*> values_;  // per slot, for the record being processed
    Pane scratch_;                      // merge target for multi-pane windows

    KeyedValue<KeyWindows> state_{"windows"};
    Timers* timers_ = nullptr;
    FieldId window_start_ = kInvalidField;
    FieldId window_end_ = kInvalidField;
    FieldId key_ = kInvalidField;
    FieldId revision_ = kInvalidField;
};

}  // namespace

std::unique_ptr<Operator> make_operator(const Config& cfg) {
    return std::make_unique<WindowOperator>(cfg);
}

}  // namespace eddy::window
