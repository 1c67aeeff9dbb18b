// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace eddy {

/// The candidate closest to `word` by edit distance, if close enough to be a
/// likely typo (at most 2 edits, or a third of the word); empty otherwise.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// "did you mean 'gap'?" or empty when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

/// "a, b, c" for hints.
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");

}  // namespace eddy
