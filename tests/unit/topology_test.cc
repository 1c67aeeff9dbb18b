// SPDX-License-Identifier: Apache-2.0
// Topology loading and validation: every bad fixture under
// tests/fixtures/topologies/ is checked for its exact place, kind and message;
// inline YAML covers env expansion, typing, defaults and graph rules.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/registry.h"

#include "diagnostics_support.h"
#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "topology/suggest.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

using testing::dump;
using testing::errors_of;
using ::testing::HasSubstr;
using testing::warnings_of;

std::string fixture(const std::string& name) {
    return std::string(EDDY_FIXTURES_DIR) + "/topologies/" + name;
}

struct Validated {
    std::unique_ptr<Registry> registry;  ///< With the topology's plugins; the specs live here.
    std::optional<Topology> topology;
    Diagnostics diags;
};

Validated validate_file(const std::string& path, const Registry& registry = builtin_registry()) {
    Validated v;
    v.registry = std::make_unique<Registry>(registry);
    v.topology = load_topology_with_plugins(path, {}, *v.registry, v.diags);
    return v;
}

Validated validate_text(const std::string& yaml, const Registry& registry = builtin_registry()) {
    Validated v;
    auto root = load_yaml_text(yaml, "inline.yaml", v.diags);
    if (root) {
        v.topology = validate_topology(*root, registry, v.diags);
    }
    return v;
}

/// A keyed test operator, so that key rules can be checked with a real spec.
Registry registry_with_keyed_operator() {
    Registry r = builtin_registry();
    ComponentSpec spec = OperatorSpec("counter")
                             .summary("Counts events per key (test only).")
                             .keyed(KeyMode::kRequired)
                             .param(Param::duration("window").default_value("1m").doc("Window."))
                             .factory([](const Config&) -> Result<std::unique_ptr<Operator>> {
                                 return Status::unsupported("test only");
                             });
    EXPECT_TRUE(r.add(std::move(spec), "topology_test").is_ok());
    return r;
}

// ---------------------------------------------------------------------------
// One bad fixture each: the first error's exact place, kind, message and hint.

struct BadCase {
    const char* test_name;
    const char* file;
    int line;
    int column;
    const char* kind;
    std::string message;  ///< A substring of the message.
    const char* hint;     ///< A substring of the hint; "" = not checked.
    size_t errors = 1;
};

void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.file;
}

class BadTopology : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadTopology, ReportsTheExactPlaceKindAndMessage) {
    const BadCase& c = GetParam();
    ::unsetenv("EDDY_TEST_UNSET_VARIABLE");
    std::string path = fixture(c.file);
    Validated v = validate_file(path);
    SCOPED_TRACE(dump(v.diags));
    EXPECT_FALSE(v.topology.has_value());
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), c.errors);
    const Diagnostic& first = errors.front();
    EXPECT_EQ(first.location.file, path);
    EXPECT_EQ(first.location.line, c.line);
    EXPECT_EQ(first.location.column, c.column);
    EXPECT_EQ(first.kind, c.kind);
    EXPECT_THAT(first.message, HasSubstr(c.message));
    EXPECT_THAT(first.hint, HasSubstr(c.hint));
    // The printed form starts with file:line:column, as `eddy validate` shows it.
    EXPECT_THAT(first.to_string(), ::testing::StartsWith(path + ":" + std::to_string(c.line) + ":" +
                                                         std::to_string(c.column) + ": error: "));
}

const BadCase kBadCases[] = {
    {"TopologyThatIsAListIsRejected", "bad_not_a_map_list.yaml", 2, 1, "expected_map",
     "a topology must be a YAML map with `sources:`, `operators:` and `sinks:`, got a list",
     "topologies/demo.yaml"},
    {"TopologyThatIsAScalarIsRejected", "bad_not_a_map_scalar.yaml", 2, 1, "expected_map",
     "a topology must be a YAML map with `sources:`, `operators:` and `sinks:`, got `just some "
     "text`",
     ""},
    {"BadIndentationIsAYamlSyntaxErrorAtItsLine", "bad_yaml_syntax.yaml", 5, 4, "yaml_syntax",
     "invalid YAML: end of map not found", "check indentation"},
    {"CommentOnlyFileIsEmpty", "bad_empty.yaml", 1, 1, "empty_file",
     "has no content, only comments", "needs at least `sources:` and `sinks:`"},
    {"UnknownTopLevelKeySuggestsClosestSection", "bad_unknown_top_level_key.yaml", 4, 1,
     "unknown_field", "unknown top-level key 'operater'", "did you mean 'operators'?"},
    {"UnknownComponentTypeSuggestsClosestType", "bad_unknown_component_type.yaml", 6, 5,
     "unknown_component", "unknown operator type 'fitler' for 'buys'", "did you mean 'filter'?"},
    {"SinkTypeUnderOperatorsSaysItIsASink", "bad_sink_under_operators.yaml", 5, 11,
     "unknown_component", "unknown operator type 'stdout' for 'print'",
     "'stdout' is a sink; move it under `sinks:`"},
    {"UnknownParameterSuggestsClosestName", "bad_unknown_parameter.yaml", 8, 5, "unknown_field",
     "unknown parameter 'feild' for operator 'buys' (filter)", "did you mean 'field'?"},
    {"MissingRequiredParameterIsNamedWithAnExample", "bad_missing_required_parameter.yaml", 5, 3,
     "missing_field", "sink 'out' (file) is missing required parameter 'path'",
     "for example `path: out/recommendations.jsonl`"},
    {"IntegerParameterRejectsText", "bad_int_given_text.yaml", 6, 5, "invalid_type",
     "parameter 'users' of source 'clicks' (generator) must be an integer like `100`, got `lots`",
     ""},
    {"DurationWithoutUnitAsksForAUnit", "bad_duration_without_unit.yaml", 5, 5, "invalid_type",
     "parameter 'duration' of source 'clicks' (generator) must be a duration like `30m`",
     "add a unit: `30s` or `30ms`"},
    {"BoolParameterRejectsYesPlease", "bad_bool_given_text.yaml", 9, 5, "invalid_type",
     "parameter 'append' of sink 'out' (file) must be `true` or `false`, got `yes please`", ""},
    {"EnumValueOutsideTheAllowedSuggestsClosest", "bad_enum_value.yaml", 6, 5, "invalid_option",
     "parameter 'format' of source 'clicks' (file) must be one of json, csv, raw, got `jsn`",
     "did you mean 'json'?"},
    {"OutOfRangeNumberNamesTheRange", "bad_out_of_range.yaml", 6, 5, "out_of_range",
     "parameter 'bot_share' of source 'clicks' (generator) must be between 0 and 1, got 1.5", ""},
    {"UnknownInputSuggestsClosestComponent", "bad_unknown_input.yaml", 7, 5, "unknown_input",
     "input 'clickz' of 'out' names no component", "did you mean 'clicks'?"},
    {"UnknownOutputListsTheOutputs", "bad_unknown_output.yaml", 8, 5, "unknown_output",
     "input 'clicks.bots' of 'bots': 'clicks' (generator) has no output 'bots'",
     "outputs of 'clicks': main (write `clicks`), errors"},
    {"InputNamingASinkIsRejected", "bad_input_is_sink.yaml", 8, 5, "invalid_input",
     "input 'out' of 'copy' is a sink, whose only output is `errors`",
     "read from the component that feeds"},
    {"CycleBetweenTwoOperatorsNamesTheCycle", "bad_cycle.yaml", 6, 21, "cycle",
     "the topology has a cycle: a -> b -> a", "acyclic"},
    {"InputAndInputsTogetherAreRejected", "bad_input_and_inputs.yaml", 7, 5, "invalid_option",
     "component 'buys' has both `input` and `inputs`", "use `input: a` for one upstream"},
    {"OperatorWithoutInputIsRejected", "bad_operator_without_input.yaml", 5, 3, "missing_field",
     "operator 'buys' has no `input`", "add `input: <name>`"},
    {"ComponentThatIsNotAMapIsRejected", "bad_component_not_a_map.yaml", 5, 3, "expected_map",
     "operator 'buys' must be a map with a `type`, got `filter`", "write `buys: {type: ...}`"},
    {"DuplicateComponentNameNamesTheFirstUse", "bad_duplicate_component_name.yaml", 5, 3,
     "duplicate_component",
     "component name 'clicks' is already used at " + fixture("bad_duplicate_component_name.yaml") +
         ":3:3",
     "names are shared by sources, operators and sinks"},
    {"DuplicateKeyInAMapIsRejected", "bad_duplicate_key.yaml", 9, 5, "duplicate_key",
     "duplicate key 'path'", "each key may appear once"},
    {"UnsetVariableWithoutDefaultIsRejected", "bad_unset_variable.yaml", 5, 11, "unset_variable",
     "environment variable 'EDDY_TEST_UNSET_VARIABLE' is not set",
     "${EDDY_TEST_UNSET_VARIABLE:-default}"},
    {"FilterInWithAScalarValueBreaksItsRule", "bad_filter_in_with_scalar.yaml", 5, 3,
     "invalid_option", "operator 'buys' (filter): op `in` needs `value` to be a non-empty list",
     ""},
    {"SelectWithFieldsAndDropBreaksItsRule", "bad_select_fields_and_drop.yaml", 5, 3,
     "invalid_option",
     "operator 'slim' (select): give either `fields` (keep only these) or `drop` (remove these), "
     "not "
     "both",
     ""},
    {"KeyOnUnkeyedOperatorIsRejected", "bad_key_on_unkeyed_operator.yaml", 8, 5, "unknown_field",
     "operator 'buys' (filter) is not keyed and does not take a `key`", "remove `key:`"},
    {"UnknownWatermarkKeySuggestsClosest", "bad_watermark_key.yaml", 7, 7, "unknown_field",
     "unknown key 'max_out_of_order' in `watermark`", "did you mean 'max_out_of_orderness'?"},
    {"UnknownStateKeySuggestsClosest", "bad_state_block.yaml", 4, 3, "unknown_field",
     "unknown key 'checkpoint_intervall' in `state`", "did you mean 'checkpoint_interval'?"},
    {"MissingPluginSaysWhereItLooked", "bad_plugin_missing.yaml", 3, 5, "plugin",
     "plugin 'build/plugins/libno_such_plugin.so' not found (looked for "
     "build/plugins/libno_such_plugin.so, " +
         fixture("build/plugins/libno_such_plugin.so") + ")",
     ""},
};

INSTANTIATE_TEST_SUITE_P(Fixtures, BadTopology, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                             return std::string(info.param.test_name);
                         });

TEST(BadTopologyFixtures, EveryBadFixtureHasACase) {
    std::vector<std::string> covered;
    for (const BadCase& c : kBadCases) {
        covered.emplace_back(c.file);
    }
    covered.emplace_back("bad_many_errors.yaml");
    for (const auto& entry : std::filesystem::directory_iterator(fixture(""))) {
        std::string name = entry.path().filename().string();
        if (name.rfind("bad_", 0) == 0) {
            EXPECT_THAT(covered, ::testing::Contains(name)) << name << " is not checked by a test";
        }
    }
    EXPECT_GE(covered.size(), 15u);
}

// ---------------------------------------------------------------------------
// Files

TEST(TopologyLoader, MissingFileIsOneErrorNamingThePath) {
    std::string path = fixture("does_not_exist.yaml");
    Validated v = validate_file(path);
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    const Diagnostic& d = v.diags.items().front();
    EXPECT_EQ(d.kind, "missing_file");
    EXPECT_EQ(d.location.line, 0);
    EXPECT_EQ(d.location.file, path);
    EXPECT_EQ(d.message, "cannot read the topology file: No such file or directory");
    EXPECT_EQ(d.to_string().find('\n'), std::string::npos) << "one line, no hint";
}

TEST(TopologyLoader, DirectoryIsNotATopologyFile) {
    Validated v = validate_file(fixture(""));
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_THAT(v.diags.items().front().message, HasSubstr("is a directory"));
}

TEST(TopologyLoader, WhitespaceOnlyTextIsEmpty) {
    Validated v = validate_text("  \n\t\n");
    ASSERT_EQ(v.diags.error_count(), 1u);
    EXPECT_EQ(v.diags.items().front().kind, "empty_file");
    EXPECT_THAT(v.diags.items().front().message, HasSubstr("the topology file is empty"));
}

TEST(TopologyLoader, ValuesArePlacedAtTheirKeysAndListItemsAtThemselves) {
    Diagnostics diags;
    auto root = load_yaml_text(
        "# header\n"
        "sources:\n"
        "  clicks:\n"
        "    type: file\n"
        "    tags:\n"
        "      - a\n"
        "      - b\n"
        "    empty:\n",
        "t.yaml", diags);
    ASSERT_TRUE(root) << dump(diags);
    const ConfigValue* clicks = root->find("sources")->find("clicks");
    ASSERT_NE(clicks, nullptr);
    // A block map would be marked at its first key, a line below its name.
    EXPECT_EQ(clicks->location().to_string(), "t.yaml:3:3");
    EXPECT_EQ(clicks->find("type")->location().to_string(), "t.yaml:4:5");
    EXPECT_EQ(clicks->find("tags")->location().to_string(), "t.yaml:5:5");
    EXPECT_EQ(clicks->find("tags")->items()[1].location().to_string(), "t.yaml:7:9");
    EXPECT_TRUE(clicks->find("empty")->is_null());
    EXPECT_EQ(clicks->find("empty")->location().to_string(), "t.yaml:8:5");
}

TEST(TopologyLoader, ScalarsStayUntypedText) {
    Diagnostics diags;
    auto root = load_yaml_text("a: 30\nb: true\nc: '007'\nd: ~\ne: [1, x]\n", "t.yaml", diags);
    ASSERT_TRUE(root) << dump(diags);
    EXPECT_EQ(root->find("a")->kind(), ConfigValue::Kind::kString);
    EXPECT_EQ(root->find("a")->as_string(), "30");
    EXPECT_EQ(root->find("b")->as_string(), "true");
    EXPECT_EQ(root->find("c")->as_string(), "007");
    EXPECT_TRUE(root->find("d")->is_null());
    EXPECT_EQ(root->find("e")->items()[0].as_string(), "1");
}

TEST(TopologyLoader, DuplicateKeyKeepsTheFirstValue) {
    Diagnostics diags;
    auto root = load_yaml_text("a: 1\nb: 2\na: 3\n", "t.yaml", diags);
    ASSERT_TRUE(root);
    EXPECT_EQ(root->find("a")->as_string(), "1");
    ASSERT_EQ(diags.error_count(), 1u);
    EXPECT_EQ(diags.items()[0].location.to_string(), "t.yaml:3:1");
}

// Found by fuzzing (tests/fuzz/corpus/topology/recursive_alias): an alias
// inside its own anchor made the converter recurse until the stack overflowed.
TEST(TopologyLoader, AliasInsideItsOwnAnchorIsAnError) {
    Diagnostics diags;
    auto root = load_yaml_text("name: &a [*a]\nsinks: {}\n", "t.yaml", diags);
    EXPECT_FALSE(root);
    ASSERT_EQ(diags.error_count(), 1u) << dump(diags);
    EXPECT_EQ(diags.items()[0].kind, "too_large");
    EXPECT_THAT(diags.items()[0].message, HasSubstr("nests deeper than 100 levels"));
}

TEST(TopologyLoader, NestingIsLimited) {
    auto nested = [](int depth) {
        return "a: " + std::string(static_cast<size_t>(depth), '[') +
               std::string(static_cast<size_t>(depth), ']') + "\n";
    };
    Diagnostics ok;
    EXPECT_TRUE(load_yaml_text(nested(90), "t.yaml", ok)) << dump(ok);
    Diagnostics deep;
    EXPECT_FALSE(load_yaml_text(nested(150), "t.yaml", deep));
    ASSERT_EQ(deep.error_count(), 1u) << dump(deep);
    EXPECT_EQ(deep.items()[0].kind, "too_large");
}

// Aliases of aliases expand exponentially ("billion laughs"): 9 levels of 10
// would be 10^9 values.
TEST(TopologyLoader, AliasExpansionIsLimited) {
    std::string yaml = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; ++i) {
        std::string prev = "*l" + std::to_string(i - 1);
        yaml += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
        for (int j = 0; j < 10; ++j) {
            yaml += (j > 0 ? ", " : "") + prev;
        }
        yaml += "]\n";
    }
    Diagnostics diags;
    EXPECT_FALSE(load_yaml_text(yaml, "t.yaml", diags));
    ASSERT_EQ(diags.error_count(), 1u) << dump(diags);
    EXPECT_EQ(diags.items()[0].kind, "too_large");
    EXPECT_THAT(diags.items()[0].message, HasSubstr("expands to more than"));
    // Aliases that do not multiply are fine.
    Diagnostics reuse;
    EXPECT_TRUE(load_yaml_text("x: &w {type: generator}\ny: *w\nz: *w\n", "t.yaml", reuse))
        << dump(reuse);
}

// ---------------------------------------------------------------------------
// Environment variables

class EnvExpansion : public ::testing::Test {
protected:
    void SetUp() override {
        ::setenv("EDDY_TEST_BROKERS", "kafka:9092", 1);
        ::setenv("EDDY_TEST_EMPTY", "", 1);
        ::unsetenv("EDDY_TEST_NOT_SET");
    }
    void TearDown() override {
        ::unsetenv("EDDY_TEST_BROKERS");
        ::unsetenv("EDDY_TEST_EMPTY");
    }

    std::string expand(const std::string& scalar) {
        diags_ = Diagnostics();
        auto root = load_yaml_text("v: " + scalar + "\n", "env.yaml", diags_);
        return root ? root->find("v")->as_string() : "<no tree>";
    }

    Diagnostics diags_;
};

TEST_F(EnvExpansion, VariableExpandsFromTheEnvironment) {
    EXPECT_EQ(expand("${EDDY_TEST_BROKERS}"), "kafka:9092");
    EXPECT_FALSE(diags_.has_errors()) << dump(diags_);
}

TEST_F(EnvExpansion, VariableInsideTextExpandsInPlace) {
    EXPECT_EQ(expand("\"tcp://${EDDY_TEST_BROKERS}/x\""), "tcp://kafka:9092/x");
}

TEST_F(EnvExpansion, SetVariableWinsOverItsDefault) {
    EXPECT_EQ(expand("${EDDY_TEST_BROKERS:-localhost:9092}"), "kafka:9092");
}

TEST_F(EnvExpansion, UnsetVariableWithDefaultExpandsToTheDefault) {
    EXPECT_EQ(expand("${EDDY_TEST_NOT_SET:-localhost:9092}"), "localhost:9092");
    EXPECT_FALSE(diags_.has_errors()) << dump(diags_);
}

TEST_F(EnvExpansion, EmptyVariableWithDefaultExpandsToTheDefault) {
    EXPECT_EQ(expand("${EDDY_TEST_EMPTY:-fallback}"), "fallback");
}

TEST_F(EnvExpansion, EmptyVariableWithoutDefaultIsEmptyText) {
    EXPECT_EQ(expand("\"[${EDDY_TEST_EMPTY}]\""), "[]");
    EXPECT_FALSE(diags_.has_errors());
}

TEST_F(EnvExpansion, DoubleDollarStaysALiteral) {
    EXPECT_EQ(expand("\"$${EDDY_TEST_BROKERS} costs $5\""), "${EDDY_TEST_BROKERS} costs $5");
    EXPECT_FALSE(diags_.has_errors());
}

TEST_F(EnvExpansion, UnsetVariableIsAnErrorAtTheValue) {
    expand("${EDDY_TEST_NOT_SET}");
    ASSERT_EQ(diags_.error_count(), 1u);
    EXPECT_EQ(diags_.items()[0].kind, "unset_variable");
    EXPECT_EQ(diags_.items()[0].location.to_string(), "env.yaml:1:4");
}

TEST_F(EnvExpansion, UnterminatedVariableIsAnError) {
    expand("\"${EDDY_TEST_BROKERS\"");
    ASSERT_EQ(diags_.error_count(), 1u);
    EXPECT_EQ(diags_.items()[0].kind, "invalid_variable");
}

TEST_F(EnvExpansion, ExpandedValueIsValidatedLikeWrittenText) {
    ::setenv("EDDY_TEST_USERS", "lots", 1);
    Validated v = validate_text(
        "sources:\n"
        "  clicks: {type: generator, events: 10, users: \"${EDDY_TEST_USERS}\"}\n"
        "sinks:\n"
        "  out: {type: stdout, input: clicks}\n");
    ::unsetenv("EDDY_TEST_USERS");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_THAT(v.diags.items()[0].message, HasSubstr("got `lots`"));
}

// ---------------------------------------------------------------------------
// All errors at once, warnings

TEST(TopologyValidator, ManyErrorsAreReportedAtOnceInFileOrder) {
    Validated v = validate_file(fixture("bad_many_errors.yaml"));
    SCOPED_TRACE(dump(v.diags));
    EXPECT_FALSE(v.topology);
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 6u);
    std::vector<std::string> got;
    for (const Diagnostic& d : errors) {
        got.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) +
                      " " + d.kind);
    }
    EXPECT_THAT(got, ::testing::ElementsAre("2:1 unknown_field", "7:5 out_of_range",
                                            "10:5 unknown_component", "16:5 unknown_field",
                                            "18:3 missing_field", "18:21 unknown_input"));
    EXPECT_EQ(errors[0].hint, "did you mean 'parallelism'?");
    EXPECT_EQ(errors[5].hint, "did you mean 'slim'?");
}

TEST(TopologyValidator, UnusedOutputsAreWarningsNotErrors) {
    Validated v = validate_file(fixture("good_unused_outputs.yaml"));
    ASSERT_TRUE(v.topology) << dump(v.diags);
    EXPECT_EQ(v.diags.error_count(), 0u);
    std::vector<Diagnostic> warnings = warnings_of(v.diags);
    ASSERT_EQ(warnings.size(), 2u) << dump(v.diags);
    EXPECT_EQ(warnings[0].kind, "unused_output");
    EXPECT_EQ(warnings[0].location.line, 5);
    EXPECT_EQ(warnings[0].message,
              "output 'buys.rejected' is not read; its records are counted and dropped");
    EXPECT_EQ(warnings[0].hint, "add a sink with `input: buys.rejected` to keep them");
    EXPECT_EQ(warnings[1].kind, "unused_output");
    EXPECT_EQ(warnings[1].location.line, 6);
    EXPECT_EQ(warnings[1].message,
              "the output of operator 'slim' is not read by any operator or sink");
}

TEST(TopologyValidator, GoodFixtureValidatesWithoutDiagnostics) {
    Validated v = validate_file(fixture("good_minimal.yaml"));
    ASSERT_TRUE(v.topology) << dump(v.diags);
    EXPECT_TRUE(v.diags.items().empty()) << dump(v.diags);
    EXPECT_EQ(v.topology->name, "minimal");
    EXPECT_EQ(v.topology->components.size(), 4u);
}

TEST(TopologyValidator, ErrorsAreListedBeforeWarnings) {
    Validated v = validate_file(fixture("bad_unknown_input.yaml"));
    std::vector<Diagnostic> sorted = v.diags.sorted();
    ASSERT_EQ(sorted.size(), 2u) << dump(v.diags);
    EXPECT_EQ(sorted[0].severity, Severity::kError);
    EXPECT_EQ(sorted[1].severity, Severity::kWarning);
    EXPECT_LT(sorted[1].location.line, sorted[0].location.line);
}

TEST(TopologyValidator, MissingSectionsAreReported) {
    Validated v = validate_text("name: nothing\n");
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 2u) << dump(v.diags);
    EXPECT_EQ(errors[0].message, "the topology has no `sources:` section");
    EXPECT_EQ(errors[1].message, "the topology has no `sinks:` section");
}

// ---------------------------------------------------------------------------
// Components and parameters

TEST(TopologyValidator, ParametersAreTypedAndDefaultsFilled) {
    Validated v = validate_text(
        "name: typed\n"
        "parallelism: 3\n"
        "state: {dir: ./s, checkpoint_interval: 2m, memory: 64MB, cache: 512MB}\n"
        "sources:\n"
        "  clicks:\n"
        "    type: generator\n"
        "    events: 10\n"
        "    bot_share: 0.25\n"
        "    watermark: {max_out_of_orderness: 5s, idle_timeout: 30s}\n"
        "operators:\n"
        "  buys: {type: filter, input: clicks, field: type, value: purchase, parallelism: 2}\n"
        "sinks:\n"
        "  out: {type: file, input: buys, path: out.jsonl}\n"
        "  rest: {type: stdout, input: buys.rejected}\n");
    ASSERT_TRUE(v.topology) << dump(v.diags);
    const Topology& t = *v.topology;
    EXPECT_EQ(t.name, "typed");
    EXPECT_EQ(t.parallelism, 3);
    EXPECT_EQ(t.state.dir, "./s");
    EXPECT_EQ(t.state.checkpoint_interval_ms, 120'000);
    EXPECT_EQ(t.state.memory_bytes, 64u << 20);
    EXPECT_EQ(t.state.cache_bytes, 512u << 20);
    EXPECT_EQ(v.diags.warning_count(), 0u) << dump(v.diags);

    const ComponentDef& clicks = t.components[static_cast<size_t>(t.find("clicks"))];
    EXPECT_EQ(clicks.config.integer("events"), 10);
    EXPECT_DOUBLE_EQ(clicks.config.number("bot_share"), 0.25);
    EXPECT_EQ(clicks.config.integer("users"), 1000);  // default
    EXPECT_EQ(clicks.config.duration("max_out_of_order"), std::chrono::seconds(30));
    EXPECT_EQ(clicks.watermark.max_out_of_orderness_ms, 5000);
    EXPECT_EQ(clicks.watermark.idle_timeout_ms, 30'000);

    const ComponentDef& buys = t.components[static_cast<size_t>(t.find("buys"))];
    EXPECT_EQ(buys.config.string("op"), "eq");  // default
    EXPECT_EQ(buys.parallelism, 2);
    EXPECT_EQ(buys.config.location_of("field").to_string(), "inline.yaml:11:39");

    const ComponentDef& out = t.components[static_cast<size_t>(t.find("out"))];
    EXPECT_FALSE(out.config.boolean("append"));
    const ComponentDef& rest = t.components[static_cast<size_t>(t.find("rest"))];
    ASSERT_EQ(rest.inputs.size(), 1u);
    EXPECT_EQ(rest.inputs[0].component, "buys");
    EXPECT_EQ(rest.inputs[0].output, "rejected");
    EXPECT_EQ(rest.inputs[0].to_string(), "buys.rejected");
}

TEST(TopologyValidator, ComponentsAreOrderedSourcesOperatorsSinks) {
    Validated v = validate_text(
        "sinks:\n"
        "  out: {type: stdout, input: b}\n"
        "operators:\n"
        "  b: {type: select, input: a, drop: [x]}\n"
        "  a: {type: select, input: clicks, drop: [y]}\n"
        "sources:\n"
        "  clicks: {type: generator, events: 1}\n");
    ASSERT_TRUE(v.topology) << dump(v.diags);
    std::vector<std::string> names;
    for (const ComponentDef& c : v.topology->components) {
        names.push_back(c.name);
    }
    EXPECT_THAT(names, ::testing::ElementsAre("clicks", "b", "a", "out"));
    std::vector<std::string> order;
    for (int i : v.topology->topological_order()) {
        order.push_back(v.topology->components[static_cast<size_t>(i)].name);
    }
    EXPECT_THAT(order, ::testing::ElementsAre("clicks", "a", "b", "out"));
}

TEST(TopologyValidator, TypoOfARequiredParameterIsReportedOnce) {
    Validated v = validate_file(fixture("bad_unknown_parameter.yaml"));
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.sorted()[0].kind, "unknown_field");
}

TEST(TopologyValidator, UnknownParameterWithoutCloseMatchListsTheParameters) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  slim: {type: select, input: clicks, drop: [x], colour: red}\n"
        "sinks: {out: {type: stdout, input: slim}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    const Diagnostic& d = v.diags.items()[0];
    EXPECT_EQ(d.hint,
              "parameters of select: description, input, inputs, parallelism, renamed_from, "
              "fields, drop, rename (see `eddy operators select`)");
}

TEST(TopologyValidator, FileTypeUnderOperatorsSaysItIsASourceAndASink) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators: {save: {type: file, input: clicks, path: x}}\n"
        "sinks: {out: {type: stdout, input: clicks}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.items()[0].hint,
              "'file' is a source and a sink; move it under `sources:` or `sinks:`");
}

TEST(TopologyValidator, ComponentWithoutTypeListsTheTypes) {
    Validated v = validate_text(
        "sources: {clicks: {events: 1}}\n"
        "sinks: {out: {type: stdout, input: clicks}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.items()[0].message, "source 'clicks' has no `type`");
    EXPECT_EQ(v.diags.items()[0].hint,
              "available source types: file, generator, http, kafka, stdin");
}

TEST(TopologyValidator, BrokenComponentIsStillAnInputForItsReaders) {
    // Neither `out` nor `out2` is told that its upstream does not exist.
    Validated v = validate_text(
        "sources:\n"
        "  clicks: {type: generator, events: 1}\n"
        "  typeless: {events: 1}\n"
        "operators:\n"
        "  odd: {type: fitler, input: clicks}\n"
        "sinks:\n"
        "  out: {type: stdout, input: odd}\n"
        "  out2: {type: stdout, input: typeless}\n");
    std::vector<Diagnostic> errors = errors_of(v.diags);
    ASSERT_EQ(errors.size(), 2u) << dump(v.diags);
    EXPECT_EQ(errors[0].kind, "missing_field");
    EXPECT_EQ(errors[1].kind, "unknown_component");
    // `clicks` is read by the operator of unknown type, so it is not unused.
    EXPECT_TRUE(warnings_of(v.diags).empty()) << dump(v.diags);
}

TEST(TopologyValidator, ComponentNameWithADotIsRejected) {
    Validated v = validate_text(
        "sources: {a.b: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, input: a.b}}\n");
    ASSERT_GE(v.diags.error_count(), 1u);
    EXPECT_EQ(v.diags.sorted()[0].kind, "invalid_name");
    EXPECT_THAT(v.diags.sorted()[0].message, HasSubstr("must not be empty or contain '.'"));
}

TEST(TopologyValidator, ParallelismOutOfRangeIsRejected) {
    Validated v = validate_text(
        "parallelism: 0\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, input: clicks}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.items()[0].kind, "out_of_range");
    EXPECT_EQ(v.diags.items()[0].message,
              "parallelism of the topology must be an integer between 1 and 1024, got `0`");
}

TEST(TopologyValidator, StateIntervalWithoutUnitAsksForAUnit) {
    Validated v = validate_text(
        "state: {dir: ./s, checkpoint_interval: 10}\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, input: clicks}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    Diagnostic d = v.diags.sorted()[0];  // errors come before warnings
    EXPECT_EQ(d.location.to_string(), "inline.yaml:1:19");
    EXPECT_EQ(d.hint, "add a unit: `10s` or `10ms`");
}

TEST(TopologyValidator, KeyedOperatorWithoutKeyIsRejected) {
    Registry registry = registry_with_keyed_operator();
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  counts: {type: counter, input: clicks}\n"
        "sinks: {out: {type: stdout, input: counts}}\n",
        registry);
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    const Diagnostic& d = v.diags.items()[0];
    EXPECT_EQ(d.kind, "missing_field");
    EXPECT_EQ(d.location.to_string(), "inline.yaml:3:3");
    EXPECT_EQ(d.message, "operator 'counts' (counter) needs a `key`");
}

TEST(TopologyValidator, KeyedOperatorKeepsItsKey) {
    Registry registry = registry_with_keyed_operator();
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  counts: {type: counter, input: clicks, key: user_id, window: 5m}\n"
        "sinks: {out: {type: stdout, input: counts}}\n",
        registry);
    ASSERT_TRUE(v.topology) << dump(v.diags);
    const ComponentDef& c = v.topology->components[1];
    EXPECT_EQ(c.key, "user_id");
    EXPECT_EQ(c.config.duration("window"), std::chrono::minutes(5));
}

// ---------------------------------------------------------------------------
// Graph

TEST(TopologyValidator, CycleOfThreeIsNamedInRecordOrder) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  a: {type: select, inputs: [clicks, c], drop: [x]}\n"
        "  b: {type: select, input: a, drop: [x]}\n"
        "  c: {type: select, input: b, drop: [x]}\n"
        "sinks: {out: {type: stdout, input: c}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.items()[0].message, "the topology has a cycle: a -> b -> c -> a");
}

TEST(TopologyValidator, OperatorReadingItselfIsACycle) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  a: {type: select, inputs: [clicks, a], drop: [x]}\n"
        "sinks: {out: {type: stdout, input: a}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.items()[0].message, "the topology has a cycle: a -> a");
    EXPECT_EQ(v.diags.items()[0].location.to_string(), "inline.yaml:3:38");
}

TEST(TopologyValidator, ListGivenToInputIsReportedOnce) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, input: [clicks]}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.sorted()[0].message,
              "`input` of 'out' takes one name; use `inputs:` for a list");
}

TEST(TopologyValidator, InputsMustBeAList) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, inputs: clicks}}\n");
    ASSERT_EQ(v.diags.error_count(), 1u) << dump(v.diags);
    EXPECT_EQ(v.diags.sorted()[0].hint, "or write `input: clicks`");
}

TEST(TopologyValidator, SourceErrorsOutputCanBeRead) {
    Validated v = validate_text(
        "sources: {clicks: {type: file, path: x.jsonl}}\n"
        "sinks:\n"
        "  out: {type: stdout, input: clicks}\n"
        "  bad: {type: file, input: clicks.errors, path: bad.jsonl}\n");
    ASSERT_TRUE(v.topology) << dump(v.diags);
    EXPECT_TRUE(v.diags.items().empty()) << dump(v.diags);
}

// ---------------------------------------------------------------------------
// convert_param and suggestions

ConfigValue text(const std::string& s) {
    return ConfigValue::string(s, {"p.yaml", 3, 7});
}

TEST(ConvertParam, SizeAndDurationBecomeBytesAndMilliseconds) {
    Diagnostics diags;
    auto size = convert_param(Param::size("max"), text("64MB"), "x", diags);
    ASSERT_TRUE(size);
    EXPECT_EQ(size->as_int(), 64 << 20);
    auto d = convert_param(Param::duration("gap"), text("1h30m"), "x", diags);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->as_int(), 90 * 60'000);
    EXPECT_FALSE(diags.has_errors()) << dump(diags);
}

TEST(ConvertParam, DurationRangeIsShownAsDurations) {
    Diagnostics diags;
    auto d = convert_param(Param::duration("gap").min(60'000), text("30s"), "operator 'x'", diags);
    EXPECT_FALSE(d);
    ASSERT_EQ(diags.error_count(), 1u);
    EXPECT_EQ(diags.items()[0].message,
              "parameter 'gap' of operator 'x' must be at least 1m, got 30s");
    EXPECT_EQ(diags.items()[0].location.to_string(), "p.yaml:3:7");
}

TEST(ConvertParam, ListItemsAreTypedOneByOne) {
    Diagnostics diags;
    ConfigValue raw = ConfigValue::list({text("1"), text("two"), text("3")}, {"p.yaml", 3, 7});
    auto v = convert_param(Param::list("ns", ParamType::kInt), raw, "x", diags);
    EXPECT_FALSE(v);
    ASSERT_EQ(diags.error_count(), 1u);
    EXPECT_THAT(diags.items()[0].message, HasSubstr("must be an integer like `100`, got `two`"));
}

TEST(ConvertParam, ScalarGivenToListSuggestsBrackets) {
    Diagnostics diags;
    auto v = convert_param(Param::list("fields"), text("user_id"), "x", diags);
    EXPECT_FALSE(v);
    ASSERT_EQ(diags.error_count(), 1u);
    EXPECT_EQ(diags.items()[0].hint, "write [user_id]");
}

TEST(ConvertParam, YesForABoolAsksForTrue) {
    Diagnostics diags;
    auto v = convert_param(Param::boolean("append"), text("yes"), "sink 'out'", diags);
    EXPECT_FALSE(v);
    ASSERT_EQ(diags.error_count(), 1u);
    EXPECT_EQ(diags.items()[0].message,
              "parameter 'append' of sink 'out' must be `true` or `false`, got `yes`");
    EXPECT_EQ(diags.items()[0].hint, "write `true` or `false`");
}

TEST(ConvertParam, NothingGivenIsNamedAsNothing) {
    Diagnostics diags;
    ConfigValue null_value;
    auto v = convert_param(Param::integer("n"), null_value, "x", diags);
    EXPECT_FALSE(v);
    ASSERT_EQ(diags.error_count(), 1u);
    EXPECT_THAT(diags.items()[0].message, HasSubstr("got nothing"));
}

TEST(Suggest, ClosestMatchFindsTyposOnly) {
    std::vector<std::string> names = {"filter", "select", "sessionizer"};
    EXPECT_EQ(closest_match("fitler", names), "filter");
    // A swap of two letters is one edit, so `filter` beats `file` (two deletions).
    EXPECT_EQ(closest_match("fitler", {"file", "filter", "generator"}), "filter");
    EXPECT_EQ(closest_match("feild", {"fields", "field"}), "field");
    EXPECT_EQ(closest_match("selcet", names), "select");
    EXPECT_EQ(closest_match("sesionizer", names), "sessionizer");
    EXPECT_EQ(closest_match("kafka", names), "");
    EXPECT_EQ(closest_match("x", {"y"}), "");  // Replacing a whole word is no typo.
    EXPECT_EQ(did_you_mean("gpa", {"gap", "max_events"}), "did you mean 'gap'?");
    EXPECT_EQ(did_you_mean("zzz", {"gap"}), "");
}

TEST(DiagnosticText, NamesPlaceSeverityKindAndHint) {
    Diagnostics diags;
    diags.error("unknown_field", {"t.yaml", 12, 5}, "unknown parameter 'gpa'",
                "did you mean 'gap'?");
    diags.warning("unused_output", {"t.yaml", 2, 3}, "not read");
    EXPECT_EQ(
        diags.items()[0].to_string(),
        "t.yaml:12:5: error: unknown parameter 'gpa' [unknown_field]\n  hint: did you mean 'gap'?");
    EXPECT_EQ(diags.items()[1].to_string(), "t.yaml:2:3: warning: not read [unused_output]");
    EXPECT_EQ(diags.error_count(), 1u);
    EXPECT_EQ(diags.warning_count(), 1u);
}

TEST(TopologyValidator, AStatefulOperatorWithoutAKeyCannotRunInParallel) {
    Validated v = validate_text(
        "sources: {clicks: {type: generator, events: 1}}\n"
        "operators:\n"
        "  site: {type: window, input: clicks, size: 1m, parallelism: 2,"
        " aggregations: {n: {op: count}}}\n"
        "sinks: {out: {type: stdout, input: site}}\n");
    EXPECT_FALSE(v.topology);
    EXPECT_THAT(dump(v.diags), HasSubstr("keeps state without a `key`, so one instance must see "
                                         "every record; it cannot have `parallelism: 2`"));
}

TEST(TopologyValidator, AStateCacheBelowOneMegabyteIsRefused) {
    Validated v = validate_text(
        "state: {dir: ./s, cache: 64KB}\n"
        "sources: {clicks: {type: generator, events: 1}}\n"
        "sinks: {out: {type: stdout, input: clicks}}\n");
    EXPECT_FALSE(v.topology);
    EXPECT_THAT(dump(v.diags), HasSubstr("cache"));
}

}  // namespace
}  // namespace eddy
