// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include "eddy/registry.h"

namespace eddy {

/// The reference of one component type as terminal text (`eddy operators NAME`).
std::string spec_text(const ComponentSpec& spec);

/// A one-line-per-type listing of every component (`eddy operators`).
/// Components that are not built in show their origin; `plugins_only` lists only those.
std::string registry_listing(const Registry& registry, bool plugins_only = false);

/// docs/operators.md: every source, operator and sink with parameters, outputs
/// and examples, generated from the specs alone. With `plugins_only`, only
/// the components that are not built in (a plugin's reference).
std::string registry_markdown(const Registry& registry, bool plugins_only = false);

}  // namespace eddy
