// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <memory>

#include "commands.h"
#include "plugin/loader.h"
#include "topology/reference.h"
#include "topology/suggest.h"
#include "topology_loading.h"

namespace eddy::cli {

void add_operators_command(CLI::App& app, int& exit_code) {
    struct Options {
        std::string name;
        bool markdown = false;
        bool plugins_only = false;
        std::vector<std::string> plugins;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "operators", "List the source, operator and sink types, or show one in full.");
    cmd->add_option("name", opts->name, "A component type, e.g. filter");
    cmd->add_flag("--markdown", opts->markdown,
                  "Print the full reference as Markdown (docs/operators.md)");
    add_plugin_option(cmd, opts->plugins);
    cmd->add_flag("--plugins-only", opts->plugins_only,
                  "Only the components of the --plugin plugins (a plugin's reference)");
    cmd->callback([opts, &exit_code] {
        std::unique_ptr<Registry> loaded = registry_with_plugins(opts->plugins);
        if (loaded == nullptr) {
            exit_code = kExitUsage;
            return;
        }
        const Registry& registry = *loaded;
        if (opts->markdown) {
            std::fputs(registry_markdown(registry, opts->plugins_only).c_str(), stdout);
            exit_code = kExitOk;
            return;
        }
        if (opts->name.empty()) {
            std::fputs(registry_listing(registry, opts->plugins_only).c_str(), stdout);
            exit_code = kExitOk;
            return;
        }
        bool found = false;
        std::vector<std::string> all;
        for (ComponentKind kind :
             {ComponentKind::kSource, ComponentKind::kOperator, ComponentKind::kSink}) {
            if (const ComponentSpec* spec = registry.find(kind, opts->name)) {
                std::fputs((found ? "\n" : ""), stdout);
                std::fputs(spec_text(*spec).c_str(), stdout);
                found = true;
            }
            for (std::string& n : registry.names(kind)) {
                all.push_back(std::move(n));
            }
        }
        if (!found) {
            std::string hint = did_you_mean(opts->name, all);
            if (auto plugin = resolve_plugin(opts->name, ""); plugin.is_ok()) {
                hint = "a plugin of that name is at " + plugin.value() + ": add --plugin " +
                       opts->name;
            }
            std::fprintf(stderr,
                         "eddy: no component type '%s'%s%s (`eddy operators` lists them all)\n",
                         opts->name.c_str(), hint.empty() ? "" : "; ", hint.c_str());
            exit_code = kExitUsage;
            return;
        }
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
