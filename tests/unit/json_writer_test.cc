// SPDX-License-Identifier: Apache-2.0
// JsonWriter: commas and colons, escaping, numbers, non-finite doubles.
#include "eddy/json_writer.h"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace eddy {
namespace {

TEST(JsonWriterTest, NestsObjectsAndArraysWithCommasAndColons) {
    JsonWriter j;
    j.begin_object().field("a", 1).key("b").begin_array();
    j.value(true).value(false).value(nullptr).begin_object().end_object().begin_array().end_array();
    j.end_array().key("c").begin_object().field("d", "x").end_object().end_object();
    EXPECT_EQ(j.str(), R"({"a":1,"b":[true,false,null,{},[]],"c":{"d":"x"}})");
    EXPECT_TRUE(j.complete());
}

TEST(JsonWriterTest, EmptyContainersAndTopLevelScalars) {
    JsonWriter a;
    a.begin_array().end_array();
    EXPECT_EQ(a.str(), "[]");
    JsonWriter s;
    s.value("top");
    EXPECT_EQ(s.str(), R"("top")");
    EXPECT_TRUE(s.complete());
    JsonWriter open;
    open.begin_object().key("k");
    EXPECT_FALSE(open.complete());
    EXPECT_FALSE(JsonWriter().complete());
}

TEST(JsonWriterTest, AppendsToACallersString) {
    std::string out = "prefix ";
    JsonWriter j(out);
    j.begin_array().value(1).value(2).end_array();
    EXPECT_EQ(out, "prefix [1,2]");
}

TEST(JsonWriterTest, EscapesStringsAndKeys) {
    JsonWriter j;
    j.begin_object().field("q\"k", std::string("a\"b\\c\n\t\r\b\f\x01\x1f/"));
    j.end_object();
    EXPECT_EQ(j.str(), R"({"q\"k":"a\"b\\c\n\t\r\b\f\u0001\u001f/"})");
}

TEST(JsonWriterTest, KeepsValidUtf8AndReplacesIllFormedBytes) {
    JsonWriter j;
    j.begin_array()
        .value("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
        .value(
            "a\xff"
            "b")
        .value("\xc0\xaf")      // overlong '/'
        .value("\xed\xa0\x80")  // a surrogate
        .value("\xe2\x82")      // truncated
        .end_array();
    EXPECT_EQ(j.str(),
              "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"a\xef\xbf\xbd"
              "b\","
              "\"\xef\xbf\xbd\xef\xbf\xbd\",\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
              "\"\xef\xbf\xbd\xef\xbf\xbd\"]");
}

TEST(JsonWriterTest, WritesIntegersExactly) {
    JsonWriter j;
    j.begin_array()
        .value(0)
        .value(-1)
        .value(std::numeric_limits<int64_t>::min())
        .value(std::numeric_limits<uint64_t>::max())
        .value(uint32_t{7})
        .value(static_cast<size_t>(8))
        .end_array();
    EXPECT_EQ(j.str(), "[0,-1,-9223372036854775808,18446744073709551615,7,8]");
}

TEST(JsonWriterTest, WritesDoublesShortestWithAPointAndNonFiniteAsNull) {
    JsonWriter j;
    j.begin_array()
        .value(0.1)
        .value(3.0)
        .value(-0.0)
        .value(1e300)
        .value(2.5e-7)
        .value(0.1f)
        .value(std::numeric_limits<double>::quiet_NaN())
        .value(std::numeric_limits<double>::infinity())
        .value(-std::numeric_limits<double>::infinity())
        .end_array();
    EXPECT_EQ(j.str(), "[0.1,3.0,-0.0,1e+300,2.5e-07,0.10000000149011612,null,null,null]");
}

TEST(JsonWriterTest, RawValuesTakePartInSeparation) {
    JsonWriter j;
    j.begin_object().key("a").raw(R"({"x":1})").key("b").raw("[2]").end_object();
    EXPECT_EQ(j.str(), R"({"a":{"x":1},"b":[2]})");
}

}  // namespace
}  // namespace eddy
