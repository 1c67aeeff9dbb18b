// SPDX-License-Identifier: Apache-2.0
// Restoring state: a stopped job resumes its state and its sources where it
// stopped (at the same or another parallelism), --fresh starts over, and
// state that no longer fits the topology is refused, listing every problem,
// unless --allow-state-drop accepts losing it.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "count_formats.h"
#include "harness.h"
#include "metrics/metrics.h"
#include "state/operator_meta.h"
#include "state/store.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kEvents = 2000;

/// The job that `stopper` sinks stop, and after how many records (<0: never).
std::atomic<Job*> g_job{nullptr};
std::atomic<int64_t> g_stop_after{-1};

/// `stopper` sink: requests a stop of g_job once it has seen g_stop_after records.
class StopperSink final : public Sink {
public:
    explicit StopperSink(const Config&) {}
    Status open(SinkContext&) override { return Status::ok(); }
    Status write(const Batch& batch) override {
        seen_ += static_cast<int64_t>(batch.size());
        int64_t limit = g_stop_after.load();
        if (limit >= 0 && seen_ >= limit) {
            if (Job* job = g_job.load()) {
                job->request_stop();
            }
        }
        return Status::ok();
    }

private:
    int64_t seen_ = 0;
};

using testing::CountV1;
using testing::CountV2;

/// `counter`: counts records per key in a state named `count` whose format
/// version is the `version` parameter (1 or 2); emits {key, n} per record.
template <class T>
class Counter final : public Operator {
public:
    Status open(OpenContext& ctx) override {
        ctx.register_state(count_);
        n_ = ctx.field("n");
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override {
        T& c = count_.get_or_create(r.key());
        ++c.n;
        out.append().set(n_, c.n);
    }

private:
    KeyedValue<T> count_{"count"};
    FieldId n_{};
};

Result<std::unique_ptr<Operator>> make_counter(const Config& cfg) {
    if (cfg.integer("version") == 2) {
        return std::unique_ptr<Operator>(new Counter<CountV2>());
    }
    return std::unique_ptr<Operator>(new Counter<CountV1>());
}

/// What a run did. The job itself is gone (it held the state dir's lock).
struct Outcome {
    Status status;
    bool stopped_early = false;
    bool restored = false;
    uint64_t checkpoints = 0;
    uint64_t records = 0;
    std::map<std::string, std::vector<std::string>> lines;
};

/// Validates and runs `yaml`; `stop_after` >= 0 stops the job once `stopper`
/// sinks have seen that many records. `after` is called with the job once it ran.
Outcome run_job(const std::string& yaml, JobOptions options = {}, int64_t stop_after = -1,
                const std::function<void(Job&)>& after = {}) {
    testing::collected().clear();
    Outcome result;
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "test.yaml", diags);
    std::optional<Topology> topology;
    if (root) {
        topology = validate_topology(*root, testing::test_registry(), diags);
    }
    if (!topology) {
        std::string text;
        for (const Diagnostic& d : diags.sorted()) {
            text += d.to_string() + "\n";
        }
        result.status = Status::invalid_argument(text);
        return result;
    }
    options.batch_size = 16;  // small polls, so that a stop lands mid-input
    auto job = Job::create(*topology, std::move(options));
    if (!job.is_ok()) {
        result.status = job.status();
        return result;
    }
    Job& j = *job.value();
    g_stop_after = stop_after;
    g_job = &j;
    result.status = j.run();
    g_job = nullptr;
    if (after) {
        after(j);
    }
    result.stopped_early = j.stopped_early();
    result.restored = j.restored();
    result.checkpoints = j.checkpoints();
    result.records = j.metrics().source_records();
    for (auto& [sink, lines] : testing::collected()) {
        std::sort(lines.begin(), lines.end());
        result.lines[sink] = lines;
    }
    return result;
}

JobOptions fresh_options(bool force = false) {
    JobOptions o;
    o.fresh = true;
    o.force = force;
    return o;
}

JobOptions dropping(std::vector<std::string> operators) {
    JobOptions o;
    o.allow_state_drop = std::move(operators);
    return o;
}

/// Lines of both runs, sorted, per sink.
std::vector<std::string> merged(const Outcome& a, const Outcome& b, const std::string& sink) {
    std::vector<std::string> out;
    for (const Outcome* r : {&a, &b}) {
        if (auto it = r->lines.find(sink); it != r->lines.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

class StateRestoreTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        Registry& r = testing::test_registry();
        if (r.find(ComponentKind::kSink, "stopper") == nullptr) {
            Status s = r.add(SinkSpec("stopper")
                                 .summary("Test sink: stops the job after some records.")
                                 .factory(make_component<Sink, StopperSink>),
                             "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
            s = r.add(OperatorSpec("counter")
                          .summary("Test state versions.")
                          .keyed(KeyMode::kRequired)
                          .param(Param::integer("version").default_value(1).doc("Format."))
                          .factory(&make_counter),
                      "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
        }
    }

    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_restore_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        // Seven users in event-time order, with a pause every 300 events
        // that closes sessions and windows in the middle of the input.
        std::ofstream out(input());
        for (int i = 0; i < kEvents; ++i) {
            int64_t ts = 1000LL * i + 120000LL * (i / 300);
            out << R"({"ts": )" << ts << R"(, "user": "u)" << i % 7 << R"(", "dwell_ms": )"
                << (i * 37) % 1000 << "}\n";
        }
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path input() const { return dir_ / "clicks.jsonl"; }
    std::string state_dir() const { return (dir_ / "state").string(); }

    /// A file source feeding a window and a sessionizer keyed by user.
    std::string topology(const std::string& name = "restore", int parallelism = 1,
                         const std::string& operators = "") const {
        return "name: " + name + "\nparallelism: " + std::to_string(parallelism) +
               "\nstate: {dir: " + state_dir() +
               ", checkpoint_interval: 1h}\n"
               "sources:\n"
               "  clicks:\n"
               "    type: file\n"
               "    path: " +
               input().string() +
               "\n"
               "    event_time: {field: ts, unit: ms}\n"
               "operators:\n" +
               (operators.empty()
                    ? "  per_user: {type: window, input: clicks, key: user, size: 1m,"
                      " aggregations: {events: {op: count}, dwell: {op: sum, field: dwell_ms}}}\n"
                      "  sessions: {type: sessionizer, input: clicks, key: user, gap: 30s}\n"
                    : operators) +
               "sinks:\n"
               "  stop: {type: stopper, input: clicks}\n" +
               (operators.empty() ? "  windows: {type: collect, input: per_user}\n"
                                    "  sessions_out: {type: collect, input: sessions}\n"
                                  : "") +
               "  rest: {type: null, inputs: [clicks.errors]}\n";
    }

    /// The operator type stored for `op`, or "" when the store has no state for it.
    std::string stored_type(const std::string& op) {
        auto store = state::StateStore::open(state_dir(), 8 << 20);
        EXPECT_TRUE(store.is_ok()) << store.status().message();
        if (!store.is_ok() || store.value()->find_family("op:" + op) == nullptr) {
            return "";
        }
        state::OperatorMeta meta;
        auto stored = store.value()->get_meta("op/" + op);
        return stored && state::decode_operator_meta(*stored, meta) ? meta.type : "?";
    }

    fs::path dir_;
};

TEST_F(StateRestoreTest, AStoppedJobResumesItsStateAndSourcePosition) {
    Outcome reference = run_job(topology("reference_only"), fresh_options());
    ASSERT_TRUE(reference.status.is_ok()) << reference.status.message();
    ASSERT_EQ(reference.records, static_cast<uint64_t>(kEvents));
    ASSERT_FALSE(reference.lines["windows"].empty());
    ASSERT_FALSE(reference.lines["sessions_out"].empty());
    fs::remove_all(state_dir());

    Outcome first = run_job(topology(), {}, 700);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    EXPECT_TRUE(first.stopped_early);
    EXPECT_FALSE(first.restored);
    EXPECT_EQ(first.checkpoints, 1u);  // the one taken on stop
    ASSERT_GT(first.records, 0u);
    ASSERT_LT(first.records, static_cast<uint64_t>(kEvents));

    Outcome second = run_job(topology());
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    EXPECT_TRUE(second.restored);
    // The source resumed at its stored position: no record read twice or skipped.
    EXPECT_EQ(first.records + second.records, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(merged(first, second, "windows"), reference.lines["windows"]);
    EXPECT_EQ(merged(first, second, "sessions_out"), reference.lines["sessions_out"]);
}

TEST_F(StateRestoreTest, RestoringAtAnotherParallelismGivesTheSameResults) {
    Outcome reference = run_job(topology("restore", 1), fresh_options());
    ASSERT_TRUE(reference.status.is_ok()) << reference.status.message();
    fs::remove_all(state_dir());

    Outcome first = run_job(topology("restore", 1), {}, 900);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    ASSERT_LT(first.records, static_cast<uint64_t>(kEvents));
    Outcome second = run_job(topology("restore", 3));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    EXPECT_TRUE(second.restored);
    EXPECT_EQ(first.records + second.records, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(merged(first, second, "windows"), reference.lines["windows"]);
    EXPECT_EQ(merged(first, second, "sessions_out"), reference.lines["sessions_out"]);

    // And back down: 3 -> 2 in the middle of a fresh run.
    Outcome third = run_job(topology("restore", 3), fresh_options(), 1100);
    ASSERT_TRUE(third.status.is_ok()) << third.status.message();
    EXPECT_FALSE(third.restored);
    Outcome fourth = run_job(topology("restore", 2));
    ASSERT_TRUE(fourth.status.is_ok()) << fourth.status.message();
    EXPECT_EQ(third.records + fourth.records, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(merged(third, fourth, "windows"), reference.lines["windows"]);
    EXPECT_EQ(merged(third, fourth, "sessions_out"), reference.lines["sessions_out"]);
}

TEST_F(StateRestoreTest, FreshDeletesEarlierStateAndStartsFromTheBeginning) {
    Outcome first = run_job(topology(), {}, 700);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    Outcome fresh = run_job(topology(), fresh_options());
    ASSERT_TRUE(fresh.status.is_ok()) << fresh.status.message();
    EXPECT_FALSE(fresh.restored);
    EXPECT_EQ(fresh.records, static_cast<uint64_t>(kEvents));
    // Its output is that of a first run: no window counts carried over.
    Outcome again = run_job(topology("other"), fresh_options(true));
    ASSERT_TRUE(again.status.is_ok()) << again.status.message();
    EXPECT_EQ(fresh.lines["windows"], again.lines["windows"]);
}

TEST_F(StateRestoreTest, FreshRefusesToDeleteAnotherTopologysStateWithoutForce) {
    Outcome first = run_job(topology("alpha"), {}, 700);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();

    Outcome other = run_job(topology("beta"));
    ASSERT_FALSE(other.status.is_ok());
    EXPECT_THAT(other.status.message(), HasSubstr("belongs to topology 'alpha'"));
    EXPECT_THAT(other.status.message(), HasSubstr(state_dir()));

    Outcome refused = run_job(topology("beta"), fresh_options());
    ASSERT_FALSE(refused.status.is_ok());
    EXPECT_THAT(refused.status.message(), HasSubstr("belongs to topology 'alpha'"));
    EXPECT_THAT(refused.status.message(), HasSubstr("--force"));
    // Nothing was deleted: alpha still resumes where it stopped.
    Outcome resumed = run_job(topology("alpha"));
    ASSERT_TRUE(resumed.status.is_ok()) << resumed.status.message();
    EXPECT_TRUE(resumed.restored);
    EXPECT_EQ(first.records + resumed.records, static_cast<uint64_t>(kEvents));

    Outcome forced = run_job(topology("beta"), fresh_options(true));
    ASSERT_TRUE(forced.status.is_ok()) << forced.status.message();
    EXPECT_FALSE(forced.restored);
    EXPECT_EQ(forced.records, static_cast<uint64_t>(kEvents));
}

TEST_F(StateRestoreTest, FreshNeverDeletesADirectoryThatIsNotAStateDir) {
    fs::create_directories(state_dir());
    std::ofstream(fs::path(state_dir()) / "precious.txt") << "not Eddy's\n";
    for (bool force : {false, true}) {
        Outcome r = run_job(topology(), fresh_options(force));
        ASSERT_FALSE(r.status.is_ok());
        EXPECT_THAT(r.status.message(), HasSubstr(state_dir()));
        EXPECT_THAT(r.status.message(), HasSubstr("not an Eddy state dir"));
        EXPECT_TRUE(fs::exists(fs::path(state_dir()) / "precious.txt"));
    }
    // Nor does a plain start write into it.
    Outcome plain = run_job(topology());
    ASSERT_FALSE(plain.status.is_ok());
    EXPECT_THAT(plain.status.message(), HasSubstr("not an Eddy state dir"));
    EXPECT_EQ(std::distance(fs::directory_iterator(state_dir()), fs::directory_iterator()), 1);
}

TEST_F(StateRestoreTest, IncompatibleStateIsRefusedListingEveryProblemOnce) {
    Outcome first = run_job(topology(), {}, 700);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    // per_user changes type, sessions is removed.
    std::string changed = topology(
        "restore", 1, "  per_user: {type: sessionizer, input: clicks, key: user, gap: 30s}\n");
    Outcome refused = run_job(changed);
    ASSERT_FALSE(refused.status.is_ok());
    const std::string& m = refused.status.message();
    EXPECT_THAT(m, HasSubstr(state_dir()));
    EXPECT_THAT(m, HasSubstr("operator 'per_user' was a window and is now a sessionizer"));
    EXPECT_THAT(m, HasSubstr("operator 'sessions' (sessionizer) has state but is no longer"));
    EXPECT_THAT(m, HasSubstr("--allow-state-drop"));
    EXPECT_EQ(m.find("'per_user' was"), m.rfind("'per_user' was")) << m;

    // Accepting one loss is not enough, and then nothing is dropped.
    Outcome partly = run_job(changed, dropping({"per_user"}));
    ASSERT_FALSE(partly.status.is_ok());
    EXPECT_THAT(partly.status.message(), HasSubstr("'sessions'"));
    EXPECT_THAT(partly.status.message(), Not(HasSubstr("'per_user'")));
    EXPECT_EQ(stored_type("per_user"), "window");
    EXPECT_EQ(stored_type("sessions"), "sessionizer");
}

TEST_F(StateRestoreTest, AllowStateDropAcceptsAndReallyDropsTheState) {
    Outcome first = run_job(topology(), {}, 700);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    std::string changed =
        topology("restore", 1,
                 "  per_user: {type: sessionizer, input: clicks, key: user, gap: 30s}\n"
                 "  counted: {type: counter, input: clicks, key: user}\n");
    Outcome accepted = run_job(changed, dropping({"per_user", "sessions"}));
    ASSERT_TRUE(accepted.status.is_ok()) << accepted.status.message();
    EXPECT_TRUE(accepted.restored);
    // The source still resumes; per_user starts empty as a sessionizer.
    EXPECT_EQ(first.records + accepted.records, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(stored_type("per_user"), "sessionizer");
    EXPECT_EQ(stored_type("sessions"), "");
    EXPECT_EQ(stored_type("counted"), "counter");

    // Once dropped, the state fits: a plain restart needs no permission.
    Outcome again = run_job(changed);
    ASSERT_TRUE(again.status.is_ok()) << again.status.message();
    EXPECT_TRUE(again.restored);
}

TEST_F(StateRestoreTest, StateInANewerFormatVersionIsRefused) {
    std::string v2 = topology("restore", 1,
                              "  counted: {type: counter, input: clicks, key: user, version: 2}\n");
    Outcome first = run_job(v2, {}, 500);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    std::string v1 = topology("restore", 1,
                              "  counted: {type: counter, input: clicks, key: user, version: 1}\n");
    Outcome refused = run_job(v1);
    ASSERT_FALSE(refused.status.is_ok());
    EXPECT_THAT(refused.status.message(),
                HasSubstr("operator 'counted' state 'count' has format version 2, newer than "
                          "this Eddy's 1"));
    Outcome dropped = run_job(v1, dropping({"counted"}));
    ASSERT_TRUE(dropped.status.is_ok()) << dropped.status.message();
    // An older version is read by the newer codec.
    Outcome older = run_job(v2);
    ASSERT_TRUE(older.status.is_ok()) << older.status.message();
    EXPECT_TRUE(older.restored);
}

TEST_F(StateRestoreTest, CheckpointsAndRestoredReportWhatTheRunDid) {
    // The stop takes one checkpoint.
    // Once the run has ended there is nothing left to checkpoint.
    auto checkpoint_after = [](Job& job) {
        EXPECT_EQ(job.checkpoints(), 1u);
        Status s = job.checkpoint();
        EXPECT_FALSE(s.is_ok());
        EXPECT_THAT(s.message(), HasSubstr("after run() ended"));
    };
    Outcome first = run_job(topology(), {}, 300, checkpoint_after);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    EXPECT_FALSE(first.restored);
    EXPECT_EQ(first.checkpoints, 1u);

    Outcome second = run_job(topology(), {}, 300);
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    EXPECT_TRUE(second.restored);
    EXPECT_EQ(second.checkpoints, 1u);

    // Without a state.dir there is nothing to restore and checkpoints do nothing.
    std::string stateless = topology();
    size_t at = stateless.find("state:");
    stateless.erase(at, stateless.find('\n', at) - at + 1);
    Outcome none =
        run_job(stateless, {}, -1, [](Job& job) { EXPECT_TRUE(job.checkpoint().is_ok()); });
    ASSERT_TRUE(none.status.is_ok()) << none.status.message();
    EXPECT_FALSE(none.restored);
    EXPECT_EQ(none.checkpoints, 0u);
}

}  // namespace
}  // namespace eddy
