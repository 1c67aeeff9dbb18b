// SPDX-License-Identifier: Apache-2.0
// The SDK's data types: Value, Record, Batch, Arena, FieldTable and the unit parsers.
#include "eddy/record.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/arena.h"
#include "eddy/fields.h"
#include "eddy/units.h"
#include "eddy/value.h"

namespace eddy {
namespace {

TEST(ValueTest, TypesAndAccessors) {
    EXPECT_TRUE(Value().is_null());
    EXPECT_TRUE(Value::boolean(true).as_bool());
    EXPECT_EQ(Value::integer(-7).as_int(), -7);
    EXPECT_DOUBLE_EQ(Value::integer(3).as_double(), 3.0);
    EXPECT_DOUBLE_EQ(Value::number(2.5).as_double(), 2.5);
    EXPECT_EQ(Value::string_view("abc").as_string(), "abc");
    std::vector<float> f = {1.0f, 2.0f};
    EXPECT_EQ(Value::vector_view(f).as_vector().size(), 2u);
    EXPECT_TRUE(Value::integer(1).is_number());
    EXPECT_TRUE(Value::number(1).is_number());
    EXPECT_STREQ(value_type_name(ValueType::kVector), "vector");
}

TEST(ValueTest, EqualityIsDeepAndTyped) {
    std::string a = "same";
    std::string b = "same";
    EXPECT_EQ(Value::string_view(a), Value::string_view(b));
    EXPECT_NE(Value::integer(1), Value::number(1.0));
    EXPECT_NE(Value::string_view("a"), Value::string_view("b"));
    std::vector<float> v1 = {1, 2};
    std::vector<float> v2 = {1, 2};
    std::vector<float> v3 = {1};
    EXPECT_EQ(Value::vector_view(v1), Value::vector_view(v2));
    EXPECT_NE(Value::vector_view(v1), Value::vector_view(v3));
    EXPECT_EQ(Value::null(), Value());
}

TEST(ArenaTest, CopiesOutliveTheSource) {
    Arena arena(64);
    std::string_view copy;
    {
        std::string s = "temporary string longer than the small-string buffer";
        copy = arena.copy(s);
    }
    EXPECT_EQ(copy, "temporary string longer than the small-string buffer");
    EXPECT_GT(arena.used(), 0u);
}

TEST(ArenaTest, AlignmentAndLargeAllocations) {
    Arena arena(128);
    arena.allocate(3, 1);
    void* p = arena.allocate(16, 16);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    void* big = arena.allocate(10'000, 8);  // larger than a block
    EXPECT_NE(big, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % 8, 0u);
}

TEST(ArenaTest, ResetKeepsMemoryForReuse) {
    Arena arena(1024);
    for (int i = 0; i < 100; ++i) {
        arena.copy(std::string(100, 'x'));
    }
    arena.reset();
    EXPECT_EQ(arena.used(), 0u);
    std::string_view s = arena.copy("again");
    EXPECT_EQ(s, "again");
}

TEST(ArenaTest, EmptyCopies) {
    Arena arena;
    EXPECT_TRUE(arena.copy(std::string_view()).empty());
    EXPECT_TRUE(arena.copy(std::span<const float>()).empty());
}

TEST(RecordTest, SetGetReplaceErase) {
    Batch batch;
    Record& r = batch.append();
    r.set(0, int64_t{5});
    r.set(1, "hello");
    r.set(2, 1.5);
    r.set(3, true);
    r.set_null(4);
    std::vector<float> v = {0.5f, 1.5f};
    r.set(5, std::span<const float>(v));
    ASSERT_EQ(r.field_count(), 6u);
    EXPECT_EQ(r.get(0)->as_int(), 5);
    EXPECT_EQ(r.get(1)->as_string(), "hello");
    EXPECT_DOUBLE_EQ(r.get(2)->as_double(), 1.5);
    EXPECT_TRUE(r.get(3)->as_bool());
    EXPECT_TRUE(r.get(4)->is_null());
    EXPECT_EQ(r.get(5)->as_vector()[1], 1.5f);
    EXPECT_EQ(r.get(9), nullptr);
    EXPECT_FALSE(r.has(9));

    r.set(0, "now a string");  // replaces in place, keeps the order
    EXPECT_EQ(r.fields()[0].id, 0u);
    EXPECT_EQ(r.get(0)->as_string(), "now a string");
    EXPECT_TRUE(r.erase(1));
    EXPECT_FALSE(r.erase(1));
    EXPECT_EQ(r.field_count(), 5u);
    EXPECT_EQ(r.fields()[1].id, 2u);
}

TEST(RecordTest, StringsAreCopiedIntoTheArena) {
    Batch batch;
    Record& r = batch.append();
    {
        std::string s = "a string that will be destroyed before it is read";
        r.set(0, std::string_view(s));
        std::vector<float> v = {1, 2, 3};
        r.set(1, std::span<const float>(v));
    }
    EXPECT_EQ(r.get(0)->as_string(), "a string that will be destroyed before it is read");
    EXPECT_EQ(r.get(1)->as_vector().size(), 3u);
}

TEST(RecordTest, TimeAndKey) {
    Batch batch;
    Record& r = batch.append();
    EXPECT_EQ(r.time(), 0);
    r.set_time(1764320000123);
    EXPECT_EQ(r.time(), 1764320000123);
    r.set(0, "u1");
    r.set_key(*r.get(0));
    EXPECT_EQ(r.key().as_string(), "u1");
}

TEST(BatchTest, AppendCopyIsDeepAndRepointsTheKey) {
    Batch a;
    Record& r = a.append();
    r.set(0, "user-42");
    r.set(1, int64_t{9});
    r.set_time(77);
    r.set_key(*r.get(0));

    Batch b;
    Record& c = b.append_copy(r);
    a.clear();
    a.append().set(0, "overwritten memory of the first arena");
    EXPECT_EQ(c.get(0)->as_string(), "user-42");
    EXPECT_EQ(c.get(1)->as_int(), 9);
    EXPECT_EQ(c.time(), 77);
    EXPECT_EQ(c.key().as_string(), "user-42");
    EXPECT_NE(c.key().as_string().data(), r.get(0)->as_string().data());
}

TEST(BatchTest, ClearReusesRecordsAndResetsWatermark) {
    Batch batch;
    batch.append().set(0, int64_t{1});
    batch.append().set(0, int64_t{2});
    batch.set_watermark(100);
    EXPECT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch.watermark(), 100);
    const Record* first = &batch[0];
    batch.clear();
    EXPECT_TRUE(batch.empty());
    EXPECT_EQ(batch.watermark(), kNoWatermark);
    Record& again = batch.append();
    EXPECT_EQ(&again, first);
    EXPECT_EQ(again.field_count(), 0u);  // cleared on reuse
}

TEST(BatchTest, PopBackAndFull) {
    Batch batch;
    for (int i = 0; i < 3; ++i) {
        batch.append().set(0, int64_t{i});
    }
    batch.pop_back();
    EXPECT_EQ(batch.size(), 2u);
    EXPECT_TRUE(batch.full(2));
    EXPECT_FALSE(batch.full());
    int n = 0;
    batch.for_each([&](const Record& r) { EXPECT_EQ(r.get(0)->as_int(), n++); });
    EXPECT_EQ(n, 2);
}

TEST(BatchTest, CopyToCopiesWatermark) {
    Batch a;
    a.append().set(0, "x");
    a.set_watermark(42);
    Batch b;
    b.append();
    b.append();
    a.copy_to(b);
    EXPECT_EQ(b.size(), 1u);
    EXPECT_EQ(b.watermark(), 42);
    EXPECT_EQ(b[0].get(0)->as_string(), "x");
}

TEST(FieldTableTest, InternIsStableAndDense) {
    FieldTable t;
    EXPECT_EQ(t.find("a"), kInvalidField);
    FieldId a = t.intern("a");
    FieldId b = t.intern("b");
    EXPECT_EQ(a, 0u);
    EXPECT_EQ(b, 1u);
    EXPECT_EQ(t.intern("a"), a);
    EXPECT_EQ(t.find("b"), b);
    EXPECT_EQ(t.name(b), "b");
    EXPECT_EQ(t.size(), 2u);
}

TEST(FieldTableTest, ConcurrentInterning) {
    FieldTable t;
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
        threads.emplace_back([&t] {
            for (int i = 0; i < 1000; ++i) {
                std::string name = "f";
                name += std::to_string(i);
                t.intern(name);
            }
        });
    }
    for (std::thread& th : threads) {
        th.join();
    }
    EXPECT_EQ(t.size(), 1000u);
    EXPECT_EQ(t.name(t.find("f999")), "f999");
}

TEST(UnitsTest, Durations) {
    EXPECT_EQ(parse_duration_ms("500ms"), 500);
    EXPECT_EQ(parse_duration_ms("30s"), 30'000);
    EXPECT_EQ(parse_duration_ms("5m"), 300'000);
    EXPECT_EQ(parse_duration_ms("1h"), 3'600'000);
    EXPECT_EQ(parse_duration_ms("1h30m"), 5'400'000);
    EXPECT_EQ(parse_duration_ms("7d"), 7 * 86'400'000LL);
    EXPECT_EQ(parse_duration_ms("2w"), 2 * 604'800'000LL);
}

TEST(UnitsTest, DurationsNeedAUnit) {
    EXPECT_FALSE(parse_duration_ms("30"));
    EXPECT_FALSE(parse_duration_ms("5x"));
    EXPECT_FALSE(parse_duration_ms(""));
    EXPECT_FALSE(parse_duration_ms("-5s"));
    EXPECT_FALSE(parse_duration_ms("m"));
}

// Found by fuzzing (tests/fuzz/corpus/topology/duration_overflow): the
// product and the sum overflowed int64 (undefined behaviour) instead of
// being refused.
TEST(UnitsTest, DurationsBeyondInt64AreRefused) {
    EXPECT_FALSE(parse_duration_ms("7766279631452241918d"));
    EXPECT_FALSE(parse_duration_ms("9223372036854775807s"));
    EXPECT_FALSE(parse_duration_ms("9223372036854775807ms1ms"));
    EXPECT_EQ(parse_duration_ms("9223372036854775807ms"), INT64_MAX);
    EXPECT_EQ(parse_duration_ms("106751991167d"), 106751991167LL * 86'400'000);
}

TEST(UnitsTest, FormatDurations) {
    EXPECT_EQ(format_duration_ms(5'400'000), "1h30m");
    EXPECT_EQ(format_duration_ms(250), "250ms");
    EXPECT_EQ(format_duration_ms(0), "0s");
    EXPECT_EQ(parse_duration_ms(format_duration_ms(90'061'001)), 90'061'001);
}

TEST(UnitsTest, Sizes) {
    EXPECT_EQ(parse_size_bytes("64MB"), 64ULL << 20);
    EXPECT_EQ(parse_size_bytes("1GB"), 1ULL << 30);
    EXPECT_EQ(parse_size_bytes("2GiB"), 2ULL << 30);
    EXPECT_EQ(parse_size_bytes("64KB"), 64ULL << 10);
    EXPECT_EQ(parse_size_bytes("512"), 512u);
    EXPECT_FALSE(parse_size_bytes("5x"));
    EXPECT_FALSE(parse_size_bytes("MB"));
    // Beyond uint64 the product wrapped (16777216TB was 0 bytes).
    EXPECT_FALSE(parse_size_bytes("16777216TB"));
    EXPECT_EQ(parse_size_bytes("16777215TB"), 16777215ULL << 40);
    EXPECT_FALSE(parse_size_bytes("18446744073709551615KB"));
    EXPECT_EQ(format_size_bytes(1 << 20), "1MB");
    EXPECT_EQ(format_size_bytes(1000), "1000");
}

}  // namespace
}  // namespace eddy
