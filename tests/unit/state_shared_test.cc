// SPDX-License-Identifier: Apache-2.0
// Shared state: one value for every shard of an operator (a model all
// shards learn into). Every shard sees every other's updates, the value is
// stored once per checkpoint, and a stopped job resumes it at the same or
// another parallelism without losing or double-counting an update.
#include <atomic>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"

namespace eddy {

/// What `tally` operators share: the records seen by all shards.
struct Tally {
    int64_t records = 0;
};

template <>
struct Codec<Tally> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const Tally& t, StateWriter& w) { w.i64(t.records); }
    static bool decode(StateReader& r, uint8_t, Tally& t) { return r.i64(t.records); }
};

namespace {

namespace fs = std::filesystem;
using testing::run_yaml;

/// Keyed; counts every record into the shared tally (a relaxed atomic add,
/// as a model's update would be) and, at close, emits what its shard sees.
class TallyOp final : public Operator {
public:
    explicit TallyOp(const Config&) {}
    Status open(OpenContext& ctx) override {
        ctx.register_state(tally_);
        shard_ = ctx.shard();
        shard_field_ = ctx.field("shard");
        total_field_ = ctx.field("total");
        return Status::ok();
    }
    void process(const Record&, Emitter&) override {
        std::atomic_ref<int64_t>(tally_.get().records).fetch_add(1, std::memory_order_relaxed);
    }
    void close(Emitter& out) override {
        Record& r = out.append();
        r.set(shard_field_, static_cast<int64_t>(shard_));
        r.set(total_field_, std::atomic_ref<int64_t>(tally_.get().records).load());
    }

private:
    Shared<Tally> tally_{"tally"};
    int shard_ = 0;
    FieldId shard_field_ = kInvalidField;
    FieldId total_field_ = kInvalidField;
};

class SharedStateTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        Registry& r = testing::test_registry();
        if (r.find(ComponentKind::kOperator, "tally") == nullptr) {
            Status s = r.add(OperatorSpec("tally")
                                 .summary("Test shared state.")
                                 .keyed(KeyMode::kRequired)
                                 .shared_state<Tally>("tally", "records seen by every shard")
                                 .factory(make_component<Operator, TallyOp>),
                             "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
        }
    }
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_shared_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// 5,000 generated events through `tally` at `parallelism`; `stop_after`
    /// (when > 0) stops the job after that many events.
    std::string topology(int parallelism, int stop_after = 0) const {
        std::string yaml = "parallelism: " + std::to_string(parallelism) +
                           "\nstate: {dir: " + dir_.string() +
                           "}\n"
                           "sources:\n  clicks: {type: generator, events: 5000, users: 300, "
                           "seed: 4}\n"
                           "operators:\n  t: {type: tally, input: clicks, key: user_id}\n"
                           "sinks:\n  out: {type: collect, input: t}\n";
        if (stop_after > 0) {
            yaml +=
                "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
                "}\n";
        }
        return yaml;
    }

    /// Every shard's closing record must show `total`.
    static void expect_totals(const testing::RunResult& r, size_t shards, int64_t total) {
        const auto& lines = testing::collected()["out"];
        ASSERT_EQ(lines.size(), shards);
        for (const std::string& line : lines) {
            EXPECT_THAT(line, ::testing::HasSubstr("\"total\":" + std::to_string(total))) << line;
        }
        (void)r;
    }

    fs::path dir_;
};

TEST_F(SharedStateTest, EveryShardSeesTheUpdatesOfAll) {
    auto r = run_yaml(topology(3));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    expect_totals(r, 3, 5000);
}

TEST_F(SharedStateTest, AStoppedJobResumesTheValueOnceAtTheSameParallelism) {
    auto first = run_yaml(topology(2, 1500));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();  // releases the state dir
    auto second = run_yaml(topology(2));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    expect_totals(second, 2, 5000);
}

TEST_F(SharedStateTest, AStoppedJobResumesTheValueOnceAtAnotherParallelism) {
    auto first = run_yaml(topology(3, 2500));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();
    auto second = run_yaml(topology(1));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    expect_totals(second, 1, 5000);
}

}  // namespace
}  // namespace eddy
