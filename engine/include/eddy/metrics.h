// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace eddy {

/// Labels of a metric beyond the `component` label every metric has, as
/// (name, value) pairs: {{"topic", "clicks"}, {"partition", "3"}}.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

/// Where a metric's value lives; owned by the runtime for the whole job.
struct MetricCell {
    std::atomic<int64_t> value{0};
    /// False once retired: the metric is no longer exported (a partition
    /// that was revoked) until the component asks for it again.
    std::atomic<bool> live{true};
};

/// A count that only grows, such as messages that could not be delivered.
/// A handle: cheap to copy, and add() is one relaxed atomic add, so it may
/// be called per record. A default-constructed one counts nowhere.
class Counter {
public:
    Counter() = default;
    explicit Counter(MetricCell* cell) : cell_(cell) {}
    void add(int64_t n = 1) const {
        if (cell_ != nullptr) {
            cell_->value.fetch_add(n, std::memory_order_relaxed);
        }
    }
    int64_t value() const { return cell_ != nullptr ? cell_->value.load() : 0; }

private:
    MetricCell* cell_ = nullptr;
};

/// A value that goes up and down, such as consumer lag. Same rules as Counter.
class Gauge {
public:
    Gauge() = default;
    explicit Gauge(MetricCell* cell) : cell_(cell) {}
    void set(int64_t v) const {
        if (cell_ != nullptr) {
            cell_->value.store(v, std::memory_order_relaxed);
        }
    }
    void add(int64_t n) const {
        if (cell_ != nullptr) {
            cell_->value.fetch_add(n, std::memory_order_relaxed);
        }
    }
    int64_t value() const { return cell_ != nullptr ? cell_->value.load() : 0; }
    /// Stops exporting this gauge (its partition went away); asking the
    /// context for the same name and labels again brings it back.
    void retire() const {
        if (cell_ != nullptr) {
            cell_->live.store(false, std::memory_order_relaxed);
        }
    }

private:
    MetricCell* cell_ = nullptr;
};

/// Where one figure of a prequential evaluation lives; owned by the runtime
/// for the whole job.
struct EvaluationCell {
    std::atomic<double> value{0};
    /// The events the figure was computed over (0: none scored yet).
    std::atomic<int64_t> scored{0};
};

/// One figure of an operator's prequential evaluation (`evaluate: true`:
/// every event is predicted, scored, then learned), such as MAE or HR@10,
/// with the number of events it covers. The operator publishes it whenever it
/// computes its running figures (its `metrics` output), and the last shard to
/// close publishes the final ones: the run summary, `eddy eval` and the
/// metrics file show the last value set. A handle like Gauge; set() is two
/// relaxed stores. A default-constructed one publishes nowhere.
class EvaluationMetric {
public:
    EvaluationMetric() = default;
    explicit EvaluationMetric(EvaluationCell* cell) : cell_(cell) {}
    void set(double value, int64_t scored) const {
        if (cell_ != nullptr) {
            cell_->value.store(value, std::memory_order_relaxed);
            cell_->scored.store(scored, std::memory_order_relaxed);
        }
    }
    double value() const { return cell_ != nullptr ? cell_->value.load() : 0; }
    int64_t scored() const { return cell_ != nullptr ? cell_->scored.load() : 0; }

private:
    EvaluationCell* cell_ = nullptr;
};

}  // namespace eddy
