// SPDX-License-Identifier: Apache-2.0
// The specs are the single source of truth: every one is documented, its
// examples validate, the built-in set is exactly what we ship, and
// docs/operators.md is what the specs generate.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/builtins.h"
#include "topology/reference.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

const ComponentKind kKinds[] = {ComponentKind::kSource, ComponentKind::kOperator,
                                ComponentKind::kSink};

TEST(SpecsTest, BuiltInSetIsExactlyTheShippedOne) {
    const Registry& r = builtin_registry();
    EXPECT_EQ(r.names(ComponentKind::kSource),
              (std::vector<std::string>{"file", "generator", "stdin"}));
    EXPECT_EQ(r.names(ComponentKind::kOperator),
              (std::vector<std::string>{"bot_filter", "filter", "profile", "segment", "select",
                                        "sessionizer", "window"}));
    EXPECT_EQ(r.names(ComponentKind::kSink), (std::vector<std::string>{"file", "null", "stdout"}));
}

TEST(SpecsTest, EverySpecAndParameterIsDocumented) {
    for (ComponentKind kind : kKinds) {
        for (const ComponentSpec* spec : builtin_registry().all(kind)) {
            EXPECT_FALSE(spec->summary.empty()) << spec->name << " has no summary";
            EXPECT_EQ(spec->origin, "built-in");
            for (const Param& p : spec->params) {
                EXPECT_FALSE(p.doc_text().empty())
                    << spec->name << "." << p.name() << " has no doc";
            }
            for (const OutputSpec& o : spec->outputs) {
                EXPECT_FALSE(o.doc.empty()) << spec->name << " output " << o.name << " has no doc";
            }
        }
    }
}

TEST(SpecsTest, EveryDefaultIsValidForItsParameter) {
    for (ComponentKind kind : kKinds) {
        for (const ComponentSpec* spec : builtin_registry().all(kind)) {
            for (const Param& p : spec->params) {
                if (!p.default_text() || p.type() == ParamType::kList ||
                    p.type() == ParamType::kMap) {
                    continue;
                }
                Diagnostics diags;
                auto v =
                    convert_param(p, ConfigValue::string(*p.default_text()), spec->name, diags);
                EXPECT_TRUE(v.has_value()) << spec->name << "." << p.name() << " default "
                                           << *p.default_text() << " is invalid";
            }
        }
    }
}

// An operator example is a fragment; wrap it into a topology that validates.
std::string complete_example(const ComponentSpec& spec, const std::string& yaml) {
    std::string out = yaml;
    if (spec.kind == ComponentKind::kOperator || spec.kind == ComponentKind::kSink) {
        if (yaml.find("sources:") == std::string::npos) {
            out = "sources:\n  clicks: {type: generator, events: 10}\n" + out;
        }
    }
    if (yaml.find("sinks:") == std::string::npos) {
        out += "\nsinks:\n  eddy_example_sink: {type: null, inputs: [";
        // Read every component the example defines.
        Diagnostics diags;
        auto root = load_yaml_text(yaml, "example", diags);
        std::string sep;
        for (const char* section : {"sources", "operators"}) {
            if (const ConfigValue* s = root ? root->find(section) : nullptr;
                s != nullptr && s->is_map()) {
                for (const auto& [name, body] : s->entries()) {
                    out += sep + name;
                    sep = ", ";
                }
            }
        }
        out += "]}\n";
    }
    return out;
}

TEST(SpecsTest, EveryExampleValidates) {
    for (ComponentKind kind : kKinds) {
        for (const ComponentSpec* spec : builtin_registry().all(kind)) {
            for (const ExampleSpec& e : spec->examples) {
                std::string yaml = complete_example(*spec, e.yaml);
                Diagnostics diags;
                auto root = load_yaml_text(yaml, spec->name + " example", diags);
                ASSERT_TRUE(root) << yaml;
                auto t = validate_topology(*root, builtin_registry(), diags);
                std::string all;
                for (const Diagnostic& d : diags.items()) {
                    all += d.to_string() + "\n";
                }
                EXPECT_TRUE(t.has_value()) << spec->name << " example '" << e.title << "':\n"
                                           << yaml << "\n"
                                           << all;
            }
        }
    }
}

TEST(SpecsTest, CheckedInReferenceMatchesTheSpecs) {
    std::ifstream in(std::string(EDDY_SOURCE_DIR) + "/docs/operators.md");
    ASSERT_TRUE(in) << "docs/operators.md is missing; run `make docs`";
    std::stringstream checked_in;
    checked_in << in.rdbuf();
    EXPECT_EQ(checked_in.str(), registry_markdown(builtin_registry()))
        << "docs/operators.md is stale; run `make docs` and commit it";
}

TEST(SpecsTest, ReferenceTextShowsParametersOutputsAndExamples) {
    const ComponentSpec* filter = builtin_registry().find(ComponentKind::kOperator, "filter");
    ASSERT_NE(filter, nullptr);
    std::string text = spec_text(*filter);
    EXPECT_THAT(text, ::testing::HasSubstr("field (string; required)"));
    EXPECT_THAT(text,
                ::testing::HasSubstr("op (one of: eq, ne, lt, le, gt, ge, in, not_in, exists, "
                                     "missing; default eq)"));
    EXPECT_THAT(text, ::testing::HasSubstr("rejected  Records that do not satisfy the condition."));
    EXPECT_THAT(text, ::testing::HasSubstr("example: Keep purchases and carts"));
    std::string listing = registry_listing(builtin_registry());
    EXPECT_THAT(listing, ::testing::HasSubstr("operators:\n"));
    EXPECT_THAT(listing, ::testing::HasSubstr("\n  filter         Keeps records"));
}

}  // namespace
}  // namespace eddy
