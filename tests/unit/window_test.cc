// SPDX-License-Identifier: Apache-2.0
// The `window` operator, built from YAML through its real spec, with
// hand-computed expected outputs; and its state codec.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "time/timer_service.h"
#include "window/aggregates.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::run_yaml;

/// One record per poll, so the watermark (max ts - 1 with the default
/// out-of-orderness of 0s) advances after every record.
JobOptions record_by_record() {
    JobOptions options;
    options.batch_size = 1;
    return options;
}

/// A topology: memory source with `records`, the window `body`, collect sinks
/// `out` (main), `late` and `errors`.
std::string topology(const std::string& records, const std::string& body) {
    return "sources:\n  in: {type: memory, records: [" + records +
           "]}\noperators:\n  w:\n    type: window\n    input: in\n" + body +
           "sinks:\n  out: {type: collect, input: w}\n  late: {type: collect, input: w.late}\n"
           "  errors: {type: collect, input: w.errors}\n";
}

uint64_t late_count(testing::RunResult& r) {
    for (const auto& c : r.job->metrics().components()) {
        if (c->name == "w") {
            return c->late.load();
        }
    }
    return 0;
}

TEST(WindowTest, TumblingWindowsAreStartInclusiveEndExclusive) {
    auto r =
        run_yaml(topology("{ts: 0, k: a}, {ts: 999, k: a}, {ts: 1000, k: a}, "
                          "{ts: 1001, k: b}, {ts: 2500, k: a}",
                          "    key: k\n    size: 1s\n    aggregations: {events: {op: count}}\n"),
                 record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // ts 1000 is one millisecond past [0, 1000): it opens the next window.
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"key":"a","events":2})",
                            R"({"window_start":1000,"window_end":2000,"key":"a","events":1})",
                            R"({"window_start":1000,"window_end":2000,"key":"b","events":1})",
                            R"({"window_start":2000,"window_end":3000,"key":"a","events":1})"));
    EXPECT_THAT(r.lines("late"), IsEmpty());
}

TEST(WindowTest, AWindowFiresWhenTheWatermarkReachesItsEndMinusOne) {
    // ts 999 alone gives watermark 998: nothing fires; ts 1000 gives 999: [0, 1000) fires
    // before the next record (ts 1000 itself is in [1000, 2000)), which is still on time.
    auto r = run_yaml(topology("{ts: 500, k: a}, {ts: 999, k: a}, {ts: 1000, k: a}, "
                               "{ts: 1000, k: a}",
                               "    key: k\n    size: 1s\n    aggregations: {n: {op: count}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"key":"a","n":2})",
                            R"({"window_start":1000,"window_end":2000,"key":"a","n":2})"));
}

TEST(WindowTest, SeveralAggregationsOverAGlobalWindowWithOutOfOrderEvents) {
    std::string records =
        "{ts: 1000, dwell: 10, url: /a, user: u1}, {ts: 3000, dwell: 30, url: /b, user: u2}, "
        "{ts: 500, url: /early, user: u2}, {ts: 2000, dwell: 10, url: /c, user: u1}, "
        "{ts: 4000, url: /d, user: u3}, {ts: 9999, dwell: 30, user: u1}, "
        "{ts: 10000, dwell: 7, url: /z, user: u9}";
    auto r = run_yaml(topology(records, R"(    size: 10s
    aggregations:
      events: {op: count}
      with_dwell: {op: count, field: dwell}
      total: {op: sum, field: dwell}
      mean: {op: avg, field: dwell}
      low: {op: min, field: dwell}
      high: {op: max, field: dwell}
      spread: {op: stddev, field: dwell}
      p50: {op: quantile, field: dwell, q: 0.5}
      p90: {op: quantile, field: dwell, q: 0.9}
      users: {op: distinct, field: user}
      first_url: {op: first, field: url}
      last_url: {op: last, field: url}
)"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // dwell in [0, 10s) = {10, 30, 10, 30}: mean 20, population stddev 10; sorted
    // 10 10 30 30, p50 = x_2 = 10, p90 = x_4 = 30. first url by event time is the
    // out-of-order /early (ts 500); last is /d (ts 9999 has no url).
    EXPECT_THAT(
        r.lines("out"),
        ElementsAre(
            R"({"window_start":0,"window_end":10000,"events":6,"with_dwell":4,"total":80,)"
            R"("mean":20.0,"low":10,"high":30,"spread":10.0,"p50":10.0,"p90":30.0,"users":3,)"
            R"("first_url":"/early","last_url":"/d"})",
            R"({"window_start":10000,"window_end":20000,"events":1,"with_dwell":1,"total":7,)"
            R"("mean":7.0,"low":7,"high":7,"spread":0.0,"p50":7.0,"p90":7.0,"users":1,)"
            R"("first_url":"/z","last_url":"/z"})"));
}

TEST(WindowTest, DoublesMakeNumericResultsDoublesAndMissingValuesGiveNull) {
    auto r = run_yaml(topology("{ts: 1, v: 1}, {ts: 2, v: 2.5}, {ts: 3, other: x}, {ts: 1500}",
                               R"(    size: 1s
    aggregations:
      total: {op: sum, field: v}
      low: {op: min, field: v}
      first_other: {op: first, field: other}
      n: {op: count}
)"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"total":3.5,"low":1.0,)"
                            R"("first_other":"x","n":3})",
                            R"({"window_start":1000,"window_end":2000,"total":null,"low":null,)"
                            R"("first_other":null,"n":1})"));
}

TEST(WindowTest, SlidingWindowsAreBuiltFromGcdPanes) {
    // size 3s, slide 2s: windows start at multiples of 2s, panes are gcd = 1s.
    // 500 is in [-2000, 1000) and [0, 3000); 2500 in [0, 3000) and [2000, 5000).
    auto r = run_yaml(topology("{ts: 500, k: a, v: 1}, {ts: 1500, k: a, v: 2}, "
                               "{ts: 2500, k: a, v: 4}, {ts: 4200, k: a, v: 8}",
                               "    key: k\n    size: 3s\n    slide: 2s\n"
                               "    aggregations: {n: {op: count}, total: {op: sum, field: v}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(
        r.lines("out"),
        ElementsAre(R"({"window_start":-2000,"window_end":1000,"key":"a","n":1,"total":1})",
                    R"({"window_start":0,"window_end":3000,"key":"a","n":3,"total":7})",
                    R"({"window_start":2000,"window_end":5000,"key":"a","n":2,"total":12})",
                    R"({"window_start":4000,"window_end":7000,"key":"a","n":1,"total":8})"));
}

TEST(WindowTest, SlidingWindowsSkipEmptyWindowsAndMergeDistinctAcrossPanes) {
    // size 2s, slide 1s. Users u1 u2 in [0, 1s), u2 u3 in [1s, 2s): [0, 2s) has 3.
    // Nothing happens between 2s and 10s, so no window is emitted there.
    auto r = run_yaml(topology("{ts: 100, u: u1}, {ts: 200, u: u2}, {ts: 1100, u: u2}, "
                               "{ts: 1200, u: u3}, {ts: 10100, u: u1}",
                               "    size: 2s\n    slide: 1s\n"
                               "    aggregations: {users: {op: distinct, field: u}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":-1000,"window_end":1000,"users":2})",
                            R"({"window_start":0,"window_end":2000,"users":3})",
                            R"({"window_start":1000,"window_end":3000,"users":2})",
                            R"({"window_start":9000,"window_end":11000,"users":1})",
                            R"({"window_start":10000,"window_end":12000,"users":1})"));
}

TEST(WindowTest, OutputEventTimeIsWindowEndMinusOne) {
    // A second, global window of 1s counts the first one's outputs: [0, 1000)
    // results (time 999) land in [0, 1000), not in [1000, 2000).
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 10, k: a}, {ts: 20, k: b}, {ts: 1500, k: a}]}
operators:
  w: {type: window, input: in, key: k, size: 1s, aggregations: {n: {op: count}}}
  per_second: {type: window, input: w, size: 1s, aggregations: {windows: {op: count}}}
sinks:
  out: {type: collect, input: per_second}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"windows":2})",
                            R"({"window_start":1000,"window_end":2000,"windows":1})"));
}

TEST(WindowTest, LateEventsGoToTheLateOutputWithSideOutput) {
    auto r = run_yaml(topology("{ts: 100, k: a}, {ts: 1200, k: a}, {ts: 999, k: a}, "
                               "{ts: 1000, k: a}",
                               "    key: k\n    size: 1s\n    aggregations: {n: {op: count}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    // ts 999 arrives at watermark 1199, after [0, 1000) fired: late by 200ms.
    // ts 1000 belongs to [1000, 2000), still open.
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"key":"a","n":1})",
                            R"({"window_start":1000,"window_end":2000,"key":"a","n":2})"));
    EXPECT_THAT(r.lines("late"), ElementsAre(R"({"ts":999,"k":"a","lateness_ms":200})"));
    EXPECT_EQ(late_count(r), 1u);
}

TEST(WindowTest, AllowedLatenessDelaysTheSingleResultWithSideOutput) {
    // allowed_lateness 500ms: [0, 1000) fires at watermark 1499, so ts 900 (at
    // watermark 1199) is included, and ts 950 (at watermark 1599) is late by 649ms.
    auto r = run_yaml(topology("{ts: 100, k: a}, {ts: 1200, k: a}, {ts: 900, k: a}, "
                               "{ts: 1600, k: a}, {ts: 950, k: a}",
                               "    key: k\n    size: 1s\n    allowed_lateness: 500ms\n"
                               "    aggregations: {n: {op: count}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"key":"a","n":2})",
                            R"({"window_start":1000,"window_end":2000,"key":"a","n":2})"));
    EXPECT_THAT(r.lines("late"), ElementsAre(R"({"ts":950,"k":"a","lateness_ms":649})"));
}

TEST(WindowTest, DropCountsLateEventsWithoutEmittingThem) {
    auto r = run_yaml(topology("{ts: 100, k: a}, {ts: 1200, k: a}, {ts: 999, k: a}",
                               "    key: k\n    size: 1s\n    on_late: drop\n"
                               "    aggregations: {n: {op: count}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":0,"window_end":1000,"key":"a","n":1})",
                            R"({"window_start":1000,"window_end":2000,"key":"a","n":1})"));
    EXPECT_THAT(r.lines("late"), IsEmpty());
    EXPECT_EQ(late_count(r), 1u);
}

TEST(WindowTest, UpdateReEmitsCorrectedWindowsWithRevisions) {
    // allowed_lateness 1s under update: [0, 1000) fires at watermark 999 with
    // revision 0 and keeps its panes until watermark 1999.
    std::string records =
        "{ts: 100, k: a, v: 1}, {ts: 1200, k: a, v: 2}, "  // wm 1199: [0,1000) a rev 0
        "{ts: 900, k: a, v: 4}, "                          // late: [0,1000) a rev 1
        "{ts: 300, k: b, v: 64}, "  // late, b had no result yet: [0,1000) b rev 0
        "{ts: 2100, k: a, v: 8}, "  // wm 2099: [1000,2000) a rev 0; panes < 1000 gone
        "{ts: 950, k: a, v: 16}, "  // too late to correct: goes to `late`
        "{ts: 1500, k: a, v: 32}";  // late: [1000,2000) a rev 1
    auto r = run_yaml(topology(records,
                               "    key: k\n    size: 1s\n    allowed_lateness: 1s\n"
                               "    on_late: update\n    aggregations: "
                               "{n: {op: count}, total: {op: sum, field: v}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(
        r.lines("out"),
        ElementsAre(
            R"({"window_start":0,"window_end":1000,"key":"a","n":1,"total":1,"revision":0})",
            R"({"window_start":0,"window_end":1000,"key":"a","n":2,"total":5,"revision":1})",
            R"({"window_start":0,"window_end":1000,"key":"b","n":1,"total":64,"revision":0})",
            R"({"window_start":1000,"window_end":2000,"key":"a","n":1,"total":2,"revision":0})",
            R"({"window_start":1000,"window_end":2000,"key":"a","n":2,"total":34,"revision":1})",
            R"({"window_start":2000,"window_end":3000,"key":"a","n":1,"total":8,"revision":0})"));
    EXPECT_THAT(r.lines("late"), ElementsAre(R"({"ts":950,"k":"a","v":16,"lateness_ms":1149})"));
    // Counted as late: 900, 300 and 1500 (applied) and 950 (side output).
    EXPECT_EQ(late_count(r), 4u);
}

TEST(WindowTest, UpdateReEmitsEverySlidingWindowTheLateEventIsIn) {
    // size 2s, slide 1s, allowed 2s. ts 1500 arrives at watermark 2999, after
    // [0, 2000) and [1000, 3000) fired: both are corrected; [-1000, 1000) is not hit.
    auto r = run_yaml(topology("{ts: 500}, {ts: 1600}, {ts: 3000}, {ts: 1500}",
                               "    size: 2s\n    slide: 1s\n    allowed_lateness: 2s\n"
                               "    on_late: update\n    aggregations: {n: {op: count}}\n"),
                      record_by_record());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"window_start":-1000,"window_end":1000,"n":1,"revision":0})",
                            R"({"window_start":0,"window_end":2000,"n":2,"revision":0})",
                            R"({"window_start":1000,"window_end":3000,"n":1,"revision":0})",
                            R"({"window_start":0,"window_end":2000,"n":3,"revision":1})",
                            R"({"window_start":1000,"window_end":3000,"n":2,"revision":1})",
                            R"({"window_start":2000,"window_end":4000,"n":1,"revision":0})",
                            R"({"window_start":3000,"window_end":5000,"n":1,"revision":0})"));
}

TEST(WindowTest, NonNumericValuesGoToErrorsOnceAndMissingOnesAreSkipped) {
    auto r = run_yaml(topology("{ts: 1, v: 5}, {ts: 2, v: abc}, {ts: 3}",
                               "    size: 1s\n    aggregations: {n: {op: count}, "
                               "total: {op: sum, field: v}, mean: {op: avg, field: v}, "
                               "p50: {op: quantile, field: v, q: 0.5}}\n"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"window_start":0,"window_end":1000,"n":2,)"
                                            R"("total":5,"mean":5.0,"p50":5.0})"));
    ASSERT_EQ(r.lines("errors").size(), 1u);
    EXPECT_THAT(r.lines("errors")[0],
                HasSubstr("field `v` must be a number for aggregation `total`, got string"));
}

TEST(WindowTest, QuantilesAreAccurateOverManyEvents) {
    // 0..9999 shuffled by a stride: p50 ~ 5000, p99 ~ 9900 within 1.5% of the range.
    std::string records;
    for (int i = 0; i < 10000; ++i) {
        records += "{ts: 1, v: " + std::to_string((i * 7919) % 10000) + "}, ";
    }
    auto r = run_yaml(topology(records,
                               "    size: 1s\n    aggregations: {p50: {op: quantile, "
                               "field: v, q: 0.5}, p99: {op: quantile, field: v, "
                               "q: 0.99}, users: {op: distinct, field: v}}\n"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    ASSERT_EQ(r.lines("out").size(), 1u);
    const std::string& line = r.lines("out")[0];
    auto number_after = [&](const std::string& key) {
        return std::stod(line.substr(line.find("\"" + key + "\":") + key.size() + 3));
    };
    EXPECT_NEAR(number_after("p50"), 5000, 150);
    EXPECT_NEAR(number_after("p99"), 9900, 150);
    EXPECT_NEAR(number_after("users"), 10000, 200);
}

TEST(WindowTest, RulesExplainBadAggregations) {
    auto diagnostics = [](const std::string& body) {
        return run_yaml(topology("{ts: 1}", "    size: 1m\n" + body)).diagnostics;
    };
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: averge, field: x}}\n"),
                HasSubstr("aggregation `m` has unknown op `averge`; did you mean `avg`?"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: mean, field: x}}\n"),
                HasSubstr("unknown op `mean`; did you mean `avg`?"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: p90, field: x}}\n"),
                HasSubstr("write `{op: quantile, field: ..., q: 0.9}`"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: sum}}\n"),
                HasSubstr("aggregation `m` (op `sum`) needs a `field`"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: quantile, field: x, q: 1.5}}\n"),
                HasSubstr("`q` must be a number strictly between 0 and 1"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: quantile, field: x}}\n"),
                HasSubstr("needs `q`"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: avg, field: x, q: 0.5}}\n"),
                HasSubstr("`q` only applies to op `quantile`"));
    EXPECT_THAT(diagnostics("    aggregations: {m: {op: avg, feild: x}}\n"),
                HasSubstr("unknown key `feild`; did you mean `field`?"));
    EXPECT_THAT(diagnostics("    aggregations: {window_end: {op: count}}\n"),
                HasSubstr("uses a name the window sets itself"));
    EXPECT_THAT(diagnostics("    aggregations: {}\n"), HasSubstr("`aggregations` is empty"));
    EXPECT_THAT(diagnostics("    slide: 2m\n    aggregations: {n: {op: count}}\n"),
                HasSubstr("`slide` (2m) must not exceed `size` (1m)"));
    EXPECT_THAT(diagnostics("    slide: 7ms\n    aggregations: {n: {op: count}}\n"),
                HasSubstr("needs 60000 panes of 1ms"));
    EXPECT_EQ(diagnostics("    slide: 20s\n    aggregations: {n: {op: count}}\n"), "");
}

TEST(WindowTest, KeyedResultsAreTheSameAtEveryParallelism) {
    std::string records;
    for (int i = 0; i < 300; ++i) {
        records += "{ts: " + std::to_string(37 * i) + ", k: k" + std::to_string(i % 11) +
                   ", v: " + std::to_string(i % 7) + "}, ";
    }
    auto run = [&](int parallelism) {
        auto r = run_yaml("parallelism: " + std::to_string(parallelism) + "\n" +
                          topology(records,
                                   "    key: k\n    size: 2s\n    slide: 500ms\n"
                                   "    aggregations: {n: {op: count}, "
                                   "s: {op: sum, field: v}, d: {op: distinct, "
                                   "field: v}, l: {op: last, field: v}}\n"));
        EXPECT_TRUE(r.status.is_ok()) << r.status.message();
        std::vector<std::string> lines = r.lines("out");
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    auto one = run(1);
    EXPECT_FALSE(one.empty());
    EXPECT_EQ(one, run(3));
}

/// Drives one window operator directly (no job), so a test can snapshot its
/// registered state and pending timers into a second instance mid-stream.
class Driver final : public OpenContext, public Emitter {
public:
    explicit Driver(const std::string& body) {
        Diagnostics diags;
        auto root = load_yaml_text(topology("{ts: 1}", body), "driver.yaml", diags);
        auto topo = validate_topology(*root, testing::test_registry(), diags);
        EXPECT_TRUE(topo.has_value());
        const ComponentDef& def = topo->components[static_cast<size_t>(topo->find("w"))];
        op_ = std::move(def.spec->make_operator(def.config).value());
        EXPECT_TRUE(op_->open(*this).is_ok());
    }

    std::string_view name() const override { return "w"; }
    FieldId field(std::string_view n) override { return fields().intern(n); }
    std::string_view field_name(FieldId id) const override { return fields().name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view n) override { return n == "late" ? 1 : 2; }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle& s) override { states_.push_back(&s); }

    Record& append(OutputId) override { return out_.append(); }
    void emit(const Record& r, OutputId) override { out_.append_copy(r); }
    void error(const Record&, std::string_view) override {}
    void late(const Record&, int64_t, LatePolicy) override {}

    void feed(int64_t ts, std::string_view key, int64_t v) {
        Batch in;
        Record& r = in.append();
        r.set(field("k"), key);
        r.set(field("v"), v);
        r.set_time(ts);
        r.set_key(*r.get(field("k")));
        op_->process(r, *this);
    }
    void advance(int64_t wm) {
        timers_.set_watermark(wm);
        timers_.fire_due(TimeDomain::kEventTime, wm,
                         [&](const Timer& t) { op_->on_timer(t, *this); });
        op_->on_watermark(wm, *this);
    }
    /// The outputs so far as JSON lines, then forgets them.
    std::vector<std::string> drain() {
        JsonEncoder encoder([](FieldId id) { return fields().name(id); });
        std::vector<std::string> lines;
        for (size_t i = 0; i < out_.size(); ++i) {
            encoder.append(out_[i], lines.emplace_back());
        }
        out_.clear();
        return lines;
    }
    /// Copies every registered state and the pending timers into `other`.
    void snapshot_into(Driver& other) const {
        ASSERT_EQ(states_.size(), other.states_.size());
        for (size_t i = 0; i < states_.size(); ++i) {
            other.states_[i]->clear();
            states_[i]->snapshot([&](std::string_view k, std::string_view v) {
                EXPECT_TRUE(other.states_[i]->restore(k, v));
            });
        }
        other.timers_ = timers_;
    }
    size_t state_entries() const { return states_.empty() ? 0 : states_[0]->size(); }

private:
    static FieldTable& fields() {
        static FieldTable table;
        return table;
    }
    ManualClock clock_;
    TimerService timers_;
    std::vector<StateHandle*> states_;
    Batch out_;
    std::unique_ptr<Operator> op_;
};

TEST(WindowStateTest, AnInstanceRestoredMidStreamContinuesIdentically) {
    const std::string body =
        "    key: k\n    size: 2s\n    slide: 1s\n    allowed_lateness: 1s\n"
        "    on_late: update\n    aggregations: {n: {op: count}, s: {op: sum, field: v}, "
        "p: {op: quantile, field: v, q: 0.5}, d: {op: distinct, field: v}, "
        "f: {op: first, field: v}, l: {op: last, field: v}}\n";
    Driver original(body);
    original.feed(100, "a", 1);
    original.feed(1500, "b", 2);
    original.feed(1700, "a", 3);
    original.advance(1999);      // fires [0, 2000) and [-1000, 1000)
    original.feed(800, "a", 4);  // late: updates [0, 2000)
    EXPECT_EQ(original.state_entries(), 2u);
    original.drain();

    Driver restored(body);
    original.snapshot_into(restored);
    for (Driver* d : {&original, &restored}) {
        d->feed(2500, "a", 5);
        d->feed(1200, "b", 6);  // late: updates [0, 2000) of b
        d->advance(3500);
        d->feed(3900, "b", 7);
        d->advance(kEndOfTime);
    }
    std::vector<std::string> expected = original.drain();
    // b [0, 2000) rev 1; a and b [1000, 3000); a [2000, 4000); b [2000, 4000), [3000, 5000).
    EXPECT_EQ(expected.size(), 6u);
    EXPECT_EQ(restored.drain(), expected);
    EXPECT_EQ(original.state_entries(), 0u);  // everything expired at the end
    EXPECT_EQ(restored.state_entries(), 0u);
}

TEST(WindowStateTest, KeyWindowsCodecRoundTripsEverySlotKind) {
    using namespace window;
    std::vector<SlotKind> kinds = {SlotKind::kMoments,  SlotKind::kPresence, SlotKind::kQuantiles,
                                   SlotKind::kDistinct, SlotKind::kFirst,    SlotKind::kLast};
    KeyWindows kw;
    kw.layout = 42;
    kw.emitted_end = -5000;
    kw.timer_at = 1999;
    kw.revisions = {{1000, 2}, {2000, 0}};
    for (int64_t start : {-1000, 0, 1000}) {
        Pane& p = kw.panes.emplace_back();
        p.start = start;
        p.count = 3;
        for (SlotKind k : kinds) {
            p.slots.push_back(make_slot(k));
        }
        std::get<Moments>(p.slots[0]).add(Value::integer(start), true);
        std::get<Moments>(p.slots[0]).add(Value::number(2.5), true);
        std::get<Presence>(p.slots[1]).n = 7;
        for (int i = 0; i < 1000; ++i) {
            std::get<QuantileSketch>(p.slots[2]).add(i);
            std::get<HyperLogLog>(p.slots[3]).add(Value::integer(i));
        }
        std::get<Pick>(p.slots[4]).offer_first(Value::string_view("page"), start);
        std::get<Pick>(p.slots[5]).offer_last(Value::number(start + 0.5), start + 9);
    }
    kw.panes[2].slots[4] = Pick{};  // an unset first

    std::string bytes = encode_state(kw);
    KeyWindows back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_EQ(back.layout, 42u);
    EXPECT_EQ(back.emitted_end, -5000);
    EXPECT_EQ(back.timer_at, 1999);
    EXPECT_EQ(back.revisions, kw.revisions);
    ASSERT_EQ(back.panes.size(), 3u);
    EXPECT_EQ(back.panes[0].start, -1000);

    // The decoded panes aggregate like the originals.
    Pane a;
    Pane b;
    reset_pane(a, kinds);
    reset_pane(b, kinds);
    for (size_t i = 0; i < 3; ++i) {
        merge_pane(a, kw.panes[i], kinds);
        merge_pane(b, back.panes[i], kinds);
    }
    EXPECT_EQ(a.count, 9u);
    EXPECT_EQ(std::get<Moments>(b.slots[0]).sum, std::get<Moments>(a.slots[0]).sum);
    EXPECT_EQ(std::get<Moments>(b.slots[0]).m2, std::get<Moments>(a.slots[0]).m2);
    EXPECT_EQ(std::get<QuantileSketch>(b.slots[2]).quantile(0.5),
              std::get<QuantileSketch>(a.slots[2]).quantile(0.5));
    EXPECT_EQ(std::get<HyperLogLog>(b.slots[3]).estimate(),
              std::get<HyperLogLog>(a.slots[3]).estimate());
    EXPECT_EQ(std::get<Pick>(b.slots[4]).value.s, "page");
    EXPECT_EQ(std::get<Pick>(b.slots[4]).time, -1000);
    EXPECT_EQ(std::get<Pick>(b.slots[5]).value.d, 1000.5);

    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 3), back));
}

TEST(WindowStateTest, MomentsMergeMatchesASinglePass) {
    window::Moments all;
    window::Moments left;
    window::Moments right;
    for (int i = 0; i < 100; ++i) {
        Value v = Value::number(std::sin(i) * 100);
        all.add(v, true);
        (i < 37 ? left : right).add(v, true);
    }
    left.merge(right);
    EXPECT_EQ(left.n, all.n);
    EXPECT_NEAR(left.mean, all.mean, 1e-9);
    EXPECT_NEAR(left.m2, all.m2, 1e-6);
    EXPECT_EQ(left.min, all.min);
    EXPECT_EQ(left.max, all.max);
}

}  // namespace
}  // namespace eddy
