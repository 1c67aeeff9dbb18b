// SPDX-License-Identifier: Apache-2.0
// consent: the encoding of held events, the events that wait in keyed state
// for the watermark to pass their time.
//
// A held event is [u32 payload length][payload]; the payload is the event
// time as 8 raw bytes, then the field count and (name, type, value) per field.
// Names, not FieldIds, because ids are not stable across restarts.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/record.h"
#include "eddy/value.h"

namespace eddy::consent {

/// Appends `r` to `held` as one held event; `name_of(id)` gives a field's name.
template <class NameOf>
void append_held(const Record& r, NameOf&& name_of, std::string& held) {
    size_t at = held.size();
    int64_t t = r.time();
    held.append(sizeof(uint32_t), '\0');
    held.append(reinterpret_cast<const char*>(&t), sizeof t);
    StateWriter w(held);
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
    auto len = static_cast<uint32_t>(held.size() - at - sizeof(uint32_t));
    std::memcpy(held.data() + at, &len, sizeof len);
}

/// Calls f(time, payload, whole event) for every held event; false when the
/// bytes are malformed.
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

}  // namespace eddy::consent
