// SPDX-License-Identifier: Apache-2.0
// Test support for sources and sinks built directly from their specs:
// a Config as the validator builds it, and compressed inputs.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include "eddy/config.h"
#include "eddy/spec.h"

#include "topology/validator.h"

namespace eddy {

/// The given values plus the spec's defaults, converted by the validator.
inline Config make_config(const ComponentSpec& spec, std::vector<ConfigValue::Entry> given,
                          const std::string& component = "clicks") {
    for (const Param& p : spec.params) {
        bool present = false;
        for (const auto& e : given) {
            present = present || e.first == p.name();
        }
        if (present || !p.default_text()) {
            continue;
        }
        Diagnostics diags;
        auto value = convert_param(p, ConfigValue::string(*p.default_text()), spec.name, diags);
        EXPECT_TRUE(value.has_value()) << spec.name << "." << p.name() << " default is invalid";
        if (value) {
            given.emplace_back(p.name(), std::move(*value));
        }
    }
    return Config(component, spec.name, ConfigValue::map(std::move(given)),
                  Location{"t.yaml", 4, 3});
}

inline std::string gzip(const std::string& data) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
              Z_OK);
    std::string out(deflateBound(&zs, data.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

inline std::string zstd(const std::string& data) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 1);
    EXPECT_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace eddy
