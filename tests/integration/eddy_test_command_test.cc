// SPDX-License-Identifier: Apache-2.0
// `eddy test` (docs/testing.md): the binary on passing and failing cases of
// every step and expectation kind, malformed test files and exit codes; and
// the runner in-process with an operator that uses processing-time timers.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"
#include "process.h"
#include "testing/runner.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;

// Sources and sinks name paths that do not exist: a test never opens them.
constexpr char kTopology[] = R"(name: sessions
sources:
  clicks:
    type: file
    path: /nonexistent/eddy-test/clicks.jsonl
    event_time: {field: ts, unit: ms}
    watermark: {max_out_of_orderness: 0s}
operators:
  humans: {type: bot_filter, input: clicks, key: user_id}
  sessions: {type: sessionizer, input: humans, key: user_id, key_field: user_id, gap: 30m}
  minute:
    type: window
    input: humans
    key: user_id
    size: 1m
    aggregations: {events: {op: count}, dwell: {op: avg, field: dwell_ms}}
  clicks_only: {type: filter, input: humans, field: type, op: eq, value: click}
sinks:
  sessions_out: {type: file, input: sessions, path: /nonexistent/eddy-test/sessions.jsonl}
  minute_out: {type: file, input: minute, path: /nonexistent/eddy-test/minute.jsonl}
  clicks_out: {type: file, input: clicks_only, path: /nonexistent/eddy-test/clicks.jsonl}
  rest: {type: null, inputs: [humans.bots, clicks_only.rejected, sessions.late, minute.late, humans.late, clicks.errors]}
)";

// Two events of u1 one minute apart (dwell 100 and 200), one of u2.
constexpr char kInput[] = R"(      - input:
          to: clicks
          records:
            - {ts: 0, user_id: u1, type: page_view, dwell_ms: 100, url: /a}
            - {ts: 30000, user_id: u1, type: click, dwell_ms: 200, url: /b}
            - {ts: 40000, user_id: u2, type: click, dwell_ms: 50, url: /a}
)";

class EddyTestCommand : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_test_command_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "fixtures");
        write("sessions.yaml", kTopology);
    }
    void TearDown() override { fs::remove_all(dir_); }

    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name) << text;
    }

    testing::ProgramOutcome eddy(std::vector<std::string> args) {
        args.insert(args.begin(), {EDDY_BINARY, "test"});
        return testing::run_program(args, {}, dir_.string());
    }

    /// "sessions_test.yaml:LINE:" for the line of the test file holding `marker`.
    std::string at(const std::string& test_file, const std::string& marker) {
        std::ifstream in(dir_ / test_file);
        std::string line;
        for (int n = 1; std::getline(in, line); ++n) {
            if (line.find(marker) != std::string::npos) {
                return test_file + ":" + std::to_string(n) + ":";
            }
        }
        ADD_FAILURE() << "no line with " << marker;
        return "?";
    }

    fs::path dir_;
};

TEST_F(EddyTestCommand, EveryStepAndExpectationKindPasses) {
    write("fixtures/u3.jsonl",
          "{\"ts\": 60000, \"user_id\": \"u3\", \"type\": \"click\", \"dwell_ms\": 10}\n\n"
          "{\"ts\": 61000, \"user_id\": \"u3\", \"type\": \"click\", \"dwell_ms\": 30}\n");
    write("sessions_test.yaml", std::string(R"(topology: sessions.yaml
tests:
  - name: records, counts, conditions and state before the gap
    steps:
)") + kInput + R"(      - advance_watermark: 29m
    expect:
      - output: sessions_out
        empty: true
      - output: clicks_out
        records:
          - {ts: 30000, user_id: u1, type: click, dwell_ms: 200, url: /b}
          - {ts: 40000, user_id: u2, type: click, dwell_ms: 50, url: /a}
      - output: minute_out
        count: 2
        contains:
          - {key: u2, events: 1}
          - {key: u1, events: 2, dwell: {approx: 150, tolerance: 0.001}}
        where:
          window_start: 0
          window_end: {equals: 60000}
          events: {min: 1, max: 2}
          key: {exists: true}
          missing: {exists: false}
      - state: {operator: sessions, key: u1, exists: true}
      - state: {operator: sessions, key: u9, exists: false}
  - name: the watermark closes sessions; an absolute watermark works too
    steps:
)" + kInput + R"(      - watermark: 1970-01-01T00:30:35Z
    expect:
      - output: sessions_out
        count: 1
        contains: [{user_id: u1, events: 2, clicks: 1, page_views: 1, session_id: "u1:0"}]
      - state: {operator: sessions, key: u1, exists: false}
      - state: {operator: sessions, key: u2, exists: true}
  - name: records sent to an operator skip what is upstream of it
    steps:
      - input: {to: clicks_only, records: [{ts: 5, user_id: bot, type: click}]}
      - input: {to: sessions, records: [{ts: 7, user_id: u5, type: purchase}]}
      - end_of_input
    expect:
      - output: clicks_out
        records: [{ts: 5, user_id: bot, type: click}]
      - output: humans
        empty: true
      - output: sessions_out
        where: {user_id: u5, converted: true, start: 7}
  - name: fixture files and lines, decoded as the source decodes
    steps:
      - input: {to: clicks, file: fixtures/u3.jsonl}
      - input: {to: clicks, lines: ['{"ts": 62000, "user_id": "u3", "type": "click"}', '{"ts":']}
      - end_of_input
    expect:
      - output: clicks_out
        count: 3
      - output: clicks.errors
        count: 1
        where: {error_position: 2}
      - output: minute_out
        records:
          - {window_start: 60000, window_end: 120000, key: u3, events: 3, dwell: 20}
  - name: a quoted key is a string; a quoted value is a string
    steps:
      - input: {to: clicks, records: [{ts: 0, user_id: "42", type: click, url: "7"}]}
    expect:
      - output: clicks_out
        where: {user_id: "42", url: "7"}
      - state: {operator: sessions, key: "42", exists: true}
)");
    testing::ProgramOutcome o = eddy({"sessions_test.yaml"});
    EXPECT_EQ(o.exit_code, 0) << o.both();
    EXPECT_NE(o.out.find("  PASS records, counts, conditions and state before the gap\n"),
              std::string::npos)
        << o.out;
    EXPECT_NE(o.out.find("5 cases: 5 passed, 0 failed"), std::string::npos) << o.both();
    // Given the topology, eddy test finds sessions_test.yaml beside it.
    testing::ProgramOutcome by_topology = eddy({"sessions.yaml", "sessions_test.yaml"});
    EXPECT_EQ(by_topology.exit_code, 0) << by_topology.both();
    EXPECT_NE(by_topology.out.find("5 cases: 5 passed, 0 failed"), std::string::npos)
        << by_topology.both();
}

TEST_F(EddyTestCommand, FailuresNameTheExpectationTheExpectedAndTheActualValue) {
    write("sessions_test.yaml", std::string(R"(topology: sessions.yaml
tests:
  - name: everything here fails
    steps:
)") + kInput + R"(      - advance_watermark: 1m
    expect:
      - output: sessions_out
        count: 1                                   # COUNT
      - output: clicks_out
        empty: true                                # EMPTY
      - output: minute_out
        where: {events: 1}                         # WHERE
      - output: minute_out
        contains:
          - {key: u1, dwell: {approx: 100, tolerance: 1}}   # APPROX
      - output: clicks_out
        records:                                   # RECORDS
          - {ts: 30000, user_id: u1, type: click, dwell_ms: 200, url: /b, extra: 1}
      - output: minute_out
        where: {key: {exists: false}}              # EXISTS
      - output: minute_out
        where: {events: {min: 3}}                  # MIN
      - state: {operator: sessions, key: u1, exists: false}   # STATE
      - state: {operator: sessions, key: u1, fields: {events: 5}}   # FIELDS
  - name: this one passes
    steps:
)" + kInput + R"(    expect:
      - output: clicks_out
        count: 2
)");
    testing::ProgramOutcome o = eddy({"sessions_test.yaml"});
    EXPECT_EQ(o.exit_code, 1) << o.both();
    const std::string& r = o.out;
    EXPECT_NE(r.find("  FAIL everything here fails (sessions_test.yaml:3:"), std::string::npos)
        << r;
    EXPECT_NE(r.find("  PASS this one passes"), std::string::npos) << r;
    EXPECT_NE(r.find("2 cases: 1 passed, 1 failed"), std::string::npos) << r;
    auto expect_line = [&](const std::string& marker, const std::string& message) {
        std::string want = at("sessions_test.yaml", marker);
        size_t line = r.find(want);
        ASSERT_NE(line, std::string::npos)
            << "no failure at " << want << " (" << marker << ") in:\n"
            << r;
        EXPECT_NE(r.find(message, line), std::string::npos) << message << " in:\n" << r;
    };
    expect_line("# COUNT", "output sessions_out: expected count 1, got 0");
    expect_line("# EMPTY", "output clicks_out: expected no records, got 2");
    expect_line("# WHERE", "output minute_out: record 1 field events: expected 1, got 2");
    expect_line("# APPROX",
                "output minute_out: expected a record matching {key: u1, dwell: {approx: 100, "
                "tolerance: 1}}, got none of 2 records");
    EXPECT_NE(r.find("field dwell: expected 100 ± 1, got 150"), std::string::npos) << r;
    EXPECT_NE(r.find("nearest: record "), std::string::npos) << r;
    expect_line("# RECORDS", "output clicks_out: expected 1 record, got 2");
    EXPECT_NE(r.find("record 1 field extra: expected 1, got nothing (no such field)"),
              std::string::npos)
        << r;
    expect_line("# EXISTS", "record 1 field key: expected no value, got \"");
    expect_line("# MIN", "field events: expected at least 3, got ");
    expect_line("# STATE", "state of 'sessions' for key u1: expected none, got {");
    expect_line("# FIELDS", "state of 'sessions' for key u1: field events: expected 5, got ");
}

TEST_F(EddyTestCommand, ContainsGivesEachPatternARecordOfItsOwnInAnyOrder) {
    // The first pattern matches both records and the second only the first:
    // they pass only if the first takes the second record.
    write("sessions_test.yaml", std::string(R"(topology: sessions.yaml
tests:
  - name: a broad pattern leaves the one record a narrow pattern needs
    steps:
)") + kInput + R"(    expect:
      - output: clicks_out
        contains: [{type: click}, {user_id: u1}]
  - name: two patterns cannot share the one record they match
    steps:
)" + kInput + R"(    expect:
      - output: clicks_out
        contains: [{user_id: u1}, {user_id: u1}]     # TWICE
)");
    testing::ProgramOutcome o = eddy({"sessions_test.yaml"});
    EXPECT_EQ(o.exit_code, 1) << o.both();
    EXPECT_NE(o.out.find("  PASS a broad pattern leaves"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("  FAIL two patterns cannot share"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find(at("sessions_test.yaml", "# TWICE")), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("1 record matches it, but another pattern needs it"), std::string::npos)
        << o.out;
}

TEST_F(EddyTestCommand, MalformedTestFilesAreReportedWithTheirPlace) {
    write("sessions_test.yaml", R"(topology: sessions.yaml
tests:
  - name: bad steps
    steps:
      - advance_watermarks: 10m
      - input: {to: nowhere, records: [{ts: 0}]}
      - advance_time: soon
    expect:
      - output: minute_out
        where: {events: {roughly: 2}}
      - output: humans.robots
        count: 1
      - state: {operator: clicks_only, key: u1, exists: true}
  - steps: []
    expect: []
)");
    testing::ProgramOutcome o = eddy({"sessions_test.yaml"});
    EXPECT_EQ(o.exit_code, 2) << o.both();
    const std::string& e = o.err;
    EXPECT_NE(e.find("sessions_test.yaml:5:9: error: unknown step 'advance_watermarks'"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("advance_watermark"), std::string::npos) << e;  // the hint
    EXPECT_NE(e.find("sessions_test.yaml:7:9: error: `advance_time` must be a duration like "
                     "`10m`, got `soon`"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("error: unknown condition 'roughly' on field `events`"), std::string::npos)
        << e;
    EXPECT_NE(e.find("a test case needs a `name`"), std::string::npos) << e;
    EXPECT_EQ(o.out.find("PASS"), std::string::npos) << "nothing runs: " << o.out;

    // Names are checked against the topology once the definitions are well formed.
    write("sessions_test.yaml", R"(topology: sessions.yaml
tests:
  - name: bad names
    steps:
      - input: {to: nowhere, records: [{ts: 0}]}
      - input: {to: minute_out, records: [{ts: 0}]}
    expect:
      - output: humans.robots
        count: 1
      - state: {operator: clicks_only, key: u1, exists: true}
)");
    o = eddy({"sessions_test.yaml"});
    EXPECT_EQ(o.exit_code, 2) << o.both();
    EXPECT_NE(o.err.find("sessions_test.yaml:5:9: error: the topology has no component named "
                         "'nowhere'"),
              std::string::npos)
        << o.err;
    EXPECT_NE(o.err.find("'minute_out' is a sink"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("sessions_test.yaml:8:9: error: component 'humans' has no output "
                         "'robots'"),
              std::string::npos)
        << o.err;
    EXPECT_NE(o.err.find("'clicks_only' is not a keyed operator"), std::string::npos) << o.err;
}

TEST_F(EddyTestCommand, UsageErrorsExitWithTwo) {
    testing::ProgramOutcome o = eddy({"sessions.yaml"});
    EXPECT_EQ(o.exit_code, 2) << o.both();
    EXPECT_NE(o.err.find("sessions.yaml has no tests"), std::string::npos) << o.err;
    o = eddy({"missing.yaml"});
    EXPECT_EQ(o.exit_code, 2) << o.both();
    o = testing::run_program({EDDY_BINARY, "test"}, {}, dir_.string());
    EXPECT_EQ(o.exit_code, 2) << o.both();
}

TEST_F(EddyTestCommand, ATestsBlockInTheTopologyIsRunAndIgnoredByValidate) {
    write("inline.yaml", std::string(kTopology) + R"(
tests:
  - name: inline
    steps:
      - input: {to: clicks, records: [{ts: 0, user_id: u1, type: click}]}
    expect:
      - output: clicks_out
        count: 1
)");
    testing::ProgramOutcome o = eddy({"inline.yaml"});
    EXPECT_EQ(o.exit_code, 0) << o.both();
    EXPECT_NE(o.out.find("  PASS inline"), std::string::npos) << o.out;
    o = testing::run_program({EDDY_BINARY, "validate", "inline.yaml"}, {}, dir_.string());
    EXPECT_EQ(o.exit_code, 0) << o.both();
}

TEST_F(EddyTestCommand, AnOperatorBehindARepartitionTopicReadsItsInputDirectly) {
    // scale_out: `items` keys by item, so it reads through a repartition
    // topic when run; a test touches no Kafka and feeds it directly.
    write("scaled.yaml", R"(name: scaled
state: {dir: /nonexistent/eddy-test/state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:1
    topics: [clicks]
    scale_out: kafka
    key_field: user_id
    event_time: {field: ts, unit: ms}
    watermark: {max_out_of_orderness: 0s}
operators:
  items:
    type: window
    input: clicks
    key: item_id
    size: 1m
    aggregations: {events: {op: count}}
sinks:
  items_out: {type: file, input: items, path: /nonexistent/eddy-test/items.jsonl}
  rest: {type: null, inputs: [items.late, clicks.errors]}
tests:
  - name: by item
    steps:
      - input:
          to: clicks
          records:
            - {ts: 0, user_id: u1, item_id: i1}
            - {ts: 1000, user_id: u2, item_id: i1}
            - {ts: 2000, user_id: u1, item_id: i2}
      - advance_watermark: 2m
    expect:
      - output: items_out
        count: 2
)");
    testing::ProgramOutcome o = eddy({"scaled.yaml"});
    EXPECT_EQ(o.exit_code, 0) << o.both();
    EXPECT_NE(o.out.find("  PASS by item"), std::string::npos) << o.both();
}

TEST_F(EddyTestCommand, ProcessingTimeMakesAnIdleSourceStopHoldingBackTheWatermark) {
    write("two.yaml", R"(name: two
sources:
  a: {type: file, path: /nonexistent/a, event_time: {field: ts, unit: ms}}
  b:
    type: file
    path: /nonexistent/b
    event_time: {field: ts, unit: ms}
    watermark: {idle_timeout: 1m}
operators:
  counts:
    type: window
    inputs: [a, b]
    size: 1m
    aggregations: {events: {op: count}}
sinks:
  out: {type: null, input: counts}
)");
    write("two_test.yaml", R"(tests:
  - name: b holds the window back while it is active
    steps:
      - input: {to: a, records: [{ts: 0}, {ts: 120000}]}
      - advance_time: 59s
    expect:
      - output: out
        empty: true
  - name: once b is idle, a's watermark fires the window
    steps:
      - input: {to: a, records: [{ts: 0}, {ts: 120000}]}
      - advance_time: 2m
    expect:
      - output: out
        records: [{window_start: 0, window_end: 60000, events: 1}]
  - name: records without event time take the clock's time
    clock: 1970-01-01T00:10:00Z
    steps:
      - input: {to: a, records: [{ts: 600000}]}
      - input: {to: b, records: [{ts: 600000}]}
      - watermark: 660000
    expect:
      - output: out
        records: [{window_start: 600000, window_end: 660000, events: 2}]
)");
    testing::ProgramOutcome o = eddy({"two_test.yaml"});
    EXPECT_EQ(o.exit_code, 0) << o.both();
    EXPECT_NE(o.out.find("3 cases: 3 passed, 0 failed"), std::string::npos) << o.both();
}

/// `ping`: on each record, a processing-time timer `delay` later for its
/// key; when it fires, a record {key, fired_at} (the clock's time).
class Ping final : public Operator {
public:
    explicit Ping(const Config& cfg) : delay_(cfg.duration("delay").count()) {}
    Status open(OpenContext& ctx) override {
        ctx_ = &ctx;
        key_ = ctx.field("key");
        fired_at_ = ctx.field("fired_at");
        return Status::ok();
    }
    void process(const Record& record, Emitter&) override {
        ctx_->timers().set(TimeDomain::kProcessingTime, record.key(),
                           ctx_->clock().now_ms() + delay_);
    }
    void on_timer(const Timer& timer, Emitter& out) override {
        Record& r = out.append();
        r.set(key_, timer.key.as_string());
        r.set(fired_at_, timer.time);
    }

private:
    int64_t delay_;
    OpenContext* ctx_ = nullptr;
    FieldId key_ = kInvalidField;
    FieldId fired_at_ = kInvalidField;
};

TEST(EddyTestRunner, AdvanceTimeFiresProcessingTimeTimers) {
    Registry registry = testing::test_registry();
    ASSERT_TRUE(registry
                    .add(OperatorSpec("ping")
                             .summary("Test: a processing-time timer per record.")
                             .keyed(KeyMode::kRequired)
                             .param(Param::duration("delay").required().doc("Delay."))
                             .factory(make_component<Operator, Ping>),
                         "tests")
                    .is_ok());
    std::string yaml = R"(name: ping
sources:
  in: {type: memory, records: []}
operators:
  ping: {type: ping, input: in, key: user_id, delay: 10s}
sinks:
  out: {type: collect, input: ping}
tests:
  - name: fires after ten seconds
    clock: 1000
    steps:
      - input: {to: in, records: [{user_id: u1}]}
      - advance_time: 9s
      - input: {to: ping, records: [{user_id: u2}]}
      - advance_time: 1s
    expect:
      - output: out
        records: [{key: u1, fired_at: 11000}]
  - name: fires in order over a long advance
    steps:
      - input: {to: in, records: [{user_id: u1}]}
      - advance_time: 5s
      - input: {to: in, records: [{user_id: u2}]}
      - advance_time: 1h
    expect:
      - output: out
        records: [{key: u1, fired_at: 10000}, {key: u2, fired_at: 15000}]
)";
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "ping.yaml", diags);
    ASSERT_TRUE(root);
    auto topology = validate_topology(*root, registry, diags);
    ASSERT_TRUE(topology) << (diags.items().empty() ? "" : diags.items()[0].to_string());
    auto cases = topology_tests::read_tests(*root->find("tests"), yaml, ".", diags);
    topology_tests::check_names(cases, *topology, diags);
    ASSERT_FALSE(diags.has_errors()) << diags.sorted()[0].to_string();
    ASSERT_EQ(cases.size(), 2u);
    for (const topology_tests::TestCase& c : cases) {
        topology_tests::CaseResult r = topology_tests::run_case(*topology, registry, c);
        EXPECT_TRUE(r.passed()) << topology_tests::render(r);
    }
}

}  // namespace
}  // namespace eddy
