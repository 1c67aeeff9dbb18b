// SPDX-License-Identifier: Apache-2.0
// Test support: a hand-written reference page against the spec it documents.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/spec.h"

namespace eddy::testing {

/// `doc` (relative to the source tree) has a table row "| `param` |" for every
/// parameter of `spec`, carrying its default as `default` when it has one,
/// and names every named output as `output`.
inline void expect_doc_covers_spec(const ComponentSpec& spec, const std::string& doc) {
    std::ifstream in(std::string(EDDY_SOURCE_DIR) + "/" + doc);
    ASSERT_TRUE(in) << doc << " is missing";
    std::stringstream read;
    read << in.rdbuf();
    const std::string text = read.str();
    for (const Param& p : spec.params) {
        std::string row = "| `" + p.name() + "` |";
        size_t at = text.find(row);
        EXPECT_NE(at, std::string::npos) << doc << "'s parameter table lacks " << p.name();
        if (p.default_text() && at != std::string::npos) {
            std::string line = text.substr(at, text.find('\n', at) - at);
            EXPECT_THAT(line, ::testing::HasSubstr("`" + *p.default_text() + "`")) << line;
        }
    }
    for (const OutputSpec& o : spec.outputs) {
        EXPECT_THAT(text, ::testing::HasSubstr("`" + o.name + "`"))
            << doc << " does not name the output " << o.name;
    }
}

}  // namespace eddy::testing
