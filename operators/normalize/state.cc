// SPDX-License-Identifier: Apache-2.0
// normalize: the per-group statistics and their codec.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "normalize/normalize.h"

namespace eddy {
namespace {

bool known_method(uint8_t m) {
    return m <= static_cast<uint8_t>(NormalizeMethod::kIndex);
}

}  // namespace

const char* normalize_method_name(NormalizeMethod method) {
    switch (method) {
        case NormalizeMethod::kZscore:
            return "zscore";
        case NormalizeMethod::kPercentile:
            return "percentile";
        case NormalizeMethod::kMinmax:
            return "minmax";
        case NormalizeMethod::kLog1p:
            return "log1p";
        case NormalizeMethod::kOneHot:
            return "one_hot";
        case NormalizeMethod::kIndex:
            return "index";
    }
    return "?";
}

int64_t NormalizeStats::find(std::string_view value) const {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), value,
                               [this](uint32_t i, std::string_view v) { return values[i] < v; });
    return it != sorted.end() && values[*it] == value ? static_cast<int64_t>(*it) : -1;
}

int64_t NormalizeStats::add(std::string_view value) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), value,
                               [this](uint32_t i, std::string_view v) { return values[i] < v; });
    auto position = static_cast<uint32_t>(values.size());
    values.emplace_back(value);
    sorted.insert(it, position);
    return position;
}

void NormalizeStats::sort_values() {
    sorted.resize(values.size());
    for (uint32_t i = 0; i < sorted.size(); ++i) {
        sorted[i] = i;
    }
    std::sort(sorted.begin(), sorted.end(),
              [this](uint32_t a, uint32_t b) { return values[a] < values[b]; });
}

void Codec<NormalizeGroup>::encode(const NormalizeGroup& g, StateWriter& w) {
    w.varint(g.layout);
    w.varint(g.stats.size());
    for (const NormalizeStats& s : g.stats) {
        w.str(s.field);
        w.u8(static_cast<uint8_t>(s.method));
        switch (s.method) {
            case NormalizeMethod::kZscore:
                w.varint(s.count);
                w.f64(s.mean);
                w.f64(s.m2);
                break;
            case NormalizeMethod::kMinmax:
                w.varint(s.count);
                w.f64(s.min);
                w.f64(s.max);
                break;
            case NormalizeMethod::kPercentile:
                w.u8(s.sketch ? 1 : 0);
                if (s.sketch) {
                    s.sketch->encode(w);
                }
                break;
            case NormalizeMethod::kIndex:
                w.varint(s.values.size());
                for (const std::string& v : s.values) {
                    w.str(v);
                }
                break;
            case NormalizeMethod::kLog1p:
            case NormalizeMethod::kOneHot:
                break;
        }
    }
}

bool Codec<NormalizeGroup>::decode(StateReader& r, uint8_t, NormalizeGroup& g) {
    uint64_t n = 0;
    if (!r.varint(g.layout) || !r.varint(n) || n > (1u << 16)) {
        return false;
    }
    g.stats.clear();
    g.stats.resize(n);
    for (NormalizeStats& s : g.stats) {
        uint8_t method = 0;
        if (!r.str(s.field) || !r.u8(method) || !known_method(method)) {
            return false;
        }
        s.method = static_cast<NormalizeMethod>(method);
        switch (s.method) {
            case NormalizeMethod::kZscore:
                r.varint(s.count);
                r.f64(s.mean);
                r.f64(s.m2);
                break;
            case NormalizeMethod::kMinmax:
                r.varint(s.count);
                r.f64(s.min);
                r.f64(s.max);
                break;
            case NormalizeMethod::kPercentile: {
                uint8_t has = 0;
                if (!r.u8(has) || has > 1) {
                    return false;
                }
                if (has == 1) {
                    s.sketch = std::make_unique<QuantileSketch>();
                    if (!s.sketch->decode(r)) {
                        return false;
                    }
                }
                break;
            }
            case NormalizeMethod::kIndex: {
                uint64_t count = 0;
                if (!r.varint(count) || count > (1u << 24)) {
                    return false;
                }
                s.values.resize(count);
                for (std::string& v : s.values) {
                    if (!r.str(v)) {
                        return false;
                    }
                }
                s.sort_values();
                break;
            }
            case NormalizeMethod::kLog1p:
            case NormalizeMethod::kOneHot:
                break;
        }
    }
    return r.ok();
}

void Codec<NormalizeGroup>::to_json(const NormalizeGroup& g, JsonWriter& j) {
    j.begin_object().key("stats").begin_array();
    for (const NormalizeStats& s : g.stats) {
        j.begin_object().field("field", s.field).field("method", normalize_method_name(s.method));
        switch (s.method) {
            case NormalizeMethod::kZscore:
                j.field("count", s.count).field("mean", s.mean);
                j.field("variance", s.count > 0 ? s.m2 / static_cast<double>(s.count) : 0.0);
                break;
            case NormalizeMethod::kMinmax:
                j.field("count", s.count);
                if (s.count > 0) {
                    j.field("min", s.min).field("max", s.max);
                }
                break;
            case NormalizeMethod::kPercentile:
                j.key("sketch");
                if (s.sketch) {
                    s.sketch->to_json(j);
                } else {
                    j.value(nullptr);
                }
                break;
            case NormalizeMethod::kIndex:
                j.key("values").begin_array();
                for (const std::string& v : s.values) {
                    j.value(v);
                }
                j.end_array();
                break;
            case NormalizeMethod::kLog1p:
            case NormalizeMethod::kOneHot:
                break;
        }
        j.end_object();
    }
    j.end_array().end_object();
}

size_t Codec<NormalizeGroup>::heap_bytes(const NormalizeGroup& g) {
    size_t n = heap_bytes_of(g.stats);
    for (const NormalizeStats& s : g.stats) {
        n += heap_bytes_of(s.field) + heap_bytes_of(s.values) + heap_bytes_of(s.sorted);
        for (const std::string& v : s.values) {
            n += heap_bytes_of(v);
        }
        if (s.sketch) {
            // Items plus the per-level vectors and capacities.
            n += sizeof(QuantileSketch) + s.sketch->retained() * sizeof(double) + 64 * 8;
        }
    }
    return n;
}

}  // namespace eddy
