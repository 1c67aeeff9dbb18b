// SPDX-License-Identifier: Apache-2.0
// `eddy test`: loads the cases of a topology (test_file.h), runs each on a
// fresh in-process job (memory_io.h) driven step by step, and reports.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eddy/registry.h"

#include "testing/test_file.h"
#include "topology/diagnostic.h"
#include "topology/topology.h"

namespace eddy::topology_tests {

/// The cases of one test file, and the topology they test.
struct Suite {
    std::string topology_path;
    std::string tests_path;  ///< The topology itself for a `tests:` block in it.
    std::vector<TestCase> cases;
};

/// The suites a command-line argument names: a topology (its `tests:`
/// block, and `<name>_test.yaml` beside it or in `tests/` beside it) or a
/// test file (`topology:` naming the topology, default `<name>.yaml`
/// beside it or one folder up, and `tests:`). Problems go to `diags`.
std::vector<Suite> find_suites(const std::string& path, Diagnostics& diags);

/// One failed check: where the expectation is written and what went wrong;
/// `details` are indented lines (the actual records nearest to it).
struct Failure {
    Location location;
    std::string message;
    std::vector<std::string> details;
};

struct CaseResult {
    std::string name;
    Location location;
    std::vector<Failure> failures;
    bool passed() const { return failures.empty(); }
};

/// Runs `test` on `topology`, validated against `registry` (which renders
/// keyed state through the operators' codecs). Never throws; a job that
/// cannot start or fails is a failure of the case.
CaseResult run_case(const Topology& topology, const Registry& registry, const TestCase& test);

/// "  PASS name" or "  FAIL name (file:line:col)" and each failure below it.
std::string render(const CaseResult& result);

}  // namespace eddy::topology_tests
