// SPDX-License-Identifier: Apache-2.0
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "commands.h"
#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "topology/schema.h"
#include "topology/yaml_loader.h"
#include "topology_loading.h"

namespace eddy::cli {
namespace {

/// The built-ins, the `plugins:` of `topology` (when given) and the --plugin
/// plugins; nullptr after printing why when a file or plugin cannot be read.
std::unique_ptr<Registry> schema_registry(const std::string& topology,
                                          const std::vector<std::string>& plugins) {
    if (topology.empty()) {
        return registry_with_plugins(plugins);
    }
    Diagnostics diags;
    auto registry = std::make_unique<Registry>(builtin_registry());
    auto root = load_yaml_file(topology, diags);
    bool ok = root && load_topology_plugins(*root, plugins, *registry, diags);
    // Only what stops the schema is reported (an unreadable file, a plugin that
    // does not load); `eddy validate` says the rest.
    for (const Diagnostic& d : diags.sorted()) {
        if (d.severity == Severity::kError && (!root || d.kind == "plugin")) {
            std::fprintf(stderr, "%s\n", d.to_string().c_str());
        }
    }
    return ok ? std::move(registry) : nullptr;
}

}  // namespace

void add_schema_command(CLI::App& app, int& exit_code) {
    struct Options {
        std::string topology;
        std::string out;
        std::vector<std::string> plugins;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "schema",
        "Print the JSON Schema of topology files (built-ins and plugins) for editors; see "
        "docs/editor.md.");
    cmd->add_option("topology", opts->topology,
                    "Also include the components of this topology's `plugins:`");
    add_plugin_option(cmd, opts->plugins);
    cmd->add_option("-o,--out", opts->out, "Write the schema to this file instead of stdout");
    cmd->callback([opts, &exit_code] {
        std::unique_ptr<Registry> registry = schema_registry(opts->topology, opts->plugins);
        if (registry == nullptr) {
            exit_code = kExitUsage;
            return;
        }
        std::string schema = topology_schema(*registry);
        if (opts->out.empty() || opts->out == "-") {
            std::fputs(schema.c_str(), stdout);
            exit_code = kExitOk;
            return;
        }
        std::ofstream out(opts->out, std::ios::binary | std::ios::trunc);
        out << schema;
        out.close();
        if (!out) {
            std::fprintf(stderr, "eddy: cannot write the schema to '%s': %s\n", opts->out.c_str(),
                         std::strerror(errno));
            exit_code = kExitRuntimeFailure;
            return;
        }
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
