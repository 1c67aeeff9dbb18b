// SPDX-License-Identifier: Apache-2.0
// `eddy plan` through the binary: its exit codes (0 safe, 1 refused, 2
// invalid files or usage), --json, --allow-state-drop and --state.
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "process.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class PlanCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
        }
        dir_ = fs::temp_directory_path() / ("eddy_plan_cli_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream out(dir_ / "clicks.jsonl");
        for (int i = 0; i < 200; ++i) {
            out << R"({"ts": )" << 1000 * i << R"(, "user": "u)" << i % 4 << R"("})"
                << "\n";
        }
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// Writes a topology with `operators` reading clicks, the sink reading `out_of`.
    std::string write(const std::string& name, const std::string& operators,
                      const std::string& out_of) {
        fs::path p = dir_ / name;
        std::ofstream(p) << "name: plan\nstate: {dir: " << (dir_ / "state").string()
                         << "}\nsources:\n  clicks: {type: file, path: "
                         << (dir_ / "clicks.jsonl").string()
                         << ", event_time: {field: ts, unit: ms}}\noperators:\n"
                         << operators << "sinks:\n  out: {type: null, input: " << out_of << "}\n";
        return p.string();
    }

    eddy::testing::ProgramOutcome eddy(std::vector<std::string> args) {
        args.insert(args.begin(), EDDY_BINARY);
        return eddy::testing::run_program(args);
    }

    fs::path dir_;
};

const std::string kSessions =
    "  sessions: {type: sessionizer, input: clicks, key: user, gap: 30s}\n";

TEST_F(PlanCliTest, ExitCodes) {
    std::string a = write("a.yaml", kSessions, "sessions");
    auto same = eddy({"plan", a, a});
    EXPECT_EQ(same.exit_code, 0) << same.both();
    EXPECT_THAT(same.out, HasSubstr("sessions"));
    EXPECT_THAT(same.out, HasSubstr("kept"));

    std::string b = write(
        "b.yaml",
        "  sessions: {type: window, input: clicks, key: user, size: 1m, aggregations: {n: {op: "
        "count}}}\n",
        "sessions");
    auto changed = eddy({"plan", a, b});
    EXPECT_EQ(changed.exit_code, 1) << changed.both();
    EXPECT_THAT(changed.out, HasSubstr("incompatible"));
    EXPECT_THAT(changed.out, HasSubstr("was a sessionizer and is now a window"));
    auto accepted = eddy({"plan", a, b, "--allow-state-drop", "sessions"});
    EXPECT_EQ(accepted.exit_code, 0) << accepted.both();

    std::string broken =
        write("broken.yaml", "  sessions: {type: sesionizer, input: clicks}\n", "sessions");
    EXPECT_EQ(eddy({"plan", a, broken}).exit_code, 2);
    EXPECT_EQ(eddy({"plan", a}).exit_code, 2);
    auto no_state = eddy({"plan", a, a, "--state", (dir_ / "none").string()});
    EXPECT_EQ(no_state.exit_code, 2) << no_state.both();
    EXPECT_THAT(no_state.err, HasSubstr("is not a state dir"));
}

TEST_F(PlanCliTest, JsonAndState) {
    std::string a = write("a.yaml", kSessions, "sessions");
    auto ran = eddy({"run", "--no-progress", a});
    ASSERT_EQ(ran.exit_code, 0) << ran.both();
    std::string renamed =
        write("r.yaml",
              "  visits: {type: sessionizer, input: clicks, key: user, gap: 30s, renamed_from: "
              "sessions}\n",
              "visits");
    auto plan = eddy({"plan", "--json", "--state", (dir_ / "state").string(), a, renamed});
    EXPECT_EQ(plan.exit_code, 0) << plan.both();
    EXPECT_THAT(plan.out, HasSubstr(R"("ok":true)"));
    EXPECT_THAT(plan.out,
                HasSubstr(R"("name":"visits","kind":"operator","verdict":"kept","old_type":)"
                          R"("sessionizer","new_type":"sessionizer","renamed_from":"sessions")"));
    auto dropped =
        eddy({"plan", "--state", (dir_ / "state").string(), a, write("c.yaml", "", "clicks")});
    EXPECT_EQ(dropped.exit_code, 1) << dropped.both();
    EXPECT_THAT(dropped.out, HasSubstr("has state but is no longer in the topology"));
}

}  // namespace
