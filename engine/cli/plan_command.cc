// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "runtime/upgrade_plan.h"
#include "topology_loading.h"

namespace eddy::cli {
namespace {

struct PlanOptions {
    std::string old_file;
    std::string new_file;
    std::string state_dir;
    std::vector<std::string> allow_state_drop;
    std::vector<std::string> plugins;
    bool json = false;
};

}  // namespace

void add_plan_command(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<PlanOptions>();
    CLI::App* cmd = app.add_subcommand(
        "plan",
        "Say what upgrading a job from OLD to NEW does to each operator's state: kept, "
        "re-split, dropped, new or incompatible.");
    cmd->add_option("old", opts->old_file, "The topology the job runs now")->required();
    cmd->add_option("new", opts->new_file, "The topology to upgrade to")->required();
    cmd->add_option("--state", opts->state_dir,
                    "Also check what this state dir holds (the job must be stopped)");
    cmd->add_option("--allow-state-drop", opts->allow_state_drop,
                    "Accept losing this operator's state, as `eddy run --allow-state-drop` "
                    "does (repeatable)");
    cmd->add_flag("--json", opts->json, "Print the plan as one JSON object");
    add_plugin_option(cmd, opts->plugins);
    cmd->footer(
        "Exit code 0 when `eddy run NEW` would start and lose or misread no stored state, 1 when "
        "it would refuse (or an operator could not be inspected), 2 for invalid files or "
        "usage. See docs/upgrading.md.");
    cmd->callback([opts, &exit_code] {
        auto old_topology = load_and_report(opts->old_file, opts->plugins);
        auto new_topology = load_and_report(opts->new_file, opts->plugins);
        if (!old_topology || !new_topology) {
            exit_code = kExitUsage;
            return;
        }
        auto plan = plan_upgrade(old_topology->topology, new_topology->topology, opts->state_dir,
                                 opts->allow_state_drop);
        if (!plan.is_ok()) {
            std::fprintf(stderr, "eddy: %s\n", plan.status().message().c_str());
            exit_code =
                plan.status().code() == StatusCode::kNotFound ? kExitUsage : kExitRuntimeFailure;
            return;
        }
        std::string out =
            opts->json ? render_plan_json(plan.value()) + "\n" : render_plan_text(plan.value());
        std::fputs(out.c_str(), stdout);
        exit_code = plan.value().blocked() ? kExitRuntimeFailure : kExitOk;
    });
}

}  // namespace eddy::cli
