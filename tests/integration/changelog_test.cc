// SPDX-License-Identifier: Apache-2.0
// The scale-out changelog (io/changelog.h) against `eddy broker`: a record
// counts only once a marker of its writer confirms its checkpoint, so what a
// writer put before it died without a marker is skipped and reported; the
// last marker gives the input offset; a topic with another partition count
// is refused; a partition's key goes where Kafka's murmur2 puts it.
#include "io/changelog.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "kafka_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;

class ChangelogTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_changelog_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        broker_ = std::make_unique<testing::TestBroker>(
            dir_, std::vector<std::string>{"job-changelog:3", "other:2"});
        if (broker_->bootstrap().empty()) {
            GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
        }
        client_.brokers = broker_->bootstrap();
        client_.connect_timeout_ms = 3000;
    }
    void TearDown() override {
        broker_.reset();
        fs::remove_all(dir_);
    }

    std::unique_ptr<Changelog> open(uint64_t writer, const std::string& topic = "job-changelog",
                                    int32_t partitions = 3) {
        auto c = Changelog::open(client_, topic, partitions, writer, "test: ");
        EXPECT_TRUE(c.is_ok()) << c.status().message();
        return c.is_ok() ? std::move(c).value() : nullptr;
    }

    fs::path dir_;
    std::unique_ptr<testing::TestBroker> broker_;
    KafkaClientOptions client_;
};

/// A partition's confirmed records, applied in order: the last value per key.
struct Read {
    Changelog::Restored restored;
    std::map<std::string, std::optional<std::string>> entries;
    std::vector<std::string> applied;  // keys, in the order applied
    std::optional<std::string> value_of(const std::string& key) const {
        auto it = entries.find(key);
        return it == entries.end() ? std::nullopt : it->second;
    }
};

Read read(Changelog& c, int32_t partition) {
    Read out;
    auto r = c.read(partition, [&](std::string_view key, std::optional<std::string_view> value) {
        out.entries[std::string(key)] =
            value ? std::optional<std::string>(std::string(*value)) : std::nullopt;
        out.applied.emplace_back(key);
        return Status::ok();
    });
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    if (r.is_ok()) {
        out.restored = std::move(r).value();
    }
    return out;
}

TEST_F(ChangelogTest, ConfirmedCheckpointsCountAndTheLastMarkerGivesTheInputOffset) {
    auto c = open(1);
    ASSERT_NE(c, nullptr);
    std::map<int32_t, int64_t> ends;
    c->begin(1);
    ASSERT_TRUE(c->put(0, "ka", std::string_view("1")).is_ok());
    ASSERT_TRUE(c->put(0, "kb", std::string_view("1")).is_ok());
    ASSERT_TRUE(c->commit({{0, 10}, {1, -1}}, ends).is_ok());
    EXPECT_EQ(ends.at(0), 3);  // two records and the marker
    EXPECT_EQ(ends.at(1), 1);  // the marker alone
    c->begin(2);
    ASSERT_TRUE(c->put(0, "ka", std::string_view("2")).is_ok());
    ASSERT_TRUE(c->put(0, "kb", std::nullopt).is_ok());  // erased
    ASSERT_TRUE(c->commit({{0, 25}, {1, -1}}, ends).is_ok());
    EXPECT_EQ(ends.at(0), 6);

    Read r = read(*c, 0);
    EXPECT_EQ(r.value_of("ka"), "2");
    ASSERT_EQ(r.entries.count("kb"), 1u);
    EXPECT_FALSE(r.entries.at("kb").has_value());
    // Applied in log order, as confirmed: the later record of a key last.
    EXPECT_EQ(r.applied, (std::vector<std::string>{"ka", "kb", "ka", "kb"}));
    EXPECT_EQ(r.restored.input_offset, 25);
    EXPECT_EQ(r.restored.end, 6);
    EXPECT_EQ(r.restored.records, 6u);
    EXPECT_TRUE(r.restored.unconfirmed.empty());
    EXPECT_EQ(c->end_offset(0).value(), 6);

    Read empty = read(*c, 2);
    EXPECT_TRUE(empty.entries.empty());
    EXPECT_EQ(empty.restored.input_offset, -1);
}

TEST_F(ChangelogTest, RecordsOfACheckpointWithoutItsMarkerAreSkippedAndReported) {
    std::map<int32_t, int64_t> ends;
    {
        auto a = open(7);
        ASSERT_NE(a, nullptr);
        a->begin(1);
        ASSERT_TRUE(a->put(1, "ka", std::string_view("confirmed")).is_ok());
        ASSERT_TRUE(a->commit({{1, 100}}, ends).is_ok());
        // Checkpoint 2 writes its changes, and the writer dies before the marker.
        a->begin(2);
        ASSERT_TRUE(a->put(1, "ka", std::string_view("unconfirmed")).is_ok());
        ASSERT_TRUE(a->put(1, "kc", std::string_view("unconfirmed")).is_ok());
    }  // flushed on destruction: the records are in the log, no marker follows
    auto b = open(8);
    ASSERT_NE(b, nullptr);
    Read r = read(*b, 1);
    EXPECT_EQ(r.value_of("ka"), "confirmed");
    EXPECT_EQ(r.entries.count("kc"), 0u);
    EXPECT_EQ(r.restored.input_offset, 100);
    EXPECT_EQ(r.restored.unconfirmed, (std::vector<std::string>{"ka", "kc"}));

    // The next owner's checkpoints count; the dead writer's records stay skipped.
    b->begin(1);
    ASSERT_TRUE(b->put(1, "kb", std::string_view("next owner")).is_ok());
    ASSERT_TRUE(b->put(1, "ka", std::string_view("confirmed")).is_ok());  // the repair
    ASSERT_TRUE(b->commit({{1, 140}}, ends).is_ok());
    Read again = read(*b, 1);
    EXPECT_EQ(again.value_of("ka"), "confirmed");
    EXPECT_EQ(again.value_of("kb"), "next owner");
    EXPECT_EQ(again.entries.count("kc"), 0u);
    EXPECT_EQ(again.restored.input_offset, 140);
}

TEST_F(ChangelogTest, AMarkerConfirmsEveryEarlierCheckpointOfItsWriter) {
    // Compaction keeps only a writer's last marker: it must confirm the
    // records of the checkpoints before it too.
    auto c = open(3);
    ASSERT_NE(c, nullptr);
    std::map<int32_t, int64_t> ends;
    c->begin(4);
    ASSERT_TRUE(c->put(2, "old", std::string_view("4")).is_ok());
    c->begin(5);
    ASSERT_TRUE(c->put(2, "new", std::string_view("5")).is_ok());
    ASSERT_TRUE(c->commit({{2, 9}}, ends).is_ok());
    Read r = read(*c, 2);
    EXPECT_EQ(r.value_of("old"), "4");
    EXPECT_EQ(r.value_of("new"), "5");
}

TEST_F(ChangelogTest, ATopicWithAnotherPartitionCountIsRefusedWithWhatToDo) {
    auto c = Changelog::open(client_, "other", 6, 1, "source 'clicks': ");
    ASSERT_FALSE(c.is_ok());
    EXPECT_NE(c.status().message().find("'other' has 2 partitions but the input has 6"),
              std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find("cleanup.policy=compact"), std::string::npos);
}

TEST_F(ChangelogTest, AMissingTopicTheBrokerCannotCreateIsAClearError) {
    // The test broker has no Admin API: the error says how to create it.
    auto c = Changelog::open(client_, "missing-changelog", 4, 1, "source 'clicks': ");
    ASSERT_FALSE(c.is_ok());
    EXPECT_NE(c.status().message().find("cannot create the changelog topic 'missing-changelog'"),
              std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find("with 4 partitions"), std::string::npos);
}

TEST_F(ChangelogTest, AFailedApplyStopsTheReadWithItsError) {
    auto c = open(2);
    ASSERT_NE(c, nullptr);
    std::map<int32_t, int64_t> ends;
    c->begin(1);
    ASSERT_TRUE(c->put(0, "ka", std::string_view("1")).is_ok());
    ASSERT_TRUE(c->commit({{0, 1}}, ends).is_ok());
    auto r = c->read(0, [](std::string_view, std::optional<std::string_view>) {
        return Status::io_error("disk full");
    });
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().message(), "disk full");
}

TEST(KafkaPartitionOf, MatchesKafkasMurmur2Partitioner) {
    // Values of the Java client's Utils.murmur2 (toPositive, modulo).
    EXPECT_EQ(kafka_partition_of("kafka", 1000),
              static_cast<int32_t>((0xd067cf64 & 0x7fffffff) % 1000));
    for (int32_t n : {1, 6, 7}) {
        for (std::string key : {"u1", "u42", "user-000123", ""}) {
            int32_t p = kafka_partition_of(key, n);
            EXPECT_GE(p, 0);
            EXPECT_LT(p, n);
        }
    }
}

}  // namespace
}  // namespace eddy
