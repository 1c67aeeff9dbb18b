// SPDX-License-Identifier: Apache-2.0
#include "state/operator_meta.h"

#include "eddy/codec.h"

namespace eddy::state {

std::string encode_operator_meta(const OperatorMeta& meta) {
    std::string out;
    StateWriter w(out);
    w.u8(meta.version);
    w.str(meta.type);
    w.varint(meta.parallelism);
    w.varint(meta.handles.size());
    for (const OperatorMeta::Handle& h : meta.handles) {
        w.str(h.name);
        w.u8(h.keyed ? 1 : 0);
        w.u8(h.version);
    }
    w.str(meta.key_field);
    return out;
}

bool decode_operator_meta(std::string_view bytes, OperatorMeta& meta) {
    StateReader r(bytes);
    uint64_t count = 0;
    if (!r.u8(meta.version) || !r.str(meta.type) || !r.varint(meta.parallelism) ||
        !r.varint(count)) {
        return false;
    }
    meta.handles.clear();
    for (uint64_t i = 0; i < count; ++i) {
        OperatorMeta::Handle h;
        uint8_t keyed = 0;
        if (!r.str(h.name) || !r.u8(keyed) || !r.u8(h.version)) {
            return false;
        }
        h.keyed = keyed != 0;
        meta.handles.push_back(std::move(h));
    }
    if (r.done()) {
        meta.key_field.clear();
        meta.has_key_field = false;
        return true;
    }
    meta.has_key_field = r.str(meta.key_field);
    return meta.has_key_field;
}

}  // namespace eddy::state
