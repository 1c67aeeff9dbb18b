// SPDX-License-Identifier: Apache-2.0
// Comparing what a test expects (test_file.h) with what a job produced.
#pragma once

#include <string>
#include <vector>

#include "testing/json_value.h"
#include "testing/test_file.h"

namespace eddy::topology_tests {

/// Whether `actual` is the value `expected` writes: a quoted scalar only
/// equals a string, a plain one the JSON value it reads as (numbers
/// compare by value: 1 equals 1.0); lists and maps compare item by item.
bool literal_equals(const Literal& expected, const JsonValue& actual);

/// Why `actual` (nullptr: the field is absent) fails `check`, as
/// "field F: expected X, got Y"; empty when every condition holds.
std::string check_field(const FieldCheck& check, const JsonValue* actual);

/// Every way `record` fails `pattern`, one message each. With `exact`, a
/// field of the record that the pattern does not name is a failure too.
std::vector<std::string> match_record(const RecordPattern& pattern, const JsonValue& record,
                                      bool exact);

}  // namespace eddy::topology_tests
