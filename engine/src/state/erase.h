// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eddy/status.h"

#include "state/store.h"

namespace eddy::state {

/// The state-key encodings `text` can stand for: the string key, and the int
/// key too when `text` is an integer ("42" and 42 are different keys).
std::vector<std::string> candidate_keys(std::string_view text);

/// Deletes one key from every operator keyed by the field `key_field`: its
/// entry in each keyed state handle and its timers, in one synced batch; then
/// compacts the affected key-group ranges of those column families so the
/// values are physically gone from the store (copies elsewhere, such as
/// savepoints, are not touched). Operator-wide (Global) state is not per key
/// and is left alone. Appends one line per removed entry to `report`
/// ("operator 'sessions' state 'sessions' key \"u123\""); nothing appended
/// when nothing matched. The store must not be in use by a job.
Status erase_key(StateStore& store, std::string_view key_field, std::string_view key,
                 std::vector<std::string>& report);

/// The scale-out sources whose partitions this store has held (docs/scale-out.md;
/// "" for the topology's first, whose meta keys are `scaleout/<p>`), sorted:
/// their keys also live in changelog topics and in other processes' stores,
/// which erase_key() does not reach. Empty for a job without scale-out.
std::vector<std::string> scale_out_sources(StateStore& store);

}  // namespace eddy::state
