// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string_view>

#include "eddy/clock.h"
#include "eddy/metrics.h"
#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

/// A named output of a component. 0 is the main output; named outputs are
/// resolved once in open() with ComponentContext::output().
using OutputId = uint32_t;
inline constexpr OutputId kMainOutput = 0;

/// What every component can ask the runtime during open(). Implemented by the
/// runtime; valid until close(). Not thread-safe: call it from the component's
/// own thread only.
class ComponentContext {
public:
    virtual ~ComponentContext() = default;

    /// The component's name in the topology.
    virtual std::string_view name() const = 0;
    /// The id of a field name, interning it if new. Call in open(), not per record.
    virtual FieldId field(std::string_view name) = 0;
    /// The name of a field id.
    virtual std::string_view field_name(FieldId id) const = 0;
    /// Processing time (the system clock, or a test's manual clock).
    virtual const Clock& clock() const = 0;
    /// Logs through the engine's logger, prefixed with the component's name.
    virtual void log(LogLevel level, std::string_view message) = 0;
    /// The id of a named output declared in the spec. Asking for an undeclared
    /// output is a programming error and asserts. "errors" exists on every component.
    virtual OutputId output(std::string_view name) = 0;
    /// Whether the job restored a checkpoint and continues an earlier run:
    /// sinks then append to what the earlier run wrote instead of replacing it.
    virtual bool resuming() const { return false; }
    /// This instance's shard, in [0, parallelism).
    virtual int shard() const { return 0; }
    virtual int parallelism() const { return 1; }

    /// A counter of this component, exported as `eddy_<name>` with a
    /// `component` label plus `labels` (`eddy run --metrics-file`). Name it
    /// in lower snake_case ending in `_total` ("kafka_produce_errors_total").
    /// The same name and labels give the same counter, summed over shards.
    /// Creating one takes a lock: do it in open(), or when a new label value
    /// appears (a partition assigned), never per record. Thread-safe. A
    /// context without metrics (a unit test's) returns one that counts nowhere.
    virtual Counter counter(std::string_view name, std::string_view help,
                            const MetricLabels& labels = {}) {
        (void)name, (void)help, (void)labels;
        return Counter();
    }
    /// A gauge of this component; as counter(), named without `_total`.
    virtual Gauge gauge(std::string_view name, std::string_view help,
                        const MetricLabels& labels = {}) {
        (void)name, (void)help, (void)labels;
        return Gauge();
    }
    /// A figure of this component's prequential evaluation, exported as
    /// `eddy_evaluation{component, metric[, top_n]}` and shown in the run
    /// summary and by `eddy eval`. `metric` is `mae`, `rmse` (ratings),
    /// `hit_rate` or `ndcg` (rankings, with `top_n` their N), or another lower
    /// snake_case name; `top_n` 0 means no cutoff. The same metric and top_n
    /// give the same figure for every shard. Ask in open(), when evaluating
    /// only. Thread-safe. A context without metrics returns one that
    /// publishes nowhere.
    virtual EvaluationMetric evaluation(std::string_view metric, int top_n = 0) {
        (void)metric, (void)top_n;
        return EvaluationMetric();
    }
};

}  // namespace eddy
