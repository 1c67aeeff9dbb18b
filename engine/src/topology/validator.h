// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>

#include "eddy/config.h"
#include "eddy/param.h"
#include "eddy/registry.h"

#include "topology/diagnostic.h"
#include "topology/topology.h"

namespace eddy {

/// Validates a topology tree (from load_yaml_*) against the registry's specs
/// in two phases, reporting every problem to `diags` at once: phase 1 checks
/// each component alone (type, parameters, key), phase 2 the graph (inputs
/// exist, outputs exist, no cycles, unused outputs are warnings). Returns the
/// topology when there is no error.
std::optional<Topology> validate_topology(const ConfigValue& root, const Registry& registry,
                                          Diagnostics& diags);

/// Loads and validates a topology file; see load_yaml_file and validate_topology.
std::optional<Topology> load_topology(const std::string& path, const Registry& registry,
                                      Diagnostics& diags);

/// Converts an untyped YAML value to `param`'s type, with range checks.
/// On failure adds a diagnostic naming `where` (e.g. "operator 'sessions'") and
/// returns nullopt. Exposed for tests and for nested typed blocks.
std::optional<ConfigValue> convert_param(const Param& param, const ConfigValue& raw,
                                         const std::string& where, Diagnostics& diags);

}  // namespace eddy
