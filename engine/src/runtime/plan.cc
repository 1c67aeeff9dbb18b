// SPDX-License-Identifier: Apache-2.0
#include "runtime/plan.h"

#include <algorithm>
#include <functional>

#include <fmt/format.h>

namespace eddy {

const char* plan_node_kind_name(PlanNodeKind kind) {
    switch (kind) {
        case PlanNodeKind::kSource:
            return "source";
        case PlanNodeKind::kChain:
            return "chain";
        case PlanNodeKind::kExchange:
            return "exchange";
        case PlanNodeKind::kSink:
            return "sink";
    }
    return "node";
}

std::vector<const PlanEdge*> PhysicalPlan::inputs_of(int node) const {
    std::vector<const PlanEdge*> out;
    for (const PlanEdge& e : edges) {
        if (e.to == node) {
            out.push_back(&e);
        }
    }
    return out;
}

std::vector<const PlanEdge*> PhysicalPlan::outputs_of(int node) const {
    std::vector<const PlanEdge*> out;
    for (const PlanEdge& e : edges) {
        if (e.from == node) {
            out.push_back(&e);
        }
    }
    return out;
}

namespace {

int operator_parallelism(const Topology& t, const ComponentDef& c) {
    // An operator with state but no key (a site-wide window) sees every
    // record in one instance, whatever the topology's parallelism.
    if (c.key.empty() && c.spec != nullptr && !c.spec->states.empty()) {
        return 1;
    }
    return c.parallelism > 0 ? c.parallelism : std::max(1, t.parallelism);
}

}  // namespace

PhysicalPlan build_plan(const Topology& topology) {
    PhysicalPlan plan;
    plan.node_of_component.assign(topology.components.size(), -1);
    auto add_node = [&](PlanNodeKind kind, int parallelism) -> PlanNode& {
        PlanNode n;
        n.id = static_cast<int>(plan.nodes.size());
        n.kind = kind;
        n.parallelism = parallelism;
        plan.nodes.push_back(std::move(n));
        return plan.nodes.back();
    };

    for (int i : topology.topological_order()) {
        const ComponentDef& c = topology.components[static_cast<size_t>(i)];
        if (c.kind == ComponentKind::kSource) {
            add_node(PlanNodeKind::kSource, 1).components.push_back(i);
            plan.node_of_component[static_cast<size_t>(i)] =
                static_cast<int>(plan.nodes.size()) - 1;
            continue;
        }
        int parallelism = c.kind == ComponentKind::kSink ? 1 : operator_parallelism(topology, c);

        // Fuse into the upstream chain when records can stay in the shard
        // they are in: one input, the same parallelism, and the chain's key
        // (or no key). Several readers of one operator fuse too, so a chain
        // is a tree run depth first, not only a line.
        if (c.kind == ComponentKind::kOperator && c.inputs.size() == 1) {
            int up = topology.find(c.inputs[0].component);
            int up_node = plan.node_of_component[static_cast<size_t>(up)];
            PlanNode& chain = plan.nodes[static_cast<size_t>(up_node)];
            bool fusable = chain.kind == PlanNodeKind::kChain && chain.parallelism == parallelism &&
                           (c.key.empty() || c.key == chain.key);
            if (fusable) {
                chain.components.push_back(i);
                plan.node_of_component[static_cast<size_t>(i)] = up_node;
                continue;
            }
        }

        PlanNodeKind kind =
            c.kind == ComponentKind::kSink ? PlanNodeKind::kSink : PlanNodeKind::kChain;
        int node = add_node(kind, parallelism).id;
        plan.nodes[static_cast<size_t>(node)].components.push_back(i);
        plan.nodes[static_cast<size_t>(node)].key = c.key;
        plan.node_of_component[static_cast<size_t>(i)] = node;

        // A keyed chain receives its input through an exchange on its key.
        int target = node;
        if (!c.key.empty()) {
            PlanNode& ex = add_node(PlanNodeKind::kExchange, parallelism);
            ex.key = c.key;
            target = ex.id;
            plan.edges.push_back({ex.id, node, -1, ""});
        }
        for (const InputRef& in : c.inputs) {
            int up = topology.find(in.component);
            plan.edges.push_back(
                {plan.node_of_component[static_cast<size_t>(up)], target, up, in.output});
        }
    }

    // Exchanges were appended after their chains; restore input-first order.
    std::vector<int> order;
    std::vector<bool> placed(plan.nodes.size(), false);
    std::function<void(int)> place = [&](int n) {
        if (placed[static_cast<size_t>(n)]) {
            return;
        }
        placed[static_cast<size_t>(n)] = true;
        for (const PlanEdge& e : plan.edges) {
            if (e.to == n) {
                place(e.from);
            }
        }
        order.push_back(n);
    };
    for (size_t n = 0; n < plan.nodes.size(); ++n) {
        place(static_cast<int>(n));
    }
    std::vector<int> renumber(plan.nodes.size());
    std::vector<PlanNode> nodes;
    for (int old : order) {
        renumber[static_cast<size_t>(old)] = static_cast<int>(nodes.size());
        nodes.push_back(std::move(plan.nodes[static_cast<size_t>(old)]));
        nodes.back().id = static_cast<int>(nodes.size()) - 1;
    }
    plan.nodes = std::move(nodes);
    for (PlanEdge& e : plan.edges) {
        e.from = renumber[static_cast<size_t>(e.from)];
        e.to = renumber[static_cast<size_t>(e.to)];
    }
    for (int& n : plan.node_of_component) {
        n = renumber[static_cast<size_t>(n)];
    }
    return plan;
}

std::string PhysicalPlan::to_dot(const Topology& topology) const {
    auto quote = [](const std::string& s) {
        std::string out;
        for (char ch : s) {
            if (ch == '"' || ch == '\\') {
                out += '\\';
            }
            out += ch;
        }
        return out;
    };
    std::string out =
        fmt::format("digraph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
                    quote(topology.name.empty() ? "eddy" : topology.name));
    for (const PlanNode& n : nodes) {
        std::string label;
        std::string shape;
        switch (n.kind) {
            case PlanNodeKind::kSource:
            case PlanNodeKind::kSink: {
                const ComponentDef& c = topology.components[static_cast<size_t>(n.components[0])];
                label = quote(c.name) + "\\n(" + quote(c.type) + ")";
                shape = n.kind == PlanNodeKind::kSource ? "cds" : "folder";
                break;
            }
            case PlanNodeKind::kExchange:
                label = "exchange\\nhash(" + quote(n.key) + ")";
                shape = "diamond";
                break;
            case PlanNodeKind::kChain: {
                label = "chain";
                if (!n.key.empty()) {
                    label += " by " + quote(n.key);
                }
                label += fmt::format(" x{}", n.parallelism);
                for (int i : n.components) {
                    const ComponentDef& c = topology.components[static_cast<size_t>(i)];
                    label += "\\n" + quote(c.name) + " (" + quote(c.type) + ")";
                }
                shape = "box";
                break;
            }
        }
        // Parts were quoted one by one so that the `\n` line breaks stay DOT escapes.
        out += fmt::format("  n{} [label=\"{}\", shape={}];\n", n.id, label, shape);
    }
    for (const PlanEdge& e : edges) {
        std::string attrs;
        if (!e.output.empty()) {
            attrs = fmt::format(" [label=\"{}\", style=dashed]", quote(e.output));
        }
        out += fmt::format("  n{} -> n{}{};\n", e.from, e.to, attrs);
    }
    out += "}\n";
    return out;
}

}  // namespace eddy
