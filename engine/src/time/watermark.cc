// SPDX-License-Identifier: Apache-2.0
#include "time/watermark.h"

#include <algorithm>

namespace eddy {

bool WatermarkGenerator::update_idle(bool had_data, int64_t now) {
    if (had_data || last_data_ms_ < 0) {
        last_data_ms_ = now;
        idle_ = false;
    } else if (idle_timeout_ && now - last_data_ms_ >= *idle_timeout_) {
        idle_ = true;
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
