// SPDX-License-Identifier: Apache-2.0
// The kafka source and sink against `eddy broker` (librdkafka's mock
// cluster), started by each test on 127.0.0.1: a topology read from Kafka
// gives what it gives from a file (as multisets), also with kcat producing
// 100,000 events and reading the output topic; a job stopped and resumed ends with the
// state of one run and commits its offsets to the group, and one killed with
// SIGKILL mid-stream loses nothing; a broker down for
// 5 s, injected fetch and produce errors and 50 ms latency lose nothing; undecodable
// messages go to `errors` with topic, partition and offset; an unreachable
// broker and a missing topic are clear errors at start. `assignment: all`
// reads every partition (named or ^regex topics) without a group join,
// resumes from the checkpoint else the group's offsets, and commits to it.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include "harness.h"
#include "io/kafka_common.h"
#include "json_fields.h"
#include "kafka_support.h"
#include "process.h"
#include "state_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::run_yaml;

// About 3.7 MB: the test broker keeps about 5 MiB per partition.
constexpr int kEvents = 12000;

std::string user_of(const std::string& line) {
    size_t at = line.find("\"user_id\":\"");
    if (at == std::string::npos) {
        return "";
    }
    at += 11;
    return line.substr(at, line.find('"', at) - at);
}

std::string read_log(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class KafkaTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_kafka_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        input_ = dir_ / "clicks.jsonl";
        std::string cmd = std::string("'") + EDDY_BINARY + "' gen --events " +
                          std::to_string(kEvents) + " --users 400 --seed 5 --out '" +
                          input_.string() + "' >/dev/null 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0);
        std::ifstream in(input_);
        for (std::string line; std::getline(in, line);) {
            lines_.push_back(line);
        }
        ASSERT_EQ(lines_.size(), static_cast<size_t>(kEvents));
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// bot_filter and sessionizer on `source`, collected; `extra` adds sinks.
    std::string topology(const std::string& source, const std::string& state = "",
                         const std::string& extra = "") const {
        std::string yaml = "name: kafka_test\n";
        if (!state.empty()) {
            yaml += "state: {dir: " + (dir_ / state).string() + ", checkpoint_interval: 200ms}\n";
        }
        yaml += "sources:\n  clicks:\n" + source +
                "    event_time: {field: ts, unit: ms}\n"
                // Partitions are read at their own pace: with this bound no
                // event is late, so per-key results do not depend on how
                // partitions interleave.
                "    watermark: {max_out_of_orderness: 3650d}\n"
                "operators:\n"
                "  humans: {type: bot_filter, input: clicks, key: user_id}\n"
                "  sessions: {type: sessionizer, input: humans, key: user_id, gap: 30m}\n"
                "sinks:\n"
                "  summaries: {type: collect, input: sessions}\n"
                "  bots: {type: collect, input: humans.bots}\n"
                "  errors: {type: collect, input: clicks.errors}\n"
                "  rest: {type: null, inputs: [humans.late, sessions.late]}\n" +
                extra;
        return yaml;
    }

    std::string kafka_source(const std::string& bootstrap, const std::string& topic,
                             const std::string& group, bool until_end = true) const {
        return "    type: kafka\n    brokers: " + bootstrap + "\n    topics: [" + topic +
               "]\n    group: " + group + "\n    until_end: " + (until_end ? "true" : "false") +
               "\n    properties: " + testing::kQuickGroupProperties + "\n";
    }

    static std::map<std::string, std::vector<std::string>> sorted_outputs() {
        auto out = testing::collected();
        for (auto& [sink, lines] : out) {
            std::sort(lines.begin(), lines.end());
        }
        return out;
    }

    fs::path dir_;
    fs::path input_;
    std::vector<std::string> lines_;
};

TEST_F(KafkaTest, ATopologyReadFromKafkaGivesWhatItGivesFromAFile) {
    testing::TestBroker broker(dir_, {"clicks:2", "summaries:2"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks", lines_, user_of), lines_.size());

    auto from_file = run_yaml(topology("    type: file\n    path: " + input_.string() + "\n"));
    ASSERT_TRUE(from_file.status.is_ok()) << from_file.status.message();
    auto file_out = sorted_outputs();
    ASSERT_FALSE(file_out["summaries"].empty());
    ASSERT_FALSE(file_out["bots"].empty());

    // The summaries also go to a Kafka topic, read back by a plain consumer.
    auto from_kafka = run_yaml(
        topology(kafka_source(broker.bootstrap(), "clicks", "same"), "",
                 "  to_kafka: {type: kafka, input: sessions, brokers: " + broker.bootstrap() +
                     ", topic: summaries, key_field: session_id}\n"));
    ASSERT_TRUE(from_kafka.status.is_ok()) << from_kafka.status.message();
    auto kafka_out = sorted_outputs();
    for (const char* sink : {"summaries", "bots", "errors"}) {
        EXPECT_EQ(kafka_out[sink].size(), file_out[sink].size()) << sink;
        EXPECT_TRUE(kafka_out[sink] == file_out[sink]) << sink << " differs";
    }
    std::vector<std::string> written =
        testing::consume(broker.bootstrap(), "summaries", file_out["summaries"].size());
    std::sort(written.begin(), written.end());
    EXPECT_EQ(written.size(), file_out["summaries"].size());
    EXPECT_TRUE(written == file_out["summaries"]) << "the summaries topic differs";
}

TEST_F(KafkaTest, TheSinkStampsMessagesWithTheEventTimeOnRequest) {
    testing::TestBroker broker(dir_, {"stamped:2", "now:2"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    fs::path part = dir_ / "part.jsonl";
    {
        std::ofstream out(part);
        for (size_t i = 0; i < 200; ++i) {
            out << lines_[i] << "\n";
        }
    }
    auto wall_ms = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    int64_t before = wall_ms();
    auto run = run_yaml("sources:\n  clicks: {type: file, path: " + part.string() +
                        ", event_time: {field: ts, unit: ms}}\n"
                        "sinks:\n"
                        "  stamped: {type: kafka, input: clicks, brokers: " +
                        broker.bootstrap() +
                        ", topic: stamped, timestamp: event_time}\n"
                        "  now: {type: kafka, input: clicks, brokers: " +
                        broker.bootstrap() + ", topic: now}\n");
    ASSERT_TRUE(run.status.is_ok()) << run.status.message();
    int64_t after = wall_ms();
    std::vector<int64_t> times;
    std::vector<std::string> stamped =
        testing::consume(broker.bootstrap(), "stamped", 200, 20000, &times);
    ASSERT_EQ(stamped.size(), 200u);
    for (size_t i = 0; i < stamped.size(); ++i) {
        EXPECT_EQ(times[i], static_cast<int64_t>(testing::num(stamped[i], "ts"))) << stamped[i];
    }
    times.clear();
    std::vector<std::string> now = testing::consume(broker.bootstrap(), "now", 200, 20000, &times);
    ASSERT_EQ(now.size(), 200u);
    for (int64_t t : times) {
        EXPECT_GE(t, before);
        EXPECT_LE(t, after);
    }
}

/// A mock cluster in this process, so that a test can inject errors.
struct InProcessCluster {
    InProcessCluster(const std::vector<std::pair<std::string, int>>& topics) {
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
        owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        cluster = owner != nullptr ? rd_kafka_mock_cluster_new(owner, 1) : nullptr;
        if (cluster != nullptr) {
            for (const auto& [topic, partitions] : topics) {
                rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, 1);
            }
            bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
        }
    }
    ~InProcessCluster() {
        if (cluster != nullptr) {
            rd_kafka_mock_cluster_destroy(cluster);
        }
        if (owner != nullptr) {
            rd_kafka_destroy(owner);
        }
    }
    rd_kafka_t* owner = nullptr;
    rd_kafka_mock_cluster_t* cluster = nullptr;
    std::string bootstrap;
};

TEST(KafkaClientTest, AConsumerClosedWhileJoiningItsGroupClosesWithinItsBound) {
    // A job that fails at start closes consumers that may be in the middle
    // of joining their group, before it has chosen a rebalance protocol:
    // closing one used to read that protocol's name from a null pointer, and
    // destroying a cooperative-sticky one before its first assignment aborts
    // in librdkafka < 2.3.0 (librdkafka#4312).
    InProcessCluster kafka({{"clicks", 6}});
    ASSERT_FALSE(kafka.bootstrap.empty());
    for (int round = 0; round < 12; ++round) {
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
                 {"bootstrap.servers", kafka.bootstrap},
                 {"group.id", "joining-" + std::to_string(round % 3)},
                 {"partition.assignment.strategy", "cooperative-sticky"},
                 {"session.timeout.ms", "6000"},
                 {"heartbeat.interval.ms", "500"},
                 {"log_level", "3"}}) {
            ASSERT_EQ(rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr),
                      RD_KAFKA_CONF_OK)
                << errstr;
        }
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        ASSERT_NE(rk, nullptr) << errstr;
        rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, "clicks", RD_KAFKA_PARTITION_UA);
        ASSERT_EQ(rd_kafka_subscribe(rk, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(topics);
        // Close at various points of the join: before, during, after.
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(150 * round);
        while (std::chrono::steady_clock::now() < until) {
            if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 20)) {
                rd_kafka_message_destroy(m);
            }
        }
        // Whether the group has assigned it (the automatic assignment, as no
        // rebalance callback is set), as a kafka source tracks it.
        rd_kafka_topic_partition_list_t* assignment = nullptr;
        ASSERT_EQ(rd_kafka_assignment(rk, &assignment), RD_KAFKA_RESP_ERR_NO_ERROR);
        bool assigned = assignment->cnt > 0;
        rd_kafka_topic_partition_list_destroy(assignment);
        auto started = std::chrono::steady_clock::now();
        close_kafka_client(rk, assigned);
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(12))
            << "round " << round;
    }
}

TEST_F(KafkaTest, ATransactionalSinkCommitsItsOutputWithEachCheckpoint) {
    InProcessCluster mock({{"out", 2}});
    ASSERT_FALSE(mock.bootstrap.empty());
    fs::path part = dir_ / "part.jsonl";
    {
        std::ofstream out(part);
        for (size_t i = 0; i < 2000; ++i) {
            out << lines_[i] << "\n";
        }
    }
    auto yaml = [&](const std::string& state) {
        return "name: txn\n" + state + "sources:\n  clicks: {type: file, path: " + part.string() +
               ", event_time: {field: ts, unit: ms}}\n"
               "sinks:\n"
               "  out: {type: kafka, input: clicks, brokers: \"" +
               mock.bootstrap + "\", topic: out, key_field: user_id, transactional: true}\n";
    };
    // Without checkpoints there is no transaction to commit.
    auto stateless = run_yaml(yaml(""));
    EXPECT_FALSE(stateless.status.is_ok());
    EXPECT_NE(stateless.status.message().find(
                  "sink 'out': transactional: true commits one Kafka transaction per checkpoint, "
                  "and this job takes no checkpoints: give the topology a `state:` dir"),
              std::string::npos)
        << stateless.status.message();

    auto run = run_yaml(
        yaml("state: {dir: " + (dir_ / "state").string() + ", checkpoint_interval: 100ms}\n"));
    ASSERT_TRUE(run.status.is_ok()) << run.status.message();
    std::vector<std::string> written = testing::consume(mock.bootstrap, "out", 2000);
    EXPECT_EQ(written.size(), 2000u);
    std::sort(written.begin(), written.end());
    EXPECT_EQ(std::unique(written.begin(), written.end()), written.end()) << "a record twice";

    // A commit the coordinator refuses stops the job, naming the sink; the
    // transaction is aborted.
    constexpr int16_t kEndTxn = 26;
    rd_kafka_mock_push_request_errors(mock.cluster, kEndTxn, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    auto fenced = run_yaml(
        yaml("state: {dir: " + (dir_ / "fenced").string() + ", checkpoint_interval: 100ms}\n"));
    EXPECT_FALSE(fenced.status.is_ok());
    EXPECT_NE(
        fenced.status.message().find("sink 'out': committing the checkpoint's transaction failed"),
        std::string::npos)
        << fenced.status.message();
}

TEST_F(KafkaTest, ATransactionalSinkDoesNotSendRecordsToErrors) {
    auto run = run_yaml("name: errs\nstate: {dir: " + (dir_ / "state").string() +
                        "}\nsources:\n  clicks: {type: file, path: " + input_.string() +
                        "}\nsinks:\n"
                        "  out: {type: kafka, input: clicks, brokers: 127.0.0.1:1, topic: a, "
                        "transactional: true, on_error: errors}\n"
                        "  dead: {type: null, input: out.errors}\n");
    EXPECT_FALSE(run.status.is_ok());
    EXPECT_NE(run.status.message().find("on_error: errors does not go with transactional: true"),
              std::string::npos)
        << run.status.message();
    EXPECT_NE(run.status.message().find("sink 'out'"), std::string::npos) << run.status.message();
}

TEST_F(KafkaTest, OneSinkPerTopologyIsTransactional) {
    auto run = run_yaml("name: two\nstate: {dir: " + (dir_ / "state").string() +
                        "}\nsources:\n  clicks: {type: file, path: " + input_.string() +
                        "}\nsinks:\n"
                        "  a: {type: kafka, input: clicks, brokers: 127.0.0.1:1, topic: a, "
                        "transactional: true}\n"
                        "  b: {type: kafka, input: clicks, brokers: 127.0.0.1:1, topic: b, "
                        "transactional: true}\n");
    EXPECT_FALSE(run.status.is_ok());
    EXPECT_NE(run.status.message().find("sink 'b': transactional: true, as sink 'a' has; one "
                                        "transactional sink per topology"),
              std::string::npos)
        << run.status.message();
}

// kcat, a real Kafka client, on both ends: it produces 100,000 events and
// reads the summaries back.
TEST_F(KafkaTest, KcatProducingAndConsumingGivesWhatAFileGives) {
    if (std::system("command -v kcat >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "kcat is not installed (scripts/install-deps.sh installs it)";
    }
    // 10 partitions: about 3.2 MB each, under the test broker's 5 MiB.
    testing::TestBroker broker(dir_, {"clicks:10", "summaries:4"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    fs::path big = dir_ / "big.jsonl";
    ASSERT_EQ(std::system((std::string("'") + EDDY_BINARY +
                           "' gen --events 100000 --users 3000 --seed 11 --out '" + big.string() +
                           "' >/dev/null 2>&1")
                              .c_str()),
              0);
    {
        // Keyed by user: each user's events stay in order in one partition.
        std::ifstream in(big);
        std::ofstream keyed(dir_ / "keyed.txt");
        for (std::string line; std::getline(in, line);) {
            keyed << user_of(line) << '\t' << line << '\n';
        }
    }
    ASSERT_EQ(
        std::system(("kcat -P -b " + broker.bootstrap() + " -t clicks -K '\t' -l '" +
                     (dir_ / "keyed.txt").string() + "' 2>>'" + (dir_ / "kcat.log").string() + "'")
                        .c_str()),
        0)
        << read_log(dir_ / "kcat.log");

    auto from_file = run_yaml(topology("    type: file\n    path: " + big.string() + "\n"));
    ASSERT_TRUE(from_file.status.is_ok()) << from_file.status.message();
    auto file_out = sorted_outputs();
    ASSERT_GT(file_out["summaries"].size(), 1000u);

    auto from_kafka = run_yaml(topology(kafka_source(broker.bootstrap(), "clicks", "kcat"), "",
                                        "  to_kafka: {type: kafka, input: sessions, brokers: \"" +
                                            broker.bootstrap() +
                                            "\", topic: summaries, key_field: session_id}\n"));
    ASSERT_TRUE(from_kafka.status.is_ok()) << from_kafka.status.message();
    EXPECT_EQ(from_kafka.job->metrics().source_records(), 100000u);
    auto kafka_out = sorted_outputs();
    EXPECT_TRUE(kafka_out["bots"] == file_out["bots"]) << "bots differ";

    fs::path read_back = dir_ / "summaries.txt";
    ASSERT_EQ(
        std::system(("kcat -C -b " + broker.bootstrap() + " -t summaries -o beginning -e -q > '" +
                     read_back.string() + "' 2>>'" + (dir_ / "kcat.log").string() + "'")
                        .c_str()),
        0)
        << read_log(dir_ / "kcat.log");
    std::vector<std::string> written;
    std::ifstream in(read_back);
    for (std::string line; std::getline(in, line);) {
        written.push_back(line);
    }
    std::sort(written.begin(), written.end());
    EXPECT_EQ(written.size(), file_out["summaries"].size());
    EXPECT_TRUE(written == file_out["summaries"]) << "the summaries kcat read differ";
}

TEST_F(KafkaTest, AJobStoppedAndResumedEndsWithTheStateOfOneRunAndCommitsItsOffsets) {
    testing::TestBroker broker(dir_, {"clicks:4"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks", lines_, user_of), lines_.size());

    auto whole = run_yaml(topology(kafka_source(broker.bootstrap(), "clicks", "whole"), "whole"));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message();
    EXPECT_EQ(whole.job->metrics().source_records(), static_cast<size_t>(kEvents));
    whole.job.reset();

    auto first = run_yaml(topology(kafka_source(broker.bootstrap(), "clicks", "parts"), "parts",
                                   "  stop: {type: stop_after, input: clicks, records: 5000}\n"));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message();
    size_t first_records = first.job->metrics().source_records();
    EXPECT_LT(first_records, static_cast<size_t>(kEvents));
    first.job.reset();  // closes its state dir
    auto second = run_yaml(topology(kafka_source(broker.bootstrap(), "clicks", "parts"), "parts"));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    // Each message was read once: the second run resumed after the checkpoint's offsets.
    EXPECT_EQ(first_records + second.job->metrics().source_records(), static_cast<size_t>(kEvents));
    second.job.reset();
    EXPECT_TRUE(testing::read_state((dir_ / "parts").string(), true) ==
                testing::read_state((dir_ / "whole").string(), true))
        << "the resumed job's state differs from one run's";

    // After the last checkpoint the group's committed offsets are the ends.
    EXPECT_EQ(testing::committed_offsets(broker.bootstrap(), "parts", "clicks", 4),
              testing::partition_ends(broker.bootstrap(), "clicks", 4));
}

/// The (user_id, ts) of each line: what identifies an input event.
std::multiset<std::string> ids_of(const std::vector<std::string>& lines) {
    std::multiset<std::string> ids;
    for (const std::string& line : lines) {
        size_t ts = line.find("\"ts\":");
        ids.insert(user_of(line) + "@" + line.substr(ts, line.find(',', ts) - ts));
    }
    return ids;
}

TEST_F(KafkaTest, AssignmentAllReadsEveryPartitionWithoutJoiningTheGroupAndCommitsToIt) {
    testing::TestBroker broker(dir_, {"clicks:8"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks", lines_, user_of), lines_.size());
    auto from_file = run_yaml(topology("    type: file\n    path: " + input_.string() + "\n"));
    ASSERT_TRUE(from_file.status.is_ok()) << from_file.status.message();
    auto file_out = sorted_outputs();

    auto started = std::chrono::steady_clock::now();
    auto all = run_yaml(
        topology(kafka_source(broker.bootstrap(), "clicks", "everyone") + "    assignment: all\n",
                 "all", "  raw: {type: collect, input: clicks}\n"));
    auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(all.status.is_ok()) << all.status.message();
    EXPECT_EQ(all.job->metrics().source_records(), static_cast<size_t>(kEvents));
    auto kafka_out = sorted_outputs();
    EXPECT_TRUE(ids_of(kafka_out["raw"]) == ids_of(lines_)) << "the messages read differ";
    for (const char* sink : {"summaries", "bots", "errors"}) {
        EXPECT_TRUE(kafka_out[sink] == file_out[sink]) << sink << " differs";
    }
    // No group join, which takes about 3 s on this broker (a loose bound).
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), 2500);
    all.job.reset();
    // The offsets are committed to the group all the same, for lag tools.
    EXPECT_EQ(testing::committed_offsets(broker.bootstrap(), "everyone", "clicks", 8),
              testing::partition_ends(broker.bootstrap(), "clicks", 8));
}

TEST_F(KafkaTest, AssignmentAllResumesFromTheCheckpointElseFromTheGroupsOffsets) {
    testing::TestBroker broker(dir_, {"clicks:4"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    std::vector<std::string> first(lines_.begin(), lines_.begin() + kEvents / 2);
    std::vector<std::string> second(lines_.begin() + kEvents / 2, lines_.end());
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks", first, user_of), first.size());
    auto source = [&](const std::string& group, bool until_end) {
        return kafka_source(broker.bootstrap(), "clicks", group, until_end) +
               "    assignment: all\n";
    };
    const std::string raw = "  raw: {type: collect, input: clicks}\n";

    // Stopped once it has read everything there is (a job that ran to the
    // end of its input stays ended when restarted).
    auto a = run_yaml(topology(source("a", false), "resume",
                               raw + "  stop: {type: stop_after, input: clicks, records: " +
                                   std::to_string(first.size()) + "}\n"));
    ASSERT_TRUE(a.status.is_ok()) << a.status.message();
    EXPECT_TRUE(ids_of(testing::collected()["raw"]) == ids_of(first));
    a.job.reset();  // closes its state dir
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks", second, user_of), second.size());

    // Group `b` has committed nothing: the checkpoint's offsets are what skip
    // the first half.
    auto b = run_yaml(topology(source("b", true), "resume", raw));
    ASSERT_TRUE(b.status.is_ok()) << b.status.message();
    EXPECT_EQ(b.job->metrics().source_records(), second.size());
    EXPECT_TRUE(ids_of(testing::collected()["raw"]) == ids_of(second)) << "not only the new ones";
    b.job.reset();

    // Without state, group `a`'s committed offsets (the first run's ends) are
    // where it starts.
    auto c = run_yaml(topology(source("a", true), "", raw));
    ASSERT_TRUE(c.status.is_ok()) << c.status.message();
    EXPECT_TRUE(ids_of(testing::collected()["raw"]) == ids_of(second)) << "not only the new ones";
}

TEST_F(KafkaTest, AssignmentAllReadsEveryTopicARegexMatches) {
    testing::TestBroker broker(dir_, {"clicks-a:2", "clicks-b:3", "other:1"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    std::vector<std::string> a(lines_.begin(), lines_.begin() + 4000);
    std::vector<std::string> b(lines_.begin() + 4000, lines_.begin() + 10000);
    std::vector<std::string> other(lines_.begin() + 10000, lines_.end());
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks-a", a, user_of), a.size());
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks-b", b, user_of), b.size());
    ASSERT_EQ(testing::produce(broker.bootstrap(), "other", other, user_of), other.size());
    auto r = run_yaml(topology(
        kafka_source(broker.bootstrap(), "\"^clicks-[ab]$\"", "regex") + "    assignment: all\n",
        "", "  raw: {type: collect, input: clicks}\n"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    std::vector<std::string> want(lines_.begin(), lines_.begin() + 10000);
    EXPECT_EQ(r.job->metrics().source_records(), want.size());
    EXPECT_TRUE(ids_of(testing::collected()["raw"]) == ids_of(want)) << "other topics read";
}

/// `eddy run` (the binary) of bot_filter and sessionizer from Kafka to files,
/// with state in dir/state and outputs in dir/out.
fs::path write_binary_topology(const fs::path& dir, const std::string& bootstrap,
                               const std::string& group) {
    fs::create_directories(dir);
    std::ofstream(dir / "topology.yaml")
        << "name: kafka_crash\nstate: {dir: " << (dir / "state").string()
        << ", checkpoint_interval: 100ms}\n"
           "sources:\n  clicks:\n    type: kafka\n    brokers: \""
        << bootstrap << "\"\n    topics: [clicks]\n    group: " << group
        << "\n    until_end: true\n"
           // Small fetches over a slow broker: the input takes seconds to read.
           "    properties: {session.timeout.ms: 6000, fetch.wait.max.ms: 10,"
           " heartbeat.interval.ms: 500, max.partition.fetch.bytes: 4096}\n"
           "    event_time: {field: ts, unit: ms}\n"
           "    watermark: {max_out_of_orderness: 3650d}\n"
           "operators:\n"
           "  humans: {type: bot_filter, input: clicks, key: user_id}\n"
           "  sessions: {type: sessionizer, input: humans, key: user_id, gap: 30m,"
           " annotate: true}\n"
           "sinks:\n"
           "  events: {type: file, input: sessions, path: "
        << (dir / "out" / "events.jsonl").string()
        << "}\n"
           "  bots: {type: file, input: humans.bots, path: "
        << (dir / "out" / "bots.jsonl").string()
        << "}\n"
           "  rest: {type: null, inputs: [sessions.sessions, humans.late, sessions.late]}\n";
    return dir / "topology.yaml";
}

/// The (user_id, ts) of every line of a file: what identifies an input event.
std::set<std::string> event_ids(const fs::path& file) {
    std::set<std::string> ids;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        size_t ts = line.find("\"ts\":");
        ids.insert(user_of(line) + "@" + line.substr(ts, line.find(',', ts) - ts));
    }
    return ids;
}

TEST_F(KafkaTest, AJobKilledMidStreamAndRestartedLosesNothingAndEndsWithTheSameState) {
    testing::TestBroker broker(dir_, {"clicks:4"}, /*rtt_ms=*/25);
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    ASSERT_EQ(testing::produce(broker.bootstrap(), "clicks", lines_, user_of), lines_.size());

    fs::path reference = write_binary_topology(dir_ / "reference", broker.bootstrap(), "ref");
    ASSERT_EQ(eddy::testing::wait_exit(eddy::testing::start_eddy_run(
                  reference, dir_ / "reference" / "log.txt", {"--fresh"})),
              0)
        << read_log(dir_ / "reference" / "log.txt");

    fs::path crashed = write_binary_topology(dir_ / "crashed", broker.bootstrap(), "crashed");
    fs::path log = dir_ / "crashed" / "log.txt";
    std::mt19937 rng(std::random_device{}());
    int kills = 0;
    for (int attempt = 0; attempt < 6 && kills < 2; ++attempt) {
        size_t before = read_log(log).size();
        pid_t pid = eddy::testing::start_eddy_run(
            crashed, log,
            attempt == 0 ? std::vector<std::string>{"--fresh"} : std::vector<std::string>{});
        // Killed once it reads: after its partitions were assigned.
        for (int i = 0; i < 400 && read_log(log).find("assigned", before) == std::string::npos;
             ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1500)(rng)));
        if (::kill(pid, SIGKILL) == 0) {
            int status = 0;
            ::waitpid(pid, &status, 0);
            kills += WIFSIGNALED(status) ? 1 : 0;
        }
    }
    ASSERT_GE(kills, 1) << "the job finished before it could be killed";
    ASSERT_EQ(eddy::testing::wait_exit(eddy::testing::start_eddy_run(crashed, log)), 0)
        << read_log(log);
    EXPECT_NE(read_log(log).find("restored checkpoint"), std::string::npos);
    // The source reports what it read and the lag it left: none, at the end.
    EXPECT_NE(read_log(log).rfind("lag at close: 0 message(s)"), std::string::npos);

    EXPECT_TRUE(testing::read_state((dir_ / "crashed" / "state").string(), true) ==
                testing::read_state((dir_ / "reference" / "state").string(), true))
        << "the state after kills differs from an uninterrupted run's";
    // At-least-once outputs: every input event is in them (some twice).
    std::set<std::string> want = event_ids(input_);
    std::set<std::string> got = event_ids(dir_ / "crashed" / "out" / "events.jsonl");
    std::set<std::string> bots = event_ids(dir_ / "crashed" / "out" / "bots.jsonl");
    got.insert(bots.begin(), bots.end());
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "input events missing from the outputs";
}

TEST_F(KafkaTest, ABrokerDownInjectedErrorsAndLatencyLoseNothing) {
    // The cluster runs in this process so that the test can inject faults.
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    ASSERT_NE(owner, nullptr) << errstr;
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(owner, 3);
    ASSERT_NE(cluster, nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster, "clicks", 4, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster, "summaries", 4, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    ASSERT_EQ(testing::produce(bootstrap, "clicks", lines_, user_of), lines_.size());

    auto from_file = run_yaml(topology("    type: file\n    path: " + input_.string() + "\n"));
    ASSERT_TRUE(from_file.status.is_ok()) << from_file.status.message();
    auto file_out = sorted_outputs();

    rd_kafka_mock_broker_set_rtt(cluster, -1, 50);
    std::thread faults([cluster] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        constexpr int16_t kProduce = 0;
        constexpr int16_t kFetch = 1;
        rd_kafka_mock_push_request_errors(cluster, kFetch, 3, RD_KAFKA_RESP_ERR__TRANSPORT,
                                          RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                          RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        rd_kafka_mock_push_request_errors(cluster, kProduce, 3, RD_KAFKA_RESP_ERR__TRANSPORT,
                                          RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                          RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        rd_kafka_mock_broker_set_down(cluster, 2);
        std::this_thread::sleep_for(std::chrono::seconds(5));
        rd_kafka_mock_broker_set_up(cluster, 2);
    });
    auto from_kafka =
        run_yaml(topology(kafka_source(bootstrap, "clicks", "faults"), "",
                          "  to_kafka: {type: kafka, input: sessions, brokers: \"" + bootstrap +
                              "\", topic: summaries, key_field: session_id}\n"));
    faults.join();
    ASSERT_TRUE(from_kafka.status.is_ok()) << from_kafka.status.message();
    auto kafka_out = sorted_outputs();
    for (const char* sink : {"summaries", "bots"}) {
        EXPECT_EQ(kafka_out[sink].size(), file_out[sink].size()) << sink;
        EXPECT_TRUE(kafka_out[sink] == file_out[sink]) << sink << " differs";
    }
    // Retried produce requests wrote every summary once (idempotent producer).
    std::vector<std::string> written =
        testing::consume(bootstrap, "summaries", file_out["summaries"].size() + 1, 5000);
    std::sort(written.begin(), written.end());
    EXPECT_TRUE(written == file_out["summaries"])
        << written.size() << " messages, expected " << file_out["summaries"].size();
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(owner);
}

TEST_F(KafkaTest, UndecodableMessagesGoToErrorsWithTopicPartitionAndOffset) {
    testing::TestBroker broker(dir_, {"mixed:1"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    std::vector<std::string> messages(lines_.begin(), lines_.begin() + 100);
    messages.insert(messages.begin() + 10, "this is not json");
    messages.insert(messages.begin() + 50, "{\"user_id\": \"u1\", \"ts\": ");
    ASSERT_EQ(testing::produce(broker.bootstrap(), "mixed", messages,
                               [](const std::string&) { return std::string(); }),
              messages.size());
    auto r = run_yaml(topology(kafka_source(broker.bootstrap(), "mixed", "mixed")));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    const auto& errors = testing::collected()["errors"];
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_THAT(errors[0], HasSubstr("mixed/0@10: "));
    EXPECT_THAT(errors[0], HasSubstr("\"error_position\":10"));
    EXPECT_THAT(errors[0], HasSubstr("this is not json"));
    EXPECT_THAT(errors[1], HasSubstr("mixed/0@50: "));
    EXPECT_EQ(r.job->metrics().source_records(), 102u);  // every message, errors included
}

TEST_F(KafkaTest, ANewGroupStartingAtLatestSkipsWhatIsAlreadyThere) {
    testing::TestBroker broker(dir_, {"old:1"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    std::vector<std::string> messages(lines_.begin(), lines_.begin() + 50);
    ASSERT_EQ(testing::produce(broker.bootstrap(), "old", messages, user_of), messages.size());
    auto latest = run_yaml(
        topology(kafka_source(broker.bootstrap(), "old", "late_comer") + "    start: latest\n"));
    ASSERT_TRUE(latest.status.is_ok()) << latest.status.message();
    EXPECT_EQ(latest.job->metrics().source_records(), 0u);

    auto bad =
        run_yaml(topology(kafka_source(broker.bootstrap(), "old", "g") + "    start: yesterday\n"));
    ASSERT_FALSE(bad.status.is_ok());
    EXPECT_THAT(bad.status.message(), HasSubstr("start 'yesterday' is not earliest, latest"));
}

TEST_F(KafkaTest, AnUnreachableBrokerAndAMissingTopicAreClearErrorsAtStart) {
    auto unreachable =
        run_yaml(topology("    type: kafka\n    brokers: 127.0.0.1:1\n    topics: [clicks]\n"
                          "    connect_timeout: 2s\n"));
    ASSERT_FALSE(unreachable.status.is_ok());
    EXPECT_THAT(
        unreachable.status.message(),
        HasSubstr("source 'clicks': no answer from Kafka brokers '127.0.0.1:1' within 2 s"));

    testing::TestBroker broker(dir_, {"clicks:1"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";
    auto missing = run_yaml(topology(kafka_source(broker.bootstrap(), "nope", "g")));
    ASSERT_FALSE(missing.status.is_ok());
    EXPECT_THAT(missing.status.message(), HasSubstr("topic 'nope' does not exist"));

    auto bad_setting = run_yaml(topology("    type: kafka\n    brokers: " + broker.bootstrap() +
                                         "\n    topics: [clicks]\n"
                                         "    properties: {no.such.setting: 1}\n"));
    ASSERT_FALSE(bad_setting.status.is_ok());
    EXPECT_THAT(bad_setting.status.message(), HasSubstr("no.such.setting"));
}

TEST_F(KafkaTest, AnUnknownAssignmentAndABadTopicRegexAreConfigErrors) {
    auto unknown = run_yaml(
        topology(kafka_source("127.0.0.1:1", "clicks", "g") + "    assignment: everything\n"));
    ASSERT_FALSE(unknown.status.is_ok());
    EXPECT_THAT(unknown.status.message(), HasSubstr("assignment"));
    EXPECT_THAT(unknown.status.message(), HasSubstr("must be one of group, all, got `everything`"));
    EXPECT_THAT(unknown.status.message(), HasSubstr("test.yaml:"));

    auto bad_regex = run_yaml(
        topology(kafka_source("127.0.0.1:1", "\"^clicks-(\"", "g") + "    assignment: all\n"));
    ASSERT_FALSE(bad_regex.status.is_ok());
    EXPECT_THAT(bad_regex.status.message(),
                HasSubstr("'^clicks-(' is not a POSIX extended regular expression"));
}

}  // namespace
}  // namespace eddy
