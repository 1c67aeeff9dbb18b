// SPDX-License-Identifier: Apache-2.0
// filter and select, built from YAML through their real specs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

std::string with_operator(const std::string& op) {
    return R"(
sources:
  in:
    type: memory
    records:
      - {ts: 1, type: click, price: 5, vip: true, name: ann}
      - {ts: 2, type: purchase, price: 20.5, vip: false}
      - {ts: 3, type: add_to_cart, price: 10, name: bob}
operators:
  op: )" + op +
           R"(
sinks:
  out: {type: collect, input: op}
)";
}

std::vector<std::string> run_filter(const std::string& condition) {
    auto r = run_yaml(with_operator("{type: filter, input: in, " + condition + "}") +
                      "  rest: {type: null, input: op.rejected}\n");
    EXPECT_TRUE(r.status.is_ok()) << r.status.message();
    std::vector<std::string> ts;
    for (const std::string& line : r.lines("out")) {
        ts.push_back(line.substr(0, line.find(',')));
    }
    return ts;
}

TEST(FilterTest, ComparesStringsNumbersAndBooleans) {
    EXPECT_THAT(run_filter("field: type, value: click"), ElementsAre(R"({"ts":1)"));
    EXPECT_THAT(run_filter("field: type, op: ne, value: click"),
                ElementsAre(R"({"ts":2)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: price, op: gt, value: 9.5"),
                ElementsAre(R"({"ts":2)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: price, op: le, value: 10"),
                ElementsAre(R"({"ts":1)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: price, op: eq, value: 20.5"), ElementsAre(R"({"ts":2)"));
    EXPECT_THAT(run_filter("field: vip, value: true"), ElementsAre(R"({"ts":1)"));
}

TEST(FilterTest, ListsAndPresence) {
    EXPECT_THAT(run_filter("field: type, op: in, value: [purchase, add_to_cart]"),
                ElementsAre(R"({"ts":2)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: type, op: not_in, value: [purchase]"),
                ElementsAre(R"({"ts":1)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: name, op: exists"), ElementsAre(R"({"ts":1)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: name, op: missing"), ElementsAre(R"({"ts":2)"));
}

TEST(FilterTest, MissingFieldMatchesOnlyNegations) {
    EXPECT_THAT(run_filter("field: name, op: ne, value: ann"),
                ElementsAre(R"({"ts":2)", R"({"ts":3)"));
    EXPECT_THAT(run_filter("field: name, op: lt, value: zzz"),
                ElementsAre(R"({"ts":1)", R"({"ts":3)"));
}

TEST(FilterTest, RejectedRecordsGoToTheRejectedOutput) {
    auto r = run_yaml(with_operator("{type: filter, input: in, field: type, value: click}") +
                      "  rest: {type: collect, input: op.rejected}\n");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_EQ(r.lines("out").size(), 1u);
    EXPECT_EQ(r.lines("rest").size(), 2u);
}

TEST(FilterTest, RulesRejectInconsistentSettings) {
    auto r =
        run_yaml(with_operator("{type: filter, input: in, field: type, op: in, value: click}"));
    EXPECT_THAT(r.diagnostics, HasSubstr("op `in` needs `value` to be a non-empty list"));
    r = run_yaml(with_operator("{type: filter, input: in, field: type, op: gt}"));
    EXPECT_THAT(r.diagnostics, HasSubstr("op `gt` needs a `value`"));
    r = run_yaml(with_operator("{type: filter, input: in, field: type, op: exists, value: x}"));
    EXPECT_THAT(r.diagnostics, HasSubstr("`value` has no meaning with op `exists`"));
}

TEST(SelectTest, KeepsListedFieldsInOrderAndRenames) {
    auto r = run_yaml(
        with_operator("{type: select, input: in, fields: [type, ts, name], rename: {name: user}}"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"type":"click","ts":1,"user":"ann"})",
                                            R"({"type":"purchase","ts":2})",
                                            R"({"type":"add_to_cart","ts":3,"user":"bob"})"));
}

TEST(SelectTest, DropsFields) {
    auto r = run_yaml(with_operator("{type: select, input: in, drop: [price, vip, name]}"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"ts":1,"type":"click"})", R"({"ts":2,"type":"purchase"})",
                            R"({"ts":3,"type":"add_to_cart"})"));
}

TEST(SelectTest, RulesRejectFieldsWithDropAndAnEmptySelect) {
    auto r = run_yaml(with_operator("{type: select, input: in, fields: [a], drop: [b]}"));
    EXPECT_THAT(r.diagnostics, HasSubstr("either `fields`"));
    r = run_yaml(with_operator("{type: select, input: in}"));
    EXPECT_THAT(r.diagnostics, HasSubstr("select changes nothing"));
}

}  // namespace
}  // namespace eddy
