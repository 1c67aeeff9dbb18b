// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <memory>

#include "commands.h"
#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology_loading.h"

namespace eddy::cli {

void add_plugin_option(CLI::App* cmd, std::vector<std::string>& plugins) {
    cmd->add_option("--plugin", plugins,
                    "Load this operator plugin (a path, or a name searched in EDDY_PLUGIN_PATH); "
                    "repeatable")
        ->allow_extra_args(false);
}

std::unique_ptr<Registry> registry_with_plugins(const std::vector<std::string>& plugins) {
    auto registry = std::make_unique<Registry>(builtin_registry());
    for (const std::string& request : plugins) {
        auto file = resolve_plugin(request, "");
        Status s = file.is_ok() ? load_plugin(file.value(), *registry) : file.status();
        if (!s.is_ok()) {
            std::fprintf(stderr, "eddy: %s\n", s.message().c_str());
            return nullptr;
        }
    }
    return registry;
}

std::optional<LoadedTopology> load_and_report(const std::string& path,
                                              const std::vector<std::string>& plugins,
                                              bool errors_only) {
    Diagnostics diags;
    auto registry = std::make_unique<Registry>(builtin_registry());
    auto topology = load_topology_with_plugins(path, plugins, *registry, diags);
    size_t shown = 0;
    for (const Diagnostic& d : diags.sorted()) {
        if (!errors_only || d.severity == Severity::kError) {
            std::fprintf(stderr, "%s\n", d.to_string().c_str());
            ++shown;
        }
    }
    if (shown > 1) {
        std::fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", path.c_str(), diags.error_count(),
                     diags.error_count() == 1 ? "" : "s", diags.warning_count(),
                     diags.warning_count() == 1 ? "" : "s");
    }
    if (diags.has_errors() || !topology) {
        return std::nullopt;
    }
    return LoadedTopology{std::move(registry), std::move(*topology)};
}

void add_validate_command(CLI::App& app, int& exit_code) {
    auto files = std::make_shared<std::vector<std::string>>();
    auto plugins = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand(
        "validate",
        "Check topology files against the component specs; report every error at once.");
    cmd->add_option("files", *files, "Topology YAML files")->required();
    add_plugin_option(cmd, *plugins);
    cmd->callback([files, plugins, &exit_code] {
        exit_code = kExitOk;
        for (const std::string& f : *files) {
            auto loaded = load_and_report(f, *plugins);
            if (!loaded) {
                exit_code = kExitUsage;
                continue;
            }
            const Topology& t = loaded->topology;
            for (const RepartitionDef& r : t.repartitions) {
                // Added components are counted below; say where they come from.
                std::fprintf(stderr,
                             "%s: operator '%s' reads its input through repartition topic '%s' "
                             "(source '%s' and sink '%s' added; docs/scale-out.md)\n",
                             f.c_str(), r.op.c_str(), r.topic.c_str(), r.source.c_str(),
                             r.sink.c_str());
            }
            std::fprintf(stderr, "%s: ok (%zu components)\n", f.c_str(), t.components.size());
        }
    });
}

}  // namespace eddy::cli
