// SPDX-License-Identifier: Apache-2.0
// plan_reload() (runtime/reload.h): which differences between the topology a
// job runs and its edited file a running job takes (new parameters of an
// operator that keeps no state, new sinks, their dead-letter links, the log
// level) and which refuse the reload; and `log_level:` in the validator.
#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "runtime/reload.h"

namespace eddy {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

/// A FIFO-fed shape: a filter that keeps no state and a keyed window that
/// does, both reading `clicks`, each written by a file sink.
const std::string kRunning =
    "name: shop\n"
    "sources:\n"
    "  clicks:\n"
    "    type: file\n"
    "    path: clicks.jsonl\n"
    "    format: json\n"
    "    event_time: {field: ts, unit: ms}\n"
    "operators:\n"
    "  buys: {type: filter, input: clicks, field: type, op: eq, value: buy}\n"
    "  counts:\n"
    "    type: window\n"
    "    input: clicks\n"
    "    key: user\n"
    "    size: 1h\n"
    "    aggregations: {n: {op: count}}\n"
    "sinks:\n"
    "  out: {type: file, input: buys, path: out.jsonl}\n"
    "  windows: {type: file, input: counts, path: windows.jsonl}\n";

/// `text` with its only occurrence of `from` replaced by `to`; a `from` that
/// is missing or repeated is a test failure (the edit would not be the one meant).
std::string replaced(const std::string& text, const std::string& from, const std::string& to) {
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "'" << from << "' is not in\n" << text;
    EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' is repeated";
    if (at == std::string::npos) {
        return text;
    }
    return text.substr(0, at) + to + text.substr(at + from.size());
}

std::string diagnostics_of(const Diagnostics& diags) {
    std::string text;
    for (const Diagnostic& d : diags.sorted()) {
        text += d.to_string() + "\n";
    }
    return text;
}

/// The validated topology of `yaml` (test registry); invalid YAML is a test failure.
Topology parse(const std::string& yaml) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "reload.yaml", diags);
    std::optional<Topology> t;
    if (root) {
        t = validate_topology(*root, testing::test_registry(), diags);
    }
    EXPECT_TRUE(t.has_value()) << diagnostics_of(diags) << yaml;
    return t ? std::move(*t) : Topology{};
}

/// The validator's errors for `yaml` (not its warnings), one per line.
std::string errors(const std::string& yaml) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "reload.yaml", diags);
    if (root) {
        (void)validate_topology(*root, testing::test_registry(), diags);
    }
    std::string text;
    for (const Diagnostic& d : diags.sorted()) {
        if (d.severity == Severity::kError) {
            text += d.to_string() + "\n";
        }
    }
    return text;
}

/// Both topologies and the plan between them (the plan points into `next`).
struct Planned {
    Topology running;
    Topology next;
    ReloadPlan plan;
};

Planned plan(const std::string& running_yaml, const std::string& next_yaml) {
    Planned p{parse(running_yaml), parse(next_yaml), {}};
    p.plan = plan_reload(p.running, p.next);
    return p;
}

std::vector<std::string> names(const std::vector<const ComponentDef*>& defs) {
    std::vector<std::string> out;
    for (const ComponentDef* d : defs) {
        out.push_back(d->name);
    }
    return out;
}

/// Every refusal, one per line, for matching and failure messages.
std::string refusals(const ReloadPlan& plan) {
    std::string text;
    for (const std::string& r : plan.refusals) {
        text += r + "\n";
    }
    return text;
}

/// A plan that refuses, and takes nothing live.
void expect_refused_only(const ReloadPlan& plan) {
    EXPECT_TRUE(plan.refused());
    EXPECT_FALSE(plan.unchanged());
    EXPECT_THAT(plan.reconfigured, IsEmpty());
    EXPECT_THAT(plan.added_sinks, IsEmpty());
    EXPECT_THAT(plan.error_links, IsEmpty());
    EXPECT_FALSE(plan.log_level_changed);
}

TEST(ReloadPlanTest, TheSameFileChangesNothing) {
    Planned p = plan(kRunning, kRunning);
    EXPECT_TRUE(p.plan.unchanged());
    EXPECT_FALSE(p.plan.refused());
    EXPECT_THAT(p.plan.reconfigured, IsEmpty());
    EXPECT_THAT(p.plan.added_sinks, IsEmpty());
    EXPECT_THAT(p.plan.error_links, IsEmpty());
    EXPECT_THAT(p.plan.changes, IsEmpty());
    EXPECT_FALSE(p.plan.log_level_changed);
}

TEST(ReloadPlanTest, RewritingTheSameSettingsInAnotherFormChangesNothing) {
    // Block style instead of flow style, keys in another order, a new
    // description and comments: nothing the job runs.
    std::string rewritten = replaced(
        kRunning, "  buys: {type: filter, input: clicks, field: type, op: eq, value: buy}\n",
        "  # the buyers\n"
        "  buys:\n"
        "    value: buy\n"
        "    op: eq\n"
        "    field: type\n"
        "    input: clicks\n"
        "    type: filter\n");
    rewritten = replaced(rewritten, "name: shop\n", "name: shop\ndescription: Counts and buys.\n");
    Planned p = plan(kRunning, rewritten);
    EXPECT_TRUE(p.plan.unchanged()) << refusals(p.plan);
}

TEST(ReloadPlanTest, NewParametersOfAStatelessOperatorAreReconfigured) {
    Planned p = plan(kRunning, replaced(kRunning, "value: buy", "value: view"));
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    EXPECT_FALSE(p.plan.unchanged());
    ASSERT_THAT(names(p.plan.reconfigured), ElementsAre("buys"));
    // The definition to build the new instance from is the new one.
    EXPECT_EQ(p.plan.reconfigured[0]->config.params().find("value")->as_string(), "view");
    EXPECT_EQ(p.plan.reconfigured[0], &p.next.components[p.next.find("buys")]);
    ASSERT_THAT(p.plan.changes, SizeIs(1));
    EXPECT_THAT(p.plan.changes[0],
                AllOf(HasSubstr("operator 'buys' (filter): new parameters"), HasSubstr("view")));
    EXPECT_THAT(p.plan.added_sinks, IsEmpty());
    EXPECT_FALSE(p.plan.log_level_changed);
}

TEST(ReloadPlanTest, NewParametersOfAStatefulOperatorAreRefused) {
    Planned p = plan(kRunning, replaced(kRunning, "size: 1h", "size: 2h"));
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1));
    EXPECT_THAT(p.plan.refusals[0], AllOf(HasSubstr("operator 'counts' (window)"),
                                          HasSubstr("keeps state"), HasSubstr("needs a restart")));
}

TEST(ReloadPlanTest, OneRefusedChangeRefusesTheWholeReload) {
    std::string next = replaced(kRunning, "value: buy", "value: view");
    next = replaced(next, "size: 1h", "size: 2h");
    Planned p = plan(kRunning, next);
    EXPECT_TRUE(p.plan.refused());
    EXPECT_THAT(refusals(p.plan), HasSubstr("operator 'counts' (window)"));
    EXPECT_THAT(refusals(p.plan), Not(HasSubstr("'buys'")));
}

TEST(ReloadPlanTest, ANewSinkIsAdded) {
    Planned p =
        plan(kRunning, kRunning + "  views: {type: file, input: buys, path: views.jsonl}\n");
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    ASSERT_THAT(names(p.plan.added_sinks), ElementsAre("views"));
    EXPECT_EQ(p.plan.added_sinks[0]->config.string("path"), "views.jsonl");
    EXPECT_THAT(p.plan.changes, ElementsAre("sink 'views' (file): new, reading buys"));
    EXPECT_THAT(p.plan.reconfigured, IsEmpty());
    EXPECT_THAT(p.plan.error_links, IsEmpty());
}

TEST(ReloadPlanTest, ANewSinkReadingASideOutputIsAdded) {
    Planned p = plan(
        kRunning, kRunning + "  others: {type: file, input: buys.rejected, path: others.jsonl}\n");
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    ASSERT_THAT(names(p.plan.added_sinks), ElementsAre("others"));
    EXPECT_THAT(p.plan.changes, ElementsAre("sink 'others' (file): new, reading buys.rejected"));
}

TEST(ReloadPlanTest, ANewSinkUnderDeadLetterIsAddedWithTheDeadLetterSinkReadingItsErrors) {
    std::string running = replaced(kRunning, "name: shop\n", "name: shop\ndead_letter: dlq\n") +
                          "  dlq: {type: file, path: dlq.jsonl}\n";
    // The validator makes `dlq` read every `errors` output nothing else reads,
    // now including the new sink's.
    Planned p = plan(running, running + "  views: {type: file, input: buys, path: views.jsonl}\n");
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    ASSERT_THAT(names(p.plan.added_sinks), ElementsAre("views"));
    ASSERT_THAT(p.plan.error_links, SizeIs(1));
    EXPECT_EQ(p.plan.error_links[0].sink, "views");
    EXPECT_EQ(p.plan.error_links[0].reader, "dlq");
    EXPECT_THAT(p.plan.changes, ElementsAre("sink 'views' (file): new, reading buys"));
}

TEST(ReloadPlanTest, ANewSinkTakingErrorsFromTheDeadLetterSinkIsRefusedSayingSo) {
    std::string running = replaced(kRunning, "name: shop\n", "name: shop\ndead_letter: dlq\n") +
                          "  dlq: {type: file, path: dlq.jsonl}\n";
    // `dlq` reads `clicks.errors` now; the new sink would take it.
    Planned p =
        plan(running, running + "  bad: {type: file, input: clicks.errors, path: bad.jsonl}\n");
    EXPECT_TRUE(p.plan.refused());
    EXPECT_THAT(refusals(p.plan),
                HasSubstr("sink 'bad' (file): reads 'clicks.errors', which the dead-letter sink "
                          "'dlq' reads now; taking it from the dead-letter sink needs a restart"));
    EXPECT_THAT(refusals(p.plan), Not(HasSubstr("sink 'dlq' (file): changed")));
}

TEST(ReloadPlanTest, ANewSinkReadingTheErrorsOfAnotherNewSinkComesAfterIt) {
    // `late` is first in the file but reads what `first` rejects.
    Planned p = plan(kRunning, kRunning +
                                   "  late: {type: file, input: first.errors, path: late.jsonl}\n"
                                   "  first: {type: file, input: buys, path: first.jsonl}\n");
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    EXPECT_THAT(names(p.plan.added_sinks), ElementsAre("first", "late"));
}

TEST(ReloadPlanTest, ARunningSinkReadingANewInputOfARunningComponentIsRefused) {
    // Only the errors of a sink new in this reload may be wired into a running sink.
    Planned p = plan(kRunning, replaced(kRunning, "input: buys, path: out.jsonl",
                                        "inputs: [buys, clicks.errors], path: out.jsonl"));
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan), HasSubstr("sink 'out' (file): changed"));
}

TEST(ReloadPlanTest, ARemovedSinkIsRefused) {
    Planned p = plan(kRunning, replaced(kRunning,
                                        "  windows: {type: file, input: counts, path: "
                                        "windows.jsonl}\n",
                                        ""));
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1)) << refusals(p.plan);
    EXPECT_THAT(p.plan.refusals[0],
                AllOf(HasSubstr("sink 'windows' (file): removed"), HasSubstr("needs a restart")));
}

TEST(ReloadPlanTest, ChangedSinkParametersAreRefused) {
    Planned p = plan(kRunning, replaced(kRunning, "path: out.jsonl", "path: out2.jsonl"));
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1));
    EXPECT_THAT(p.plan.refusals[0], AllOf(HasSubstr("sink 'out' (file): changed"),
                                          HasSubstr("a new sink under another name")));
}

TEST(ReloadPlanTest, AChangedSourceIsRefused) {
    Planned p = plan(kRunning, replaced(kRunning, "path: clicks.jsonl", "path: clicks2.jsonl"));
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1));
    EXPECT_THAT(p.plan.refusals[0],
                AllOf(HasSubstr("source 'clicks' (file): changed"), HasSubstr("needs a restart")));
}

TEST(ReloadPlanTest, AChangedWatermarkOfASourceIsRefused) {
    Planned p = plan(kRunning, replaced(kRunning, "    event_time: {field: ts, unit: ms}\n",
                                        "    event_time: {field: ts, unit: ms}\n"
                                        "    watermark: {max_out_of_orderness: 5s}\n"));
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan), HasSubstr("source 'clicks' (file): changed"));
}

TEST(ReloadPlanTest, ANewOperatorIsRefused) {
    std::string next =
        replaced(kRunning, "  counts:\n",
                 "  views: {type: filter, input: clicks, field: type, op: eq, value: view}\n"
                 "  counts:\n") +
        "  viewed: {type: file, input: views, path: viewed.jsonl}\n";
    Planned p = plan(kRunning, next);
    EXPECT_TRUE(p.plan.refused());
    EXPECT_THAT(refusals(p.plan),
                HasSubstr("operator 'views' (filter): new; adding a source or an operator needs "
                          "a restart"));
}

TEST(ReloadPlanTest, ANewSourceIsRefused) {
    std::string next = replaced(kRunning, "operators:\n",
                                "  more: {type: file, path: more.jsonl, format: json}\n"
                                "operators:\n");
    next = replaced(next, "input: buys, path: out.jsonl", "inputs: [buys, more], path: out.jsonl");
    Planned p = plan(kRunning, next);
    EXPECT_TRUE(p.plan.refused());
    EXPECT_THAT(refusals(p.plan), HasSubstr("source 'more' (file): new"));
}

TEST(ReloadPlanTest, ARemovedOperatorIsRefused) {
    std::string next = replaced(
        kRunning, "  buys: {type: filter, input: clicks, field: type, op: eq, value: buy}\n", "");
    next = replaced(next, "input: buys, path: out.jsonl", "input: clicks, path: out.jsonl");
    Planned p = plan(kRunning, next);
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan), HasSubstr("operator 'buys' (filter): removed"));
}

TEST(ReloadPlanTest, AnOperatorOfAnotherTypeIsRefused) {
    Planned p = plan(kRunning, replaced(kRunning,
                                        "{type: filter, input: clicks, field: type, op: "
                                        "eq, value: buy}",
                                        "{type: select, input: clicks, fields: [user]}"));
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan),
                HasSubstr("operator 'buys' (select): was operator 'buys' (filter)"));
}

TEST(ReloadPlanTest, AChangedKeyIsRefused) {
    Planned p = plan(kRunning, replaced(kRunning, "key: user", "key: type"));
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1)) << refusals(p.plan);
    EXPECT_THAT(p.plan.refusals[0],
                AllOf(HasSubstr("operator 'counts' (window)"), HasSubstr("its key changed")));
}

TEST(ReloadPlanTest, AChangedParallelismOfAnOperatorIsRefusedEvenWhenItKeepsNoState) {
    Planned p = plan(kRunning, replaced(kRunning, "value: buy}", "value: buy, parallelism: 2}"));
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1)) << refusals(p.plan);
    EXPECT_THAT(p.plan.refusals[0],
                AllOf(HasSubstr("operator 'buys' (filter)"), HasSubstr("its parallelism changed")));
}

TEST(ReloadPlanTest, ChangedInputsOfAStatelessOperatorAreRefused) {
    std::string running = replaced(kRunning, "operators:\n",
                                   "  more: {type: file, path: more.jsonl, format: json}\n"
                                   "operators:\n") +
                          "  rest: {type: file, input: more, path: rest.jsonl}\n";
    Planned p = plan(running, replaced(running, "{type: filter, input: clicks,",
                                       "{type: filter, inputs: [clicks, more],"));
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan), HasSubstr("operator 'buys' (filter): its inputs changed"));
}

TEST(ReloadPlanTest, AChangedStateTtlIsRefused) {
    Planned p =
        plan(kRunning, replaced(kRunning, "    key: user\n", "    key: user\n    state_ttl: 1d\n"));
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan), HasSubstr("operator 'counts' (window): its state_ttl changed"));
}

TEST(ReloadPlanTest, ANewLogLevelIsApplied) {
    Planned p = plan(kRunning, "log_level: debug\n" + kRunning);
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    EXPECT_TRUE(p.plan.log_level_changed);
    EXPECT_EQ(p.plan.log_level, "debug");
    EXPECT_THAT(p.plan.changes, ElementsAre("log level: debug"));
    EXPECT_THAT(p.plan.reconfigured, IsEmpty());
    EXPECT_THAT(p.plan.added_sinks, IsEmpty());
}

TEST(ReloadPlanTest, ARemovedLogLevelGoesBackToTheCommandLines) {
    Planned p = plan("log_level: warn\n" + kRunning, kRunning);
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    EXPECT_TRUE(p.plan.log_level_changed);
    EXPECT_EQ(p.plan.log_level, "");
    EXPECT_THAT(p.plan.changes, ElementsAre("log level: the command line's"));
}

TEST(ReloadPlanTest, TheSameLogLevelChangesNothing) {
    Planned p = plan("log_level: warn\n" + kRunning, "log_level: warn\n" + kRunning);
    EXPECT_TRUE(p.plan.unchanged());
    EXPECT_FALSE(p.plan.log_level_changed);
}

TEST(ReloadPlanTest, ALiveChangeAndANewSinkAndALogLevelTogether) {
    std::string next = "log_level: error\n" + replaced(kRunning, "value: buy", "value: view") +
                       "  views: {type: file, input: buys, path: views.jsonl}\n";
    Planned p = plan(kRunning, next);
    EXPECT_FALSE(p.plan.refused()) << refusals(p.plan);
    EXPECT_THAT(names(p.plan.reconfigured), ElementsAre("buys"));
    EXPECT_THAT(names(p.plan.added_sinks), ElementsAre("views"));
    EXPECT_EQ(p.plan.log_level, "error");
    EXPECT_THAT(p.plan.changes, SizeIs(3));
}

/// Each top-level setting a running job cannot change, and the words of its refusal.
struct SettingCase {
    const char* what;
    std::string next;
    const char* refusal;
};

class ReloadSettingTest : public ::testing::TestWithParam<SettingCase> {};

TEST_P(ReloadSettingTest, IsRefused) {
    Planned p = plan(kRunning, GetParam().next);
    expect_refused_only(p.plan);
    ASSERT_THAT(p.plan.refusals, SizeIs(1)) << refusals(p.plan);
    EXPECT_THAT(p.plan.refusals[0],
                AllOf(HasSubstr(GetParam().refusal), HasSubstr("needs a restart")));
}

INSTANTIATE_TEST_SUITE_P(
    Settings, ReloadSettingTest,
    ::testing::Values(
        SettingCase{"name", replaced(kRunning, "name: shop", "name: store"),
                    "the topology's `name:` changed"},
        SettingCase{"parallelism", "parallelism: 2\n" + kRunning, "`parallelism:` changed"},
        SettingCase{"state", "state: {dir: state}\n" + kRunning, "the `state:` block changed"},
        SettingCase{"serve", "serve: {listen: \"127.0.0.1:0\"}\n" + kRunning,
                    "the `serve:` block changed"}),
    [](const ::testing::TestParamInfo<SettingCase>& info) { return std::string(info.param.what); });

TEST(ReloadPlanTest, AddingOrRemovingDeadLetterIsRefused) {
    // `dlq` keeps what the filter rejects; with `dead_letter: dlq` it also
    // reads every `errors` output of the running components.
    std::string without = kRunning + "  dlq: {type: file, input: buys.rejected, path: dlq.jsonl}\n";
    std::string with = "dead_letter: dlq\n" + without;
    for (const auto& [running, next] : {std::pair{without, with}, std::pair{with, without}}) {
        Planned p = plan(running, next);
        expect_refused_only(p.plan);
        EXPECT_THAT(refusals(p.plan), HasSubstr("`dead_letter:` changed: that needs a restart"));
        EXPECT_THAT(refusals(p.plan), HasSubstr("sink 'dlq' (file): changed"));
    }
}

TEST(ReloadPlanTest, AStateCheckpointIntervalChangeIsRefused) {
    std::string running = "state: {dir: state, checkpoint_interval: 10s}\n" + kRunning;
    Planned p = plan(running, replaced(running, "10s", "20s"));
    expect_refused_only(p.plan);
    EXPECT_THAT(refusals(p.plan), HasSubstr("the `state:` block changed"));
}

TEST(ReloadPlanTest, TheValidatorNamesTheLogLevelsAllowed) {
    std::string text = errors("log_level: loud\n" + kRunning);
    EXPECT_THAT(text, HasSubstr("`log_level` must be one of trace, debug, info, warn, error, off, "
                                "got 'loud'"));
    EXPECT_EQ(errors("log_level: warn\n" + kRunning), "");
    EXPECT_EQ(parse("log_level: off\n" + kRunning).log_level, "off");
    EXPECT_EQ(parse(kRunning).log_level, "");
}

}  // namespace
}  // namespace eddy
