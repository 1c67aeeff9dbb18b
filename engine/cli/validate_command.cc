// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <memory>

#include "commands.h"
#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology_loading.h"

namespace eddy::cli {

std::optional<Topology> load_and_report(const std::string& path) {
    Diagnostics diags;
    auto topology = load_topology(path, builtin_registry(), diags);
    for (const Diagnostic& d : diags.sorted()) {
        std::fprintf(stderr, "%s\n", d.to_string().c_str());
    }
    if (diags.items().size() > 1) {
        std::fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", path.c_str(), diags.error_count(),
                     diags.error_count() == 1 ? "" : "s", diags.warning_count(),
                     diags.warning_count() == 1 ? "" : "s");
    }
    if (diags.has_errors()) {
        return std::nullopt;
    }
    return topology;
}

void add_validate_command(CLI::App& app, int& exit_code) {
    auto files = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand(
        "validate",
        "Check topology files against the component specs; report every error at once.");
    cmd->add_option("files", *files, "Topology YAML files")->required();
    cmd->callback([files, &exit_code] {
        exit_code = kExitOk;
        for (const std::string& f : *files) {
            auto topology = load_and_report(f);
            if (!topology) {
                exit_code = kExitUsage;
                continue;
            }
            std::fprintf(stderr, "%s: ok (%zu components)\n", f.c_str(),
                         topology->components.size());
        }
    });
}

}  // namespace eddy::cli
