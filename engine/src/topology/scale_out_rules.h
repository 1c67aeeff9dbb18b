// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "topology/diagnostic.h"
#include "topology/topology.h"

namespace eddy {

/// The rules of a source with `scale_out: kafka` (several `eddy run`
/// processes share its consumer group; keyed state is stored per input
/// partition and moves with it through a changelog topic). Reports every
/// violation to `diags`, each at the place to edit:
/// - each source that scales out has `key_field` (the message key, by which Kafka partitions);
/// - its `topics` is one topic, not a ^regex;
/// - its `assignment` is `group`;
/// - the topology has `state: {dir: ...}` (checkpoints publish the changelog);
/// - every keyed operator downstream of one (through any output) has `key`
///   equal to its `key_field` (plan_repartition() has given the others a
///   repartition topic where it could);
/// - no operator is downstream of two.
/// Unkeyed operators that keep operator-wide state are not detected here (the
/// runtime warns). Needs the graph: call it once the inputs are read.
void check_scale_out(const Topology& topology, Diagnostics& diags);

/// The next operator, of those downstream of a scale-out source, that keys
/// by another field than the source's key_field and whose inputs all come
/// from that source: it is to read through a repartition topic
/// (docs/scale-out.md, "Repartition"). Operators upstream of others come
/// first. Indices in topology.components; nullopt when there is none.
struct RepartitionPlan {
    size_t op = 0;
    size_t upstream = 0;  ///< The scale-out source its input is partitioned by.
};
std::optional<RepartitionPlan> plan_repartition(const Topology& topology);

/// The bodies, as YAML would give them, of the kafka source and sink that
/// carry operator `op`'s input through `topic`, keyed by the operator's key:
/// the sink writes the operator's inputs, the source reads them with
/// scale_out in a group of its own, `<group of upstream>-<op>-repartition`. Every value is placed
/// at the operator's `key`.
ConfigValue repartition_sink_body(const ComponentDef& op, const ComponentDef& upstream,
                                  const std::string& topic);
ConfigValue repartition_source_body(const ComponentDef& op, const ComponentDef& upstream,
                                    const std::string& topic);

/// Which components read `source` (an index in topology.components),
/// directly or not, through any output; `source` itself included.
std::vector<bool> downstream_of(const Topology& topology, size_t source);

}  // namespace eddy
