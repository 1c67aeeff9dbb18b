// SPDX-License-Identifier: Apache-2.0
// `dead_letter:` routes every `errors` output that nothing reads to one sink.
#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "json_fields.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;

const char* kTopology = R"(
dead_letter: dlq
sources:
  events:
    type: memory
    records:
      - {user: u1, ts: 1000, n: 1}
      - {ts: 2000, n: 2}
      - {user: u2, ts: 3000, n: 3, bad: true}
      - {user: u3, ts: 4000, n: 4}
operators:
  sessions: {type: sessionizer, input: events, key: user}
  quiet: {type: filter, input: events, field: n, op: gt, value: 100}
sinks:
  out: {type: reject, input: events}
  summaries: {type: collect, input: sessions}
  kept: {type: collect, input: quiet.errors}
  dlq: {type: collect}
)";

std::vector<std::string> input_names(const Topology& t, const std::string& component) {
    std::vector<std::string> names;
    for (const InputRef& in : t.components[static_cast<size_t>(t.find(component))].inputs) {
        names.push_back(in.to_string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

TEST(DeadLetterTest, EveryUnreadErrorsOutputFeedsTheDeadLetterSink) {
    Diagnostics diags;
    auto root = load_yaml_text(kTopology, "t.yaml", diags);
    ASSERT_TRUE(root.has_value());
    auto t = validate_topology(*root, testing::test_registry(), diags);
    ASSERT_TRUE(t.has_value()) << (diags.items().empty() ? "" : diags.items()[0].to_string());
    EXPECT_EQ(t->dead_letter, "dlq");
    // quiet.errors is read by `kept`; the dead-letter sink does not read its own.
    EXPECT_EQ(input_names(*t, "dlq"),
              (std::vector<std::string>{"events.errors", "kept.errors", "out.errors",
                                        "sessions.errors", "summaries.errors"}));
}

TEST(DeadLetterTest, RejectedRecordsOfOperatorsAndSinksArriveWithTheirReasonAndComponent) {
    auto r = testing::run_yaml(kTopology);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::vector<std::string> dead;
    for (const std::string& line : r.lines("dlq")) {
        dead.push_back(testing::raw(line, "error_component") + " " + testing::raw(line, "n") + " " +
                       testing::raw(line, "error"));
    }
    std::sort(dead.begin(), dead.end());
    ASSERT_EQ(dead.size(), 2u);
    EXPECT_EQ(dead[0], "\"out\" 3 \"bad record\"");
    EXPECT_THAT(dead[1], HasSubstr("\"sessions\" 2 "));
    EXPECT_THAT(dead[1], HasSubstr("key field 'user' is missing"));
}

TEST(DeadLetterTest, AnUnknownOrNonSinkTargetIsAnError) {
    for (const auto& [target, message] : std::vector<std::pair<std::string, std::string>>{
             {"dql", "`dead_letter` must name a sink of this topology, got 'dql'"},
             {"events",
              "`dead_letter` must name a sink of this topology, got 'events' (a source)"}}) {
        auto r = testing::run_yaml("dead_letter: " + target +
                                   "\nsources:\n  events: {type: memory, records: [{a: 1}]}\n"
                                   "sinks:\n  dlq: {type: collect, input: events}\n");
        EXPECT_FALSE(r.status.is_ok());
        EXPECT_THAT(r.diagnostics, HasSubstr(message));
    }
    auto r = testing::run_yaml(
        "dead_letter: dlq\nsources:\n  events: {type: memory, records: [{a: "
        "1}]}\nsinks:\n  dlq: {type: collect, input: events}\n");
    EXPECT_TRUE(r.status.is_ok()) << r.diagnostics;  // events.errors is routed
    EXPECT_THAT(testing::run_yaml("dead_letter: dql\nsources:\n  events: {type: memory, records: "
                                  "[{a: 1}]}\nsinks:\n  dlq: {type: collect, input: events}\n")
                    .diagnostics,
                HasSubstr("did you mean 'dlq'?"));
}

}  // namespace
}  // namespace eddy
