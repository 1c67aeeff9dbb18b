// SPDX-License-Identifier: Apache-2.0
// State larger than memory: with a small `state.cache`, keyed state spills to
// RocksDB and is read back on use, and the job's outputs and checkpointed
// state are exactly those of a run that keeps everything in memory, also
// when the job stops and resumes in the middle.
#include <filesystem>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "metrics/metrics.h"
#include "state_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using testing::run_yaml;

using Snapshot = testing::StateSnapshot;

class StateSpillTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_spill_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// 8000 users, so that 1 MB of cache holds a small part of their state.
    /// `stop_after`: the job stops once that many events went through (-1: never).
    std::string topology(const std::string& name, const std::string& cache,
                         int64_t stop_after = -1) const {
        return "name: spill\nstate: {dir: " + (dir_ / name).string() + ", cache: " + cache +
               ", checkpoint_interval: 1h}\n"
               "sources:\n"
               "  clicks: {type: generator, events: 40000, users: 8000, seed: 5}\n"
               "operators:\n"
               "  profiles: {type: profile, input: clicks, key: user_id, emit_every: 0s}\n"
               "  sessions: {type: sessionizer, input: clicks, key: user_id, gap: 30m}\n"
               "sinks:\n"
               "  profiles_out: {type: collect, input: profiles}\n"
               "  sessions_out: {type: collect, inputs: [sessions, sessions.sessions]}\n"
               "  rest: {type: null, inputs: [clicks.errors, profiles.late, sessions.late]}\n" +
               (stop_after >= 0 ? "  stop: {type: stop_after, input: clicks, records: " +
                                      std::to_string(stop_after) + "}\n"
                                : "");
    }

    Snapshot snapshot(const std::string& name) const {
        return testing::read_state((dir_ / name).string());
    }

    static uint64_t metric(const Job& job, const std::string& component,
                           std::atomic<uint64_t> ComponentMetrics::*counter) {
        for (const auto& c : job.metrics().components()) {
            if (c->name == component) {
                return (*c.*counter).load();
            }
        }
        return 0;
    }

    static std::vector<std::string> sorted(std::vector<std::string> lines) {
        std::sort(lines.begin(), lines.end());
        return lines;
    }

    fs::path dir_;
};

TEST_F(StateSpillTest, ASmallCacheGivesTheSameOutputsAndStateAsMemory) {
    auto memory = run_yaml(topology("memory", "1GB"));
    ASSERT_TRUE(memory.status.is_ok()) << memory.status.message();
    EXPECT_EQ(metric(*memory.job, "profiles", &ComponentMetrics::state_spilled), 0u);
    auto profiles = sorted(memory.lines("profiles_out"));
    auto sessions = sorted(memory.lines("sessions_out"));
    ASSERT_GT(profiles.size(), 30000u);
    memory.job.reset();

    auto small = run_yaml(topology("small", "1MB"));
    ASSERT_TRUE(small.status.is_ok()) << small.status.message();
    EXPECT_GT(metric(*small.job, "profiles", &ComponentMetrics::state_spilled), 1000u);
    EXPECT_GT(metric(*small.job, "profiles", &ComponentMetrics::state_loaded), 100u);
    EXPECT_EQ(sorted(small.lines("profiles_out")), profiles);
    EXPECT_EQ(sorted(small.lines("sessions_out")), sessions);
    small.job.reset();

    Snapshot want = snapshot("memory");
    Snapshot got = snapshot("small");
    ASSERT_EQ(want.count("op:profiles"), 1u);
    EXPECT_EQ(want["op:profiles"].size(), got["op:profiles"].size());
    EXPECT_TRUE(want == got) << "checkpointed state differs";
}

TEST_F(StateSpillTest, StopAndResumeWithSpilledStateLosesNothing) {
    // Watermarks advance per polled batch, so lateness (and so state) depends
    // on the batch size: both runs use the same.
    JobOptions small_batches;
    small_batches.batch_size = 64;
    auto whole = run_yaml(topology("whole", "1GB"), small_batches);
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message();
    whole.job.reset();

    // The same job stopped after 20000 events (a final checkpoint moves the
    // spilled entries into the state) and resumed.
    auto first = run_yaml(topology("parts", "1MB", 20000), small_batches);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    EXPECT_GT(metric(*first.job, "profiles", &ComponentMetrics::state_spilled), 0u);
    EXPECT_TRUE(first.job->stopped_early());
    uint64_t read_first = first.job->metrics().source_records();
    EXPECT_LT(read_first, 40000u);
    first.job.reset();
    auto second = run_yaml(topology("parts", "1MB"), small_batches);
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    EXPECT_TRUE(second.job->restored());
    EXPECT_GT(metric(*second.job, "profiles", &ComponentMetrics::state_loaded), 0u);
    EXPECT_EQ(read_first + second.job->metrics().source_records(), 40000u);
    second.job.reset();

    Snapshot want = snapshot("whole");
    Snapshot got = snapshot("parts");
    for (const auto& [family, entries] : want) {
        size_t differ = 0;
        for (const auto& [k, v] : entries) {
            auto it = got[family].find(k);
            differ += it == got[family].end() || it->second != v ? 1 : 0;
        }
        EXPECT_EQ(differ, 0u) << family << ": " << differ << " of " << entries.size()
                              << " entries differ";
        EXPECT_EQ(entries.size(), got[family].size()) << family;
    }
}

}  // namespace
}  // namespace eddy
