// SPDX-License-Identifier: Apache-2.0
#include "window/aggregates.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace eddy::window {

void Moments::add(const Value& v, bool track_variance) {
    double x = v.as_double();
    ++n;
    sum += x;
    if (all_int) {
        if (!v.is_int() || __builtin_add_overflow(isum, v.as_int(), &isum)) {
            all_int = false;
        }
    }
    min = std::min(min, x);
    max = std::max(max, x);
    if (track_variance) {
        double delta = x - mean;
        mean += delta / static_cast<double>(n);
        m2 += delta * (x - mean);
    }
}

void Moments::merge(const Moments& o) {
    if (o.n == 0) {
        return;
    }
    if (n == 0) {
        *this = o;
        return;
    }
    // Chan et al.: combine two Welford accumulators.
    double na = static_cast<double>(n);
    double nb = static_cast<double>(o.n);
    double delta = o.mean - mean;
    double total = na + nb;
    mean += delta * nb / total;
    m2 += o.m2 + delta * delta * na * nb / total;
    n += o.n;
    sum += o.sum;
    all_int = all_int && o.all_int && !__builtin_add_overflow(isum, o.isum, &isum);
    min = std::min(min, o.min);
    max = std::max(max, o.max);
}

void Pick::offer_first(const Value& v, int64_t t) {
    if (!set || t < time) {
        set = true;
        time = t;
        value.assign(v);
    }
}

void Pick::offer_last(const Value& v, int64_t t) {
    if (!set || t >= time) {
        set = true;
        time = t;
        value.assign(v);
    }
}

void Pick::merge_first(const Pick& o) {
    if (o.set && (!set || o.time < time)) {
        *this = o;
    }
}

void Pick::merge_last(const Pick& o) {
    if (o.set && (!set || o.time >= time)) {
        *this = o;
    }
}

SlotState make_slot(SlotKind kind) {
    switch (kind) {
        case SlotKind::kMoments:
            return Moments{};
        case SlotKind::kPresence:
            return Presence{};
        case SlotKind::kQuantiles:
            return QuantileSketch{};
        case SlotKind::kDistinct:
            return HyperLogLog{};
        case SlotKind::kFirst:
        case SlotKind::kLast:
            return Pick{};
    }
    return Presence{};
}

void merge_pane(Pane& into, const Pane& from, const std::vector<SlotKind>& kinds) {
    into.count += from.count;
    for (size_t i = 0; i < kinds.size(); ++i) {
        SlotState& a = into.slots[i];
        const SlotState& b = from.slots[i];
        switch (kinds[i]) {
            case SlotKind::kMoments:
                std::get<Moments>(a).merge(std::get<Moments>(b));
                break;
            case SlotKind::kPresence:
                std::get<Presence>(a).n += std::get<Presence>(b).n;
                break;
            case SlotKind::kQuantiles:
                std::get<QuantileSketch>(a).merge(std::get<QuantileSketch>(b));
                break;
            case SlotKind::kDistinct:
                std::get<HyperLogLog>(a).merge(std::get<HyperLogLog>(b));
                break;
            case SlotKind::kFirst:
                std::get<Pick>(a).merge_first(std::get<Pick>(b));
                break;
            case SlotKind::kLast:
                std::get<Pick>(a).merge_last(std::get<Pick>(b));
                break;
        }
    }
}

void reset_pane(Pane& pane, const std::vector<SlotKind>& kinds) {
    pane.start = 0;
    pane.count = 0;
    pane.slots.resize(kinds.size());
    for (size_t i = 0; i < kinds.size(); ++i) {
        SlotState& s = pane.slots[i];
        if (kinds[i] == SlotKind::kDistinct && std::holds_alternative<HyperLogLog>(s)) {
            std::get<HyperLogLog>(s).clear();  // keeps its register memory
        } else if (kinds[i] == SlotKind::kFirst || kinds[i] == SlotKind::kLast) {
            if (auto* p = std::get_if<Pick>(&s)) {
                p->set = false;  // keeps its string buffer
            } else {
                s = Pick{};
            }
        } else {
            s = make_slot(kinds[i]);
        }
    }
}

namespace {

void encode_slot(const SlotState& s, StateWriter& w) {
    w.u8(static_cast<uint8_t>(s.index()));
    if (const auto* m = std::get_if<Moments>(&s)) {
        w.varint(m->n);
        w.u8(m->all_int ? 1 : 0);
        w.i64(m->isum);
        w.f64(m->sum);
        w.f64(m->min);
        w.f64(m->max);
        w.f64(m->mean);
        w.f64(m->m2);
    } else if (const auto* p = std::get_if<Presence>(&s)) {
        w.varint(p->n);
    } else if (const auto* q = std::get_if<QuantileSketch>(&s)) {
        q->encode(w);
    } else if (const auto* h = std::get_if<HyperLogLog>(&s)) {
        h->encode(w);
    } else if (const auto* pick = std::get_if<Pick>(&s)) {
        w.u8(pick->set ? 1 : 0);
        if (pick->set) {
            w.i64(pick->time);
            pick->value.encode(w);
        }
    }
}

bool decode_slot(StateReader& r, SlotState& s) {
    uint8_t index = 0;
    if (!r.u8(index)) {
        return false;
    }
    switch (index) {
        case 0: {
            Moments m;
            uint8_t all_int = 0;
            bool ok = r.varint(m.n) && r.u8(all_int) && r.i64(m.isum) && r.f64(m.sum) &&
                      r.f64(m.min) && r.f64(m.max) && r.f64(m.mean) && r.f64(m.m2);
            m.all_int = all_int != 0;
            s = m;
            return ok;
        }
        case 1: {
            Presence p;
            bool ok = r.varint(p.n);
            s = p;
            return ok;
        }
        case 2: {
            QuantileSketch q;
            bool ok = q.decode(r);
            s = std::move(q);
            return ok;
        }
        case 3: {
            HyperLogLog h;
            bool ok = h.decode(r);
            s = std::move(h);
            return ok;
        }
        case 4: {
            Pick p;
            uint8_t set = 0;
            if (!r.u8(set)) {
                return false;
            }
            p.set = set != 0;
            bool ok = !p.set || (r.i64(p.time) && p.value.decode(r));
            s = std::move(p);
            return ok;
        }
        default:
            return false;
    }
}

// A slot does not know its output field: panes list slots in the order of
// the operator's aggregation layout.
void slot_json(const SlotState& s, JsonWriter& j) {
    j.begin_object();
    if (const auto* m = std::get_if<Moments>(&s)) {
        j.field("kind", "moments")
            .field("n", m->n)
            .field("all_int", m->all_int)
            .field("int_sum", m->isum)
            .field("sum", m->sum);
        if (m->n == 0) {
            j.field("min", nullptr).field("max", nullptr);
        } else {
            j.field("min", m->min).field("max", m->max);
        }
        j.field("mean", m->mean).field("m2", m->m2);
    } else if (const auto* p = std::get_if<Presence>(&s)) {
        j.field("kind", "presence").field("n", p->n);
    } else if (const auto* q = std::get_if<QuantileSketch>(&s)) {
        j.field("kind", "quantiles").key("sketch");
        q->to_json(j);
    } else if (const auto* h = std::get_if<HyperLogLog>(&s)) {
        j.field("kind", "distinct").key("sketch");
        h->to_json(j);
    } else if (const auto* pick = std::get_if<Pick>(&s)) {
        j.field("kind", "first_or_last").field("set", pick->set);
        if (pick->set) {
            j.field("time", pick->time).key("value");
            pick->value.to_json(j);
        }
    }
    j.end_object();
}

}  // namespace
}  // namespace eddy::window

namespace eddy {

void Codec<window::KeyWindows>::to_json(const window::KeyWindows& k, JsonWriter& j) {
    char layout[17];
    std::snprintf(layout, sizeof layout, "%016llx", static_cast<unsigned long long>(k.layout));
    j.begin_object().field("layout", layout).key("emitted_end");
    if (k.emitted_end == std::numeric_limits<int64_t>::min()) {
        j.value(nullptr);
    } else {
        j.value(k.emitted_end);
    }
    j.key("timer_at");
    if (k.timer_at == std::numeric_limits<int64_t>::max()) {
        j.value(nullptr);
    } else {
        j.value(k.timer_at);
    }
    j.key("revisions").begin_array();
    for (const auto& [end, revision] : k.revisions) {
        j.begin_object().field("end", end).field("revision", revision).end_object();
    }
    j.end_array().key("panes").begin_array();
    for (const window::Pane& p : k.panes) {
        j.begin_object().field("start", p.start).field("count", p.count).key("slots").begin_array();
        for (const window::SlotState& s : p.slots) {
            window::slot_json(s, j);
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

void Codec<window::KeyWindows>::encode(const window::KeyWindows& k, StateWriter& w) {
    w.varint(k.layout);
    w.i64(k.emitted_end);
    w.i64(k.timer_at);
    w.varint(k.revisions.size());
    for (const auto& [end, revision] : k.revisions) {
        w.i64(end);
        w.varint(revision);
    }
    w.varint(k.panes.size());
    for (const window::Pane& p : k.panes) {
        w.i64(p.start);
        w.varint(p.count);
        w.varint(p.slots.size());
        for (const window::SlotState& s : p.slots) {
            window::encode_slot(s, w);
        }
    }
}

bool Codec<window::KeyWindows>::decode(StateReader& r, uint8_t, window::KeyWindows& k) {
    uint64_t n = 0;
    if (!r.varint(k.layout) || !r.i64(k.emitted_end) || !r.i64(k.timer_at) || !r.varint(n)) {
        return false;
    }
    k.revisions.clear();
    for (uint64_t i = 0; i < n; ++i) {
        int64_t end = 0;
        uint64_t revision = 0;
        if (!r.i64(end) || !r.varint(revision)) {
            return false;
        }
        k.revisions.emplace_back(end, static_cast<uint32_t>(revision));
    }
    if (!r.varint(n)) {
        return false;
    }
    k.panes.clear();
    for (uint64_t i = 0; i < n; ++i) {
        window::Pane& p = k.panes.emplace_back();
        uint64_t slots = 0;
        if (!r.i64(p.start) || !r.varint(p.count) || !r.varint(slots) || slots > 4096) {
            return false;
        }
        p.slots.resize(slots);
        for (window::SlotState& s : p.slots) {
            if (!window::decode_slot(r, s)) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace eddy
