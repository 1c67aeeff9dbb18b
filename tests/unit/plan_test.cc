// SPDX-License-Identifier: Apache-2.0
// The physical plan: which operators fuse into chains, where exchanges go,
// how side outputs become edges, and the DOT text of `eddy graph`.
#include "runtime/plan.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/registry.h"

#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// Built-ins plus `counter`, a keyed operator, since no built-in one is keyed yet.
const Registry& test_registry() {
    static const Registry registry = [] {
        Registry r = builtin_registry();
        ComponentSpec spec = OperatorSpec("counter")
                                 .summary("Counts events per key (test only).")
                                 .keyed(KeyMode::kRequired)
                                 .factory([](const Config&) -> Result<std::unique_ptr<Operator>> {
                                     return Status::unsupported("test only");
                                 });
        Status s = r.add(std::move(spec), "plan_test");
        EXPECT_TRUE(s.is_ok()) << s.message();
        return r;
    }();
    return registry;
}

/// A validated topology and its plan, built from YAML through the real specs.
struct Planned {
    Topology topology;
    PhysicalPlan plan;

    int node_of(const std::string& component) const {
        return plan.node_of_component[static_cast<size_t>(topology.find(component))];
    }
    const PlanNode& node(int id) const { return plan.nodes[static_cast<size_t>(id)]; }
    std::vector<std::string> names(int id) const {
        std::vector<std::string> out;
        for (int c : node(id).components) {
            out.push_back(topology.components[static_cast<size_t>(c)].name);
        }
        return out;
    }
    size_t count(PlanNodeKind kind) const {
        size_t n = 0;
        for (const PlanNode& p : plan.nodes) {
            n += p.kind == kind ? 1 : 0;
        }
        return n;
    }
    /// The single edge into `to` that carries `component`'s `output`.
    const PlanEdge* edge(int to, const std::string& component,
                         const std::string& output = "") const {
        int c = topology.find(component);
        for (const PlanEdge* e : plan.inputs_of(to)) {
            if (e->component == c && e->output == output) {
                return e;
            }
        }
        return nullptr;
    }
};

Planned plan_of(const std::string& yaml) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "plan.yaml", diags);
    std::optional<Topology> topology;
    if (root) {
        topology = validate_topology(*root, test_registry(), diags);
    }
    std::string text;
    for (const Diagnostic& d : diags.sorted()) {
        text += d.to_string() + "\n";
    }
    EXPECT_FALSE(diags.has_errors()) << text;
    if (!topology) {
        return {};
    }
    PhysicalPlan plan = build_plan(*topology);
    return {std::move(*topology), std::move(plan)};
}

void expect_inputs_first(const Planned& p) {
    for (const PlanEdge& e : p.plan.edges) {
        EXPECT_LT(e.from, e.to) << "edge n" << e.from << " -> n" << e.to;
    }
    for (size_t i = 0; i < p.plan.nodes.size(); ++i) {
        EXPECT_EQ(p.plan.nodes[i].id, static_cast<int>(i));
    }
}

TEST(PhysicalPlan, UnkeyedOperatorsAfterASourceFuseIntoOneChain) {
    Planned p = plan_of(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  slim: {type: select, input: clicks, drop: [ip]}\n"
        "  buys: {type: filter, input: slim, field: type, value: purchase}\n"
        "sinks:\n"
        "  out: {type: stdout, input: buys}\n"
        "  rest: {type: \"null\", input: buys.rejected}\n");
    ASSERT_EQ(p.plan.nodes.size(), 4u);
    int chain = p.node_of("slim");
    EXPECT_EQ(p.node(chain).kind, PlanNodeKind::kChain);
    EXPECT_THAT(p.names(chain), ElementsAre("slim", "buys"));
    EXPECT_EQ(p.node_of("buys"), chain);
    EXPECT_EQ(p.count(PlanNodeKind::kExchange), 0u);
    // The source feeds the chain directly; the chain's last operator feeds the sinks.
    EXPECT_NE(p.edge(chain, "clicks"), nullptr);
    EXPECT_NE(p.edge(p.node_of("out"), "buys"), nullptr);
    EXPECT_EQ(p.plan.inputs_of(chain).size(), 1u);
    expect_inputs_first(p);
}

TEST(PhysicalPlan, KeyedOperatorReceivesItsInputThroughAnExchangeOnItsKey) {
    Planned p = plan_of(
        "parallelism: 4\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  counts: {type: counter, input: clicks, key: user_id}\n"
        "sinks: {out: {type: stdout, input: counts}}\n");
    int chain = p.node_of("counts");
    EXPECT_EQ(p.node(chain).key, "user_id");
    EXPECT_EQ(p.node(chain).parallelism, 4);
    std::vector<const PlanEdge*> in = p.plan.inputs_of(chain);
    ASSERT_EQ(in.size(), 1u);
    const PlanNode& exchange = p.node(in[0]->from);
    EXPECT_EQ(exchange.kind, PlanNodeKind::kExchange);
    EXPECT_EQ(exchange.key, "user_id");
    EXPECT_EQ(exchange.parallelism, 4);
    EXPECT_EQ(in[0]->component, -1);
    EXPECT_NE(p.edge(exchange.id, "clicks"), nullptr);
    EXPECT_EQ(p.node(p.node_of("clicks")).parallelism, 1);
    EXPECT_EQ(p.node(p.node_of("out")).parallelism, 1);
    expect_inputs_first(p);
}

TEST(PhysicalPlan, SameKeyAndUnkeyedOperatorsJoinTheKeyedChain) {
    Planned p = plan_of(
        "parallelism: 2\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  first: {type: counter, input: clicks, key: user_id}\n"
        "  second: {type: counter, input: first, key: user_id}\n"
        "  slim: {type: select, input: second, drop: [ip]}\n"
        "sinks: {out: {type: stdout, input: slim}}\n");
    int chain = p.node_of("first");
    EXPECT_THAT(p.names(chain), ElementsAre("first", "second", "slim"));
    EXPECT_EQ(p.node(chain).key, "user_id");
    EXPECT_EQ(p.count(PlanNodeKind::kChain), 1u);
    EXPECT_EQ(p.count(PlanNodeKind::kExchange), 1u);
    expect_inputs_first(p);
}

TEST(PhysicalPlan, ChangeOfKeyIsAnExchange) {
    Planned p = plan_of(
        "parallelism: 2\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  by_user: {type: counter, input: clicks, key: user_id}\n"
        "  by_item: {type: counter, input: by_user, key: item_id}\n"
        "sinks: {out: {type: stdout, input: by_item}}\n");
    int users = p.node_of("by_user");
    int items = p.node_of("by_item");
    ASSERT_NE(users, items);
    EXPECT_EQ(p.count(PlanNodeKind::kExchange), 2u);
    std::vector<const PlanEdge*> in = p.plan.inputs_of(items);
    ASSERT_EQ(in.size(), 1u);
    const PlanNode& exchange = p.node(in[0]->from);
    EXPECT_EQ(exchange.kind, PlanNodeKind::kExchange);
    EXPECT_EQ(exchange.key, "item_id");
    const PlanEdge* from_users = p.edge(exchange.id, "by_user");
    ASSERT_NE(from_users, nullptr);
    EXPECT_EQ(from_users->from, users);
    expect_inputs_first(p);
}

TEST(PhysicalPlan, KeyedOperatorAfterAnUnkeyedChainStartsANewChain) {
    Planned p = plan_of(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  slim: {type: select, input: clicks, drop: [ip]}\n"
        "  counts: {type: counter, input: slim, key: user_id}\n"
        "sinks: {out: {type: stdout, input: counts}}\n");
    EXPECT_NE(p.node_of("slim"), p.node_of("counts"));
    EXPECT_EQ(p.count(PlanNodeKind::kExchange), 1u);
}

TEST(PhysicalPlan, AnOutputReadTwiceFusesItsReaderAndKeepsTheOtherEdge) {
    Planned p = plan_of(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  slim: {type: select, input: clicks, drop: [ip]}\n"
        "  buys: {type: filter, input: slim, field: type, value: purchase}\n"
        "sinks:\n"
        "  all: {type: stdout, input: slim}\n"
        "  out: {type: stdout, input: buys}\n"
        "  rest: {type: \"null\", input: buys.rejected}\n");
    int slim = p.node_of("slim");
    int buys = p.node_of("buys");
    EXPECT_EQ(slim, buys);  // a chain is a tree: records stay in their shard
    EXPECT_EQ(p.edge(buys, "slim"), nullptr);
    EXPECT_NE(p.edge(p.node_of("all"), "slim"), nullptr);
    expect_inputs_first(p);
}

TEST(PhysicalPlan, ASideOutputReaderFusesAndOtherReadersGetLabelledEdges) {
    Planned p = plan_of(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  buys: {type: filter, input: clicks, field: type, value: purchase}\n"
        "  others: {type: select, input: buys.rejected, drop: [ip]}\n"
        "sinks:\n"
        "  out: {type: stdout, input: buys}\n"
        "  rest: {type: stdout, input: others}\n"
        "  broken: {type: \"null\", input: clicks.errors}\n");
    int buys = p.node_of("buys");
    int others = p.node_of("others");
    EXPECT_EQ(buys, others);
    EXPECT_EQ(p.edge(others, "buys", "rejected"), nullptr);
    const PlanEdge* errors = p.edge(p.node_of("broken"), "clicks", "errors");
    ASSERT_NE(errors, nullptr);
    EXPECT_EQ(errors->from, p.node_of("clicks"));
    expect_inputs_first(p);
}

TEST(PhysicalPlan, DifferentParallelismIsNotFused) {
    Planned p = plan_of(
        "parallelism: 1\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  slim: {type: select, input: clicks, drop: [ip]}\n"
        "  wide: {type: select, input: slim, drop: [ua], parallelism: 3}\n"
        "sinks: {out: {type: stdout, input: wide}}\n");
    ASSERT_NE(p.node_of("slim"), p.node_of("wide"));
    EXPECT_EQ(p.node(p.node_of("slim")).parallelism, 1);
    EXPECT_EQ(p.node(p.node_of("wide")).parallelism, 3);
}

TEST(PhysicalPlan, OperatorWithSeveralInputsStartsAChain) {
    Planned p = plan_of(
        "sources:\n"
        "  web: {type: generator, events: 1}\n"
        "  app: {type: generator, events: 1, seed: 2}\n"
        "operators:\n"
        "  slim: {type: select, input: web, drop: [ip]}\n"
        "  both: {type: select, inputs: [slim, app], drop: [ua]}\n"
        "sinks: {out: {type: stdout, input: both}}\n");
    int both = p.node_of("both");
    ASSERT_NE(p.node_of("slim"), both);
    EXPECT_EQ(p.plan.inputs_of(both).size(), 2u);
    EXPECT_NE(p.edge(both, "slim"), nullptr);
    EXPECT_NE(p.edge(both, "app"), nullptr);
    expect_inputs_first(p);
}

TEST(PhysicalPlan, DotTextShowsChainsExchangesAndSideOutputs) {
    Planned p = plan_of(
        "name: demo\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  counts: {type: counter, input: clicks, key: user_id}\n"
        "  buys: {type: filter, input: counts, field: type, value: purchase}\n"
        "sinks:\n"
        "  out: {type: stdout, input: buys}\n"
        "  rest: {type: \"null\", input: buys.rejected}\n");
    std::string dot = p.plan.to_dot(p.topology);
    EXPECT_THAT(dot, ::testing::StartsWith("digraph \"demo\" {\n"));
    EXPECT_THAT(dot, ::testing::EndsWith("}\n"));
    // Line breaks in labels are DOT's `\n` escape, not an escaped backslash.
    EXPECT_THAT(dot, HasSubstr("[label=\"clicks\\n(generator)\", shape=cds]"));
    EXPECT_THAT(dot, HasSubstr("[label=\"exchange\\nhash(user_id)\", shape=diamond]"));
    EXPECT_THAT(
        dot,
        HasSubstr("[label=\"chain by user_id x1\\ncounts (counter)\\nbuys (filter)\", shape=box]"));
    EXPECT_THAT(dot, HasSubstr("[label=\"out\\n(stdout)\", shape=folder]"));
    EXPECT_THAT(dot, HasSubstr("[label=\"rest\\n(null)\", shape=folder]"));
    EXPECT_THAT(dot, HasSubstr("[label=\"rejected\", style=dashed]"));
    EXPECT_THAT(dot, ::testing::Not(HasSubstr("\\\\")));
    int chain = p.node_of("counts");
    int rest = p.node_of("rest");
    EXPECT_THAT(dot, HasSubstr("  n" + std::to_string(chain) + " -> n" + std::to_string(rest) +
                               " [label=\"rejected\", style=dashed];\n"));
}

TEST(PhysicalPlan, DotTextEscapesQuotes) {
    Planned p = plan_of(
        "name: 'my \"plan\"'\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, input: clicks}}\n");
    std::string dot = p.plan.to_dot(p.topology);
    EXPECT_THAT(dot, ::testing::StartsWith("digraph \"my \\\"plan\\\"\" {\n"));
}

TEST(PhysicalPlan, AStatefulOperatorWithoutAKeyRunsAsOneInstance) {
    Planned p = plan_of(
        "parallelism: 4\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  site: {type: window, input: clicks, size: 1m, aggregations: {n: {op: count}}}\n"
        "  users: {type: window, input: clicks, key: user_id, size: 1m,"
        " aggregations: {n: {op: count}}}\n"
        "  slim: {type: select, input: clicks, drop: [ip]}\n"
        "sinks:\n"
        "  a: {type: stdout, input: site}\n"
        "  b: {type: stdout, input: users}\n"
        "  c: {type: stdout, input: slim}\n");
    EXPECT_EQ(p.node(p.node_of("site")).parallelism, 1);  // site-wide windows see everything
    EXPECT_EQ(p.node(p.node_of("users")).parallelism, 4);
    EXPECT_EQ(p.node(p.node_of("slim")).parallelism, 4);  // stateless: runs everywhere
}

}  // namespace
}  // namespace eddy
