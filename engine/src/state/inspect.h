// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "eddy/json_writer.h"
#include "eddy/registry.h"

#include "state/operator_meta.h"

namespace eddy::state {

/// `bytes` as lowercase hex.
std::string hex(std::string_view bytes);

/// Writes the fields that describe one stored state value into the object
/// open in `j`, for `eddy state get` and `eddy state dump`. `handle` indexes
/// `op.handles`; `stored` is the value as checkpointed: for a keyed handle
/// the 8-byte little-endian touched time, then the codec's version byte and
/// bytes (KeyedValue::stored); for a global one the version byte and bytes.
/// Writes `"touched":<ms>` when that time is not 0, then `"value":<JSON>`
/// rendered by the StateSpec that the operator's type (looked up in
/// `registry`) declares for the handle. When that is impossible (type or
/// state not declared there, codec without to_json(), bytes that do not
/// decode) it writes `"hex":"<codec bytes>","error":"<why>"` instead.
void append_state_value(const Registry& registry, const OperatorMeta& op, size_t handle,
                        std::string_view stored, JsonWriter& j);

}  // namespace eddy::state
