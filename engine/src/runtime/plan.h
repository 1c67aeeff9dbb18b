// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include "topology/topology.h"

namespace eddy {

enum class PlanNodeKind { kSource, kChain, kExchange, kSink };

/// "source", "chain", "exchange" or "sink".
const char* plan_node_kind_name(PlanNodeKind kind);

/// An edge of the physical plan: records of `component`'s `output` flow from
/// node `from` to node `to`.
struct PlanEdge {
    int from = -1;
    int to = -1;
    int component = -1;  ///< The upstream component (a source or a chain's operator).
    std::string output;  ///< Empty for the main output.
};

/// One node of the physical plan. A chain runs its operators one after the
/// other in the same shard, with no queue between them; an exchange
/// hash-partitions records by `key` (key group = hash % 4096) to the shards of
/// the next chain; sources and sinks run once.
struct PlanNode {
    int id = -1;
    PlanNodeKind kind = PlanNodeKind::kChain;
    std::vector<int> components;  ///< Topology indices; a chain's in order.
    std::string key;              ///< Chain: its operators' key; exchange: the partitioning key.
    int parallelism = 1;
};

/// The physical plan of a topology: the logical DAG with operators fused into
/// chains and exchanges made explicit where the key changes. Nodes are in an
/// order where every node comes after its inputs.
struct PhysicalPlan {
    std::vector<PlanNode> nodes;
    std::vector<PlanEdge> edges;
    /// For each topology component, the node that runs it.
    std::vector<int> node_of_component;

    std::vector<const PlanEdge*> inputs_of(int node) const;
    std::vector<const PlanEdge*> outputs_of(int node) const;

    /// Graphviz DOT text: chains as boxes listing their operators, exchanges as
    /// diamonds, side outputs as dashed labelled edges.
    std::string to_dot(const Topology& topology) const;
};

/// Builds the physical plan. An operator joins its upstream's chain when its
/// only input is that operator's main output, nothing else reads that output,
/// both have the same parallelism, and it is unkeyed or keyed like the chain.
PhysicalPlan build_plan(const Topology& topology);

}  // namespace eddy
