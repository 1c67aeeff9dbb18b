// SPDX-License-Identifier: Apache-2.0
#include "time/watermark.h"

#include <algorithm>

namespace eddy {

void WatermarkGenerator::observe(uint32_t split, int64_t event_time) {
    if (split >= splits_.size()) {
        splits_.resize(split + 1);
    }
    Split& s = splits_[split];
    s.max_seen = std::max(s.max_seen, event_time);
    s.touched = true;
    s.idle = false;
}

int64_t WatermarkGenerator::splits_max_seen() const {
    int64_t low = kEndOfTime;
    int64_t high = kNoWatermark;
    bool active = false;
    for (const Split& s : splits_) {
        if (s.max_seen == kNoWatermark) {
            continue;  // an id never used
        }
        high = std::max(high, s.max_seen);
        if (!s.idle) {
            low = std::min(low, s.max_seen);
            active = true;
        }
    }
    int64_t seen = active ? low : high;
    // max_seen_ holds what a restore brought back: the watermark already sent.
    return std::max(seen, max_seen_);
}

bool WatermarkGenerator::update_idle(bool had_data, int64_t now) {
    if (had_data || last_data_ms_ < 0) {
        last_data_ms_ = now;
        idle_ = false;
    } else if (idle_timeout_ && now - last_data_ms_ >= *idle_timeout_) {
        idle_ = true;
    }
    for (Split& s : splits_) {
        if (s.touched || s.last_data_ms < 0) {
            s.last_data_ms = now;
            s.touched = false;
            s.idle = false;
        } else if (idle_timeout_ && now - s.last_data_ms >= *idle_timeout_) {
            s.idle = true;
        }
    }
    return idle_;
}

bool WatermarkCombiner::update(size_t channel, int64_t watermark) {
    Channel& c = channels_[channel];
    if (watermark <= c.watermark) {
        return false;
    }
    c.watermark = watermark;
    return recompute();
}

bool WatermarkCombiner::set_idle(size_t channel, bool idle) {
    if (channels_[channel].idle == idle) {
        return false;
    }
    channels_[channel].idle = idle;
    return recompute();
}

bool WatermarkCombiner::recompute() {
    int64_t low = kEndOfTime;
    bool any = false;
    for (const Channel& c : channels_) {
        if (!c.idle) {
            low = std::min(low, c.watermark);
            any = true;
        }
    }
    if (!any || low <= current_) {
        return false;
    }
    current_ = low;
    return true;
}

}  // namespace eddy
