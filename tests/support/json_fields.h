// SPDX-License-Identifier: Apache-2.0
// Test support: fields of the flat JSON lines that `collect` sinks keep.
#pragma once

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace eddy::testing {

/// The raw JSON text of `field` in a flat JSON line ("" when absent): a
/// string with its quotes, an array with its brackets, else the bare value.
inline std::string raw(const std::string& line, const std::string& field) {
    std::string needle = "\"" + field + "\":";
    size_t at = line.find(needle);
    if (at == std::string::npos) {
        return "";
    }
    at += needle.size();
    size_t end = at;
    if (line[at] == '[') {
        end = line.find(']', at) + 1;
    } else if (line[at] == '"') {
        end = line.find('"', at + 1) + 1;
    } else {
        end = line.find_first_of(",}", at);
    }
    return line.substr(at, end - at);
}

/// The number `field` holds in a flat JSON line; a failure when it is absent.
inline double num(const std::string& line, const std::string& field) {
    std::string text = raw(line, field);
    EXPECT_FALSE(text.empty()) << field << " missing in " << line;
    return std::strtod(text.c_str(), nullptr);
}

}  // namespace eddy::testing
