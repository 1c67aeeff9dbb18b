// SPDX-License-Identifier: Apache-2.0
// The runtime: records, keys, watermarks, timers, outputs and failures as a
// topology sees them.
#include <filesystem>
#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "metrics/metrics.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

/// Keyed probe: sets an event-time timer `delay` after each record, emits
/// {key, fired, watermark} when it fires, and a record on close.
class Probe final : public Operator {
public:
    explicit Probe(const Config& cfg) : delay_(cfg.duration("delay").count()) {}
    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        key_ = ctx.field("key");
        fired_ = ctx.field("fired");
        wm_ = ctx.field("watermark");
        event_ = ctx.field("event");
        return Status::ok();
    }
    void process(const Record& r, Emitter&) override {
        timers_->set(TimeDomain::kEventTime, r.key(), r.time() + delay_);
    }
    void on_timer(const Timer& t, Emitter& out) override {
        Record& r = out.append();
        r.set_time(t.time);
        r.set(event_, "timer");
        r.set_value(key_, t.key);
        r.set(fired_, t.time);
        r.set(wm_, timers_->watermark());
    }
    void close(Emitter& out) override { out.append().set(event_, "closed"); }

private:
    int64_t delay_;
    Timers* timers_ = nullptr;
    FieldId key_{}, fired_{}, wm_{}, event_{};
};

/// Throws on the record whose `boom` field is true.
class Thrower final : public Operator {
public:
    explicit Thrower(const Config&) {}
    Status open(OpenContext& ctx) override {
        boom_ = ctx.field("boom");
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override {
        if (const Value* v = r.get(boom_); v != nullptr && v->is_bool() && v->as_bool()) {
            throw std::runtime_error("kaboom");
        }
        out.emit(r);
    }

private:
    FieldId boom_{};
};

/// Reports records at or below the watermark as late, by how much.
class LateProbe final : public Operator {
public:
    explicit LateProbe(const Config& cfg) : lateness_(Lateness::from(cfg)) {}
    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override {
        int64_t wm = timers_->watermark();
        if (wm != kNoWatermark && r.time() <= wm - lateness_.allowed_ms) {
            out.late(r, wm - r.time(), lateness_.policy);
            return;
        }
        out.emit(r);
    }

private:
    Lateness lateness_;
    Timers* timers_ = nullptr;
};

OperatorSpec late_probe_spec() {
    OperatorSpec spec("late_probe");
    spec.summary("Test lateness.").factory(make_component<Operator, LateProbe>);
    add_lateness(spec);
    return spec;
}

class JobTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        Registry& r = testing::test_registry();
        if (r.find(ComponentKind::kOperator, "probe") == nullptr) {
            Status s = r.add(OperatorSpec("probe")
                                 .summary("Test timers.")
                                 .keyed(KeyMode::kRequired)
                                 .param(Param::duration("delay").default_value("10s").doc("Delay."))
                                 .factory(make_component<Operator, Probe>),
                             "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
            s = r.add(late_probe_spec(), "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
            s = r.add(OperatorSpec("thrower")
                          .summary("Test failures.")
                          .factory(make_component<Operator, Thrower>),
                      "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
        }
    }
};

TEST_F(JobTest, RecordsFlowThroughFilterToSinkInOrder) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, t: a}, {ts: 2, t: b}, {ts: 3, t: a}]}
operators:
  f: {type: filter, input: in, field: t, value: a}
sinks:
  out: {type: collect, input: f}
  rest: {type: collect, input: f.rejected}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":1,"t":"a"})", R"({"ts":3,"t":"a"})"));
    EXPECT_THAT(r.lines("rest"), ElementsAre(R"({"ts":2,"t":"b"})"));
}

TEST_F(JobTest, EventTimeTimersFireOnWatermarkAndAtEndOfInput) {
    JobOptions one_record_per_poll;
    one_record_per_poll.batch_size = 1;
    auto r = run_yaml(R"(
sources:
  in:
    type: memory
    records: [{ts: 1000, k: a}, {ts: 5000, k: b}, {ts: 20000, k: a}, {ts: 30000, k: c}]
    watermark: {max_out_of_orderness: 1s}
operators:
  p: {type: probe, input: in, key: k, delay: 2s}
sinks:
  out: {type: collect, input: p}
)",
                      one_record_per_poll);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    // Watermark = max ts - 1s - 1ms: ts 5000 fires a@3000, ts 20000 fires
    // b@7000, and the end of input fires the rest before close().
    EXPECT_THAT(
        r.lines("out"),
        ElementsAre(R"({"event":"timer","key":"a","fired":3000,"watermark":3999})",
                    R"({"event":"timer","key":"b","fired":7000,"watermark":18999})",
                    R"({"event":"timer","key":"a","fired":22000,"watermark":9223372036854775807})",
                    R"({"event":"timer","key":"c","fired":32000,"watermark":9223372036854775807})",
                    R"({"event":"closed"})"));
}

TEST_F(JobTest, LateEventsGoToTheLateOutputCountedWithTheirLateness) {
    JobOptions one_record_per_poll;
    one_record_per_poll.batch_size = 1;
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 10000}, {ts: 9000}, {ts: 2000}, {ts: 12000}]}
operators:
  p: {type: late_probe, input: in, allowed_lateness: 500ms}
sinks:
  out: {type: collect, input: p}
  late: {type: collect, input: p.late}
)",
                      one_record_per_poll);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    // Watermark 9999 after ts 10000: ts 9000 is 999 ms behind (late beyond
    // 500 ms), ts 2000 is 7999 ms behind.
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":10000})", R"({"ts":12000})"));
    EXPECT_THAT(r.lines("late"), ElementsAre(R"({"ts":9000,"lateness_ms":999})",
                                             R"({"ts":2000,"lateness_ms":7999})"));
    const ComponentMetrics& m = *r.job->metrics().components()[1];
    EXPECT_EQ(m.late.load(), 2u);
    EXPECT_EQ(m.lateness_ms[10].load(), 1u);  // 999 in [512, 1024)
    EXPECT_EQ(m.lateness_ms[13].load(), 1u);  // 7999 in [4096, 8192)
    EXPECT_EQ(m.lateness_quantile(0.5), 1023u);
    EXPECT_EQ(m.lateness_quantile(1.0), 8191u);
}

// A source of several splits (Kafka partitions) has a watermark per split:
// split 1 running ahead does not make split 0's events late.
TEST_F(JobTest, ASplitRunningAheadDoesNotMakeAnotherSplitsEventsLate) {
    JobOptions one_record_per_poll;
    one_record_per_poll.batch_size = 1;
    auto yaml = [](const std::string& split_field) {
        return "sources:\n  in:\n    type: memory\n" + split_field +
               "    records: [{ts: 1000, part: 0}, {ts: 50000, part: 1}, {ts: 1500, part: 0},"
               " {ts: 2000, part: 0}, {ts: 60000, part: 1}]\n"
               "operators:\n  p: {type: late_probe, input: in}\n"
               "sinks:\n  out: {type: collect, input: p}\n  late: {type: collect, input: p.late}\n";
    };
    auto split = run_yaml(yaml("    split_field: part\n"), one_record_per_poll);
    ASSERT_TRUE(split.status.is_ok()) << split.status.message();
    EXPECT_THAT(split.lines("late"), ElementsAre());
    EXPECT_EQ(split.lines("out").size(), 5u);

    // The same records as one split: ts 1500 and 2000 are behind ts 50000.
    auto one = run_yaml(yaml(""), one_record_per_poll);
    ASSERT_TRUE(one.status.is_ok()) << one.status.message();
    EXPECT_EQ(one.lines("late").size(), 2u);
}

TEST_F(JobTest, DroppedLateEventsAreStillCounted) {
    JobOptions one_record_per_poll;
    one_record_per_poll.batch_size = 1;
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 10000}, {ts: 1000}]}  # 8999 ms late
operators:
  p: {type: late_probe, input: in, on_late: drop}
sinks:
  out: {type: collect, input: p}
  late: {type: collect, input: p.late}
)",
                      one_record_per_poll);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":10000})"));
    EXPECT_TRUE(r.lines("late").empty());
    EXPECT_EQ(r.job->metrics().components()[1]->late.load(), 1u);
    EXPECT_THAT(format_summary(r.job->metrics(), 1.0, "test"), HasSubstr("late p50 <= 16383 ms"));
}

TEST_F(JobTest, AnIdleSourceStopsHoldingBackTheWatermark) {
    const char* yaml = R"(
sources:
  quiet:
    type: memory
    records: [{ts: 1000, k: q}]
    then_idle: true
    watermark: {idle_timeout: 50ms}
  busy: {type: memory, records: [{ts: 100000, k: b}], then_idle: true}
operators:
  p: {type: probe, inputs: [quiet, busy], key: k, delay: 1s}
sinks:
  out: {type: collect, input: p}
)";
    auto r = run_yaml(yaml, {}, 400);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    // Once `quiet` is idle the watermark follows `busy` (99999) and q's timer
    // at 2000 fires; b's timer at 101000 stays pending until the stop.
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"event":"timer","key":"q","fired":2000,"watermark":99999})",
                            R"({"event":"closed"})"));

    std::string without_timeout = yaml;
    without_timeout.erase(without_timeout.find("    watermark: {idle_timeout: 50ms}\n"),
                          std::string("    watermark: {idle_timeout: 50ms}\n").size());
    r = run_yaml(without_timeout, {}, 300);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"event":"closed"})"));  // held back at 999
}

/// Emits the key it sees as a field.
class KeyEcho final : public Operator {
public:
    explicit KeyEcho(const Config&) {}
    Status open(OpenContext& ctx) override {
        seen_ = ctx.field("seen_key");
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override {
        Record& e = out.append();
        e.set_time(r.time());
        if (r.key().is_null()) {
            e.set_null(seen_);
        } else {
            e.set_value(seen_, r.key());
        }
    }

private:
    FieldId seen_{};
};

TEST_F(JobTest, AnUnkeyedOperatorAfterAKeyedOneSeesNoKey) {
    Registry& reg = testing::test_registry();
    if (reg.find(ComponentKind::kOperator, "key_echo") == nullptr) {
        ASSERT_TRUE(reg.add(OperatorSpec("key_echo")
                                .summary("Test keys.")
                                .keyed(KeyMode::kOptional)
                                .factory(make_component<Operator, KeyEcho>),
                            "tests")
                        .is_ok());
    }
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, k: a}]}
operators:
  keyed: {type: select, input: in, drop: [nothing]}
  by_k: {type: key_echo, input: in, key: k}
  f: {type: filter, input: by_k, field: seen_key, op: exists}
  global: {type: key_echo, input: f}
sinks:
  a: {type: collect, input: global}
  b: {type: null, input: keyed}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("a"), ElementsAre(R"({"seen_key":null})"));
}

TEST_F(JobTest, SameTimerSetTwiceFiresOnce) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1000, k: a}, {ts: 1000, k: a}]}
operators:
  p: {type: probe, input: in, key: k, delay: 1s}
sinks:
  out: {type: collect, input: p}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_EQ(r.lines("out").size(), 2u);  // one timer, one close
}

TEST_F(JobTest, RecordsWithoutTheKeyGoToErrorsWithAReason) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, k: a}, {ts: 2, other: x}]}
operators:
  p: {type: probe, input: in, key: k}
sinks:
  out: {type: null, input: p}
  bad: {type: collect, input: p.errors}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    ASSERT_EQ(r.lines("bad").size(), 1u);
    EXPECT_THAT(r.lines("bad")[0], HasSubstr(R"("other":"x")"));
    EXPECT_THAT(r.lines("bad")[0], HasSubstr(R"("error":"key field 'k' is missing")"));
    EXPECT_THAT(r.lines("bad")[0], HasSubstr(R"("error_component":"p")"));
    const auto& metrics = r.job->metrics().components();
    EXPECT_EQ(metrics[1]->name, "p");
    EXPECT_EQ(metrics[1]->records_in.load(), 2u);
    EXPECT_EQ(metrics[1]->errors.load(), 1u);
}

TEST_F(JobTest, AnOperatorThatThrowsFailsTheJobNamingIt) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1}, {ts: 2, boom: true}]}
operators:
  t: {type: thrower, input: in}
sinks:
  out: {type: collect, input: t}
)");
    EXPECT_FALSE(r.status.is_ok());
    EXPECT_THAT(r.status.message(), HasSubstr("operator 't' (thrower) threw in process(): kaboom"));
}

TEST_F(JobTest, FanOutDeliversEveryRecordToEveryConsumer) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, v: 1}, {ts: 2, v: 2}]}
sinks:
  a: {type: collect, input: in}
  b: {type: collect, input: in}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_EQ(r.lines("a"), r.lines("b"));
    EXPECT_EQ(r.lines("a").size(), 2u);
}

TEST_F(JobTest, KeyedResultsAreTheSameAtEveryParallelism) {
    std::string records;
    for (int i = 0; i < 200; ++i) {
        records += "{ts: " + std::to_string(1000 * i) + ", k: k" + std::to_string(i % 17) + "}, ";
    }
    auto run = [&](int parallelism) {
        auto r = run_yaml("parallelism: " + std::to_string(parallelism) +
                          "\nsources:\n  in: {type: memory, records: [" + records +
                          "]}\noperators:\n  p: {type: probe, input: in, key: k, delay: 500ms}\n"
                          "sinks:\n  out: {type: collect, input: p}\n");
        EXPECT_TRUE(r.status.is_ok()) << r.status.message();
        std::vector<std::string> lines = r.lines("out");
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    auto one = run(1);
    EXPECT_EQ(one.size(), 201u);
    auto three = run(3);
    // Each shard closes once; timer outputs are identical as a multiset.
    three.erase(std::remove(three.begin(), three.end(), R"({"event":"closed"})"), three.end());
    one.erase(std::remove(one.begin(), one.end(), R"({"event":"closed"})"), one.end());
    EXPECT_EQ(one, three);
}

TEST_F(JobTest, StopRequestEndsAnEndlessJobAndClosesOperators) {
    Diagnostics diags;
    auto root = load_yaml_text(R"(
sources:
  gen: {type: generator, rate: 100000, seed: 1}
operators:
  f: {type: filter, input: gen, field: type, op: exists}
sinks:
  out: {type: null, input: f}
)",
                               "stop.yaml", diags);
    ASSERT_TRUE(root);
    auto topology = validate_topology(*root, testing::test_registry(), diags);
    ASSERT_TRUE(topology) << (diags.items().empty() ? "" : diags.items()[0].to_string());
    auto job = Job::create(*topology);
    ASSERT_TRUE(job.is_ok()) << job.status().message();
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        job.value()->request_stop();
    });
    Status s = job.value()->run();
    stopper.join();
    EXPECT_TRUE(s.is_ok()) << s.message();
    EXPECT_TRUE(job.value()->stopped_early());
    EXPECT_GT(job.value()->metrics().components()[0]->records_out.load(), 0u);
}

// A sink's `errors` output: what a sink could not write, with the reason.

const ComponentMetrics& metrics_of(const Job& job, const std::string& name) {
    for (const auto& m : job.metrics().components()) {
        if (m->name == name) {
            return *m;
        }
    }
    throw std::runtime_error("no component " + name);
}

TEST_F(JobTest, RecordsASinkRejectsGoToItsErrorsOutputWithTheReason) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, n: 1}, {ts: 2, n: 2, bad: true}, {ts: 3, n: 3},
                               {ts: 4, n: 4, bad: true}]}
sinks:
  out: {type: reject, input: in}
  dead: {type: collect, input: out.errors}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":1,"n":1})", R"({"ts":3,"n":3})"));
    EXPECT_THAT(
        r.lines("dead"),
        ElementsAre(R"({"ts":2,"n":2,"bad":true,"error":"bad record","error_component":"out"})",
                    R"({"ts":4,"n":4,"bad":true,"error":"bad record","error_component":"out"})"));
    EXPECT_EQ(metrics_of(*r.job, "out").records_in.load(), 4u);
    EXPECT_EQ(metrics_of(*r.job, "out").errors.load(), 2u);
    EXPECT_EQ(metrics_of(*r.job, "dead").records_in.load(), 2u);
}

TEST_F(JobTest, RecordsASinkRejectsWhenItClosesReachAnOperatorThatReadsItsErrors) {
    // As a producer's delivery reports do, the sink rejects at flush(), which
    // close() calls: the filter reading `out.errors` must still be open.
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, t: a, bad: true}, {ts: 2, t: b, bad: true}, {ts: 3, t: a}]}
operators:
  retry: {type: filter, input: out.errors, field: t, value: a}
sinks:
  out: {type: reject, input: in, when: flush}
  dead: {type: collect, input: retry}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":3,"t":"a"})"));
    EXPECT_THAT(r.lines("dead"), ElementsAre(R"({"ts":1,"t":"a","bad":true,"error":"bad record",)"
                                             R"("error_component":"out"})"));
}

TEST_F(JobTest, RecordsASinkRejectsAtACheckpointInAParallelJobAreWrittenBeforeItCompletes) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("eddy_job_reject_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    std::string records;
    for (int i = 0; i < 2000; ++i) {
        records += "{ts: " + std::to_string(i) + ", n: " + std::to_string(i) +
                   (i % 10 == 0 ? ", bad: true" : "") + "}, ";
    }
    // The source stays open (idle) so that checkpoints, not the end of the
    // input, flush the sink; the job stops after a few of them.
    auto r =
        run_yaml("parallelism: 2\nstate: {dir: " + dir.string() +
                     ", checkpoint_interval: 100ms}\n"
                     "sources:\n  in: {type: memory, then_idle: true, records: [" +
                     records +
                     "]}\n"
                     "operators:\n  pass: {type: filter, input: in, field: n, op: ne, value: -1}\n"
                     "sinks:\n  out: {type: reject, input: pass, when: flush}\n"
                     "  dead: {type: collect, input: out.errors}\n",
                 {}, 450);
    uint64_t checkpoints = r.job ? r.job->checkpoints() : 0;
    fs::remove_all(dir);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_EQ(r.lines("out").size(), 1800u);
    EXPECT_EQ(r.lines("dead").size(), 200u);
    EXPECT_EQ(metrics_of(*r.job, "out").errors.load(), 200u);
    EXPECT_GE(checkpoints, 2u);
}

TEST_F(JobTest, OnlyTheErrorsOutputOfASinkCanBeRead) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1}]}
sinks:
  out: {type: collect, input: in}
  copy: {type: collect, input: out}
)");
    EXPECT_FALSE(r.status.is_ok());
    EXPECT_THAT(r.diagnostics, HasSubstr("is a sink, whose only output is `errors`"));
}

}  // namespace
}  // namespace eddy
