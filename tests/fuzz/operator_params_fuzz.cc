// SPDX-License-Identifier: Apache-2.0
// One operator's parameters, from YAML to an opened operator: the operator is
// the body's `type` when it names a built-in one, else the first input byte
// picks it from builtin_registry(); the rest of the input is the YAML map of
// its body, placed in a topology that reads the sources `clicks` and `more`.
// When the topology validates, the spec's factory builds the operator and
// open() runs against a recording context, so that parsing inside
// constructors and rules is fuzzed too. With EDDY_FUZZ_STRICT=1 in the
// environment, a factory or open() that fails after validation passed is a
// finding (the check belongs in the spec, STYLE 15); refusals that depend on
// the environment, such as pii's secret in an unset variable, show up too.
// EDDY_PII_KEY is set to a test secret so that pii opens by default.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/spec.h"

#include "fuzz_support.h"
#include "runtime/builtins.h"
#include "time/timer_service.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

/// An OpenContext that only records: fields intern into a private table,
/// every output is id 1, state handles are kept but never backed.
class RecordingContext final : public OpenContext {
public:
    std::string_view name() const override { return "op"; }
    FieldId field(std::string_view n) override { return fields_.intern(n); }
    std::string_view field_name(FieldId id) const override { return fields_.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view) override { return 1; }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle& s) override { states_.push_back(&s); }

private:
    FieldTable fields_;
    ManualClock clock_{1'764'320'000'000};
    TimerService timers_;
    std::vector<StateHandle*> states_;
};

const ComponentSpec* operator_named(const ConfigValue& body) {
    const ConfigValue* type = body.find("type");
    if (type == nullptr || !type->is_scalar()) {
        return nullptr;
    }
    return builtin_registry().find(ComponentKind::kOperator, type->as_string());
}

ConfigValue generator(const std::string& events) {
    return ConfigValue::map(
        {{"type", ConfigValue::string("generator")}, {"events", ConfigValue::string(events)}});
}

// `body` with `type` set to `spec`'s name and, unless it names its inputs, `input: clicks`.
ConfigValue operator_body(const ConfigValue& fuzzed, const ComponentSpec& spec) {
    std::vector<ConfigValue::Entry> entries;
    entries.emplace_back("type", ConfigValue::string(spec.name));
    if (fuzzed.find("input") == nullptr && fuzzed.find("inputs") == nullptr) {
        entries.emplace_back("input", ConfigValue::string("clicks"));
    }
    for (const ConfigValue::Entry& e : fuzzed.entries()) {
        if (e.first != "type") {
            entries.push_back(e);
        }
    }
    return ConfigValue::map(std::move(entries), fuzzed.location());
}

// Operators may read files named in their parameters (pii's secret_file,
// consent's consent_file); /dev/zero or a FIFO there would make a hang or an
// out-of-memory that says nothing about parsing.
bool names_special_files(std::string_view text) {
    for (std::string_view dir : {"dev/", "proc/", "sys/"}) {
        if (text.find(dir) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

bool strict() {
    static const bool on = [] {
        const char* v = std::getenv("EDDY_FUZZ_STRICT");
        return v != nullptr && std::string(v) == "1";
    }();
    return on;
}

int fuzz_one(const uint8_t* data, size_t size) {
    const std::vector<const ComponentSpec*> specs =
        builtin_registry().all(ComponentKind::kOperator);
    if (size == 0 || specs.empty()) {
        return 0;
    }
    const std::string text(fuzz::as_text(data + 1, size - 1));
    if (names_special_files(text)) {
        return 0;
    }
    Diagnostics diags;
    std::optional<ConfigValue> fuzzed = load_yaml_text(text, "params.yaml", diags);
    if (!fuzzed || !fuzzed->is_map()) {
        return 0;
    }
    const ComponentSpec* spec = operator_named(*fuzzed);
    if (spec == nullptr) {
        spec = specs[data[0] % specs.size()];
    }
    ConfigValue root = ConfigValue::map(
        {{"sources", ConfigValue::map({{"clicks", generator("10")}, {"more", generator("10")}})},
         {"operators", ConfigValue::map({{"op", operator_body(*fuzzed, *spec)}})},
         {"sinks",
          ConfigValue::map({{"out", ConfigValue::map({{"type", ConfigValue::string("stdout")},
                                                      {"input", ConfigValue::string("op")}})}})}});
    std::optional<Topology> topology = validate_topology(root, builtin_registry(), diags);
    for (const Diagnostic& d : diags.items()) {
        if (d.message.empty()) {
            fuzz::fail("a diagnostic without a message", d.to_string());
        }
    }
    fuzz::check_validated(topology.has_value(), diags, text);
    if (!topology) {
        return 0;
    }
    const int index = topology->find("op");
    if (index < 0) {
        fuzz::fail("the validated topology lost operator 'op'", text);
    }
    const ComponentDef& def = topology->components[static_cast<size_t>(index)];
    Result<std::unique_ptr<Operator>> made = spec->make_operator(def.config);
    if (!made.is_ok()) {
        if (strict()) {
            fuzz::fail(spec->name + ": the factory refused a validated config",
                       made.status().to_string() + " for\n" + text);
        }
        return 0;
    }
    RecordingContext ctx;
    Status opened = made.value()->open(ctx);
    if (!opened.is_ok() && strict()) {
        fuzz::fail(spec->name + ": open() refused a validated config",
                   opened.to_string() + " for\n" + text);
    }
    return 0;
}

}  // namespace
}  // namespace eddy

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ::setenv("EDDY_PII_KEY", "eddy-fuzz-test-secret-0123456789", 0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return eddy::fuzz_one(data, size);
}
