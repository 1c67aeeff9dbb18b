// SPDX-License-Identifier: Apache-2.0
// Test support: an in-memory source and a collecting sink registered next to
// the built-ins, and a helper that validates and runs a YAML topology.
#pragma once

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/registry.h"

#include "plugin/loader.h"
#include "record/json.h"
#include "runtime/builtins.h"
#include "runtime/job.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy::testing {

/// Lines written by `collect` sinks, by sink name. Cleared by run_yaml().
inline std::map<std::string, std::vector<std::string>>& collected() {
    static std::map<std::string, std::vector<std::string>> lines;
    return lines;
}

/// `memory` source: emits `records` (a list of maps); `ts` sets the event time.
/// With `then_idle: true` it stays open and idle after its records instead of ending.
class MemorySource final : public Source {
public:
    explicit MemorySource(const Config& cfg)
        : records_(cfg.list("records")),
          then_idle_(cfg.boolean("then_idle")),
          split_field_(cfg.has("split_field") ? cfg.string("split_field") : "") {}
    Status open(ComponentContext& ctx) override {
        ctx_ = &ctx;
        ts_ = ctx.field("ts");
        return Status::ok();
    }
    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override {
        size_t n = 0;
        for (; n < max_records && next_ < records_.size(); ++n, ++next_) {
            if (!split_field_.empty()) {
                if (const ConfigValue* split = records_[next_].find(split_field_)) {
                    out.set_split(static_cast<uint32_t>(std::stoul(split->as_string())));
                }
            }
            Record& r = out.append();
            for (const auto& [name, v] : records_[next_].entries()) {
                FieldId id = ctx_->field(name);
                const std::string& text = v.as_string();
                char* end = nullptr;
                long long i = std::strtoll(text.c_str(), &end, 10);
                if (v.is_null()) {
                    r.set_null(id);
                } else if (!text.empty() && *end == '\0') {
                    r.set(id, static_cast<int64_t>(i));
                } else if (double d = std::strtod(text.c_str(), &end);
                           !text.empty() && *end == '\0') {
                    r.set(id, d);
                } else if (text == "true" || text == "false") {
                    r.set(id, text == "true");
                } else {
                    r.set(id, std::string_view(text));
                }
            }
            if (const Value* ts = r.get(ts_); ts != nullptr && ts->is_int()) {
                r.set_time(ts->as_int());
            }
        }
        if (next_ < records_.size() || (then_idle_ && n > 0)) {
            return PollStatus::kData;
        }
        return then_idle_ ? PollStatus::kIdle : PollStatus::kEnd;
    }

private:
    std::vector<ConfigValue> records_;
    bool then_idle_;
    std::string split_field_;
    size_t next_ = 0;
    ComponentContext* ctx_ = nullptr;
    FieldId ts_ = kInvalidField;
};

/// `collect` sink: appends each record as a JSON line to collected()[name].
class CollectSink final : public Sink {
public:
    explicit CollectSink(const Config& cfg) : name_(cfg.component()) {}
    Status open(SinkContext& ctx) override {
        encoder_ = std::make_unique<JsonEncoder>([&ctx](FieldId id) { return ctx.field_name(id); });
        collected()[name_];
        return Status::ok();
    }
    Status write(const Batch& batch) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            std::string line;
            encoder_->append(batch[i], line);
            collected()[name_].push_back(std::move(line));
        }
        return Status::ok();
    }

private:
    std::string name_;
    std::unique_ptr<JsonEncoder> encoder_;
};

/// `reject` sink: collects records like `collect`, except those whose field
/// `bad` is true, which it hands back to the runtime with the reason "bad
/// record": at once in write() (`when: write`), or, as a producer with
/// delivery reports would, at the next flush() or close() (`when: flush`).
class RejectSink final : public Sink {
public:
    explicit RejectSink(const Config& cfg)
        : name_(cfg.component()), at_flush_(cfg.string("when") == "flush") {}
    Status open(SinkContext& ctx) override {
        ctx_ = &ctx;
        bad_ = ctx.field("bad");
        encoder_ = std::make_unique<JsonEncoder>([&ctx](FieldId id) { return ctx.field_name(id); });
        collected()[name_];
        return Status::ok();
    }
    Status write(const Batch& batch) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            const Value* bad = batch[i].get(bad_);
            if (bad != nullptr && bad->is_bool() && bad->as_bool()) {
                if (at_flush_) {
                    pending_.append_copy(batch[i]);
                } else {
                    ctx_->reject(batch[i], "bad record");
                }
                continue;
            }
            std::string line;
            encoder_->append(batch[i], line);
            collected()[name_].push_back(std::move(line));
        }
        return Status::ok();
    }
    Status flush() override {
        for (size_t i = 0; i < pending_.size(); ++i) {
            ctx_->reject(pending_[i], "bad record");
        }
        pending_.clear();
        return Status::ok();
    }

private:
    std::string name_;
    bool at_flush_;
    SinkContext* ctx_ = nullptr;
    FieldId bad_ = kInvalidField;
    Batch pending_;
    std::unique_ptr<JsonEncoder> encoder_;
};

/// The job run_yaml() is running, for `stop_after` sinks.
inline std::atomic<Job*>& running_job() {
    static std::atomic<Job*> job{nullptr};
    return job;
}

/// `stop_after` sink: asks the running job to stop (as SIGTERM would) once
/// it has seen `records` records, so that a test can stop a job at a chosen
/// point of its input and resume it.
class StopAfterSink final : public Sink {
public:
    explicit StopAfterSink(const Config& cfg) : limit_(cfg.integer("records")) {}
    Status open(SinkContext&) override { return Status::ok(); }
    Status write(const Batch& batch) override {
        seen_ += static_cast<int64_t>(batch.size());
        if (seen_ >= limit_) {
            if (Job* job = running_job().load()) {
                job->request_stop();
            }
        }
        return Status::ok();
    }

private:
    int64_t limit_;
    int64_t seen_ = 0;
};

/// The built-ins plus `memory`, `collect`, `reject` and `stop_after`; tests may add more.
inline Registry& test_registry() {
    static Registry registry = [] {
        Registry r = builtin_registry();
        Status s =
            r.add(SourceSpec("memory")
                      .summary("Test source: records from YAML.")
                      .param(Param::list("records", ParamType::kMap).required().doc("Records."))
                      .param(Param::boolean("then_idle").default_value(false).doc("Stay idle."))
                      .param(Param::string("split_field").doc("Integer field: the record's split."))
                      .factory(make_component<Source, MemorySource>),
                  "tests");
        s = r.add(SinkSpec("collect")
                      .summary("Test sink: collects JSON lines.")
                      .factory(make_component<Sink, CollectSink>),
                  "tests");
        s = r.add(SinkSpec("reject")
                      .summary("Test sink: rejects records whose `bad` is true.")
                      .param(Param::enumeration("when", {"write", "flush"})
                                 .default_value("write")
                                 .doc("When rejected records go to `errors`."))
                      .factory(make_component<Sink, RejectSink>),
                  "tests");
        s = r.add(SinkSpec("stop_after")
                      .summary("Test sink: stops the job after some records.")
                      .param(Param::integer("records").required().min(0).doc("Records."))
                      .factory(make_component<Sink, StopAfterSink>),
                  "tests");
        (void)s;
        return r;
    }();
    return registry;
}

/// The validated definition of component `name` in `yaml` (test_registry());
/// a topology that does not validate is a test failure, with every diagnostic.
inline ComponentDef component_def(const std::string& yaml, const std::string& name) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, name + ".yaml", diags);
    std::optional<Topology> topology;
    if (root) {
        topology = validate_topology(*root, test_registry(), diags);
    }
    std::string all;
    for (const Diagnostic& d : diags.sorted()) {
        all += d.to_string() + "\n";
    }
    if (!topology) {
        ADD_FAILURE() << all << yaml;
        return ComponentDef{};
    }
    return topology->components[static_cast<size_t>(topology->find(name))];
}

struct RunResult {
    Status status;
    std::string diagnostics;  ///< Every diagnostic, one per line.
    /// test_registry() plus the topology's `plugins:`; outlives the job.
    std::unique_ptr<Registry> registry;
    std::unique_ptr<Job> job;
    const std::vector<std::string>& lines(const std::string& sink) { return collected()[sink]; }
};

/// Loads the plugins `yaml` names in `plugins:`, validates and runs `yaml` to the end of its input,
/// or until `stop_after_ms` of wall time when that is not negative.
inline RunResult run_yaml(const std::string& yaml, JobOptions options = {},
                          int stop_after_ms = -1) {
    collected().clear();
    RunResult result;
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "test.yaml", diags);
    std::optional<Topology> topology;
    result.registry = std::make_unique<Registry>(test_registry());
    if (root && load_topology_plugins(*root, {}, *result.registry, diags)) {
        topology = validate_topology(*root, *result.registry, diags);
    }
    for (const Diagnostic& d : diags.sorted()) {
        result.diagnostics += d.to_string() + "\n";
    }
    if (!topology) {
        result.status = Status::invalid_argument(result.diagnostics);
        return result;
    }
    auto job = Job::create(*topology, std::move(options));
    if (!job.is_ok()) {
        result.status = job.status();
        return result;
    }
    result.job = std::move(job.value());
    std::thread stopper;
    if (stop_after_ms >= 0) {
        stopper = std::thread([&result, stop_after_ms] {
            std::this_thread::sleep_for(std::chrono::milliseconds(stop_after_ms));
            result.job->request_stop();
        });
    }
    running_job() = result.job.get();
    result.status = result.job->run();
    running_job() = nullptr;
    if (stopper.joinable()) {
        stopper.join();
    }
    return result;
}

}  // namespace eddy::testing
