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

TEST(ScaleOutRulesTest, EachScaleOutSourceScopesTheOperatorsDownstreamOfIt) {
    // A repartition by hand: `by_item` reads what `to_items` writes, keyed
    // by item; the operators of each source follow that source's partitions.
    const std::string yaml = R"(state: {dir: ./state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks]
    key_field: user_id
    scale_out: kafka
  by_item:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks-by-item]
    key_field: item_id
    scale_out: kafka
operators:
  sessions: {type: sessionizer, input: clicks, key: user_id}
  items: {type: sessionizer, input: by_item, key: item_id}
  users: {type: sessionizer, input: by_item, key: user_id}
sinks:
  to_items: {type: kafka, brokers: 127.0.0.1:9092, topic: clicks-by-item, key_field: item_id, input: sessions}
  out: {type: stdout, inputs: [items, users]}
)";
    Validated v = validate(yaml);
    ASSERT_TRUE(v.topology.has_value()) << dump(v.diags);
    // `users` keys by user_id downstream of `by_item`, partitioned by
    // item_id: it reads through a repartition topic of its own.
    ASSERT_EQ(v.topology->repartitions.size(), 1u);
    EXPECT_EQ(v.topology->repartitions[0].op, "users");
    EXPECT_EQ(v.topology->repartitions[0].upstream, "by_item");
}

TEST(ScaleOutRulesTest, AnOperatorFollowsOneScaleOutSource) {
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
operators:
  sessions: {type: sessionizer, inputs: [clicks, views], key: user_id}
sinks:
  out: {type: stdout, input: sessions}
)";
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "invalid_option");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "sessions"));
    EXPECT_EQ(errors[0].message,
              "operator 'sessions' is downstream of two scale_out sources, 'clicks' and "
              "'views': its state can follow the partitions of one of them only");
    EXPECT_THAT(errors[0].hint, HasSubstr("read the two through one source"));
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

TEST(ScaleOutRulesTest, AnOperatorKeyedOtherwiseReadsThroughARepartitionTopic) {
    // Reached directly, through an unkeyed operator, and through a side
    // output; `users` keys by user_id again behind `items`: a second topic.
    const std::string yaml = R"(name: shop
state: {dir: ./state}
sources:
  clicks:
    type: kafka
    brokers: 127.0.0.1:9092
    topics: [clicks]
    key_field: user_id
    scale_out: kafka
    properties: {session.timeout.ms: 6000}
    watermark: {max_out_of_orderness: 5s}
operators:
  bots: {type: bot_filter, input: clicks, key: user_id}
  views: {type: filter, input: bots, field: type, value: view}
  items: {type: sessionizer, input: views, key: item_id}
  users: {type: sessionizer, input: items.sessions, key: user_id}
  bot_pages: {type: sessionizer, input: bots.bots, key: page}
sinks:
  out: {type: stdout, inputs: [users, bot_pages]}
)";
    Validated v = validate(yaml);
    ASSERT_TRUE(v.topology.has_value()) << dump(v.diags);
    const Topology& t = *v.topology;
    ASSERT_EQ(t.repartitions.size(), 3u);
    std::vector<std::string> got;
    for (const RepartitionDef& r : t.repartitions) {
        got.push_back(r.op + " " + r.upstream + " " + r.source + " " + r.sink + " " + r.topic);
    }
    // Upstream first: `users` follows the source `items` reads from.
    EXPECT_THAT(got, ::testing::UnorderedElementsAre(
                         "items clicks items-repartition items-repartition-writer "
                         "shop-items-repartition",
                         "bot_pages clicks bot_pages-repartition bot_pages-repartition-writer "
                         "shop-bot_pages-repartition",
                         "users items-repartition users-repartition users-repartition-writer "
                         "shop-users-repartition"));

    // The operator reads the added source, which reads the topic in a
    // group of its own named after that of `clicks`, partitioned by the
    // operator's key.
    const ComponentDef& items = t.components[static_cast<size_t>(t.find("items"))];
    ASSERT_EQ(items.inputs.size(), 1u);
    EXPECT_EQ(items.inputs[0].to_string(), "items-repartition");
    const ComponentDef& source = t.components[static_cast<size_t>(t.find("items-repartition"))];
    EXPECT_EQ(source.kind, ComponentKind::kSource);
    EXPECT_EQ(source.config.strings("topics"), std::vector<std::string>{"shop-items-repartition"});
    EXPECT_EQ(source.config.string("group"), "eddy-clicks-items-repartition");
    EXPECT_EQ(source.config.string("scale_out"), "kafka");
    EXPECT_EQ(source.config.string("key_field"), "item_id");
    EXPECT_EQ(source.config.string("brokers"), "127.0.0.1:9092");
    EXPECT_EQ(source.watermark.max_out_of_orderness_ms, 5000);
    EXPECT_EQ(source.location.to_string(), place(yaml, "key: item_id"));
    // The sink writes what the operator read, keyed by its key, with the
    // records' event times as timestamps.
    const ComponentDef& sink =
        t.components[static_cast<size_t>(t.find("items-repartition-writer"))];
    EXPECT_EQ(sink.kind, ComponentKind::kSink);
    ASSERT_EQ(sink.inputs.size(), 1u);
    EXPECT_EQ(sink.inputs[0].to_string(), "views");
    EXPECT_EQ(sink.config.string("topic"), "shop-items-repartition");
    EXPECT_EQ(sink.config.string("key_field"), "item_id");
    EXPECT_EQ(sink.config.string("timestamp"), "event_time");
    EXPECT_TRUE(sink.config.has("properties"));
    const ComponentDef& users = t.components[static_cast<size_t>(t.find("users"))];
    EXPECT_EQ(users.inputs[0].to_string(), "users-repartition");
    EXPECT_EQ(
        t.components[static_cast<size_t>(t.find("users-repartition-writer"))].inputs[0].to_string(),
        "items.sessions");
    // Sources still come first and sinks last.
    bool seen_other = false;
    for (const ComponentDef& c : t.components) {
        EXPECT_FALSE(seen_other && c.kind == ComponentKind::kSource) << c.name;
        seen_other |= c.kind != ComponentKind::kSource;
    }
}

TEST(ScaleOutRulesTest, ARepartitionOnAnotherClusterThanTheTransactionsIsWarnedAbout) {
    auto warnings_of = [](const Validated& v) {
        std::vector<Diagnostic> out;
        for (const Diagnostic& d : v.diags.items()) {
            if (d.kind == "repartition_not_transactional") {
                out.push_back(d);
            }
        }
        return out;
    };
    const std::string source =
        "    topics: [clicks]\n    key_field: item_id\n    scale_out: kafka\n";
    // The transactional sink on the source's cluster: the writer joins its
    // transactions, nothing to say.
    Validated same = validate(with_source(source) +
                              "  txn: {type: kafka, input: sessions, brokers: 127.0.0.1:9092, "
                              "topic: out, transactional: true}\n");
    ASSERT_TRUE(same.topology.has_value()) << dump(same.diags);
    EXPECT_TRUE(warnings_of(same).empty()) << dump(same.diags);
    // On another cluster, a transaction cannot take the writer.
    const std::string yaml = with_source(source) +
                             "  txn: {type: kafka, input: sessions, brokers: 10.0.0.9:9092, "
                             "topic: out, transactional: true}\n";
    Validated v = validate(yaml);
    ASSERT_TRUE(v.topology.has_value()) << dump(v.diags);
    std::vector<Diagnostic> warnings = warnings_of(v);
    ASSERT_EQ(warnings.size(), 1u) << dump(v.diags);
    EXPECT_EQ(warnings[0].location.to_string(), place(yaml, "key: user_id"));
    EXPECT_EQ(warnings[0].message,
              "operator 'sessions' reads through repartition topic "
              "'inline-sessions-repartition' on brokers '127.0.0.1:9092', and the transactions "
              "of sink 'txn' are on brokers '10.0.0.9:9092' (a transaction spans one cluster): "
              "after a crash its state may count some events twice");
    // Without a transactional sink, nothing to say.
    Validated plain = validate(with_source(source));
    EXPECT_TRUE(warnings_of(plain).empty()) << dump(plain.diags);
}

TEST(ScaleOutRulesTest, ARepartitionIsNotReadToAnEnd) {
    const std::string yaml = with_source(
        "    topics: [clicks]\n    key_field: item_id\n    scale_out: kafka\n"
        "    until_end: true\n");
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "key: user_id"));
    EXPECT_EQ(errors[0].message,
              "operator 'sessions' keys by 'user_id', so it reads its input through a "
              "repartition topic, which is read until the job stops; source 'clicks' has "
              "until_end: true, which cannot end it");
}

TEST(ScaleOutRulesTest, AnAddedComponentsNameMustBeFree) {
    const std::string yaml = with_source(
                                 "    topics: [clicks]\n    key_field: item_id\n"
                                 "    scale_out: kafka\n") +
                             "  sessions-repartition: {type: null, input: sessions}\n";
    Validated v = validate(yaml);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_GE(errors.size(), 1u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "duplicate_component");
    EXPECT_EQ(errors[0].location.to_string(), place(yaml, "key: user_id"));
    EXPECT_THAT(errors[0].message, HasSubstr("'sessions-repartition' is already used at"));
}

TEST(ScaleOutRulesTest, AnOperatorThatAlsoReadsAnotherSourceIsNotRepartitioned) {
    // Every process reads all of `orders`: through a repartition topic each
    // order would arrive once per process.
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
    EXPECT_THAT(errors[0].hint, HasSubstr("read only what comes from 'clicks'"));
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
    // `clicks` breaks rules 3 to 5, `orders` rules 1 and 3; `items` reads
    // through a repartition topic, and the operators of `orders` cannot be
    // checked without its key_field.
    EXPECT_EQ(got, (std::vector<std::string>{
                       place(yaml, "topics") + " invalid_option",
                       place(yaml, "assignment") + " invalid_option",
                       place(yaml, "scale_out") + " missing_field",
                       place(yaml, "^orders") + " invalid_option",
                       place(yaml, "scale_out", 1) + " missing_field",
                   }))
        << dump(v.diags);
}

}  // namespace
}  // namespace eddy
