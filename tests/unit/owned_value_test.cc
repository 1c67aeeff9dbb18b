// SPDX-License-Identifier: Apache-2.0
// OwnedValue, the owned copy of a field value that window and impute keep in
// state: views, the codec (whose bytes window panes hold) and its JSON.
#include "common/owned_value.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace eddy {
namespace {

std::string encoded(const Value& value) {
    OwnedValue v;
    v.assign(value);
    std::string out;
    StateWriter w(out);
    v.encode(w);
    return out;
}

std::string json(const Value& value) {
    OwnedValue v;
    v.assign(value);
    JsonWriter j;
    v.to_json(j);
    return j.str();
}

TEST(OwnedValueTest, EveryTypeRoundTripsThroughTheCodec) {
    std::vector<float> floats = {1.5f, -2.0f};
    for (const Value& value :
         {Value::null(), Value::boolean(true), Value::boolean(false), Value::integer(-7),
          Value::number(2.5), Value::string_view("mobile"), Value::vector_view(floats)}) {
        std::string bytes = encoded(value);
        StateReader r(bytes);
        OwnedValue back;
        ASSERT_TRUE(back.decode(r)) << value_type_name(value.type());
        EXPECT_TRUE(r.done());
        EXPECT_EQ(back.view(), value) << value_type_name(value.type());
    }
}

TEST(OwnedValueTest, TheEncodingIsStable) {
    // Window panes hold these bytes: a bool is a zigzag i64, like an int.
    EXPECT_EQ(encoded(Value::null()), std::string("\x00", 1));
    EXPECT_EQ(encoded(Value::boolean(true)), std::string("\x01\x02", 2));
    EXPECT_EQ(encoded(Value::boolean(false)), std::string("\x01\x00", 2));
    EXPECT_EQ(encoded(Value::integer(-7)), std::string("\x02\x0d", 2));
    EXPECT_EQ(encoded(Value::string_view("ab")), std::string("\x04\x02"
                                                             "ab",
                                                             4));
}

TEST(OwnedValueTest, MalformedBytesDoNotDecode) {
    OwnedValue v;
    for (const std::string& bytes :
         {std::string(), std::string("\x06", 1), std::string("\x03\x00", 2),
          std::string("\x04\x05"
                      "ab",
                      4)}) {
        StateReader r(bytes);
        EXPECT_FALSE(v.decode(r)) << bytes.size();
    }
}

TEST(OwnedValueTest, AssignReplacesTheValueAndJsonShowsIt) {
    OwnedValue v;
    v.assign(Value::string_view("first"));
    v.assign(Value::integer(3));
    EXPECT_EQ(v.view(), Value::integer(3));
    std::vector<float> floats = {0.5f};
    EXPECT_EQ(json(Value::null()), "null");
    EXPECT_EQ(json(Value::boolean(true)), "true");
    EXPECT_EQ(json(Value::integer(-7)), "-7");
    EXPECT_EQ(json(Value::number(2.5)), "2.5");
    EXPECT_EQ(json(Value::string_view("a\"b")), R"("a\"b")");
    EXPECT_EQ(json(Value::vector_view(floats)), "[0.5]");
}

}  // namespace
}  // namespace eddy
