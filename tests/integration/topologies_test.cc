// SPDX-License-Identifier: Apache-2.0
// Every file in topologies/ and bench/ is a test input: it must validate with
// no error or warning (STYLE 6), so the examples never rot. Topologies that
// use the example plugins find them by name in this build's plugins/.
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "topology/validator.h"

namespace eddy {
namespace {

TEST(TopologiesTest, EveryShippedTopologyValidates) {
    namespace fs = std::filesystem;
    int checked = 0;
    std::vector<fs::directory_entry> files;
    for (const char* dir : {"/topologies", "/bench", "/bench/operators", "/bench/state"}) {
        for (const auto& entry : fs::directory_iterator(std::string(EDDY_SOURCE_DIR) + dir)) {
            files.push_back(entry);
        }
    }
    ::setenv("EDDY_PLUGIN_PATH", EDDY_PLUGINS_DIR, 1);
    for (const auto& entry : files) {
        if (entry.path().extension() != ".yaml") {
            continue;
        }
        Diagnostics diags;
        Registry registry = builtin_registry();
        auto t = load_topology_with_plugins(entry.path().string(), {}, registry, diags);
        std::string all;
        for (const Diagnostic& d : diags.items()) {
            all += d.to_string() + "\n";
        }
        EXPECT_TRUE(t.has_value()) << all;
        EXPECT_EQ(diags.warning_count(), 0u) << all;
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace eddy
