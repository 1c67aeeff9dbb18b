// SPDX-License-Identifier: Apache-2.0
// Watermark generation and combination, and per-key timers.
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "time/timer_service.h"
#include "time/watermark.h"

namespace eddy {
namespace {

TEST(WatermarkGeneratorTest, TrailsTheLargestEventTimeByTheBound) {
    WatermarkGenerator gen(5000, std::nullopt);
    EXPECT_EQ(gen.current(), kNoWatermark);
    gen.observe(10'000);
    EXPECT_EQ(gen.current(), 4999);
    gen.observe(8'000);  // late: the watermark never goes back
    EXPECT_EQ(gen.current(), 4999);
    gen.observe(20'000);
    EXPECT_EQ(gen.current(), 14'999);
    gen.end();
    EXPECT_EQ(gen.current(), kEndOfTime);
}

TEST(WatermarkGeneratorTest, BecomesIdleAfterTheTimeoutAndActiveOnData) {
    WatermarkGenerator gen(0, 1000);
    EXPECT_FALSE(gen.update_idle(true, 0));
    EXPECT_FALSE(gen.update_idle(false, 999));
    EXPECT_TRUE(gen.update_idle(false, 1000));
    EXPECT_FALSE(gen.update_idle(true, 5000));
}

TEST(WatermarkGeneratorTest, WithoutTimeoutNeverIdle) {
    WatermarkGenerator gen(0, std::nullopt);
    gen.update_idle(true, 0);
    EXPECT_FALSE(gen.update_idle(false, 1'000'000'000));
}

TEST(WatermarkCombinerTest, FollowsTheMinimumOfActiveChannels) {
    WatermarkCombiner c(2);
    EXPECT_FALSE(c.update(0, 100));  // channel 1 has no watermark yet
    EXPECT_EQ(c.current(), kNoWatermark);
    EXPECT_TRUE(c.update(1, 50));
    EXPECT_EQ(c.current(), 50);
    EXPECT_FALSE(c.update(1, 40));  // going back is ignored
    EXPECT_TRUE(c.update(1, 300));
    EXPECT_EQ(c.current(), 100);
}

TEST(WatermarkCombinerTest, IdleChannelsDoNotHoldTimeBack) {
    WatermarkCombiner c(2);
    c.update(0, 1000);
    EXPECT_EQ(c.current(), kNoWatermark);
    EXPECT_TRUE(c.set_idle(1, true));
    EXPECT_EQ(c.current(), 1000);
    // Back from idle with an older watermark: the combined one stays.
    c.set_idle(1, false);
    c.update(1, 500);
    EXPECT_EQ(c.current(), 1000);
}

TEST(WatermarkCombinerTest, AllIdleDoesNotAdvance) {
    WatermarkCombiner c(1);
    c.update(0, 10);
    EXPECT_FALSE(c.set_idle(0, true));
    EXPECT_EQ(c.current(), 10);
}

TEST(TimerServiceTest, FiresDueTimersInTimeOrderOnce) {
    TimerService timers;
    std::string a = "a", b = "b";
    timers.set(TimeDomain::kEventTime, Value::string_view(b), 200);
    timers.set(TimeDomain::kEventTime, Value::string_view(a), 100);
    timers.set(TimeDomain::kEventTime, Value::string_view(a), 100);
    timers.set(TimeDomain::kEventTime, Value::integer(7), 300);
    std::vector<std::pair<int64_t, std::string>> fired;
    auto record = [&](const Timer& t) {
        fired.emplace_back(t.time, t.key.is_string() ? std::string(t.key.as_string())
                                                     : std::to_string(t.key.as_int()));
    };
    EXPECT_EQ(timers.fire_due(TimeDomain::kEventTime, 250, record), 2u);
    EXPECT_EQ(timers.fire_due(TimeDomain::kEventTime, 250, record), 0u);
    EXPECT_EQ(timers.next(TimeDomain::kEventTime), 300);
    timers.fire_due(TimeDomain::kEventTime, kEndOfTime, record);
    ASSERT_EQ(fired.size(), 3u);
    EXPECT_EQ(fired[0], std::make_pair(int64_t{100}, std::string("a")));
    EXPECT_EQ(fired[1], std::make_pair(int64_t{200}, std::string("b")));
    EXPECT_EQ(fired[2], std::make_pair(int64_t{300}, std::string("7")));
}

TEST(TimerServiceTest, KeysAreCopiedAndDomainsSeparate) {
    TimerService timers;
    {
        std::string key = "temporary";
        timers.set(TimeDomain::kProcessingTime, Value::string_view(key), 10);
        key = "overwritten";
    }
    EXPECT_EQ(timers.next(TimeDomain::kEventTime), INT64_MAX);
    std::string seen;
    timers.fire_due(TimeDomain::kProcessingTime, 10,
                    [&](const Timer& t) { seen = std::string(t.key.as_string()); });
    EXPECT_EQ(seen, "temporary");
}

TEST(TimerServiceTest, CancelRemovesATimerAndTimersSetWhileFiringFireIfDue) {
    TimerService timers;
    timers.set(TimeDomain::kEventTime, Value::integer(1), 10);
    timers.cancel(TimeDomain::kEventTime, Value::integer(1), 10);
    EXPECT_EQ(timers.pending(), 0u);
    timers.set(TimeDomain::kEventTime, Value::integer(1), 10);
    int count = 0;
    timers.fire_due(TimeDomain::kEventTime, 50, [&](const Timer& t) {
        ++count;
        if (t.time == 10) {
            timers.set(TimeDomain::kEventTime, Value::integer(1), 40);
        }
    });
    EXPECT_EQ(count, 2);
}

TEST(TimerServiceTest, CheckpointDeltasAreTheNetChangeSinceTheLastDrain) {
    TimerService timers;
    timers.track_changes(true);
    timers.set(TimeDomain::kEventTime, Value::integer(1), 10);  // will be checkpointed
    timers.set(TimeDomain::kEventTime, Value::integer(2), 20);  // will be checkpointed
    timers.drain_changes([](bool, TimeDomain, int64_t, const Value&) {});

    // Many changes that cancel out, as a session's timer moving with its events.
    for (int64_t t = 30; t < 1000; ++t) {
        timers.set(TimeDomain::kEventTime, Value::integer(3), t);
        timers.cancel(TimeDomain::kEventTime, Value::integer(3), t);
    }
    timers.cancel(TimeDomain::kEventTime, Value::integer(1), 10);      // was checkpointed
    timers.set(TimeDomain::kEventTime, Value::integer(1), 10);         // and is back: no change
    timers.fire_due(TimeDomain::kEventTime, 20, [](const Timer&) {});  // fires 1@10 and 2@20
    timers.set(TimeDomain::kEventTime, Value::integer(4), 40);

    std::vector<std::string> deltas;
    timers.drain_changes([&](bool added, TimeDomain, int64_t time, const Value& key) {
        deltas.push_back(std::string(added ? "+" : "-") + std::to_string(key.as_int()) + "@" +
                         std::to_string(time));
    });
    EXPECT_THAT(deltas, ::testing::ElementsAre("-1@10", "-2@20", "+4@40"));
    EXPECT_FALSE(timers.changed());
}

TEST(TimerServiceTest, ACheckpointedTimerSetAgainWhileItFiresStaysCheckpointed) {
    TimerService timers;
    timers.track_changes(true);
    timers.set(TimeDomain::kEventTime, Value::string_view("u1"), 10);
    timers.set(TimeDomain::kProcessingTime, Value::string_view("u2"), 5);
    std::vector<std::string> deltas;
    auto collect = [&](bool added, TimeDomain domain, int64_t time, const Value& key) {
        deltas.push_back(std::string(added ? "+" : "-") +
                         (domain == TimeDomain::kEventTime ? "e:" : "p:") +
                         std::string(key.as_string()) + "@" + std::to_string(time));
    };
    timers.drain_changes(collect);
    EXPECT_THAT(deltas, ::testing::ElementsAre("+e:u1@10", "+p:u2@5"));

    // The callback sets the firing timer again: the checkpoint still has it.
    deltas.clear();
    int fired = 0;
    timers.fire_due(TimeDomain::kEventTime, 10, [&](const Timer& t) {
        if (++fired == 1) {
            timers.set(TimeDomain::kEventTime, t.key, t.time);
        }
    });
    EXPECT_EQ(fired, 2);  // it was due, so it fired again
    timers.set(TimeDomain::kEventTime, Value::string_view("u1"), 10);
    EXPECT_TRUE(timers.changed());
    timers.drain_changes(collect);
    EXPECT_THAT(deltas, ::testing::ElementsAre());
    EXPECT_FALSE(timers.changed());

    // A processing-time timer cancelled and set again between drains: no change;
    // one cancelled for good: removed.
    timers.cancel(TimeDomain::kProcessingTime, Value::string_view("u2"), 5);
    timers.set(TimeDomain::kProcessingTime, Value::string_view("u2"), 5);
    timers.cancel(TimeDomain::kEventTime, Value::string_view("u1"), 10);
    timers.drain_changes(collect);
    EXPECT_THAT(deltas, ::testing::ElementsAre("-e:u1@10"));
}

TEST(TimerServiceTest, WithoutTrackingNothingIsRemembered) {
    TimerService timers;
    for (int64_t t = 0; t < 100; ++t) {
        timers.set(TimeDomain::kEventTime, Value::integer(t), t);
    }
    timers.mark_clean();
    timers.fire_due(TimeDomain::kEventTime, 100, [](const Timer&) {});
    EXPECT_FALSE(timers.changed());
}

TEST(WatermarkGeneratorTest, WithSplitsTheWatermarkFollowsTheSlowestActiveSplit) {
    WatermarkGenerator w(/*max_out_of_orderness_ms=*/1000, /*idle_timeout_ms=*/5000);
    w.observe(0, 100000);
    w.observe(1, 50000);
    EXPECT_EQ(w.current(), 50000 - 1000 - 1);
    EXPECT_EQ(w.max_seen(), 50000);  // what a checkpoint keeps: not ahead of split 1
    w.update_idle(true, 0);
    w.observe(1, 60000);
    EXPECT_EQ(w.current(), 60000 - 1000 - 1);

    // Split 1 stops; split 0 goes on. After idle_timeout split 1 no longer holds time back.
    w.observe(0, 200000);
    w.update_idle(true, 1000);
    w.observe(0, 210000);
    w.update_idle(true, 4000);
    EXPECT_EQ(w.current(), 60000 - 1000 - 1);
    w.observe(0, 220000);
    w.update_idle(true, 6500);
    EXPECT_EQ(w.current(), 220000 - 1000 - 1);
    // Data on split 1 makes it active again.
    w.observe(1, 70000);
    EXPECT_EQ(w.current(), 70000 - 1000 - 1);
    // A record without a split counts for split 0.
    w.observe(300000);
    EXPECT_EQ(w.current(), 70000 - 1000 - 1);
}

TEST(WatermarkGeneratorTest, WithoutIdleTimeoutASilentSplitHoldsTimeBack) {
    WatermarkGenerator w(0, std::nullopt);
    w.observe(0, 1000);
    w.observe(1, 500);
    for (int64_t now = 0; now < 100000; now += 10000) {
        w.observe(0, 1000 + now);
        w.update_idle(true, now);
    }
    EXPECT_EQ(w.current(), 500 - 1);
}

TEST(WatermarkGeneratorTest, ARestoredWatermarkIsAFloorForSplits) {
    WatermarkGenerator w(0, std::nullopt);
    w.restore(/*max_seen=*/10000, /*ended=*/false);
    w.observe(0, 20000);
    w.observe(1, 5000);  // behind what was restored: the watermark does not go back
    EXPECT_EQ(w.current(), 10000 - 1);
}

}  // namespace
}  // namespace eddy
