// SPDX-License-Identifier: Apache-2.0
// A state dir that cannot be used (locked by a running job, corrupt, not
// writable) stops `eddy run` with one error line naming the path and exit
// code 1, writing nothing. A disk that fills up during a checkpoint stops the
// job without a partial checkpoint; the next start restores the previous one
// and ends with the state of an uninterrupted run.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "process.h"

namespace {

namespace fs = std::filesystem;

const char* kOperators[] = {"sessions", "per_user", "profiles"};

using eddy::testing::read_file;

/// The lines of `text` that are not empty.
std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        end = end == std::string::npos ? text.size() : end;
        if (end > start) {
            out.push_back(text.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

class StateFaultsTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
        }
        dir_ = fs::temp_directory_path() /
               ("eddy_faults_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    static int shell(const std::string& cmd) {
        int status = std::system(cmd.c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    /// Writes `name`.yaml: a topology over `source` (a YAML flow map) keeping
    /// window, session and profile state per user in `state_dir`.
    fs::path topology(const std::string& name, const std::string& state_dir,
                      const std::string& source) {
        fs::path file = dir_ / (name + ".yaml");
        std::ofstream(file)
            << "name: faults\nstate: {dir: '" << state_dir
            << "', checkpoint_interval: 100ms}\n"
               "sources:\n  clicks: "
            << source
            << "\noperators:\n"
               "  sessions: {type: sessionizer, input: clicks, key: user_id, "
               "gap: 30m}\n"
               "  per_user: {type: window, input: clicks, key: user_id, size: 1m,"
               " aggregations: {events: {op: count}}}\n"
               "  profiles: {type: profile, input: clicks, key: user_id, "
               "emit_every: 10m}\n"
               "sinks:\n"
               "  out: {type: null, inputs: [sessions, per_user, sessions.late, sessions.sessions,"
               " per_user.late, profiles, profiles.late, clicks.errors]}\n";
        return file;
    }

    /// A finite, deterministic input.
    static std::string finite_source() { return "{type: generator, events: 5000, seed: 7}"; }

    struct Outcome {
        int exit_code = -1;
        std::string log;
    };
    Outcome run(const fs::path& topology, std::vector<std::string> args = {},
                rlim_t max_file_bytes = 0) {
        fs::path log = dir_ / ("log_" + std::to_string(++runs_) + ".txt");
        int code = eddy::testing::wait_exit(
            eddy::testing::start_eddy_run(topology, log, std::move(args), max_file_bytes));
        return {code, read_file(log)};
    }

    /// Expects exit code 1 and a single line on stderr, naming `path`, that
    /// contains `what`.
    static void expect_one_line_error(const Outcome& o, const std::string& path,
                                      const std::string& what) {
        EXPECT_EQ(o.exit_code, 1) << o.log;
        std::vector<std::string> lines = lines_of(o.log);
        ASSERT_EQ(lines.size(), 1u) << o.log;
        EXPECT_NE(lines[0].find(path), std::string::npos) << o.log;
        EXPECT_NE(lines[0].find(what), std::string::npos) << o.log;
    }

    std::string dump(const fs::path& state, const std::string& op) {
        fs::path out = dir_ / ("dump_" + std::to_string(++runs_) + ".txt");
        EXPECT_EQ(shell("'" + std::string(EDDY_BINARY) + "' state dump '" + state.string() + "' " +
                        op + " | sort > '" + out.string() + "'"),
                  0);
        return read_file(out);
    }

    /// Lists `dir` recursively with sizes, to check that no state changed.
    static std::string listing(const fs::path& dir) {
        std::string out;
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            if (e.path().filename().string().starts_with("LOG")) {
                continue;  // RocksDB's own log of what it did
            }
            out += e.path().string() + " " +
                   (e.is_regular_file() ? std::to_string(e.file_size()) : "dir") + "\n";
        }
        return out;
    }

    fs::path dir_;
    int runs_ = 0;
};

TEST_F(StateFaultsTest, AStateDirLockedByARunningJobIsRefused) {
    std::string state = (dir_ / "state").string();
    fs::path live = topology("live", state, "{type: generator, rate: 2000, seed: 3}");
    fs::path live_log = dir_ / "live_log.txt";
    pid_t first = eddy::testing::start_eddy_run(live, live_log);
    // Wait for its first checkpoint (or its death).
    for (int i = 0; i < 100 && !fs::exists(fs::path(state) / "CURRENT"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(::waitpid(first, nullptr, WNOHANG), 0) << read_file(live_log);

    Outcome second = run(live);
    expect_one_line_error(second, state, "locked");
    // Not even with --fresh --force.
    Outcome forced = run(live, {"--fresh", "--force"});
    expect_one_line_error(forced, state, "locked");

    ::kill(first, SIGTERM);
    EXPECT_EQ(eddy::testing::wait_exit(first), 0) << read_file(live_log);
}

TEST_F(StateFaultsTest, ACorruptStateDirIsRefusedNamingThePath) {
    fs::path good = dir_ / "good";
    fs::path topo = topology("good", good.string(), finite_source());
    Outcome first = run(topo);
    ASSERT_EQ(first.exit_code, 0) << first.log;
    ASSERT_TRUE(fs::exists(good / "CURRENT"));

    std::vector<fs::path> victims;
    for (const auto& e : fs::directory_iterator(good)) {
        std::string name = e.path().filename().string();
        if (name == "CURRENT" || name.starts_with("MANIFEST-") || name.ends_with(".sst") ||
            name.ends_with(".log")) {
            victims.push_back(e.path().filename());
        }
    }
    ASSERT_GE(victims.size(), 3u) << listing(good);
    for (const fs::path& victim : victims) {
        SCOPED_TRACE("garbage in " + victim.string());
        fs::path bad = dir_ / ("bad_" + victim.string());
        fs::copy(good, bad, fs::copy_options::recursive);
        {
            std::fstream f(bad / victim, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(0);
            f << "this is not what RocksDB wrote\n";
        }
        std::string before = listing(bad);
        Outcome o = run(topology("bad", bad.string(), finite_source()));
        expect_one_line_error(o, bad.string(), "corrupt");
        EXPECT_EQ(listing(bad), before) << "a refused start wrote into the state dir";
    }

    // A corrupt store's topology is unknown: --fresh deletes it only with --force.
    fs::path bad = dir_ / "bad_CURRENT";
    fs::path topo_bad = topology("bad", bad.string(), finite_source());
    expect_one_line_error(run(topo_bad, {"--fresh"}), bad.string(), "corrupt");
    Outcome forced = run(topo_bad, {"--fresh", "--force"});
    EXPECT_EQ(forced.exit_code, 0) << forced.log;
    EXPECT_EQ(forced.log.find("restored checkpoint"), std::string::npos) << forced.log;
}

TEST_F(StateFaultsTest, AStateDirThatCannotBeCreatedIsRefusedNamingThePath) {
    // A path under a regular file fails for root too, unlike permissions.
    fs::path file = dir_ / "file.txt";
    std::ofstream(file) << "a file\n";
    for (const fs::path& state : {file / "state", file}) {
        SCOPED_TRACE(state.string());
        Outcome o = run(topology("unwritable", state.string(), finite_source()));
        expect_one_line_error(o, state.string(), "state dir");
        EXPECT_EQ(read_file(file), "a file\n");
    }
}

TEST_F(StateFaultsTest, ADiskFullDuringACheckpointKeepsThePreviousOne) {
    fs::path input = dir_ / "clicks.jsonl";
    ASSERT_EQ(shell("'" + std::string(EDDY_BINARY) +
                    "' gen --events 600000 --users 2000 --seed 5 --out '" + input.string() +
                    "' 2>/dev/null"),
              0);
    std::string source = "{type: file, path: '" + input.string() +
                         "', event_time: {field: ts, unit: ms},"
                         " watermark: {max_out_of_orderness: 30s}}";
    fs::path reference_state = dir_ / "reference";
    Outcome reference = run(topology("reference", reference_state.string(), source));
    ASSERT_EQ(reference.exit_code, 0) << reference.log;

    // The first checkpoint fits in 1 MB; the WAL outgrows it before the input
    // ends (a dozen checkpoints of 0.3-0.4 MB each, whatever the timing).
    fs::path state = dir_ / "full";
    fs::path topo = topology("full", state.string(), source);
    Outcome full = run(topo, {}, 1 << 20);
    EXPECT_EQ(full.exit_code, 1) << full.log;
    EXPECT_NE(full.log.find("eddy: job failed: state dir '" + state.string() + "' is full"),
              std::string::npos)
        << full.log;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(full.log, m, std::regex(R"(state: (\d+) checkpoint)")))
        << full.log;
    int good = std::stoi(m[1]);
    ASSERT_GE(good, 1) << "no checkpoint fit under the limit: " << full.log;

    Outcome resumed = run(topo);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.log;
    EXPECT_NE(resumed.log.find("restored checkpoint " + std::to_string(good) + " "),
              std::string::npos)
        << resumed.log;
    EXPECT_FALSE(dump(reference_state, "profiles").empty());  // kept after the input ends
    for (const char* op : kOperators) {
        std::string want = dump(reference_state, op);
        EXPECT_EQ(dump(state, op), want) << "state of operator " << op << " differs";
    }
}

}  // namespace
