// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eddy {

/// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points
/// above U+10FFFF). SIMD-accelerated; allocation-free.
bool is_valid_utf8(std::string_view s);

/// The byte offset of the first ill-formed sequence in `s`, or
/// std::string_view::npos when `s` is valid. Scalar; call it on the error path.
size_t find_invalid_utf8(std::string_view s);

/// Appends `s` to `out`, replacing each ill-formed sequence with U+FFFD.
void append_utf8_replacing_invalid(std::string_view s, std::string& out);

/// The longest prefix of `s` of at most `max_bytes` bytes that does not split a
/// UTF-8 sequence (used to cut raw input for error records).
std::string_view truncate_utf8(std::string_view s, size_t max_bytes);

}  // namespace eddy
