// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <memory>

#include "commands.h"
#include "state/savepoint.h"

namespace eddy::cli {

void add_savepoint_command(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("savepoint", "Take consistent copies of a job's state.");
    cmd->require_subcommand(1);
    auto state_dir = std::make_shared<std::string>();
    auto out_dir = std::make_shared<std::string>();
    CLI::App* create = cmd->add_subcommand(
        "create",
        "Copy the last checkpoint in STATE_DIR into OUT_DIR (a RocksDB Checkpoint) with a "
        "SAVEPOINT marker. Stop the job first. Start a job from it with `eddy run "
        "--from-savepoint OUT_DIR topology.yaml`, at any parallelism.");
    create->add_option("state_dir", *state_dir, "The topology's state.dir")->required();
    create->add_option("out_dir", *out_dir, "Where to write the savepoint; must not exist")
        ->required();
    create->footer(
        "On the same filesystem the savepoint hard-links the state's SST files (cheap, and "
        "safe: RocksDB never changes them); elsewhere they are copied.");
    create->callback([state_dir, out_dir, &exit_code] {
        auto info = state::create_savepoint(*state_dir, *out_dir);
        if (!info.is_ok()) {
            std::fprintf(stderr, "eddy: %s\n", info.status().message().c_str());
            StatusCode code = info.status().code();
            exit_code = code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument
                            ? kExitUsage
                            : kExitRuntimeFailure;
            return;
        }
        std::printf("savepoint of topology '%s' at checkpoint %llu written to %s\n",
                    info.value().topology.c_str(),
                    static_cast<unsigned long long>(info.value().checkpoint_id), out_dir->c_str());
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
