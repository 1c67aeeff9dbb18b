// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/spec.h"
#include "eddy/status.h"

namespace eddy {

/// All component types a job can use: built-ins and those of loaded plugins.
/// Names are unique per kind; adding a duplicate is an error naming both origins.
class Registry {
public:
    /// Adds a spec. Fails when a component of the same kind and name exists,
    /// or when the spec lacks a factory of its kind.
    Status add(ComponentSpec spec, std::string origin);
    const ComponentSpec* find(ComponentKind kind, std::string_view name) const;
    /// Specs of one kind, sorted by name.
    std::vector<const ComponentSpec*> all(ComponentKind kind) const;
    /// Every name of one kind (for "did you mean" hints).
    std::vector<std::string> names(ComponentKind kind) const;

private:
    std::map<std::string, ComponentSpec, std::less<>> by_kind_[3];
};

}  // namespace eddy

/// Defines the spec function of a built-in component named `type`; CMake
/// generates the explicit list that registers each one (no static-init luck):
///     EDDY_REGISTER_OPERATOR(filter) { return OperatorSpec("filter")...; }
#define EDDY_REGISTER_OPERATOR(type) ::eddy::ComponentSpec eddy_builtin_operator_##type()
#define EDDY_REGISTER_SOURCE(type) ::eddy::ComponentSpec eddy_builtin_source_##type()
#define EDDY_REGISTER_SINK(type) ::eddy::ComponentSpec eddy_builtin_sink_##type()
