// SPDX-License-Identifier: Apache-2.0
// `eddy schema`: the JSON Schema of topology files is generated from the
// registry, covers every component, carries each parameter's type, default,
// enum and doc, refuses the keys the validator refuses, and accepts exactly
// the keys the validator accepts (read back from the validator's own hints).
// tests/integration/schema_check_test.cc validates files against it.
#include "topology/schema.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

const ComponentKind kKinds[] = {ComponentKind::kSource, ComponentKind::kOperator,
                                ComponentKind::kSink};

/// Parses a schema; the parser must outlive the elements read from it.
element parse(simdjson::dom::parser& parser, const std::string& json) {
    element root;
    simdjson::error_code error = parser.parse(json).get(root);
    EXPECT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error);
    return root;
}

std::string text(element e) {
    std::string_view s;
    return e.get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

std::set<std::string> keys(element e) {
    std::set<std::string> out;
    object o;
    if (e.get(o) == simdjson::SUCCESS) {
        for (auto field : o) {
            out.insert(std::string(field.key));
        }
    }
    return out;
}

/// The strings of an array (other values left out).
std::vector<std::string> strings(element e) {
    std::vector<std::string> out;
    array a;
    if (e.get(a) == simdjson::SUCCESS) {
        for (element x : a) {
            if (x.is_string()) {
                out.push_back(text(x));
            }
        }
    }
    return out;
}

/// The `then` of the case for component type `name` in definitions/<kind>.
element case_of(element root, ComponentKind kind, const std::string& name) {
    array cases = root["definitions"][component_kind_name(kind)]["allOf"];
    for (element c : cases) {
        if (text(c["if"]["properties"]["type"]["enum"].at(0)) == name) {
            return c["then"];
        }
    }
    ADD_FAILURE() << "no case for " << component_kind_name(kind) << " " << name;
    return root;
}

/// The list a validator hint gives after `prefix` ("top-level keys are a, b").
std::set<std::string> hinted_keys(const std::string& yaml, const std::string& prefix) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "t.yaml", diags);
    EXPECT_TRUE(root.has_value());
    validate_topology(*root, builtin_registry(), diags);
    for (const Diagnostic& d : diags.items()) {
        if (d.kind == "unknown_field" && d.hint.rfind(prefix, 0) == 0) {
            std::string list = d.hint.substr(prefix.size());
            list = list.substr(0, list.find(" (see"));
            std::set<std::string> out;
            std::stringstream in(list);
            for (std::string item; std::getline(in, item, ',');) {
                out.insert(item.substr(item.find_first_not_of(' ')));
            }
            return out;
        }
    }
    ADD_FAILURE() << "no hint '" << prefix << "' for:\n" << yaml;
    return {};
}

ComponentSpec probe_spec() {
    return OperatorSpec("probe")
        .summary("A probe with every parameter type.")
        .keyed(KeyMode::kRequired)
        .param(Param::string("field").required().doc("A field."))
        .param(Param::integer("count").default_value(10).min(1).max(100).doc("A count."))
        .param(Param::number("ratio").default_value(0.25).doc("A ratio."))
        .param(Param::boolean("flag").default_value(true).doc("A flag."))
        .param(Param::duration("gap").default_value("30m").min(1000).doc("A gap."))
        .param(Param::size("buffer").default_value("64MB").doc("A buffer."))
        .param(Param::enumeration("mode", {"fast", "exact"}).default_value("fast").doc("A mode."))
        .param(Param::list("names").default_value("[a, b]").doc("Names."))
        .param(Param::map("weights", ParamType::kDouble).default_value("{a: 1.5}").doc("W."))
        .param(Param::any("anything").default_value("7").doc("Anything."))
        .factory([](const Config&) -> Result<std::unique_ptr<Operator>> {
            return Status::invalid_argument("a probe never runs");
        });
}

TEST(SchemaTest, IsDraft07JsonCoveringEveryRegisteredComponent) {
    simdjson::dom::parser parser;
    element root = parse(parser, topology_schema(builtin_registry()));
    EXPECT_EQ(text(root["$schema"]), "http://json-schema.org/draft-07/schema#");
    for (ComponentKind kind : kKinds) {
        element def = root["definitions"][component_kind_name(kind)];
        std::vector<std::string> names = builtin_registry().names(kind);
        EXPECT_EQ(strings(def["properties"]["type"]["enum"]), names);
        EXPECT_EQ(array(def["properties"]["type"]["enumDescriptions"]).size(),
                  array(def["properties"]["type"]["enum"]).size());
        EXPECT_EQ(array(def["allOf"]).size(), names.size());
        for (const ComponentSpec* spec : builtin_registry().all(kind)) {
            element then = case_of(root, kind, spec->name);
            EXPECT_EQ(text(then["description"]), spec->summary);
            // Every parameter is a property with its doc.
            for (const Param& p : spec->params) {
                element prop = then["properties"][p.name()];
                EXPECT_THAT(text(prop["description"]), ::testing::StartsWith(p.doc_text()))
                    << spec->name << "." << p.name();
            }
        }
    }
}

TEST(SchemaTest, ParameterTypesDefaultsEnumsAndRequiredComeThrough) {
    Registry registry = builtin_registry();
    ASSERT_TRUE(registry.add(probe_spec(), "plugin /tmp/libprobe.so").is_ok());
    simdjson::dom::parser parser;
    std::string json = topology_schema(registry);
    element root = parse(parser, json);
    element probe = case_of(root, ComponentKind::kOperator, "probe");
    EXPECT_EQ(text(probe["description"]),
              "A probe with every parameter type. (plugin /tmp/libprobe.so)");
    EXPECT_EQ(strings(probe["required"]), (std::vector<std::string>{"type", "key", "field"}));
    element props = probe["properties"];

    EXPECT_EQ(strings(props["field"]["type"]),
              (std::vector<std::string>{"string", "number", "boolean"}));
    element count = props["count"];
    EXPECT_EQ(int64_t(count["default"]), 10);
    EXPECT_EQ(text(count["anyOf"].at(0)["type"]), "integer");
    EXPECT_EQ(int64_t(count["anyOf"].at(0)["minimum"]), 1);
    EXPECT_EQ(int64_t(count["anyOf"].at(0)["maximum"]), 100);
    EXPECT_EQ(text(count["anyOf"].at(1)["$ref"]), "#/definitions/env");
    EXPECT_EQ(double(props["ratio"]["default"]), 0.25);
    EXPECT_EQ(text(props["ratio"]["anyOf"].at(0)["type"]), "number");
    EXPECT_EQ(bool(props["flag"]["default"]), true);
    EXPECT_EQ(text(props["flag"]["anyOf"].at(0)["type"]), "boolean");
    EXPECT_EQ(text(props["gap"]["default"]), "30m");
    EXPECT_THAT(text(props["gap"]["pattern"]), ::testing::HasSubstr("ms|s|m|h|d|w"));
    EXPECT_THAT(text(props["gap"]["description"]), ::testing::HasSubstr("at least 1s"));
    EXPECT_EQ(text(props["buffer"]["default"]), "64MB");
    EXPECT_EQ(int64_t(props["buffer"]["anyOf"].at(0)["minimum"]), 0);
    EXPECT_THAT(text(props["buffer"]["anyOf"].at(1)["pattern"]), ::testing::HasSubstr("MB"));
    EXPECT_EQ(text(props["mode"]["default"]), "fast");
    EXPECT_EQ(strings(props["mode"]["anyOf"].at(0)["enum"]),
              (std::vector<std::string>{"fast", "exact"}));
    EXPECT_EQ(strings(props["names"]["default"]), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(text(props["names"]["type"]), "array");
    EXPECT_EQ(double(props["weights"]["default"]["a"]), 1.5);
    EXPECT_EQ(text(props["weights"]["additionalProperties"]["anyOf"].at(0)["type"]), "number");
    EXPECT_EQ(int64_t(props["anything"]["default"]), 7);
    EXPECT_EQ(keys(props["anything"]), (std::set<std::string>{"default", "description"}));
    // A keyed operator takes key and state_ttl, and state_ttl needs key.
    EXPECT_EQ(strings(probe["dependencies"]["state_ttl"]), (std::vector<std::string>{"key"}));
    EXPECT_TRUE(keys(props).count("state_ttl"));
}

TEST(SchemaTest, RealSpecsComeThroughToo) {
    simdjson::dom::parser parser;
    element root = parse(parser, topology_schema(builtin_registry()));
    element filter = case_of(root, ComponentKind::kOperator, "filter");
    EXPECT_THAT(strings(filter["required"]), ::testing::Contains("field"));
    EXPECT_EQ(text(filter["properties"]["op"]["default"]), "eq");
    EXPECT_THAT(strings(filter["properties"]["op"]["anyOf"].at(0)["enum"]),
                ::testing::Contains("not_in"));
    // filter is not keyed: no key, no state_ttl.
    EXPECT_FALSE(keys(filter["properties"]).count("key"));
    EXPECT_FALSE(keys(filter["properties"]).count("state_ttl"));
    element sessionizer = case_of(root, ComponentKind::kOperator, "sessionizer");
    EXPECT_TRUE(keys(sessionizer["properties"]).count("key"));
    // renamed_from is on every operator, keyed or not, and on nothing else.
    EXPECT_TRUE(keys(sessionizer["properties"]).count("renamed_from"));
    EXPECT_TRUE(keys(filter["properties"]).count("renamed_from"));
    EXPECT_FALSE(
        keys(case_of(root, ComponentKind::kSink, "file")["properties"]).count("renamed_from"));
    EXPECT_FALSE(
        keys(case_of(root, ComponentKind::kSource, "file")["properties"]).count("renamed_from"));
}

TEST(SchemaTest, UnknownKeysAreRefusedWhereTheValidatorRefusesThem) {
    simdjson::dom::parser parser;
    element root = parse(parser, topology_schema(builtin_registry()));
    EXPECT_FALSE(bool(root["additionalProperties"]));
    EXPECT_FALSE(bool(root["properties"]["state"]["additionalProperties"]));
    EXPECT_FALSE(bool(root["properties"]["serve"]["additionalProperties"]));
    EXPECT_FALSE(bool(root["properties"]["serve"]["properties"]["views"]["additionalProperties"]));
    for (ComponentKind kind : kKinds) {
        for (const ComponentSpec* spec : builtin_registry().all(kind)) {
            EXPECT_FALSE(bool(case_of(root, kind, spec->name)["additionalProperties"]))
                << spec->name;
        }
    }
}

// The validator's hints list the keys it accepts; the schema must accept the same.
TEST(SchemaTest, AcceptsExactlyTheKeysTheValidatorAccepts) {
    simdjson::dom::parser parser;
    element root = parse(parser, topology_schema(builtin_registry()));
    std::set<std::string> top = keys(root["properties"]);
    // `tests:` belongs to `eddy test`; the validator may not know it yet.
    std::set<std::string> validator_top =
        hinted_keys("zzzzzzzzzzzz: 1\nsources: {}\nsinks: {}\n", "top-level keys are ");
    validator_top.insert("tests");
    EXPECT_EQ(top, validator_top);
    EXPECT_EQ(keys(root["properties"]["state"]["properties"]),
              hinted_keys("state: {zzzzzzzzzzzz: 1}\nsources: {}\nsinks: {}\n", "`state` takes "));
    EXPECT_EQ(keys(root["properties"]["serve"]["properties"]),
              hinted_keys("serve: {zzzzzzzzzzzz: 1}\nsources: {}\nsinks: {}\n", "`serve` takes "));
    for (ComponentKind kind : kKinds) {
        for (const ComponentSpec* spec : builtin_registry().all(kind)) {
            std::string section = kind == ComponentKind::kSource     ? "sources"
                                  : kind == ComponentKind::kOperator ? "operators"
                                                                     : "sinks";
            // Missing sections add errors of their own, not hints.
            std::string yaml = section + ": {x: {type: " + spec->name + ", zzzzzzzzzzzz: 1}}\n";
            std::set<std::string> accepted = keys(case_of(root, kind, spec->name)["properties"]);
            accepted.erase("type");
            EXPECT_EQ(accepted, hinted_keys(yaml, "parameters of " + spec->name + ": "))
                << spec->name;
            if (kind == ComponentKind::kSource) {
                element watermark = case_of(root, kind, spec->name)["properties"]["watermark"];
                EXPECT_EQ(keys(watermark["properties"]),
                          hinted_keys(section + ": {x: {type: " + spec->name +
                                          ", watermark: {zzzzzzzzzzzz: 1}}}\n",
                                      "`watermark` takes "));
            }
        }
    }
}

TEST(SchemaTest, IndentingKeepsStringsIntact) {
    EXPECT_EQ(
        indent_json(R"({"a":[1,{}],"b":"x,{y}:\"z\"","c":[]})"),
        "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"x,{y}:\\\"z\\\"\",\n  \"c\": []\n}\n");
    // Arrays of scalars stay on one line.
    EXPECT_EQ(indent_json(R"({"d":["x, [y]",2,null]})"), "{\n  \"d\": [\"x, [y]\", 2, null]\n}\n");
}

// `type: null` is YAML's null to an editor and the `null` sink to eddy.
TEST(SchemaTest, ComponentTypesThatYamlReadsAsOtherValuesAreAccepted) {
    simdjson::dom::parser parser;
    element root = parse(parser, topology_schema(builtin_registry()));
    bool has_null = false;
    for (element e : array(root["definitions"]["sink"]["properties"]["type"]["enum"])) {
        has_null = has_null || e.is_null();
    }
    EXPECT_TRUE(has_null);
    element null_sink = case_of(root, ComponentKind::kSink, "null");
    EXPECT_TRUE(null_sink["properties"]["type"]["enum"].at(1).is_null());
}

TEST(SchemaTest, CheckedInSchemaMatchesTheSpecs) {
    std::ifstream in(std::string(EDDY_SOURCE_DIR) + "/docs/eddy-topology.schema.json");
    ASSERT_TRUE(in) << "docs/eddy-topology.schema.json is missing; run `make docs`";
    std::stringstream checked_in;
    checked_in << in.rdbuf();
    EXPECT_EQ(checked_in.str(), topology_schema(builtin_registry()))
        << "docs/eddy-topology.schema.json is stale; run `make docs` and commit it";
}

}  // namespace
}  // namespace eddy
