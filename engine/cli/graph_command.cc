// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <memory>

#include "commands.h"
#include "runtime/plan.h"
#include "topology_loading.h"

namespace eddy::cli {

void add_graph_command(CLI::App& app, int& exit_code) {
    auto file = std::make_shared<std::string>();
    auto plugins = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand(
        "graph", "Print the physical plan (chains, exchanges, sinks) as Graphviz DOT.");
    cmd->add_option("file", *file, "Topology YAML file")->required();
    add_plugin_option(cmd, *plugins);
    cmd->footer("Render with: eddy graph topology.yaml | dot -Tsvg > plan.svg");
    cmd->callback([file, plugins, &exit_code] {
        auto loaded = load_and_report(*file, *plugins);
        if (!loaded) {
            exit_code = kExitUsage;
            return;
        }
        const Topology& topology = loaded->topology;
        std::fputs(build_plan(topology).to_dot(topology).c_str(), stdout);
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
