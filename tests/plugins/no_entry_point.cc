// SPDX-License-Identifier: Apache-2.0
// Test plugin: a shared library that is not an Eddy plugin (no entry points).
extern "C" __attribute__((visibility("default"))) int not_an_eddy_plugin() {
    return 42;
}
