// SPDX-License-Identifier: Apache-2.0
// Keeps the plugin ABI version honest: engine/sdk-abi.txt records a
// fingerprint of the public SDK headers (their code, without comments and
// whitespace) for the current EDDY_PLUGIN_ABI_VERSION. A change to the code
// of a public header fails this test until someone decides whether it breaks
// plugins built against the previous headers (docs/plugins.md lists what
// does), bumps the ABI version if so, and records the new fingerprint.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/plugin.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;

/// The code of a header: comments and whitespace removed, string and
/// character literals kept as written.
std::string code_of(const std::string& text) {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
            i = text.find('\n', i);
            i = i == std::string::npos ? text.size() : i;
        } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
            i = text.find("*/", i + 2);
            i = i == std::string::npos ? text.size() : i + 2;
        } else if (c == '"' || c == '\'') {
            size_t end = i + 1;
            while (end < text.size() && text[end] != c) {
                end += text[end] == '\\' ? 2 : 1;
            }
            end = std::min(end + 1, text.size());
            out.append(text, i, end - i);
            i = end;
        } else {
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                out += c;
            }
            ++i;
        }
    }
    return out;
}

/// FNV-1a over every public header's name and code, in name order, as 16 hex digits.
std::string fingerprint() {
    std::vector<fs::path> headers;
    for (const auto& entry :
         fs::directory_iterator(std::string(EDDY_SOURCE_DIR) + "/engine/include/eddy")) {
        if (entry.path().extension() == ".h") {
            headers.push_back(entry.path());
        }
    }
    std::sort(headers.begin(), headers.end());
    uint64_t h = 14695981039346656037ull;
    auto mix = [&h](const std::string& s) {
        for (unsigned char b : s) {
            h = (h ^ b) * 1099511628211ull;
        }
    };
    for (const fs::path& p : headers) {
        std::ifstream in(p, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        mix(p.filename().string());
        mix(code_of(text.str()));
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

TEST(SdkAbi, CommentsAndWhitespaceDoNotCount) {
    EXPECT_EQ(code_of("int  f(int a); // the f\n/* more\n */ char s = '/'; const char* t = \"// "
                      "x\";\n"),
              "intf(inta);chars='/';constchar*t=\"// x\";");
}

TEST(SdkAbi, PublicHeadersMatchTheRecordedFingerprintOfThisAbiVersion) {
    std::ifstream in(std::string(EDDY_SOURCE_DIR) + "/engine/sdk-abi.txt");
    ASSERT_TRUE(in) << "engine/sdk-abi.txt is missing";
    int abi = -1;
    std::string recorded;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string key;
        words >> key;
        if (key == "abi") {
            words >> abi;
        } else if (key == "fingerprint") {
            words >> recorded;
        }
    }
    std::string now = fingerprint();
    EXPECT_EQ(abi, EDDY_PLUGIN_ABI_VERSION)
        << "engine/sdk-abi.txt records ABI version " << abi << " but eddy/plugin.h says "
        << EDDY_PLUGIN_ABI_VERSION << ": write `abi " << EDDY_PLUGIN_ABI_VERSION
        << "` and `fingerprint " << now << "` there";
    EXPECT_EQ(recorded, now)
        << "the code of the public SDK headers (engine/include/eddy/) changed since plugin ABI "
           "version "
        << abi
        << " was recorded. If the change breaks plugins built against the earlier headers (a "
           "type's size or layout, a virtual function added, removed or reordered, a changed "
           "signature: docs/plugins.md), bump EDDY_PLUGIN_ABI_VERSION in eddy/plugin.h. Then "
           "record the headers in engine/sdk-abi.txt: `abi "
        << EDDY_PLUGIN_ABI_VERSION << "` and `fingerprint " << now << "`.";
}

}  // namespace
}  // namespace eddy
