// SPDX-License-Identifier: Apache-2.0
#include "metrics/metrics.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>

namespace eddy {

ComponentMetrics& JobMetrics::add(std::string name, std::string type, ComponentKind kind) {
    auto m = std::make_unique<ComponentMetrics>();
    m->name = std::move(name);
    m->type = std::move(type);
    m->kind = kind;
    std::lock_guard lock(mu_);
    components_.push_back(std::move(m));
    return *components_.back();
}

std::vector<const ComponentMetrics*> JobMetrics::components() const {
    std::lock_guard lock(mu_);
    std::vector<const ComponentMetrics*> out;
    out.reserve(components_.size());
    for (const auto& c : components_) {
        out.push_back(c.get());
    }
    return out;
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

void ComponentMetrics::observe_end_to_end(const Batch& batch, int64_t now_ms) {
    std::array<uint64_t, Histogram::kMaxBounds + 1> counts{};
    std::span<const int64_t> bounds = end_to_end_ms.bounds();
    // Records of a batch mostly share a bucket: keep the last one's range
    // (lo, hi] and search only when a record falls outside it.
    size_t bucket = 0;
    int64_t lo = std::numeric_limits<int64_t>::min();
    int64_t hi = bounds.front();
    int64_t sum = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
        // An event time ahead of the clock (skew, or a made-up time) counts as 0.
        int64_t latency = std::max<int64_t>(now_ms - batch[i].time(), 0);
        if (latency > hi || latency <= lo) {
            bucket = end_to_end_ms.bucket_of(latency);
            lo = bucket == 0 ? std::numeric_limits<int64_t>::min() : bounds[bucket - 1];
            hi = bucket == bounds.size() ? std::numeric_limits<int64_t>::max() : bounds[bucket];
        }
        ++counts[bucket];
        sum += latency;
    }
    end_to_end_ms.add(counts.data(), sum);
}

void ComponentMetrics::set_shards(size_t n) {
    shard_count_ = std::max<size_t>(n, 1);
    shards_ = std::make_unique<Shard[]>(shard_count_);
}

int64_t ComponentMetrics::min_watermark() const {
    int64_t min = kNoWatermark;
    for (size_t s = 0; s < shard_count_; ++s) {
        int64_t wm = shards_[s].watermark.load(std::memory_order_relaxed);
        if (wm != kNoWatermark && (min == kNoWatermark || wm < min)) {
            min = wm;
        }
    }
    return min;
}

uint64_t ComponentMetrics::queued() const {
    int64_t n = 0;
    for (size_t s = 0; s < shard_count_; ++s) {
        // Senders count a message after pushing it, so its consumer may have
        // counted it out first: a shard may be -1 for a moment.
        n += std::max<int64_t>(shards_[s].queued.load(std::memory_order_relaxed), 0);
    }
    return static_cast<uint64_t>(n);
}

void ComponentMetrics::set_state_names(const std::vector<std::string>& names) {
    states.clear();
    for (const std::string& n : names) {
        StateSize& s = states.emplace_back();
        s.state = n;
        s.entries = std::make_unique<std::atomic<uint64_t>[]>(shard_count_);
        s.bytes = std::make_unique<std::atomic<uint64_t>[]>(shard_count_);
    }
}

void CheckpointMetrics::record(uint64_t id, uint64_t bytes, int64_t timestamp_ms,
                               int64_t duration) {
    last_id.store(id, std::memory_order_relaxed);
    last_bytes.store(bytes, std::memory_order_relaxed);
    last_timestamp_ms.store(timestamp_ms, std::memory_order_relaxed);
    last_duration_us.store(duration, std::memory_order_relaxed);
    duration_us.observe(duration);
    completed.fetch_add(1, std::memory_order_relaxed);
}

uint64_t JobMetrics::source_records() const {
    uint64_t n = 0;
    std::lock_guard lock(mu_);
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
