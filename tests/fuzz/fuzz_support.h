// SPDX-License-Identifier: Apache-2.0
// Shared by the libFuzzer targets: input splitting and a failure that
// libFuzzer records as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace eddy::fuzz {

/// The input as text.
inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Calls `f` on each line of `text` (split at '\n', without it), as the line
/// reader hands lines to a decoder; a trailing '\r' is left in the line.
template <class F>
void for_each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        size_t end = text.find('\n');
        f(text.substr(0, end));
        if (end == std::string_view::npos) {
            break;
        }
        text.remove_prefix(end + 1);
    }
}

/// A property the target checks does not hold: report and abort, which
/// libFuzzer saves as a crash with its reproducer.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "eddy fuzz: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

}  // namespace eddy::fuzz
