// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>

#include "eddy/config.h"

#include "topology/diagnostic.h"

namespace eddy {

/// Reads a YAML file into an untyped ConfigValue tree: every scalar is a
/// string (typed later against the specs), `~`/`null`/empty are null, maps
/// keep their order, every node keeps its file:line:column (a value in a map
/// takes its key's place, so that a block map is not placed on the line below
/// its name; list items keep their own). `${VAR}` and `${VAR:-default}` in scalars are
/// expanded from the environment (`$${` is a literal `${`). Problems (missing,
/// unreadable, empty or comment-only file, YAML syntax, duplicate keys, unset
/// variables) are added to `diags`; returns nullopt when the file could not be
/// read or parsed at all.
std::optional<ConfigValue> load_yaml_file(const std::string& path, Diagnostics& diags);

/// The same for YAML text already in memory; `file` names it in locations.
std::optional<ConfigValue> load_yaml_text(const std::string& text, const std::string& file,
                                          Diagnostics& diags);

}  // namespace eddy
