// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eddy::state {

/// How state is laid out in RocksDB (one instance per job under state.dir):
///
/// - column family `meta`: `format`, `topology` (the name), `checkpoint`
///   (id and wall time), `op/<operator>` (type and its handles' names, kinds
///   and format versions), `source/<source>` (position), `srcwm/<source>`
///   (watermark generator), `wm/<node>/<shard>` (input watermarks).
/// - column family `op:<operator>` for each operator with state: keyed
///   entries at `[key group u16 BE][handle u8][encoded key]`, operator-wide
///   (Global) values at `[0xFFFF][handle u8][shard u16 BE]`.
/// - column family `timers:<operator>`: `[key group u16 BE][domain u8]
///   [time u64 BE, sign bit flipped][encoded key]` with an empty value.
///
/// An encoded key is a type byte followed by the key's bytes
/// (eddy::encode_state_key), so its key group is computable from the bytes.
inline constexpr std::string_view kMetaFamily = "meta";
inline constexpr std::string_view kFormat = "eddy-state 1";
inline constexpr uint16_t kGlobalGroup = 0xFFFF;
/// Keyed entries evicted from memory since the last checkpoint wait in
/// `spill:<operator>` under the same keys as in `op:<operator>`. They are not
/// part of any checkpoint until the next one moves them; on start, leftovers
/// of a crashed run are dropped.
std::string spill_family(std::string_view op);

std::string operator_family(std::string_view op);
std::string timer_family(std::string_view op);

/// The key of a keyed entry in `op:<operator>`: [group u16 BE][handle u8][encoded key].
std::string entry_key(uint16_t group, uint8_t handle, std::string_view encoded_key);

/// The same, written into `out` (replacing its content), for hot paths.
void assign_entry_key(std::string& out, uint16_t group, uint8_t handle,
                      std::string_view encoded_key);

/// The key of a timer in `timers:<operator>`: [group u16 BE][domain u8]
/// [time, put_time][encoded key], the group that of the encoded key.
std::string timer_key(uint8_t domain, int64_t time, std::string_view encoded_key);

/// The key group (0..4095) of an encoded key: the same as key_group() of the Value.
uint16_t key_group_of_encoded(std::string_view encoded_key);

void put_u16(std::string& out, uint16_t v);
uint16_t get_u16(std::string_view in);
/// Times as big-endian with the sign bit flipped, so that bytes sort like numbers.
void put_time(std::string& out, int64_t t);
int64_t get_time(std::string_view in);

/// The first key group owned by `shard` of `parallelism` (the range ends at
/// the first group of shard + 1; 4096 for the last).
uint16_t first_key_group(int shard, int parallelism);

}  // namespace eddy::state
