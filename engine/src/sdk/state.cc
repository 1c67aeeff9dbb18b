// SPDX-License-Identifier: Apache-2.0
#include "eddy/state.h"

namespace eddy {

void encode_state_key(const Value& key, std::string& out) {
    out.push_back(static_cast<char>(key.type()));
    switch (key.type()) {
        case ValueType::kString:
            out.append(key.as_string());
            break;
        case ValueType::kInt: {
            int64_t i = key.as_int();
            out.append(reinterpret_cast<const char*>(&i), sizeof i);
            break;
        }
        case ValueType::kDouble: {
            double d = key.as_double();
            out.append(reinterpret_cast<const char*>(&d), sizeof d);
            break;
        }
        case ValueType::kBool:
            out.push_back(key.as_bool() ? 1 : 0);
            break;
        case ValueType::kVector: {
            auto v = key.as_vector();
            out.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
            break;
        }
        case ValueType::kNull:
            break;
    }
}

}  // namespace eddy
