// SPDX-License-Identifier: Apache-2.0
// Benchmark (a) of `make bench`, the limit: reads a JSON Lines file with
// simdjson On-Demand and extracts every field of every line as a typed value
// (behaviour.yaml writes whole events to its `events` and `bots` sinks, so it
// uses every field), then does nothing else. Prints events, time and a
// checksum (so that nothing is optimized away).
//
//   parse_only FILE
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <simdjson.h>

#include "line_chunks.h"

namespace {

namespace od = simdjson::ondemand;

/// Extracts every field of one JSON object line; false when it is not one.
bool extract(od::parser& parser, std::string_view line, size_t readable, uint64_t& checksum) {
    od::document doc;
    if (parser.iterate(line.data(), line.size(), readable).get(doc) != simdjson::SUCCESS) {
        return false;
    }
    od::object object;
    if (doc.get_object().get(object) != simdjson::SUCCESS) {
        return false;
    }
    for (auto member : object) {
        std::string_view key;
        od::value value;
        od::json_type type;
        if (member.unescaped_key().get(key) != simdjson::SUCCESS ||
            member.value().get(value) != simdjson::SUCCESS ||
            value.type().get(type) != simdjson::SUCCESS) {
            return false;
        }
        checksum += key.size();
        switch (type) {
            case od::json_type::string: {
                std::string_view s;
                if (value.get_string().get(s) != simdjson::SUCCESS) {
                    return false;
                }
                checksum += s.size();
                break;
            }
            case od::json_type::number: {
                od::number n;
                if (value.get_number().get(n) != simdjson::SUCCESS) {
                    return false;
                }
                if (n.is_int64()) {
                    checksum += static_cast<uint64_t>(n.get_int64());
                } else if (n.is_uint64()) {
                    checksum += n.get_uint64();
                } else {
                    double d = n.get_double();
                    uint64_t bits = 0;
                    std::memcpy(&bits, &d, sizeof bits);
                    checksum ^= bits;
                }
                break;
            }
            case od::json_type::boolean: {
                bool b = false;
                if (value.get_bool().get(b) != simdjson::SUCCESS) {
                    return false;
                }
                checksum += b ? 1 : 0;
                break;
            }
            case od::json_type::null: {
                bool null = false;
                if (value.is_null().get(null) != simdjson::SUCCESS || !null) {
                    return false;
                }
                break;
            }
            default:
                return false;  // nested values: the generator writes none
        }
    }
    // Nothing may follow the object.
    const char* rest = nullptr;
    return doc.current_location().get(rest) == simdjson::OUT_OF_BOUNDS;
}

bool is_blank(std::string_view s) {
    return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: parse_only FILE\n");
        return 2;
    }
    if (!eddy::bench::simd_kernel_runs("parse_only")) {
        return 1;
    }
    auto start = std::chrono::steady_clock::now();
    eddy::bench::LineChunks lines(argv[1]);
    if (!lines.ok()) {
        std::fprintf(stderr, "parse_only: %s\n", lines.error().c_str());
        return 1;
    }
    od::parser parser;
    uint64_t events = 0;
    uint64_t errors = 0;
    uint64_t checksum = 0;
    std::string_view line;
    size_t readable = 0;
    while (lines.next(line, readable)) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (is_blank(line)) {
            continue;
        }
        if (extract(parser, line, readable, checksum)) {
            ++events;
        } else {
            ++errors;
        }
    }
    if (!lines.ok()) {
        std::fprintf(stderr, "parse_only: %s\n", lines.error().c_str());
        return 1;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr,
                 "parse_only: %llu events, %llu errors, %.3f s, %.0f events/s (simdjson %s "
                 "kernel, checksum %llx)\n",
                 static_cast<unsigned long long>(events), static_cast<unsigned long long>(errors),
                 seconds, static_cast<double>(events) / seconds, eddy::bench::simd_kernel(),
                 static_cast<unsigned long long>(checksum));
    return 0;
}
