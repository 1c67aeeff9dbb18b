// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/config.h"
#include "eddy/registry.h"
#include "eddy/status.h"

#include "topology/diagnostic.h"
#include "topology/topology.h"

namespace eddy {

/// Where plugins named without a path (`ab_assign`, `libab_assign.so`) are
/// searched, in order: the directories of EDDY_PLUGIN_PATH (colon-separated),
/// then `plugins/` next to the eddy executable (a build tree), then
/// `<prefix>/lib/eddy/plugins` (an installed Eddy).
std::vector<std::string> plugin_search_path();

/// The file `request` names. A request with a slash is a path, tried as
/// given (relative to the working directory) and then relative to
/// `base_dir` (the topology file's directory; may be empty). A bare name is
/// looked up in plugin_search_path() as `lib<name>.so`, `<name>.so` and
/// `<name>`. The error lists every place tried.
Result<std::string> resolve_plugin(std::string_view request, std::string_view base_dir);

/// Loads the plugin file at `path` (once per process: a second load of the
/// same file reuses the first) and adds its components to `registry` with
/// the origin "plugin <path>". Before calling eddy_plugin_register() it checks
/// the entry points, the ABI version, the SDK version and the compiler ABI,
/// and refuses a mismatch with what to do. Either every component of the
/// plugin is added or none is. Plugins are never unloaded: their code backs
/// the specs' factories for the life of the process.
Status load_plugin(const std::string& path, Registry& registry);

/// Resolves and loads the plugins a topology names in `plugins:` (relative
/// to the topology file's directory) and then those of `extra` (the command
/// line's --plugin, relative to the working directory) into `registry`,
/// reporting each failure to `diags` at its place. A plugin named twice is
/// loaded once. Returns false when one failed.
bool load_topology_plugins(const ConfigValue& root, const std::vector<std::string>& extra,
                           Registry& registry, Diagnostics& diags);

/// Loads a topology file, its plugins and those of `extra` into `registry`,
/// and validates it. Stops before validation when a plugin fails, since its
/// components would only add "unknown type" errors. `registry` must outlive
/// the topology, whose components point at its specs.
std::optional<Topology> load_topology_with_plugins(const std::string& path,
                                                   const std::vector<std::string>& extra,
                                                   Registry& registry, Diagnostics& diags);

}  // namespace eddy
