// SPDX-License-Identifier: Apache-2.0
// Test support: a strict reader of the Prometheus text exposition format
// (0.0.4) as render_prometheus() writes it, listing every way a text breaks
// it, and a lookup of one sample's value.
#pragma once

#include <cctype>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::testing {

struct ExpositionSample {
    std::string name;    ///< As written: `eddy_x_bucket`.
    std::string labels;  ///< Between the braces, as written, without `le` for buckets.
    std::string le;      ///< Buckets: the `le` value.
    double value = 0;
};

struct Exposition {
    std::map<std::string, std::string> families;  ///< Name -> TYPE.
    std::vector<ExpositionSample> samples;
    std::vector<std::string> problems;  ///< Empty: valid.
};

namespace detail {

inline bool valid_name(std::string_view n) {
    if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) {
        return false;
    }
    for (char c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') {
            return false;
        }
    }
    return true;
}

inline std::optional<double> parse_value(const std::string& v) {
    if (v == "+Inf") {
        return std::numeric_limits<double>::infinity();
    }
    if (v == "-Inf") {
        return -std::numeric_limits<double>::infinity();
    }
    if (v == "NaN") {
        return std::numeric_limits<double>::quiet_NaN();
    }
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') {
        return std::nullopt;
    }
    return d;
}

/// Parses `{a="x",b="y"}` at `pos`; fills `pairs`; false when malformed.
inline bool parse_labels(std::string_view line, size_t& pos,
                         std::vector<std::pair<std::string, std::string>>& pairs) {
    ++pos;  // '{'
    while (pos < line.size() && line[pos] != '}') {
        size_t eq = line.find('=', pos);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
            return false;
        }
        std::string name(line.substr(pos, eq - pos));
        if (!valid_name(name) || name.find(':') != std::string::npos) {
            return false;
        }
        std::string value;
        size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
            if (line[i] == '\\') {
                if (i + 1 >= line.size() ||
                    (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n')) {
                    return false;
                }
                value += line[i + 1] == 'n' ? '\n' : line[i + 1];
                ++i;
                continue;
            }
            if (line[i] == '\n') {
                return false;
            }
            value += line[i];
        }
        if (i >= line.size()) {
            return false;
        }
        pairs.emplace_back(name, value);
        pos = i + 1;
        if (pos < line.size() && line[pos] == ',') {
            ++pos;
        }
    }
    if (pos >= line.size()) {
        return false;
    }
    ++pos;  // '}'
    return true;
}

}  // namespace detail

/// Reads `text` and checks: HELP then TYPE once per family before its
/// samples, which follow contiguously; names and labels well formed; no
/// series twice; counters end in `_total` and are not negative; histograms
/// have `_bucket` series with increasing `le`, cumulative counts, a last
/// `+Inf` equal to `_count`, and a `_sum`; every family has samples.
inline Exposition read_exposition(const std::string& text) {
    Exposition out;
    auto problem = [&](const std::string& what, std::string_view line) {
        out.problems.push_back(what + ": " + std::string(line));
    };
    if (!text.empty() && text.back() != '\n') {
        out.problems.emplace_back("the text does not end with a newline");
    }
    std::string current;  // the family whose samples may follow
    std::string help_of;  // the last HELP, waiting for its TYPE
    std::set<std::string> series;
    std::map<std::string, size_t> samples_of;
    // Histograms: (family, labels without le) -> buckets (le, value), _count, _sum.
    struct Buckets {
        std::vector<std::pair<double, double>> buckets;
        std::optional<double> count;
        bool sum = false;
        bool inf_last = false;
    };
    std::map<std::pair<std::string, std::string>, Buckets> histograms;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string_view line(text.data() + start, end - start);
        start = end + 1;
        if (line.empty()) {
            problem("empty line", line);
            continue;
        }
        if (line.starts_with("# HELP ")) {
            std::string_view rest = line.substr(7);
            std::string name(rest.substr(0, rest.find(' ')));
            if (!detail::valid_name(name) || out.families.count(name) || name == help_of) {
                problem("bad or repeated HELP", line);
            }
            help_of = name;
            current.clear();
            continue;
        }
        if (line.starts_with("# TYPE ")) {
            std::string_view rest = line.substr(7);
            size_t sp = rest.find(' ');
            std::string name(rest.substr(0, sp));
            std::string type(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
            if (name != help_of) {
                problem("TYPE without its HELP just before", line);
            }
            if (out.families.count(name)) {
                problem("family declared twice", line);
            }
            if (type != "counter" && type != "gauge" && type != "histogram") {
                problem("unknown type", line);
            }
            if (type == "counter" && !name.ends_with("_total")) {
                problem("counter name without _total", line);
            }
            out.families[name] = type;
            current = name;
            help_of.clear();
            continue;
        }
        if (line.starts_with("#")) {
            problem("unexpected comment", line);
            continue;
        }
        size_t pos = 0;
        while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') {
            ++pos;
        }
        ExpositionSample s;
        s.name = std::string(line.substr(0, pos));
        std::vector<std::pair<std::string, std::string>> pairs;
        size_t labels_start = pos;
        if (pos < line.size() && line[pos] == '{' && !detail::parse_labels(line, pos, pairs)) {
            problem("malformed labels", line);
            continue;
        }
        std::string raw_labels =
            pos > labels_start ? std::string(line.substr(labels_start + 1, pos - labels_start - 2))
                               : "";
        if (pos >= line.size() || line[pos] != ' ') {
            problem("no space before the value", line);
            continue;
        }
        auto value = detail::parse_value(std::string(line.substr(pos + 1)));
        if (!value) {
            problem("bad value", line);
            continue;
        }
        s.value = *value;
        if (!series.insert(s.name + "{" + raw_labels + "}").second) {
            problem("series twice", line);
        }
        std::set<std::string> label_names;
        for (const auto& [n, v] : pairs) {
            if (!label_names.insert(n).second) {
                problem("label twice", line);
            }
        }
        const std::string& type = out.families.count(current) ? out.families[current] : "";
        if (current.empty()) {
            problem("sample outside any family", line);
            continue;
        }
        if (type != "histogram") {
            if (s.name != current) {
                problem("sample of another family than the one declared before it", line);
            }
            if (type == "counter" && !(s.value >= 0)) {
                problem("negative counter", line);
            }
            s.labels = raw_labels;
        } else {
            std::string without_le;
            for (const auto& [n, v] : pairs) {
                if (n == "le") {
                    s.le = v;
                    continue;
                }
                // Re-escaped as render_prometheus() writes them.
                std::string escaped;
                for (char c : v) {
                    if (c == '\\') {
                        escaped += "\\\\";
                    } else if (c == '"') {
                        escaped += "\\\"";
                    } else if (c == '\n') {
                        escaped += "\\n";
                    } else {
                        escaped += c;
                    }
                }
                without_le += (without_le.empty() ? "" : ",") + n + "=\"" + escaped + "\"";
            }
            s.labels = without_le;
            Buckets& h = histograms[{current, without_le}];
            if (s.name == current + "_bucket") {
                auto le = detail::parse_value(s.le);
                if (s.le.empty() || !le) {
                    problem("bucket without a numeric le", line);
                } else if (h.inf_last) {
                    problem("bucket after +Inf", line);
                } else {
                    if (!h.buckets.empty() && !(*le > h.buckets.back().first)) {
                        problem("le not increasing", line);
                    }
                    if (!h.buckets.empty() && s.value < h.buckets.back().second) {
                        problem("bucket counts not cumulative", line);
                    }
                    h.buckets.emplace_back(*le, s.value);
                    h.inf_last = s.le == "+Inf";
                }
            } else if (s.name == current + "_count") {
                h.count = s.value;
            } else if (s.name == current + "_sum") {
                h.sum = true;
            } else {
                problem("sample of another family than the histogram declared before it", line);
            }
        }
        ++samples_of[current];
        out.samples.push_back(std::move(s));
    }
    for (const auto& [name, type] : out.families) {
        if (samples_of[name] == 0) {
            out.problems.push_back("family without samples: " + name);
        }
    }
    for (const auto& [key, h] : histograms) {
        std::string what = key.first + "{" + key.second + "}";
        if (!h.inf_last) {
            out.problems.push_back("histogram without a last +Inf bucket: " + what);
        }
        if (!h.count || h.buckets.empty() || *h.count != h.buckets.back().second) {
            out.problems.push_back("histogram whose _count is not its +Inf bucket: " + what);
        }
        if (!h.sum) {
            out.problems.push_back("histogram without _sum: " + what);
        }
    }
    return out;
}

/// The value of the sample `name{labels}` (labels as written, without `le`
/// unless `le` is given), or nullopt.
inline std::optional<double> sample_value(const Exposition& e, const std::string& name,
                                          const std::string& labels, const std::string& le = "") {
    for (const ExpositionSample& s : e.samples) {
        if (s.name == name && s.labels == labels && s.le == le) {
            return s.value;
        }
    }
    return std::nullopt;
}

}  // namespace eddy::testing
