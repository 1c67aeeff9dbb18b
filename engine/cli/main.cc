// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <map>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.h"

int main(int argc, char** argv) {
    CLI::App app{"Eddy: a stream-processing engine for behavioural data.", "eddy"};
    app.require_subcommand(1);
    app.fallthrough();
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

    int exit_code = eddy::cli::kExitOk;
    eddy::cli::add_run_command(app, exit_code);
    eddy::cli::add_validate_command(app, exit_code);
    eddy::cli::add_operators_command(app, exit_code);
    eddy::cli::add_graph_command(app, exit_code);
    eddy::cli::add_gen_command(app, exit_code);
    eddy::cli::add_version_command(app, exit_code);
    eddy::cli::add_state_command(app, exit_code);
    eddy::cli::add_score_command(app, exit_code);
    eddy::cli::add_savepoint_command(app, exit_code);
    eddy::cli::add_broker_command(app, exit_code);
    eddy::cli::add_kselect_command(app, exit_code);
    eddy::cli::add_eval_command(app, exit_code);
    eddy::cli::add_new_plugin_command(app, exit_code);
    eddy::cli::add_tap_command(app, exit_code);
    eddy::cli::add_schema_command(app, exit_code);
    eddy::cli::add_test_command(app, exit_code);
    eddy::cli::add_explain_time_command(app, exit_code);
    eddy::cli::add_plan_command(app, exit_code);

    // Logs go to stderr so that a stdout sink's records stay clean.
    auto logger = spdlog::stderr_color_mt("eddy");
    logger->set_pattern("%^%Y-%m-%d %H:%M:%S.%e %l%$ %v");
    spdlog::set_default_logger(logger);
    app.parse_complete_callback([&] { spdlog::set_level(spdlog::level::from_str(log_level)); });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? eddy::cli::kExitOk : eddy::cli::kExitUsage;
    }
    spdlog::shutdown();
    return exit_code;
}
