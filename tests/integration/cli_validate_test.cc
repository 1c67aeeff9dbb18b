// SPDX-License-Identifier: Apache-2.0
// Runs the built `eddy` binary on the topology fixtures: configuration errors
// exit with code 2 and a first line naming file:line:column, never a crash.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Outcome : eddy::testing::ProgramOutcome {
    std::string first_line() const { return err.substr(0, err.find('\n')); }
    std::vector<std::string> err_lines() const {
        std::vector<std::string> lines;
        std::istringstream in(err);
        for (std::string line; std::getline(in, line);) {
            lines.push_back(line);
        }
        return lines;
    }
};

/// Runs `eddy args...` with stdin from /dev/null, capturing stdout, stderr and
/// the exit status. The child gets 60 seconds before SIGALRM ends it.
Outcome run_eddy(std::vector<std::string> args) {
    args.insert(args.begin(), EDDY_BINARY);
    return Outcome{eddy::testing::run_program(std::move(args), {}, "", 60)};
}

std::string fixture(const std::string& name) {
    return std::string(EDDY_FIXTURES_DIR) + "/topologies/" + name;
}

std::vector<std::string> fixtures_starting_with(const std::string& prefix) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(fixture(""))) {
        std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".yaml") {
            names.push_back(name);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

/// No crash, no uncaught exception, no sanitizer or stack trace text.
void expect_clean_exit(const Outcome& o) {
    EXPECT_EQ(o.signal, 0) << "killed by signal " << o.signal << "\n" << o.err;
    for (const char* crash : {"terminate called", "what():", "Aborted", "Segmentation fault",
                              "AddressSanitizer", "Stack trace", "stack trace", "#0 0x"}) {
        EXPECT_THAT(o.err, Not(HasSubstr(crash)));
    }
}

class EddyCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "the eddy binary is not built yet (" << EDDY_BINARY
                         << "); build the `eddy` target first";
        }
        // bad_unset_variable.yaml needs this variable unset.
        ::unsetenv("EDDY_TEST_UNSET_VARIABLE");
    }
};

TEST_F(EddyCli, EveryBadFixtureExitsWithTwoAndNamesTheFirstErrorsPlace) {
    std::vector<std::string> bad = fixtures_starting_with("bad_");
    ASSERT_GE(bad.size(), 15u);
    for (const std::string& name : bad) {
        SCOPED_TRACE(name);
        std::string path = fixture(name);
        Outcome o = run_eddy({"validate", path});
        expect_clean_exit(o);
        EXPECT_EQ(o.exit_code, 2) << o.err;
        std::string first = o.first_line();
        ASSERT_THAT(first, StartsWith(path + ":"));
        static const std::regex kPlace(R"(^[1-9][0-9]*:[1-9][0-9]*: error: .+ \[[a-z_]+\]$)");
        EXPECT_TRUE(std::regex_match(first.substr(path.size() + 1), kPlace)) << first;
        EXPECT_TRUE(o.out.empty()) << o.out;
    }
}

TEST_F(EddyCli, FirstLineIsTheTypoWithItsSuggestion) {
    std::string path = fixture("bad_unknown_parameter.yaml");
    Outcome o = run_eddy({"validate", path});
    EXPECT_EQ(o.exit_code, 2);
    std::vector<std::string> lines = o.err_lines();
    ASSERT_GE(lines.size(), 3u) << o.err;
    EXPECT_EQ(lines[0], path +
                            ":8:5: error: unknown parameter 'feild' for operator 'buys' (filter) "
                            "[unknown_field]");
    EXPECT_EQ(lines[1], "  hint: did you mean 'field'?");
    EXPECT_EQ(lines.back(), path + ": 1 error, 1 warning");
}

TEST_F(EddyCli, ManyErrorsAreAllPrinted) {
    std::string path = fixture("bad_many_errors.yaml");
    Outcome o = run_eddy({"validate", path});
    EXPECT_EQ(o.exit_code, 2);
    size_t errors = 0;
    for (const std::string& line : o.err_lines()) {
        errors += line.find(": error: ") != std::string::npos ? 1 : 0;
    }
    EXPECT_EQ(errors, 6u) << o.err;
    EXPECT_EQ(o.err_lines().back(), path + ": 6 errors, 1 warning");
}

TEST_F(EddyCli, GoodFixturesValidateWithExitZero) {
    for (const std::string& name : fixtures_starting_with("good_")) {
        SCOPED_TRACE(name);
        Outcome o = run_eddy({"validate", fixture(name)});
        expect_clean_exit(o);
        EXPECT_EQ(o.exit_code, 0) << o.err;
        EXPECT_THAT(o.err, HasSubstr(fixture(name) + ": ok ("));
        EXPECT_THAT(o.err, Not(HasSubstr(": error: ")));
    }
}

TEST_F(EddyCli, WarningsDoNotFailValidation) {
    Outcome o = run_eddy({"validate", fixture("good_unused_outputs.yaml")});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.err, HasSubstr(": warning: output 'buys.rejected' is not read"));
    EXPECT_THAT(o.err, HasSubstr(": warning: the output of operator 'slim' is not read"));
}

TEST_F(EddyCli, ValidateReportsEveryFileGiven) {
    Outcome o = run_eddy({"validate", fixture("good_minimal.yaml"), fixture("bad_cycle.yaml")});
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr(fixture("good_minimal.yaml") + ": ok ("));
    EXPECT_THAT(o.err, HasSubstr("the topology has a cycle: a -> b -> a"));
}

TEST_F(EddyCli, MissingFileExitsWithTwoAndOneClearErrorLine) {
    std::string path = fixture("no_such_topology.yaml");
    Outcome o = run_eddy({"validate", path});
    expect_clean_exit(o);
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_EQ(
        o.first_line(),
        path + ": error: cannot read the topology file: No such file or directory [missing_file]");
    EXPECT_EQ(o.err_lines().size(), 1u) << o.err;
}

TEST_F(EddyCli, RunRefusesABadTopologyWithExitTwo) {
    std::string path = fixture("bad_unknown_component_type.yaml");
    Outcome o = run_eddy({"run", "--no-progress", path});
    expect_clean_exit(o);
    EXPECT_EQ(o.exit_code, 2) << o.err;
    EXPECT_THAT(o.first_line(), StartsWith(path + ":6:5: error: unknown operator type 'fitler'"));
    EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST_F(EddyCli, GraphRefusesABadTopologyWithExitTwo) {
    Outcome o = run_eddy({"graph", fixture("bad_cycle.yaml")});
    expect_clean_exit(o);
    EXPECT_EQ(o.exit_code, 2) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST_F(EddyCli, GraphPrintsDotForAGoodTopology) {
    Outcome o = run_eddy({"graph", fixture("good_minimal.yaml")});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, StartsWith("digraph \"minimal\" {"));
    EXPECT_THAT(o.out, HasSubstr("buys (filter)"));
}

TEST_F(EddyCli, OperatorsFilterPrintsItsParameterTable) {
    Outcome o = run_eddy({"operators", "filter"});
    expect_clean_exit(o);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, StartsWith("filter (operator)\n"));
    EXPECT_THAT(o.out, HasSubstr("parameters:\n"));
    EXPECT_THAT(o.out, HasSubstr("  field (string; required)\n"));
    EXPECT_THAT(o.out,
                HasSubstr("  op (one of: eq, ne, lt, le, gt, ge, in, not_in, exists, missing; "
                          "default eq)\n"));
    EXPECT_THAT(o.out, HasSubstr("  value ("));
    EXPECT_THAT(o.out, HasSubstr("rejected"));
}

TEST_F(EddyCli, OperatorsWithUnknownNameExitsWithTwo) {
    Outcome o = run_eddy({"operators", "nosuch"});
    expect_clean_exit(o);
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_EQ(o.err, "eddy: no component type 'nosuch' (`eddy operators` lists them all)\n");
    EXPECT_TRUE(o.out.empty());
}

TEST_F(EddyCli, OperatorsWithATypoSuggestsTheName) {
    Outcome o = run_eddy({"operators", "fitler"});
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("no component type 'fitler'; did you mean 'filter'?"));
}

TEST_F(EddyCli, VersionExitsZero) {
    Outcome o = run_eddy({"version"});
    expect_clean_exit(o);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, StartsWith("eddy "));
}

TEST_F(EddyCli, RunOverridesAreCheckedBeforeAnythingRuns) {
    std::string topology = fixture("good_minimal.yaml");
    fs::path never = fs::temp_directory_path() / ("eddy_cli_never_" + std::to_string(::getpid()));
    Outcome bad_size = run_eddy(
        {"run", "--no-progress", "--state-dir", never.string(), "--state-cache", "12", topology});
    EXPECT_EQ(bad_size.exit_code, 2);
    EXPECT_THAT(bad_size.err, HasSubstr("--state-cache must be a size of at least 1MB"));
    EXPECT_FALSE(fs::exists(never));

    Outcome both = run_eddy({"run", "--no-progress", "--no-state", "--state-dir", "x", topology});
    EXPECT_EQ(both.exit_code, 2);
    EXPECT_THAT(both.err, HasSubstr("--no-state cannot be combined with --state-dir"));

    Outcome no_dir = run_eddy({"run", "--no-progress", "--checkpoint-interval", "5s", topology});
    EXPECT_EQ(no_dir.exit_code, 2);
    EXPECT_THAT(no_dir.err, HasSubstr("need a state.dir"));

    // Scale-out flags need what they act on.
    Outcome instance = run_eddy({"run", "--no-progress", "--instance-id", "a", topology});
    EXPECT_EQ(instance.exit_code, 2);
    EXPECT_THAT(instance.err,
                HasSubstr("--instance-id needs a kafka source with scale_out: kafka"));
    Outcome advertise =
        run_eddy({"run", "--no-progress", "--advertise", "10.0.0.1:8080", topology});
    EXPECT_EQ(advertise.exit_code, 2);
    EXPECT_THAT(advertise.err, HasSubstr("--advertise needs the HTTP API"));
}

}  // namespace
