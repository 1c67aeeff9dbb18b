// SPDX-License-Identifier: Apache-2.0
// topologies/personalization.yaml end to end, as `make demo` runs it: a
// generated clickstream through cleaning, behaviour, segments, three
// recommendation strategies and the bandit choosing among them, into Redis
// and Kafka (a redis-server and the test broker started here), with the
// HTTP API answering while the stream is still open.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "json_fields.h"
#include "kafka_support.h"
#include "process.h"
#include "redis_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::num;
using testing::raw;

using eddy::testing::read_lines;

/// Writes `lines[from, to)` to `fd`, each with its newline.
bool write_lines(int fd, const std::vector<std::string>& lines, size_t from, size_t to) {
    std::string chunk;
    for (size_t i = from; i < to; ++i) {
        chunk += lines[i];
        chunk += '\n';
    }
    size_t done = 0;
    while (done < chunk.size()) {
        ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
        if (n <= 0) {
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

/// The string value of `field` in a JSON object line, unquoted.
std::string text(const std::string& line, const std::string& field) {
    std::string v = raw(line, field);
    return v.size() >= 2 && v.front() == '"' ? v.substr(1, v.size() - 2) : v;
}

TEST(PersonalizationTest, TheWholePipelineFeedsRedisKafkaAndTheApiWhileTheStreamRuns) {
    if (testing::find_redis_server().empty()) {
        GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh installs it)";
    }
    fs::path dir =
        fs::temp_directory_path() / ("eddy_personalization_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "redis");
    testing::RedisServer redis(dir / "redis", {});
    testing::TestBroker broker(dir, {"decisions:2", "recommendations:2"});
    ASSERT_FALSE(broker.bootstrap().empty()) << "eddy broker did not start";

    testing::ProgramOutcome gen =
        testing::run_program({EDDY_BINARY, "gen", "--events", "40000", "--users", "600", "--seed",
                              "5", "--out", (dir / "clicks.jsonl").string()});
    ASSERT_EQ(gen.exit_code, 0) << gen.both();
    std::vector<std::string> events = read_lines(dir / "clicks.jsonl");
    ASSERT_EQ(events.size(), 40000u);

    // The job reads a FIFO: the stream stays open until the test closes it.
    fs::path fifo = dir / "clicks.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    ::setenv("EDDY_DEMO_INPUT", fifo.c_str(), 1);
    ::setenv("EDDY_DEMO_OUT", dir.c_str(), 1);
    ::setenv("EDDY_REDIS", redis.address().c_str(), 1);
    ::setenv("KAFKA_BROKERS", broker.bootstrap().c_str(), 1);
    ::setenv("EDDY_PII_KEY_FILE", EDDY_SOURCE_DIR "/tests/fixtures/privacy/demo-pii.key", 1);
    fs::path port_file = dir / "http.port";
    pid_t job =
        testing::start_eddy_run(EDDY_SOURCE_DIR "/topologies/personalization.yaml", dir / "run.log",
                                {"--http", "127.0.0.1:0", "--http-port-file", port_file.string()});
    int fd = ::open(fifo.c_str(), O_WRONLY);  // waits for the job to open it
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(write_lines(fd, events, 0, events.size() / 2));

    // While the stream is open: Redis fills, and the API answers for a user
    // the job has seen (by the pseudonym: no raw id is stored anywhere).
    testing::Client client(redis.port());
    ASSERT_TRUE(client.ok());
    std::string user;
    for (int i = 0; i < 600 && user.empty(); ++i) {
        testing::Reply keys = client.run({"KEYS", "recs:hybrid:*"});
        if (!keys.elements.empty()) {
            user = keys.elements.front().substr(std::string("recs:hybrid:").size());
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    ASSERT_FALSE(user.empty()) << "no recommendations reached Redis while the stream ran";
    EXPECT_FALSE(std::regex_match(user, std::regex("u[0-9]+"))) << user;
    int port = 0;
    for (int i = 0; i < 100 && port == 0; ++i) {
        std::ifstream(port_file) >> port;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GT(port, 0);
    httplib::Client api("127.0.0.1", port);
    auto recs = api.Get("/v1/recommendations/" + user + "?n=5");
    ASSERT_TRUE(recs);
    EXPECT_EQ(recs->status, 200) << recs->body;
    EXPECT_THAT(recs->body, HasSubstr("\"known\":true"));
    EXPECT_THAT(recs->body, HasSubstr("\"operator\":\"hybrid\""));
    EXPECT_THAT(recs->body, HasSubstr("\"item\""));
    auto profile = api.Get("/v1/profiles/" + user);
    ASSERT_TRUE(profile);
    EXPECT_EQ(profile->status, 200) << profile->body;
    EXPECT_THAT(profile->body, HasSubstr("\"known\":true"));

    ASSERT_TRUE(write_lines(fd, events, events.size() / 2, events.size()));
    ::close(fd);
    int code = testing::wait_exit(job);
    std::ifstream log_in(dir / "run.log");
    std::string log((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(code, 0) << log;

    // Redis: every strategy's list, the latest decision, the next categories
    // and the profile of the user, each with its TTL.
    for (const char* prefix : {"recs:hybrid:", "recs:similar:", "recs:popular:", "next:"}) {
        std::string value = client.get(prefix + user);
        EXPECT_EQ(text(value, "user_id"), user) << prefix << " " << value;
        EXPECT_GT(client.pttl(prefix + user), 3'600'000) << prefix;  // ttl: 1d
    }
    EXPECT_NE(raw(client.get("recs:hybrid:" + user), "item_1"), "");
    EXPECT_NE(raw(client.get("next:" + user), "action_1"), "");
    std::string decision = client.get("strategy:" + user);
    EXPECT_THAT(text(decision, "arm"), ::testing::AnyOf("hybrid", "similar", "popular"));
    EXPECT_THAT(text(decision, "decision_id"), ::testing::StartsWith(user + ":"));
    EXPECT_GT(num(decision, "propensity"), 0);
    EXPECT_GT(client.pttl("strategy:" + user), 0);
    std::map<std::string, std::string> hash = client.hgetall("profile:" + user);
    EXPECT_EQ(hash["user_id"], user);
    EXPECT_TRUE(hash.count("frequency")) << "profile:" << user;

    // The bandit: every decision went to Kafka and was resolved (rewarded or
    // counted 0 when its window closed) by the end of the input.
    fs::path p = dir / "personalization";
    std::vector<std::string> estimates = read_lines(p / "strategy_estimates.jsonl");
    ASSERT_FALSE(estimates.empty());
    std::map<std::string, std::string> last_arm;  // (device, arm) -> its last estimate
    for (const std::string& e : estimates) {
        if (text(e, "kind") == "arm") {
            last_arm[text(e, "device") + "/" + text(e, "arm")] = e;
        }
    }
    double pulls = 0;
    double resolved = 0;
    double rewards = 0;
    for (const auto& [arm, e] : last_arm) {
        pulls += num(e, "pulls");
        resolved += num(e, "resolved");
        rewards += num(e, "rewards");
    }
    EXPECT_GT(pulls, 1000);
    EXPECT_EQ(resolved, pulls);
    EXPECT_GT(rewards, 0);  // last-touch attribution credits the generated clicks
    std::vector<std::string> decisions =
        testing::consume(broker.bootstrap(), "decisions", static_cast<size_t>(pulls));
    ASSERT_EQ(decisions.size(), static_cast<size_t>(pulls));
    std::set<std::string> ids;
    for (const std::string& d : decisions) {
        ids.insert(text(d, "decision_id"));
    }
    EXPECT_EQ(ids.size(), decisions.size());
    EXPECT_FALSE(testing::consume(broker.bootstrap(), "recommendations", 1).empty());

    // The hybrid recommender's own outputs, as before the tactics.
    std::vector<std::string> hybrid = read_lines(p / "recommendations.jsonl");
    ASSERT_GT(hybrid.size(), 1000u);
    int full = 0;
    int with_segment = 0;
    for (const std::string& r : hybrid) {
        ASSERT_FALSE(std::regex_match(text(r, "user_id"), std::regex("u[0-9]+"))) << r;
        if (raw(r, "item_10") != "") {
            ++full;
            EXPECT_GE(num(r, "score_1"), num(r, "score_10")) << r;
            EXPECT_THAT(raw(r, "source_1"),
                        ::testing::AnyOf("\"item_similarity\"", "\"mf\"", "\"popularity\"",
                                         "\"segment_popularity\""));
        }
        with_segment += raw(r, "segment") != "" && raw(r, "segment") != "null" ? 1 : 0;
    }
    EXPECT_GT(full, static_cast<int>(hybrid.size()) / 2);
    EXPECT_GT(with_segment, static_cast<int>(hybrid.size()) / 2);
    std::vector<std::string> evaluation = read_lines(p / "evaluation.jsonl");
    ASSERT_FALSE(evaluation.empty());
    EXPECT_GT(num(evaluation.back(), "evaluated"), 5000);
    EXPECT_GT(num(evaluation.back(), "hit_rate"), 0.01);
    for (const char* f : {"segments.jsonl", "learned_segments.jsonl", "segment_model.jsonl",
                          "bots.jsonl", "sessions.jsonl", "activity.jsonl"}) {
        EXPECT_FALSE(read_lines(p / f).empty()) << f;
    }
    // Nothing was rejected: every filter and model got the records it expects.
    EXPECT_TRUE(read_lines(p / "errors.jsonl").empty());
    fs::remove_all(dir);
}

}  // namespace
}  // namespace eddy
