// SPDX-License-Identifier: Apache-2.0
// The scale-out model topic (io/model_topic.h) against `eddy broker`: models
// larger than one record are split into chunks and put together again, the
// newest publication wins, and a reader from the beginning skips the chunks
// of older publications.
#include "io/model_topic.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "kafka_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using Latest = std::map<std::string, ModelTopic::Entry, std::less<>>;

class ModelTopicTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_model_topic_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        broker_ =
            std::make_unique<testing::TestBroker>(dir_, std::vector<std::string>{"job-models:1"});
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

    std::unique_ptr<ModelTopic> open() {
        auto t = ModelTopic::open(client_, "job-models", "test: ");
        EXPECT_TRUE(t.is_ok()) << t.status().message();
        return t.is_ok() ? std::move(t).value() : nullptr;
    }

    /// Reads into `latest` until `done` holds (10 s at most).
    static bool read_until(ModelTopic& t, Latest& latest, const std::function<bool()>& done) {
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            EXPECT_TRUE(t.read(latest).is_ok());
            if (done()) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    fs::path dir_;
    std::unique_ptr<testing::TestBroker> broker_;
    KafkaClientOptions client_;
};

/// `size` bytes that differ from chunk to chunk and from `seed` to `seed`.
std::string model_of(size_t size, char seed) {
    std::string s(size, '\0');
    for (size_t i = 0; i < size; ++i) {
        s[i] = static_cast<char>(seed + static_cast<char>(i * 7 + i / 1000));
    }
    s[0] = 2;  // a codec version byte, as models start
    return s;
}

TEST_F(ModelTopicTest, ALargeModelIsSplitAndPutTogetherAgain) {
    auto writer = open();
    auto reader = open();
    ASSERT_TRUE(writer && reader);
    // Model keys join operator, state and member with NUL bytes.
    const std::string m1 = std::string("km") + '\0' + "model" + '\0' + "m1";
    const std::string m2 = std::string("km") + '\0' + "model" + '\0' + "m2";
    const std::string big = model_of(2 * ModelTopic::kChunkBytes + 12345, 'a');  // 3 chunks
    const std::string small = model_of(100, 'b');
    ASSERT_TRUE(writer->publish(m1, big).is_ok());
    ASSERT_TRUE(writer->publish(m2, small).is_ok());
    ASSERT_TRUE(writer->flush().is_ok());
    Latest latest;
    ASSERT_TRUE(read_until(*reader, latest, [&] { return latest.size() == 2; }))
        << latest.size() << " model(s) arrived";
    EXPECT_EQ(latest[m1].value, big);
    EXPECT_EQ(latest[m2].value, small);
    EXPECT_GT(latest[m1].time_ms, 0);
    // No chunk shows as a model of its own.
    for (const auto& [key, entry] : latest) {
        EXPECT_EQ(key.find('\x01'), std::string::npos);
    }

    // A newer publication with fewer chunks replaces it; then a small one.
    const std::string newer = model_of(ModelTopic::kChunkBytes + 1, 'c');  // 2 chunks
    ASSERT_TRUE(writer->publish(m1, newer).is_ok());
    ASSERT_TRUE(writer->flush().is_ok());
    ASSERT_TRUE(read_until(*reader, latest, [&] { return latest[m1].value == newer; }));
    const std::string whole = model_of(10, 'd');
    ASSERT_TRUE(writer->publish(m1, whole).is_ok());
    ASSERT_TRUE(writer->flush().is_ok());
    ASSERT_TRUE(read_until(*reader, latest, [&] { return latest[m1].value == whole; }));

    // A reader from the beginning meets every publication's chunks and
    // whole records in turn: the last publication holds.
    auto late = open();
    ASSERT_TRUE(late);
    Latest from_start;
    ASSERT_TRUE(read_until(*late, from_start, [&] {
        return from_start[m1].value == whole && from_start[m2].value == small;
    }));
    EXPECT_EQ(from_start.size(), 2u);
}

}  // namespace
}  // namespace eddy
