// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h`, `7d` or `2w` (also
/// `1h30m`) into milliseconds. A bare number is refused: the unit is required;
/// so is a duration beyond the int64 range of milliseconds.
std::optional<int64_t> parse_duration_ms(std::string_view text);

/// Formats milliseconds in the largest exact units, for example `1h30m` or `250ms`.
std::string format_duration_ms(int64_t ms);

/// Parses a size such as `512`, `64KB`, `64MB`, `1GB`, `2GiB` into bytes.
/// KB/MB/GB are powers of 1024 (as in RocksDB options); KiB/MiB/GiB too.
/// A size beyond the uint64 range is refused.
std::optional<uint64_t> parse_size_bytes(std::string_view text);

/// Formats bytes as `64MB`-style text when exact, otherwise as a plain number.
std::string format_size_bytes(uint64_t bytes);

}  // namespace eddy
