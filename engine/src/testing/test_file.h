// SPDX-License-Identifier: Apache-2.0
// The `tests:` format of `eddy test` (docs/testing.md): cases of steps and
// expectations, read from a topology file or a `*_test.yaml` beside it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eddy/config.h"

#include "topology/diagnostic.h"
#include "topology/topology.h"

namespace eddy::topology_tests {

/// A value as written in a test file. YAML scalars carry no type once
/// loaded, so a scalar remembers whether it was quoted: a quoted scalar is
/// a string; a plain one reads as null, a bool, an integer or a number when
/// it looks like one, else as a string.
struct Literal {
    enum class Kind { kNull, kScalar, kList, kMap };
    Kind kind = Kind::kNull;
    std::string text;
    bool quoted = false;
    std::vector<Literal> items;
    std::vector<std::pair<std::string, Literal>> members;
    Location location;

    /// As written, flow style: `u1`, `"42"`, `[1, 2]`, `{a: 1}`.
    std::string to_string() const;
    /// The value as JSON text, typed as above.
    std::string to_json() const;
};

/// One check of one field (a record's, or a path into a state value).
/// Written `field: VALUE` (equals) or `field: {equals|approx|tolerance|
/// exists|min|max: ...}`; every condition given must hold.
struct FieldCheck {
    std::string field;
    Location location;
    std::optional<Literal> equals;
    std::optional<double> approx;
    double tolerance = 1e-6;
    std::optional<bool> exists;
    std::optional<double> min;
    std::optional<double> max;
};

/// A record as an expectation writes it: checks of its fields.
struct RecordPattern {
    std::vector<FieldCheck> fields;
    Location location;
    std::string text;  ///< As written, for messages.
};

struct Expectation {
    enum class Kind { kOutput, kState };
    Kind kind = Kind::kOutput;
    Location location;
    // kOutput: `output: component[.output]`.
    std::string target;
    std::string component;
    std::string output;  ///< "" for the main output (a sink: what it receives).
    std::optional<int64_t> count_min;
    std::optional<int64_t> count_max;
    Location count_location;
    std::optional<std::vector<RecordPattern>> records;  ///< Exactly these, in order.
    Location records_location;
    std::optional<std::vector<RecordPattern>> contains;  ///< Each matches a distinct record.
    Location contains_location;
    std::optional<RecordPattern> where;  ///< Every record satisfies it.
    // kState: `state: {operator, key, name, exists, fields}`.
    std::string op;
    Literal key;
    std::string state_name;
    std::optional<bool> exists;
    std::optional<RecordPattern> state_fields;
};

/// A line of input for a source or an operator.
struct InputLine {
    std::string text;
    bool json = true;      ///< From `records:` (JSON), else as the source's format reads it.
    int64_t position = 0;  ///< 1-based: the record's index, or the fixture's line number.
    Location location;
};

struct Step {
    enum class Kind { kInput, kAdvanceWatermark, kWatermark, kAdvanceTime, kTime, kEndOfInput };
    Kind kind = Kind::kInput;
    Location location;
    std::string to;  ///< kInput: the component that receives the lines.
    std::vector<InputLine> lines;
    int64_t ms = 0;  ///< A duration (advance_*) or a time (watermark, time).
};

struct TestCase {
    std::string name;
    Location location;
    int64_t clock_ms = 0;  ///< The processing-time clock at the start (`clock:`).
    std::vector<Step> steps;
    std::vector<Expectation> expect;
    bool ends_input() const {
        return !steps.empty() && steps.back().kind == Step::Kind::kEndOfInput;
    }
};

/// Reads the `tests:` list `tests`. `text` is the file's text (for quotes),
/// `base_dir` the directory fixture paths are relative to. Every problem
/// is reported to `diags` with its place; cases with errors are left out.
std::vector<TestCase> read_tests(const ConfigValue& tests, const std::string& text,
                                 const std::string& base_dir, Diagnostics& diags);

/// Checks the names cases use against the validated topology: inputs go to
/// a source or operator, outputs exist, state is read from keyed operators.
void check_names(const std::vector<TestCase>& cases, const Topology& topology, Diagnostics& diags);

}  // namespace eddy::topology_tests
