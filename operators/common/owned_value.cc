// SPDX-License-Identifier: Apache-2.0
#include "common/owned_value.h"

namespace eddy {

void OwnedValue::assign(const Value& value) {
    type = value.type();
    switch (type) {
        case ValueType::kBool:
            i = value.as_bool() ? 1 : 0;
            break;
        case ValueType::kInt:
            i = value.as_int();
            break;
        case ValueType::kDouble:
            d = value.as_double();
            break;
        case ValueType::kString:
            s.assign(value.as_string());
            break;
        case ValueType::kVector: {
            auto f = value.as_vector();
            v.assign(f.begin(), f.end());
            break;
        }
        case ValueType::kNull:
            break;
    }
}

Value OwnedValue::view() const {
    switch (type) {
        case ValueType::kBool:
            return Value::boolean(i != 0);
        case ValueType::kInt:
            return Value::integer(i);
        case ValueType::kDouble:
            return Value::number(d);
        case ValueType::kString:
            return Value::string_view(s);
        case ValueType::kVector:
            return Value::vector_view(v);
        case ValueType::kNull:
            break;
    }
    return Value::null();
}

void OwnedValue::encode(StateWriter& w) const {
    w.u8(static_cast<uint8_t>(type));
    switch (type) {
        case ValueType::kBool:
        case ValueType::kInt:
            w.i64(i);
            break;
        case ValueType::kDouble:
            w.f64(d);
            break;
        case ValueType::kString:
            w.str(s);
            break;
        case ValueType::kVector:
            w.floats(v);
            break;
        case ValueType::kNull:
            break;
    }
}

bool OwnedValue::decode(StateReader& r) {
    uint8_t tag = 0;
    if (!r.u8(tag) || tag > static_cast<uint8_t>(ValueType::kVector)) {
        return false;
    }
    type = static_cast<ValueType>(tag);
    switch (type) {
        case ValueType::kBool:
        case ValueType::kInt:
            return r.i64(i);
        case ValueType::kDouble:
            return r.f64(d);
        case ValueType::kString:
            return r.str(s);
        case ValueType::kVector:
            return r.floats(v);
        case ValueType::kNull:
            break;
    }
    return true;
}

void value_to_json(const Value& v, JsonWriter& j) {
    switch (v.type()) {
        case ValueType::kNull:
            j.value(nullptr);
            break;
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
            for (float f : v.as_vector()) {
                j.value(static_cast<double>(f));
            }
            j.end_array();
            break;
    }
}

}  // namespace eddy
