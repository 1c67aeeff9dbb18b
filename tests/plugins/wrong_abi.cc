// SPDX-License-Identifier: Apache-2.0
// Test plugin: claims a plugin ABI version this engine does not have.
#include "eddy/plugin.h"

EDDY_PLUGIN_EXPORT int eddy_plugin_abi_version() {
    return EDDY_PLUGIN_ABI_VERSION + 998;
}
EDDY_PLUGIN_EXPORT void eddy_plugin_register(eddy::PluginRegistry&) {}
