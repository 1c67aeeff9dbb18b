// SPDX-License-Identifier: Apache-2.0
// End to end through the `eddy` binary: a JSON Lines file with good and
// malformed lines, through select and filter, into three files that are
// compared record by record with the expected ones.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "files.h"

namespace {

namespace fs = std::filesystem;

using eddy::testing::read_lines;

class FileToFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
        }
        out_ = fs::temp_directory_path() / ("eddy_e2e_" + std::to_string(::getpid()));
        fs::remove_all(out_);
    }
    void TearDown() override {
        fs::remove_all(out_);
        fs::remove(log_path());
    }

    /// Per test process: ctest runs the tests of this file side by side.
    fs::path log_path() const { return out_.string() + ".log"; }

    int run(const std::string& options = "") {
        std::string fixtures = std::string(EDDY_FIXTURES_DIR) + "/e2e";
        std::string cmd = "E2E_IN='" + fixtures + "/clicks.jsonl' E2E_OUT='" + out_.string() +
                          "' '" + EDDY_BINARY + "' --log-level error run --no-progress " + options +
                          " '" + fixtures + "/topology.yaml' 2>'" + log_path().string() + "'";
        int status = std::system(cmd.c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    void expect_same(const std::string& produced, const std::string& expected) {
        auto got = read_lines(out_ / produced);
        auto want = read_lines(fs::path(EDDY_FIXTURES_DIR) / "e2e" / expected);
        ASSERT_EQ(got.size(), want.size()) << produced;
        for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_EQ(got[i], want[i]) << produced << " record " << i + 1;
        }
    }

    fs::path out_;
};

TEST_F(FileToFileTest, OutputsMatchRecordByRecord) {
    ASSERT_EQ(run(), 0);
    expect_same("buys.jsonl", "expected_buys.jsonl");
    expect_same("browsing.jsonl", "expected_browsing.jsonl");
    expect_same("errors.jsonl", "expected_errors.jsonl");
}

TEST_F(FileToFileTest, SummaryCountsEveryLine) {
    ASSERT_EQ(run(), 0);
    std::ifstream log(log_path());
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("11 events read"), std::string::npos) << text;
    EXPECT_NE(text.find("run summary (input drained)"), std::string::npos) << text;
}

TEST_F(FileToFileTest, TheMetricsFileHoldsEveryComponentsCountsInPrometheusFormat) {
    fs::create_directories(out_);
    fs::path metrics = out_ / "eddy.prom";
    ASSERT_EQ(run("--metrics-file '" + metrics.string() + "' --metrics-interval 100ms"), 0);
    std::ifstream in(metrics);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Each family once, then its samples; the counts of the whole run.
    EXPECT_NE(text.find("# HELP eddy_records_in_total Records a component received.\n"
                        "# TYPE eddy_records_in_total counter\n"),
              std::string::npos)
        << text;
    for (const char* sample :
         {R"(eddy_records_out_total{component="clicks",type="file",kind="source"} 6)",
          R"(eddy_errors_total{component="clicks",type="file",kind="source"} 5)",
          R"(eddy_records_in_total{component="intent",type="filter",kind="operator"} 6)",
          R"(eddy_records_out_total{component="intent",type="filter",kind="operator"} 4)",
          R"(eddy_records_side_total{component="intent",type="filter",kind="operator"} 2)",
          R"(eddy_records_in_total{component="buys",type="file",kind="sink"} 4)"}) {
        EXPECT_NE(text.find(std::string(sample) + "\n"), std::string::npos) << sample << "\n"
                                                                            << text;
    }
    EXPECT_FALSE(fs::exists(metrics.string() + ".tmp"));
}

TEST_F(FileToFileTest, AMetricsIntervalWithoutAMetricsFileIsAUsageError) {
    EXPECT_EQ(run("--metrics-interval 5s"), 2);
    EXPECT_EQ(run("--metrics-file '" + (out_ / "m.prom").string() + "' --metrics-interval 5"), 2);
}

TEST_F(FileToFileTest, AMetricsFileThatCannotBeWrittenIsAnErrorAtStart) {
    EXPECT_EQ(run("--metrics-file /nonexistent/dir/eddy.prom"), 1);
    std::ifstream log(log_path());
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("metrics file: cannot write '/nonexistent/dir/eddy.prom.tmp'"),
              std::string::npos)
        << text;
}

TEST_F(FileToFileTest, MissingInputFileIsAConfigurationError) {
    std::string cmd = "E2E_IN=/nonexistent/clicks.jsonl E2E_OUT='" + out_.string() + "' '" +
                      std::string(EDDY_BINARY) + "' run '" + EDDY_FIXTURES_DIR +
                      "/e2e/topology.yaml' 2>/dev/null";
    int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
