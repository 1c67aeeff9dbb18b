// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

namespace eddy::http {

/// Why a request body cannot be taken at all: the HTTP status (400 or 413)
/// and a sentence for the `{"error": ...}` answer.
struct BodyError {
    int status = 400;
    std::string message;
};

/// Splits a POSTed body into the texts of its events, in order, without
/// judging the events themselves (the source's decoder does). The body is
///  - a JSON array when its first non-space byte is `[`: every element is an
///    event; a body that is not valid JSON is refused;
///  - a single JSON object, possibly spread over several lines;
///  - otherwise JSON Lines: every line that is not blank is an event (a
///    trailing `\r` is dropped). When no line even starts like an object,
///    the body is not JSON Lines at all and is refused.
/// More than `max_events` events is a 413. `events` views into `body`.
/// `parser` is scratch space, reused between calls on one thread.
std::optional<BodyError> split_events(std::string_view body, size_t max_events,
                                      simdjson::dom::parser& parser,
                                      std::vector<std::string_view>& events);

/// `application/json; charset=utf-8` -> `application/json`: lower case,
/// parameters and spaces dropped.
std::string media_type(std::string_view content_type);

/// Whether `a` and `b` are equal, in a time that depends only on their sizes
/// (for bearer tokens).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace eddy::http
