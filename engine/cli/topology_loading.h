// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>

#include "topology/topology.h"

namespace eddy::cli {

/// Loads and validates a topology with the built-in registry, printing every
/// diagnostic to stderr. Returns nullopt when there is an error.
std::optional<Topology> load_and_report(const std::string& path);

}  // namespace eddy::cli
