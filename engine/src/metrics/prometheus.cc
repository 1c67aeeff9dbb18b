// SPDX-License-Identifier: Apache-2.0
// render_prometheus(): the Prometheus text exposition format (0.0.4) of a
// job's metrics. docs/metrics.md lists every family.
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "metrics/metrics.h"

namespace eddy {
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

std::string number(double value) {
    return std::isnan(value)   ? "NaN"
           : std::isinf(value) ? (value > 0 ? "+Inf" : "-Inf")
                               : fmt::format("{}", value);
}

/// A bucket bound in seconds without an exponent ("0.00001", "2.5"), so
/// that `le` values read well and stay the same from one render to the next.
std::string le_text(double seconds) {
    std::string s = fmt::format("{:.9f}", seconds);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') {
        s.pop_back();
    }
    return s;
}

enum class Type { kCounter, kGauge, kHistogram };

/// Samples grouped by family, so that each family's HELP and TYPE come once
/// and its samples follow them, in the order families first appear.
class Exposition {
public:
    void counter(const std::string& family, std::string_view help, const std::string& labels,
                 uint64_t value) {
        add(family, help, Type::kCounter, "", labels, std::to_string(value));
    }
    void gauge(const std::string& family, std::string_view help, const std::string& labels,
               int64_t value) {
        add(family, help, Type::kGauge, "", labels, std::to_string(value));
    }
    void gauge(const std::string& family, std::string_view help, const std::string& labels,
               double value) {
        add(family, help, Type::kGauge, "", labels, number(value));
    }
    void sample(const std::string& family, std::string_view help, MetricKind kind,
                const std::string& labels, int64_t value) {
        add(family, help, kind == MetricKind::kCounter ? Type::kCounter : Type::kGauge, "", labels,
            std::to_string(value));
    }
    /// Cumulative `_bucket` samples ending with +Inf, then `_sum` and `_count`.
    void histogram(const std::string& family, std::string_view help, const std::string& labels,
                   const Histogram& h) {
        uint64_t cumulative = 0;
        std::span<const int64_t> bounds = h.bounds();
        for (size_t b = 0; b < bounds.size(); ++b) {
            cumulative += h.bucket(b);
            bucket(family, help, labels, le_text(h.seconds(bounds[b])), cumulative);
        }
        cumulative += h.bucket(bounds.size());
        bucket(family, help, labels, "+Inf", cumulative);
        add(family, help, Type::kHistogram, "_sum", labels, number(h.seconds(h.sum())));
        add(family, help, Type::kHistogram, "_count", labels, std::to_string(cumulative));
    }
    void bucket(const std::string& family, std::string_view help, const std::string& labels,
                const std::string& le, uint64_t cumulative) {
        add(family, help, Type::kHistogram, "_bucket",
            labels + (labels.empty() ? "" : ",") + "le=\"" + le + "\"", std::to_string(cumulative));
    }
    void add(const std::string& family, std::string_view help, Type type, std::string_view suffix,
             const std::string& labels, const std::string& value) {
        auto [it, added] = families_.try_emplace(family);
        if (added) {
            order_.push_back(family);
            const char* type_name = type == Type::kCounter ? "counter"
                                    : type == Type::kGauge ? "gauge"
                                                           : "histogram";
            it->second.header = fmt::format("# HELP {} {}\n# TYPE {} {}\n", family,
                                            escape_help(help), family, type_name);
        }
        std::string& out = it->second.samples;
        out += family;
        out += suffix;
        if (!labels.empty()) {
            out += '{';
            out += labels;
            out += '}';
        }
        out += ' ';
        out += value;
        out += '\n';
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

/// Late events by lateness: bucket b of ComponentMetrics::lateness_ms holds
/// whole milliseconds in [2^(b-1), 2^b - 1], so `le` is exactly 2^b - 1 ms.
/// Buckets above 2^32 ms (50 days) are only in +Inf.
void lateness_histogram(Exposition& e, const ComponentMetrics& c, const std::string& labels) {
    constexpr size_t kExported = 33;
    const char* help =
        "How far behind the watermark late records were (only components that saw any).";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kExported; ++b) {
        cumulative += c.lateness_ms[b].load(std::memory_order_relaxed);
        double le_ms = static_cast<double>((uint64_t{1} << b) - 1);
        e.bucket("eddy_lateness_seconds", help, labels, le_text(le_ms / 1e3), cumulative);
    }
    for (size_t b = kExported; b < ComponentMetrics::kLatenessBuckets; ++b) {
        cumulative += c.lateness_ms[b].load(std::memory_order_relaxed);
    }
    e.bucket("eddy_lateness_seconds", help, labels, "+Inf", cumulative);
    e.add("eddy_lateness_seconds", help, Type::kHistogram, "_sum", labels,
          number(static_cast<double>(c.lateness_sum_ms.load(std::memory_order_relaxed)) / 1e3));
    e.add("eddy_lateness_seconds", help, Type::kHistogram, "_count", labels,
          std::to_string(cumulative));
}

void component_families(Exposition& e, const ComponentMetrics& c, int64_t now_ms) {
    std::string labels = fmt::format(R"(component="{}",type="{}",kind="{}")", escape_label(c.name),
                                     escape_label(c.type), component_kind_name(c.kind));
    auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
        e.counter(name, help, labels, v.load(std::memory_order_relaxed));
    };
    counter("eddy_records_in_total", "Records a component received.", c.records_in);
    counter("eddy_records_out_total", "Records a component emitted on its main output.",
            c.records_out);
    counter("eddy_records_side_total",
            "Records a component emitted on named outputs other than errors.", c.records_side);
    counter("eddy_errors_total", "Records or input a component sent to its errors output.",
            c.errors);
    counter("eddy_late_total", "Records that arrived after the watermark passed their time.",
            c.late);
    counter("eddy_state_spilled_total", "Keyed state entries evicted from memory with changes.",
            c.state_spilled);
    counter("eddy_state_loaded_total", "Keyed state entries read from RocksDB on a miss.",
            c.state_loaded);

    if (c.kind == ComponentKind::kOperator) {
        e.histogram("eddy_operator_batch_seconds",
                    "Time an operator spent in process_batch() (or process() for each record) "
                    "per batch delivered to it, summed over shards.",
                    labels, c.batch_ns);
        counter("eddy_operator_batch_records_total",
                "Records in the batches timed by eddy_operator_batch_seconds.", c.batch_records);
    }
    if (c.kind == ComponentKind::kSink) {
        e.histogram("eddy_end_to_end_latency_seconds",
                    "Per record written by a sink: processing time when the sink's write() "
                    "returned minus the record's event time (0 when the event time is ahead).",
                    labels, c.end_to_end_ms);
    }
    if (int64_t wm = c.min_watermark(); wm != kNoWatermark) {
        bool end = wm == kEndOfTime;
        e.gauge("eddy_watermark_seconds",
                "Event-time watermark of a component (its slowest shard), in Unix seconds; "
                "+Inf once its input ended.",
                labels, end ? INFINITY : static_cast<double>(wm) / 1e3);
        e.gauge("eddy_watermark_lag_seconds",
                "Processing time now minus the watermark of a component's slowest shard; 0 once "
                "its input ended.",
                labels, end ? 0.0 : static_cast<double>(now_ms - wm) / 1e3);
    }
    if (c.states_sampled.load(std::memory_order_relaxed)) {
        for (const ComponentMetrics::StateSize& s : c.states) {
            uint64_t entries = 0;
            uint64_t bytes = 0;
            for (size_t shard = 0; shard < c.shard_count(); ++shard) {
                entries += s.entries[shard].load(std::memory_order_relaxed);
                bytes += s.bytes[shard].load(std::memory_order_relaxed);
            }
            std::string state_labels = labels + R"(,state=")" + escape_label(s.state) + "\"";
            e.gauge("eddy_state_entries",
                    "Entries (keys) of an operator's state held in memory, summed over shards; "
                    "sampled every second and at checkpoints.",
                    state_labels, static_cast<int64_t>(entries));
            e.gauge("eddy_state_memory_bytes",
                    "Estimated memory of an operator's state entries held in memory, summed "
                    "over shards; sampled every second and at checkpoints.",
                    state_labels, static_cast<int64_t>(bytes));
        }
    }
    if (c.queue_capacity.load(std::memory_order_relaxed) > 0) {
        e.gauge("eddy_queue_messages",
                "Parallel jobs: messages (batches, watermarks) waiting now in the mailboxes of a "
                "chain's or sink's instances, summed over shards.",
                labels, static_cast<int64_t>(c.queued()));
        e.gauge("eddy_queue_capacity",
                "Parallel jobs: messages the mailboxes of a chain's or sink's instances hold "
                "before senders wait, summed over shards.",
                labels, static_cast<int64_t>(c.queue_capacity.load(std::memory_order_relaxed)));
        e.gauge("eddy_queue_peak_messages",
                "Parallel jobs: the most messages one mailbox of a chain or sink held at once "
                "(sampled every second).",
                labels, static_cast<int64_t>(c.queue_peak.load(std::memory_order_relaxed)));
    }
    if (int64_t left = c.source_remaining.load(std::memory_order_relaxed); left >= 0) {
        bool bytes = c.source_remaining_bytes.load(std::memory_order_relaxed);
        e.gauge("eddy_source_remaining",
                "Sources that know their size: input left to read, in `unit` (sampled every "
                "second).",
                labels + (bytes ? R"(,unit="bytes")" : R"(,unit="records")"), left);
    }
    if (c.late.load(std::memory_order_relaxed) > 0) {
        lateness_histogram(e, c, labels);
    }
}

void checkpoint_families(Exposition& e, const CheckpointMetrics& c) {
    if (!c.enabled.load(std::memory_order_relaxed)) {
        return;
    }
    uint64_t completed = c.completed.load(std::memory_order_relaxed);
    e.counter("eddy_checkpoints_total", "Checkpoints this run completed.", "", completed);
    e.histogram("eddy_checkpoint_duration_seconds",
                "Time to build a checkpoint's write batch and commit it (after the sinks' flush).",
                "", c.duration_us);
    if (uint64_t id = c.last_id.load(std::memory_order_relaxed); id > 0) {
        e.gauge("eddy_last_checkpoint_id", "Id of the last checkpoint taken or restored.", "",
                static_cast<int64_t>(id));
    }
    if (completed == 0) {
        return;
    }
    e.gauge("eddy_last_checkpoint_duration_seconds", "Time the last checkpoint took.", "",
            static_cast<double>(c.last_duration_us.load(std::memory_order_relaxed)) / 1e6);
    e.gauge("eddy_checkpoint_bytes", "Bytes the last checkpoint wrote (its write batch).", "",
            static_cast<int64_t>(c.last_bytes.load(std::memory_order_relaxed)));
    e.gauge("eddy_last_checkpoint_timestamp_seconds",
            "When the last checkpoint completed, in Unix seconds (the job's clock).", "",
            static_cast<double>(c.last_timestamp_ms.load(std::memory_order_relaxed)) / 1e3);
}

void reload_families(Exposition& e, const ReloadMetrics& r) {
    if (!r.enabled.load(std::memory_order_relaxed)) {
        return;
    }
    const char* help =
        "Reloads of the topology file (eddy run --watch, SIGHUP), by outcome: applied, "
        "unchanged, refused (a change needs a restart) or failed.";
    e.counter("eddy_reloads_total", help, "outcome=\"applied\"", r.applied.load());
    e.counter("eddy_reloads_total", help, "outcome=\"unchanged\"", r.unchanged.load());
    e.counter("eddy_reloads_total", help, "outcome=\"refused\"", r.refused.load());
    e.counter("eddy_reloads_total", help, "outcome=\"failed\"", r.failed.load());
    e.gauge("eddy_reload_last_success",
            "1 when the last reload was applied or changed nothing (or none was tried), 0 when "
            "it was refused or failed.",
            "", static_cast<int64_t>(r.last_ok.load() ? 1 : 0));
    if (int64_t at = r.last_timestamp_ms.load(); at > 0) {
        e.gauge("eddy_reload_last_timestamp_seconds",
                "When the last reload was tried, in Unix seconds (the job's clock).", "",
                static_cast<double>(at) / 1e3);
    }
}

}  // namespace

std::string render_prometheus(const JobMetrics& metrics) {
    return render_prometheus(metrics, metrics.clock().now_ms());
}

std::string render_prometheus(const JobMetrics& metrics, int64_t now_ms) {
    Exposition e;
    for (const auto& c : metrics.components()) {
        component_families(e, *c, now_ms);
    }
    checkpoint_families(e, metrics.checkpoints());
    reload_families(e, metrics.reloads());
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
        e.gauge("eddy_evaluation",
                "Prequential evaluation figure of a recommender (evaluate: true), over the "
                "events scored so far (docs/evaluation.md).",
                labels, v.cell.value.load(std::memory_order_relaxed));
        e.gauge("eddy_evaluation_scored_events", "Events the prequential evaluation figure covers.",
                labels, static_cast<int64_t>(v.cell.scored.load(std::memory_order_relaxed)));
    });
    return e.text();
}

}  // namespace eddy
