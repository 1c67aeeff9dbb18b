// SPDX-License-Identifier: Apache-2.0
// The topology loader as `eddy validate` and `eddy graph` run it: YAML text to
// a ConfigValue tree, both validation phases against the built-in registry,
// then the physical plan and its DOT text. Loading fails exactly when an error
// was reported, and every error says what is wrong.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_support.h"
#include "runtime/builtins.h"
#include "runtime/plan.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

void check_diagnostics(const Diagnostics& diags) {
    for (const Diagnostic& d : diags.sorted()) {
        if (d.message.empty() || d.kind.empty()) {
            fuzz::fail("a diagnostic without a message or kind", d.to_string());
        }
    }
}

int fuzz_one(const uint8_t* data, size_t size) {
    const std::string text(fuzz::as_text(data, size));
    Diagnostics diags;
    std::optional<ConfigValue> root = load_yaml_text(text, "fuzz.yaml", diags);
    if (!root) {
        if (!diags.has_errors()) {
            fuzz::fail("load_yaml_text failed without an error", text);
        }
        check_diagnostics(diags);
        return 0;
    }
    std::optional<Topology> topology = validate_topology(*root, builtin_registry(), diags);
    check_diagnostics(diags);
    fuzz::check_validated(topology.has_value(), diags, text);
    if (!topology) {
        return 0;
    }
    if (topology->topological_order().size() != topology->components.size()) {
        fuzz::fail("the topological order misses components", text);
    }
    PhysicalPlan plan = build_plan(*topology);
    if (plan.node_of_component.size() != topology->components.size()) {
        fuzz::fail("the plan misses components", text);
    }
    std::string dot = plan.to_dot(*topology);
    (void)dot;
    return 0;
}

}  // namespace
}  // namespace eddy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return eddy::fuzz_one(data, size);
}
