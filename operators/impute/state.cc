// SPDX-License-Identifier: Apache-2.0
// impute's state: running statistics, last values and their codecs.
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/json_writer.h"

#include "impute/impute.h"

namespace eddy {
namespace {

constexpr uint64_t kMaxEntries = 1u << 24;  // a sanity bound when decoding
// The median is re-read (a sort of the sketch's items) after every
// count/kMedianRefresh new values: the lag stays below 1% of the values, the
// sketch's own rank error, and a long stream sorts about 128 * ln(n) times.
constexpr uint64_t kMedianRefresh = 128;

void encode_stat(const RunningStat& s, StateWriter& w) {
    w.i64(s.count);
    w.f64(s.mean);
    w.u8(s.all_ints ? 1 : 0);
    s.sketch.encode(w);
    w.f64(s.median);
    w.varint(s.median_at);
}

bool decode_stat(StateReader& r, RunningStat& s) {
    uint8_t all_ints = 0;
    if (!r.i64(s.count) || !r.f64(s.mean) || !r.u8(all_ints) || !s.sketch.decode(r) ||
        !r.f64(s.median) || !r.varint(s.median_at)) {
        return false;
    }
    s.all_ints = all_ints != 0;
    return s.count >= 0;
}

void stat_json(const RunningStat& s, bool with_sketch, JsonWriter& j) {
    j.begin_object().field("count", s.count).field("mean", s.mean).field("all_ints", s.all_ints);
    if (with_sketch) {
        if (s.median_at > 0) {
            j.field("median", s.median);
        } else {
            j.field("median", nullptr);
        }
        j.field("median_at_count", s.median_at).key("sketch");
        s.sketch.to_json(j);
    }
    j.end_object();
}

/// A group as encode_state_key() wrote it, shown as JSON text for a key.
std::string group_text(std::string_view encoded) {
    if (encoded.empty()) {
        return "";
    }
    auto type = static_cast<ValueType>(encoded[0]);
    std::string_view bytes = encoded.substr(1);
    switch (type) {
        case ValueType::kString:
            return std::string(bytes);
        case ValueType::kInt:
            if (bytes.size() == sizeof(int64_t)) {
                int64_t i = 0;
                std::memcpy(&i, bytes.data(), sizeof i);
                return std::to_string(i);
            }
            break;
        case ValueType::kDouble:
            if (bytes.size() == sizeof(double)) {
                double d = 0;
                std::memcpy(&d, bytes.data(), sizeof d);
                JsonWriter j;
                j.value(d);
                return j.str();
            }
            break;
        case ValueType::kBool:
            return !bytes.empty() && bytes[0] != 0 ? "true" : "false";
        default:
            break;
    }
    return "?";
}

}  // namespace

void RunningStat::add(double x, bool is_int, bool keep_sketch) {
    ++count;
    mean += (x - mean) / static_cast<double>(count);
    all_ints = all_ints && is_int;
    if (keep_sketch) {
        sketch.add(x);
    }
}

double RunningStat::current_median() {
    uint64_t n = sketch.count();
    if (n != median_at && n - median_at >= std::max<uint64_t>(1, n / kMedianRefresh)) {
        median = sketch.quantile(0.5);
        median_at = n;
    }
    return median;
}

void Codec<ImputeStats>::encode(const ImputeStats& s, StateWriter& w) {
    w.varint(s.fields.size());
    std::vector<const std::pair<const std::string, RunningStat>*> groups;
    for (const FieldStats& f : s.fields) {
        w.str(f.field);
        encode_stat(f.all, w);
        // Sorted, so that the same statistics always encode to the same bytes.
        groups.clear();
        for (const auto& g : f.groups) {
            groups.push_back(&g);
        }
        std::sort(groups.begin(), groups.end(),
                  [](const auto* a, const auto* b) { return a->first < b->first; });
        w.varint(groups.size());
        for (const auto* g : groups) {
            w.str(g->first);
            encode_stat(g->second, w);
        }
    }
}

bool Codec<ImputeStats>::decode(StateReader& r, uint8_t, ImputeStats& s) {
    uint64_t n = 0;
    if (!r.varint(n) || n > kMaxEntries) {
        return false;
    }
    s.fields.clear();
    s.fields.resize(n);
    for (FieldStats& f : s.fields) {
        uint64_t groups = 0;
        if (!r.str(f.field) || !decode_stat(r, f.all) || !r.varint(groups) ||
            groups > kMaxEntries) {
            return false;
        }
        std::string key;
        for (uint64_t g = 0; g < groups; ++g) {
            RunningStat stat;
            if (!r.str(key) || !decode_stat(r, stat)) {
                return false;
            }
            f.groups.insert_or_assign(key, std::move(stat));
        }
    }
    return r.ok();
}

void Codec<ImputeStats>::to_json(const ImputeStats& s, JsonWriter& j) {
    j.begin_object();
    for (const FieldStats& f : s.fields) {
        bool sketch = f.all.sketch.count() > 0;
        j.key(f.field).begin_object().key("all");
        stat_json(f.all, sketch, j);
        std::vector<std::pair<std::string, const RunningStat*>> groups;
        for (const auto& [k, stat] : f.groups) {
            groups.emplace_back(group_text(k), &stat);
        }
        std::sort(groups.begin(), groups.end());
        j.key("groups").begin_object();
        for (const auto& [name, stat] : groups) {
            j.key(name);
            stat_json(*stat, sketch, j);
        }
        j.end_object().end_object();
    }
    j.end_object();
}

void Codec<LastValues>::encode(const LastValues& l, StateWriter& w) {
    w.varint(l.fields.size());
    for (const auto& [name, v] : l.fields) {
        w.str(name);
        v.encode(w);
    }
}

bool Codec<LastValues>::decode(StateReader& r, uint8_t, LastValues& l) {
    uint64_t n = 0;
    if (!r.varint(n) || n > (1u << 16)) {
        return false;
    }
    l.fields.resize(n);
    for (auto& [name, v] : l.fields) {
        if (!r.str(name) || !v.decode(r)) {
            return false;
        }
    }
    return r.ok();
}

void Codec<LastValues>::to_json(const LastValues& l, JsonWriter& j) {
    j.begin_object();
    for (const auto& [name, v] : l.fields) {
        j.key(name);
        v.to_json(j);
    }
    j.end_object();
}

size_t Codec<LastValues>::heap_bytes(const LastValues& l) {
    size_t n = heap_bytes_of(l.fields);
    for (const auto& [name, v] : l.fields) {
        n += heap_bytes_of(name) + v.heap_bytes();
    }
    return n;
}

}  // namespace eddy
