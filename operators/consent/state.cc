// SPDX-License-Identifier: Apache-2.0
// consent: a key's consent history and the codec of its state.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "common/owned_value.h"
#include "consent/consent.h"
#include "consent/held.h"

namespace eddy {

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
    bool ok = consent::for_each_held(
        s.held, [&](int64_t time, std::string_view payload, std::string_view) {
            j.begin_object().field("time", time).key("fields").begin_object();
            consent::read_fields(payload, floats, [&](size_t, std::string_view n, const Value& v) {
                j.key(n);
                value_to_json(v, j);
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

namespace consent {

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

PurposeConsent& purpose_consent(std::vector<PurposeConsent>& v, std::string_view name) {
    auto it = std::find_if(v.begin(), v.end(),
                           [&](const PurposeConsent& p) { return p.purpose == name; });
    if (it != v.end()) {
        return *it;
    }
    return v.emplace_back(PurposeConsent{std::string(name), {}});
}

void insert_change(std::vector<ConsentChange>& changes, ConsentChange c) {
    auto at = std::upper_bound(changes.begin(), changes.end(), c.time,
                               [](int64_t t, const ConsentChange& x) { return t < x.time; });
    changes.insert(at, c);
}

}  // namespace consent
}  // namespace eddy
