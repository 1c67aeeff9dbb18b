// SPDX-License-Identifier: Apache-2.0
// Savepoints and state commands through the binary: a job stopped mid-input
// is saved, another job starts from the savepoint at another parallelism and
// ends with the state of an uninterrupted run; --from-savepoint refuses what
// it must; a running job's state cannot be saved; `state get` finds a key and
// `state erase` removes it from every operator keyed by its field, and only
// there; `state get` and `state dump` print values decoded by their codecs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "process.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const char* kUserOperators[] = {"sessions", "per_user", "profiles"};

using eddy::testing::read_file;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class SavepointTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
        }
        dir_ = fs::temp_directory_path() / ("eddy_savepoint_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        ASSERT_EQ(eddy("gen --events 200000 --users 3000 --seed 7 --out '" +
                       (dir_ / "clicks.jsonl").string() + "'")
                      .code,
                  0);
    }
    void TearDown() override {
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    /// Runs `eddy ARGS` through the shell, capturing stdout and stderr.
    Output eddy(const std::string& args) {
        fs::path out = dir_ / "stdout.txt";
        fs::path err = dir_ / "stderr.txt";
        int status = std::system(("'" + std::string(EDDY_BINARY) + "' " + args + " >'" +
                                  out.string() + "' 2>'" + err.string() + "'")
                                     .c_str());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out), read_file(err)};
    }

    /// A topology `name` under dir_/run with its state in dir_/run/state.
    fs::path write_topology(const std::string& run, int parallelism, const std::string& name = "sp",
                            fs::path input = {}) {
        if (input.empty()) {
            input = dir_ / "clicks.jsonl";
        }
        fs::path d = dir_ / run;
        fs::create_directories(d);
        std::ofstream(d / "topology.yaml") << "name: " << name << "\nparallelism: " << parallelism
                                           << "\nstate: {dir: " << (d / "state").string()
                                           << R"(, checkpoint_interval: 100ms}
sources:
  clicks:
    type: file
    path: )" << input.string() << R"(
    event_time: {field: ts, unit: ms}
    watermark: {max_out_of_orderness: 30s}
operators:
  sessions: {type: sessionizer, input: clicks, key: user_id, gap: 30m}
  per_user:
    type: window
    input: clicks
    key: user_id
    size: 1m
    aggregations: {events: {op: count}}
  profiles: {type: profile, input: clicks, key: user_id, emit_every: 10m}
  per_type:
    type: window
    input: clicks
    key: type
    size: 1h
    aggregations: {events: {op: count}}
sinks:
  out:
    type: null
    inputs: [sessions, per_user, profiles, per_type]
)";
        return d;
    }

    Output run(const fs::path& run, const std::string& flags = "") {
        return eddy("run --no-progress " + flags + " '" + (run / "topology.yaml").string() + "'");
    }

    /// One operator's state, sorted (JSON Lines from `eddy state dump`).
    std::string dump(const fs::path& state, const std::string& op) {
        fs::path out = dir_ / "dump.txt";
        EXPECT_EQ(std::system(("'" + std::string(EDDY_BINARY) + "' state dump '" + state.string() +
                               "' " + op + " | sort > '" + out.string() + "'")
                                  .c_str()),
                  0);
        return read_file(out);
    }

    /// The state of `run` stopped by SIGTERM part-way through the input: the
    /// job reads the first half of clicks.jsonl through a FIFO that stays
    /// open, so it cannot drain its input however fast it runs.
    fs::path stopped_run() {
        fs::path fifo = dir_ / "clicks.fifo";
        EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
        fs::path partial = write_topology("partial", 1, "sp", fifo);
        pid_t pid =
            eddy::testing::start_eddy_run(partial / "topology.yaml", dir_ / "background.log");
        int fd = -1;
        for (int i = 0; i < 1000 && fd < 0; ++i) {  // no reader yet: ENXIO
            fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
            if (fd < 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        EXPECT_GE(fd, 0) << "eddy did not open the FIFO: " << read_file(dir_ / "background.log");
        if (fd >= 0) {
            ::fcntl(fd, F_SETFL, 0);  // blocking writes: the job reads at its pace
            std::string input = read_file(dir_ / "clicks.jsonl");
            size_t half = input.find('\n', input.size() / 2) + 1;
            for (size_t done = 0; done < half;) {
                ssize_t n = ::write(fd, input.data() + done, half - done);
                if (n <= 0) {
                    ADD_FAILURE() << "writing to the FIFO failed";
                    break;
                }
                done += static_cast<size_t>(n);
            }
            // Several checkpoint intervals while the job waits for more input.
            std::this_thread::sleep_for(std::chrono::milliseconds(400));
        }
        ::kill(pid, SIGTERM);
        EXPECT_EQ(eddy::testing::wait_exit(pid), 0) << read_file(dir_ / "background.log");
        if (fd >= 0) {
            ::close(fd);
        }
        EXPECT_THAT(read_file(dir_ / "background.log"), HasSubstr("stopped"))
            << "the job drained its input before it was stopped";
        return partial;
    }

    fs::path dir_;
};

/// The key of the first timer line of a dump, as it appears there (quoted).
std::string first_timer_key(const std::string& dump) {
    std::istringstream in(dump);
    for (std::string line; std::getline(in, line);) {
        size_t k = line.find("\"key\":");
        if (line.starts_with("{\"timer\"") && k != std::string::npos) {
            return line.substr(k + 6, line.size() - k - 7);
        }
    }
    return "";
}

TEST_F(SavepointTest, AJobStartedFromASavepointAtAnotherParallelismEndsWithTheSameState) {
    fs::path reference = write_topology("reference", 1);
    Output ref = run(reference);
    ASSERT_EQ(ref.code, 0) << ref.err;

    fs::path partial = stopped_run();
    Output saved = eddy("savepoint create '" + (partial / "state").string() + "' '" +
                        (dir_ / "sp1").string() + "'");
    ASSERT_EQ(saved.code, 0) << saved.err;
    EXPECT_THAT(saved.out, HasSubstr("savepoint of topology 'sp'"));
    EXPECT_THAT(read_file(dir_ / "sp1" / "SAVEPOINT"), HasSubstr("topology=sp"));

    fs::path resumed = write_topology("resumed", 3);
    Output out = run(resumed, "--from-savepoint '" + (dir_ / "sp1").string() + "'");
    ASSERT_EQ(out.code, 0) << out.err;
    EXPECT_THAT(out.err, HasSubstr("restored checkpoint"));
    EXPECT_FALSE(fs::exists(resumed / "state" / "SAVEPOINT"));
    for (const char* op : {"sessions", "per_user", "profiles", "per_type"}) {
        EXPECT_EQ(dump(resumed / "state", op), dump(reference / "state", op))
            << "state of operator " << op << " differs";
    }
    EXPECT_FALSE(dump(reference / "state", "profiles").empty());
    // The savepoint can be used again.
    EXPECT_TRUE(fs::exists(dir_ / "sp1" / "SAVEPOINT"));
}

TEST_F(SavepointTest, FromSavepointRefusesWhatItCannotUse) {
    fs::path first = write_topology("first", 1);
    ASSERT_EQ(run(first).code, 0);
    fs::path sp = dir_ / "sp";
    ASSERT_EQ(
        eddy("savepoint create '" + (first / "state").string() + "' '" + sp.string() + "'").code,
        0);

    Output exists =
        eddy("savepoint create '" + (first / "state").string() + "' '" + sp.string() + "'");
    EXPECT_EQ(exists.code, 2);
    EXPECT_THAT(exists.err, HasSubstr("already exists"));
    Output no_state = eddy("savepoint create '" + (dir_ / "nothing").string() + "' '" +
                           (dir_ / "sp_none").string() + "'");
    EXPECT_EQ(no_state.code, 2);
    EXPECT_THAT(no_state.err, HasSubstr("is not a state dir"));

    // A state dir is not a savepoint.
    fs::path second = write_topology("second", 1);
    Output not_sp = run(second, "--from-savepoint '" + (first / "state").string() + "'");
    EXPECT_EQ(not_sp.code, 2);
    EXPECT_THAT(not_sp.err, HasSubstr("is not an Eddy savepoint"));

    // A state dir that holds a checkpoint needs --fresh.
    Output has_checkpoint = run(first, "--from-savepoint '" + sp.string() + "'");
    EXPECT_EQ(has_checkpoint.code, 2);
    EXPECT_THAT(has_checkpoint.err, HasSubstr("already holds a checkpoint; add --fresh"));
    Output fresh = run(first, "--fresh --from-savepoint '" + sp.string() + "'");
    EXPECT_EQ(fresh.code, 0) << fresh.err;

    // A savepoint of another topology needs --force.
    fs::path other = write_topology("other", 1, "other");
    Output foreign = run(other, "--from-savepoint '" + sp.string() + "'");
    EXPECT_EQ(foreign.code, 2);
    EXPECT_THAT(foreign.err, HasSubstr("is of topology 'sp', not 'other'; add --force"));
    EXPECT_FALSE(fs::exists(other / "state"));
    Output forced = run(other, "--force --from-savepoint '" + sp.string() + "'");
    EXPECT_EQ(forced.code, 0) << forced.err;
    Output adopted = run(other);
    EXPECT_EQ(adopted.code, 0) << adopted.err;
}

TEST_F(SavepointTest, ARunningJobsStateCannotBeSaved) {
    fs::path live = dir_ / "live";
    fs::create_directories(live);
    std::ofstream(live / "topology.yaml")
        << "name: live\nstate: {dir: " << (live / "state").string()
        << R"(, checkpoint_interval: 100ms}
sources:
  clicks: {type: generator, rate: 2000, seed: 3}
operators:
  per_user:
    type: window
    input: clicks
    key: user_id
    size: 1m
    aggregations: {events: {op: count}}
sinks:
  out: {type: null, input: per_user}
)";
    pid_t pid = eddy::testing::start_eddy_run(live / "topology.yaml", dir_ / "background.log");
    for (int i = 0; i < 100 && !fs::exists(live / "state" / "CURRENT"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Output locked = eddy("savepoint create '" + (live / "state").string() + "' '" +
                         (dir_ / "sp_live").string() + "'");
    ::kill(pid, SIGTERM);
    ASSERT_EQ(eddy::testing::wait_exit(pid), 0) << read_file(dir_ / "background.log");
    EXPECT_EQ(locked.code, 1);
    EXPECT_THAT(locked.err, HasSubstr("stop the job first"));
    EXPECT_FALSE(fs::exists(dir_ / "sp_live"));

    Output stopped = eddy("savepoint create '" + (live / "state").string() + "' '" +
                          (dir_ / "sp_live").string() + "'");
    EXPECT_EQ(stopped.code, 0) << stopped.err;
    EXPECT_THAT(stopped.out, HasSubstr("savepoint of topology 'live'"));
}

TEST_F(SavepointTest, GetFindsAKeyAndEraseRemovesItFromEveryOperatorKeyedByItsField) {
    fs::path partial = stopped_run();
    fs::path state = partial / "state";
    std::string sessions = dump(state, "sessions");
    std::string key = first_timer_key(sessions);
    ASSERT_FALSE(key.empty()) << "the stopped run left no timers; dump:\n" << sessions;
    ASSERT_TRUE(key.starts_with("\"")) << key;
    std::string text = key.substr(1, key.size() - 2);

    Output got = eddy("state get '" + state.string() + "' sessions " + text);
    ASSERT_EQ(got.code, 0) << got.err;
    EXPECT_THAT(got.out, HasSubstr("{\"state\":"));
    EXPECT_THAT(got.out, HasSubstr("{\"timer\":"));
    std::istringstream lines(got.out);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_THAT(line, HasSubstr("\"key\":" + key));
        EXPECT_THAT(sessions, HasSubstr(line));
    }

    std::string per_type = dump(state, "per_type");
    ASSERT_FALSE(per_type.empty());
    Output erased = eddy("state erase '" + state.string() + "' --key user_id=" + text);
    ASSERT_EQ(erased.code, 0) << erased.err;
    EXPECT_THAT(erased.out, HasSubstr("removed operator 'sessions' state"));
    EXPECT_THAT(erased.out, HasSubstr("removed operator 'sessions' timer"));
    EXPECT_THAT(erased.out, HasSubstr("from the operators keyed by 'user_id'"));
    for (const char* op : kUserOperators) {
        EXPECT_THAT(dump(state, op), Not(HasSubstr("\"key\":" + key + "}")))
            << "operator " << op << " still has the key";
        EXPECT_THAT(dump(state, op), Not(HasSubstr("\"key\":" + key + ",")))
            << "operator " << op << " still has the key";
    }
    EXPECT_EQ(dump(state, "per_type"), per_type);
    Output after = eddy("state get '" + state.string() + "' sessions " + text);
    EXPECT_EQ(after.code, 0);
    EXPECT_EQ(after.out, "");
    EXPECT_THAT(after.err, HasSubstr("holds no state for key"));

    Output again = eddy("state erase '" + state.string() + "' --key user_id=" + text);
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_THAT(again.out, HasSubstr("nothing removed"));
    Output unknown = eddy("state erase '" + state.string() + "' --key user_id=nobody-at-all");
    EXPECT_EQ(unknown.code, 0);
    EXPECT_THAT(unknown.out, HasSubstr("nothing removed"));
    Output no_field = eddy("state erase '" + state.string() + "' --key country=DE");
    EXPECT_EQ(no_field.code, 0);
    EXPECT_THAT(no_field.out, HasSubstr("no operator in"));
    Output bad = eddy("state erase '" + state.string() + "' --key user_id");
    EXPECT_EQ(bad.code, 2);
    EXPECT_THAT(bad.err, HasSubstr("--key must be FIELD=VALUE"));
    // The job resumes from the erased state, now reading the file itself.
    write_topology("partial", 1);
    Output resumed = run(partial);
    EXPECT_EQ(resumed.code, 0) << resumed.err;
}

TEST_F(SavepointTest, GetAndDumpPrintValuesDecodedAsJson) {
    // The first user of the input, its event count and latest event time.
    std::ifstream in(dir_ / "clicks.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    size_t at = line.find("\"user_id\":\"");
    ASSERT_NE(at, std::string::npos) << line;
    std::string user = line.substr(at + 11, line.find('"', at + 11) - at - 11);
    int64_t events = 0;
    int64_t latest = 0;
    in.seekg(0);
    while (std::getline(in, line)) {
        if (line.find("\"user_id\":\"" + user + "\"") != std::string::npos) {
            ++events;
            latest = std::max<int64_t>(latest, std::stoll(line.substr(line.find("\"ts\":") + 5)));
        }
    }
    ASSERT_GT(events, 0);

    fs::path d = dir_ / "decoded";
    fs::create_directories(d);
    std::ofstream(d / "topology.yaml")
        << "name: decoded\nparallelism: 2\nstate: {dir: " << (d / "state").string() << R"(}
sources:
  clicks:
    type: file
    path: )"
        << (dir_ / "clicks.jsonl").string() << R"(
    event_time: {field: ts, unit: ms}
    watermark: {max_out_of_orderness: 30s}
operators:
  profiles:
    type: profile
    input: clicks
    key: user_id
    on_late: update                 # every event counts, however late
    state_ttl: 3650d
  segments:
    type: segment
    input: profiles
    key: user_id
    rules: [{name: busy, when: {frequency: "> p50"}}]
sinks:
  out: {type: null, inputs: [segments]}
)";
    Output ran = run(d);
    ASSERT_EQ(ran.code, 0) << ran.err;
    fs::path state = d / "state";

    Output got = eddy("state get '" + state.string() + "' profiles " + user);
    ASSERT_EQ(got.code, 0) << got.err;
    EXPECT_THAT(got.out,
                HasSubstr("{\"state\":\"profiles\",\"key\":\"" + user + "\",\"touched\":"));
    EXPECT_THAT(got.out, HasSubstr(",\"value\":{\"ref_time\":" + std::to_string(latest) + ","));
    EXPECT_THAT(got.out, HasSubstr(",\"events\":" + std::to_string(events) + ","));
    EXPECT_THAT(got.out, HasSubstr("\"categories\":{"));
    EXPECT_THAT(got.out, Not(HasSubstr("\"hex\"")));
    EXPECT_EQ(std::count(got.out.begin(), got.out.end(), '\n'), 1) << got.out;

    Output segment = eddy("state get '" + state.string() + "' segments " + user);
    ASSERT_EQ(segment.code, 0) << segment.err;
    EXPECT_THAT(segment.out, ::testing::MatchesRegex("\\{\"state\":\"segments\",\"key\":\"" + user +
                                                     "\",\"value\":\"(busy|other)\"\\}\n"));
    std::string dump = this->dump(state, "segments");
    EXPECT_THAT(dump, HasSubstr("{\"state\":\"percentiles\",\"shard\":0,\"value\":{\"fields\":"
                                "[{\"field\":\"frequency\",\"sketch\":{\"k\":200,\"count\":"));
    EXPECT_THAT(dump, HasSubstr("{\"state\":\"percentiles\",\"shard\":1,"));
    EXPECT_THAT(dump, Not(HasSubstr("\"error\"")));
}

}  // namespace
