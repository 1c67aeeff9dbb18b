// SPDX-License-Identifier: Apache-2.0
#include "metrics/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

namespace eddy {

ComponentMetrics& JobMetrics::add(std::string name, std::string type, ComponentKind kind) {
    auto m = std::make_unique<ComponentMetrics>();
    m->name = std::move(name);
    m->type = std::move(type);
    m->kind = kind;
    components_.push_back(std::move(m));
    return *components_.back();
}

uint64_t ComponentMetrics::lateness_quantile(double q) const {
    uint64_t total = late.load(std::memory_order_relaxed);
    if (total == 0) {
        return 0;
    }
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < kLatenessBuckets; ++b) {
        seen += lateness_ms[b].load(std::memory_order_relaxed);
        if (seen >= rank) {
            return b == 0 ? 0 : (uint64_t{1} << b) - 1;
        }
    }
    return UINT64_MAX;
}

uint64_t JobMetrics::source_records() const {
    uint64_t n = 0;
    for (const auto& c : components_) {
        if (c->kind == ComponentKind::kSource) {
            n += c->records_out.load(std::memory_order_relaxed) +
                 c->errors.load(std::memory_order_relaxed);
        }
    }
    return n;
}

MetricCell* JobMetrics::component_metric(std::string_view component, std::string_view name,
                                         std::string_view help, MetricKind kind,
                                         const MetricLabels& labels) {
    std::lock_guard lock(mu_);
    for (ComponentMetric& m : component_metrics_) {
        if (m.component == component && m.name == name && m.labels == labels) {
            m.cell.live.store(true, std::memory_order_relaxed);
            return &m.cell;
        }
    }
    ComponentMetric& m = component_metrics_.emplace_back();
    m.component = component;
    m.name = name;
    m.help = help;
    m.kind = kind;
    m.labels = labels;
    return &m.cell;
}

EvaluationCell* JobMetrics::component_evaluation(std::string_view component,
                                                 std::string_view metric, int top_n) {
    std::lock_guard lock(mu_);
    for (ComponentEvaluation& e : evaluations_) {
        if (e.component == component && e.metric == metric && e.top_n == top_n) {
            return &e.cell;
        }
    }
    ComponentEvaluation& e = evaluations_.emplace_back();
    e.component = component;
    e.metric = metric;
    e.top_n = top_n;
    return &e.cell;
}

std::string evaluation_label(std::string_view metric, int top_n) {
    std::string name = metric == "mae"        ? "MAE"
                       : metric == "rmse"     ? "RMSE"
                       : metric == "hit_rate" ? "HR"
                       : metric == "ndcg"     ? "NDCG"
                                              : std::string(metric);
    return top_n > 0 ? fmt::format("{}@{}", name, top_n) : name;
}

namespace {

/// A label value with \, " and newlines escaped, as the format asks.
std::string escape_label(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

/// Help text on one line.
std::string escape_help(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

/// Samples grouped by family, so that each family's HELP and TYPE come once
/// and its samples follow them.
class Exposition {
public:
    void sample(const std::string& family, std::string_view help, MetricKind kind,
                const std::string& labels, int64_t value) {
        sample_text(family, help, kind, labels, std::to_string(value));
    }
    void sample(const std::string& family, std::string_view help, MetricKind kind,
                const std::string& labels, double value) {
        std::string text = std::isnan(value)   ? "NaN"
                           : std::isinf(value) ? (value > 0 ? "+Inf" : "-Inf")
                                               : fmt::format("{}", value);
        sample_text(family, help, kind, labels, text);
    }
    void sample_text(const std::string& family, std::string_view help, MetricKind kind,
                     const std::string& labels, const std::string& value) {
        auto [it, added] = families_.try_emplace(family);
        if (added) {
            order_.push_back(family);
            it->second.header =
                fmt::format("# HELP {} {}\n# TYPE {} {}\n", family, escape_help(help), family,
                            kind == MetricKind::kCounter ? "counter" : "gauge");
        }
        it->second.samples += fmt::format("{}{{{}}} {}\n", family, labels, value);
    }
    std::string text() const {
        std::string out;
        for (const std::string& f : order_) {
            const Family& family = families_.at(f);
            out += family.header;
            out += family.samples;
        }
        return out;
    }

private:
    struct Family {
        std::string header;
        std::string samples;
    };
    std::map<std::string, Family> families_;
    std::vector<std::string> order_;
};

}  // namespace

std::string render_prometheus(const JobMetrics& metrics) {
    Exposition e;
    for (const auto& c : metrics.components()) {
        std::string labels =
            fmt::format(R"(component="{}",type="{}",kind="{}")", escape_label(c->name),
                        escape_label(c->type), component_kind_name(c->kind));
        auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
            e.sample(name, help, MetricKind::kCounter, labels,
                     static_cast<int64_t>(v.load(std::memory_order_relaxed)));
        };
        counter("eddy_records_in_total", "Records a component received.", c->records_in);
        counter("eddy_records_out_total", "Records a component emitted on its main output.",
                c->records_out);
        counter("eddy_records_side_total",
                "Records a component emitted on named outputs other than errors.", c->records_side);
        counter("eddy_errors_total", "Records or input a component sent to its errors output.",
                c->errors);
        counter("eddy_late_total", "Records that arrived after the watermark passed their time.",
                c->late);
        counter("eddy_state_spilled_total", "Keyed state entries evicted from memory with changes.",
                c->state_spilled);
        counter("eddy_state_loaded_total", "Keyed state entries read from RocksDB on a miss.",
                c->state_loaded);
    }
    metrics.for_each_component_metric([&](const ComponentMetric& m) {
        if (!m.cell.live.load(std::memory_order_relaxed)) {
            return;
        }
        std::string labels = fmt::format(R"(component="{}")", escape_label(m.component));
        for (const auto& [name, value] : m.labels) {
            labels += fmt::format(R"(,{}="{}")", name, escape_label(value));
        }
        e.sample("eddy_" + m.name, m.help, m.kind, labels,
                 m.cell.value.load(std::memory_order_relaxed));
    });
    metrics.for_each_evaluation([&](const ComponentEvaluation& v) {
        std::string labels = fmt::format(R"(component="{}",metric="{}")", escape_label(v.component),
                                         escape_label(v.metric));
        if (v.top_n > 0) {
            labels += fmt::format(R"(,top_n="{}")", v.top_n);
        }
        e.sample("eddy_evaluation",
                 "Prequential evaluation figure of a recommender (evaluate: true), over the "
                 "events scored so far (docs/evaluation.md).",
                 MetricKind::kGauge, labels, v.cell.value.load(std::memory_order_relaxed));
        e.sample("eddy_evaluation_scored_events",
                 "Events the prequential evaluation figure covers.", MetricKind::kGauge, labels,
                 v.cell.scored.load(std::memory_order_relaxed));
    });
    return e.text();
}

Status write_file_atomically(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            return Status::io_error("cannot write '" + tmp + "': " + std::strerror(errno));
        }
        out << text;
        out.close();
        if (!out) {
            return Status::io_error("cannot write '" + tmp + "'");
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        return Status::io_error("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
    }
    return Status::ok();
}

}  // namespace eddy
