// SPDX-License-Identifier: Apache-2.0
// Reads from outside the job (the HTTP API) run as tasks on the thread that
// owns the shard they read, between two batches: the shard's state is then
// exactly as process() left it, and the hot path needs no lock. See
// docs/serving.md ("How reads reach the shards").
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace eddy {

/// Tasks posted to one node instance. Many threads post; the owning thread
/// runs them. The owner's only cost while nothing is posted is one relaxed
/// atomic load per batch (pending()).
class TaskInbox {
public:
    /// `run` is true when the task runs on the owning thread, false when the
    /// job ended before it could (it must then answer "unavailable").
    using Task = std::function<void(bool run)>;

    /// Queues a task; returns false (and runs nothing) once the inbox is closed.
    bool post(Task task) {
        {
            std::lock_guard lock(mu_);
            if (closed_) {
                return false;
            }
            tasks_.push_back(std::move(task));
        }
        pending_.store(true, std::memory_order_release);
        return true;
    }

    bool pending() const { return pending_.load(std::memory_order_relaxed); }

    /// Runs every queued task on the calling (owning) thread.
    void run_all() {
        std::vector<Task> tasks;
        {
            std::lock_guard lock(mu_);
            tasks.swap(tasks_);
            pending_.store(false, std::memory_order_relaxed);
        }
        for (Task& t : tasks) {
            t(true);
        }
    }

    /// Refuses further tasks and tells the queued ones that the job ended.
    void close() {
        std::vector<Task> tasks;
        {
            std::lock_guard lock(mu_);
            closed_ = true;
            tasks.swap(tasks_);
            pending_.store(false, std::memory_order_relaxed);
        }
        for (Task& t : tasks) {
            t(false);
        }
    }

private:
    std::mutex mu_;
    std::vector<Task> tasks_;  // guarded by mu_
    bool closed_ = false;      // guarded by mu_
    std::atomic<bool> pending_{false};
};

}  // namespace eddy
