// SPDX-License-Identifier: Apache-2.0
#include "topology/scale_out_rules.h"

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
                    "key it by '" + key_field + "', or repartition by writing to a Kafka topic " +
                        "keyed by '" + op.key +
                        "' (a kafka sink with key_field) and reading that with another job; "
                        "Eddy does not build repartition topics yet");
    }
}

}  // namespace

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
    const ComponentDef* first = nullptr;
    size_t first_index = 0;
    for (size_t i = 0; i < topology.components.size(); ++i) {
        const ComponentDef& c = topology.components[i];
        if (!scales_out(c)) {
            continue;
        }
        check_source(c, diags);
        if (first == nullptr) {
            first = &c;
            first_index = i;
            continue;
        }
        diags.error("invalid_option", c.config.location_of("scale_out"),
                    "source '" + c.name + "' has scale_out: kafka, as has source '" + first->name +
                        "' (" + first->config.location_of("scale_out").to_string() +
                        "); a topology may have at most one scale-out source",
                    "remove scale_out from one of them, or run each in a topology of its own");
    }
    if (first == nullptr) {
        return;
    }
    check_state(topology, *first, diags);
    check_keys(topology, first_index, diags);
}

}  // namespace eddy
