// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "eddy/registry.h"

#include "topology/topology.h"

namespace eddy::cli {

/// Adds the repeatable `--plugin PATH` option to a command that loads components.
void add_plugin_option(CLI::App* cmd, std::vector<std::string>& plugins);

/// A validated topology and the registry (built-ins plus plugins) that its
/// components' specs live in.
struct LoadedTopology {
    std::unique_ptr<Registry> registry;
    Topology topology;
};

/// Loads a topology with its `plugins:` and the command line's --plugin
/// plugins, and validates it, printing every diagnostic (with `errors_only`,
/// every error) to stderr. Returns nullopt when there is an error.
std::optional<LoadedTopology> load_and_report(const std::string& path,
                                              const std::vector<std::string>& plugins,
                                              bool errors_only = false);

/// The built-ins plus the --plugin plugins; nullptr (after saying why on
/// stderr) when one cannot be loaded.
std::unique_ptr<Registry> registry_with_plugins(const std::vector<std::string>& plugins);

}  // namespace eddy::cli
