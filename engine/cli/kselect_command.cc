// SPDX-License-Identifier: Apache-2.0
// `eddy kselect`: batch k-means (k-means++, several inits) for a range of k
// over a sample of JSON lines, a table of inertia and silhouette, an SVG of
// both curves and a recommended k (the highest silhouette). docs/kmeans.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simdjson.h>

#include "commands.h"
#include "io/line_reader.h"
#include "kmeans/batch.h"

namespace eddy::cli {
namespace {

struct KselectArgs {
    std::string input;
    std::string field;
    std::vector<std::string> fields;
    std::string k_range = "2..12";
    int64_t sample = 10000;
    int64_t silhouette_sample = 2000;
    int n_init = 10;
    uint64_t seed = 42;
    bool raw = false;
    std::string plot;
    std::string format = "text";
};

struct Failure {
    std::string message;
};

struct Row {
    size_t k = 0;
    double inertia = 0;
    double silhouette = 0;
};

/// Parses "2..12" (or "5") into [lo, hi].
std::optional<Failure> parse_range(const std::string& text, size_t& lo, size_t& hi) {
    const std::string shape =
        "--k must be a range like 2..12 (both ends at least 2, the first "
        "not above the second, at most 1000), got '" +
        text + "'";
    size_t dots = text.find("..");
    std::string a = dots == std::string::npos ? text : text.substr(0, dots);
    std::string b = dots == std::string::npos ? text : text.substr(dots + 2);
    auto number = [](const std::string& s, size_t& out) {
        if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), ::isdigit)) {
            return false;
        }
        out = std::stoul(s);
        return true;
    };
    if (!number(a, lo) || !number(b, hi) || lo < 2 || hi < lo || hi > 1000) {
        return Failure{shape};
    }
    return std::nullopt;
}

/// Reads the point of one JSON object into `point`; nullopt when the line
/// lacks the field(s), a failure when a field is there but not numeric.
std::optional<Failure> read_point(const KselectArgs& a, simdjson::dom::object obj,
                                  const std::string& where, std::vector<float>& point,
                                  bool& present) {
    point.clear();
    present = false;
    if (!a.field.empty()) {
        simdjson::dom::element v;
        if (obj[a.field].get(v) != simdjson::SUCCESS || v.is_null()) {
            return std::nullopt;
        }
        simdjson::dom::array arr;
        if (v.get(arr) != simdjson::SUCCESS) {
            return Failure{where + ": the field `" + a.field +
                           "` is not a list of numbers such as [0.5, 1, 2]"};
        }
        for (simdjson::dom::element item : arr) {
            double d = 0;
            if (item.get(d) != simdjson::SUCCESS) {
                return Failure{where + ": the field `" + a.field +
                               "` holds something other than numbers"};
            }
            point.push_back(static_cast<float>(d));
        }
    } else {
        for (const std::string& f : a.fields) {
            simdjson::dom::element v;
            if (obj[f].get(v) != simdjson::SUCCESS || v.is_null()) {
                return std::nullopt;
            }
            double d = 0;
            if (v.get(d) != simdjson::SUCCESS) {
                return Failure{where + ": the field `" + f + "` is not a number"};
            }
            point.push_back(static_cast<float>(d));
        }
    }
    for (float f : point) {
        if (!std::isfinite(f)) {
            return Failure{where + ": the point holds a number too large for a float"};
        }
    }
    if (point.empty()) {
        return Failure{where + ": the field `" + a.field + "` is an empty list"};
    }
    present = true;
    return std::nullopt;
}

/// Reservoir sample of at most a.sample points (row-major into `data`).
std::optional<Failure> read_sample(const KselectArgs& a, std::vector<float>& data, size_t& dims,
                                   uint64_t& seen) {
    auto reader = LineReader::open(a.input, {});
    if (!reader.is_ok()) {
        return Failure{"--input: " + reader.status().message()};
    }
    simdjson::dom::parser parser;
    LineReader::Line line;
    kmeans::Rng rng{a.seed};
    std::vector<float> point;
    dims = 0;
    seen = 0;
    uint64_t lines = 0;
    const auto cap = static_cast<uint64_t>(a.sample);
    while (true) {
        auto ev = reader.value()->next(line);
        if (!ev.is_ok()) {
            return Failure{a.input + ": " + ev.status().message()};
        }
        if (*ev == LineReader::Event::kEnd) {
            break;
        }
        const std::string where = a.input + ":" + std::to_string(line.number);
        if (*ev != LineReader::Event::kLine) {
            return Failure{where + ": line too long"};
        }
        if (line.text.find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        ++lines;
        simdjson::dom::object obj;
        if (auto error = parser.parse(line.text.data(), line.text.size()).get(obj)) {
            return Failure{where + ": not a JSON object (" +
                           std::string(simdjson::error_message(error)) + ")"};
        }
        bool present = false;
        if (auto failed = read_point(a, obj, where, point, present)) {
            return failed;
        }
        if (!present) {
            continue;
        }
        if (dims == 0) {
            dims = point.size();
        } else if (point.size() != dims) {
            return Failure{where + ": the point has " + std::to_string(point.size()) +
                           " numbers but the first one had " + std::to_string(dims)};
        }
        ++seen;
        if (seen <= cap) {
            data.insert(data.end(), point.begin(), point.end());
        } else if (uint64_t j = rng.below(seen); j < cap) {
            std::copy(point.begin(), point.end(), data.begin() + static_cast<long>(j * dims));
        }
    }
    if (seen == 0) {
        std::string what = a.field.empty() ? "the fields given with --fields are"
                                           : "the field `" + a.field + "` is";
        return Failure{what + " absent from every line of " + a.input + " (" +
                       std::to_string(lines) + " lines)"};
    }
    return std::nullopt;
}

/// z-scores in place (population variance; constant dimensions become 0).
void standardize(std::vector<float>& data, size_t n, size_t d) {
    for (size_t i = 0; i < d; ++i) {
        double sum = 0;
        double sq = 0;
        for (size_t r = 0; r < n; ++r) {
            sum += data[r * d + i];
        }
        const double mean = sum / static_cast<double>(n);
        for (size_t r = 0; r < n; ++r) {
            const double x = data[r * d + i] - mean;
            sq += x * x;
        }
        double sd = std::sqrt(sq / static_cast<double>(n));
        if (sd <= 1e-12) {
            sd = 1;
        }
        for (size_t r = 0; r < n; ++r) {
            data[r * d + i] = static_cast<float>((data[r * d + i] - mean) / sd);
        }
    }
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

/// One panel: a polyline of (k, y) with axes, ticks and the chosen k marked.
void panel(std::string& svg, double x0, const std::vector<Row>& rows, bool inertia, size_t best,
           const char* title) {
    const double w = 380;
    const double h = 260;
    const double left = x0 + 60;
    const double top = 40;
    const double pw = w - 80;
    const double ph = h - 80;
    double lo = 1e300;
    double hi = -1e300;
    for (const Row& r : rows) {
        double y = inertia ? r.inertia : r.silhouette;
        lo = std::min(lo, y);
        hi = std::max(hi, y);
    }
    if (hi - lo < 1e-12) {
        hi = lo + 1;
    }
    const double kmin = static_cast<double>(rows.front().k);
    const double kspan = std::max(1.0, static_cast<double>(rows.back().k) - kmin);
    auto px = [&](size_t k) { return left + (static_cast<double>(k) - kmin) / kspan * pw; };
    auto py = [&](double y) { return top + ph - (y - lo) / (hi - lo) * ph; };
    svg += "<text x=\"" + fmt("%.1f", left + pw / 2) +
           "\" y=\"24\" text-anchor=\"middle\" "
           "font-size=\"14\">" +
           title + "</text>\n";
    svg += "<rect x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", top) + "\" width=\"" +
           fmt("%.1f", pw) + "\" height=\"" + fmt("%.1f", ph) +
           "\" fill=\"none\" stroke=\"#999\"/>\n";
    for (int t = 0; t <= 4; ++t) {
        double y = lo + (hi - lo) * t / 4;
        svg += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", py(y) + 4) +
               "\" text-anchor=\"end\" font-size=\"10\">" + fmt(inertia ? "%.4g" : "%.3f", y) +
               "</text>\n";
    }
    std::string points;
    for (const Row& r : rows) {
        double y = inertia ? r.inertia : r.silhouette;
        points += fmt("%.1f", px(r.k)) + "," + fmt("%.1f", py(y)) + " ";
        svg += "<text x=\"" + fmt("%.1f", px(r.k)) + "\" y=\"" + fmt("%.1f", top + ph + 16) +
               "\" text-anchor=\"middle\" font-size=\"10\">" + std::to_string(r.k) + "</text>\n";
        svg += "<circle cx=\"" + fmt("%.1f", px(r.k)) + "\" cy=\"" + fmt("%.1f", py(y)) +
               "\" r=\"3\" fill=\"#1f77b4\"/>\n";
    }
    svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"" + points +
           "\"/>\n";
    svg += "<line x1=\"" + fmt("%.1f", px(rows[best].k)) + "\" y1=\"" + fmt("%.1f", top) +
           "\" x2=\"" + fmt("%.1f", px(rows[best].k)) + "\" y2=\"" + fmt("%.1f", top + ph) +
           "\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", left + pw / 2) + "\" y=\"" + fmt("%.1f", top + ph + 34) +
           "\" text-anchor=\"middle\" font-size=\"12\">k</text>\n";
}

std::string svg_plot(const std::vector<Row>& rows, size_t best) {
    std::string svg =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"290\" "
        "font-family=\"sans-serif\">\n<rect width=\"760\" height=\"290\" fill=\"white\"/>\n";
    panel(svg, 0, rows, true, best, "Inertia (elbow)");
    panel(svg, 380, rows, false, best, "Mean silhouette (dashed: recommended k)");
    svg += "</svg>\n";
    return svg;
}

int run(const KselectArgs& a) {
    size_t lo = 0;
    size_t hi = 0;
    auto fail = [](const Failure& f) {
        std::fprintf(stderr, "eddy kselect: %s\n", f.message.c_str());
        return kExitUsage;
    };
    if (auto failed = parse_range(a.k_range, lo, hi)) {
        return fail(*failed);
    }
    if (a.field.empty() == a.fields.empty()) {
        return fail(
            {"give the vector field with --field NAME or numeric fields with --fields "
             "a,b,c (one of the two)"});
    }
    std::vector<float> data;
    size_t d = 0;
    uint64_t seen = 0;
    if (auto failed = read_sample(a, data, d, seen)) {
        return fail(*failed);
    }
    const size_t n = data.size() / d;
    if (n < hi + 1) {
        return fail({"--k " + a.k_range + " needs more than " + std::to_string(hi) + " points; " +
                     a.input + " has " + std::to_string(n)});
    }
    if (!a.raw) {
        standardize(data, n, d);
    }
    kmeans::Points points{data.data(), n, d, nullptr};
    // The silhouette is O(n^2): it uses the first points of the (random) sample.
    const size_t sn = std::min(n, static_cast<size_t>(a.silhouette_sample));
    kmeans::Points head{data.data(), sn, d, nullptr};
    std::vector<Row> rows;
    kmeans::Rng rng{a.seed};
    for (size_t k = lo; k <= hi; ++k) {
        kmeans::Clustering c = kmeans::best_of(points, k, a.n_init, rng);
        std::vector<int32_t> labels(c.labels.begin(), c.labels.begin() + static_cast<long>(sn));
        rows.push_back({k, c.inertia, kmeans::silhouette(head, labels, k)});
    }
    size_t best = 0;
    for (size_t i = 1; i < rows.size(); ++i) {
        if (rows[i].silhouette > rows[best].silhouette) {
            best = i;
        }
    }
    if (a.format == "json") {
        std::printf("{\"points\":%zu,\"sample\":%zu,\"dimensions\":%zu,\"rows\":[", seen, n, d);
        for (size_t i = 0; i < rows.size(); ++i) {
            std::printf("%s{\"k\":%zu,\"inertia\":%.6g,\"silhouette\":%.6f}", i ? "," : "",
                        rows[i].k, rows[i].inertia, rows[i].silhouette);
        }
        std::printf("],\"recommended_k\":%zu,\"rule\":\"highest silhouette\"}\n", rows[best].k);
    } else {
        std::printf("%llu points, sample of %zu, %zu dimensions, %s, %d inits per k\n",
                    static_cast<unsigned long long>(seen), n, d,
                    a.raw ? "raw units" : "standardized", a.n_init);
        std::printf("%4s  %14s  %10s\n", "k", "inertia", "silhouette");
        for (const Row& r : rows) {
            std::printf("%4zu  %14.6g  %10.4f%s\n", r.k, r.inertia, r.silhouette,
                        &r == &rows[best] ? "  <- recommended" : "");
        }
        std::printf("recommended k = %zu (the highest mean silhouette; on ties the smaller k)\n",
                    rows[best].k);
    }
    if (!a.plot.empty()) {
        std::ofstream out(a.plot, std::ios::binary | std::ios::trunc);
        out << svg_plot(rows, best);
        if (!out.flush()) {
            std::fprintf(stderr, "eddy kselect: cannot write the plot to '%s'\n", a.plot.c_str());
            return kExitRuntimeFailure;
        }
        if (a.format != "json") {
            std::printf("plot: %s\n", a.plot.c_str());
        }
    }
    return kExitOk;
}

}  // namespace

void add_kselect_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<KselectArgs>();
    CLI::App* cmd = app.add_subcommand(
        "kselect",
        "Choose k for k-means: batch k-means (k-means++, several inits) per k over a sample "
        "of JSON lines; prints inertia and silhouette per k and recommends the k with the "
        "highest silhouette. See docs/kmeans.md.");
    cmd->add_option("--input", args->input, "JSON Lines file (e.g. profile outputs)")
        ->required()
        ->type_name("PATH");
    cmd->add_option("--field", args->field, "The vector field (a list of numbers)");
    cmd->add_option("--fields", args->fields, "Numeric fields forming the point: a,b,c")
        ->delimiter(',');
    cmd->add_option("--k", args->k_range, "Range of k: LO..HI")->capture_default_str();
    cmd->add_option("--sample", args->sample, "Points sampled (reservoir) from the input")
        ->check(CLI::Range(int64_t{2}, int64_t{10'000'000}))
        ->capture_default_str();
    cmd->add_option("--silhouette-sample", args->silhouette_sample,
                    "Points of the sample the silhouette uses (it costs O(n^2))")
        ->check(CLI::Range(int64_t{2}, int64_t{100'000}))
        ->capture_default_str();
    cmd->add_option("--n-init", args->n_init, "k-means++ runs per k; the best is kept")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    cmd->add_option("--seed", args->seed, "Seed of sampling and k-means++")->capture_default_str();
    cmd->add_flag("--raw", args->raw, "Cluster raw values instead of z-scores");
    cmd->add_option("--plot", args->plot, "Write an SVG of the elbow and silhouette curves")
        ->type_name("PATH");
    cmd->add_option("--format", args->format, "text or json (one line)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace eddy::cli
