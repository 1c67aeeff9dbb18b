// SPDX-License-Identifier: Apache-2.0
// KeyedValue as a write-back cache: with a backing, keys not in memory are
// read from the last checkpoint or the spill area on first use, eviction
// keeps memory under a target (changed entries spill, clean ones are just
// dropped), and the next checkpoint sees every change exactly once.
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/state.h"

namespace eddy {
namespace {

/// The committed state and the spill area as two maps, plus a log of calls.
class FakeBacking final : public StateBacking {
public:
    Found read(std::string_view key, std::string& stored) override {
        ++reads;
        if (auto it = spilled.find(std::string(key)); it != spilled.end()) {
            stored = it->second;
            return Found::kSpilled;
        }
        if (auto it = committed.find(std::string(key)); it != committed.end()) {
            stored = it->second;
            return Found::kCommitted;
        }
        return Found::kNo;
    }
    void unspill(std::string_view key) override { spilled.erase(std::string(key)); }
    void spill(std::string_view key, std::string_view stored) override {
        spilled[std::string(key)] = std::string(stored);
    }
    void corrupt(std::string_view key) override { corrupt_keys.emplace_back(key); }

    /// What a checkpoint does: the spill area and the cache's changes become committed.
    void checkpoint(StateHandle& h) {
        for (auto& [k, v] : spilled) {
            committed[k] = v;
        }
        spilled.clear();
        h.flush_changes([&](std::string_view k) { committed.erase(std::string(k)); },
                        [&](std::string_view k, std::string_view v) {
                            committed[std::string(k)] = std::string(v);
                        });
    }

    std::map<std::string, std::string> committed;
    std::map<std::string, std::string> spilled;
    std::vector<std::string> corrupt_keys;
    int reads = 0;
};

std::string key_of(const std::string& k) {
    std::string out;
    encode_state_key(Value::string_view(k), out);
    return out;
}

/// A stored value as KeyedValue writes it: 8 bytes of touched time, then the codec.
std::string stored_value(int64_t v, int64_t touched = 0) {
    std::string out(reinterpret_cast<const char*>(&touched), sizeof touched);
    out += encode_state(v);
    return out;
}

class StateCacheTest : public ::testing::Test {
protected:
    void SetUp() override { counts_.bind(&backing_); }
    void add(const std::string& user, int64_t n = 1) {
        counts_.get_or_create(Value::string_view(user)) += n;
    }

    FakeBacking backing_;
    KeyedValue<int64_t> counts_{"counts"};
};

TEST_F(StateCacheTest, EvictionKeepsMemoryUnderTheTargetAndSpillsOnlyChangedEntries) {
    for (int i = 0; i < 1000; ++i) {
        add("u" + std::to_string(i));
    }
    backing_.checkpoint(counts_);  // all clean now
    for (int i = 0; i < 100; ++i) {
        add("u" + std::to_string(i));  // 100 changed again
    }
    size_t before = counts_.memory_bytes();
    counts_.evict(before / 10);
    EXPECT_LE(counts_.memory_bytes(), before / 10);
    EXPECT_LT(counts_.size(), 1000u);
    // Only changed entries were written out; the others are in the checkpoint.
    EXPECT_LE(backing_.spilled.size(), 100u);
    for (const auto& [k, v] : backing_.spilled) {
        int64_t n = 0;
        ASSERT_TRUE(decode_state(std::string_view(v).substr(8), n));
        EXPECT_EQ(n, 2);
    }
}

TEST_F(StateCacheTest, AnEvictedKeyComesBackWithItsValue) {
    for (int i = 0; i < 500; ++i) {
        add("u" + std::to_string(i), i);
    }
    counts_.evict(0);
    EXPECT_EQ(counts_.size(), 0u);
    EXPECT_EQ(counts_.memory_bytes(), 0u);
    ASSERT_EQ(backing_.spilled.size(), 500u);
    for (int i = 0; i < 500; ++i) {
        int64_t* n = counts_.find(Value::string_view("u" + std::to_string(i)));
        ASSERT_NE(n, nullptr) << i;
        EXPECT_EQ(*n, i);
    }
    // Reloaded spilled entries left the spill area and count as changed: the
    // checkpoint writes each of them once.
    EXPECT_TRUE(backing_.spilled.empty());
    backing_.checkpoint(counts_);
    EXPECT_EQ(backing_.committed.size(), 500u);
}

TEST_F(StateCacheTest, CommittedKeysAreReadOnFirstUseOnly) {
    backing_.committed[key_of("a")] = stored_value(41);
    EXPECT_EQ(counts_.get_or_create(Value::string_view("a")), 41);
    int reads = backing_.reads;
    counts_.get_or_create(Value::string_view("a")) += 1;
    EXPECT_EQ(backing_.reads, reads);  // served from memory
    backing_.checkpoint(counts_);
    EXPECT_EQ(backing_.committed[key_of("a")], stored_value(42));
}

TEST_F(StateCacheTest, AnErasedKeyStaysErasedThoughTheCheckpointStillHasIt) {
    backing_.committed[key_of("a")] = stored_value(7);
    EXPECT_TRUE(counts_.erase(Value::string_view("a")));
    EXPECT_EQ(counts_.find(Value::string_view("a")), nullptr);
    EXPECT_FALSE(counts_.erase(Value::string_view("a")));
    std::string value;
    EXPECT_FALSE(counts_.lookup(key_of("a"), value));
    backing_.checkpoint(counts_);
    EXPECT_EQ(backing_.committed.count(key_of("a")), 0u);
}

TEST_F(StateCacheTest, AKeyErasedAndCreatedAgainIsWrittenWithItsNewValue) {
    backing_.committed[key_of("a")] = stored_value(7);
    counts_.erase(Value::string_view("a"));
    add("a", 3);
    counts_.evict(0);  // the new value spills
    EXPECT_EQ(*counts_.find(Value::string_view("a")), 3);
    backing_.checkpoint(counts_);
    EXPECT_EQ(backing_.committed[key_of("a")], stored_value(3));
}

TEST_F(StateCacheTest, RecentlyUsedEntriesSurviveAnEvictionPass) {
    for (int i = 0; i < 100; ++i) {
        add("u" + std::to_string(i));
    }
    counts_.evict(counts_.memory_bytes());  // clears nobody's bit: nothing to do
    ASSERT_EQ(counts_.size(), 100u);
    // One pass clears every "recently used" bit; then touch a few keys.
    size_t all = counts_.memory_bytes();
    counts_.evict(all - 1);
    for (int i = 0; i < 10; ++i) {
        add("u" + std::to_string(i));
    }
    counts_.evict(counts_.memory_bytes() / 2);
    for (int i = 0; i < 10; ++i) {
        std::string value;
        EXPECT_TRUE(backing_.spilled.count(key_of("u" + std::to_string(i))) == 0) << i;
    }
}

TEST_F(StateCacheTest, LookupReadsTheBackingWithoutChangingAnything) {
    backing_.committed[key_of("a")] = stored_value(5);
    std::string value;
    ASSERT_TRUE(counts_.lookup(key_of("a"), value));
    EXPECT_EQ(value, encode_state(int64_t{5}));
    EXPECT_EQ(counts_.size(), 0u);
    EXPECT_FALSE(counts_.lookup(key_of("b"), value));
}

TEST_F(StateCacheTest, AnUnreadableStoredValueIsReportedAndReadsAsAbsent) {
    backing_.committed[key_of("a")] = "\x01\x02";
    EXPECT_EQ(counts_.find(Value::string_view("a")), nullptr);
    ASSERT_EQ(backing_.corrupt_keys.size(), 1u);
    EXPECT_EQ(backing_.corrupt_keys[0], key_of("a"));
}

TEST_F(StateCacheTest, StoredValuesPastTheirTtlReadAsAbsentAndAreDeleted) {
    int64_t now = 100'000;
    counts_.set_ttl(10'000, &now);
    backing_.committed[key_of("old")] = stored_value(1, 50'000);
    backing_.committed[key_of("new")] = stored_value(2, 95'000);
    EXPECT_EQ(counts_.find(Value::string_view("old")), nullptr);
    ASSERT_NE(counts_.find(Value::string_view("new")), nullptr);
    backing_.checkpoint(counts_);
    EXPECT_EQ(backing_.committed.count(key_of("old")), 0u);
    EXPECT_EQ(backing_.committed[key_of("new")], stored_value(2, 100'000));  // touched now
}

TEST(StateCacheWithoutBacking, NeverEvictsBecauseMemoryIsTheOnlyCopy) {
    KeyedValue<int64_t> counts{"counts"};
    for (int i = 0; i < 100; ++i) {
        counts.get_or_create(Value::integer(i)) = i;
    }
    counts.evict(0);
    EXPECT_EQ(counts.size(), 100u);
    EXPECT_GT(counts.memory_bytes(), 100u * sizeof(int64_t));
}

}  // namespace
}  // namespace eddy
