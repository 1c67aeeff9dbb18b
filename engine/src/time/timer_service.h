// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "eddy/operator.h"

namespace eddy {

/// The timers of one operator instance: ordered sets per time domain, so a
/// (key, time) pair set twice fires once, and timers fire in time order.
/// Keys are copied, so callers may pass values that live in a batch.
class TimerService final : public Timers {
public:
    void set(TimeDomain domain, const Value& key, int64_t time) override;
    void cancel(TimeDomain domain, const Value& key, int64_t time) override;
    int64_t watermark() const override { return watermark_; }
    void set_watermark(int64_t wm) { watermark_ = wm; }

    /// Fires, in time order, every timer of `domain` due at or before `time`
    /// (including timers that the callback sets for due times). Returns how many fired.
    size_t fire_due(TimeDomain domain, int64_t time, const std::function<void(const Timer&)>& fire);
    /// The earliest pending timer of a domain, or INT64_MAX.
    int64_t next(TimeDomain domain) const;
    size_t pending() const { return event_.size() + processing_.size(); }

    /// Calls f(added, domain, time, key) for every timer present now but not
    /// at the last call or mark_clean() (true), or the other way round
    /// (false), then forgets them (checkpoint deltas); removals come first.
    /// A timer set and fired in between is not reported. Each timer carries
    /// whether the last drain saw it, so setting and firing cost nothing
    /// extra; the drain scans the pending timers once if any were set, and
    /// remembers only removed timers that the last drain saw.
    void drain_changes(const std::function<void(bool, TimeDomain, int64_t, const Value&)>& f);
    bool changed() const { return unsaved_ > 0 || !removed_.empty(); }
    /// Whether to keep changes for drain_changes() (only jobs with a state
    /// dir checkpoint timers); off by default.
    void track_changes(bool on) { track_changes_ = on; }
    /// Forgets the changes (after a restore, the timers equal what is stored).
    void mark_clean();
    /// Removes every pending timer whose key `drop` accepts, as if it had
    /// never been set: no change is recorded (scale-out moves a partition's
    /// timers away after a checkpoint, and deletes their stored copies).
    /// Returns how many.
    size_t drop_if(const std::function<bool(const Value&)>& drop);
    /// Calls f(domain, time, key) for every pending timer, in time order per domain.
    void for_each(const std::function<void(TimeDomain, int64_t, const Value&)>& f) const;

private:
    struct Entry {
        int64_t time;
        ValueType type;
        int64_t number;  // ints, bools, and doubles as bits
        std::string text;
        // Whether the last drain_changes() reported it (not part of the order).
        mutable bool saved = false;
        bool operator<(const Entry& o) const {
            return std::tie(time, type, number, text) < std::tie(o.time, o.type, o.number, o.text);
        }
    };
    static Entry make_entry(const Value& key, int64_t time);
    static Value key_of(const Entry& e);
    std::set<Entry>& timers(TimeDomain d) {
        return d == TimeDomain::kEventTime ? event_ : processing_;
    }

    std::set<Entry> event_;
    std::set<Entry> processing_;
    int64_t watermark_ = kNoWatermark;
    /// Notes that `e` left its set.
    void removed(TimeDomain domain, Entry&& e);
    /// Saved timers removed since the last drain.
    std::vector<std::pair<TimeDomain, Entry>> removed_;
    /// Pending timers not saved yet.
    size_t unsaved_ = 0;
    bool track_changes_ = false;
};

}  // namespace eddy
