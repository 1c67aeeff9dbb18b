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

    auto collected = std::make_shared<Collected>();
    std::vector<NodeInstance*> posted;
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->ops.empty() && inst->sink == nullptr) {
                continue;  // a source's or an exchange's node: no watermark of its own
            }
            TimeReport::Instance& entry = collected->instances.emplace_back();
            for (int ci : inst->node->components) {
                entry.components.push_back(job_.topology_.components[static_cast<size_t>(ci)].name);
            }
            entry.sink = inst->sink != nullptr;
            entry.shard = inst->shard;
            entry.parallelism = static_cast<int>(shards.size());
            size_t index = collected->instances.size() - 1;
            NodeInstance* target = inst.get();
            {
                std::lock_guard lock(collected->mu);
                ++collected->waiting;
            }
            bool ok = inst->tasks.post([collected, index, target](bool run) {
                std::lock_guard lock(collected->mu);
                if (run) {
                    TimeReport::Instance& e = collected->instances[index];
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
                        e.operators.push_back(
                            {op->def_.name, op->timers_.next(TimeDomain::kEventTime),
                             op->timers_.next(TimeDomain::kProcessingTime), op->timers_.pending()});
                    }
                }
                --collected->waiting;
                collected->cv.notify_all();
            });
            if (ok) {
                posted.push_back(target);
            } else {
                std::lock_guard lock(collected->mu);
                --collected->waiting;
            }
        }
    }
    for (NodeInstance* inst : posted) {
        wake(*inst);
    }
    std::unique_lock lock(collected->mu);
    collected->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&] { return collected->waiting == 0; });
    // Copied under the lock: a late answer may still write its own entry.
    report.instances = collected->instances;
    return report;
}

}  // namespace eddy
