// SPDX-License-Identifier: Apache-2.0
// Test plugins: the right ABI version but a build the engine must refuse.
// Compiled three times with MISMATCH set to 1 (a newer SDK), 2 (another
// standard library) or 3 (another layout of eddy::Record).
#include "eddy/plugin.h"

EDDY_PLUGIN_EXPORT int eddy_plugin_abi_version() {
    return EDDY_PLUGIN_ABI_VERSION;
}
EDDY_PLUGIN_EXPORT const eddy::PluginBuildInfo* eddy_plugin_build_info() {
    static const eddy::PluginBuildInfo info = [] {
        eddy::PluginBuildInfo i = eddy::plugin_build_info();
#if MISMATCH == 1
        i.sdk_minor += 1;
#elif MISMATCH == 2
        i.standard_library = "libc++";
#else
        i.layout[3] += 8;
#endif
        return i;
    }();
    return &info;
}
EDDY_PLUGIN_EXPORT void eddy_plugin_register(eddy::PluginRegistry&) {}
