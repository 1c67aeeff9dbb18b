// SPDX-License-Identifier: Apache-2.0
// Parallel execution: every built-in keyed operator gives the same outputs
// (as multisets) and the same final keyed state at parallelism 1, 2 and 4,
// also with checkpoints taken while the shards run and with a stop and a
// restore at another parallelism; and a slow sink slows the job down instead
// of letting its queues grow (backpressure).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

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

/// The operators under test: YAML for `operators:`, keyed by user_id and
/// reading `clicks`, and the outputs to collect.
struct Case {
    std::string name;
    std::string operators;
    std::vector<std::string> outputs;
};

std::vector<Case> cases() {
    return {
        {"bot_filter",
         "  op: {type: bot_filter, input: clicks, key: user_id}\n",
         {"op", "op.bots", "op.late"}},
        {"sessionizer",
         "  op: {type: sessionizer, input: clicks, key: user_id, gap: 10m, annotate: true}\n",
         {"op", "op.sessions", "op.late"}},
        {"window",
         "  op:\n"
         "    type: window\n"
         "    input: clicks\n"
         "    key: user_id\n"
         "    size: 5m\n"
         "    slide: 1m\n"
         "    aggregations:\n"
         "      events: {op: count}\n"
         "      dwell: {op: sum, field: dwell_ms}\n"
         "      pages: {op: distinct, field: url}\n"
         "      p90: {op: quantile, field: dwell_ms, q: 0.9}\n",
         {"op", "op.late"}},
        {"profile",
         "  op: {type: profile, input: clicks, key: user_id, emit_every: 5m}\n",
         {"op", "op.late"}},
        // Percentile rules compare with thresholds learned per shard, so the
        // equivalence holds for rules with fixed thresholds (docs/parallelism.md).
        {"segment",
         "  features: {type: profile, input: clicks, key: user_id, emit_every: 0s}\n"
         "  op:\n"
         "    type: segment\n"
         "    input: features\n"
         "    key: user_id\n"
         "    rules:\n"
         "      - {name: buyer, when: {purchases: \">= 1\"}}\n"
         "      - {name: frequent, when: {frequency: \">= 3\"}}\n"
         "    default: casual\n",
         {"op", "features.late"}},
    };
}

class ParallelTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_parallel_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string topology(const Case& c, const std::string& state, int parallelism,
                         int64_t stop_after = -1) const {
        std::string yaml = "name: parallel_" + c.name +
                           "\nparallelism: " + std::to_string(parallelism) +
                           "\nstate: {dir: " + (dir_ / state).string() +
                           ", checkpoint_interval: 100ms}\n"
                           "sources:\n"
                           "  clicks: {type: generator, events: 30000, users: 1500, seed: 9,"
                           " bot_share: 0.1, out_of_order_rate: 0.05}\n"
                           "operators:\n" +
                           c.operators + "sinks:\n";
        for (size_t i = 0; i < c.outputs.size(); ++i) {
            yaml +=
                "  out" + std::to_string(i) + ": {type: collect, input: " + c.outputs[i] + "}\n";
        }
        yaml += "  rest: {type: null, inputs: [clicks.errors]}\n";
        if (stop_after >= 0) {
            yaml +=
                "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
                "}\n";
        }
        return yaml;
    }

    /// Runs `yaml` to the end; returns each collect sink's lines, sorted.
    static std::map<std::string, std::vector<std::string>> outputs(const std::string& yaml) {
        JobOptions options;
        options.batch_size = 256;
        auto r = run_yaml(yaml, options);
        EXPECT_TRUE(r.status.is_ok()) << r.status.message();
        std::map<std::string, std::vector<std::string>> out;
        for (auto& [sink, lines] : testing::collected()) {
            out[sink] = lines;
            std::sort(out[sink].begin(), out[sink].end());
        }
        return out;
    }

    Snapshot snapshot(const std::string& state) const {
        return testing::read_state((dir_ / state).string(), /*keyed_only=*/true);
    }

    fs::path dir_;
};

TEST_F(ParallelTest, EveryKeyedOperatorGivesTheSameResultsAtParallelism1_2And4) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        auto one = outputs(topology(c, c.name + "_p1", 1));
        ASSERT_FALSE(one.empty());
        ASSERT_FALSE(one["out0"].empty());
        Snapshot state_one = snapshot(c.name + "_p1");
        for (int p : {2, 4}) {
            SCOPED_TRACE("parallelism " + std::to_string(p));
            std::string state = c.name + "_p" + std::to_string(p);
            auto many = outputs(topology(c, state, p));
            for (const auto& [sink, lines] : one) {
                EXPECT_EQ(many[sink].size(), lines.size()) << sink;
                EXPECT_TRUE(many[sink] == lines) << sink << " differs";
            }
            EXPECT_TRUE(snapshot(state) == state_one) << "final state differs";
        }
    }
}

TEST_F(ParallelTest, StoppedAtParallelism2AndRestoredAt4TheStateIsThatOfOneRun) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        outputs(topology(c, c.name + "_whole", 1));
        auto first = outputs(topology(c, c.name + "_parts", 2, 12000));
        auto second = outputs(topology(c, c.name + "_parts", 4));
        EXPECT_TRUE(snapshot(c.name + "_parts") == snapshot(c.name + "_whole"))
            << "final state differs";
    }
}

// A parallel job decodes a file's JSON lines on a task arena, in chunks of a
// poll's size: records, errors (bad JSON, a missing event time, a line too
// long) and lateness come out as with one thread.
TEST_F(ParallelTest, AFileDecodedInParallelGivesWhatOneThreadGives) {
    fs::create_directories(dir_);
    fs::path input = dir_ / "clicks.jsonl";
    {
        std::ofstream out(input);
        uint64_t rng = 12345;
        auto next = [&rng] {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            return rng >> 33;
        };
        int64_t ts = 1700000000000;
        for (int i = 0; i < 20000; ++i) {
            ts += static_cast<int64_t>(next() % 2000);
            // Some events are minutes late: beyond max_out_of_orderness, so
            // which ones are late depends on when the watermark advances.
            int64_t t = next() % 50 == 0 ? ts - 180000 : ts;
            if (i % 997 == 5) {
                out << "{\"user_id\": \"u1\", \"ts\": \n";  // bad JSON
            } else if (i % 1999 == 7) {
                out << "{\"user_id\": \"u2\"}\n";  // no event time
            } else if (i == 4321) {
                out << "{\"user_id\": \"u3\", \"pad\": \"" << std::string(3000, 'x') << "\"}\n";
            } else {
                out << "{\"user_id\": \"u" << next() % 300 << "\", \"ts\": " << t
                    << ", \"type\": \"page_view\", \"dwell_ms\": " << next() % 60000 << "}\n";
            }
        }
    }
    auto yaml = [&](int parallelism) {
        return "name: parallel_file\nparallelism: " + std::to_string(parallelism) +
               "\nsources:\n"
               "  clicks:\n"
               "    type: file\n"
               "    path: " +
               input.string() +
               "\n"
               "    max_line_bytes: 2KB\n"
               "    event_time: {field: ts, unit: ms}\n"
               "    watermark: {max_out_of_orderness: 30s}\n"
               "operators:\n"
               "  sessions: {type: sessionizer, input: clicks, key: user_id, gap: 10m}\n"
               "  minute:\n"
               "    type: window\n"
               "    input: clicks\n"
               "    key: user_id\n"
               "    size: 1m\n"
               "    aggregations: {events: {op: count}, dwell: {op: sum, field: dwell_ms}}\n"
               "sinks:\n"
               "  s: {type: collect, input: sessions.sessions}\n"
               "  s_late: {type: collect, input: sessions.late}\n"
               "  m: {type: collect, input: minute}\n"
               "  m_late: {type: collect, input: minute.late}\n"
               "  errors: {type: collect, input: clicks.errors}\n"
               "  rest: {type: null, input: sessions}\n";
    };
    auto one = outputs(yaml(1));
    ASSERT_EQ(one["errors"].size(), 21u + 11u + 1u);
    ASSERT_FALSE(one["s_late"].empty());
    ASSERT_FALSE(one["m"].empty());
    for (int p : {2, 4}) {
        SCOPED_TRACE("parallelism " + std::to_string(p));
        auto many = outputs(yaml(p));
        for (const auto& [sink, lines] : one) {
            EXPECT_EQ(many[sink].size(), lines.size()) << sink;
            EXPECT_TRUE(many[sink] == lines) << sink << " differs";
        }
    }
}

/// `slow` sink: sleeps 2 ms per batch.
class SlowSink final : public Sink {
public:
    explicit SlowSink(const Config&) {}
    Status open(SinkContext&) override { return Status::ok(); }
    Status write(const Batch&) override {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return Status::ok();
    }
};

TEST_F(ParallelTest, ASlowSinkSlowsTheSourceInsteadOfGrowingQueues) {
    Registry& r = testing::test_registry();
    if (r.find(ComponentKind::kSink, "slow") == nullptr) {
        ASSERT_TRUE(r.add(SinkSpec("slow")
                              .summary("Test sink: 2 ms per batch.")
                              .factory(make_component<Sink, SlowSink>),
                          "tests")
                        .is_ok());
    }
    JobOptions options;
    options.batch_size = 64;
    auto run = run_yaml(R"(
parallelism: 2
sources:
  clicks: {type: generator, events: 40000, users: 500, seed: 3}
operators:
  sessions: {type: sessionizer, input: clicks, key: user_id, gap: 10m, annotate: true}
sinks:
  out: {type: slow, input: sessions}
  rest: {type: null, inputs: [clicks.errors, sessions.sessions, sessions.late]}
)",
                        options);
    ASSERT_TRUE(run.status.is_ok()) << run.status.message();
    uint64_t sink_peak = 0;
    for (const auto& c : run.job->metrics().components()) {
        // No mailbox ever held more than its capacity...
        EXPECT_LE(c->queue_peak.load(), 32u) << c->name;
        if (c->name == "out") {
            sink_peak = c->queue_peak.load();
        }
    }
    // ...though the slow sink's was full: the shards (and through them the
    // source) waited for it instead of queueing more.
    EXPECT_EQ(sink_peak, 32u);
}

}  // namespace
}  // namespace eddy
