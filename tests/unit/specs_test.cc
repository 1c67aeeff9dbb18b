// SPDX-License-Identifier: Apache-2.0
// The specs are the single source of truth: every one is documented, its
// examples validate, the built-in set is exactly what we ship, and
// docs/operators.md is what the specs generate. The example plugins'
// specs (plugins/) are held to the same rules.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/clock.h"
#include "eddy/fields.h"

#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "time/timer_service.h"
#include "topology/reference.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

const ComponentKind kKinds[] = {ComponentKind::kSource, ComponentKind::kOperator,
                                ComponentKind::kSink};

/// The built-ins plus every example plugin of this build (plugins/).
const Registry& shipped_registry() {
    static const Registry registry = [] {
        // pii's examples hash with a secret from the environment, read at open().
        ::setenv("EDDY_PII_KEY", "specs-test-secret-0123456789", 0);
        Registry r = builtin_registry();
        for (const auto& entry : std::filesystem::directory_iterator(EDDY_PLUGINS_DIR)) {
            if (entry.path().extension() == ".so") {
                Status s = load_plugin(entry.path().string(), r);
                EXPECT_TRUE(s.is_ok()) << s.message();
            }
        }
        return r;
    }();
    return registry;
}

TEST(SpecsTest, TheExamplePluginsAreChecked) {
    EXPECT_NE(shipped_registry().find(ComponentKind::kOperator, "ab_assign"), nullptr);
    EXPECT_NE(shipped_registry().find(ComponentKind::kOperator, "context_features"), nullptr);
}

TEST(SpecsTest, BuiltInSetIsExactlyTheShippedOne) {
    const Registry& r = builtin_registry();
    EXPECT_EQ(r.names(ComponentKind::kSource),
              (std::vector<std::string>{"file", "generator", "http", "kafka", "stdin"}));
    EXPECT_EQ(
        r.names(ComponentKind::kOperator),
        (std::vector<std::string>{
            "bandit",      "bot_filter",      "consent", "drift",     "experiment",  "filter",
            "impute",      "item_similarity", "kmeans",  "mf",        "next_action", "normalize",
            "pii",         "popularity",      "profile", "recommend", "segment",     "select",
            "sessionizer", "validate",        "window"}));
    EXPECT_EQ(r.names(ComponentKind::kSink),
              (std::vector<std::string>{"file", "kafka", "null", "redis", "stdout"}));
}

TEST(SpecsTest, EverySpecAndParameterIsDocumented) {
    for (ComponentKind kind : kKinds) {
        for (const ComponentSpec* spec : shipped_registry().all(kind)) {
            EXPECT_FALSE(spec->summary.empty()) << spec->name << " has no summary";
            EXPECT_TRUE(spec->origin == "built-in" || spec->origin.rfind("plugin ", 0) == 0)
                << spec->origin;
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
        for (const ComponentSpec* spec : shipped_registry().all(kind)) {
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
        for (const ComponentSpec* spec : shipped_registry().all(kind)) {
            for (const ExampleSpec& e : spec->examples) {
                std::string yaml = complete_example(*spec, e.yaml);
                Diagnostics diags;
                auto root = load_yaml_text(yaml, spec->name + " example", diags);
                ASSERT_TRUE(root) << yaml;
                auto t = validate_topology(*root, shipped_registry(), diags);
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

/// Opens an operator and records the state handles it registers.
class RecordingContext final : public OpenContext {
public:
    std::string_view name() const override { return "op"; }
    FieldId field(std::string_view n) override { return fields_.intern(n); }
    std::string_view field_name(FieldId id) const override { return fields_.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view) override { return 1; }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle& s) override { states.push_back(&s); }

    std::vector<StateHandle*> states;

private:
    FieldTable fields_;
    ManualClock clock_;
    TimerService timers_;
};

TEST(SpecsTest, EveryOperatorRegistersExactlyTheStateItsSpecDeclares) {
    for (const ComponentSpec* spec : shipped_registry().all(ComponentKind::kOperator)) {
        ASSERT_FALSE(spec->examples.empty()) << spec->name;
        for (const ExampleSpec& e : spec->examples) {
            Diagnostics diags;
            auto root = load_yaml_text(complete_example(*spec, e.yaml), "example", diags);
            ASSERT_TRUE(root);
            auto topo = validate_topology(*root, shipped_registry(), diags);
            ASSERT_TRUE(topo.has_value()) << spec->name;
            for (const ComponentDef& def : topo->components) {
                if (def.spec != spec) {
                    continue;
                }
                auto op = spec->make_operator(def.config);
                ASSERT_TRUE(op.is_ok()) << spec->name;
                RecordingContext ctx;
                ASSERT_TRUE(op.value()->open(ctx).is_ok()) << spec->name;
                ASSERT_EQ(ctx.states.size(), spec->states.size())
                    << spec->name << " example '" << e.title << "'";
                for (size_t i = 0; i < ctx.states.size(); ++i) {
                    const StateSpec& declared = spec->states[i];
                    EXPECT_EQ(ctx.states[i]->name(), declared.name) << spec->name;
                    EXPECT_EQ(ctx.states[i]->keyed(), declared.keyed) << declared.name;
                    EXPECT_EQ(ctx.states[i]->format_version(), declared.format_version)
                        << declared.name;
                    EXPECT_NE(declared.to_json, nullptr) << declared.name;
                    EXPECT_FALSE(declared.doc.empty()) << declared.name;
                }
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
    const ComponentSpec* segment = builtin_registry().find(ComponentKind::kOperator, "segment");
    ASSERT_NE(segment, nullptr);
    EXPECT_THAT(spec_text(*segment),
                ::testing::HasSubstr("  segments (keyed)\n      Per key: its current segment.\n"
                                     "  percentiles (global, per shard)\n"));
    EXPECT_THAT(registry_markdown(builtin_registry()),
                ::testing::HasSubstr("| `percentiles` | global, per shard | Per instance"));
    std::string listing = registry_listing(builtin_registry());
    EXPECT_THAT(listing, ::testing::HasSubstr("operators:\n"));
    EXPECT_THAT(listing, ::testing::HasSubstr("\n  filter         Keeps records"));
}

}  // namespace
}  // namespace eddy
