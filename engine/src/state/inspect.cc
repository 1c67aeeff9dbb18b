// SPDX-License-Identifier: Apache-2.0
#include "state/inspect.h"

#include <cstdint>
#include <cstring>

namespace eddy::state {

std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        out += digits[(static_cast<unsigned char>(c) >> 4) & 0xf];
        out += digits[static_cast<unsigned char>(c) & 0xf];
    }
    return out;
}

void append_state_value(const Registry& registry, const OperatorMeta& op, size_t handle,
                        std::string_view stored, JsonWriter& j) {
    const OperatorMeta::Handle* h = handle < op.handles.size() ? &op.handles[handle] : nullptr;
    std::string_view encoded = stored;
    if (h == nullptr || h->keyed) {
        int64_t touched = 0;
        if (stored.size() < sizeof touched) {
            j.field("hex", hex(stored))
                .field("error", "the value is shorter than its 8-byte touched time");
            return;
        }
        std::memcpy(&touched, stored.data(), sizeof touched);
        if (touched != 0) {
            j.field("touched", touched);
        }
        encoded = stored.substr(sizeof touched);
    }
    const ComponentSpec* spec = registry.find(ComponentKind::kOperator, op.type);
    const StateSpec* st = spec != nullptr && h != nullptr ? spec->find_state(h->name) : nullptr;
    std::string error;
    if (h == nullptr) {
        error = "the state dir describes no state handle " + std::to_string(handle) +
                " of this operator";
    } else if (spec == nullptr) {
        error = "operator type '" + op.type +
                "' is not built in, so its values cannot be decoded; give its plugin with --plugin";
    } else if (st == nullptr) {
        error = "operator type '" + op.type + "' declares no state '" + h->name + "'";
    } else if (st->to_json == nullptr) {
        error = "the codec of state '" + h->name + "' of '" + op.type + "' has no to_json()";
    } else {
        std::string json;
        if (st->to_json(encoded, json)) {
            j.key("value").raw(json);
            return;
        }
        unsigned version = encoded.empty() ? 0 : static_cast<unsigned char>(encoded[0]);
        error = "the value does not decode as state '" + h->name + "' of '" + op.type +
                "' (its format version is " + std::to_string(version) + "; this Eddy reads " +
                std::to_string(st->format_version) + " and older)";
    }
    j.field("hex", hex(encoded)).field("error", error);
}

}  // namespace eddy::state
