// SPDX-License-Identifier: Apache-2.0
#include "topology/scale_out_rules.h"

#include <optional>
#include <string>
#include <vector>

namespace eddy {
namespace {

constexpr const char* kOneTopic =
    "scale_out: kafka reads one topic; its partitions are the unit that moves between processes";

bool scales_out(const ComponentDef& c) {
    // A `scale_out` that failed its own check is absent from the config.
    return c.kind == ComponentKind::kSource && c.config.has("scale_out") &&
           c.config.value("scale_out").as_string() == "kafka";
}

/// The source's own parameters: key_field, one topic, assignment: group.
void check_source(const ComponentDef& source, Diagnostics& diags) {
    const Config& cfg = source.config;
    const std::string where = "source '" + source.name + "'";
    if (!cfg.has("key_field")) {
        diags.error("missing_field", cfg.location_of("scale_out"),
                    "scale_out: kafka needs key_field: the record key must be the message key, "
                    "by which Kafka partitions the input",
                    "add `key_field: user_id` to " + where +
                        " (the field that receives the message key) and key its operators by it");
    }
    if (cfg.has("topics")) {
        const ConfigValue& topics = cfg.value("topics");
        if (topics.items().size() != 1) {
            diags.error("invalid_option", topics.location(),
                        std::string(kOneTopic) + "; " + where + " reads " + topics.to_string(),
                        "keep one topic here, and read the others with another source without "
                        "scale_out");
        } else if (const ConfigValue& topic = topics.items().front();
                   topic.as_string().starts_with("^")) {
            diags.error("invalid_option", topic.location(),
                        std::string(kOneTopic) + "; " + where + " reads the ^regex `" +
                            topic.as_string() + "`",
                        "name the topic: a regex may match several topics, now or later");
        }
    }
    if (cfg.has("assignment") && cfg.value("assignment").as_string() == "all") {
        diags.error("invalid_option", cfg.location_of("assignment"),
                    "scale_out needs assignment: group: the group's rebalances spread the "
                    "partitions; " +
                        where + " has assignment: all",
                    "remove `assignment: all` (group is the default)");
    }
}

/// Checkpoints publish the changelog, so the topology needs a state dir.
void check_state(const Topology& topology, const ComponentDef& source, Diagnostics& diags) {
    if (!topology.state.dir.empty()) {
        return;
    }
    const bool has_block = topology.state.location.line > 0;
    diags.error("missing_field",
                has_block ? topology.state.location : source.config.location_of("scale_out"),
                std::string("scale_out: kafka of source '") + source.name + "' needs " +
                    (has_block ? "`state.dir`" : "a `state:` block with a `dir`") +
                    ": its checkpoints publish the changelog by which keyed state moves with "
                    "its partition",
                has_block ? "add `dir: ./state` to `state:`"
                          : "add `state: {dir: ./state}`; `eddy run --state-dir` may move the "
                            "dir, but the topology must have one");
}

/// Keyed state downstream is stored per input partition, so it must be
/// keyed as Kafka partitions: by the message key.
void check_keys(const Topology& topology, size_t source, Diagnostics& diags) {
    const ComponentDef& src = topology.components[source];
    if (!src.config.has("key_field")) {
        return;  // reported by check_source
    }
    const std::string& key_field = src.config.string("key_field");
    std::vector<bool> reached = downstream_of(topology, source);
    for (size_t i = 0; i < topology.components.size(); ++i) {
        const ComponentDef& op = topology.components[i];
        // Unkeyed operators with operator-wide state cannot be told apart
        // here; the runtime warns about those.
        if (!reached[i] || op.kind != ComponentKind::kOperator || op.key.empty() ||
            op.key == key_field) {
            continue;
        }
        diags.error("invalid_option", op.key_location,
                    "operator '" + op.name + "' keys by '" + op.key + "', but source '" + src.name +
                        "' is partitioned by '" + key_field +
                        "' (key_field) and runs with scale_out: kafka: its state could not move "
                        "with the partition",
                    "key it by '" + key_field + "', or read only what comes from '" + src.name +
                        "': an operator whose inputs all do reads them through a repartition "
                        "topic keyed by its key (docs/scale-out.md, \"Repartition\")");
    }
}

/// The value of a copied client parameter, placed at `at`.
ConfigValue placed(const ConfigValue& v, const Location& at) {
    if (v.is_map()) {
        std::vector<ConfigValue::Entry> entries;
        for (const auto& [k, e] : v.entries()) {
            entries.emplace_back(k, placed(e, at));
        }
        return ConfigValue::map(std::move(entries), at);
    }
    if (v.is_list()) {
        std::vector<ConfigValue> items;
        for (const ConfigValue& e : v.items()) {
            items.push_back(placed(e, at));
        }
        return ConfigValue::list(std::move(items), at);
    }
    return ConfigValue::string(
        v.kind() == ConfigValue::Kind::kInt ? std::to_string(v.as_int()) : v.as_string(), at);
}

/// The client parameters of `upstream` both added components share.
std::vector<ConfigValue::Entry> client_entries(const ComponentDef& op,
                                               const ComponentDef& upstream) {
    const Location& at = op.key_location;
    std::vector<ConfigValue::Entry> e;
    e.emplace_back("type", ConfigValue::string("kafka", at));
    e.emplace_back("brokers", ConfigValue::string(upstream.config.string("brokers"), at));
    if (upstream.config.has("properties")) {
        e.emplace_back("properties", placed(upstream.config.value("properties"), at));
    }
    e.emplace_back(
        "connect_timeout",
        ConfigValue::string(
            std::to_string(upstream.config.duration("connect_timeout").count()) + "ms", at));
    return e;
}

}  // namespace

std::optional<RepartitionPlan> plan_repartition(const Topology& topology) {
    const std::vector<ComponentDef>& cs = topology.components;
    std::vector<RepartitionPlan> candidates;
    for (size_t s = 0; s < cs.size(); ++s) {
        if (!scales_out(cs[s]) || !cs[s].config.has("key_field")) {
            continue;
        }
        const std::string& key_field = cs[s].config.string("key_field");
        std::vector<bool> reached = downstream_of(topology, s);
        for (size_t i = 0; i < cs.size(); ++i) {
            const ComponentDef& op = cs[i];
            if (!reached[i] || op.kind != ComponentKind::kOperator || op.key.empty() ||
                op.key == key_field || op.inputs.empty()) {
                continue;
            }
            bool inside = true;  // every input partitioned by this source
            for (const InputRef& in : op.inputs) {
                int j = topology.find(in.component);
                inside &= j >= 0 && reached[static_cast<size_t>(j)];
            }
            if (inside) {
                candidates.push_back({i, s});
            }
        }
    }
    for (const RepartitionPlan& c : candidates) {
        bool first = true;  // no other candidate upstream of it
        for (const RepartitionPlan& other : candidates) {
            first &= other.op == c.op || !downstream_of(topology, other.op)[c.op];
        }
        if (first) {
            return c;
        }
    }
    return std::nullopt;
}

ConfigValue repartition_sink_body(const ComponentDef& op, const ComponentDef& upstream,
                                  const std::string& topic) {
    const Location& at = op.key_location;
    std::vector<ConfigValue::Entry> e = client_entries(op, upstream);
    std::vector<ConfigValue> inputs;
    for (const InputRef& in : op.inputs) {
        inputs.push_back(ConfigValue::string(in.to_string(), at));
    }
    e.emplace_back("inputs", ConfigValue::list(std::move(inputs), at));
    e.emplace_back("topic", ConfigValue::string(topic, at));
    e.emplace_back("key_field", ConfigValue::string(op.key, at));
    // The reading source takes the message timestamp as the record's time.
    e.emplace_back("timestamp", ConfigValue::string("event_time", at));
    return ConfigValue::map(std::move(e), at);
}

ConfigValue repartition_source_body(const ComponentDef& op, const ComponentDef& upstream,
                                    const std::string& topic) {
    const Location& at = op.key_location;
    std::vector<ConfigValue::Entry> e = client_entries(op, upstream);
    e.emplace_back("topics", ConfigValue::list({ConfigValue::string(topic, at)}, at));
    // A group of its own: a process joining or leaving rebalances each
    // group on its own, and one consumer's late join does not stop the
    // other topic's consumers (docs/scale-out.md).
    std::string group =
        upstream.config.has("group") ? upstream.config.string("group") : "eddy-" + upstream.name;
    e.emplace_back("group", ConfigValue::string(group + "-" + op.name + "-repartition", at));
    e.emplace_back("scale_out", ConfigValue::string("kafka", at));
    e.emplace_back("key_field", ConfigValue::string(op.key, at));
    e.emplace_back("start", ConfigValue::string("earliest", at));
    return ConfigValue::map(std::move(e), at);
}

std::vector<bool> downstream_of(const Topology& topology, size_t source) {
    const std::vector<ComponentDef>& cs = topology.components;
    std::vector<bool> reached(cs.size(), false);
    std::vector<size_t> todo = {source};
    reached[source] = true;
    while (!todo.empty()) {
        const std::string& name = cs[todo.back()].name;
        todo.pop_back();
        for (size_t j = 0; j < cs.size(); ++j) {
            if (reached[j]) {
                continue;
            }
            for (const InputRef& in : cs[j].inputs) {
                if (in.component == name) {
                    reached[j] = true;
                    todo.push_back(j);
                    break;
                }
            }
        }
    }
    return reached;
}

void check_scale_out(const Topology& topology, Diagnostics& diags) {
    std::vector<size_t> sources;
    for (size_t i = 0; i < topology.components.size(); ++i) {
        const ComponentDef& c = topology.components[i];
        if (scales_out(c)) {
            check_source(c, diags);
            sources.push_back(i);
        }
    }
    if (sources.empty()) {
        return;
    }
    check_state(topology, topology.components[sources.front()], diags);
    // Each operator's keyed state follows the partitions of one source.
    std::vector<int> scope(topology.components.size(), -1);
    for (size_t source : sources) {
        check_keys(topology, source, diags);
        std::vector<bool> reached = downstream_of(topology, source);
        for (size_t i = 0; i < reached.size(); ++i) {
            const ComponentDef& op = topology.components[i];
            if (!reached[i] || op.kind != ComponentKind::kOperator) {
                continue;
            }
            if (scope[i] < 0) {
                scope[i] = static_cast<int>(source);
                continue;
            }
            const ComponentDef& other = topology.components[static_cast<size_t>(scope[i])];
            const ComponentDef& src = topology.components[source];
            diags.error("invalid_option", op.location,
                        "operator '" + op.name + "' is downstream of two scale_out sources, '" +
                            other.name + "' and '" + src.name +
                            "': its state can follow the partitions of one of them only",
                        "read the two through one source, or give one of them its own "
                        "operators");
        }
    }
}
}  // namespace eddy
