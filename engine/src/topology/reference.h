// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include "eddy/registry.h"

namespace eddy {

/// The reference of one component type as terminal text (`eddy operators NAME`).
std::string spec_text(const ComponentSpec& spec);

/// A one-line-per-type listing of every component (`eddy operators`).
std::string registry_listing(const Registry& registry);

/// docs/operators.md: every source, operator and sink with parameters, outputs
/// and examples, generated from the specs alone.
std::string registry_markdown(const Registry& registry);

}  // namespace eddy
