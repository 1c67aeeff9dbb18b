// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>

namespace eddy {

/// Processing time, injectable so that tests control it.
class Clock {
public:
    virtual ~Clock() = default;
    /// Milliseconds since the Unix epoch.
    virtual int64_t now_ms() const = 0;
    /// The wall clock.
    static Clock& system();
};

/// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
public:
    explicit ManualClock(int64_t start_ms = 0) : now_(start_ms) {}
    int64_t now_ms() const override { return now_.load(std::memory_order_relaxed); }
    void set(int64_t ms) { now_.store(ms, std::memory_order_relaxed); }
    void advance(int64_t ms) { now_.fetch_add(ms, std::memory_order_relaxed); }

private:
    std::atomic<int64_t> now_;
};

}  // namespace eddy
