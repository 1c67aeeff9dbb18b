// SPDX-License-Identifier: Apache-2.0
// One tap (runtime/tap.h) as the job's threads fill it: which records it
// takes (key, sample, output), its limit, and what it drops when the reader
// is slow, without ever blocking the job.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/tap.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

class TapQueueTest : public ::testing::Test {
protected:
    static TapRequest request(std::string component, std::string output = "",
                              std::optional<std::string> key = std::nullopt) {
        TapRequest r;
        r.component = std::move(component);
        r.output = std::move(output);
        r.key = std::move(key);
        return r;
    }

    Batch batch_of_users(std::initializer_list<Value> users) {
        Batch b;
        int64_t t = 0;
        for (const Value& u : users) {
            Record& r = b.append();
            r.set_time(++t);
            r.set_value(user_, u);
        }
        return b;
    }

    std::vector<TapEvent> take(Tap& tap) {
        std::vector<TapEvent> events;
        tap.take(events, std::chrono::milliseconds(0));
        return events;
    }

    FieldTable fields_;
    FieldId user_ = fields_.intern("user_id");
    std::vector<FieldId> key_fields_{user_};
};

TEST_F(TapQueueTest, ReadsTheRequestedComponentAndOutput) {
    Tap main(request("a"), 3, fields_);
    EXPECT_TRUE(main.reads(3, ""));
    EXPECT_FALSE(main.reads(3, "errors"));
    EXPECT_FALSE(main.reads(2, ""));
    Tap every(request("*", "*"), SIZE_MAX, fields_);
    EXPECT_TRUE(every.reads(0, "late"));
    EXPECT_TRUE(every.reads_component(7));
}

TEST_F(TapQueueTest, MatchesTheKeyAsTheRecordsKeyOrAKeyFieldOfEitherType) {
    Tap tap(request("a", "", "42"), 0, fields_);
    tap.offer("a", "", 0,
              batch_of_users({Value::string_view("42"), Value::integer(42), Value::integer(7),
                              Value::string_view("420")}),
              key_fields_);
    std::vector<TapEvent> events = take(tap);
    ASSERT_THAT(events, SizeIs(2));
    EXPECT_EQ(events[0].json, R"({"user_id":"42"})");
    EXPECT_EQ(events[0].time, 1);
    EXPECT_EQ(events[1].json, R"({"user_id":42})");

    Batch b;
    Record& keyed = b.append();
    keyed.set_key(Value::string_view("42"));
    EXPECT_TRUE(tap.matches(keyed, {}));
    EXPECT_TRUE(tap.is_key(Value::integer(42)));
    EXPECT_FALSE(tap.is_key(Value::string_view("4")));
}

TEST_F(TapQueueTest, SamplesAboutTheRequestedFraction) {
    TapRequest r = request("a");
    r.sample = 0.25;
    r.capacity = 100000;
    Tap tap(r, 0, fields_);
    Batch b;
    for (int i = 0; i < 20000; ++i) {
        b.append().set(user_, i);
    }
    tap.offer("a", "", 0, b, key_fields_);
    size_t kept = take(tap).size();
    EXPECT_GT(kept, 4600u);
    EXPECT_LT(kept, 5400u);
}

TEST_F(TapQueueTest, EndsAtItsLimitAndKeepsWhatWasQueued) {
    TapRequest r = request("a");
    r.limit = 2;
    Tap tap(r, 0, fields_);
    tap.offer("a", "", 0, batch_of_users({Value::integer(1), Value::integer(2), Value::integer(3)}),
              key_fields_);
    EXPECT_TRUE(tap.ended());
    EXPECT_EQ(tap.end_reason(), "limit reached");
    std::vector<TapEvent> events;
    EXPECT_FALSE(tap.take(events, std::chrono::milliseconds(0)));  // ended and drained
    EXPECT_THAT(events, SizeIs(2));
}

TEST_F(TapQueueTest, DropsAndCountsWhatASlowReaderCannotHold) {
    TapRequest r = request("a");
    r.capacity = 3;
    Tap tap(r, 0, fields_);
    tap.offer("a", "", 0,
              batch_of_users({Value::integer(1), Value::integer(2), Value::integer(3),
                              Value::integer(4), Value::integer(5)}),
              key_fields_);
    EXPECT_EQ(tap.take_dropped(), 2u);
    EXPECT_EQ(tap.take_dropped(), 0u);
    EXPECT_THAT(take(tap), SizeIs(3));
    // Room again once the reader took them.
    tap.offer("a", "", 0, batch_of_users({Value::integer(6)}), key_fields_);
    EXPECT_THAT(take(tap), SizeIs(1));

    r.capacity_bytes = 1;
    Tap small(r, 0, fields_);
    small.offer("a", "", 0, batch_of_users({Value::integer(1)}), key_fields_);
    EXPECT_EQ(small.take_dropped(), 1u);
}

TEST_F(TapQueueTest, AReaderWaitsForEventsAndLearnsWhyTheTapEnded) {
    Tap tap(request("a"), 0, fields_);
    std::vector<TapEvent> events;
    auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(tap.take(events, std::chrono::milliseconds(30)));  // open, nothing yet
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(25));
    tap.end("the job stopped");
    tap.offer("a", "", 0, batch_of_users({Value::integer(1)}), key_fields_);  // too late
    EXPECT_FALSE(tap.take(events, std::chrono::hours(1)));  // does not wait once ended
    EXPECT_TRUE(events.empty());
    EXPECT_THAT(tap.end_reason(), HasSubstr("job stopped"));
}

}  // namespace
}  // namespace eddy
