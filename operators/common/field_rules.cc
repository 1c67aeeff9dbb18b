// SPDX-License-Identifier: Apache-2.0
#include "common/field_rules.h"

#include <charconv>
#include <cmath>

namespace eddy {

std::optional<int64_t> int_text(std::string_view s) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> number_text(std::string_view s) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

std::optional<bool> bool_text(std::string_view s) {
    if (s == "true" || s == "false") {
        return s == "true";
    }
    return std::nullopt;
}

std::string field_place(const std::string& field, const std::string& key, const ConfigValue& v) {
    std::string at = "`fields." + field + (key.empty() ? "" : "." + key) + "`";
    if (v.location().line > 0) {
        at += " (" + v.location().to_string() + ")";
    }
    return at;
}

std::string join_problems(const std::vector<std::string>& problems) {
    std::string out;
    for (const std::string& p : problems) {
        out += (out.empty() ? "" : "; ") + p;
    }
    return out;
}

Status config_problems(const Config& cfg, const std::vector<std::string>& problems) {
    return Status::invalid_argument("operator `" + cfg.component() +
                                    "`: " + join_problems(problems));
}

}  // namespace eddy
