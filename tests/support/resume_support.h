// SPDX-License-Identifier: Apache-2.0
// A stopped and resumed job against an uninterrupted one, for operators
// whose state must make the resumed run continue exactly.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"

namespace eddy::testing {

/// The topology of the check: `yaml(stop_after, state)` must collect the
/// operator's recommendations in sink `out` and its metrics in sink
/// `metrics`, add a `stop_after` sink on its source when stop_after > 0, and
/// put `state` (a `state:` block, or "") at the top level.
using ResumeTopology = std::function<std::string(int stop_after, const std::string& state)>;

/// The line of a ResumeTopology's `sinks:` block that stops the job after
/// `stop_after` records of `source`; "" when stop_after is not positive.
inline std::string stop_after_sink(const std::string& source, int stop_after) {
    if (stop_after <= 0) {
        return "";
    }
    return "  stop: {type: stop_after, input: " + source +
           ", records: " + std::to_string(stop_after) + "}\n";
}

/// Runs the topology whole; then stopped after `stop_after` source records
/// with state, and resumed from that state. The resumed run's `out` must be
/// the tail of the whole run's, record for record, and its last `metrics`
/// record the same. `name` names the state directory.
inline void expect_resume_equals_whole(const ResumeTopology& yaml, int stop_after,
                                       const std::string& name) {
    namespace fs = std::filesystem;
    fs::path dir =
        fs::temp_directory_path() / ("eddy_resume_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    auto whole = run_yaml(yaml(0, ""));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message() << whole.diagnostics;
    std::vector<std::string> out = whole.lines("out");
    std::vector<std::string> metrics = whole.lines("metrics");
    ASSERT_GT(out.size(), static_cast<size_t>(stop_after));
    ASSERT_FALSE(metrics.empty());

    std::string state = "state: {dir: " + dir.string() + "}\n";
    auto first = run_yaml(yaml(stop_after, state));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();
    auto second = run_yaml(yaml(0, state));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    const auto& resumed = second.lines("out");
    ASSERT_GT(resumed.size(), out.size() / 4);
    ASSERT_LT(resumed.size(), out.size());
    std::vector<std::string> tail(out.end() - static_cast<std::ptrdiff_t>(resumed.size()),
                                  out.end());
    EXPECT_EQ(resumed, tail);
    EXPECT_EQ(second.lines("metrics").back(), metrics.back());
    second.job.reset();
    fs::remove_all(dir);
}

}  // namespace eddy::testing
