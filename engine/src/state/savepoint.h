// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/status.h"

namespace eddy::state {

/// The file that makes a directory a savepoint (next to RocksDB's files).
inline constexpr std::string_view kSavepointMarker = "SAVEPOINT";

/// What a savepoint's marker says.
struct SavepointInfo {
    std::string topology;            ///< The topology name stored with the state.
    uint64_t checkpoint_id = 0;      ///< The last checkpoint the savepoint holds.
    int64_t checkpoint_time_ms = 0;  ///< Its wall time, ms since the epoch.
    std::string created;             ///< When the savepoint was taken (UTC, ISO 8601).
};

/// Takes a consistent copy of the state in `state_dir` (RocksDB Checkpoint:
/// SST files hard-linked when on the same filesystem, the rest copied) into
/// `out_dir`, which must not exist, and writes the SAVEPOINT marker. Fails
/// when the state dir does not exist, holds no checkpoint, or is locked by a
/// running job (the job must be stopped first). Leaves nothing behind on failure.
Result<SavepointInfo> create_savepoint(const std::string& state_dir, const std::string& out_dir);

/// Reads the marker of `dir`; not_found when `dir` is not a savepoint.
Result<SavepointInfo> read_savepoint(const std::string& dir);

/// Makes `state_dir` (which must not exist) a copy of the savepoint without
/// its marker; the savepoint is left unchanged and can be used again. The copy
/// is made in a sibling directory and renamed, so a crash leaves no half state dir.
Status install_savepoint(const std::string& savepoint_dir, const std::string& state_dir);

}  // namespace eddy::state
