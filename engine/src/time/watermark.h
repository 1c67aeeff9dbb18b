// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "eddy/record.h"

namespace eddy {

/// Watermarks of one source with bounded out-of-orderness: after seeing a
/// largest event time T, no record older than T - max_out_of_orderness is
/// expected, so the watermark is T - max_out_of_orderness - 1 (as in Flink).
/// It never goes back. A source that has had no data for idle_timeout of
/// processing time is idle and does not hold back downstream watermarks.
///
/// A source that reads several splits (Kafka partitions) observes each
/// record with its split: every split keeps its own largest event time, and
/// the watermark is the minimum over the splits that are not idle (no data
/// for idle_timeout), so a lagging split holds time back and an idle one does
/// not. Without idle_timeout a split never idles (as in Flink).
class WatermarkGenerator {
public:
    WatermarkGenerator(int64_t max_out_of_orderness_ms, std::optional<int64_t> idle_timeout_ms)
        : delay_(max_out_of_orderness_ms), idle_timeout_(idle_timeout_ms) {}

    void observe(int64_t event_time) {
        if (!splits_.empty()) {
            observe(0, event_time);  // a record without a split is of split 0
        } else if (event_time > max_seen_) {
            max_seen_ = event_time;
        }
    }
    /// A record of split `split` (dense ids from 0).
    void observe(uint32_t split, int64_t event_time);
    /// The watermark after the records observed so far.
    int64_t current() const {
        if (ended_) {
            return kEndOfTime;
        }
        int64_t seen = splits_.empty() ? max_seen_ : splits_max_seen();
        return seen == kNoWatermark ? kNoWatermark : seen - delay_ - 1;
    }
    /// The input has ended: the watermark becomes kEndOfTime.
    void end() { ended_ = true; }

    /// Records activity at processing time `now` (of the source, and of the
    /// splits observed since the last call); returns whether the source is idle.
    bool update_idle(bool had_data, int64_t now);
    bool idle() const { return idle_; }

    /// For checkpoints: the largest event time seen (with splits: the one the
    /// watermark follows, so that a restore does not run ahead of a lagging
    /// split) and whether the input ended.
    int64_t max_seen() const { return splits_.empty() ? max_seen_ : splits_max_seen(); }
    bool ended() const { return ended_; }
    void restore(int64_t max_seen, bool ended) {
        max_seen_ = max_seen;
        ended_ = ended;
    }

private:
    struct Split {
        int64_t max_seen = kNoWatermark;
        int64_t last_data_ms = -1;
        bool touched = false;  // observed since the last update_idle()
        bool idle = false;
    };
    /// The minimum over active splits (the largest when all are idle), and
    /// never below what was restored.
    int64_t splits_max_seen() const;

    int64_t delay_;
    std::optional<int64_t> idle_timeout_;
    std::vector<Split> splits_;
    int64_t max_seen_ = kNoWatermark;
    int64_t last_data_ms_ = -1;
    bool ended_ = false;
    bool idle_ = false;
};

/// The combined watermark of several input channels: the minimum over the
/// channels that are not idle. Channels that ended count as kEndOfTime.
class WatermarkCombiner {
public:
    explicit WatermarkCombiner(size_t channels = 0) : channels_(channels) {}
    size_t add_channel() {
        channels_.push_back({});
        return channels_.size() - 1;
    }
    size_t size() const { return channels_.size(); }

    /// Updates one channel; returns true when the combined watermark advanced.
    bool update(size_t channel, int64_t watermark);
    /// Marks a channel idle or active; returns true when the combined watermark advanced.
    bool set_idle(size_t channel, bool idle);
    int64_t current() const { return current_; }

    /// For checkpoints: each channel's watermark and idleness, and the combined value.
    struct Channel {
        int64_t watermark = kNoWatermark;
        bool idle = false;
    };
    const std::vector<Channel>& channels() const { return channels_; }
    void restore(std::vector<Channel> channels, int64_t current) {
        channels_ = std::move(channels);
        current_ = current;
    }

private:
    bool recompute();

    std::vector<Channel> channels_;
    int64_t current_ = kNoWatermark;
};

}  // namespace eddy
