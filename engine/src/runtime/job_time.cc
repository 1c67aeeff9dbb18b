// SPDX-License-Identifier: Apache-2.0
// Job::explain_time(): where event time stands in a running job. Sources
// are read from values they publish; every chain and sink instance answers
// from a task on the thread that owns it, so nothing on the hot path locks.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "runtime/job_impl.h"

namespace eddy {

namespace {

/// The instances' answers, filled by their threads.
struct Collected {
    std::mutex mu;
    std::condition_variable cv;
    size_t waiting = 0;
    std::vector<TimeReport::Instance> instances;
};

}  // namespace

TimeReport Job::Impl::explain_time(int64_t timeout_ms) {
    TimeReport report;
    report.processing_time = job_.options_.clock->now_ms();
    // Every entry first: the tasks write into the vector, which must not
    // grow once the first of them may run.
    auto collected = std::make_shared<Collected>();
    std::vector<NodeInstance*> targets;
    std::unique_lock graph(graph_mu_);  // a reload may be adding a sink
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->ops.empty() && inst->sink == nullptr) {
                continue;  // a source's or an exchange's node: no watermark of its own
            }
            TimeReport::Instance& entry = collected->instances.emplace_back();
            for (const auto& op : inst->ops) {
                entry.components.push_back(op->def_.name);
            }
            if (inst->sink != nullptr) {
                entry.components.push_back(inst->sink->def_.name);
            }
            entry.sink = inst->sink != nullptr;
            entry.shard = inst->shard;
            entry.parallelism = static_cast<int>(shards.size());
            targets.push_back(inst.get());
        }
    }
    graph.unlock();
    collected->waiting = targets.size();
    std::vector<NodeInstance*> posted;
    for (size_t index = 0; index < targets.size(); ++index) {
        NodeInstance* target = targets[index];
        bool ok = target->tasks.post([collected, index, target](bool run) {
            std::lock_guard lock(collected->mu);
            TimeReport::Instance& e = collected->instances[index];
            if (run) {
                e.answered = true;
                e.watermark = target->combiner.current();
                const auto& channels = target->combiner.channels();
                for (size_t c = 0; c < channels.size(); ++c) {
                    e.inputs.push_back({c < target->input_names.size()
                                            ? target->input_names[c]
                                            : "input " + std::to_string(c),
                                        channels[c].watermark, channels[c].idle});
                }
                for (const auto& op : target->ops) {
                    e.operators.push_back({op->def_.name, op->timers_.next(TimeDomain::kEventTime),
                                           op->timers_.next(TimeDomain::kProcessingTime),
                                           op->timers_.pending()});
                }
            } else {
                e.stopped = true;  // the job ended before the task could run
            }
            --collected->waiting;
            collected->cv.notify_all();
        });
        if (ok) {
            posted.push_back(target);
        } else {
            std::lock_guard lock(collected->mu);
            collected->instances[index].stopped = true;
            --collected->waiting;
        }
    }
    for (NodeInstance* inst : posted) {
        wake(*inst);
    }
    std::unique_lock lock(collected->mu);
    collected->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&] { return collected->waiting == 0; });
    // Sources last: what they publish only grows, so they are at least as
    // far as what the instances had received when they answered.
    for (const auto& src : sources_) {
        TimeReport::Source& s = report.sources.emplace_back();
        s.name = src->def_.name;
        s.watermark = src->metrics_->shard(0).watermark.load(std::memory_order_relaxed);
        s.max_event_time = src->shown_max_seen_.load(std::memory_order_relaxed);
        s.max_out_of_orderness_ms = src->def_.watermark.max_out_of_orderness_ms;
        s.idle_timeout_ms = src->def_.watermark.idle_timeout_ms.value_or(-1);
        s.idle = src->shown_idle_.load(std::memory_order_relaxed);
        s.ended = src->shown_ended_.load(std::memory_order_relaxed);
    }

    // Copied under the lock: a late answer may still write its own entry.
    report.instances = collected->instances;
    return report;
}

}  // namespace eddy
