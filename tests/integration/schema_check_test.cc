// SPDX-License-Identifier: Apache-2.0
// The schema `eddy schema` prints, checked by a real JSON Schema validator
// (python3-jsonschema, through schema_check.py): every shipped topology is
// valid, as a YAML 1.2 editor reads it, and known-bad snippets are refused,
// as `eddy validate` refuses them. Skips when python3 or jsonschema is missing.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "eddy/json_writer.h"

#include "files.h"
#include "plugin/loader.h"
#include "process.h"
#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kChecker = std::string(EDDY_SOURCE_DIR) + "/tests/integration/schema_check.py";
const std::string kPluginPath = std::string("EDDY_PLUGIN_PATH=") + EDDY_PLUGINS_DIR;

/// A plain scalar as YAML 1.2's core schema types it (what yaml-language-server
/// and other editors see); quoted scalars are strings.
void write_scalar(JsonWriter& j, const YAML::Node& node) {
    const std::string& s = node.Scalar();
    if (node.Tag() != "?") {
        j.value(s);
        return;
    }
    static const std::regex kNull("~|null|Null|NULL|");
    static const std::regex kBool("true|True|TRUE|false|False|FALSE");
    static const std::regex kInt("[-+]?[0-9]+");
    static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
    if (std::regex_match(s, kNull)) {
        j.value(nullptr);
    } else if (std::regex_match(s, kBool)) {
        j.value(s[0] == 't' || s[0] == 'T');
    } else if (std::regex_match(s, kInt)) {
        j.value(static_cast<int64_t>(std::stoll(s)));
    } else if (std::regex_match(s, kFloat)) {
        j.value(std::stod(s));
    } else {
        j.value(s);
    }
}

void write_node(JsonWriter& j, const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar:
            write_scalar(j, node);
            return;
        case YAML::NodeType::Sequence:
            j.begin_array();
            for (const YAML::Node& item : node) {
                write_node(j, item);
            }
            j.end_array();
            return;
        case YAML::NodeType::Map:
            j.begin_object();
            for (auto it = node.begin(); it != node.end(); ++it) {
                j.key(it->first.Scalar());
                write_node(j, it->second);
            }
            j.end_object();
            return;
        default:
            j.value(nullptr);
    }
}

std::string yaml_to_json(const std::string& yaml) {
    JsonWriter j;
    write_node(j, YAML::Load(yaml));
    return j.str();
}

using eddy::testing::read_file;

class SchemaCheckTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("eddy_schema_check_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        auto probe = testing::run_program({"python3", "-c", "import jsonschema"});
        if (probe.exit_code != 0) {
            skip_ = "python3 with the jsonschema package is needed (Debian: python3-jsonschema): " +
                    probe.both();
            return;
        }
        // The example plugins that topologies/ uses, found by name in this build.
        schema_ = dir_ / "schema.json";
        generated_ =
            testing::run_program({EDDY_BINARY, "schema", "--plugin", "ab_assign", "--plugin",
                                  "context_features", "--out", schema_.string()},
                                 {kPluginPath});
    }
    static void TearDownTestSuite() { fs::remove_all(dir_); }

    void SetUp() override {
        if (!skip_.empty()) {
            GTEST_SKIP() << skip_;
        }
        ASSERT_EQ(generated_.exit_code, 0) << generated_.both();
    }

    /// Runs schema_check.py on JSON files; returns its lines per file.
    static std::map<std::string, std::vector<std::string>> check(const std::vector<fs::path>& files,
                                                                 int expected_exit) {
        std::vector<std::string> argv = {"python3", kChecker, schema_.string()};
        for (const fs::path& f : files) {
            argv.push_back(f.string());
        }
        auto run = testing::run_program(argv);
        EXPECT_EQ(run.exit_code, expected_exit) << run.both();
        std::map<std::string, std::vector<std::string>> lines;
        std::istringstream in(run.out);
        for (std::string line; std::getline(in, line);) {
            size_t colon = line.find(": ");
            lines[line.substr(0, colon)].push_back(line.substr(colon + 2));
        }
        return lines;
    }

    /// A snippet as the JSON an editor sees, written to a file named `name`.
    static fs::path write_json(const std::string& name, const std::string& yaml) {
        fs::path path = dir_ / (name + ".json");
        std::ofstream(path) << yaml_to_json(yaml);
        return path;
    }

    static inline fs::path dir_;
    static inline fs::path schema_;
    static inline std::string skip_;
    static inline testing::ProgramOutcome generated_;
};

TEST_F(SchemaCheckTest, EveryShippedTopologyIsValid) {
    std::vector<fs::path> files;
    for (const char* folder : {"/topologies", "/bench", "/bench/operators", "/bench/state"}) {
        for (const auto& entry : fs::directory_iterator(std::string(EDDY_SOURCE_DIR) + folder)) {
            if (entry.path().extension() == ".yaml") {
                std::string name = fs::relative(entry.path(), EDDY_SOURCE_DIR).string();
                std::replace(name.begin(), name.end(), '/', '_');
                files.push_back(write_json(name, read_file(entry.path())));
            }
        }
    }
    ASSERT_GE(files.size(), 8u);
    auto lines = check(files, 0);
    for (const fs::path& f : files) {
        EXPECT_EQ(lines[f.string()], std::vector<std::string>{"ok"}) << f;
    }
}

struct Snippet {
    std::string name;
    std::string yaml;
    std::string error;  ///< Empty when valid; else part of the schema's message.
};

// Each wraps one component in a complete topology. Bad ones are refused by
// `eddy validate` too (checked below), so schema and validator agree.
const std::vector<Snippet> kSnippets = {
    {"good", "operators: {o: {type: sessionizer, input: c, key: user_id, gap: 30m}}", ""},
    {"good_env",
     "parallelism: ${EDDY_P:-2}\n"
     "operators: {o: {type: sessionizer, input: c, key: user_id, gap: '${EDDY_GAP:-30m}',\n"
     "                annotate: '${EDDY_ANNOTATE:-true}'}}",
     ""},
    {"good_plugin", "operators: {o: {type: context_features, input: c}}", ""},
    {"unknown_type", "operators: {o: {type: sessionise, input: c, key: user_id}}",
     "'sessionise' is not one of ["},
    {"wrong_type_duration", "operators: {o: {type: sessionizer, input: c, key: user_id, gap: 30}}",
     "30 is not of type 'string'"},
    {"wrong_type_int", "operators: {o: {type: filter, input: c, field: type}}\nparallelism: two",
     "'two' is not of type 'integer'"},
    {"out_of_range", "operators: {o: {type: filter, input: c, field: type}}\nparallelism: 0",
     "0 is less than the minimum of 1"},
    {"missing_required", "operators: {o: {type: filter, input: c}}",
     "'field' is a required property"},
    {"missing_key", "operators: {o: {type: sessionizer, input: c}}",
     "'key' is a required property"},
    {"bad_enum", "operators: {o: {type: filter, input: c, field: type, op: equals}}",
     "'equals' is not one of ['eq'"},
    {"unknown_param", "operators: {o: {type: filter, input: c, field: type, feild: x}}",
     "('feild' was unexpected)"},
    {"key_on_unkeyed", "operators: {o: {type: filter, input: c, field: type, key: user_id}}",
     "('key' was unexpected)"},
    {"input_and_inputs", "operators: {o: {type: filter, input: c, inputs: [c], field: type}}",
     "{'required': ['input', 'inputs']}"},
    {"unknown_top_level", "operators: {o: {type: filter, input: c, field: type}}\nparalelism: 2",
     "('paralelism' was unexpected)"},
    {"bad_state_key", "operators: {o: {type: filter, input: c, field: type}}\nstate: {dri: x}",
     "('dri' was unexpected)"},
};

std::string topology(const Snippet& s) {
    return "sources: {c: {type: stdin}}\n" + s.yaml + "\nsinks: {out: {type: stdout, input: o}}\n";
}

TEST_F(SchemaCheckTest, KnownBadSnippetsAreRefusedAsEddyValidateRefusesThem) {
    std::vector<fs::path> files;
    Registry registry = builtin_registry();
    ASSERT_TRUE(load_plugin(EDDY_PLUGINS_DIR "/libcontext_features.so", registry).is_ok());
    for (const Snippet& s : kSnippets) {
        files.push_back(write_json(s.name, topology(s)));
        Diagnostics diags;
        auto root = load_yaml_text(topology(s), s.name, diags);
        ASSERT_TRUE(root.has_value()) << s.name;
        validate_topology(*root, registry, diags);
        EXPECT_EQ(diags.has_errors(), !s.error.empty()) << s.name << ": " << topology(s);
    }
    auto lines = check(files, 1);
    for (size_t i = 0; i < kSnippets.size(); ++i) {
        const Snippet& s = kSnippets[i];
        const std::vector<std::string>& got = lines[files[i].string()];
        if (s.error.empty()) {
            EXPECT_EQ(got, std::vector<std::string>{"ok"}) << s.name;
        } else {
            ASSERT_FALSE(got.empty()) << s.name;
            std::string all;
            for (const std::string& l : got) {
                all += l + "\n";
            }
            EXPECT_THAT(all, HasSubstr(s.error)) << s.name;
        }
    }
}

TEST_F(SchemaCheckTest, BooleansMayBeSubstitutionsButNotOtherWords) {
    std::string kafka =
        "sources: {k: {type: kafka, topics: [t], brokers: '${B:-127.0.0.1:9092}', until_end: ";
    auto lines = check({write_json("bool_env", kafka + "'${E:-false}'}}\nsinks: {}"),
                        write_json("bool_word", kafka + "maybe}}\nsinks: {}")},
                       1);
    EXPECT_EQ(lines[(dir_ / "bool_env.json").string()], std::vector<std::string>{"ok"});
    ASSERT_EQ(lines[(dir_ / "bool_word.json").string()].size(), 1u);
    EXPECT_THAT(lines[(dir_ / "bool_word.json").string()][0],
                HasSubstr("/sources/k/until_end: 'maybe' is not valid under any of the given "
                          "schemas ("));
}

TEST_F(SchemaCheckTest, ATopologysPluginsJoinTheSchema) {
    auto with = testing::run_program(
        {EDDY_BINARY, "schema", std::string(EDDY_SOURCE_DIR) + "/topologies/context.yaml"},
        {kPluginPath});
    ASSERT_EQ(with.exit_code, 0) << with.err;
    const std::string kCase = R"("enum": ["context_features"])";
    EXPECT_NE(with.out.find(kCase), std::string::npos);
    auto without = testing::run_program({EDDY_BINARY, "schema"});
    ASSERT_EQ(without.exit_code, 0) << without.err;
    EXPECT_EQ(without.out.find(kCase), std::string::npos);
    EXPECT_EQ(without.out,
              read_file(std::string(EDDY_SOURCE_DIR) + "/docs/eddy-topology.schema.json"));
    auto missing = testing::run_program({EDDY_BINARY, "schema", "--plugin", "no_such_plugin"},
                                        {"EDDY_PLUGIN_PATH=/nonexistent"});
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_THAT(missing.err, HasSubstr("no_such_plugin"));
}

}  // namespace
}  // namespace eddy
