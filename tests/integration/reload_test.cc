// SPDX-License-Identifier: Apache-2.0
// Reloading a running job's topology (runtime/reload.h, Job::reload(), `eddy
// run --watch`, SIGHUP). A job reads a FIFO that the test feeds in phases:
// a filter's new value applies to the records read after the reload and a
// new sink gets exactly those, while a keyed window keeps counting across
// it (at parallelism 1 and 2); new sinks' errors reach the dead-letter sink
// or a sink added earlier, and the other way round; a reload whose new sink
// cannot open, or that would swap an operator keeping state, changes
// nothing; a job that is not running takes no reload; and through the
// binary, every outcome (applied, failed, refused, unchanged) is logged and
// counted while the job runs on.
#include "runtime/reload.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
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
#include "harness.h"
#include "json_fields.h"
#include "process.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

/// Polls `done` every 10 ms for up to `timeout_ms`; whether it came true.
bool await(const std::function<bool()>& done, int timeout_ms = 10'000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

using eddy::testing::read_file;

using eddy::testing::read_lines;

/// Record `i` of the input: event time i s, user u<i % 4>, and a type that
/// cycles through view, buy, cart (so that some records match neither
/// `value: buy` nor `value: view`).
std::string type_of(int i) {
    static const char* kTypes[] = {"view", "buy", "cart"};
    return kTypes[i % 3];
}

std::string record(int i) {
    return R"({"ts": )" + std::to_string(1000 + 1000 * i) + R"(, "user": "u)" +
           std::to_string(i % 4) + R"(", "type": ")" + type_of(i) + R"(", "i": )" +
           std::to_string(i) + "}\n";
}

/// Record `i` with `"bad": true` when `bad`: a `reject` sink hands it back.
std::string flagged(int i, bool bad) {
    std::string r = record(i);
    return r.substr(0, r.size() - 2) + (bad ? R"(, "bad": true})" : "}") + "\n";
}

/// Records [from, to), one JSON line each.
std::string records(int from, int to) {
    std::string text;
    for (int i = from; i < to; ++i) {
        text += record(i);
    }
    return text;
}

/// The `i` of the records in [from, to) of `type`.
std::vector<int> ids_of(const std::string& type, int from, int to) {
    std::vector<int> ids;
    for (int i = from; i < to; ++i) {
        if (type_of(i) == type) {
            ids.push_back(i);
        }
    }
    return ids;
}

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

/// The `i` of each line a file sink wrote, in order.
std::vector<int> ids_in(const fs::path& path) {
    std::vector<int> ids;
    for (const std::string& line : read_lines(path)) {
        ids.push_back(static_cast<int>(testing::num(line, "i")));
    }
    return ids;
}

/// The window's counts by user, summed over the windows it emitted.
std::map<std::string, int> counts_in(const fs::path& path) {
    std::map<std::string, int> counts;
    for (const std::string& line : read_lines(path)) {
        counts[testing::raw(line, "key")] += static_cast<int>(testing::num(line, "n"));
    }
    return counts;
}

/// `records_each` for each of the four users.
std::map<std::string, int> each_user(int records_each) {
    return {{"\"u0\"", records_each},
            {"\"u1\"", records_each},
            {"\"u2\"", records_each},
            {"\"u3\"", records_each}};
}

/// The writing end of a FIFO, opened once a reader has it open (a reader
/// blocked in open() counts), or given up after `timeout_ms`.
class FifoWriter {
public:
    FifoWriter() = default;
    FifoWriter(const FifoWriter&) = delete;
    FifoWriter& operator=(const FifoWriter&) = delete;
    ~FifoWriter() { close(); }

    bool open(const fs::path& fifo, int timeout_ms = 10'000) {
        await(
            [&] {
                fd_ = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // ENXIO: no reader
                return fd_ >= 0;
            },
            timeout_ms);
        if (fd_ >= 0) {
            ::fcntl(fd_, F_SETFL, 0);  // blocking writes: the job reads at its pace
        }
        return fd_ >= 0;
    }

    void write(const std::string& text) {
        ASSERT_GE(fd_, 0) << "the FIFO is not open";
        for (size_t done = 0; done < text.size();) {
            ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
            ASSERT_GT(n, 0) << "writing to the FIFO failed: " << std::strerror(errno);
            done += static_cast<size_t>(n);
        }
    }

    /// The reader sees the end of its input.
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    int fd_ = -1;
};

/// A fresh directory under the temp dir with a FIFO `clicks.fifo` in it,
/// removed with everything in it at the end.
class TempDirTest : public ::testing::Test {
protected:
    void SetUp() override {
        const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(info->test_suite_name()) + "_" + info->name();
        std::replace(name.begin(), name.end(), '/', '_');
        dir_ =
            fs::temp_directory_path() / ("eddy_reload_" + std::to_string(::getpid()) + "_" + name);
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        fifo_ = dir_ / "clicks.fifo";
        testing::collected().clear();  // what `reject` sinks kept in earlier tests
        ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0) << std::strerror(errno);
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// `clicks` (the FIFO) -> `buys` (filter on type == `value`) -> `out`, and
    /// `clicks` -> `counts` (a 1h count per user) -> `windows`; `more` are
    /// lines added under `sinks:`, `settings` lines before `sources:`.
    std::string topology(const std::string& value, const std::string& more = "",
                         const std::string& settings = "", const std::string& size = "1h") const {
        return "name: reload\n" + settings +
               "sources:\n"
               "  clicks:\n"
               "    type: file\n"
               "    path: " +
               fifo_.string() +
               "\n"
               "    format: json\n"
               "    event_time: {field: ts, unit: ms}\n"
               "operators:\n"
               "  buys: {type: filter, input: clicks, field: type, op: eq, value: " +
               value +
               "}\n"
               "  counts:\n"
               "    type: window\n"
               "    input: clicks\n"
               "    key: user\n"
               "    size: " +
               size +
               "\n"
               "    aggregations: {n: {op: count}}\n"
               "sinks:\n"
               "  out: {type: file, input: buys, path: " +
               (dir_ / "out.jsonl").string() +
               "}\n"
               "  windows: {type: file, input: counts, path: " +
               (dir_ / "windows.jsonl").string() + "}\n" + more;
    }

    std::string sink(const std::string& name, const std::string& input,
                     const std::string& path) const {
        return "  " + name + ": {type: file, input: " + input + ", path: " + path + "}\n";
    }

    fs::path dir_;
    fs::path fifo_;
};

/// The validated topology of `yaml` (test registry); a failure when invalid.
std::unique_ptr<Topology> parse(const std::string& yaml) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "reload.yaml", diags);
    std::optional<Topology> t;
    if (root) {
        t = validate_topology(*root, testing::test_registry(), diags);
    }
    std::string text;
    for (const Diagnostic& d : diags.sorted()) {
        text += d.to_string() + "\n";
    }
    EXPECT_TRUE(t.has_value()) << text << yaml;
    return t ? std::make_unique<Topology>(std::move(*t)) : nullptr;
}

/// A job reading the FIFO, running on a thread of its own (as `eddy run`
/// runs it), with the topology it was created from and the writing end of
/// its input.
class LiveJob {
public:
    LiveJob() = default;
    LiveJob(const LiveJob&) = delete;
    LiveJob& operator=(const LiveJob&) = delete;
    ~LiveJob() {
        input.close();
        if (job_) {
            job_->request_stop();
        }
        if (runner_.joinable()) {
            runner_.join();
        }
    }

    /// Validates `yaml`, creates its job (its source opens `fifo` for
    /// reading while the writing end is opened here) and runs it. A failure
    /// is fatal: callers check HasFatalFailure().
    void start(const std::string& yaml, const fs::path& fifo) {
        topology_ = parse(yaml);
        ASSERT_TRUE(topology_);
        bool opened = false;
        std::thread opener([&] { opened = input.open(fifo); });
        auto job = Job::create(*topology_, {});
        opener.join();
        ASSERT_TRUE(job.is_ok()) << job.status().message();
        ASSERT_TRUE(opened) << "the job did not open the FIFO";
        job_ = std::move(job.value());
        runner_ = std::thread([this] { status_ = job_->run(); });
        ASSERT_TRUE(await([&] { return job_->running(); })) << "the job did not start";
    }

    /// Reloads the job with what `next_yaml` changes from what it runs now
    /// (plan_reload(), as `eddy run` does); the plan in `planned`.
    Status reload(const std::string& next_yaml, ReloadPlan* planned = nullptr) {
        std::unique_ptr<Topology> next = parse(next_yaml);
        if (!next) {
            return Status::invalid_argument("invalid topology");
        }
        ReloadPlan plan = plan_reload(*topology_, *next);
        EXPECT_FALSE(plan.refused()) << plan.refusals.front();
        if (planned != nullptr) {
            *planned = plan;
        }
        return apply(std::move(next), plan);
    }

    /// Job::reload(plan), whose definitions point into `next`: what the job
    /// runs from now on when it succeeds.
    Status apply(std::unique_ptr<Topology> next, const ReloadPlan& plan) {
        Status s = job_->reload(plan);
        if (s.is_ok()) {
            topology_ = std::move(next);
        } else {
            rejected_.push_back(std::move(next));
        }
        return s;
    }

    /// Ends the input and waits for the job to drain it.
    Status finish() {
        input.close();
        if (runner_.joinable()) {
            runner_.join();
        }
        return status_;
    }

    /// The metrics of component `name` (a failure when it has none).
    const ComponentMetrics& metrics(const std::string& name) const {
        for (const ComponentMetrics* m : job_->metrics().components()) {
            if (m->name == name) {
                return *m;
            }
        }
        ADD_FAILURE() << "no metrics for '" << name << "'";
        static const ComponentMetrics none;
        return none;
    }
    uint64_t records_in(const std::string& name) const { return metrics(name).records_in.load(); }
    uint64_t records_out(const std::string& name) const { return metrics(name).records_out.load(); }

    /// Waits until `buys` has received `n` records: everything fed so far
    /// went through it.
    void await_processed(uint64_t n) {
        EXPECT_TRUE(await([&] { return records_in("buys") >= n; }))
            << "buys received " << records_in("buys") << " of " << n << " records";
        EXPECT_EQ(records_in("buys"), n);
    }

    Job& job() { return *job_; }

    FifoWriter input;

private:
    std::unique_ptr<Topology> topology_;
    std::vector<std::unique_ptr<Topology>> rejected_;
    std::unique_ptr<Job> job_;
    std::thread runner_;
    Status status_;
};

class ReloadJobTest : public TempDirTest, public ::testing::WithParamInterface<int> {};

TEST_P(ReloadJobTest, ANewFilterValueAndANewSinkApplyToLaterRecordsWhileTheWindowKeepsCounting) {
    const int parallelism = GetParam();
    const std::string settings = "parallelism: " + std::to_string(parallelism) + "\n";
    LiveJob live;
    live.start(topology("buy", "", settings), fifo_);
    ASSERT_FALSE(HasFatalFailure());

    live.input.write(records(0, 30));
    live.await_processed(30);

    ReloadPlan plan;
    Status s = live.reload(
        topology("view", sink("views", "buys", (dir_ / "views.jsonl").string()), settings), &plan);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(plan.changes.size(), 2u);
    EXPECT_EQ(live.records_in("views"), 0u);

    live.input.write(records(30, 60));
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();

    // Nothing lost: every line read, every record through the filter and the window.
    EXPECT_EQ(live.records_out("clicks"), 60u);
    EXPECT_EQ(live.records_in("buys"), 60u);
    EXPECT_EQ(live.records_in("counts"), 60u);

    std::vector<int> expected_out = concat(ids_of("buy", 0, 30), ids_of("view", 30, 60));
    std::vector<int> expected_views = ids_of("view", 30, 60);
    if (parallelism == 1) {
        EXPECT_EQ(ids_in(dir_ / "out.jsonl"), expected_out);
        EXPECT_EQ(ids_in(dir_ / "views.jsonl"), expected_views);
    } else {  // two shards of the filter: their records interleave
        EXPECT_THAT(ids_in(dir_ / "out.jsonl"), UnorderedElementsAreArray(expected_out));
        EXPECT_THAT(ids_in(dir_ / "views.jsonl"), UnorderedElementsAreArray(expected_views));
    }
    EXPECT_EQ(live.records_in("out"), expected_out.size());
    EXPECT_EQ(live.records_in("views"), expected_views.size());
    // The window was not replaced: one window per user over all 60 records.
    EXPECT_EQ(read_lines(dir_ / "windows.jsonl").size(), 4u);
    EXPECT_EQ(counts_in(dir_ / "windows.jsonl"), each_user(15));
}

TEST_P(ReloadJobTest, ASinkAddedLiveGetsTheWindowsThatFireAfterTheReloadAndASideOutput) {
    const std::string settings = "parallelism: " + std::to_string(GetParam()) + "\n";
    LiveJob live;
    live.start(topology("buy", "", settings), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    live.input.write(records(0, 30));
    live.await_processed(30);

    Status s = live.reload(
        topology("buy",
                 sink("late_windows", "counts", (dir_ / "late_windows.jsonl").string()) +
                     sink("others", "buys.rejected", (dir_ / "others.jsonl").string()),
                 settings));
    ASSERT_TRUE(s.is_ok()) << s.message();
    live.input.write(records(30, 60));
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();

    // The windows fire at the end of the input, after the reload: the new
    // sink gets them whole, counting the records read before it existed.
    EXPECT_EQ(counts_in(dir_ / "late_windows.jsonl"), each_user(15));
    EXPECT_EQ(read_file(dir_ / "late_windows.jsonl"), read_file(dir_ / "windows.jsonl"));
    EXPECT_THAT(ids_in(dir_ / "others.jsonl"),
                UnorderedElementsAreArray(concat(ids_of("view", 30, 60), ids_of("cart", 30, 60))));
}

TEST_P(ReloadJobTest, AFilterFusedBeforeAWindowIsSwappedAndTheWindowCountsWhatEachValueKept) {
    const std::string settings = "parallelism: " + std::to_string(GetParam()) + "\n";
    // `counts` reads `buys` instead of `clicks`.
    auto yaml = [&](const std::string& value) {
        std::string t = topology(value, "", settings);
        const std::string from = "    input: clicks\n    key: user";
        t.replace(t.find(from), from.size(), "    input: buys\n    key: user");
        return t;
    };
    LiveJob live;
    live.start(yaml("buy"), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    live.input.write(records(0, 30));
    live.await_processed(30);
    Status s = live.reload(yaml("view"));
    ASSERT_TRUE(s.is_ok()) << s.message();
    live.input.write(records(30, 60));
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();

    std::map<std::string, int> expected;
    for (int i : concat(ids_of("buy", 0, 30), ids_of("view", 30, 60))) {
        ++expected["\"u" + std::to_string(i % 4) + "\""];
    }
    EXPECT_EQ(counts_in(dir_ / "windows.jsonl"), expected);
}

TEST_P(ReloadJobTest, ASinkAnEarlierReloadAddedCanReadTheErrorsOfANewSink) {
    const std::string settings = "parallelism: " + std::to_string(GetParam()) + "\n";
    const std::string views = (dir_ / "views.jsonl").string();
    LiveJob live;
    live.start(topology("buy", "", settings), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    Status s = live.reload(topology("buy", sink("views", "buys", views), settings));
    ASSERT_TRUE(s.is_ok()) << s.message();

    // `views`, added above, now also reads what the new `picky` rejects.
    ReloadPlan plan;
    s = live.reload(topology("buy",
                             "  views: {type: file, inputs: [buys, picky.errors], path: " + views +
                                 "}\n"
                                 "  picky: {type: reject, input: clicks}\n",
                             settings),
                    &plan);
    ASSERT_EQ(plan.error_links.size(), 1u);
    EXPECT_EQ(plan.error_links[0].reader, "views");
    ASSERT_TRUE(s.is_ok()) << s.message();
    std::string input;
    for (int i = 0; i < 12; ++i) {
        input += flagged(i, i % 2 == 0);
    }
    live.input.write(input);
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();

    std::vector<int> rejected;
    std::vector<int> bought;
    for (const std::string& line : read_lines(views)) {
        int i = static_cast<int>(testing::num(line, "i"));
        (line.find("\"error_component\":\"picky\"") != std::string::npos ? rejected : bought)
            .push_back(i);
    }
    EXPECT_THAT(rejected, UnorderedElementsAreArray({0, 2, 4, 6, 8, 10}));
    EXPECT_THAT(bought, UnorderedElementsAreArray(ids_of("buy", 0, 12)));
}

TEST_P(ReloadJobTest, ANewSinkCanReadTheErrorsOfASinkAnEarlierReloadAdded) {
    const std::string settings = "parallelism: " + std::to_string(GetParam()) + "\n";
    const std::string picky = "  picky: {type: reject, input: clicks}\n";
    LiveJob live;
    live.start(topology("buy", "", settings), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    Status s = live.reload(topology("buy", picky, settings));
    ASSERT_TRUE(s.is_ok()) << s.message();
    s = live.reload(topology(
        "buy", picky + sink("bad", "picky.errors", (dir_ / "bad.jsonl").string()), settings));
    ASSERT_TRUE(s.is_ok()) << s.message();
    std::string input;
    for (int i = 0; i < 12; ++i) {
        input += flagged(i, i % 3 == 0);
    }
    live.input.write(input);
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();
    EXPECT_THAT(ids_in(dir_ / "bad.jsonl"), UnorderedElementsAreArray({0, 3, 6, 9}));
    EXPECT_EQ(live.records_in("bad"), 4u);
}

TEST_P(ReloadJobTest, TwoNewSinksOneReadingTheOthersErrorsAreAddedInOneReload) {
    const std::string settings = "parallelism: " + std::to_string(GetParam()) + "\n";
    LiveJob live;
    live.start(topology("buy", "", settings), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    // `bad` comes first in the file and reads what the new `picky` rejects.
    Status s = live.reload(topology("buy",
                                    sink("bad", "picky.errors", (dir_ / "bad.jsonl").string()) +
                                        "  picky: {type: reject, input: clicks}\n",
                                    settings));
    ASSERT_TRUE(s.is_ok()) << s.message();
    std::string input;
    for (int i = 0; i < 12; ++i) {
        input += flagged(i, i % 4 == 0);
    }
    live.input.write(input);
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();
    EXPECT_THAT(ids_in(dir_ / "bad.jsonl"), UnorderedElementsAreArray({0, 4, 8}));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, ReloadJobTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                             return "P" + std::to_string(info.param);
                         });

class ReloadTest : public TempDirTest {};

TEST_F(ReloadTest, AReloadWhoseNewSinkCannotOpenChangesNothing) {
    LiveJob live;
    live.start(topology("buy"), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    live.input.write(records(0, 12));
    live.await_processed(12);

    // A directory cannot be opened for writing: the new value must not apply either.
    Status s = live.reload(topology("view", sink("broken", "buys", dir_.string())));
    EXPECT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("sink 'broken'"));
    for (const ComponentMetrics* m : live.job().metrics().components()) {
        EXPECT_NE(m->name, "broken") << "a sink that did not open has metrics";
    }

    live.input.write(records(12, 24));
    live.await_processed(24);
    // The job still takes a reload that can be applied.
    s = live.reload(topology("view"));
    ASSERT_TRUE(s.is_ok()) << s.message();

    live.input.write(records(24, 36));
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();
    EXPECT_EQ(ids_in(dir_ / "out.jsonl"), concat(ids_of("buy", 0, 24), ids_of("view", 24, 36)));
    EXPECT_EQ(counts_in(dir_ / "windows.jsonl"), each_user(9));
}

TEST_F(ReloadTest, APlanThatSwapsAnOperatorThatKeepsStateIsNotAppliedAtAll) {
    LiveJob live;
    live.start(topology("buy"), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    live.input.write(records(0, 12));
    live.await_processed(12);

    // plan_reload() refuses this; a plan made by hand must not get through
    // Job::reload() either, nor take the filter's new value with it.
    std::unique_ptr<Topology> next = parse(topology("view", "", "", "2h"));
    ASSERT_TRUE(next);
    ReloadPlan plan;
    plan.reconfigured = {&next->components[static_cast<size_t>(next->find("buys"))],
                         &next->components[static_cast<size_t>(next->find("counts"))]};
    Status s = live.apply(std::move(next), plan);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.message();
    EXPECT_THAT(s.message(), HasSubstr("operator 'counts' keeps state"));

    live.input.write(records(12, 24));
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();
    EXPECT_EQ(ids_in(dir_ / "out.jsonl"), ids_of("buy", 0, 24));
    EXPECT_EQ(read_lines(dir_ / "windows.jsonl").size(), 4u);  // still 1h windows
    EXPECT_EQ(counts_in(dir_ / "windows.jsonl"), each_user(6));
}

/// `timed`: passes records on; with `arm: true` its open() sets a
/// processing-time timer, which a live swap must not take (nor leave behind).
class Timed final : public Operator {
public:
    explicit Timed(const Config& cfg) : arm_(cfg.boolean("arm")) {}
    Status open(OpenContext& ctx) override {
        if (arm_) {
            ctx.timers().set(TimeDomain::kProcessingTime, Value::integer(1), INT64_MAX / 2);
        }
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override { out.emit(r); }

private:
    bool arm_;
};

void register_timed() {
    Registry& r = testing::test_registry();
    if (r.find(ComponentKind::kOperator, "timed") != nullptr) {
        return;
    }
    Status s = r.add(OperatorSpec("timed")
                         .summary("Test: passes records on; may set a timer in open().")
                         .param(Param::boolean("arm").default_value(false).doc("Set a timer."))
                         .param(Param::string("tag").default_value("").doc("Changes nothing."))
                         .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
                             return std::unique_ptr<Operator>(new Timed(cfg));
                         }),
                     "tests");
    ASSERT_TRUE(s.is_ok()) << s.message();
}

TEST_F(ReloadTest, AFailedSwapUndoesWhatTheNewInstancesDidAndTheNextReloadApplies) {
    register_timed();
    auto yaml = [&](const std::string& value, const std::string& pace) {
        return "name: reload\n"
               "sources:\n"
               "  clicks: {type: file, path: " +
               fifo_.string() +
               ", format: json, event_time: {field: ts, unit: ms}}\n"
               "operators:\n"
               "  buys: {type: filter, input: clicks, field: type, op: eq, value: " +
               value +
               "}\n"
               "  pace: {type: timed, input: buys, " +
               pace +
               "}\n"
               "sinks:\n"
               "  out: {type: file, input: pace, path: " +
               (dir_ / "out.jsonl").string() + "}\n";
    };
    LiveJob live;
    live.start(yaml("buy", "arm: false"), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    live.input.write(records(0, 12));
    live.await_processed(12);

    // `buys` opens first and is fine; `pace` sets a timer in open(): the
    // whole reload fails, and neither keeps anything of it.
    Status s = live.reload(yaml("view", "arm: true"));
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.message();
    EXPECT_THAT(s.message(), HasSubstr("operator 'pace' with its new parameters: it registers "
                                       "state or timers"));
    live.input.write(records(12, 24));
    live.await_processed(24);

    // Had the timer stayed, `pace` could not be swapped now ("timers pending").
    s = live.reload(yaml("view", "arm: false, tag: again"));
    ASSERT_TRUE(s.is_ok()) << s.message();
    live.input.write(records(24, 36));
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();
    EXPECT_EQ(ids_in(dir_ / "out.jsonl"), concat(ids_of("buy", 0, 24), ids_of("view", 24, 36)));
}

TEST_F(ReloadTest, ANewSinksRejectedRecordsGoToTheDeadLetterSink) {
    const std::string settings = "dead_letter: dlq\n";
    const std::string dlq = "  dlq: {type: file, path: " + (dir_ / "dlq.jsonl").string() + "}\n";
    LiveJob live;
    live.start(topology("buy", dlq, settings), fifo_);
    ASSERT_FALSE(HasFatalFailure());
    live.input.write(records(0, 9));
    live.await_processed(9);

    // `picky` rejects the records whose `bad` is true as it flushes (at the
    // end here); `dlq` reads its errors and must close after it.
    ReloadPlan plan;
    Status s = live.reload(
        topology("buy", dlq + "  picky: {type: reject, input: clicks, when: flush}\n", settings),
        &plan);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(plan.error_links.size(), 1u);

    std::string later;
    for (int i = 9; i < 15; ++i) {
        later += flagged(i, i % 2 == 0);
    }
    live.input.write(later);
    Status finished = live.finish();
    ASSERT_TRUE(finished.is_ok()) << finished.message();

    std::vector<std::string> dead = read_lines(dir_ / "dlq.jsonl");
    std::vector<int> dead_ids;
    for (const std::string& line : dead) {
        EXPECT_THAT(line, HasSubstr("bad record"));
        EXPECT_THAT(line, HasSubstr("picky"));
        dead_ids.push_back(static_cast<int>(testing::num(line, "i")));
    }
    EXPECT_THAT(dead_ids, ElementsAre(10, 12, 14)) << read_file(dir_ / "dlq.jsonl");
    EXPECT_EQ(live.records_in("picky"), 6u);
    EXPECT_EQ(testing::collected()["picky"].size(), 3u);
}

TEST(ReloadNotRunningTest, AJobThatIsNotRunningTakesNoReload) {
    const std::string head =
        "sources:\n"
        "  clicks: {type: memory, records: [{type: buy}, {type: view}, {type: buy}]}\n"
        "operators:\n";
    const std::string sinks = "sinks:\n  out: {type: null, input: buys}\n";
    std::unique_ptr<Topology> running = parse(
        head + "  buys: {type: filter, input: clicks, field: type, op: eq, value: buy}\n" + sinks);
    std::unique_ptr<Topology> next = parse(
        head + "  buys: {type: filter, input: clicks, field: type, op: eq, value: view}\n" + sinks);
    ASSERT_TRUE(running && next);
    ReloadPlan plan = plan_reload(*running, *next);
    ASSERT_EQ(plan.reconfigured.size(), 1u);

    auto job = Job::create(*running, {});
    ASSERT_TRUE(job.is_ok()) << job.status().message();
    Status before = job.value()->reload(plan);
    EXPECT_EQ(before.code(), StatusCode::kAborted) << before.message();

    Status ran = job.value()->run();
    ASSERT_TRUE(ran.is_ok()) << ran.message();
    Status after = job.value()->reload(plan);
    EXPECT_EQ(after.code(), StatusCode::kAborted) << after.message();
    // It ran with the value it was created with.
    for (const ComponentMetrics* m : job.value()->metrics().components()) {
        if (m->name == "buys") {
            EXPECT_EQ(m->records_out.load(), 2u);
        }
    }
}

// ---- eddy run --watch, through the binary ----------------------------------

class ReloadCliTest : public TempDirTest {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
        }
        TempDirTest::SetUp();
        file_ = dir_ / "topology.yaml";
        log_ = dir_ / "log.txt";
        metrics_ = dir_ / "metrics.prom";
    }
    void TearDown() override {
        input_.close();
        if (pid_ > 0) {  // a failed test: do not leave the job running
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        TempDirTest::TearDown();
    }

    /// Writes the topology file in place, as an editor that saves in place does.
    void edit(const std::string& yaml) const { std::ofstream(file_, std::ios::trunc) << yaml; }

    /// Replaces the topology file, as an editor that writes a copy and renames it does.
    void replace(const std::string& yaml) const {
        fs::path copy = dir_ / "topology.yaml.new";
        std::ofstream(copy) << yaml;
        fs::rename(copy, file_);
    }

    std::string log() const { return read_file(log_); }

    size_t occurrences(const std::string& needle) const {
        std::string text = log();
        size_t n = 0;
        for (size_t at = text.find(needle); at != std::string::npos;
             at = text.find(needle, at + 1)) {
            ++n;
        }
        return n;
    }

    /// Waits for the log to hold `needle` `times` times.
    void await_log(const std::string& needle, size_t times = 1) const {
        EXPECT_TRUE(await([&] { return occurrences(needle) >= times; }))
            << "no " << times << " x '" << needle << "' in the log:\n"
            << log();
    }

    /// The value of the sample `name` (with its labels) in the metrics file; -1 when absent.
    double metric(const std::string& name) const {
        std::istringstream in(read_file(metrics_));
        for (std::string line; std::getline(in, line);) {
            if (line.rfind(name + " ", 0) == 0) {
                return std::strtod(line.c_str() + name.size() + 1, nullptr);
            }
        }
        return -1;
    }
    double reloads(const std::string& outcome) const {
        return metric("eddy_reloads_total{outcome=\"" + outcome + "\"}");
    }
    void await_metric(const std::string& name, double value) const {
        EXPECT_TRUE(await([&] { return metric(name) == value; }))
            << name << " is " << metric(name) << ", not " << value << "\n"
            << read_file(metrics_);
    }
    void await_reloads(const std::string& outcome, double value) const {
        await_metric("eddy_reloads_total{outcome=\"" + outcome + "\"}", value);
    }
    void await_buys(int records) const {
        await_metric(R"(eddy_records_in_total{component="buys",type="filter",kind="operator"})",
                     records);
    }

    bool running() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }

    fs::path file_;
    fs::path log_;
    fs::path metrics_;
    FifoWriter input_;
    pid_t pid_ = -1;
};

TEST_F(ReloadCliTest, EveryOutcomeIsLoggedAndCountedAndTheJobRunsOn) {
    const std::string views = sink("views", "buys", (dir_ / "views.jsonl").string());
    edit(topology("buy"));
    pid_ = testing::start_eddy_run(
        file_, log_,
        {"--watch", "--metrics-file", metrics_.string(), "--metrics-interval", "200ms"});
    ASSERT_TRUE(input_.open(fifo_)) << "eddy did not open the FIFO:\n" << log();
    input_.write(records(0, 12));
    await_buys(12);

    // A new value for the filter and a new sink: applied.
    edit(topology("view", views));
    await_log("reload of '" + file_.string() + "' applied:");
    EXPECT_THAT(log(), HasSubstr("\n  - operator 'buys' (filter): new parameters"));
    EXPECT_THAT(log(), HasSubstr("\n  - sink 'views' (file): new, reading buys\n"));
    await_reloads("applied", 1);
    EXPECT_EQ(metric("eddy_reload_last_success"), 1);
    input_.write(records(12, 24));
    await_buys(24);

    // A file that does not parse: failed, and the job runs on.
    edit("sources: [clicks\n");
    await_log("failed: the file is invalid");
    await_reloads("failed", 1);
    EXPECT_EQ(metric("eddy_reload_last_success"), 0);
    EXPECT_TRUE(running()) << log();

    // A stateful operator's new size: refused, with what a restart would do.
    std::string bigger = topology("view", views, "", "2h");
    edit(bigger);
    await_log("refused: the job keeps running what it ran");
    await_reloads("refused", 1);
    std::string text = log();
    EXPECT_THAT(text, HasSubstr("operator 'counts' (window): its parameters changed and it keeps "
                                "state"));
    EXPECT_THAT(text, HasSubstr("what a restart with the new file would do to the state (eddy "
                                "plan):\n"));
    EXPECT_THAT(text.substr(text.find("(eddy plan):")), HasSubstr("counts"));
    EXPECT_TRUE(running()) << text;

    // SIGHUP with the same file: it still differs from what runs, refused again.
    ::kill(pid_, SIGHUP);
    await_log("refused: the job keeps running what it ran", 2);
    await_reloads("refused", 2);
    EXPECT_THAT(log(), HasSubstr("(SIGHUP)"));
    input_.write(records(24, 36));
    await_buys(36);

    // Back to the running sizes, with `log_level: warn`: applied, and info
    // lines are no longer logged.
    replace(topology("view", views, "log_level: warn\n"));
    await_log("\n  - log level: warn\n");
    await_reloads("applied", 2);
    size_t reloading = occurrences("reloading '");
    EXPECT_EQ(reloading, 5u) << log();  // one per reload so far, at info level
    ::kill(pid_, SIGHUP);
    await_reloads("unchanged", 1);
    EXPECT_EQ(occurrences("reloading '"), reloading) << log();
    EXPECT_THAT(log(), Not(HasSubstr("nothing the job runs changed")));

    input_.write(records(36, 48));
    input_.close();
    int code = testing::wait_exit(pid_);
    pid_ = -1;
    ASSERT_EQ(code, 0) << log();

    // The last metrics, written as the job ended.
    EXPECT_EQ(reloads("applied"), 2);
    EXPECT_EQ(reloads("unchanged"), 1);
    EXPECT_EQ(reloads("refused"), 2);
    EXPECT_EQ(reloads("failed"), 1);
    EXPECT_EQ(metric("eddy_reload_last_success"), 1);
    EXPECT_GT(metric("eddy_reload_last_timestamp_seconds"), 1.6e9);

    EXPECT_EQ(ids_in(dir_ / "out.jsonl"), concat(ids_of("buy", 0, 12), ids_of("view", 12, 48)));
    EXPECT_EQ(ids_in(dir_ / "views.jsonl"), ids_of("view", 12, 48));
    // The refused size never applied: one 1h window per user over everything.
    EXPECT_EQ(read_lines(dir_ / "windows.jsonl").size(), 4u);
    EXPECT_EQ(counts_in(dir_ / "windows.jsonl"), each_user(12));
}

TEST_F(ReloadCliTest, LogLevelOnTheCommandLineWinsOverTheFilesOnReload) {
    edit(topology("buy"));
    // --log-level is an option of `eddy` itself, before `run`.
    pid_ = ::fork();
    if (pid_ == 0) {
        FILE* f = std::freopen(log_.c_str(), "a", stderr);
        (void)f;
        ::execl(EDDY_BINARY, "eddy", "--log-level", "info", "run", "--no-progress", "--watch",
                file_.c_str(), nullptr);
        ::_exit(127);
    }
    ASSERT_TRUE(input_.open(fifo_)) << "eddy did not open the FIFO:\n" << log();
    replace(topology("buy", "", "log_level: error\n"));
    await_log("log level: error (not applied: --log-level info wins)");
    // Info lines are still logged: the next reload says it is reloading.
    size_t reloading = occurrences("reloading '");
    ::kill(pid_, SIGHUP);
    await_log("reloading '", reloading + 1);
    await_log("nothing the job runs changed");
    input_.close();
    int code = testing::wait_exit(pid_);
    pid_ = -1;
    EXPECT_EQ(code, 0) << log();
}

}  // namespace
}  // namespace eddy
