// SPDX-License-Identifier: Apache-2.0
// validate: types, required, enum, range, length, pattern, every reason at
// once, unknown fields, coercion from JSON strings, and config diagnostics.
#include "validate/validate.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  v:\n    type: validate\n    input: in\n" + params +
           "sinks:\n  out: {type: collect, input: v}\n  bad: {type: collect, input: v.errors}\n";
}

struct Outcome {
    std::vector<std::string> passed;
    std::vector<std::string> failed;
};

Outcome run_validate(const std::string& records, const std::string& params) {
    auto r = run_yaml(topology(records, params));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return {r.lines("out"), r.lines("bad")};
}

/// Runs `params` over JSON lines read by the `file` source, so that values
/// keep their JSON types ("42" stays a string).
Outcome run_json(const std::vector<std::string>& lines, const std::string& params) {
    namespace fs = std::filesystem;
    fs::path path =
        fs::temp_directory_path() / ("eddy_validate_" + std::to_string(::getpid()) + ".jsonl");
    {
        std::ofstream out(path);
        for (const std::string& l : lines) {
            out << l << "\n";
        }
    }
    auto r = run_yaml("sources:\n  in: {type: file, path: " + path.string() +
                      "}\noperators:\n  v:\n    type: validate\n    input: in\n" + params +
                      "sinks:\n  out: {type: collect, input: v}\n  bad: {type: collect, "
                      "input: v.errors}\n");
    fs::remove(path);
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return {r.lines("out"), r.lines("bad")};
}

std::string diagnostics_for(const std::string& params) {
    auto r = run_yaml(topology("      - {user_id: a}\n", params));
    EXPECT_FALSE(r.status.is_ok()) << params;
    return r.diagnostics;
}

const char* const kClickSchema = R"(    fields:
      user_id: {type: string, required: true}
      type: {type: string, required: true, enum: [page_view, click]}
      dwell_ms: {type: int, min: 0, max: 3600000}
      device: {enum: [desktop, mobile, tablet]}
)";

TEST(ValidateTest, GoodRecordsPassUnchangedAndBadOnesCarryEveryReason) {
    auto o =
        run_validate(R"(      - {user_id: u1, type: click, dwell_ms: 10, device: mobile, extra: 1}
      - {type: click, dwell_ms: -5, device: phone}
      - {user_id: u2, type: buy, dwell_ms: 5000000}
      - {user_id: null, type: page_view}
      - {user_id: u3, type: click, dwell_ms: abc}
      - {user_id: u4, type: click, dwell_ms: 2.5}
      - {user_id: u5, type: click, dwell_ms: 3600000, device: desktop}
)",
                     kClickSchema);
    EXPECT_THAT(
        o.passed,
        ElementsAre(R"({"user_id":"u1","type":"click","dwell_ms":10,"device":"mobile","extra":1})",
                    R"({"user_id":"u5","type":"click","dwell_ms":3600000,"device":"desktop"})"));
    ASSERT_EQ(o.failed.size(), 5u);
    // The record goes to errors as it came, with every reason in schema order.
    EXPECT_EQ(o.failed[0],
              R"({"type":"click","dwell_ms":-5,"device":"phone","error":"`user_id` is required )"
              R"(but missing; `dwell_ms` must be at least 0, got -5; `device` must be one of )"
              R"(desktop, mobile, tablet, got \"phone\"","error_component":"v"})");
    EXPECT_THAT(o.failed[1],
                HasSubstr(R"("error":"`type` must be one of page_view, click, got \"buy\"; )"
                          R"(`dwell_ms` must be at most 3600000, got 5000000")"));
    EXPECT_THAT(o.failed[2], HasSubstr(R"("error":"`user_id` is required but null")"));
    EXPECT_THAT(o.failed[3],
                HasSubstr(R"("error":"`dwell_ms` must be an int, got string \"abc\"")"));
    EXPECT_THAT(o.failed[4], HasSubstr(R"("error":"`dwell_ms` must be an int, got double 2.5")"));
}

TEST(ValidateTest, IntegralDoublesAreIntsAndNumbersTakeBoth) {
    auto o = run_validate(R"(      - {n: 7.0, x: 1}
      - {n: 8, x: 1.5}
      - {n: 1e3, x: true}
)",
                          "    fields: {n: int, x: number}\n");
    EXPECT_THAT(o.passed, ElementsAre(R"({"n":7,"x":1})", R"({"n":8,"x":1.5})"));
    EXPECT_THAT(o.failed,
                ElementsAre(HasSubstr(R"("error":"`x` must be a number, got bool true")")));
}

TEST(ValidateTest, OptionalFieldsMayBeMissingOrNull) {
    auto o = run_validate(R"(      - {a: 1}
      - {a: 1, b: null}
)",
                          "    fields: {a: int, b: {type: string, min_length: 3}}\n");
    EXPECT_THAT(o.passed, ElementsAre(R"({"a":1})", R"({"a":1,"b":null})"));
    EXPECT_TRUE(o.failed.empty());
}

TEST(ValidateTest, PatternAndLengthsCountCharacters) {
    auto o = run_validate(R"(      - {id: u12, name: ééé, tags: x}
      - {id: x12, name: é, tags: x}
      - {id: u1x, name: abcdef, tags: x}
)",
                          R"(    fields:
      id: {type: string, pattern: "^u[0-9]+$"}
      name: {type: string, min_length: 2, max_length: 5}
)");
    EXPECT_THAT(o.passed, ElementsAre(R"({"id":"u12","name":"ééé","tags":"x"})"));
    ASSERT_EQ(o.failed.size(), 2u);
    EXPECT_THAT(o.failed[0], HasSubstr(R"("error":"`id` must match the pattern ^u[0-9]+$, got )"
                                       R"(\"x12\"; `name` must be at least 2 characters long, )"
                                       R"(got 1")"));
    EXPECT_THAT(o.failed[1], HasSubstr(R"(`name` must be at most 5 characters long, got 6")"));
}

TEST(ValidateTest, PatternsSearchUnlessAnchored) {
    auto o = run_validate(R"(      - {url: /p/42}
      - {url: /search}
)",
                          "    fields: {url: {type: string, pattern: \"[0-9]\"}}\n");
    EXPECT_THAT(o.passed, ElementsAre(R"({"url":"/p/42"})"));
    EXPECT_EQ(o.failed.size(), 1u);
}

TEST(ValidateTest, LongValuesAreCutInReasons) {
    std::string longer(60, 'x');
    auto o = run_validate("      - {s: " + longer + "}\n",
                          "    fields: {s: {type: string, enum: [a]}}\n");
    ASSERT_EQ(o.failed.size(), 1u);
    EXPECT_THAT(o.failed[0],
                HasSubstr("got \\\"" + std::string(40, 'x') + "\\\"...\",\"error_component\""));
}

TEST(ValidateTest, EnumsOfNumbersAndBools) {
    auto o = run_validate(R"(      - {level: 2.0, ok: true}
      - {level: 4, ok: false}
)",
                          "    fields: {level: {type: int, enum: [1, 2, 3]}, ok: {type: bool, "
                          "enum: [true]}}\n");
    EXPECT_THAT(o.passed, ElementsAre(R"({"level":2,"ok":true})"));
    EXPECT_THAT(o.failed, ElementsAre(HasSubstr(R"("error":"`level` must be one of 1, 2, 3, )"
                                                R"(got 4; `ok` must be one of true, got false")")));
}

TEST(ValidateTest, UnknownFieldsAreKeptDroppedOrRejected) {
    const std::string records = "      - {a: 1, b: 2, c: 3}\n      - {a: 1}\n";
    auto allow = run_validate(records, "    fields: {a: int}\n");
    EXPECT_THAT(allow.passed, ElementsAre(R"({"a":1,"b":2,"c":3})", R"({"a":1})"));
    auto drop = run_validate(records, "    fields: {a: int}\n    unknown_fields: drop\n");
    EXPECT_THAT(drop.passed, ElementsAre(R"({"a":1})", R"({"a":1})"));
    auto reject = run_validate(records, "    fields: {a: int}\n    unknown_fields: reject\n");
    EXPECT_THAT(reject.passed, ElementsAre(R"({"a":1})"));
    EXPECT_THAT(reject.failed,
                ElementsAre(R"({"a":1,"b":2,"c":3,"error":"`b` is not in the schema; `c` is not )"
                            R"(in the schema","error_component":"v"})"));
}

TEST(ValidateTest, CoercionFollowsAjv) {
    auto o = run_json(
        {R"({"i":"42","j":"4.2e1","k":true,"n":"3.5","m":"7","b":"true","c":0,"s":12345,"t":2.5,"u":false})",
         R"({"i":"4x","j":"4.5","k":"","n":"1,5","m":" 7","b":"yes","c":2,"s":[1,2],"t":null,"u":"x"})"},
        R"(    coerce: true
    fields:
      i: int
      j: int
      k: int
      n: number
      m: number
      b: bool
      c: bool
      s: string
      t: string
      u: string
)");
    EXPECT_THAT(o.passed, ElementsAre(R"({"i":42,"j":42,"k":1,"n":3.5,"m":7,"b":true,"c":false,)"
                                      R"("s":"12345","t":"2.5","u":"false"})"));
    ASSERT_EQ(o.failed.size(), 1u);
    EXPECT_THAT(o.failed[0],
                HasSubstr(R"("error":"`i` must be an int, got string \"4x\"; `j` must be an )"
                          R"(int, got string \"4.5\"; `k` must be an int, got string \"\"; `n` )"
                          R"(must be a number, got string \"1,5\"; `m` must be a number, got )"
                          R"(string \" 7\"; `b` must be a bool, got string \"yes\"; `c` must )"
                          R"(be a bool, got int 2; `s` must be a string, got vector")"));
}

TEST(ValidateTest, CoercionIsPerFieldAndChecksTheCoercedValue) {
    auto o = run_json({R"({"a":"5","b":"5"})", R"({"a":"-1","b":5})"},
                      "    fields:\n      a: {type: int, coerce: true, min: 0}\n      b: int\n");
    EXPECT_TRUE(o.passed.empty());
    ASSERT_EQ(o.failed.size(), 2u);
    EXPECT_THAT(o.failed[0], HasSubstr(R"("error":"`b` must be an int, got string \"5\"")"));
    // The error record keeps the value as it came.
    EXPECT_THAT(o.failed[1], HasSubstr(R"({"a":"-1","b":5,"error":"`a` must be at least 0, )"
                                       R"(got -1")"));
}

TEST(ValidateTest, EveryConfigProblemIsReportedWithItsPlace) {
    std::string d = diagnostics_for(R"(    fields:
      a: {type: strin}
      b: {type: string, min: 1}
      c: {type: int, min: x, max_length: 3}
      d: {type: string, pattern: "(unclosed"}
      e: {coerce: true}
      f: {type: int, enum: [1, two]}
      g: {type: int, min: 5, max: 1}
      h: {typo: 1}
      i: {required: maybe}
      j: 42
)");
    EXPECT_THAT(d,
                HasSubstr("`fields.a.type` (test.yaml:11:11) must be one of string, int, number, "
                          "bool, vector, any; got `strin`"));
    EXPECT_THAT(d, HasSubstr("`fields.b`: `min` and `max` need `type: int` or `type: number`"));
    EXPECT_THAT(d, HasSubstr("`fields.c.min` (test.yaml:13:22) must be a number, got `x`"));
    EXPECT_THAT(d, HasSubstr("`fields.c`: `min_length` and `max_length` need `type: string`"));
    EXPECT_THAT(d, HasSubstr("`fields.d.pattern` (test.yaml:14:25) is not a valid RE2 pattern: "
                             "missing ): (unclosed"));
    EXPECT_THAT(d, HasSubstr("`fields.e.coerce` (test.yaml:15:11) needs a scalar `type`"));
    EXPECT_THAT(d, HasSubstr("`fields.f.enum` (test.yaml:16:32) lists `two`, which is not an int"));
    EXPECT_THAT(d, HasSubstr("`fields.g`: `min` is greater than `max`"));
    EXPECT_THAT(d,
                HasSubstr("`fields.h.typo` (test.yaml:18:11) is not a rule; the rules are type"));
    EXPECT_THAT(d, HasSubstr("`fields.i.required` (test.yaml:19:11) must be `true` or `false`"));
    EXPECT_THAT(d, HasSubstr("`fields.j` (test.yaml:20:7) must be a type"));
}

TEST(ValidateTest, FieldsMustNotBeEmpty) {
    EXPECT_THAT(diagnostics_for("    fields: {}\n"), HasSubstr("`fields` is empty"));
}

}  // namespace
}  // namespace eddy
