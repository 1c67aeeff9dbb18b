// SPDX-License-Identifier: Apache-2.0
// Micro-benchmark support: one field table, generated clickstream events, and
// a driver that opens a built-in operator (made through its spec from a
// validated one-operator topology, as the tests do) and calls it directly.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/record.h"

#include "io/generator.h"
#include "runtime/builtins.h"
#include "time/timer_service.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy::bench {

[[noreturn]] inline void fail(const std::string& message) {
    std::fprintf(stderr, "micro: %s\n", message.c_str());
    std::abort();
}

/// The field table every benchmark interns into.
inline FieldTable& fields() {
    static FieldTable table;
    return table;
}

/// Records in batches (generated events: Batch::kDefaultCapacity per batch).
struct Events {
    std::vector<Batch> batches;
    size_t size = 0;
    int64_t first_time = 0;
    int64_t last_time = 0;
};

/// `count` events over `users` users from the clickstream generator.
inline Events& events(int64_t count, int64_t users) {
    static std::vector<std::unique_ptr<Events>> cache;
    static std::vector<std::pair<int64_t, int64_t>> made;
    for (size_t i = 0; i < made.size(); ++i) {
        if (made[i] == std::make_pair(count, users)) {
            return *cache[i];
        }
    }
    io::GeneratorOptions options;
    options.seed = 1;
    options.users = users;
    options.events = count;
    auto gen_fields =
        io::GeneratorFields::resolve([](std::string_view n) { return fields().intern(n); });
    io::ClickstreamGenerator generator(options, gen_fields);
    auto e = std::make_unique<Events>();
    for (;;) {
        if (e->batches.empty() || e->batches.back().full()) {
            e->batches.emplace_back();
        }
        Record& r = e->batches.back().append();
        if (!generator.next(r)) {
            e->batches.back().pop_back();
            break;
        }
        e->last_time = std::max(e->last_time, r.time());
        e->first_time = e->size == 0 ? r.time() : std::min(e->first_time, r.time());
        ++e->size;
    }
    made.emplace_back(count, users);
    cache.push_back(std::move(e));
    return *cache.back();
}

/// The validated definition of operator `op` in `yaml` (a topology whose
/// source `in` is a file source), with the spec's defaults filled in.
inline ComponentDef operator_def(const std::string& yaml, const std::string& op) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "micro.yaml", diags);
    std::optional<Topology> topology;
    if (root) {
        topology = validate_topology(*root, builtin_registry(), diags);
    }
    if (!topology) {
        std::string all;
        for (const Diagnostic& d : diags.sorted()) {
            all += d.to_string() + "\n";
        }
        fail("invalid benchmark topology:\n" + all);
    }
    return topology->components[static_cast<size_t>(topology->find(op))];
}

/// A topology with one operator `op` of `type` with `params` (a YAML flow map body).
inline ComponentDef one_operator(const std::string& type, const std::string& params) {
    return operator_def(
        "sources:\n  in: {type: file, path: in.jsonl}\noperators:\n  op: {type: " + type +
            ", input: in, " + params + "}\nsinks:\n  out: {type: null, input: op}\n",
        "op");
}

/// One operator instance called directly, with the engine's TimerService;
/// outputs are kept in batches until drain().
class Driver final : public OpenContext, public Emitter {
public:
    explicit Driver(const ComponentDef& def) : def_(def) {
        auto made = def.spec->make_operator(def.config);
        if (!made.is_ok()) {
            fail(made.status().message());
        }
        op_ = std::move(made).value();
        outputs_.resize(def.spec->outputs.size() + 2);
        if (!def.key.empty()) {
            key_ = fields().intern(def.key);
        }
        if (Status s = op_->open(*this); !s.is_ok()) {
            fail(s.message());
        }
    }

    std::string_view name() const override { return def_.name; }
    FieldId field(std::string_view n) override { return fields().intern(n); }
    std::string_view field_name(FieldId id) const override { return fields().name(id); }
    const Clock& clock() const override { return Clock::system(); }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view n) override {
        for (size_t i = 0; i < def_.spec->outputs.size(); ++i) {
            if (def_.spec->outputs[i].name == n) {
                return static_cast<OutputId>(i + 1);
            }
        }
        return static_cast<OutputId>(outputs_.size() - 1);  // errors
    }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle&) override {}

    Record& append(OutputId out) override { return outputs_[out].append(); }
    void emit(const Record& r, OutputId out) override { outputs_[out].append_copy(r); }
    void error(const Record& r, std::string_view) override { outputs_.back().append_copy(r); }
    void late(const Record& r, int64_t, LatePolicy) override { outputs_.back().append_copy(r); }

    /// Sets the record's key as the runtime does, then calls process().
    void process(Record& r) {
        const Value* key = key_ == kInvalidField ? nullptr : r.get(key_);
        r.set_key(key == nullptr ? Value() : *key);
        op_->process(r, *this);
    }
    /// Fires the timers due at `watermark`, as the runtime does when it advances.
    void advance(int64_t watermark) {
        timers_.set_watermark(watermark);
        timers_.fire_due(TimeDomain::kEventTime, watermark,
                         [this](const Timer& t) { op_->on_timer(t, *this); });
        op_->on_watermark(watermark, *this);
    }
    /// Records emitted since the last drain(), by output id; then forgets them.
    size_t drain() {
        size_t n = 0;
        for (Batch& b : outputs_) {
            n += b.size();
            b.clear();
        }
        return n;
    }
    Batch& main_output() { return outputs_[kMainOutput]; }

private:
    ComponentDef def_;
    std::unique_ptr<Operator> op_;
    TimerService timers_;
    std::vector<Batch> outputs_;
    FieldId key_ = kInvalidField;
};

}  // namespace eddy::bench
