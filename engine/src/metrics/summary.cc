// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "metrics/metrics.h"

namespace eddy {
namespace {

std::string human_count(uint64_t n) {
    if (n >= 10'000'000) {
        return fmt::format("{:.1f}M", static_cast<double>(n) / 1e6);
    }
    return std::to_string(n);
}

}  // namespace

std::string format_summary(const JobMetrics& metrics, double seconds, const std::string& status) {
    size_t name_width = 9;
    size_t type_width = 4;
    for (const auto& c : metrics.components()) {
        name_width = std::max(name_width, c->name.size());
        type_width = std::max(type_width, c->type.size());
    }
    std::string out = fmt::format("run summary ({})\n", status);
    out +=
        fmt::format("  {:<8} {:<{}} {:<{}} {:>12} {:>12} {:>12} {:>9} {:>9}\n", "kind", "component",
                    name_width, "type", type_width, "in", "out", "side", "errors", "late");
    for (const auto& c : metrics.components()) {
        std::string in =
            c->kind == ComponentKind::kSource ? "-" : human_count(c->records_in.load());
        std::string outs =
            c->kind == ComponentKind::kSink ? "-" : human_count(c->records_out.load());
        std::string side =
            c->kind == ComponentKind::kOperator ? human_count(c->records_side.load()) : "-";
        std::string late = c->kind == ComponentKind::kOperator ? human_count(c->late.load()) : "-";
        out += fmt::format("  {:<8} {:<{}} {:<{}} {:>12} {:>12} {:>12} {:>9} {:>9}",
                           component_kind_name(c->kind), c->name, name_width, c->type, type_width,
                           in, outs, side, human_count(c->errors.load()), late);
        if (c->late.load() > 0) {
            out += fmt::format("  late p50 <= {} ms, p99 <= {} ms", c->lateness_quantile(0.5),
                               c->lateness_quantile(0.99));
        }
        if (!c->destination.empty()) {
            out += "  -> " + c->destination;
        }
        out += "\n";
    }
    uint64_t events = metrics.source_records();
    double rate = seconds > 0 ? static_cast<double>(events) / seconds : 0;
    out += fmt::format("  duration {:.3f} s, {} events read, {:.0f} events/s\n", seconds, events,
                       rate);
    out +=
        "  (out: main output; side: named outputs such as `rejected`; errors: the `errors` "
        "output; late: events later than the allowed lateness)\n";
    out += format_evaluation(metrics);
    return out;
}

std::string format_evaluation(const JobMetrics& metrics) {
    struct Row {
        std::string component;
        std::string label;
        double value;
        int64_t scored;
    };
    std::vector<Row> rows;
    size_t name_width = 9;
    size_t label_width = 6;
    metrics.for_each_evaluation([&](const ComponentEvaluation& e) {
        Row& r = rows.emplace_back();
        r.component = e.component;
        r.label = evaluation_label(e.metric, e.top_n);
        r.value = e.cell.value.load(std::memory_order_relaxed);
        r.scored = e.cell.scored.load(std::memory_order_relaxed);
        name_width = std::max(name_width, r.component.size());
        label_width = std::max(label_width, r.label.size());
    });
    if (rows.empty()) {
        return "";
    }
    std::string out = "  evaluation (prequential: every event predicted, scored, then learned)\n";
    out += fmt::format("    {:<{}} {:<{}} {:>10} {:>12}\n", "component", name_width, "metric",
                       label_width, "value", "scored");
    for (const Row& r : rows) {
        std::string value = r.scored > 0 ? fmt::format("{:.4f}", r.value) : "-";
        out += fmt::format("    {:<{}} {:<{}} {:>10} {:>12}\n", r.component, name_width, r.label,
                           label_width, value, r.scored);
    }
    out += "    (scored: the events each figure covers; see docs/evaluation.md)\n";
    return out;
}

}  // namespace eddy
