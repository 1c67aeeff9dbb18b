// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/spec.h"

namespace eddy {

/// A reference to an upstream component's output: `name` or `name.output`.
struct InputRef {
    std::string component;
    std::string output;  ///< Empty for the main output.
    Location location;
    /// "clean" or "clean.bots".
    std::string to_string() const { return output.empty() ? component : component + "." + output; }
};

/// How a source derives watermarks from its records' event times.
struct WatermarkDef {
    int64_t max_out_of_orderness_ms = 0;
    std::optional<int64_t> idle_timeout_ms;
};

/// One source, operator or sink as written in the topology, after validation.
/// The topology section that holds components of `kind`: "sources",
/// "operators" or "sinks".
const char* section_name(ComponentKind kind);

struct ComponentDef {
    ComponentKind kind = ComponentKind::kOperator;
    std::string name;
    std::string type;
    Location location;  ///< Of the component's name.
    std::string description;
    std::vector<InputRef> inputs;  ///< Operators and sinks.
    std::string key;               ///< Operators: the key field, empty when unkeyed.
    Location key_location;
    int parallelism = 0;  ///< Operators: 0 = the topology's.
    /// Keyed operators: keys untouched for this long in event time are dropped.
    std::optional<int64_t> state_ttl_ms;
    Location state_ttl_location;
    /// Operators: the name its state was stored under before a rename
    /// (`renamed_from:`); the job moves that state to `name` on start.
    std::string renamed_from;
    Location renamed_from_location;
    WatermarkDef watermark;  ///< Sources.
    const ComponentSpec* spec = nullptr;
    Config config;  ///< Typed parameters, defaults filled.
};

/// Settings of the `state:` block (used by the state backend).
struct StateDef {
    std::string dir;
    int64_t checkpoint_interval_ms = 10'000;
    uint64_t memory_bytes = 256ull << 20;
    /// In-memory keyed state (the write-back caches of every shard); beyond
    /// it, least recently used keys spill to RocksDB.
    uint64_t cache_bytes = 1ull << 30;
    Location location;
};

/// A validated topology: the logical DAG of components.
/// `serve:`: the HTTP API (docs/serving.md). Off while `listen` is empty.
struct ServeDef {
    std::string listen;      ///< host:port; `eddy run --http` overrides it.
    std::string token_env;   ///< The bearer token's environment variable...
    std::string token_file;  ///< ...or file; required when not on loopback.
    uint64_t max_key_bytes = 256;
    uint64_t max_request_bytes = 16 << 10;
    int64_t max_connections = 64;
    int64_t query_timeout_ms = 2000;
    /// View -> the operator that answers it: `recommendations`, `profiles`,
    /// `segments`. Absent views go to the operators of the usual types.
    std::vector<std::pair<std::string, std::string>> views;
    Location location;
};

/// scale_out: an operator keyed by another field than the partitioning of
/// its input reads it through a repartition topic (docs/scale-out.md,
/// "Repartition"). The validator adds the kafka sink that writes the
/// operator's inputs to the topic and the scale-out kafka source the
/// operator reads instead.
struct RepartitionDef {
    std::string op;        ///< The operator.
    std::string upstream;  ///< The scale-out source its inputs were partitioned by.
    std::string source;    ///< The added source: `<op>-repartition`.
    std::string sink;      ///< The added sink: `<op>-repartition-writer`.
    std::string topic;     ///< `<topology>-<op>-repartition`.
};

struct Topology {
    std::string name;
    std::string description;
    std::string file;
    int parallelism = 1;
    StateDef state;
    std::vector<std::string> plugins;
    /// The sink that reads every `errors` output nothing else reads (`dead_letter:`).
    std::string dead_letter;
    ServeDef serve;
    /// `log_level:` trace, debug, info, warn, error or off; empty: the
    /// command line's (`eddy --log-level`). A reload applies a change live.
    std::string log_level;
    Location log_level_location;
    /// Sources, then operators, then sinks, each group in file order (the
    /// components of repartitions last in theirs).
    std::vector<ComponentDef> components;
    std::vector<RepartitionDef> repartitions;

    /// Index into components, or -1.
    int find(std::string_view name) const;
    /// Indices of the components that read `component`'s `output` (empty = main).
    std::vector<int> consumers(int component, std::string_view output) const;
    /// The name scale-out topics begin with: `name`, else the file's stem.
    std::string job_name() const;
    /// Operators and sinks in an order where every input comes first.
    std::vector<int> topological_order() const;
};

}  // namespace eddy
