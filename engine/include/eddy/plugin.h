// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "eddy/config.h"
#include "eddy/record.h"
#include "eddy/spec.h"
#include "eddy/value.h"
#include "eddy/version.h"

/// The version of the binary interface between the engine and its plugins.
/// A plugin runs only in an engine of the same ABI version. It is bumped
/// whenever a public header changes in a way that breaks binary
/// compatibility (a type's size or layout, a virtual function added, removed
/// or reordered, a function's signature); docs/plugins.md has the rules.
#define EDDY_PLUGIN_ABI_VERSION 4

namespace eddy {

/// How a plugin (or the engine) was built, as far as binary compatibility is
/// concerned. Filled by plugin_build_info() in the translation unit that
/// calls it, so the plugin's copy describes the plugin and the engine's the
/// engine. The engine compares the two before calling anything else.
struct PluginBuildInfo {
    int abi_version;
    int sdk_major;
    int sdk_minor;
    int sdk_patch;
    /// "GCC 12.2.0" or "clang 14.0.6": for messages only (both follow the
    /// Itanium C++ ABI).
    const char* compiler;
    /// "libstdc++ (C++11 ABI)", "libstdc++ (pre-C++11 ABI)" or "libc++":
    /// plugin and engine must agree, since the SDK passes std::string.
    const char* standard_library;
    /// Sizes of the types that cross the boundary, in the order of
    /// kPluginLayoutNames; a difference means mismatched headers or flags
    /// such as _GLIBCXX_DEBUG.
    size_t layout[6];
};

/// Names of PluginBuildInfo::layout's entries, for messages.
inline constexpr const char* kPluginLayoutNames[6] = {"std::string",  "std::vector",
                                                      "eddy::Value",  "eddy::Record",
                                                      "eddy::Config", "eddy::ComponentSpec"};

#define EDDY_PLUGIN_STRINGIFY_(x) #x
#define EDDY_PLUGIN_STRINGIFY(x) EDDY_PLUGIN_STRINGIFY_(x)

/// The build info of the calling translation unit.
inline PluginBuildInfo plugin_build_info() {
    return PluginBuildInfo {
        EDDY_PLUGIN_ABI_VERSION, kVersionMajor, kVersionMinor, kVersionPatch,
#if defined(__clang__)
            "clang " EDDY_PLUGIN_STRINGIFY(__clang_major__) "." EDDY_PLUGIN_STRINGIFY(
                __clang_minor__) "." EDDY_PLUGIN_STRINGIFY(__clang_patchlevel__),
#elif defined(__GNUC__)
            "GCC " EDDY_PLUGIN_STRINGIFY(__GNUC__) "." EDDY_PLUGIN_STRINGIFY(
                __GNUC_MINOR__) "." EDDY_PLUGIN_STRINGIFY(__GNUC_PATCHLEVEL__),
#else
            "an unknown compiler",
#endif
#if defined(_LIBCPP_VERSION)
            "libc++",
#elif defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
            "libstdc++ (C++11 ABI)",
#else
            "libstdc++ (pre-C++11 ABI)",
#endif
        {
            sizeof(std::string), sizeof(std::vector<int>), sizeof(Value), sizeof(Record),
                sizeof(Config), sizeof(ComponentSpec)
        }
    };
}

/// Collects the components a plugin registers in eddy_plugin_register(). The
/// engine then adds them to its registry with the plugin's path as their
/// origin; a name already taken (by a built-in or another plugin) refuses
/// the whole plugin with an error naming both origins.
class PluginRegistry {
public:
    /// Adds an operator, source or sink (an OperatorSpec, SourceSpec or SinkSpec).
    void add(ComponentSpec spec) { specs_.push_back(std::move(spec)); }
    std::vector<ComponentSpec>& specs() { return specs_; }

private:
    std::vector<ComponentSpec> specs_;
};

}  // namespace eddy

#define EDDY_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

/// Defines a plugin's three entry points; the block that follows is its
/// registration function:
///
///     EDDY_PLUGIN(registry) {
///         registry.add(my_operator_spec());
///     }
///
/// eddy_plugin_abi_version() and eddy_plugin_build_info() let the engine
/// check compatibility before it calls eddy_plugin_register().
// NOLINTBEGIN(bugprone-macro-parentheses): `registry` names a parameter.
#define EDDY_PLUGIN(registry)                                                        \
    static void eddy_plugin_register_components(::eddy::PluginRegistry& registry);   \
    EDDY_PLUGIN_EXPORT int eddy_plugin_abi_version() {                               \
        return EDDY_PLUGIN_ABI_VERSION;                                              \
    }                                                                                \
    EDDY_PLUGIN_EXPORT const ::eddy::PluginBuildInfo* eddy_plugin_build_info() {     \
        static const ::eddy::PluginBuildInfo info = ::eddy::plugin_build_info();     \
        return &info;                                                                \
    }                                                                                \
    EDDY_PLUGIN_EXPORT void eddy_plugin_register(::eddy::PluginRegistry& registry) { \
        eddy_plugin_register_components(registry);                                   \
    }                                                                                \
    static void eddy_plugin_register_components(::eddy::PluginRegistry& registry)
// NOLINTEND(bugprone-macro-parentheses)
