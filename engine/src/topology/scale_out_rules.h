// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <vector>

#include "topology/diagnostic.h"
#include "topology/topology.h"

namespace eddy {

/// The rules of a source with `scale_out: kafka` (several `eddy run`
/// processes share its consumer group; keyed state is stored per input
/// partition and moves with it through a changelog topic). Reports every
/// violation to `diags`, each at the place to edit:
/// - at most one source scales out;
/// - it has `key_field` (the message key, by which Kafka partitions);
/// - its `topics` is one topic, not a ^regex;
/// - its `assignment` is `group`;
/// - the topology has `state: {dir: ...}` (checkpoints publish the changelog);
/// - every keyed operator downstream of it (through any output) has `key`
///   equal to its `key_field`.
/// Unkeyed operators that keep operator-wide state are not detected here (the
/// runtime warns). Needs the graph: call it once the inputs are read.
void check_scale_out(const Topology& topology, Diagnostics& diags);

/// Which components read `source` (an index in topology.components),
/// directly or not, through any output; `source` itself included.
std::vector<bool> downstream_of(const Topology& topology, size_t source);

}  // namespace eddy
