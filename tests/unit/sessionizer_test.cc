// SPDX-License-Identifier: Apache-2.0
// sessionizer, built from YAML through its real spec: gaps, merges, max
// duration, lateness policies, annotate mode, state codec, and a property test
// against a reference implementation on generated and real data.
#include "sessionizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

/// The raw JSON text of `name` in a flat JSON object line (strings unquoted);
/// "<absent>" when the line has no such field.
std::string field_of(const std::string& line, const std::string& name) {
    std::string needle = "\"" + name + "\":";
    size_t at = line.find(needle);
    if (at == std::string::npos) {
        return "<absent>";
    }
    at += needle.size();
    if (line[at] == '"') {
        std::string out;
        for (size_t i = at + 1; i < line.size() && line[i] != '"'; ++i) {
            if (line[i] == '\\') {
                ++i;
            }
            out.push_back(line[i]);
        }
        return out;
    }
    size_t end = line.find_first_of(",}", at);
    return line.substr(at, end - at);
}

/// "id start..end xN" for each summary line: a compact view for assertions.
std::vector<std::string> brief(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (const std::string& l : lines) {
        out.push_back(field_of(l, "session_id") + " " + field_of(l, "start") + ".." +
                      field_of(l, "end") + " x" + field_of(l, "events"));
    }
    return out;
}

JobOptions one_record_per_poll() {
    JobOptions o;
    o.batch_size = 1;  // the watermark advances after every record
    return o;
}

/// A topology: memory source with `records` (and `watermark`), the sessionizer
/// `s` with `params`, and collect sinks `out`, `late` and `sessions`.
std::string topology(const std::string& records, const std::string& params,
                     const std::string& watermark = "{max_out_of_orderness: 0s}") {
    return "sources:\n  in: {type: memory, watermark: " + watermark + ", records: [" + records +
           "]}\noperators:\n  s: {type: sessionizer, input: in, key: user_id, " + params +
           "}\nsinks:\n  out: {type: collect, input: s}\n  late: {type: collect, input: "
           "s.late}\n  sessions: {type: collect, input: s.sessions}\n";
}

TEST(SessionizerTest, SummaryCarriesEveryFieldHandComputed) {
    auto r = run_yaml(topology(
        "{ts: 1000, user_id: u1, type: page_view, url: /a, dwell_ms: 100, scroll_pct: 0.5, "
        "device: mobile}, "
        "{ts: 5000, user_id: u2, type: search}, "
        "{ts: 61000, user_id: u1, type: click, url: /b, dwell_ms: 200, scroll_pct: 0.9}, "
        "{ts: 121000, user_id: u1, type: purchase, url: /c, dwell_ms: 2.6, device: desktop}",
        "key_field: user_id, counts: {click: clicks, purchase: purchases}"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // Both close at the end of input, in order of closing time (u2 first).
    EXPECT_THAT(
        r.lines("out"),
        ElementsAre(R"({"session_id":"u2:5000","user_id":"u2","start":5000,"end":5000,)"
                    R"("duration_ms":0,"events":1,"clicks":0,"purchases":0,"dwell_ms_total":0,)"
                    R"("max_scroll":null,"converted":false,"conversion_type":null,)"
                    R"("entry_page":null,"exit_page":null,"device":null,"revision":0})",
                    R"({"session_id":"u1:1000","user_id":"u1","start":1000,"end":121000,)"
                    R"("duration_ms":120000,"events":3,"clicks":1,"purchases":1,)"
                    R"("dwell_ms_total":303,"max_scroll":0.9,"converted":true,)"
                    R"("conversion_type":"purchase","entry_page":"/a","exit_page":"/c",)"
                    R"("device":"mobile","revision":0})"));
    EXPECT_TRUE(r.lines("late").empty());
    EXPECT_TRUE(r.lines("sessions").empty());
}

TEST(SessionizerTest, DefaultCountsNameOneFieldPerClickstreamType) {
    auto r = run_yaml(
        topology("{ts: 1, user_id: u, type: page_view}, {ts: 2, user_id: u, type: search}, "
                 "{ts: 3, user_id: u, type: search}, {ts: 4, user_id: u, type: other}",
                 "gap: 1m"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    ASSERT_EQ(r.lines("out").size(), 1u);
    const std::string& l = r.lines("out")[0];
    EXPECT_EQ(field_of(l, "key"), "u");
    EXPECT_EQ(field_of(l, "events"), "4");
    EXPECT_EQ(field_of(l, "page_views"), "1");
    EXPECT_EQ(field_of(l, "searches"), "2");
    EXPECT_EQ(field_of(l, "purchases"), "0");
    EXPECT_EQ(field_of(l, "scrolls"), "0");
}

TEST(SessionizerTest, EventExactlyOneGapAfterTheLastStartsANewSession) {
    auto r = run_yaml(topology("{ts: 1000, user_id: a}, {ts: 1000, user_id: b}, "
                               "{ts: 10999, user_id: b}, {ts: 11000, user_id: a}",
                               "gap: 10s"),
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // a: 11000 - 1000 == gap, two sessions; the first closes at watermark 10999
    // (= 1000 + gap - 1), as a@11000 arrives. b: 9999 < gap, one session.
    EXPECT_THAT(brief(r.lines("out")), ElementsAre("a:1000 1000..1000 x1", "b:1000 1000..10999 x2",
                                                   "a:11000 11000..11000 x1"));
    EXPECT_TRUE(r.lines("late").empty());
}

TEST(SessionizerTest, OutOfOrderEventsExtendSessionsBackwardAndBridgeThem) {
    // The watermark trails by 1m, so nothing closes before the end of input.
    std::string wm = "{max_out_of_orderness: 1m}";
    auto r = run_yaml(topology("{ts: 100000, user_id: u}, {ts: 118000, user_id: u}, "
                               "{ts: 109000, user_id: u}, {ts: 95000, user_id: u}",
                               "gap: 10s", wm),
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // 109000 is 9s from both sessions and merges them; 95000 extends the start.
    EXPECT_THAT(brief(r.lines("out")), ElementsAre("u:100000 95000..118000 x4"));
    EXPECT_EQ(field_of(r.lines("out")[0], "merged_ids"), "<absent>");  // no one saw u:118000

    // An event exactly one gap from both sessions bridges nothing.
    r = run_yaml(topology("{ts: 100000, user_id: u}, {ts: 120000, user_id: u}, "
                          "{ts: 110000, user_id: u}",
                          "gap: 10s", wm),
                 one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(brief(r.lines("out")),
                ElementsAre("u:100000 100000..100000 x1", "u:110000 110000..110000 x1",
                            "u:120000 120000..120000 x1"));
}

TEST(SessionizerTest, SessionsCloseOnTheWatermarkAndAnnotateTagsEachEvent) {
    auto r = run_yaml(R"(
sources:
  in:
    type: memory
    records: [{ts: 1000, user_id: a}, {ts: 5000, user_id: a}, {ts: 20000, user_id: b},
              {ts: 21000, user_id: b}]
operators:
  s: {type: sessionizer, input: in, key: user_id, gap: 10s, annotate: true}
sinks:
  all: {type: collect, inputs: [s, s.sessions]}
)",
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // a's session closes when the watermark (19999) passes 5000 + 10s - 1, right
    // after b@20000 arrives; b's closes at the end of input.
    std::vector<std::string> seen;
    for (const std::string& l : r.lines("all")) {
        seen.push_back(field_of(l, "revision") == "<absent>"
                           ? "event " + field_of(l, "ts") + " " + field_of(l, "session_id")
                           : "summary " + field_of(l, "session_id") + " x" + field_of(l, "events"));
    }
    EXPECT_THAT(seen,
                ElementsAre("event 1000 a:1000", "event 5000 a:1000", "event 20000 b:20000",
                            "summary a:1000 x2", "event 21000 b:20000", "summary b:20000 x2"));
}

TEST(SessionizerTest, AnnotatedIdsMergedLaterAreListedInTheSummary) {
    auto r = run_yaml(
        topology("{ts: 100000, user_id: u}, {ts: 118000, user_id: u}, {ts: 109000, user_id: u}",
                 "gap: 10s, annotate: true", "{max_out_of_orderness: 1m}"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::vector<std::string> ids;
    for (const std::string& l : r.lines("out")) {
        ids.push_back(field_of(l, "session_id"));
    }
    EXPECT_THAT(ids, ElementsAre("u:100000", "u:118000", "u:100000"));
    ASSERT_EQ(r.lines("sessions").size(), 1u);
    EXPECT_EQ(field_of(r.lines("sessions")[0], "merged_ids"), "u:118000");
    EXPECT_EQ(field_of(r.lines("sessions")[0], "events"), "3");
}

TEST(SessionizerTest, MaxDurationSplitsAtTheFirstEventAtOrAfterStartPlusMax) {
    std::string records;
    for (int t = 0; t <= 60000; t += 5000) {
        records += "{ts: " + std::to_string(t) + ", user_id: u}, ";
    }
    auto r = run_yaml(topology(records, "gap: 10s, max_duration: 30s"), one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(brief(r.lines("out")), ElementsAre("u:0 0..25000 x6", "u:30000 30000..55000 x6",
                                                   "u:60000 60000..60000 x1"));
}

TEST(SessionizerTest, EventsBehindTheWatermarkAreLateUnlessInsideAnOpenSession) {
    auto r = run_yaml(topology("{ts: 100000, user_id: u}, {ts: 200000, user_id: u}, "
                               "{ts: 205000, user_id: u}, {ts: 150000, user_id: u}, "
                               "{ts: 202000, user_id: u}",
                               "gap: 10s"),
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // 150000 arrives at watermark 204999: late by 54999. 202000 is also behind
    // it but within the open session 200000..205000, so it is applied.
    EXPECT_THAT(brief(r.lines("out")),
                ElementsAre("u:100000 100000..100000 x1", "u:200000 200000..205000 x3"));
    ASSERT_EQ(r.lines("late").size(), 1u);
    EXPECT_THAT(r.lines("late")[0], HasSubstr(R"("ts":150000)"));
    EXPECT_THAT(r.lines("late")[0], HasSubstr(R"("lateness_ms":54999)"));
}

TEST(SessionizerTest, AllowedLatenessKeepsSessionsOpenForLateEvents) {
    std::string records =
        "{ts: 100000, user_id: u}, {ts: 165000, user_id: u}, {ts: 109000, user_id: u}, "
        "{ts: 180000, user_id: u}, {ts: 110000, user_id: u}";
    auto r = run_yaml(topology(records, "gap: 10s, allowed_lateness: 1m"), one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // 109000 > 164999 - 1m: on time, and u:100000 (closing at 169999) is still
    // open. At watermark 179999 it has closed, and 110000 <= 119999 is late.
    EXPECT_THAT(brief(r.lines("out")),
                ElementsAre("u:100000 100000..109000 x2", "u:165000 165000..165000 x1",
                            "u:180000 180000..180000 x1"));
    ASSERT_EQ(r.lines("late").size(), 1u);
    EXPECT_THAT(r.lines("late")[0], HasSubstr(R"("ts":110000)"));
    EXPECT_THAT(r.lines("late")[0], HasSubstr(R"("lateness_ms":69999)"));

    // Without allowed lateness, 109000 is already late when it arrives.
    r = run_yaml(topology(records, "gap: 10s"), one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(brief(r.lines("out")),
                ElementsAre("u:100000 100000..100000 x1", "u:165000 165000..165000 x1",
                            "u:180000 180000..180000 x1"));
    EXPECT_EQ(r.lines("late").size(), 2u);
}

TEST(SessionizerTest, DropPolicyCountsLateEventsWithoutEmittingThem) {
    auto r = run_yaml(
        topology("{ts: 100000, user_id: u}, {ts: 200000, user_id: u}, {ts: 150000, user_id: u}",
                 "gap: 10s, on_late: drop"),
        one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_EQ(r.lines("out").size(), 2u);
    EXPECT_TRUE(r.lines("late").empty());
    const auto& s = *r.job->metrics().components()[1];
    EXPECT_EQ(s.name, "s");
    EXPECT_EQ(s.late.load(), 1u);
}

TEST(SessionizerTest, UpdatePolicyReEmitsACorrectedSummaryWithTheNextRevision) {
    auto r = run_yaml(topology("{ts: 100000, user_id: u}, {ts: 105000, user_id: u}, "
                               "{ts: 200000, user_id: v}, {ts: 108000, user_id: u}, "
                               "{ts: 150000, user_id: u}",
                               "gap: 10s, on_late: update"),
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // 108000 re-opens u:100000 (closed at 199999) and, being past its closing
    // time, re-emits it at once; 150000 touches no kept session.
    std::vector<std::string> got = brief(r.lines("out"));
    for (size_t i = 0; i < got.size(); ++i) {
        got[i] += " r" + field_of(r.lines("out")[i], "revision");
    }
    EXPECT_THAT(got, ElementsAre("u:100000 100000..105000 x2 r0", "u:100000 100000..108000 x3 r1",
                                 "u:150000 150000..150000 x1 r0", "v:200000 200000..200000 x1 r0"));
    EXPECT_TRUE(r.lines("late").empty());
    EXPECT_EQ(r.job->metrics().components()[1]->late.load(), 2u);  // counted all the same
}

TEST(SessionizerTest, UpdatePolicyMergesTwoEmittedSessionsAndListsTheAbsorbedId) {
    auto r = run_yaml(topology("{ts: 100000, user_id: u}, {ts: 118000, user_id: u}, "
                               "{ts: 200000, user_id: v}, {ts: 109000, user_id: u}",
                               "gap: 10s, on_late: update"),
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    ASSERT_EQ(r.lines("out").size(), 4u);
    EXPECT_THAT(brief(r.lines("out")),
                ElementsAre("u:100000 100000..100000 x1", "u:118000 118000..118000 x1",
                            "u:100000 100000..118000 x3", "v:200000 200000..200000 x1"));
    EXPECT_EQ(field_of(r.lines("out")[2], "revision"), "1");
    EXPECT_EQ(field_of(r.lines("out")[2], "merged_ids"), "u:118000");
}

TEST(SessionizerTest, UpdatePolicyForgetsClosedSessionsAfterTheRetention) {
    auto r = run_yaml(topology("{ts: 100000, user_id: u}, {ts: 200000, user_id: v}, "
                               "{ts: 300000, user_id: v}, {ts: 105000, user_id: u}",
                               "gap: 10s, on_late: update, update_retention: 1m"),
                      one_record_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // u:100000 closed at 199999 and was dropped at 259999, so 105000 forms a
    // session of its own.
    EXPECT_THAT(brief(r.lines("out")),
                ElementsAre("u:100000 100000..100000 x1", "v:200000 200000..200000 x1",
                            "u:105000 105000..105000 x1", "v:300000 300000..300000 x1"));
}

TEST(SessionizerTest, RulesRejectSummaryFieldCollisions) {
    auto r = run_yaml(topology("{ts: 1, user_id: u}", "key_field: start"));
    EXPECT_THAT(r.diagnostics, HasSubstr("key_field `start` collides"));
    r = run_yaml(topology("{ts: 1, user_id: u}", "counts: {click: events}"));
    EXPECT_THAT(r.diagnostics, HasSubstr("the count field for `click` `events` collides"));
    r = run_yaml(topology("{ts: 1, user_id: u}", "gap: 0s"));
    EXPECT_FALSE(r.status.is_ok());
}

TEST(SessionizerTest, StateCodecRoundTrips) {
    KeySessions ks;
    ks.timer = 123456;
    Session a;
    a.id = "u:1";
    a.start = -5;
    a.last = 1'735'689'600'000;
    a.events = 7;
    a.counts = {1, 0, 300};
    a.dwell_ms = 4200;
    a.max_scroll = 0.75;
    a.has_scroll = true;
    a.conversion_type = "purchase";
    a.conversion_time = 99;
    a.entry_page = "/a";
    a.entry_time = 1;
    a.exit_page = "/z";
    a.exit_time = 2;
    a.device = "mobile";
    a.device_time = 3;
    a.merged_ids = "u:5,u:9";
    a.revision = 2;
    a.closed_at = 77;
    ks.sessions.push_back(a);
    ks.sessions.push_back(Session{});  // defaults: open, nothing seen
    std::string bytes = encode_state(ks);
    KeySessions back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
    ASSERT_EQ(back.sessions.size(), 2u);
    EXPECT_EQ(back.timer, 123456);
    const Session& b = back.sessions[0];
    EXPECT_EQ(std::tie(b.id, b.start, b.last, b.events, b.counts, b.dwell_ms, b.max_scroll,
                       b.has_scroll, b.conversion_type, b.conversion_time),
              std::tie(a.id, a.start, a.last, a.events, a.counts, a.dwell_ms, a.max_scroll,
                       a.has_scroll, a.conversion_type, a.conversion_time));
    EXPECT_EQ(std::tie(b.entry_page, b.entry_time, b.exit_page, b.exit_time, b.device,
                       b.device_time, b.merged_ids, b.revision, b.closed_at),
              std::tie(a.entry_page, a.entry_time, a.exit_page, a.exit_time, a.device,
                       a.device_time, a.merged_ids, a.revision, a.closed_at));
    EXPECT_TRUE(back.sessions[1].is_open());
    EXPECT_EQ(back.sessions[1].conversion_time, kNoSessionTime);
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
        KeySessions partial;
        EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, cut), partial)) << cut;
    }
}

// --- Property tests against a reference implementation ---------------------

using SessionTuple = std::tuple<std::string, int64_t, int64_t, int64_t>;  // key, start, end, n

/// The reference: each key's events sorted by time, split where the next event
/// is at least `gap` after the previous one or `max_duration` after the start.
std::vector<SessionTuple> reference_sessions(
    std::map<std::string, std::vector<int64_t>> times_by_key, int64_t gap,
    int64_t max_duration = INT64_MAX) {
    std::vector<SessionTuple> out;
    for (auto& [key, times] : times_by_key) {
        std::sort(times.begin(), times.end());
        size_t first = 0;
        for (size_t i = 1; i <= times.size(); ++i) {
            if (i == times.size() || times[i] - times[i - 1] >= gap ||
                times[i] - times[first] >= max_duration) {
                out.emplace_back(key, times[first], times[i - 1], static_cast<int64_t>(i - first));
                first = i;
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<SessionTuple> summaries(const std::vector<std::string>& lines,
                                    const std::string& key_field) {
    std::vector<SessionTuple> out;
    for (const std::string& l : lines) {
        out.emplace_back(field_of(l, key_field), std::stoll(field_of(l, "start")),
                         std::stoll(field_of(l, "end")), std::stoll(field_of(l, "events")));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::map<std::string, std::vector<int64_t>> times_by_user(const std::vector<std::string>& raw) {
    std::map<std::string, std::vector<int64_t>> by_key;
    for (const std::string& l : raw) {
        by_key[field_of(l, "user_id")].push_back(std::stoll(field_of(l, "ts")));
    }
    return by_key;
}

/// 50k generated events with 5% of them up to 30s out of order.
std::string generated(const std::string& watermark, const std::string& params,
                      double out_of_order_rate = 0.05, int parallelism = 1) {
    return "parallelism: " + std::to_string(parallelism) +
           "\nsources:\n  gen: {type: generator, events: 50000, users: 300, seed: 7, "
           "out_of_order_rate: " +
           std::to_string(out_of_order_rate) + ", max_out_of_order: 30s, watermark: " + watermark +
           "}\noperators:\n  s: {type: sessionizer, input: gen, key: user_id, key_field: "
           "user_id, " +
           params +
           "}\nsinks:\n  raw: {type: collect, input: gen}\n  out: {type: collect, input: s}\n"
           "  late: {type: collect, input: s.late}\n";
}

TEST(SessionizerPropertyTest, GeneratedSessionsEqualTheReference) {
    auto r = run_yaml(generated("{max_out_of_orderness: 30s}", "gap: 30m"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    ASSERT_EQ(r.lines("raw").size(), 50000u);
    auto expected = reference_sessions(times_by_user(r.lines("raw")), 30 * 60'000);
    EXPECT_GT(expected.size(), 300u);  // real gaps: users have several sessions
    EXPECT_TRUE(r.lines("late").empty());
    EXPECT_EQ(summaries(r.lines("out"), "user_id"), expected);

    // The same with a tight watermark and allowed lateness covering the disorder,
    // a shorter gap, and three shards.
    r = run_yaml(
        generated("{max_out_of_orderness: 0s}", "gap: 5m, allowed_lateness: 30s", 0.05, 3));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_TRUE(r.lines("late").empty());
    EXPECT_EQ(summaries(r.lines("out"), "user_id"),
              reference_sessions(times_by_user(r.lines("raw")), 5 * 60'000));
}

TEST(SessionizerPropertyTest, GeneratedSessionsWithMaxDurationEqualTheReference) {
    auto r = run_yaml(generated("{max_out_of_orderness: 0s}", "gap: 30m, max_duration: 10m", 0));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    auto expected = reference_sessions(times_by_user(r.lines("raw")), 30 * 60'000, 10 * 60'000);
    EXPECT_NE(expected, reference_sessions(times_by_user(r.lines("raw")), 30 * 60'000));
    EXPECT_EQ(summaries(r.lines("out"), "user_id"), expected);
}

TEST(SessionizerPropertyTest, UpdatePolicyAccountsForEveryEventExactlyOnce) {
    // Heavy disorder (20% of events up to 10m back) with a tight watermark, so
    // many events are late; under `update` each is applied to some session.
    std::string yaml =
        generated("{max_out_of_orderness: 0s}", "gap: 2m, max_duration: 5m, on_late: update", 0.2);
    yaml.replace(yaml.find("max_out_of_order: 30s"), 21, "max_out_of_order: 10m");
    auto r = run_yaml(yaml);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_GT(r.job->metrics().components()[1]->late.load(), 100u);
    // The latest revision of every id that was not merged into another holds
    // each event once.
    std::map<std::string, std::pair<int64_t, int64_t>> latest;  // id -> (revision, events)
    std::set<std::string> merged;
    for (const std::string& l : r.lines("out")) {
        std::string id = field_of(l, "session_id");
        int64_t revision = std::stoll(field_of(l, "revision"));
        auto it = latest.find(id);
        if (it == latest.end() || revision > it->second.first) {
            latest[id] = {revision, std::stoll(field_of(l, "events"))};
        }
        std::stringstream ids(field_of(l, "merged_ids"));
        for (std::string m; std::getline(ids, m, ',');) {
            merged.insert(m);
        }
    }
    int64_t total = 0;
    for (const auto& [id, v] : latest) {
        total += merged.count(id) != 0 ? 0 : v.second;
    }
    EXPECT_EQ(total, 50000);
}

TEST(SessionizerPropertyTest, OttoSessionsEqualTheReference) {
    std::string path =
        std::string(EDDY_SHARED_DATA_DIR) + "/otto-sessions-sample/train_sample.jsonl";
    std::ifstream in(path);
    if (!in) {
        GTEST_SKIP() << "real data not found at " << path << "; see /work/shared/data/README.md";
    }
    // Flatten {"session": S, "events": [{"aid", "ts", "type"}]} into one event
    // per line, sorted by time so that the file source's watermark is exact.
    std::vector<std::pair<int64_t, std::string>> events;
    std::map<std::string, std::vector<int64_t>> by_key;
    std::map<std::string, int64_t> orders;
    std::string line;
    while (std::getline(in, line)) {
        std::string user = "s" + field_of(line, "session");
        for (size_t at = line.find("{\"aid\""); at != std::string::npos;
             at = line.find("{\"aid\"", at + 1)) {
            std::string ev = line.substr(at, line.find('}', at) - at + 1);
            int64_t ts = std::stoll(field_of(ev, "ts"));
            std::string type = field_of(ev, "type");
            events.emplace_back(ts, "{\"ts\":" + std::to_string(ts) + ",\"user_id\":\"" + user +
                                        "\",\"type\":\"" + type +
                                        "\",\"aid\":" + field_of(ev, "aid") + "}");
            by_key[user].push_back(ts);
        }
    }
    ASSERT_EQ(events.size(), 862u);
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string flat = (std::filesystem::temp_directory_path() / "sessionizer_otto.jsonl").string();
    {
        std::ofstream out(flat);
        for (const auto& e : events) {
            out << e.second << "\n";
        }
    }
    auto r = run_yaml("sources:\n  in: {type: file, path: " + flat +
                      ", format: json, event_time: {field: ts, unit: ms}}\n"
                      "operators:\n  s: {type: sessionizer, input: in, key: user_id, key_field: "
                      "user_id, counts: {clicks: clicks, carts: carts, orders: orders}, "
                      "conversion_types: [orders]}\n"
                      "sinks:\n  out: {type: collect, input: s}\n");
    std::filesystem::remove(flat);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    auto expected = reference_sessions(by_key, 30 * 60'000);
    EXPECT_EQ(summaries(r.lines("out"), "user_id"), expected);
    int64_t clicks = 0, carts = 0, ordered = 0, converted = 0;
    for (const std::string& l : r.lines("out")) {
        clicks += std::stoll(field_of(l, "clicks"));
        carts += std::stoll(field_of(l, "carts"));
        ordered += std::stoll(field_of(l, "orders"));
        converted += field_of(l, "converted") == "true" ? 1 : 0;
        EXPECT_EQ(field_of(l, "converted") == "true", field_of(l, "orders") != "0") << l;
    }
    // SOURCE.md: 800 clicks, 52 carts, 10 orders.
    EXPECT_EQ(clicks, 800);
    EXPECT_EQ(carts, 52);
    EXPECT_EQ(ordered, 10);
    EXPECT_GE(converted, 1);
}

}  // namespace
}  // namespace eddy
