// SPDX-License-Identifier: Apache-2.0
// state_ttl: keys untouched for longer than the TTL in event time read as
// absent (lazily), are dropped from the store at the next checkpoint when in
// memory, and by RocksDB compactions when only on disk.
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "state/layout.h"
#include "state/store.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::run_yaml;

std::string topology(const std::string& state_dir, const std::string& records) {
    return "name: ttl\nstate: {dir: " + state_dir + "}\nsources:\n  in: {type: memory, records: [" +
           records +
           "]}\noperators:\n  profiles: {type: profile, input: in, key: user, emit_every: 0s, "
           "state_ttl: 10s}\nsinks:\n  out: {type: collect, inputs: [profiles, profiles.late]}\n";
}

size_t stored_keys(const std::string& dir) {
    auto store = state::StateStore::open(dir, 16 << 20);
    EXPECT_TRUE(store.is_ok()) << store.status().message();
    rocksdb::ColumnFamilyHandle* cf =
        store.value()->find_family(state::operator_family("profiles"));
    if (cf == nullptr) {
        return 0;
    }
    size_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(
        store.value()->db().NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        ++n;
    }
    return n;
}

class StateTtlTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = (std::filesystem::temp_directory_path() / ("eddy_ttl_" + std::to_string(::getpid())))
                   .string();
        std::filesystem::remove_all(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string dir_;
};

TEST_F(StateTtlTest, AKeyBackAfterItsTtlStartsFresh) {
    JobOptions one_by_one;
    one_by_one.batch_size = 1;
    auto r = run_yaml(topology(dir_ + "/a",
                               "{ts: 1000, user: a}, {ts: 2000, user: a}, {ts: 50000, user: b}, "
                               "{ts: 60000, user: a}"),
                      one_by_one);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_THAT(lines[1], HasSubstr(R"("events":2)"));  // a within its TTL
    EXPECT_THAT(lines[3], HasSubstr(R"("user_id":"a")"));
    EXPECT_THAT(lines[3], HasSubstr(R"("events":1)"));  // a untouched for 58 s > 10 s
}

TEST_F(StateTtlTest, ExpiredKeysAreDroppedFromTheStoreAtTheCheckpoint) {
    auto r = run_yaml(
        topology(dir_ + "/b", "{ts: 1000, user: a}, {ts: 1000, user: b}, {ts: 100000, user: c}"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    r.job.reset();                            // release the store's lock
    EXPECT_EQ(stored_keys(dir_ + "/b"), 1u);  // only c, touched at 100000
}

TEST_F(StateTtlTest, KeysThatExpireOnDiskAreDroppedByCompaction) {
    // The first run stops before its input ends, so that the second one
    // resumes with the event time where it was (not at the end of time).
    std::string yaml = topology(dir_ + "/d", "{ts: 1000, user: a}, {ts: 1000, user: b}");
    yaml.replace(yaml.find("]}"), 2, "], then_idle: true}");
    yaml += "  stop: {type: stop_after, input: in, records: 2}\n";
    auto first = run_yaml(yaml);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    first.job.reset();
    // a and b stay on disk: the resumed job never reads them back, so only
    // the compaction filter can see that their TTL passed.
    EXPECT_EQ(stored_keys(dir_ + "/d"), 2u);
    auto second = run_yaml(topology(dir_ + "/d", "{ts: 100000, user: c}"));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    EXPECT_TRUE(second.job->restored());
    second.job.reset();
    EXPECT_EQ(stored_keys(dir_ + "/d"), 3u);

    auto store = state::StateStore::open(dir_ + "/d", 16 << 20);
    ASSERT_TRUE(store.is_ok()) << store.status().message();
    rocksdb::CompactRangeOptions all;
    all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    ASSERT_TRUE(store.value()
                    ->db()
                    .CompactRange(all,
                                  store.value()->find_family(state::operator_family("profiles")),
                                  nullptr, nullptr)
                    .ok());
    store.value().reset();
    EXPECT_EQ(stored_keys(dir_ + "/d"), 1u);  // only c
}

TEST_F(StateTtlTest, WithoutTtlKeysStay) {
    std::string yaml =
        topology(dir_ + "/c", "{ts: 1000, user: a}, {ts: 1000, user: b}, {ts: 100000, user: c}");
    yaml.replace(yaml.find(", state_ttl: 10s"), std::string(", state_ttl: 10s").size(), "");
    auto r = run_yaml(yaml);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    r.job.reset();
    EXPECT_EQ(stored_keys(dir_ + "/c"), 3u);
}

TEST_F(StateTtlTest, TtlNeedsAKeyedOperator) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1}]}
operators:
  f: {type: filter, input: in, field: ts, op: exists, state_ttl: 1d}
sinks:
  out: {type: null, inputs: [f, f.rejected]}
)");
    EXPECT_THAT(r.diagnostics,
                HasSubstr("`state_ttl` of operator 'f' (filter) applies to keyed state"));
}

}  // namespace
}  // namespace eddy
