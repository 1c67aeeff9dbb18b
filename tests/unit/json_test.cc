// SPDX-License-Identifier: Apache-2.0
// JSON Lines: JsonDecoder (simdjson) and JsonEncoder, and their round trip.
#include "record/json.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/fields.h"
#include "eddy/record.h"

#include "record/json_decoder.h"

// Counts heap allocations, to check that steady-state decoding makes none. Not
// under AddressSanitizer, which owns operator new and delete.
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// GCC defines __SANITIZE_ADDRESS__; clang 14 only answers __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDDY_TEST_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(EDDY_TEST_UNDER_ASAN)
constexpr bool kCountsAllocations = false;
#else
constexpr bool kCountsAllocations = true;

[[gnu::noinline]] void* operator new(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept {
    std::free(p);
}
#endif

namespace eddy {
namespace {

class JsonTest : public ::testing::Test {
protected:
    JsonDecoder decoder_{[this](std::string_view name) {
        ++lookups_;
        return table_.intern(name);
    }};
    JsonEncoder encoder_{[this](FieldId id) { return table_.name(id); }};

    Record& decode_ok(std::string_view line) {
        Record& r = batch_.append();
        Status s = decoder_.decode(line, r);
        EXPECT_TRUE(s.is_ok()) << s.to_string() << " for " << line;
        return r;
    }
    Status decode_error(std::string_view line) {
        Record& r = batch_.append();
        Status s = decoder_.decode(line, r);
        batch_.pop_back();
        EXPECT_FALSE(s.is_ok()) << line;
        return s;
    }
    const Value* get(const Record& r, std::string_view name) {
        FieldId id = table_.find(name);
        return id == kInvalidField ? nullptr : r.get(id);
    }
    std::string encode(const Record& r) {
        std::string out;
        encoder_.append(r, out);
        return out;
    }

    FieldTable table_;
    int lookups_ = 0;
    Batch batch_;
};

TEST_F(JsonTest, EveryScalarType) {
    Record& r = decode_ok(R"({"s":"text","i":-42,"d":0.75,"e":1e3,"t":true,"f":false,"n":null,)"
                          R"("big":18446744073709551615})");
    EXPECT_EQ(get(r, "s")->as_string(), "text");
    ASSERT_TRUE(get(r, "i")->is_int());
    EXPECT_EQ(get(r, "i")->as_int(), -42);
    ASSERT_TRUE(get(r, "d")->is_double());
    EXPECT_DOUBLE_EQ(get(r, "d")->as_double(), 0.75);
    ASSERT_TRUE(get(r, "e")->is_double());
    EXPECT_DOUBLE_EQ(get(r, "e")->as_double(), 1000.0);
    EXPECT_TRUE(get(r, "t")->as_bool());
    EXPECT_FALSE(get(r, "f")->as_bool());
    EXPECT_TRUE(get(r, "n")->is_null());
    ASSERT_TRUE(get(r, "big")->is_double());  // beyond int64
    EXPECT_DOUBLE_EQ(get(r, "big")->as_double(), 18446744073709551615.0);
}

TEST_F(JsonTest, IntegerLimits) {
    Record& r = decode_ok(
        R"({"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808})");
    EXPECT_EQ(get(r, "max")->as_int(), std::numeric_limits<int64_t>::max());
    EXPECT_EQ(get(r, "min")->as_int(), std::numeric_limits<int64_t>::min());
    EXPECT_TRUE(get(r, "over")->is_double());
}

TEST_F(JsonTest, FieldsKeepDocumentOrder) {
    Record& r = decode_ok(R"({"z":1,"a":2,"m":3})");
    ASSERT_EQ(r.field_count(), 3u);
    EXPECT_EQ(table_.name(r.fields()[0].id), "z");
    EXPECT_EQ(table_.name(r.fields()[1].id), "a");
    EXPECT_EQ(table_.name(r.fields()[2].id), "m");
}

TEST_F(JsonTest, StringsWithEscapesAndUnicode) {
    Record& r = decode_ok(R"({"s":"a\"b\\c\nd\u00e9\ud83d\ude00","u":"Grüße 日本"})");
    EXPECT_EQ(get(r, "s")->as_string(), "a\"b\\c\nd\xC3\xA9\xF0\x9F\x98\x80");
    EXPECT_EQ(get(r, "u")->as_string(), "Grüße 日本");
}

TEST_F(JsonTest, StringsLiveInTheRecordArena) {
    std::string line = R"({"s":"copied into the arena, not a view of the line"})";
    Record& r = decode_ok(line);
    line.assign(line.size(), 'x');
    decode_ok(R"({"s":"another record reuses the parser"})");
    EXPECT_EQ(get(r, "s")->as_string(), "copied into the arena, not a view of the line");
}

TEST_F(JsonTest, NestedObjectsAreFlattened) {
    Record& r = decode_ok(
        R"({"geo":{"country":"DE","city":{"name":"Berlin","zip":10115}},"after":1,"empty":{}})");
    EXPECT_EQ(get(r, "geo.country")->as_string(), "DE");
    EXPECT_EQ(get(r, "geo.city.name")->as_string(), "Berlin");
    EXPECT_EQ(get(r, "geo.city.zip")->as_int(), 10115);
    EXPECT_EQ(get(r, "after")->as_int(), 1);
    EXPECT_EQ(get(r, "geo"), nullptr);
    EXPECT_EQ(r.field_count(), 4u);  // an empty object adds nothing
}

TEST_F(JsonTest, SiblingNestedObjects) {
    Record& r = decode_ok(R"({"a":{"x":1,"y":{"z":2},"w":3},"b":{"x":4}})");
    EXPECT_EQ(get(r, "a.x")->as_int(), 1);
    EXPECT_EQ(get(r, "a.y.z")->as_int(), 2);
    EXPECT_EQ(get(r, "a.w")->as_int(), 3);
    EXPECT_EQ(get(r, "b.x")->as_int(), 4);
}

TEST_F(JsonTest, NumericArraysBecomeFloatVectors) {
    Record& r = decode_ok(R"({"v":[1,2.5,-3e2],"e":[]})");
    ASSERT_TRUE(get(r, "v")->is_vector());
    auto v = get(r, "v")->as_vector();
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0], 1.0f);
    EXPECT_EQ(v[1], 2.5f);
    EXPECT_EQ(v[2], -300.0f);
    ASSERT_TRUE(get(r, "e")->is_vector());
    EXPECT_TRUE(get(r, "e")->as_vector().empty());
}

TEST_F(JsonTest, OtherArraysBecomeMinifiedJsonText) {
    Record& r =
        decode_ok(R"({"tags": [ "a" , "b\"c" ], "mixed":[1, "x", null, true, {"k": [2]}]})");
    ASSERT_TRUE(get(r, "tags")->is_string());
    EXPECT_EQ(get(r, "tags")->as_string(), R"(["a","b\"c"])");
    EXPECT_EQ(get(r, "mixed")->as_string(), R"([1,"x",null,true,{"k":[2]}])");
}

TEST_F(JsonTest, DuplicateKeysKeepTheLast) {
    Record& r = decode_ok(R"({"a":1,"a":2})");
    EXPECT_EQ(r.field_count(), 1u);
    EXPECT_EQ(get(r, "a")->as_int(), 2);
}

TEST_F(JsonTest, FieldNamesAreResolvedOncePerDecoder) {
    for (int i = 0; i < 100; ++i) {
        decode_ok(R"({"user_id":"u1","type":"click","geo":{"country":"DE"}})");
    }
    EXPECT_EQ(lookups_, 3);
}

TEST_F(JsonTest, MalformedJson) {
    for (std::string_view bad : {R"({"a":1)", R"({"a":1,})", R"({"a" 1})", R"({a:1})", "{} x",
                                 R"({"a":tru})", R"({"a":"unterminated})"}) {
        Status s = decode_error(bad);
        EXPECT_EQ(s.code(), StatusCode::kParseError);
        EXPECT_NE(s.message().find("invalid JSON"), std::string::npos) << s.message();
    }
}

TEST_F(JsonTest, NumbersOutOfRange) {
    Status s = decode_error(R"({"a":184467440737095516150})");
    EXPECT_NE(s.message().find("number"), std::string::npos) << s.message();
}

TEST_F(JsonTest, TopLevelMustBeAnObject) {
    EXPECT_EQ(decode_error("[1,2]").message(), "a JSON line must be an object, got an array");
    EXPECT_EQ(decode_error("42").message(), "a JSON line must be an object, got a number");
    EXPECT_EQ(decode_error(R"("s")").message(), "a JSON line must be an object, got a string");
    EXPECT_EQ(decode_error("null").message(), "a JSON line must be an object, got null");
}

TEST_F(JsonTest, InvalidUtf8NamesTheByteOffset) {
    EXPECT_EQ(decode_error("{\"a\":\"ok\xff\"}").message(), "invalid UTF-8 at byte offset 8");
    // An overlong encoding of '/' and a lone surrogate.
    EXPECT_EQ(decode_error("{\"a\":\"\xC0\xAF\"}").message(), "invalid UTF-8 at byte offset 6");
    EXPECT_EQ(decode_error("{\"\xED\xA0\x80\":1}").message(), "invalid UTF-8 at byte offset 2");
}

// simdjson's DOM parser validates the whole document before the decoder reads
// a field, so an error anywhere stops the document with no field set (reading
// on after a simdjson error would be undefined behaviour). Issue 9.
TEST_F(JsonTest, AnErrorAnywhereStopsTheDocumentBeforeAnyField) {
    using namespace std::string_view_literals;
    for (std::string_view bad :
         {R"({"a":1,"b":2,"c":tru})"sv, R"({"a":1,"b":{"c":[1,2,}})"sv,
          "{\"a\":1,\"b\":\"ok\",\"c\":\"\xff\"}"sv, R"({"a":1,"n":184467440737095516150})"sv,
          R"({"a":1,"b":2} x)"sv, R"({"a":1,"b":"x\ud800"})"sv, "{\"a\":1,\"b\":\"\0\"}"sv}) {
        Record& r = batch_.append();
        Status s = decoder_.decode(bad, r);
        EXPECT_EQ(s.code(), StatusCode::kParseError) << bad;
        EXPECT_EQ(r.field_count(), 0u) << bad;
        batch_.pop_back();
    }
}

TEST_F(JsonTest, DecoderRecoversAfterErrors) {
    EXPECT_EQ(decode_error("{oops").code(), StatusCode::kParseError);
    Record& r = decode_ok(R"({"ok":true})");
    EXPECT_TRUE(get(r, "ok")->as_bool());
}

TEST_F(JsonTest, LargeDocument) {
    std::string line = R"({"big":")" + std::string(3 << 20, 'a') + R"(","n":1})";
    Record& r = decode_ok(line);
    EXPECT_EQ(get(r, "big")->as_string().size(), 3u << 20);
    EXPECT_EQ(get(r, "n")->as_int(), 1);
    Record& small = decode_ok(R"({"n":2})");
    EXPECT_EQ(get(small, "n")->as_int(), 2);
}

TEST_F(JsonTest, EncoderWritesEveryType) {
    Record& r = batch_.append();
    r.set(table_.intern("s"), "text");
    r.set(table_.intern("i"), int64_t{-42});
    r.set(table_.intern("d"), 0.1);
    r.set(table_.intern("whole"), 2.0);
    r.set(table_.intern("t"), true);
    r.set_null(table_.intern("n"));
    std::vector<float> v = {1.0f, 0.5f, -2.25f};
    r.set(table_.intern("v"), std::span<const float>(v));
    EXPECT_EQ(encode(r),
              R"({"s":"text","i":-42,"d":0.1,"whole":2.0,"t":true,"n":null,"v":[1,0.5,-2.25]})");
}

TEST_F(JsonTest, EncoderEscapes) {
    Record& r = batch_.append();
    r.set(table_.intern("q\"k"), std::string_view("a\"b\\c\n\r\t\b\f\x01\x1f\x7f/é"));
    EXPECT_EQ(encode(r), "{\"q\\\"k\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/é\"}");
}

TEST_F(JsonTest, EncoderReplacesInvalidUtf8) {
    Record& r = batch_.append();
    r.set(table_.intern("s"), std::string_view("a\xff"
                                               "b\xC3"));
    EXPECT_EQ(encode(r),
              "{\"s\":\"a\xEF\xBF\xBD"
              "b\xEF\xBF\xBD\"}");
}

TEST_F(JsonTest, EncoderNonFiniteNumbersBecomeNull) {
    Record& r = batch_.append();
    r.set(table_.intern("nan"), std::nan(""));
    r.set(table_.intern("inf"), std::numeric_limits<double>::infinity());
    std::vector<float> v = {1.0f, std::numeric_limits<float>::infinity()};
    r.set(table_.intern("v"), std::span<const float>(v));
    EXPECT_EQ(encode(r), R"({"nan":null,"inf":null,"v":[1,null]})");
}

TEST_F(JsonTest, EncoderDoublesAreShortestAndRoundTrip) {
    for (double d : {0.1, 1.0 / 3, 1e300, -1e-300, 123456789.125, 1e21, 5e-324, -0.0, 100.0}) {
        Record& r = batch_.append();
        r.set(table_.intern("d"), d);
        std::string text = encode(r);
        Record& back = decode_ok(text);
        ASSERT_TRUE(get(back, "d")->is_double()) << text;
        EXPECT_EQ(get(back, "d")->as_double(), d) << text;
    }
    Record& r = batch_.append();
    r.set(table_.intern("d"), 0.1);
    EXPECT_EQ(encode(r), R"({"d":0.1})");
}

TEST_F(JsonTest, EmptyRecord) {
    EXPECT_EQ(encode(batch_.append()), "{}");
}

TEST_F(JsonTest, RoundTripGivesEqualRecords) {
    Record& r = batch_.append();
    r.set(table_.intern("user_id"), "u\"1\n");
    r.set(table_.intern("ts"), int64_t{1764320000123});
    r.set(table_.intern("score"), 0.75);
    r.set(table_.intern("whole"), -3.0);
    r.set(table_.intern("ok"), false);
    r.set_null(table_.intern("missing"));
    r.set(table_.intern("geo.country"), "DE");
    r.set(table_.intern("control"), std::string_view("\x01\x02 \xE2\x80\xA8", 6));
    std::vector<float> v = {0.1f, 3.4028235e38f, -1.17549435e-38f, 7.0f, 1e-45f};
    r.set(table_.intern("embedding"), std::span<const float>(v));
    std::string text = encode(r);
    Record& back = decode_ok(text);
    ASSERT_EQ(back.field_count(), r.field_count()) << text;
    for (size_t i = 0; i < r.field_count(); ++i) {
        EXPECT_EQ(back.fields()[i].id, r.fields()[i].id);
        EXPECT_EQ(back.fields()[i].value, r.fields()[i].value)
            << table_.name(r.fields()[i].id) << " in " << text;
    }
}

TEST_F(JsonTest, SteadyStateDecodingDoesNotAllocate) {
    const std::string lines[] = {
        R"({"ts":1764320000123,"user_id":"u123","type":"page_view","geo":{"country":"DE"},)"
        R"("scroll_pct":0.75,"embedding":[0.1,0.2,0.3],"tags":["a","b"],"ok":true,"n":null})",
        R"({"ts":1764320000124,"user_id":"u9","type":"click","geo":{"country":"FR"},)"
        R"("scroll_pct":0.5,"embedding":[0.4,0.5,0.6],"tags":["c"],"ok":false,"n":null})",
    };
    auto run = [&] {
        for (int i = 0; i < 50; ++i) {
            batch_.clear();
            for (int k = 0; k < 100; ++k) {
                Record& r = batch_.append();
                ASSERT_TRUE(decoder_.decode(lines[k % 2], r).is_ok());
            }
        }
    };
    if (!kCountsAllocations) {
        GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
    }
    run();  // warm up: parser capacity, field cache, record and arena capacity
    long before = g_allocations.load();
    run();
    EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST_F(JsonTest, SteadyStateEncodingDoesNotAllocate) {
    Record& r = decode_ok(R"({"s":"text \"q\"","i":1,"d":0.5,"v":[1,2],"b":true,"n":null})");
    if (!kCountsAllocations) {
        GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
    }
    std::string out;
    out.reserve(1 << 16);
    encoder_.append(r, out);  // warm up the name cache
    long before = g_allocations.load();
    for (int i = 0; i < 100; ++i) {
        encoder_.append(r, out);
    }
    EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST(JsonHelpersTest, AppendJsonString) {
    std::string out;
    append_json_string("tab\there", out);
    EXPECT_EQ(out, R"("tab\there")");
    out.clear();
    append_json_string("", out);
    EXPECT_EQ(out, R"("")");
}

}  // namespace
}  // namespace eddy
