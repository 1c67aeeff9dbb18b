// SPDX-License-Identifier: Apache-2.0
#include "io/http_body.h"

#include <cctype>

namespace eddy::http {
namespace {

constexpr std::string_view kSpaces = " \t\r\n";

std::string_view trim(std::string_view s) {
    size_t first = s.find_first_not_of(kSpaces);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(kSpaces) - first + 1);
}

BodyError too_many(size_t max_events) {
    return {413, "the body holds more than " + std::to_string(max_events) +
                     " events (max_events_per_request); split it into several requests"};
}

/// The elements of the array that starts at `body[first]`, which simdjson
/// has validated: only strings and nesting need tracking.
std::optional<BodyError> array_elements(std::string_view body, size_t first, size_t max_events,
                                        std::vector<std::string_view>& events) {
    size_t depth = 0;
    size_t start = std::string_view::npos;
    bool in_string = false;
    auto element_ends = [&](size_t end) {
        if (start != std::string_view::npos) {
            events.push_back(trim(body.substr(start, end - start)));
            start = std::string_view::npos;
        }
    };
    for (size_t i = first; i < body.size(); ++i) {
        char c = body[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (depth == 1 && start == std::string_view::npos && kSpaces.find(c) == kSpaces.npos &&
            c != ',' && c != ']') {
            if (events.size() == max_events) {
                return too_many(max_events);
            }
            start = i;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            ++depth;
        } else if (c == ']' || c == '}') {
            if (--depth == 0) {
                element_ends(i);
                break;
            }
        } else if (c == ',' && depth == 1) {
            element_ends(i);
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<BodyError> split_events(std::string_view body, size_t max_events,
                                      simdjson::dom::parser& parser,
                                      std::vector<std::string_view>& events) {
    events.clear();
    size_t first = body.find_first_not_of(kSpaces);
    if (first == std::string_view::npos) {
        return BodyError{400,
                         "the body is empty; send a JSON array of event objects, or JSON Lines"};
    }
    simdjson::dom::element doc;
    if (body[first] == '[') {
        if (simdjson::error_code error = parser.parse(body.data(), body.size()).get(doc); error) {
            return BodyError{400, std::string("the body starts with '[' but is not a valid JSON "
                                              "array: ") +
                                      simdjson::error_message(error)};
        }
        return array_elements(body, first, max_events, events);
    }
    // One object written over several lines (`curl -d @event.json`).
    if (body[first] == '{' && body.find('\n', first) != std::string_view::npos &&
        !parser.parse(body.data(), body.size()).get(doc)) {
        events.push_back(trim(body));
        return std::nullopt;
    }
    bool any_object = false;
    size_t pos = 0;
    while (pos < body.size()) {
        size_t end = body.find('\n', pos);
        if (end == std::string_view::npos) {
            end = body.size();
        }
        std::string_view line = trim(body.substr(pos, end - pos));
        pos = end + 1;
        if (line.empty()) {
            continue;
        }
        if (events.size() == max_events) {
            return too_many(max_events);
        }
        any_object = any_object || line.front() == '{';
        events.push_back(line);
    }
    if (!any_object) {
        std::string_view start = events.front().substr(0, 40);
        return BodyError{400,
                         "the body is neither a JSON array nor JSON Lines of objects; it "
                         "starts with '" +
                             std::string(start) + "'"};
    }
    return std::nullopt;
}

std::string media_type(std::string_view content_type) {
    std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    std::string out(type);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

}  // namespace eddy::http
