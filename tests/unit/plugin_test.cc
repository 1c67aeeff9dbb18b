// SPDX-License-Identifier: Apache-2.0
// Plugin loading: the test plugins of tests/plugins/ (a working one with a
// source, an operator and a sink, and ones the loader must refuse).
#include "eddy/plugin.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "json_fields.h"
#include "metrics/metrics.h"
#include "plugin/loader.h"
#include "resume_support.h"
#include "runtime/builtins.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

/// A field of a flat JSON line as text, without a string's quotes.
std::string text(const std::string& line, const std::string& field) {
    std::string v = testing::raw(line, field);
    return v.size() >= 2 && v.front() == '"' ? v.substr(1, v.size() - 2) : v;
}

std::string test_plugin(const std::string& name) {
    return std::string(EDDY_TEST_PLUGINS_DIR) + "/lib" + name + ".so";
}

/// The message of loading `path` into a copy of the built-ins (empty when it loads).
std::string refusal(const std::string& path) {
    Registry registry = builtin_registry();
    Status s = load_plugin(path, registry);
    return s.is_ok() ? "" : s.message();
}

size_t component_count(const Registry& r) {
    return r.all(ComponentKind::kSource).size() + r.all(ComponentKind::kOperator).size() +
           r.all(ComponentKind::kSink).size();
}

/// A file in a fresh temporary directory, removed with it.
class TempDir {
public:
    TempDir() {
        path_ = fs::temp_directory_path() / ("eddy_plugin_test_" + std::to_string(::getpid()) +
                                             "_" + std::to_string(counter()++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
        return (path_ / name).string();
    }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    fs::path path_;
};

// ---------------------------------------------------------------------------
// A working plugin

TEST(PluginLoading, RegistersEveryComponentWithThePluginAsOrigin) {
    Registry registry = builtin_registry();
    size_t before = component_count(registry);
    ASSERT_TRUE(load_plugin(test_plugin("tally"), registry).is_ok());
    EXPECT_EQ(component_count(registry), before + 3);
    std::string origin = "plugin " + fs::canonical(test_plugin("tally")).string();
    const ComponentSpec* op = registry.find(ComponentKind::kOperator, "tally");
    const ComponentSpec* source = registry.find(ComponentKind::kSource, "tally_numbers");
    const ComponentSpec* sink = registry.find(ComponentKind::kSink, "tally_lines");
    ASSERT_NE(op, nullptr);
    ASSERT_NE(source, nullptr);
    ASSERT_NE(sink, nullptr);
    EXPECT_EQ(op->origin, origin);
    EXPECT_EQ(source->origin, origin);
    EXPECT_EQ(sink->origin, origin);
    EXPECT_EQ(registry.find(ComponentKind::kOperator, "filter")->origin, "built-in");
    // Specs keep what built-ins have: typed parameters, outputs, state declarations.
    ASSERT_NE(op->find_param("gap"), nullptr);
    EXPECT_EQ(op->find_param("gap")->type(), ParamType::kDuration);
    EXPECT_TRUE(op->has_output("totals"));
    EXPECT_NE(op->find_state("counts"), nullptr);
    EXPECT_EQ(op->key, KeyMode::kRequired);
}

TEST(PluginLoading, LoadingTheSamePluginTwiceIsHarmless) {
    Registry registry = builtin_registry();
    ASSERT_TRUE(load_plugin(test_plugin("tally"), registry).is_ok());
    size_t once = component_count(registry);
    // Another spelling of the same file is the same plugin.
    std::string dotted = std::string(EDDY_TEST_PLUGINS_DIR) + "/./libtally.so";
    ASSERT_TRUE(load_plugin(dotted, registry).is_ok());
    EXPECT_EQ(component_count(registry), once);
}

const char* kTallyTopology = R"(
plugins: ["%PLUGIN%"]
sources:
  events:
    type: memory
    records:
      - {user: u1, ts: 0}
      - {user: u1, ts: 1000}
      - {user: u2, ts: 1500}
      - {user: u1, ts: 5000}
      - {user: u2, ts: 5200}
operators:
  sessions: {type: tally, input: events, key: user, gap: 2s}
sinks:
  out: {type: collect, input: sessions}
  totals: {type: collect, input: sessions.totals}
)";

std::string with_plugin(std::string yaml, const std::string& plugin) {
    yaml.replace(yaml.find("%PLUGIN%"), 8, plugin);
    return yaml;
}

TEST(PluginLoading, APluginOperatorRunsWithStateTimersOutputsAndMetrics) {
    auto r = testing::run_yaml(with_plugin(kTallyTopology, test_plugin("tally")));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    // n numbers each record within its key's session: u1's session of 0 and
    // 1000 ends before 5000 (more than 2 s later), u2's of 1500 before 5200.
    std::vector<std::string> numbered;
    for (const std::string& line : r.lines("out")) {
        numbered.push_back(text(line, "user") + "@" + text(line, "ts") + "#" + text(line, "n"));
    }
    EXPECT_EQ(numbered, (std::vector<std::string>{"u1@0#1", "u1@1000#2", "u2@1500#1", "u1@5000#1",
                                                  "u2@5200#1"}));
    // Sessions close by a later record of the key or by the final watermark.
    std::vector<std::string> totals;
    for (const std::string& line : r.lines("totals")) {
        totals.push_back(text(line, "key") + ":" + text(line, "count"));
    }
    std::sort(totals.begin(), totals.end());
    EXPECT_EQ(totals, (std::vector<std::string>{"u1:1", "u1:2", "u2:1", "u2:1"}));
    EXPECT_THAT(render_prometheus(r.job->metrics()),
                HasSubstr("eddy_tally_sessions_total{component=\"sessions\"} 4\n"));
}

TEST(PluginLoading, APluginSourceAndSinkRun) {
    TempDir dir;
    fs::path out = dir.path() / "numbers.txt";
    auto r = testing::run_yaml("plugins: [\"" + test_plugin("tally") + R"("]
sources:
  numbers: {type: tally_numbers, count: 5, users: 2}
sinks:
  lines: {type: tally_lines, input: numbers, field: i, path: )" +
                               out.string() + "}\n");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "0\n1\n2\n3\n4\n");
}

TEST(PluginLoading, APluginOperatorsStateSurvivesAStopAndResume) {
    auto yaml = [](int stop_after, const std::string& state) {
        std::string y = "plugins: [\"" + test_plugin("tally") + "\"]\n" + state +
                        "sources:\n  clicks: {type: generator, events: 6000, users: 40, seed: 7}\n"
                        "operators:\n  sessions: {type: tally, input: clicks, key: user_id, gap: "
                        "30s}\n  counts:\n    type: select\n    input: sessions\n    fields: "
                        "[user_id, ts, n]\nsinks:\n  out: {type: collect, input: counts}\n"
                        "  metrics: {type: collect, input: sessions.totals}\n";
        if (stop_after > 0) {
            y +=
                "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
                "}\n";
        }
        return y;
    };
    testing::expect_resume_equals_whole(yaml, 2500, "plugin_tally");
}

TEST(PluginLoading, TopologyPluginsAreFoundRelativeToTheTopologyFile) {
    TempDir dir;
    fs::create_directories(dir.path() / "lib");
    fs::copy_file(test_plugin("tally"), dir.path() / "lib" / "libtally.so");
    std::string file = dir.write("topology.yaml", R"(plugins: [lib/libtally.so]
sources:
  numbers: {type: tally_numbers, count: 3}
sinks:
  out: {type: null, input: numbers}
)");
    Diagnostics diags;
    auto root = load_yaml_file(file, diags);
    ASSERT_TRUE(root.has_value());
    Registry registry = builtin_registry();
    ASSERT_TRUE(load_topology_plugins(*root, {}, registry, diags))
        << diags.items().front().to_string();
    const ComponentSpec* source = registry.find(ComponentKind::kSource, "tally_numbers");
    ASSERT_NE(source, nullptr);
    EXPECT_THAT(source->origin, HasSubstr((dir.path() / "lib" / "libtally.so").string()));
}

TEST(PluginSearchPath, BareNamesAreLookedUpInEddyPluginPath) {
    ::setenv("EDDY_PLUGIN_PATH", ("/nonexistent:" + std::string(EDDY_TEST_PLUGINS_DIR)).c_str(), 1);
    auto found = resolve_plugin("tally", "");
    auto with_suffix = resolve_plugin("libtally.so", "");
    auto missing = resolve_plugin("no_such_plugin", "");
    ::unsetenv("EDDY_PLUGIN_PATH");
    ASSERT_TRUE(found.is_ok()) << found.status().message();
    EXPECT_EQ(found.value(), fs::canonical(test_plugin("tally")).string());
    ASSERT_TRUE(with_suffix.is_ok());
    EXPECT_EQ(with_suffix.value(), found.value());
    ASSERT_FALSE(missing.is_ok());
    EXPECT_THAT(missing.status().message(),
                AllOf(StartsWith("plugin 'no_such_plugin' not found (looked for "
                                 "/nonexistent/libno_such_plugin.so, "),
                      HasSubstr("set EDDY_PLUGIN_PATH")));
}

TEST(PluginSearchPath, AMissingPathSaysWhereItLooked) {
    auto r = resolve_plugin("build/plugins/libnothing.so", "/etc/topologies");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().message(),
              "plugin 'build/plugins/libnothing.so' not found (looked for "
              "build/plugins/libnothing.so, /etc/topologies/build/plugins/libnothing.so)");
}

// ---------------------------------------------------------------------------
// Refusals: each names the plugin, what is wrong and what to do

TEST(PluginRefusal, AWrongAbiVersionNamesBothVersions) {
    std::string path = fs::canonical(test_plugin("wrong_abi")).string();
    EXPECT_EQ(refusal(path),
              "plugin '" + path + "' was built for plugin ABI version " +
                  std::to_string(EDDY_PLUGIN_ABI_VERSION + 998) + ", but this engine (Eddy " +
                  kVersion + ") has plugin ABI version " + std::to_string(EDDY_PLUGIN_ABI_VERSION) +
                  ": upgrade eddy to a release with plugin ABI " +
                  std::to_string(EDDY_PLUGIN_ABI_VERSION + 998) +
                  ", or rebuild the plugin against this engine's SDK (find_package(Eddy) with "
                  "CMAKE_PREFIX_PATH set to the prefix this eddy was installed to; "
                  "docs/plugins.md)");
}

TEST(PluginRefusal, AMissingEntryPointSaysItIsNotAnEddyPlugin) {
    std::string path = fs::canonical(test_plugin("no_entry_point")).string();
    EXPECT_EQ(refusal(path), "plugin '" + path +
                                 "' does not export eddy_plugin_abi_version(): it is not an Eddy "
                                 "plugin, or it was built without EDDY_PLUGIN(...) from "
                                 "eddy/plugin.h (docs/plugins.md)");
    EXPECT_THAT(refusal(test_plugin("no_register")),
                HasSubstr("does not export eddy_plugin_register()"));
}

TEST(PluginRefusal, ABuildAgainstANewerSdkIsRefused) {
    EXPECT_THAT(refusal(test_plugin("mismatched_build_1")),
                AllOf(HasSubstr("was built against Eddy SDK " + std::to_string(kVersionMajor) +
                                "." + std::to_string(kVersionMinor + 1) + "."),
                      HasSubstr("newer than this engine (Eddy " + std::string(kVersion) +
                                "): upgrade eddy to"),
                      HasSubstr("or rebuild the plugin")));
}

TEST(PluginRefusal, AnotherStandardLibraryIsRefused) {
    EXPECT_THAT(refusal(test_plugin("mismatched_build_2")),
                AllOf(HasSubstr("was built with libc++"),
                      HasSubstr("but this engine uses libstdc++ (C++11 ABI)"),
                      HasSubstr("with the same standard library")));
}

TEST(PluginRefusal, ADifferentLayoutOfAnSdkTypeIsRefused) {
    EXPECT_THAT(refusal(test_plugin("mismatched_build_3")),
                AllOf(HasSubstr("sees eddy::Record as " + std::to_string(sizeof(Record) + 8) +
                                " bytes, this engine as " + std::to_string(sizeof(Record))),
                      HasSubstr("_GLIBCXX_DEBUG")));
}

TEST(PluginRefusal, ANameOfABuiltInIsADuplicateNamingBothOrigins) {
    std::string path = fs::canonical(test_plugin("duplicate_builtin")).string();
    Registry registry = builtin_registry();
    size_t before = component_count(registry);
    Status s = load_plugin(path, registry);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(),
              "plugin '" + path +
                  "' registers operator type 'filter', which built-in already registers: rename "
                  "the plugin's component (names are unique per kind) or load only one of them");
    EXPECT_EQ(component_count(registry), before);
    EXPECT_EQ(registry.find(ComponentKind::kOperator, "filter")->origin, "built-in");
}

TEST(PluginRefusal, TwoPluginsWithTheSameNameNameBothPlugins) {
    std::string first = fs::canonical(test_plugin("tally")).string();
    std::string second = fs::canonical(test_plugin("tally_copy")).string();
    Registry registry = builtin_registry();
    ASSERT_TRUE(load_plugin(first, registry).is_ok());
    size_t before = component_count(registry);
    Status s = load_plugin(second, registry);
    ASSERT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("plugin '" + second + "' registers "));
    EXPECT_THAT(s.message(), HasSubstr("which plugin " + first + " already registers"));
    // Nothing of the second plugin was added.
    EXPECT_EQ(component_count(registry), before);
    EXPECT_EQ(registry.find(ComponentKind::kOperator, "tally")->origin, "plugin " + first);
}

TEST(PluginRefusal, AFileThatIsNotASharedLibraryIsRefusedPlainly) {
    TempDir dir;
    std::string text = dir.write("libnotes.so", "these are notes, not code\n");
    EXPECT_EQ(refusal(text), "plugin '" + text +
                                 "' is not a shared library (the file does not start with an ELF "
                                 "header); a plugin is the lib<name>.so that eddy_add_plugin() "
                                 "builds");
    std::string empty = dir.write("libempty.so", "");
    EXPECT_THAT(refusal(empty), HasSubstr("is not a shared library"));
}

TEST(PluginRefusal, AnUnloadableLibraryReportsTheLoadersReason) {
    TempDir dir;
    // An ELF header of a shared object followed by nothing: dlopen's own error.
    std::ifstream in(test_plugin("tally"), std::ios::binary);
    std::string head(64, '\0');
    in.read(head.data(), 64);
    std::string truncated = dir.write("libtruncated.so", head);
    EXPECT_THAT(refusal(truncated), HasSubstr("' cannot be loaded: "));
}

TEST(PluginRefusal, TopologyErrorsPointAtThePluginsEntry) {
    Diagnostics diags;
    auto root = load_yaml_text(R"(plugins:
  - ")" + test_plugin("wrong_abi") +
                                   R"("
  - ")" + test_plugin("tally") + R"("
sources: {}
sinks: {}
)",
                               "t.yaml", diags);
    ASSERT_TRUE(root.has_value());
    Registry registry = builtin_registry();
    EXPECT_FALSE(load_topology_plugins(*root, {"no_such_plugin"}, registry, diags));
    ASSERT_EQ(diags.error_count(), 2u);
    std::vector<Diagnostic> d = diags.sorted();
    EXPECT_EQ(d[0].kind, "plugin");
    EXPECT_THAT(d[0].to_string(), StartsWith("--plugin no_such_plugin: error: plugin "));
    EXPECT_THAT(d[1].to_string(), StartsWith("t.yaml:2:5: error: plugin '"));
    EXPECT_THAT(d[1].message, HasSubstr("plugin ABI version"));
    // The good plugin of the list still loaded.
    EXPECT_NE(registry.find(ComponentKind::kOperator, "tally"), nullptr);
}

}  // namespace
}  // namespace eddy
