// SPDX-License-Identifier: Apache-2.0
// A component context for unit tests that open a source or a sink without a
// job: fields in a table of its own, a manual clock, and what the component
// logged and rejected kept for the test to look at.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/record.h"
#include "eddy/source.h"

namespace eddy::testing {

/// A source error as SourceEmitter::error() reported it.
struct ErrorRecord {
    std::string reason;
    int64_t position;
    std::string raw;
};

/// Keeps what a source emits: its records, and its errors in order.
class FakeEmitter : public SourceEmitter {
public:
    Record& append() override { return batch_.append(); }
    void discard_last() override { batch_.pop_back(); }
    void error(std::string_view reason, int64_t position, std::string_view raw) override {
        errors_.push_back({std::string(reason), position, std::string(raw)});
    }

    Batch batch_;
    std::vector<ErrorRecord> errors_;
};

class FakeContext : public SinkContext {
public:
    explicit FakeContext(std::string name = "out") : name_(std::move(name)) {}
    std::string_view name() const override { return name_; }
    FieldId field(std::string_view name) override { return table_.intern(name); }
    std::string_view field_name(FieldId id) const override { return table_.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view message) override { logs_.emplace_back(message); }
    OutputId output(std::string_view name) override { return name == "errors" ? 1 : 0; }
    bool resuming() const override { return resuming_; }
    Record& reject(std::string_view reason) override {
        Record& r = rejected_.append();
        r.set(field("error"), reason);
        return r;
    }
    void reject(const Record& record, std::string_view reason) override {
        rejected_.append_copy(record).set(field("error"), reason);
    }

    FieldTable table_;
    ManualClock clock_{1'000'000};
    std::vector<std::string> logs_;
    bool resuming_ = false;
    Batch rejected_;  ///< What a sink handed back through reject().

private:
    std::string name_;
};

}  // namespace eddy::testing
