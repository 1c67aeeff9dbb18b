// SPDX-License-Identifier: Apache-2.0
// Plugins from the command line, and the installed SDK: `cmake --install`
// this build to a temporary prefix, scaffold a plugin with `eddy new-plugin`,
// build it out of tree against the prefix with find_package(Eddy), run its
// test, and run it with the installed eddy.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "files.h"
#include "process.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProgramOutcome;
using testing::run_program;
using ::testing::StartsWith;

std::string test_plugin(const std::string& name) {
    return std::string(EDDY_TEST_PLUGINS_DIR) + "/lib" + name + ".so";
}

ProgramOutcome eddy(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), EDDY_BINARY);
    return run_program(std::move(args), env);
}

/// A fresh directory under the temporary directory, removed at the end.
struct Scratch {
    fs::path path;
    explicit Scratch(const std::string& name)
        : path(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~Scratch() { fs::remove_all(path); }
};

using eddy::testing::read_file;

// ---------------------------------------------------------------------------
// The command line

TEST(PluginCli, OperatorsListsPluginComponentsWithTheirOrigin) {
    std::string origin = "[plugin " + fs::canonical(test_plugin("tally")).string() + "]";
    ProgramOutcome all = eddy({"operators", "--plugin", test_plugin("tally")});
    ASSERT_EQ(all.exit_code, 0) << all.both();
    EXPECT_THAT(all.out, HasSubstr("  tally          Counts records per key and session (test "
                                   "plugin).  " +
                                   origin + "\n"));
    EXPECT_THAT(all.out, HasSubstr("  tally_numbers  Numbered records for several users (test "
                                   "plugin).  " +
                                   origin + "\n"));
    EXPECT_THAT(all.out, HasSubstr("  filter         Keeps records"));  // built-ins stay, unmarked
    ProgramOutcome one = eddy({"operators", "--plugin", test_plugin("tally"), "tally"});
    ASSERT_EQ(one.exit_code, 0) << one.both();
    EXPECT_THAT(one.out,
                HasSubstr("  from: plugin " + fs::canonical(test_plugin("tally")).string()));
    EXPECT_THAT(one.out, HasSubstr("gap (duration; default 30m"));
    ProgramOutcome only =
        eddy({"operators", "--plugin", test_plugin("tally"), "--plugins-only", "--markdown"});
    ASSERT_EQ(only.exit_code, 0) << only.both();
    EXPECT_THAT(only.out, StartsWith("# Plugin component reference"));
    EXPECT_THAT(only.out, HasSubstr("### `tally`"));
    EXPECT_THAT(only.out, Not(HasSubstr("### `filter`")));
}

TEST(PluginCli, ARefusedPluginStopsTheCommandWithExitCode2) {
    ProgramOutcome o = eddy({"operators", "--plugin", test_plugin("wrong_abi")});
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, StartsWith("eddy: plugin '"));
    EXPECT_THAT(o.err, HasSubstr("plugin ABI version"));
    ProgramOutcome v = eddy({"validate", "--plugin", "no_such_plugin",
                             std::string(EDDY_SOURCE_DIR) + "/topologies/demo.yaml"});
    EXPECT_EQ(v.exit_code, 2);
    EXPECT_THAT(v.err, StartsWith("--plugin no_such_plugin: error: plugin 'no_such_plugin' not "
                                  "found (looked for "));
}

TEST(PluginCli, RunLoadsTheTopologysPluginsAndTheCommandLines) {
    Scratch dir("eddy_plugin_cli_run");
    fs::path out = dir.path / "numbers.txt";
    fs::path topology = dir.path / "t.yaml";
    std::ofstream(topology) << "plugins: [" << test_plugin("tally") << "]\n"
                            << "sources:\n  numbers: {type: tally_numbers, count: 4}\n"
                            << "sinks:\n  lines: {type: tally_lines, input: numbers, field: i, "
                            << "path: " << out.string() << "}\n";
    ProgramOutcome o = eddy({"run", "--no-progress", topology.string()});
    ASSERT_EQ(o.exit_code, 0) << o.both();
    EXPECT_EQ(read_file(out), "0\n1\n2\n3\n");
    // The same plugin again on the command line is the same plugin, not a duplicate.
    o = eddy({"run", "--no-progress", "--plugin", test_plugin("tally"), topology.string()});
    ASSERT_EQ(o.exit_code, 0) << o.both();
    // A second plugin with the same names is refused before anything runs.
    fs::remove(out);
    o = eddy({"run", "--no-progress", "--plugin", test_plugin("tally_copy"), topology.string()});
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("libtally_copy.so' registers "));
    EXPECT_FALSE(fs::exists(out));
}

TEST(PluginCli, StateDumpDecodesAPluginsStateWithItsPlugin) {
    Scratch dir("eddy_plugin_cli_state");
    fs::path topology = dir.path / "t.yaml";
    fs::path state = dir.path / "state";
    std::ofstream(topology) << "plugins: [" << test_plugin("tally") << "]\n"
                            << "state: {dir: " << state.string() << "}\n"
                            << "sources:\n  numbers: {type: tally_numbers, count: 5, users: 2}\n"
                            << "operators:\n  sessions: {type: tally, input: numbers, key: user}\n"
                            << "sinks:\n  out: {type: null, input: sessions}\n"
                            << "  totals: {type: null, input: sessions.totals}\n";
    ProgramOutcome run = eddy({"run", "--no-progress", topology.string()});
    ASSERT_EQ(run.exit_code, 0) << run.both();
    // Sessions closed at the end of the input; `last` keeps each user's latest time.
    ProgramOutcome dump =
        eddy({"state", "dump", "--plugin", test_plugin("tally"), state.string(), "sessions"});
    ASSERT_EQ(dump.exit_code, 0) << dump.both();
    EXPECT_THAT(dump.out, HasSubstr("{\"state\":\"last\",\"key\":\"u0\","));
    EXPECT_THAT(dump.out, HasSubstr("\"value\":4000}"));  // u0's records: i = 0, 2, 4
    EXPECT_THAT(dump.out, HasSubstr("\"value\":3000}"));  // u1's: i = 1, 3
    // Without its plugin the values are bytes, with the reason.
    ProgramOutcome raw = eddy({"state", "dump", state.string(), "sessions"});
    ASSERT_EQ(raw.exit_code, 0) << raw.both();
    EXPECT_THAT(raw.out, HasSubstr("\"hex\":"));
    EXPECT_THAT(raw.out, HasSubstr("operator type 'tally' is not built in, so its values cannot be "
                                   "decoded; give its plugin with --plugin"));
}

TEST(PluginCli, NewPluginRefusesBadNamesAndExistingDirectories) {
    Scratch dir("eddy_new_plugin_names");
    ProgramOutcome bad = eddy({"new-plugin", "My-Plugin", "--dir", dir.path.string()});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_THAT(bad.err, HasSubstr("the name 'My-Plugin' must start with a lower-case letter"));
    ProgramOutcome ok = eddy({"new-plugin", "sessions_plus", "--dir", dir.path.string()});
    ASSERT_EQ(ok.exit_code, 0) << ok.both();
    for (const char* f : {"CMakeLists.txt", "sessions_plus.cc", "topology.yaml",
                          "test/events.jsonl", "test/expected.jsonl", "README.md"}) {
        EXPECT_TRUE(fs::exists(dir.path / "sessions_plus" / f)) << f;
    }
    EXPECT_THAT(read_file(dir.path / "sessions_plus" / "sessions_plus.cc"),
                HasSubstr("class SessionsPlus final : public eddy::Operator"));
    ProgramOutcome again = eddy({"new-plugin", "sessions_plus", "--dir", dir.path.string()});
    EXPECT_EQ(again.exit_code, 2);
    EXPECT_THAT(again.err, HasSubstr("already exists"));
}

// ---------------------------------------------------------------------------
// The installed SDK, out of tree

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(InstalledSdk, AScaffoldedPluginBuildsOutOfTreeAndRuns) {
    Scratch dir("eddy_installed_sdk");
    fs::path prefix = dir.path / "prefix";
    ProgramOutcome install =
        run_program({"cmake", "--install", EDDY_BUILD_DIR, "--prefix", prefix.string()});
    ASSERT_EQ(install.exit_code, 0) << install.both();
    fs::path eddy_bin = prefix / "bin" / "eddy";
    for (const fs::path& p : {eddy_bin, prefix / "include" / "eddy" / "plugin.h",
                              prefix / "lib" / "cmake" / "Eddy" / "EddyConfig.cmake"}) {
        ASSERT_TRUE(fs::exists(p)) << p;
    }

    ProgramOutcome scaffold =
        run_program({eddy_bin.string(), "new-plugin", "visit_counter", "--dir", dir.path.string()});
    ASSERT_EQ(scaffold.exit_code, 0) << scaffold.both();
    fs::path project = dir.path / "visit_counter";
    fs::path build = project / "build";

    auto t0 = std::chrono::steady_clock::now();
    ProgramOutcome configure =
        run_program({"cmake", "-S", project.string(), "-B", build.string(),
                     "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_PREFIX_PATH=" + prefix.string()});
    ASSERT_EQ(configure.exit_code, 0) << configure.both();
    ProgramOutcome compile = run_program({"cmake", "--build", build.string()});
    ASSERT_EQ(compile.exit_code, 0) << compile.both();
    double build_seconds = seconds_since(t0);
    fs::path library = build / "libvisit_counter.so";
    ASSERT_TRUE(fs::exists(library));
    std::printf("out-of-tree plugin: configured and built in %.1f s, %ju bytes\n", build_seconds,
                static_cast<uintmax_t>(fs::file_size(library)));

    // Its own test: the topology on test/events.jsonl equals test/expected.jsonl.
    ProgramOutcome test =
        run_program({"ctest", "--test-dir", build.string(), "--output-on-failure"});
    ASSERT_EQ(test.exit_code, 0) << test.both();
    EXPECT_THAT(test.out, HasSubstr("100% tests passed"));

    // And by hand with the installed eddy, which lists it with its origin.
    ProgramOutcome listed =
        run_program({eddy_bin.string(), "operators", "--plugin", library.string()});
    ASSERT_EQ(listed.exit_code, 0) << listed.both();
    EXPECT_THAT(listed.out, HasSubstr("visit_counter  Counts events per key"));
    fs::path out = dir.path / "out.jsonl";
    ProgramOutcome run = run_program(
        {eddy_bin.string(), "run", "--no-progress", (project / "topology.yaml").string()},
        {"EDDY_PLUGIN_PATH=" + build.string(),
         "EDDY_INPUT=" + (project / "test" / "events.jsonl").string(),
         "EDDY_OUTPUT=" + out.string()});
    ASSERT_EQ(run.exit_code, 0) << run.both();
    EXPECT_EQ(read_file(out), read_file(project / "test" / "expected.jsonl"));
    EXPECT_EQ(read_file(out.string() + ".milestones"),
              "{\"ts\":1735689602000,\"user_id\":\"u1\",\"type\":\"click\",\"count\":2}\n"
              "{\"ts\":1735689604000,\"user_id\":\"u2\",\"type\":\"click\",\"count\":2}\n");

    // An example plugin builds on its own against the prefix too, and passes its test.
    fs::path example = dir.path / "ab_assign";
    ProgramOutcome example_configure = run_program(
        {"cmake", "-S", std::string(EDDY_SOURCE_DIR) + "/plugins/ab_assign", "-B", example.string(),
         "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_PREFIX_PATH=" + prefix.string()});
    ASSERT_EQ(example_configure.exit_code, 0) << example_configure.both();
    ProgramOutcome example_build = run_program({"cmake", "--build", example.string(), "-j2"});
    ASSERT_EQ(example_build.exit_code, 0) << example_build.both();
    ProgramOutcome example_test =
        run_program({"ctest", "--test-dir", example.string(), "--output-on-failure"});
    ASSERT_EQ(example_test.exit_code, 0) << example_test.both();
    EXPECT_THAT(example_test.out, HasSubstr("100% tests passed"));

    // The installed example plugins are found by name next to the installed eddy.
    ProgramOutcome examples = run_program(
        {eddy_bin.string(), "operators", "--plugin", "ab_assign", "--plugin", "context_features"});
    ASSERT_EQ(examples.exit_code, 0) << examples.both();
    EXPECT_THAT(examples.out, HasSubstr("[plugin " + fs::weakly_canonical(prefix).string() +
                                        "/lib/eddy/plugins/libab_assign.so]"));
}

}  // namespace
}  // namespace eddy
