// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::state {

/// What the meta entry `op/<operator>` says about one operator's state: its
/// type, parallelism when written, its handles (in handle-byte order) and the
/// key field it is keyed by. Encoded as: u8 version, str type, varint
/// parallelism, varint count, count x (str name, u8 keyed, u8 format version),
/// then str key_field. The key field was appended later: entries written
/// before it decode with an empty `key_field` and `has_key_field` false.
/// Bytes after the known fields are ignored, so fields can be appended again.
struct OperatorMeta {
    struct Handle {
        std::string name;
        bool keyed = true;
        uint8_t version = 0;
    };
    uint8_t version = 1;
    std::string type;
    uint64_t parallelism = 1;
    std::vector<Handle> handles;
    std::string key_field;  ///< Empty for an unkeyed operator.
    bool has_key_field = false;
};

std::string encode_operator_meta(const OperatorMeta& meta);
/// False when the bytes are not an operator description.
bool decode_operator_meta(std::string_view bytes, OperatorMeta& meta);

}  // namespace eddy::state
