// SPDX-License-Identifier: Apache-2.0
// `eddy validate` on topologies with a `scale_out: kafka` source: every rule
// reported at the place to edit, all at once. Validation only; no broker.
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diagnostics_support.h"
#include "runtime/builtins.h"
#include "topology/diagnostic.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

using testing::dump;
using testing::errors_of;
using ::testing::HasSubstr;

struct Validated {
    std::optional<Topology> topology;
    Diagnostics diags;
};

Validated validate(const std::string& yaml) {
    Validated v;
    if (auto root = load_yaml_text(yaml, "inline.yaml", v.diags)) {
        v.topology = validate_topology(*root, builtin_registry(), v.diags);
    }
    return v;
}

/// "inline.yaml:L:C" of the `nth` (0-based) occurrence of `needle` in `yaml`.
std::string place(const std::string& yaml, const std::string& needle, int nth = 0) {
    size_t at = yaml.find(needle);
    for (int i = 0; i < nth && at != std::string::npos; ++i) {
        at = yaml.find(needle, at + 1);
    }
    EXPECT_NE(at, std::string::npos) << needle;
    if (at == std::string::npos) {
        return "not found";
    }
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < at; ++i) {
        if (yaml[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return Location{"inline.yaml", line, static_cast<int>(at - line_start) + 1}.to_string();
}

/// A topology with `source` (the scale-out source's body, under
/// `sources: clicks:`) and `state` (a top-level block or empty).
std::string with_source(const std::string& source,
                        const std::string& state = "state: {dir: ./state}\n") {
    return state + R"(sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
)" + source +
           R"(operators:
  sessions: {type: sessionizer, input: clicks, key: user_id}
sinks:
  out: {type: stdout, input: sessions}
)";
}

const char* kValid = R"(name: shop
state: {dir: ./state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks]
    key_field: user_id
    scale_out: kafka
  orders:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [orders, ^returns-]
    assignment: all
operators:
  bots: {type: bot_filter, input: clicks, key: user_id}
  views: {type: filter, input: bots, field: type, value: view}
  sessions: {type: sessionizer, input: views, key: user_id}
  bot_sessions: {type: sessionizer, input: bots.bots, key: user_id}
  items: {type: sessionizer, input: orders, key: item_id}
sinks:
  out: {type: stdout, inputs: [sessions, bot_sessions, items]}
)";

TEST(ScaleOutRulesTest, ValidScaleOutTopologyValidatesCleanly) {
    // The second source is read by every process alike and its operator keys
    // by something else: only what is downstream of `clicks` is checked.
    Validated v = validate(kValid);
    EXPECT_TRUE(v.topology.has_value()) << dump(v.diags);
    EXPECT_EQ(v.diags.error_count(), 0u) << dump(v.diags);
    for (const Diagnostic& d : v.diags.items()) {
        EXPECT_EQ(d.kind, "unused_output") << dump(v.diags);  // late, rejected, ...
    }
}

TEST(ScaleOutRulesTest, WithoutScaleOutNothingIsChecked) {
    Validated v = validate(with_source("    topics: [a, b]\n    assignment: all\n", ""));
    EXPECT_EQ(v.diags.error_count(), 0u) << dump(v.diags);
}

TEST(ScaleOutRulesTest, AtMostOneScaleOutSource) {
    const std::string yaml = R"(state: {dir: ./state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks]
    key_field: user_id
    scale_out: kafka
  views:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [views]
    key_field: user_id
    scale_out: kafka
sinks:
  out: {type: stdout, inputs: [clicks, views]}
)";
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "invalid_option");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "scale_out", 1));
    EXPECT_EQ(errors[0].message, "source 'views' has scale_out: kafka, as has source 'clicks' (" +
                                     place(yaml, "scale_out") +
                                     "); a topology may have at most one scale-out source");
    EXPECT_THAT(errors[0].hint, HasSubstr("remove scale_out from one"));
}

TEST(ScaleOutRulesTest, NeedsKeyField) {
    const std::string yaml = with_source("    topics: [clicks]\n    scale_out: kafka\n");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "missing_field");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "scale_out"));
    EXPECT_EQ(errors[0].message,
              "scale_out: kafka needs key_field: the record key must be the message key, by "
              "which Kafka partitions the input");
    EXPECT_THAT(errors[0].hint, HasSubstr("add `key_field: user_id` to source 'clicks'"));
}

TEST(ScaleOutRulesTest, ReadsExactlyOneTopic) {
    const std::string yaml =
        with_source("    topics: [clicks, views]\n    key_field: user_id\n    scale_out: kafka\n");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "invalid_option");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "topics"));
    EXPECT_EQ(errors[0].message,
              "scale_out: kafka reads one topic; its partitions are the unit that moves between "
              "processes; source 'clicks' reads [clicks, views]");
}

TEST(ScaleOutRulesTest, TopicIsNotARegex) {
    const std::string yaml =
        with_source("    topics: [^clicks-]\n    key_field: user_id\n    scale_out: kafka\n");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "invalid_option");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "^clicks-"));
    EXPECT_THAT(errors[0].message, HasSubstr("scale_out: kafka reads one topic; its partitions "
                                             "are the unit that moves between processes"));
    EXPECT_THAT(errors[0].message, HasSubstr("the ^regex `^clicks-`"));
    EXPECT_THAT(errors[0].hint, HasSubstr("name the topic"));
}

TEST(ScaleOutRulesTest, NeedsGroupAssignment) {
    const std::string yaml = with_source(
        "    topics: [clicks]\n    key_field: user_id\n    assignment: all\n    scale_out: "
        "kafka\n");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "invalid_option");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "assignment"));
    EXPECT_THAT(errors[0].message,
                HasSubstr("scale_out needs assignment: group: the group's rebalances spread the "
                          "partitions"));
    EXPECT_THAT(errors[0].hint, HasSubstr("remove `assignment: all`"));
}

TEST(ScaleOutRulesTest, NeedsStateBlock) {
    const std::string yaml =
        with_source("    topics: [clicks]\n    key_field: user_id\n    scale_out: kafka\n", "");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "missing_field");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "scale_out"));
    EXPECT_THAT(errors[0].message,
                HasSubstr("scale_out: kafka of source 'clicks' needs a `state:` block with a "
                          "`dir`: its checkpoints publish the changelog"));
    EXPECT_THAT(errors[0].hint, HasSubstr("add `state: {dir: ./state}`"));
}

TEST(ScaleOutRulesTest, NeedsStateDir) {
    const std::string yaml =
        with_source("    topics: [clicks]\n    key_field: user_id\n    scale_out: kafka\n",
                    "state: {checkpoint_interval: 5s}\n");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "missing_field");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "state"));
    EXPECT_THAT(errors[0].message, HasSubstr("needs `state.dir`"));
    EXPECT_THAT(errors[0].hint, HasSubstr("add `dir: ./state` to `state:`"));
}

TEST(ScaleOutRulesTest, DownstreamKeyedOperatorsKeyByKeyField) {
    // Reached directly, through an unkeyed operator, and through a side output.
    const std::string yaml = R"(state: {dir: ./state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks]
    key_field: user_id
    scale_out: kafka
operators:
  bots: {type: bot_filter, input: clicks, key: user_id}
  views: {type: filter, input: bots, field: type, value: view}
  items: {type: sessionizer, input: views, key: item_id}
  bot_pages: {type: sessionizer, input: bots.bots, key: page}
sinks:
  out: {type: stdout, inputs: [items, bot_pages]}
)";
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 2u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "invalid_option");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "key: item_id"));
    EXPECT_EQ(errors[0].message,
              "operator 'items' keys by 'item_id', but source 'clicks' is partitioned by "
              "'user_id' (key_field) and runs with scale_out: kafka: its state could not move "
              "with the partition");
    EXPECT_EQ(errors[0].hint,
              "key it by 'user_id', or repartition by writing to a Kafka topic keyed by "
              "'item_id' (a kafka sink with key_field) and reading that with another job; Eddy "
              "does not build repartition topics yet");
    EXPECT_EQ(errors[1].location.to_string(), place(yaml, "key: page"));
    EXPECT_THAT(errors[1].message, HasSubstr("operator 'bot_pages' keys by 'page'"));
}

TEST(ScaleOutRulesTest, OperatorReadingBothSourcesIsChecked) {
    const std::string yaml = R"(state: {dir: ./state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks]
    key_field: user_id
    scale_out: kafka
  orders: {type: kafka, brokers: 127.0.0.1:9092, topics: [orders]}
operators:
  baskets: {type: sessionizer, inputs: [orders, clicks], key: basket_id}
sinks:
  out: {type: stdout, input: baskets}
)";
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "key: basket_id"));
    EXPECT_THAT(errors[0].message, HasSubstr("operator 'baskets' keys by 'basket_id'"));
}

TEST(ScaleOutRulesTest, ReportsEveryViolationAtOnce) {
    const std::string yaml = R"(sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks, views]
    key_field: user_id
    assignment: all
    scale_out: kafka
  orders:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [^orders]
    scale_out: kafka
operators:
  items: {type: sessionizer, input: clicks, key: item_id}
  baskets: {type: sessionizer, input: orders, key: basket_id}
sinks:
  out: {type: stdout, inputs: [items, baskets]}
)";
    Validated v = validate(yaml);
    EXPECT_FALSE(v.topology.has_value());
    std::vector<std::string> got;
    for (const Diagnostic& d : errors_of(v.diags)) {
        got.push_back(d.location.to_string() + " " + d.kind);
    }
    // `clicks` breaks rules 3 to 6; `orders` rules 1 to 3, and its operators
    // are checked against the first scale-out source only.
    EXPECT_EQ(got, (std::vector<std::string>{
                       place(yaml, "topics") + " invalid_option",
                       place(yaml, "assignment") + " invalid_option",
                       place(yaml, "scale_out") + " missing_field",
                       place(yaml, "^orders") + " invalid_option",
                       place(yaml, "scale_out", 1) + " missing_field",
                       place(yaml, "scale_out", 1) + " invalid_option",
                       place(yaml, "key: item_id") + " invalid_option",
                   }))
        << dump(v.diags);
}

}  // namespace
}  // namespace eddy
