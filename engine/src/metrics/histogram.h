// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace eddy {

/// Upper bounds of the operator batch-time histogram: 10 µs to 10 s in
/// 1-2.5-5 steps, in nanoseconds.
inline constexpr std::array<int64_t, 19> kBatchTimeBoundsNs = {
    10'000,        25'000,        50'000,        100'000,       250'000,
    500'000,       1'000'000,     2'500'000,     5'000'000,     10'000'000,
    25'000'000,    50'000'000,    100'000'000,   250'000'000,   500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

/// Upper bounds of the end-to-end latency histogram: 1 ms to 1 h, in milliseconds.
inline constexpr std::array<int64_t, 19> kEndToEndBoundsMs = {
    1,     5,      10,     25,     50,      100,     250,     500,       1'000,    2'500,
    5'000, 10'000, 30'000, 60'000, 120'000, 300'000, 600'000, 1'800'000, 3'600'000};

/// Upper bounds of the checkpoint duration histogram: 1 ms to 2 min, in microseconds.
inline constexpr std::array<int64_t, 16> kCheckpointBoundsUs = {
    1'000,   2'500,     5'000,     10'000,    25'000,     50'000,     100'000,    250'000,
    500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000, 120'000'000};

/// A Prometheus histogram over fixed upper bounds, kept in the integer unit
/// it is observed in (ns, µs, ms) and exported in seconds. Written with
/// relaxed atomics (one add to a bucket and one to the sum); there is no
/// separate count: it is the sum of the buckets, so that an export never
/// shows a `_count` that disagrees with the `+Inf` bucket.
class Histogram {
public:
    static constexpr size_t kMaxBounds = 24;

    /// `bounds`: increasing inclusive upper bounds (static storage);
    /// `units_per_second`: 1e9 for ns.
    Histogram(std::span<const int64_t> bounds, double units_per_second)
        : bounds_(bounds.first(std::min(bounds.size(), kMaxBounds))),
          units_per_second_(units_per_second) {}

    /// The bucket of `v`: the first bound at or above it, bounds().size() for +Inf.
    size_t bucket_of(int64_t v) const {
        return static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                   bounds_.begin());
    }
    void observe(int64_t v) {
        counts_[bucket_of(v)].fetch_add(1, std::memory_order_relaxed);
        sum_.fetch_add(v, std::memory_order_relaxed);
    }
    /// Adds counts gathered locally (bounds().size() + 1 of them) and their sum.
    void add(const uint64_t* counts, int64_t sum) {
        for (size_t b = 0; b <= bounds_.size(); ++b) {
            if (counts[b] != 0) {
                counts_[b].fetch_add(counts[b], std::memory_order_relaxed);
            }
        }
        sum_.fetch_add(sum, std::memory_order_relaxed);
    }

    std::span<const int64_t> bounds() const { return bounds_; }
    /// A value in the histogram's unit in seconds.
    double seconds(int64_t v) const { return static_cast<double>(v) / units_per_second_; }
    /// Observations in bucket `b` alone (not cumulative); b == bounds().size(): above the last.
    uint64_t bucket(size_t b) const { return counts_[b].load(std::memory_order_relaxed); }
    int64_t sum() const { return sum_.load(std::memory_order_relaxed); }
    uint64_t count() const {
        uint64_t n = 0;
        for (size_t b = 0; b <= bounds_.size(); ++b) {
            n += bucket(b);
        }
        return n;
    }

private:
    std::span<const int64_t> bounds_;
    double units_per_second_;
    std::array<std::atomic<uint64_t>, kMaxBounds + 1> counts_{};
    std::atomic<int64_t> sum_{0};
};

}  // namespace eddy
