// SPDX-License-Identifier: Apache-2.0
// CSV: RFC 4180 splitting, header handling, cell typing and row errors.
#include "record/csv.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/fields.h"
#include "eddy/record.h"

namespace eddy {
namespace {

std::vector<std::string> split(std::string_view line, char delimiter = ',') {
    std::vector<std::string_view> cells;
    std::string scratch;
    Status s = split_csv_row(line, delimiter, cells, scratch);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return {cells.begin(), cells.end()};
}

Status split_error(std::string_view line) {
    std::vector<std::string_view> cells;
    std::string scratch;
    Status s = split_csv_row(line, ',', cells, scratch);
    EXPECT_FALSE(s.is_ok()) << line;
    return s;
}

using Cells = std::vector<std::string>;

TEST(CsvSplitTest, PlainCells) {
    EXPECT_EQ(split("a,b,c"), (Cells{"a", "b", "c"}));
    EXPECT_EQ(split("a"), (Cells{"a"}));
    EXPECT_EQ(split(""), (Cells{""}));
    EXPECT_EQ(split("a,,c"), (Cells{"a", "", "c"}));
    EXPECT_EQ(split("a,b,"), (Cells{"a", "b", ""}));
    EXPECT_EQ(split(",,"), (Cells{"", "", ""}));
    EXPECT_EQ(split(" a , b "), (Cells{" a ", " b "}));
}

TEST(CsvSplitTest, QuotedCells) {
    EXPECT_EQ(split(R"("a","b")"), (Cells{"a", "b"}));
    EXPECT_EQ(split(R"("a,b",c)"), (Cells{"a,b", "c"}));
    EXPECT_EQ(split(R"("say ""hi""",x)"), (Cells{R"(say "hi")", "x"}));
    EXPECT_EQ(split(R"("",x)"), (Cells{"", "x"}));
    EXPECT_EQ(split(R"(x,"")"), (Cells{"x", ""}));
    EXPECT_EQ(split(R"("""")"), (Cells{"\""}));
    EXPECT_EQ(split(R"(a,"b",)"), (Cells{"a", "b", ""}));
    // A quote inside an unquoted cell is kept as it is.
    EXPECT_EQ(split(R"(5"3,x)"), (Cells{R"(5"3)", "x"}));
}

TEST(CsvSplitTest, ManyDoubledQuotesKeepEarlierViewsValid) {
    std::string line;
    Cells expected;
    for (int i = 0; i < 50; ++i) {
        line += R"("q""uote)" + std::to_string(i) + R"(",)";
        expected.push_back("q\"uote" + std::to_string(i));
    }
    line += "end";
    expected.push_back("end");
    EXPECT_EQ(split(line), expected);
}

TEST(CsvSplitTest, OtherDelimiters) {
    EXPECT_EQ(split("a;b;\"c;d\"", ';'), (Cells{"a", "b", "c;d"}));
    EXPECT_EQ(split("a\tb", '\t'), (Cells{"a", "b"}));
    EXPECT_EQ(split("a,b", ';'), (Cells{"a,b"}));
}

TEST(CsvSplitTest, QuotingErrors) {
    EXPECT_EQ(split_error(R"(a,"open)").message(),
              "cell 2 has an unterminated quote (quoted cells cannot span lines)");
    EXPECT_EQ(split_error(R"("closed"junk,b)").message(),
              "cell 1 has text after its closing quote");
}

class CsvDecoderTest : public ::testing::Test {
protected:
    CsvDecoder decoder_{',', [this](std::string_view n) { return table_.intern(n); }};

    const Value* get(const Record& r, std::string_view name) {
        FieldId id = table_.find(name);
        return id == kInvalidField ? nullptr : r.get(id);
    }
    Record& decode_ok(std::string_view line) {
        Record& r = batch_.append();
        Status s = decoder_.decode(line, r);
        EXPECT_TRUE(s.is_ok()) << s.to_string();
        return r;
    }
    Status decode_error(std::string_view line) {
        Record& r = batch_.append();
        Status s = decoder_.decode(line, r);
        batch_.pop_back();
        EXPECT_FALSE(s.is_ok()) << line;
        return s;
    }

    FieldTable table_;
    Batch batch_;
};

TEST_F(CsvDecoderTest, HeaderAndTypedCells) {
    ASSERT_FALSE(decoder_.has_header());
    ASSERT_TRUE(decoder_.read_header("ts,user_id,score,ok,note,big").is_ok());
    ASSERT_TRUE(decoder_.has_header());
    Record& r = decode_ok("1764320000123,u1,0.75,true,\"hello, world\",99999999999999999999");
    ASSERT_TRUE(get(r, "ts")->is_int());
    EXPECT_EQ(get(r, "ts")->as_int(), 1764320000123);
    EXPECT_EQ(get(r, "user_id")->as_string(), "u1");
    ASSERT_TRUE(get(r, "score")->is_double());
    EXPECT_DOUBLE_EQ(get(r, "score")->as_double(), 0.75);
    EXPECT_TRUE(get(r, "ok")->as_bool());
    EXPECT_EQ(get(r, "note")->as_string(), "hello, world");
    ASSERT_TRUE(get(r, "big")->is_double());         // beyond int64
    EXPECT_EQ(table_.name(r.fields()[0].id), "ts");  // header order
}

TEST_F(CsvDecoderTest, CellTyping) {
    ASSERT_TRUE(decoder_.read_header("v").is_ok());
    auto type_of = [&](std::string_view cell) {
        Record& r = decode_ok(cell);
        const Value* v = get(r, "v");
        return v == nullptr ? std::string("absent") : std::string(value_type_name(v->type()));
    };
    EXPECT_EQ(type_of("42"), "int");
    EXPECT_EQ(type_of("-7"), "int");
    EXPECT_EQ(type_of("007"), "int");
    EXPECT_EQ(type_of("1.5"), "double");
    EXPECT_EQ(type_of("-.5"), "double");
    EXPECT_EQ(type_of("1e3"), "double");
    EXPECT_EQ(type_of("true"), "bool");
    EXPECT_EQ(type_of("FALSE"), "bool");
    EXPECT_EQ(type_of(""), "absent");
    EXPECT_EQ(type_of("\"\""), "absent");
    EXPECT_EQ(type_of("\"12\""), "int");
    EXPECT_EQ(type_of("abc"), "string");
    EXPECT_EQ(type_of("12abc"), "string");
    EXPECT_EQ(type_of("-"), "string");
    EXPECT_EQ(type_of("inf"), "string");
    EXPECT_EQ(type_of("-inf"), "string");
    EXPECT_EQ(type_of("nan"), "string");
    EXPECT_EQ(type_of("0x1F"), "string");
    EXPECT_EQ(type_of("+5"), "string");
    EXPECT_EQ(type_of(" 5"), "string");
    EXPECT_EQ(type_of("yes"), "string");
}

TEST_F(CsvDecoderTest, EmptyCellsLeaveFieldsAbsent) {
    ASSERT_TRUE(decoder_.read_header("a,b,c").is_ok());
    Record& r = decode_ok("1,,3");
    EXPECT_EQ(r.field_count(), 2u);
    EXPECT_EQ(get(r, "b"), nullptr);
}

TEST_F(CsvDecoderTest, CellCountMismatch) {
    ASSERT_TRUE(decoder_.read_header("a,b,c,d").is_ok());
    EXPECT_EQ(decode_error("1,2,3").message(), "row has 3 cells but the header has 4");
    EXPECT_EQ(decode_error("1,2,3,4,5").message(), "row has 5 cells but the header has 4");
    decode_ok("1,2,3,4");
}

TEST_F(CsvDecoderTest, HeaderWithBomQuotesAndEmptyNames) {
    ASSERT_TRUE(decoder_.read_header("\xEF\xBB\xBF\"user id\",,x").is_ok());
    Record& r = decode_ok("u,2,3");
    EXPECT_EQ(get(r, "user id")->as_string(), "u");
    EXPECT_EQ(get(r, "column_2")->as_int(), 2);
    EXPECT_EQ(get(r, "x")->as_int(), 3);
}

TEST_F(CsvDecoderTest, InvalidUtf8) {
    ASSERT_TRUE(decoder_.read_header("a,b").is_ok());
    EXPECT_EQ(decode_error("ok,ba\xff"
                           "d")
                  .message(),
              "invalid UTF-8 at byte offset 5");
    EXPECT_EQ(decoder_.read_header("a\xC3").message(), "invalid UTF-8 at byte offset 1");
}

TEST_F(CsvDecoderTest, SetColumnsWithoutHeader) {
    decoder_.set_columns({"ts", "type"});
    ASSERT_TRUE(decoder_.has_header());
    Record& r = decode_ok("5,click");
    EXPECT_EQ(get(r, "type")->as_string(), "click");
}

TEST_F(CsvDecoderTest, SemicolonDelimiter) {
    CsvDecoder semi(';', [this](std::string_view n) { return table_.intern(n); });
    ASSERT_TRUE(semi.read_header("a;b").is_ok());
    Record& r = batch_.append();
    ASSERT_TRUE(semi.decode("1,5;\"x;y\"", r).is_ok());
    EXPECT_EQ(get(r, "a")->as_string(), "1,5");
    EXPECT_EQ(get(r, "b")->as_string(), "x;y");
}

}  // namespace
}  // namespace eddy
