// SPDX-License-Identifier: Apache-2.0
// SIGINT and SIGTERM stop an endless job in order: the sink is flushed, the
// summary printed, and the exit code is 0.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

struct Stopped {
    int exit_code = -1;
    std::string log;
    size_t lines = 0;
};

Stopped run_and_signal(int sig) {
    fs::path dir = fs::temp_directory_path() / ("eddy_signal_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::path out = dir / "buys.jsonl";
    fs::path log = dir / "log.txt";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setenv("LIVE_OUT", out.c_str(), 1);
        FILE* f = std::freopen(log.c_str(), "w", stderr);
        (void)f;
        std::string topology = std::string(EDDY_FIXTURES_DIR) + "/live_generator.yaml";
        ::execl(EDDY_BINARY, "eddy", "run", "--no-progress", topology.c_str(), nullptr);
        ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    ::kill(pid, sig);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Stopped s;
    if (::waitpid(pid, &status, WNOHANG) == 0 && !WIFEXITED(status)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    s.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(log);
    s.log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    std::ifstream records(out);
    for (std::string line; std::getline(records, line);) {
        EXPECT_EQ(line.front(), '{');
        EXPECT_EQ(line.back(), '}') << "a flushed sink ends with whole records";
        ++s.lines;
    }
    fs::remove_all(dir);
    return s;
}

class SignalTest : public ::testing::TestWithParam<int> {};

TEST_P(SignalTest, StopsInOrderFlushesAndSummarizes) {
    if (!fs::exists(EDDY_BINARY)) {
        GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
    }
    Stopped s = run_and_signal(GetParam());
    EXPECT_EQ(s.exit_code, 0) << s.log;
    EXPECT_NE(s.log.find("run summary (stopped)"), std::string::npos) << s.log;
    EXPECT_GT(s.lines, 0u) << s.log;
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalTest, ::testing::Values(SIGINT, SIGTERM));

}  // namespace
