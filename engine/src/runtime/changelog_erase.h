// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eddy/status.h"

#include "topology/topology.h"

namespace eddy {

/// Erases one key from the changelog topics of `topology`'s scale-out
/// sources (docs/scale-out.md, "Erasing a key"), for the operators named in
/// `operators` (those keyed by the key's field). In the partition the key's
/// records go to (Kafka's murmur2 of the key's text), it reads what the
/// changelog holds for the key (entries and timers, as a restore would
/// apply them), writes a tombstone for each as a writer of its own, then a
/// marker that repeats the partition's last input offset: a restore then
/// applies the tombstones and resumes the input where it would have. Appends
/// one line per changelog topic to `report`. Every process of the job must
/// be stopped (a running owner still holds the key in its store).
Status erase_from_changelogs(const Topology& topology, const std::vector<std::string>& operators,
                             std::string_view key, std::vector<std::string>& report);

}  // namespace eddy
