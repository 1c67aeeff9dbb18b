// SPDX-License-Identifier: Apache-2.0
// The table of rankings a recommender's shard keeps for the HTTP API
// (operators/common/published_rankings.h): what it serves, for how long, how
// a user's own events change it, and that readers on other threads never see
// a ranking half written.
#include "common/published_rankings.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace eddy {
namespace {

using Entry = PublishedRanking::Entry;

std::vector<Entry> ranking(std::initializer_list<uint32_t> items) {
    std::vector<Entry> out;
    double score = 1.0;
    for (uint32_t item : items) {
        out.push_back({item, static_cast<uint8_t>(item % 4), score});
        score /= 2;
    }
    return out;
}

std::vector<uint32_t> items_of(const PublishedRanking& r) {
    std::vector<uint32_t> out;
    for (const Entry& e : r.entries) {
        out.push_back(e.item);
    }
    return out;
}

UserFingerprint user(const std::string& id) {
    return UserFingerprint::of(id);
}

TEST(PublishedRankingsTest, ServesTheFirstNOfAKeptRankingUntilItIsTooOld) {
    PublishedRankings table;
    table.configure(100, 4, 1000);
    table.want();
    table.publish(user("u1"), 5000, 7, ranking({10, 11, 12, 13}));
    PublishedRanking r;
    ASSERT_TRUE(table.read(user("u1"), 5000, 2, r));
    EXPECT_EQ(items_of(r), (std::vector<uint32_t>{10, 11}));
    EXPECT_EQ(r.group, 7U);
    EXPECT_EQ(r.ranked_ms, 5000);
    EXPECT_EQ(r.entries[1].source, 11 % 4);
    EXPECT_DOUBLE_EQ(r.entries[1].score, 0.5);
    EXPECT_TRUE(table.read(user("u1"), 6000, 4, r));   // exactly max_age old
    EXPECT_FALSE(table.read(user("u1"), 6001, 4, r));  // older
    EXPECT_FALSE(table.read(user("u2"), 5000, 1, r));  // never ranked
}

TEST(PublishedRankingsTest, AskingForMoreThanIsKeptMisses) {
    PublishedRankings table;
    table.configure(100, 4, 1000);
    table.want();
    table.publish(user("full"), 0, 0, ranking({1, 2, 3, 4}));
    table.publish(user("short"), 0, 0, ranking({1, 2}));  // a small catalogue then
    table.publish(user("cut"), 0, 0, ranking({1, 2, 3, 4, 5, 6}));
    PublishedRanking r;
    EXPECT_FALSE(table.read(user("full"), 0, 5, r));
    EXPECT_TRUE(table.read(user("short"), 0, 2, r));
    EXPECT_FALSE(table.read(user("short"), 0, 3, r));
    ASSERT_TRUE(table.read(user("cut"), 0, 4, r));  // cut to the four kept
    EXPECT_EQ(items_of(r), (std::vector<uint32_t>{1, 2, 3, 4}));
    EXPECT_FALSE(table.read(user("cut"), 0, 5, r));
}

TEST(PublishedRankingsTest, TheUsersNewItemLeavesTheRankingAndTheNextMovesUp) {
    PublishedRankings table;
    table.configure(100, 4, 1000);
    table.want();
    table.publish(user("u1"), 0, 0, ranking({10, 11, 12, 13}));
    table.remove(user("u1"), 11);
    table.remove(user("u1"), 99);  // not in the ranking: nothing changes
    table.remove(user("u2"), 10);  // no ranking kept: nothing happens
    PublishedRanking r;
    ASSERT_TRUE(table.read(user("u1"), 0, 3, r));
    EXPECT_EQ(items_of(r), (std::vector<uint32_t>{10, 12, 13}));
    EXPECT_DOUBLE_EQ(r.entries[1].score, 0.25);
    EXPECT_FALSE(table.read(user("u1"), 0, 4, r));  // one short of what was asked
    table.erase(user("u1"));
    EXPECT_FALSE(table.read(user("u1"), 0, 1, r));
}

TEST(PublishedRankingsTest, AFullBucketReplacesItsOldestRanking) {
    PublishedRankings table;
    table.configure(4, 2, 1000000);
    table.want();  // one bucket of four
    ASSERT_EQ(table.capacity(), 4U);
    for (int u = 0; u < 4; ++u) {
        table.publish(user("u" + std::to_string(u)), 100 + u, 0, ranking({1, 2}));
    }
    table.publish(user("u0"), 200, 0, ranking({3, 4}));  // u1 is now the oldest
    table.publish(user("new"), 300, 0, ranking({5, 6}));
    PublishedRanking r;
    EXPECT_FALSE(table.read(user("u1"), 300, 1, r));
    for (const char* kept : {"u0", "u2", "u3", "new"}) {
        EXPECT_TRUE(table.read(user(kept), 300, 2, r)) << kept;
    }
    EXPECT_EQ(items_of(r), (std::vector<uint32_t>{5, 6}));
}

TEST(PublishedRankingsTest, DisabledByZeroUsersOrZeroAge) {
    PublishedRankings table;
    table.configure(0, 10, 1000);
    table.want();
    EXPECT_FALSE(table.wanted());
    table.publish(user("u1"), 0, 0, ranking({1}));
    EXPECT_FALSE(table.enabled());
    PublishedRanking r;
    EXPECT_FALSE(table.read(user("u1"), 0, 1, r));
    PublishedRankings ageless;
    ageless.configure(100, 10, 0);
    ageless.want();
    ageless.publish(user("u1"), 0, 0, ranking({1}));
    EXPECT_FALSE(ageless.enabled());
}

TEST(PublishedRankingsTest, FingerprintsOfDifferentKeysDiffer) {
    // Keys of every length up to three words, differing in one byte.
    for (size_t n = 0; n < 24; ++n) {
        std::string a(n, 'x');
        for (size_t at = 0; at < n; ++at) {
            std::string b = a;
            b[at] = 'y';
            UserFingerprint fa = UserFingerprint::of(a);
            UserFingerprint fb = UserFingerprint::of(b);
            EXPECT_TRUE(fa.hi != fb.hi || fa.lo != fb.lo) << n << " " << at;
        }
        UserFingerprint shorter = UserFingerprint::of(a);
        UserFingerprint longer = UserFingerprint::of(a + '\0');
        EXPECT_TRUE(shorter.hi != longer.hi || shorter.lo != longer.lo) << n;
    }
}

TEST(PublishedRankingsTest, NothingIsKeptUntilWantedAndTheWriterAllocates) {
    PublishedRankings table;
    table.configure(100, 4, 1000);
    PublishedRanking r;
    table.publish(user("u1"), 0, 0, ranking({1, 2}));
    EXPECT_FALSE(table.enabled());  // nobody asked: no memory, nothing kept
    EXPECT_FALSE(table.read(user("u1"), 0, 1, r));
    table.want();
    EXPECT_TRUE(table.wanted());
    EXPECT_FALSE(table.enabled());  // allocated by the writer's next write
    table.publish(user("u1"), 0, 0, ranking({1, 2}));
    EXPECT_TRUE(table.enabled());
    EXPECT_TRUE(table.read(user("u1"), 0, 2, r));
}

TEST(PublishedRankingsTest, ARankingFromTheFutureIsNotServed) {
    PublishedRankings table;
    table.configure(100, 2, 1000);
    table.want();
    table.publish(user("u1"), 5000, 0, ranking({1, 2}));
    PublishedRanking r;
    EXPECT_FALSE(table.read(user("u1"), 4999, 1, r));  // the clock was set back
    EXPECT_TRUE(table.read(user("u1"), 5000, 1, r));
}

// One writer rewrites a user's ranking, takes items out of it and forgets
// it, and keeps rewriting a user of the same bucket, with every word of a
// round naming that round (items, scores, segment, time). Readers on other
// threads must only ever see a whole ranking of one round, and must have
// read while the writer wrote.
TEST(PublishedRankingsTest, ReadersOnOtherThreadsNeverSeeAHalfWrittenRanking) {
    PublishedRankings table;
    constexpr size_t kKept = 16;
    table.configure(4, kKept, int64_t{1} << 40);  // one bucket: both users share it
    table.want();
    std::atomic<bool> done{false};
    std::atomic<uint32_t> round_now{0};
    std::atomic<uint64_t> overlapping{0};
    std::atomic<uint64_t> torn{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
        readers.emplace_back([&] {
            PublishedRanking r;
            while (!done.load(std::memory_order_relaxed)) {
                if (!table.read(user("hot"), int64_t{1} << 32, kKept - 1, r)) {
                    continue;
                }
                uint32_t round = r.group;
                bool whole = r.ranked_ms == round;
                for (const Entry& e : r.entries) {
                    whole = whole && e.item == round && e.score == static_cast<double>(round);
                }
                if (!whole) {
                    torn.fetch_add(1, std::memory_order_relaxed);
                }
                if (round < round_now.load(std::memory_order_relaxed)) {
                    overlapping.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    }
    std::vector<Entry> entries(kKept);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (uint32_t round = 1; overlapping.load() < 1000 && round < (1U << 24) &&
                             std::chrono::steady_clock::now() < deadline;
         ++round) {
        round_now.store(round, std::memory_order_relaxed);
        for (Entry& e : entries) {
            e = {round, 0, static_cast<double>(round)};
        }
        table.publish(user("hot"), round, round, entries);
        table.publish(user("neighbour"), round, 0, ranking({1, 2}));
        if (round % 3 == 0) {
            table.remove(user("hot"), round);  // the first entry; the rest still name the round
        }
        if (round % 7 == 0) {
            table.erase(user("hot"));
        }
    }
    done = true;
    for (std::thread& t : readers) {
        t.join();
    }
    EXPECT_GE(overlapping.load(), 1000U) << "the readers never read while the writer wrote";
    EXPECT_EQ(torn.load(), 0U);
}

}  // namespace
}  // namespace eddy
