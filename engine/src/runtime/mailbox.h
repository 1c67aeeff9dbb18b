// SPDX-License-Identifier: Apache-2.0
// What travels between the threads of a parallel job: batches of records,
// watermarks and idleness, through one bounded mailbox per node instance.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "eddy/record.h"

namespace eddy {

/// One element of a channel's stream, in the order the channel sent them.
struct Message {
    enum class Kind : uint8_t { kData, kWatermark, kIdle };
    Kind kind = Kind::kData;
    bool idle = false;             ///< kIdle: whether the channel became idle or active
    size_t channel = 0;            ///< the receiving instance's input channel
    int64_t watermark = 0;         ///< kWatermark
    std::unique_ptr<Batch> batch;  ///< kData
};

/// A bounded FIFO of messages for one node instance: many producers, one
/// consumer. push() blocks while it is full, which is how a slow operator or
/// sink slows everything upstream down to the sources (backpressure) instead
/// of letting queues grow.
class Mailbox {
public:
    enum class Popped { kMessage, kTimeout, kClosed };

    explicit Mailbox(size_t capacity) : capacity_(capacity) {}

    void push(Message&& m) {
        std::unique_lock lock(mu_);
        not_full_.wait(lock, [&] { return queue_.size() < capacity_ || closed_; });
        queue_.push_back(std::move(m));
        peak_ = std::max(peak_, queue_.size());
        not_empty_.notify_one();
    }

    /// The next message; waits until one arrives, `deadline` passes,
    /// interrupt() is called (kTimeout), or the mailbox is closed and empty.
    Popped pop(Message& m, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mu_);
        if (!not_empty_.wait_until(lock, deadline,
                                   [&] { return !queue_.empty() || closed_ || interrupted_; })) {
            return Popped::kTimeout;
        }
        if (queue_.empty()) {
            if (interrupted_ && !closed_) {
                interrupted_ = false;
                return Popped::kTimeout;
            }
            return Popped::kClosed;
        }
        m = std::move(queue_.front());
        queue_.pop_front();
        not_full_.notify_one();
        return Popped::kMessage;
    }

    /// Wakes a consumer waiting in pop() without a message, so that it
    /// looks at its other work (tasks posted by the HTTP API) now.
    void interrupt() {
        std::lock_guard lock(mu_);
        interrupted_ = true;
        not_empty_.notify_one();
    }

    /// Wakes the consumer; once the queue is empty, pop() returns kClosed.
    void close() {
        std::lock_guard lock(mu_);
        closed_ = true;
        not_empty_.notify_all();
        not_full_.notify_all();
    }

    /// The most messages it ever held at once (at most its capacity).
    size_t peak() const {
        std::lock_guard lock(mu_);
        return peak_;
    }

private:
    mutable std::mutex mu_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<Message> queue_;
    size_t capacity_;
    size_t peak_ = 0;
    bool closed_ = false;
    bool interrupted_ = false;
};

/// Empty batches for reuse, so that passing batches between threads does not
/// allocate their records and arenas again. Thread-safe.
class BatchPool {
public:
    std::unique_ptr<Batch> acquire() {
        {
            std::lock_guard lock(mu_);
            if (!free_.empty()) {
                std::unique_ptr<Batch> b = std::move(free_.back());
                free_.pop_back();
                return b;
            }
        }
        return std::make_unique<Batch>();
    }
    void release(std::unique_ptr<Batch> b) {
        b->clear();
        std::lock_guard lock(mu_);
        if (free_.size() < kKept) {
            free_.push_back(std::move(b));
        }
    }

private:
    static constexpr size_t kKept = 1024;
    std::mutex mu_;
    std::vector<std::unique_ptr<Batch>> free_;
};

}  // namespace eddy
