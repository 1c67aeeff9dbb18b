// SPDX-License-Identifier: Apache-2.0
// Test plugin: passes the ABI checks but has no registration function.
#include "eddy/plugin.h"

EDDY_PLUGIN_EXPORT int eddy_plugin_abi_version() {
    return EDDY_PLUGIN_ABI_VERSION;
}
EDDY_PLUGIN_EXPORT const eddy::PluginBuildInfo* eddy_plugin_build_info() {
    static const eddy::PluginBuildInfo info = eddy::plugin_build_info();
    return &info;
}
