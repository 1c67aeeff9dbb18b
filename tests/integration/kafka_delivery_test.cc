// SPDX-License-Identifier: Apache-2.0
// What the kafka sink does with records Kafka does not take, and the Kafka
// metrics: against a mock cluster in this process (so that the test can
// inject errors), a record refused at once or not delivered after retries
// goes to the sink's `errors` output, decoded back into its fields, with the
// reason; every record ends in the topic or in `errors`, none in both and
// none lost; with on_error: fail the job stops naming the sink; a delivery
// that times out is reported as of unknown outcome. The metrics file shows
// what was delivered and what was not, and the source's consumer lag per
// partition, its assignment and its rebalances.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "kafka_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::run_yaml;

constexpr int16_t kProduceApi = 0;

/// The `"n":N` of a JSON line, or -1.
int number_of(const std::string& line) {
    size_t at = line.find("\"n\":");
    return at == std::string::npos ? -1 : std::stoi(line.substr(at + 4));
}

using eddy::testing::read_file;

class KafkaDeliveryTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_kafka_delivery_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
        owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        ASSERT_NE(owner_, nullptr) << errstr;
        cluster_ = rd_kafka_mock_cluster_new(owner_, 1);
        ASSERT_NE(cluster_, nullptr);
        ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "out", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
        bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    }
    void TearDown() override {
        if (cluster_ != nullptr) {
            rd_kafka_mock_cluster_destroy(cluster_);
        }
        if (owner_ != nullptr) {
            rd_kafka_destroy(owner_);
        }
        fs::remove_all(dir_);
    }

    /// `count` records {ts, n} (one of them, `big`, with a 4 KB field) into
    /// a kafka sink whose `errors` a collect sink reads.
    std::string topology(int count, int big, const std::string& sink_extra) const {
        std::string records;
        for (int n = 0; n < count; ++n) {
            records += "{ts: " + std::to_string(n) + ", n: " + std::to_string(n);
            if (n == big) {
                records += ", blob: " + std::string(4096, 'x');
            }
            records += "}, ";
        }
        return "sources:\n  in: {type: memory, records: [" + records +
               "]}\n"
               "sinks:\n"
               "  to_kafka:\n    type: kafka\n    input: in\n    brokers: \"" +
               bootstrap_ + "\"\n    topic: out\n" + sink_extra +
               "  dead: {type: collect, input: to_kafka.errors}\n";
    }

    fs::path dir_;
    rd_kafka_t* owner_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
    std::string bootstrap_;
};

TEST_F(KafkaDeliveryTest, RecordsKafkaDoesNotTakeGoToTheSinksErrorsAndNoneIsLost) {
    constexpr int kCount = 300;
    constexpr int kBig = 7;
    // The first produce requests fail for good (not retriable), and one
    // record is larger than the producer accepts at all.
    rd_kafka_mock_push_request_errors(cluster_, kProduceApi, 2,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    JobOptions options;
    options.metrics_file = (dir_ / "metrics.prom").string();
    auto r = run_yaml(topology(kCount, kBig,
                               "    on_error: errors\n"
                               "    properties: {message.max.bytes: 2000, linger.ms: 5}\n"),
                      options);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;

    const std::vector<std::string>& dead = r.lines("dead");
    std::vector<std::string> written =
        testing::consume(bootstrap_, "out", kCount - dead.size(), 5000);
    std::set<int> in_topic;
    for (const std::string& line : written) {
        EXPECT_TRUE(in_topic.insert(number_of(line)).second) << "twice in the topic: " << line;
    }
    std::set<int> in_errors;
    bool big_refused = false;
    for (const std::string& line : dead) {
        int n = number_of(line);
        EXPECT_TRUE(in_errors.insert(n).second) << "twice in errors: " << line;
        EXPECT_EQ(in_topic.count(n), 0u) << "in the topic and in errors: " << line;
        EXPECT_THAT(line, HasSubstr(R"("error_component":"to_kafka")"));
        if (n == kBig) {
            big_refused = true;
            EXPECT_THAT(line, HasSubstr("cannot produce to topic 'out'"));
            EXPECT_THAT(line, HasSubstr(R"("blob":"xxxx)"));  // the record as it was
        } else {
            // Decoded back from the message: the original fields, and why.
            EXPECT_THAT(line, HasSubstr(R"("ts":)" + std::to_string(n) + ","));
            EXPECT_THAT(line, HasSubstr("topic 'out': Broker: Message size too large (not "
                                        "delivered after retries)"));
        }
    }
    EXPECT_TRUE(big_refused);
    EXPECT_GT(in_errors.size(), 1u) << "the injected produce errors failed no message";
    EXPECT_EQ(in_topic.size() + in_errors.size(), static_cast<size_t>(kCount));

    std::string metrics = read_file(dir_ / "metrics.prom");
    EXPECT_THAT(metrics, HasSubstr("eddy_kafka_delivered_total{component=\"to_kafka\"} " +
                                   std::to_string(in_topic.size()) + "\n"));
    EXPECT_THAT(metrics, HasSubstr("eddy_kafka_produce_errors_total{component=\"to_kafka\","
                                   "outcome=\"not_delivered\"} " +
                                   std::to_string(in_errors.size()) + "\n"));
    EXPECT_THAT(metrics, HasSubstr("eddy_errors_total{component=\"to_kafka\",type=\"kafka\","
                                   "kind=\"sink\"} " +
                                   std::to_string(in_errors.size()) + "\n"));
    EXPECT_THAT(metrics, HasSubstr("eddy_kafka_outq_messages{component=\"to_kafka\"} 0\n"));
}

TEST_F(KafkaDeliveryTest, ByDefaultARecordThatIsNotDeliveredStopsTheJobNamingTheSink) {
    rd_kafka_mock_push_request_errors(cluster_, kProduceApi, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    auto r = run_yaml(topology(50, -1, ""));
    ASSERT_FALSE(r.status.is_ok());
    EXPECT_THAT(r.status.message(), HasSubstr("sink 'to_kafka': "));
    EXPECT_THAT(r.status.message(), HasSubstr("could not be delivered after retries"));
    EXPECT_THAT(r.status.message(), HasSubstr("on_error: errors"));
}

TEST_F(KafkaDeliveryTest, ADeliveryThatTimesOutIsReportedAsOfUnknownOutcome) {
    // Every response comes after 1.5 s; a request may wait 0.9 s and a
    // message 1 s. The produce request was sent, so the message may well
    // have been written: its outcome is unknown.
    rd_kafka_mock_broker_set_rtt(cluster_, -1, 1500);
    auto r = run_yaml(topology(20, -1,
                               "    on_error: errors\n"
                               "    properties: {message.timeout.ms: 1000, "
                               "request.timeout.ms: 900}\n"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    ASSERT_EQ(r.lines("dead").size(), 20u);
    EXPECT_THAT(r.lines("dead")[0], HasSubstr("outcome unknown: it may be in Kafka"));
}

/// The value of the sample of `metric` with `labels` in a metrics file, or -1.
int64_t sample(const std::string& text, const std::string& metric, const std::string& labels) {
    std::string head = metric + "{" + labels + "} ";
    size_t at = text.find(head);
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + head.size()));
}

std::vector<std::string> numbered_lines(int count) {
    std::vector<std::string> lines;
    for (int n = 0; n < count; ++n) {
        lines.push_back("{\"ts\":" + std::to_string(n) + ",\"n\":" + std::to_string(n) +
                        ",\"user_id\":\"u" + std::to_string(n % 50) + "\"}");
    }
    return lines;
}

TEST_F(KafkaDeliveryTest, TheSourceExportsLagPerPartitionAssignmentsAndRebalances) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "in", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::vector<std::string> lines = numbered_lines(3000);
    ASSERT_EQ(testing::produce(bootstrap_, "in", lines,
                               [](const std::string& l) { return l.substr(l.size() - 5); }),
              lines.size());
    JobOptions options;
    options.metrics_file = (dir_ / "metrics.prom").string();
    auto r = run_yaml("sources:\n  clicks:\n    type: kafka\n    brokers: \"" + bootstrap_ +
                          "\"\n    topics: [in]\n    until_end: true\n    properties: " +
                          testing::kQuickGroupProperties +
                          "\n"
                          "sinks:\n  out: {type: null, input: clicks}\n",
                      options);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::string text = read_file(dir_ / "metrics.prom");
    // Read to the end: no lag left on either partition; one group assignment.
    EXPECT_EQ(
        sample(text, "eddy_kafka_consumer_lag", R"(component="clicks",topic="in",partition="0")"),
        0)
        << text;
    EXPECT_EQ(
        sample(text, "eddy_kafka_consumer_lag", R"(component="clicks",topic="in",partition="1")"),
        0);
    EXPECT_EQ(sample(text, "eddy_kafka_assigned_partitions", R"(component="clicks")"), 2);
    EXPECT_EQ(sample(text, "eddy_kafka_rebalances_total", R"(component="clicks")"), 1);
    EXPECT_EQ(
        sample(text, "eddy_records_out_total", R"(component="clicks",type="kafka",kind="source")"),
        3000);
}

TEST_F(KafkaDeliveryTest, TheLagOfAJobStoppedEarlyIsWhatItDidNotRead) {
    // (A partition not read from yet has the lag from where it starts to its
    // end; only partitions whose end is not known yet keep no figure.)
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "in", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::vector<std::string> lines = numbered_lines(6000);
    ASSERT_EQ(testing::produce(bootstrap_, "in", lines,
                               [](const std::string& l) { return l.substr(l.size() - 5); }),
              lines.size());
    JobOptions options;
    options.metrics_file = (dir_ / "metrics.prom").string();
    options.batch_size = 100;
    auto r = run_yaml("sources:\n  clicks:\n    type: kafka\n    brokers: \"" + bootstrap_ +
                          "\"\n    topics: [in]\n    assignment: all\n"
                          "sinks:\n  out: {type: stop_after, input: clicks, records: 4000}\n",
                      options);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::string text = read_file(dir_ / "metrics.prom");
    int64_t read =
        sample(text, "eddy_records_out_total", R"(component="clicks",type="kafka",kind="source")");
    int64_t lag0 =
        sample(text, "eddy_kafka_consumer_lag", R"(component="clicks",topic="in",partition="0")");
    int64_t lag1 =
        sample(text, "eddy_kafka_consumer_lag", R"(component="clicks",topic="in",partition="1")");
    // 3,000 messages in each partition: reading 4,000 needs both, so both
    // partitions' ends are known from their fetches.
    ASSERT_GE(read, 4000) << text;
    ASSERT_LT(read, 6000) << text;
    EXPECT_EQ(lag0 + lag1, 6000 - read) << text;
    // Partitions Eddy assigned itself: no rebalance.
    EXPECT_EQ(sample(text, "eddy_kafka_rebalances_total", R"(component="clicks")"), 0);
}

}  // namespace
}  // namespace eddy
