// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

#include "eddy/registry.h"

namespace eddy {

/// The JSON Schema (draft-07, the newest draft the VS Code YAML extension
/// validates) of a topology file whose components are those of `registry`:
/// the top-level keys the validator accepts, and per section a subschema for
/// each component type with its parameters' types, ranges, enums, defaults,
/// required ones and docs. Where the validator refuses unknown keys the schema
/// does too. Scalars may be `${VAR}` substitutions, as the loader allows.
/// Generated from the specs alone (STYLE 16); indented, deterministic text.
std::string topology_schema(const Registry& registry);

/// `json` (compact, as JsonWriter writes it) indented by two spaces per level,
/// with a final newline.
std::string indent_json(std::string_view json);

}  // namespace eddy
