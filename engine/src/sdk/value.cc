// SPDX-License-Identifier: Apache-2.0
#include "eddy/value.h"

#include <algorithm>

namespace eddy {

const char* value_type_name(ValueType type) {
    switch (type) {
        case ValueType::kNull:
            return "null";
        case ValueType::kBool:
            return "bool";
        case ValueType::kInt:
            return "int";
        case ValueType::kDouble:
            return "double";
        case ValueType::kString:
            return "string";
        case ValueType::kVector:
            return "vector";
    }
    return "unknown";
}

bool Value::operator==(const Value& other) const {
    if (type_ != other.type_) {
        return false;
    }
    switch (type_) {
        case ValueType::kNull:
            return true;
        case ValueType::kBool:
            return u_.b == other.u_.b;
        case ValueType::kInt:
            return u_.i == other.u_.i;
        case ValueType::kDouble:
            return u_.d == other.u_.d;
        case ValueType::kString:
            return as_string() == other.as_string();
        case ValueType::kVector: {
            auto a = as_vector();
            auto b = other.as_vector();
            return std::equal(a.begin(), a.end(), b.begin(), b.end());
        }
    }
    return false;
}

}  // namespace eddy
