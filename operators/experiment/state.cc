// SPDX-License-Identifier: Apache-2.0
// Codecs of the `experiment` operator's state.
#include "eddy/codec.h"

#include "experiment/experiment.h"

namespace eddy {
namespace {

using experiment::kNoWindow;
using experiment::VariantCounts;

void encode_counts(const VariantCounts& c, StateWriter& w) {
    w.i64(c.users);
    w.i64(c.converters);
    w.i64(c.impressions);
    w.i64(c.clicks);
    w.i64(c.new_users);
    w.i64(c.new_converters);
}

bool decode_counts(StateReader& r, VariantCounts& c) {
    return r.i64(c.users) && r.i64(c.converters) && r.i64(c.impressions) && r.i64(c.clicks) &&
           r.i64(c.new_users) && r.i64(c.new_converters);
}

void counts_to_json(const VariantCounts& c, JsonWriter& j) {
    j.begin_object()
        .field("users", c.users)
        .field("converters", c.converters)
        .field("impressions", c.impressions)
        .field("clicks", c.clicks)
        .field("new_users", c.new_users)
        .field("new_converters", c.new_converters)
        .end_object();
}

void window_to_json(int64_t start, JsonWriter& j) {
    if (start == kNoWindow) {
        j.value(nullptr);
    } else {
        j.value(start);
    }
}

}  // namespace

void Codec<experiment::UserState>::encode(const experiment::UserState& u, StateWriter& w) {
    w.varint(u.variant);
    w.i64(u.first_exposed);
    w.i64(u.first_converted);
    w.varint(u.windows.size());
    for (const experiment::UserWindow& uw : u.windows) {
        w.i64(uw.start);
        w.u8(static_cast<uint8_t>((uw.exposed ? 1 : 0) | (uw.converted ? 2 : 0)));
    }
}

bool Codec<experiment::UserState>::decode(StateReader& r, uint8_t, experiment::UserState& u) {
    uint64_t variant = 0;
    uint64_t n = 0;
    if (!r.varint(variant) || variant > UINT32_MAX || !r.i64(u.first_exposed) ||
        !r.i64(u.first_converted) || !r.varint(n) || n > 1'000'000) {
        return false;
    }
    u.variant = static_cast<uint32_t>(variant);
    u.windows.resize(n);
    for (experiment::UserWindow& uw : u.windows) {
        uint8_t flags = 0;
        if (!r.i64(uw.start) || !r.u8(flags)) {
            return false;
        }
        uw.exposed = (flags & 1) != 0;
        uw.converted = (flags & 2) != 0;
    }
    return r.ok();
}

void Codec<experiment::UserState>::to_json(const experiment::UserState& u, JsonWriter& j) {
    j.begin_object().key("variant");
    if (u.variant == UINT32_MAX) {
        j.value(nullptr);
    } else {
        j.value(u.variant);
    }
    j.key("first_exposed");
    window_to_json(u.first_exposed, j);
    j.key("first_converted");
    window_to_json(u.first_converted, j);
    j.key("windows").begin_array();
    for (const experiment::UserWindow& uw : u.windows) {
        j.begin_object()
            .field("start", uw.start)
            .field("exposed", uw.exposed)
            .field("converted", uw.converted)
            .end_object();
    }
    j.end_array().end_object();
}

void Codec<experiment::Totals>::encode(const experiment::Totals& t, StateWriter& w) {
    w.varint(t.variants.size());
    for (const std::string& v : t.variants) {
        w.str(v);
    }
    for (const VariantCounts& c : t.cumulative) {
        encode_counts(c, w);
    }
    w.varint(t.windows.size());
    for (const experiment::OpenWindow& win : t.windows) {
        w.i64(win.start);
        for (const VariantCounts& c : win.counts) {
            encode_counts(c, w);
        }
    }
    w.i64(t.users);
}

bool Codec<experiment::Totals>::decode(StateReader& r, uint8_t, experiment::Totals& t) {
    uint64_t variants = 0;
    if (!r.varint(variants) || variants > 65536) {
        return false;
    }
    t.variants.resize(variants);
    for (std::string& v : t.variants) {
        if (!r.str(v)) {
            return false;
        }
    }
    t.cumulative.resize(variants);
    for (VariantCounts& c : t.cumulative) {
        if (!decode_counts(r, c)) {
            return false;
        }
    }
    uint64_t windows = 0;
    if (!r.varint(windows) || windows > 1'000'000) {
        return false;
    }
    t.windows.resize(windows);
    for (experiment::OpenWindow& win : t.windows) {
        win.counts.resize(variants);
        if (!r.i64(win.start)) {
            return false;
        }
        for (VariantCounts& c : win.counts) {
            if (!decode_counts(r, c)) {
                return false;
            }
        }
    }
    return r.i64(t.users);
}

void Codec<experiment::Totals>::to_json(const experiment::Totals& t, JsonWriter& j) {
    j.begin_object().field("users", t.users).key("variants").begin_array();
    for (size_t v = 0; v < t.variants.size(); ++v) {
        j.begin_object().field("variant", t.variants[v]).key("cumulative");
        counts_to_json(t.cumulative[v], j);
        j.end_object();
    }
    j.end_array().key("windows").begin_array();
    for (const experiment::OpenWindow& win : t.windows) {
        j.begin_object().field("start", win.start).key("counts").begin_array();
        for (const VariantCounts& c : win.counts) {
            counts_to_json(c, j);
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

}  // namespace eddy
