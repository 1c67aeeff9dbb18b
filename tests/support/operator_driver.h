// SPDX-License-Identifier: Apache-2.0
// Test support: one operator called directly, as the runtime calls it but
// with no job and no threads, for operator tests that drive records, the
// watermark and timers by hand.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/metrics.h"
#include "eddy/operator.h"
#include "eddy/record.h"

#include "time/timer_service.h"
#include "topology/topology.h"

namespace eddy::testing {

/// Makes and opens the operator of `def`, being its OpenContext and Emitter.
/// Its outputs are kept by OutputId: the main output 0, then `outputs` in
/// order, then `errors`; late records go to the output named "late" when it
/// is among `outputs`, else to `errors`. Counters are real (read with
/// count(), labels appended as {k=v}); timers are the engine's TimerService.
class OperatorDriver : public OpenContext, public Emitter {
public:
    OperatorDriver(ComponentDef def, std::vector<std::string> outputs)
        : def_(std::move(def)), names_(std::move(outputs)), outputs_(names_.size() + 2) {
        auto made = def_.spec->make_operator(def_.config);
        EXPECT_TRUE(made.is_ok());
        op_ = std::move(made).value();
        Status s = op_->open(*this);
        EXPECT_TRUE(s.is_ok()) << s.message();
    }

    std::string_view name() const override { return "op"; }
    FieldId field(std::string_view n) override { return fields_.intern(n); }
    std::string_view field_name(FieldId id) const override { return fields_.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view n) override {
        for (size_t i = 0; i < names_.size(); ++i) {
            if (names_[i] == n) {
                return static_cast<OutputId>(i + 1);
            }
        }
        return errors_id();
    }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle& h) override { states_.push_back(&h); }
    Counter counter(std::string_view n, std::string_view, const MetricLabels& labels) override {
        std::string name(n);
        for (const auto& [k, v] : labels) {
            name += "{" + k + "=" + v + "}";
        }
        return Counter(&cells_[name]);
    }

    Record& append(OutputId out) override { return outputs_[out].append(); }
    void emit(const Record& r, OutputId out) override { outputs_[out].append_copy(r); }
    void error(const Record& r, std::string_view reason) override {
        outputs_[errors_id()].append_copy(r);
        reasons_.emplace_back(reason);
    }
    void late(const Record& r, int64_t, LatePolicy) override {
        outputs_[output("late")].append_copy(r);
    }

    /// A new input record (the batch is reused every 1,024 records).
    Record& input() {
        if (input_.size() >= 1024) {
            input_.clear();
        }
        return input_.append();
    }
    void process(const Record& r) { op_->process(r, *this); }
    /// Fires the event-time timers due at `watermark`, then on_watermark(),
    /// as the runtime does.
    void advance(int64_t watermark) {
        timers_.set_watermark(watermark);
        timers_.fire_due(TimeDomain::kEventTime, watermark,
                         [this](const Timer& t) { op_->on_timer(t, *this); });
        op_->on_watermark(watermark, *this);
    }
    /// The end of input: the watermark at the end of time, then close().
    void close() {
        advance(kEndOfTime);
        op_->close(*this);
    }

    int64_t count(const std::string& metric) { return cells_[metric].value.load(); }
    Batch& out(OutputId id) { return outputs_[id]; }
    const Batch& out(OutputId id) const { return outputs_[id]; }
    Batch& errors() { return outputs_[errors_id()]; }

    std::vector<std::string> reasons_;
    std::vector<StateHandle*> states_;

protected:
    OutputId errors_id() const { return static_cast<OutputId>(names_.size() + 1); }

    ComponentDef def_;
    FieldTable fields_;
    ManualClock clock_;
    std::unique_ptr<Operator> op_;
    TimerService timers_;

private:
    std::vector<std::string> names_;
    std::map<std::string, MetricCell> cells_;
    Batch input_;
    std::vector<Batch> outputs_;
};

}  // namespace eddy::testing
