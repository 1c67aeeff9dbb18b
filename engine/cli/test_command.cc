// SPDX-License-Identifier: Apache-2.0
// `eddy test FILE...`: runs the test cases of topologies (docs/testing.md).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "commands.h"
#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "testing/runner.h"
#include "topology/validator.h"
#include "topology_loading.h"

namespace eddy::cli {
namespace {

/// A suite ready to run: its topology validated, its names checked.
struct Prepared {
    topology_tests::Suite suite;
    std::unique_ptr<Registry> registry;
    Topology topology;
};

std::string canonical(const std::string& path) {
    std::error_code ec;
    auto p = std::filesystem::weakly_canonical(path, ec);
    return ec ? path : p.string();
}

void print(const Diagnostics& diags) {
    for (const Diagnostic& d : diags.sorted()) {
        std::fprintf(stderr, "%s\n", d.to_string().c_str());
    }
}

/// Loads every suite the files name; false (after printing why) when a
/// file, a topology or a test definition is invalid.
bool prepare(const std::vector<std::string>& files, const std::vector<std::string>& plugins,
             std::vector<Prepared>& out) {
    bool valid = true;
    std::set<std::string> seen;
    for (const std::string& file : files) {
        Diagnostics diags;
        std::vector<topology_tests::Suite> suites = topology_tests::find_suites(file, diags);
        for (topology_tests::Suite& suite : suites) {
            std::string id = canonical(suite.tests_path) + "|" + canonical(suite.topology_path);
            if (!seen.insert(id).second) {
                continue;  // named twice (a topology and its test file)
            }
            Prepared p;
            p.registry = std::make_unique<Registry>(builtin_registry());
            auto topology =
                load_topology_with_plugins(suite.topology_path, plugins, *p.registry, diags);
            if (!topology) {
                continue;
            }
            topology_tests::check_names(suite.cases, *topology, diags);
            p.topology = std::move(*topology);
            p.suite = std::move(suite);
            out.push_back(std::move(p));
        }
        print(diags);
        valid &= !diags.has_errors();
    }
    return valid;
}

}  // namespace

void add_test_command(CLI::App& app, int& exit_code) {
    auto files = std::make_shared<std::vector<std::string>>();
    auto plugins = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand(
        "test",
        "Run the test cases of topologies (a `tests:` block, or NAME_test.yaml beside "
        "NAME.yaml) on in-memory sources and sinks; see docs/testing.md.");
    cmd->add_option("files", *files, "Topology files or *_test.yaml files")->required();
    add_plugin_option(cmd, *plugins);
    cmd->callback([files, plugins, &exit_code] {
        std::vector<Prepared> prepared;
        if (!prepare(*files, *plugins, prepared)) {
            std::fprintf(stderr, "eddy test: invalid test or topology files; nothing was run\n");
            exit_code = kExitUsage;
            return;
        }
        size_t passed = 0;
        size_t failed = 0;
        for (const Prepared& p : prepared) {
            std::string header = p.suite.tests_path;
            if (canonical(p.suite.tests_path) != canonical(p.suite.topology_path)) {
                header += " (" + p.suite.topology_path + ")";
            }
            std::printf("%s\n", header.c_str());
            for (const topology_tests::TestCase& c : p.suite.cases) {
                topology_tests::CaseResult r = topology_tests::run_case(p.topology, *p.registry, c);
                (r.passed() ? passed : failed) += 1;
                std::printf("%s", topology_tests::render(r).c_str());
                std::fflush(stdout);
            }
        }
        std::printf("%zu case%s: %zu passed, %zu failed\n", passed + failed,
                    passed + failed == 1 ? "" : "s", passed, failed);
        exit_code = failed > 0 ? kExitRuntimeFailure : kExitOk;
    });
}

}  // namespace eddy::cli
