// SPDX-License-Identifier: Apache-2.0
// The `redis` sink against a real redis-server that each test starts on a
// free loopback port (and stops, also when it fails): string, hash and list
// writes with TTLs, key templates, records Redis refuses or that cannot make
// a key going to `errors`, a restart of Redis in the middle of a stream
// losing nothing acknowledged, Redis down beyond the retry budget, passwords
// and databases, a whole topology through `eddy run`, the throughput of
// pipelined writes, and the errors bad parameters get. Skipped when
// redis-server is not installed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/spec.h"

#include "fake_context.h"
#include "harness.h"
#include "io_support.h"
#include "process.h"
#include "redis_support.h"
#include "spec_support.h"

::eddy::ComponentSpec eddy_builtin_sink_redis();

namespace eddy {
namespace {

namespace fs = std::filesystem;
using testing::Client;
using testing::FakeContext;
using testing::find_redis_server;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RedisServer;

class RedisSinkTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (find_redis_server().empty()) {
            GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server, or "
                            "scripts/install-deps.sh)";
        }
        dir_ = fs::temp_directory_path() /
               ("eddy_redis_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        server_.reset();
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    RedisServer& start_redis(std::vector<std::string> extra = {}) {
        server_ = std::make_unique<RedisServer>(dir_, std::move(extra));
        return *server_;
    }

    /// A redis sink on the test's server with `given` parameters, opened.
    std::unique_ptr<Sink> open_sink(std::vector<ConfigValue::Entry> given) {
        bool has_address = false;
        for (const auto& e : given) {
            has_address = has_address || e.first == "address";
        }
        if (!has_address) {
            given.emplace_back("address", ConfigValue::string(server_->address()));
        }
        ComponentSpec spec = eddy_builtin_sink_redis();
        Result<std::unique_ptr<Sink>> sink =
            spec.make_sink(make_config(spec, std::move(given), "out"));
        EXPECT_TRUE(sink.is_ok()) << sink.status().to_string();
        if (!sink.is_ok()) {
            return nullptr;
        }
        Status s = sink.value()->open(ctx_);
        EXPECT_TRUE(s.is_ok()) << s.to_string();
        return s.is_ok() ? std::move(sink).value() : nullptr;
    }

    /// Records {user_id: uN, item_1, score_1, n} for n in [first, first + count).
    Batch users(int count, int first = 0) {
        Batch b;
        for (int n = first; n < first + count; ++n) {
            Record& r = b.append();
            r.set(ctx_.field("user_id"), std::string_view("u" + std::to_string(n)));
            r.set(ctx_.field("item_1"), std::string_view("i" + std::to_string(n * 7 % 100)));
            r.set(ctx_.field("score_1"), 0.5);
            r.set(ctx_.field("n"), int64_t{n});
        }
        return b;
    }
    static std::string user_json(int n) {
        return "{\"user_id\":\"u" + std::to_string(n) + "\",\"item_1\":\"i" +
               std::to_string(n * 7 % 100) + "\",\"score_1\":0.5,\"n\":" + std::to_string(n) + "}";
    }

    std::vector<std::string> rejected_reasons() {
        std::vector<std::string> out;
        for (size_t i = 0; i < ctx_.rejected_.size(); ++i) {
            const Value* v = ctx_.rejected_[i].get(ctx_.field("error"));
            out.emplace_back(v != nullptr ? v->as_string() : "");
        }
        return out;
    }

    fs::path dir_;
    std::unique_ptr<RedisServer> server_;
    FakeContext ctx_;
};

TEST_F(RedisSinkTest, SpecIsDocumentedAndTheReferencePageCoversIt) {
    ComponentSpec spec = eddy_builtin_sink_redis();
    EXPECT_EQ(spec.kind, ComponentKind::kSink);
    EXPECT_TRUE(spec.find_param("key")->is_required());
    EXPECT_EQ(*spec.find_param("address")->default_text(), "127.0.0.1:6379");
    testing::expect_doc_covers_spec(spec, "docs/redis.md");
}

TEST_F(RedisSinkTest, StringModeSetsTheRecordAsJsonWithTheTtl) {
    start_redis();
    auto sink = open_sink(
        {{"key", ConfigValue::string("recs:{user_id}")}, {"ttl", ConfigValue::integer(60'000)}});
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(sink->write(users(2500)).is_ok());  // more than one pipeline window
    ASSERT_TRUE(sink->flush().is_ok());
    EXPECT_EQ(ctx_.rejected_.size(), 0u);
    Client redis(server_->port());
    EXPECT_EQ(redis.dbsize(), 2500);
    for (int n : {0, 1, 999, 1000, 2499}) {
        EXPECT_EQ(redis.get("recs:u" + std::to_string(n)), user_json(n));
        long long ttl = redis.pttl("recs:u" + std::to_string(n));
        EXPECT_GT(ttl, 50'000);
        EXPECT_LE(ttl, 60'000);
    }
    ASSERT_TRUE(sink->close().is_ok());
}

TEST_F(RedisSinkTest, StringModeWithoutTtlNeverExpiresAndCanWriteOneFieldOrSome) {
    start_redis();
    auto whole = open_sink({{"key", ConfigValue::string("all:{user_id}")}});
    auto one = open_sink({{"key", ConfigValue::string("item:{user_id}:{n}")},
                          {"value_field", ConfigValue::string("item_1")}});
    auto some = open_sink(
        {{"key", ConfigValue::string("{{literal}}:{user_id}")},
         {"fields", ConfigValue::list({ConfigValue::string("n"), ConfigValue::string("item_1")})}});
    ASSERT_TRUE(whole && one && some);
    Batch b = users(3);
    ASSERT_TRUE(whole->write(b).is_ok());
    ASSERT_TRUE(one->write(b).is_ok());
    ASSERT_TRUE(some->write(b).is_ok());
    Client redis(server_->port());
    EXPECT_EQ(redis.get("all:u2"), user_json(2));
    EXPECT_EQ(redis.pttl("all:u2"), -1);  // no expiry
    EXPECT_EQ(redis.get("item:u2:2"), "i14");
    EXPECT_EQ(redis.get("{literal}:u1"), R"({"n":1,"item_1":"i7"})");
}

TEST_F(RedisSinkTest, HashModeWritesEachFieldAndExpiresTheKey) {
    start_redis();
    auto sink = open_sink({{"key", ConfigValue::string("profile:{user_id}")},
                           {"mode", ConfigValue::string("hash")},
                           {"ttl", ConfigValue::integer(3'600'000)}});
    ASSERT_NE(sink, nullptr);
    Batch b;
    Record& r = b.append();
    r.set(ctx_.field("user_id"), "u1");
    r.set(ctx_.field("visits"), int64_t{12});
    r.set(ctx_.field("dwell"), 2.5);
    r.set(ctx_.field("premium"), true);
    r.set_null(ctx_.field("country"));  // not written: HSET has no null
    std::vector<float> embedding = {0.5F, -1.0F};
    r.set(ctx_.field("embedding"), std::span<const float>(embedding));
    ASSERT_TRUE(sink->write(b).is_ok());
    Client redis(server_->port());
    EXPECT_EQ(redis.hgetall("profile:u1"), (std::map<std::string, std::string>{
                                               {"user_id", "u1"},
                                               {"visits", "12"},
                                               {"dwell", "2.5"},
                                               {"premium", "true"},
                                               {"embedding", "[0.5,-1]"},
                                           }));
    long long ttl = redis.pttl("profile:u1");
    EXPECT_GT(ttl, 3'500'000);
    EXPECT_LE(ttl, 3'600'000);

    // A later record merges into the hash; `fields` chooses what is written.
    auto chosen = open_sink({{"key", ConfigValue::string("profile:{user_id}")},
                             {"mode", ConfigValue::string("hash")},
                             {"fields", ConfigValue::list({ConfigValue::string("visits")})}});
    ASSERT_NE(chosen, nullptr);
    b.clear();
    Record& later = b.append();
    later.set(ctx_.field("user_id"), "u1");
    later.set(ctx_.field("visits"), int64_t{13});
    later.set(ctx_.field("dwell"), 9.0);
    ASSERT_TRUE(chosen->write(b).is_ok());
    EXPECT_EQ(redis.hgetall("profile:u1")["visits"], "13");
    EXPECT_EQ(redis.hgetall("profile:u1")["dwell"], "2.5");
    EXPECT_EQ(ctx_.rejected_.size(), 0u);
}

TEST_F(RedisSinkTest, ListModeKeepsTheLatestEntries) {
    start_redis();
    auto sink = open_sink({{"key", ConfigValue::string("seen:{user_id}")},
                           {"mode", ConfigValue::string("list")},
                           {"value_field", ConfigValue::string("n")},
                           {"max_length", ConfigValue::integer(3)},
                           {"ttl", ConfigValue::integer(60'000)}});
    ASSERT_NE(sink, nullptr);
    Batch b;
    for (int n = 0; n < 10; ++n) {
        Record& r = b.append();
        r.set(ctx_.field("user_id"), "u1");
        r.set(ctx_.field("n"), int64_t{n});
    }
    ASSERT_TRUE(sink->write(b).is_ok());
    Client redis(server_->port());
    EXPECT_EQ(redis.run({"LRANGE", "seen:u1", "0", "-1"}).elements,
              (std::vector<std::string>{"7", "8", "9"}));
    EXPECT_GT(redis.pttl("seen:u1"), 0);
}

TEST_F(RedisSinkTest, ARecordThatCannotMakeItsKeyGoesToErrorsWithTheReason) {
    start_redis();
    auto sink = open_sink({{"key", ConfigValue::string("recs:{user_id}")}});
    ASSERT_NE(sink, nullptr);
    Batch b = users(4);
    b[1].erase(ctx_.field("user_id"));
    b[2].set(ctx_.field("user_id"), "");
    std::vector<float> v = {1.0F};
    b[3].set(ctx_.field("user_id"), std::span<const float>(v));
    ASSERT_TRUE(sink->write(b).is_ok());
    ASSERT_EQ(ctx_.rejected_.size(), 3u);
    std::vector<std::string> reasons = rejected_reasons();
    EXPECT_EQ(reasons[0],
              "the field `user_id` of the key template `recs:{user_id}` is missing; a key needs "
              "a non-empty string, number or boolean");
    EXPECT_THAT(reasons[1], HasSubstr("is empty"));
    EXPECT_THAT(reasons[2], HasSubstr("is a vector"));
    // The record as it was, next to the reason.
    EXPECT_EQ(ctx_.rejected_[0].get(ctx_.field("n"))->as_int(), 1);
    Client redis(server_->port());
    EXPECT_EQ(redis.dbsize(), 1);
    EXPECT_EQ(redis.get("recs:u0"), user_json(0));
}

TEST_F(RedisSinkTest, ACommandRedisRefusesSendsJustItsRecordToErrors) {
    start_redis();
    Client redis(server_->port());
    ASSERT_EQ(redis.run({"SET", "profile:u3", "a string, not a hash"}).str, "OK");
    auto sink = open_sink({{"key", ConfigValue::string("profile:{user_id}")},
                           {"mode", ConfigValue::string("hash")},
                           {"ttl", ConfigValue::integer(60'000)}});
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(sink->write(users(10)).is_ok());
    ASSERT_EQ(ctx_.rejected_.size(), 1u);
    EXPECT_EQ(ctx_.rejected_[0].get(ctx_.field("n"))->as_int(), 3);
    EXPECT_THAT(rejected_reasons()[0],
                HasSubstr("redis refused HSET of key 'profile:u3': WRONGTYPE"));
    EXPECT_EQ(redis.get("profile:u3"), "a string, not a hash");
    // The refused record set no expiry on the key it could not write.
    EXPECT_EQ(redis.pttl("profile:u3"), -1);
    EXPECT_GT(redis.pttl("profile:u0"), 50'000);
    for (int n : {0, 2, 4, 9}) {
        EXPECT_EQ(redis.hgetall("profile:u" + std::to_string(n))["n"], std::to_string(n));
    }

    // With on_error: fail the job stops instead, naming the refusal.
    ctx_.rejected_.clear();
    auto failing = open_sink({{"key", ConfigValue::string("profile:{user_id}")},
                              {"mode", ConfigValue::string("hash")},
                              {"on_error", ConfigValue::string("fail")}});
    ASSERT_NE(failing, nullptr);
    Status s = failing->write(users(10));
    EXPECT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("1 record(s) refused by redis (first: redis "
                                       "refused HSET of key 'profile:u3': WRONGTYPE"));
    EXPECT_EQ(ctx_.rejected_.size(), 0u);
}

TEST_F(RedisSinkTest, ARestartOfRedisMidStreamLosesNothingAcknowledged) {
    // Every acknowledged write is on disk before its reply, so a crash loses
    // only what the sink must send again.
    RedisServer& server = start_redis({"--appendonly", "yes", "--appendfsync", "always"});
    auto sink = open_sink({{"key", ConfigValue::string("k:{n}")},
                           {"retry_backoff", ConfigValue::integer(20)},
                           {"max_backoff", ConfigValue::integer(200)},
                           {"max_retries", ConfigValue::integer(30)}});
    ASSERT_NE(sink, nullptr);
    constexpr int kBatch = 500;
    std::atomic<int> batches{0};
    std::atomic<bool> restarted{false};
    std::atomic<bool> failed{false};
    std::thread writer([&] {
        // Until Redis was restarted and 5 more batches went through.
        int after_restart = 0;
        for (int i = 0; after_restart < 5 && i < 2000; ++i) {
            if (!sink->write(users(kBatch, i * kBatch)).is_ok()) {
                failed = true;
                return;
            }
            ++batches;
            after_restart += restarted ? 1 : 0;
        }
    });
    while (batches < 5) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    bool up = server.start();
    restarted = true;
    writer.join();
    ASSERT_TRUE(up);
    ASSERT_FALSE(failed);
    EXPECT_EQ(ctx_.rejected_.size(), 0u) << rejected_reasons()[0];
    Client redis(server.port());
    const int total = batches * kBatch;
    EXPECT_EQ(redis.dbsize(), total);
    for (int n = 0; n < total; n += 97) {
        ASSERT_EQ(redis.get("k:" + std::to_string(n)), user_json(n)) << n;
    }
    EXPECT_THAT(ctx_.logs_, ::testing::Contains(HasSubstr("lost the connection to redis at")));
    EXPECT_THAT(ctx_.logs_, ::testing::Contains(HasSubstr("reconnected to redis at")));
}

TEST_F(RedisSinkTest, RedisDownBeyondTheRetryBudgetSendsTheRecordsToErrors) {
    RedisServer& server = start_redis();
    auto sink = open_sink({{"key", ConfigValue::string("k:{n}")},
                           {"retry_backoff", ConfigValue::integer(10)},
                           {"max_retries", ConfigValue::integer(2)}});
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(sink->write(users(100)).is_ok());
    server.stop();
    ASSERT_TRUE(sink->write(users(2500, 100)).is_ok());
    // None silently lost: every record of the batch is on `errors`, with why.
    ASSERT_EQ(ctx_.rejected_.size(), 2500u);
    std::set<int64_t> rejected;
    for (size_t i = 0; i < ctx_.rejected_.size(); ++i) {
        rejected.insert(ctx_.rejected_[i].get(ctx_.field("n"))->as_int());
    }
    EXPECT_EQ(rejected.size(), 2500u);
    EXPECT_EQ(*rejected.begin(), 100);
    EXPECT_THAT(rejected_reasons()[0], HasSubstr("redis at " + server.address() +
                                                 " could not be reached after 2 "
                                                 "retries: "));
    EXPECT_THAT(rejected_reasons()[2499], HasSubstr("could not be reached"));

    // When Redis is back, the sink writes again.
    ASSERT_TRUE(server.start());
    ctx_.rejected_.clear();
    ASSERT_TRUE(sink->write(users(10, 5000)).is_ok());
    EXPECT_EQ(ctx_.rejected_.size(), 0u);
    EXPECT_EQ(Client(server.port()).get("k:5009"), user_json(5009));

    // With on_error: fail, the job stops, naming the sink and the address.
    server.stop();
    auto failing_sink = [&] {
        ComponentSpec spec = eddy_builtin_sink_redis();
        auto made = spec.make_sink(make_config(spec,
                                               {{"address", ConfigValue::string(server.address())},
                                                {"key", ConfigValue::string("k:{n}")},
                                                {"retry_backoff", ConfigValue::integer(10)},
                                                {"max_retries", ConfigValue::integer(1)},
                                                {"on_error", ConfigValue::string("fail")}},
                                               "out"));
        return std::move(made).value();
    }();
    Status open = failing_sink->open(ctx_);
    EXPECT_FALSE(open.is_ok());
    EXPECT_THAT(open.message(), HasSubstr("cannot connect to redis at " + server.address()));
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(failing_sink->open(ctx_).is_ok());
    server.stop();
    Status s = failing_sink->write(users(10));
    EXPECT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(),
                HasSubstr("redis at " + server.address() + " could not be reached after 1 retry"));
    EXPECT_THAT(s.message(), HasSubstr("on_error: errors"));
}

TEST_F(RedisSinkTest, ARedisThatStopsAnsweringTimesOutAndIsRetried) {
    RedisServer& server = start_redis();
    auto sink = open_sink({{"key", ConfigValue::string("k:{n}")},
                           {"command_timeout", ConfigValue::integer(200)},
                           {"retry_backoff", ConfigValue::integer(10)},
                           {"max_retries", ConfigValue::integer(1)}});
    ASSERT_NE(sink, nullptr);
    server.pause(true);
    auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(sink->write(users(10)).is_ok());
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
    server.pause(false);
    ASSERT_EQ(ctx_.rejected_.size(), 10u);
    EXPECT_THAT(rejected_reasons()[0],
                HasSubstr("could not be reached after 1 retry: no answer within "
                          "command_timeout (200ms)"));
    // What was sent before the timeout may have been executed: at-least-once.
    ctx_.rejected_.clear();
    ASSERT_TRUE(sink->write(users(10)).is_ok());
    EXPECT_EQ(ctx_.rejected_.size(), 0u);
    EXPECT_EQ(Client(server.port()).get("k:9"), user_json(9));
}

TEST_F(RedisSinkTest, PasswordsComeFromTheEnvironmentOrAFileAndDatabasesAreSelected) {
    const std::string password = "correct horse battery staple";
    start_redis({"--requirepass", password});
    ::setenv("EDDY_TEST_REDIS_PASSWORD", password.c_str(), 1);
    auto from_env = open_sink({{"key", ConfigValue::string("a:{n}")},
                               {"password_env", ConfigValue::string("EDDY_TEST_REDIS_PASSWORD")},
                               {"database", ConfigValue::integer(3)}});
    ASSERT_NE(from_env, nullptr);
    ASSERT_TRUE(from_env->write(users(1)).is_ok());
    std::ofstream(dir_ / "password") << password << "\n";
    auto from_file =
        open_sink({{"key", ConfigValue::string("b:{n}")},
                   {"password_file", ConfigValue::string((dir_ / "password").string())},
                   {"username", ConfigValue::string("default")}});
    ASSERT_NE(from_file, nullptr);
    ASSERT_TRUE(from_file->write(users(1)).is_ok());
    Client redis(server_->port(), password);
    EXPECT_EQ(redis.get("b:0"), user_json(0));
    EXPECT_EQ(redis.get("a:0"), "");  // in database 3
    redis.run({"SELECT", "3"});
    EXPECT_EQ(redis.get("a:0"), user_json(0));

    // A wrong password fails at open, at once, without echoing the password.
    ::setenv("EDDY_TEST_REDIS_PASSWORD", "wrong password", 1);
    ComponentSpec spec = eddy_builtin_sink_redis();
    auto wrong = spec.make_sink(
        make_config(spec,
                    {{"address", ConfigValue::string(server_->address())},
                     {"key", ConfigValue::string("a:{n}")},
                     {"password_env", ConfigValue::string("EDDY_TEST_REDIS_PASSWORD")}},
                    "out"));
    ASSERT_TRUE(wrong.is_ok());
    auto started = std::chrono::steady_clock::now();
    Status s = wrong.value()->open(ctx_);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("redis refused AUTH: WRONGPASS"));
    EXPECT_THAT(s.message(), Not(HasSubstr("wrong password")));
    ::unsetenv("EDDY_TEST_REDIS_PASSWORD");
    auto unset = spec.make_sink(
        make_config(spec,
                    {{"address", ConfigValue::string(server_->address())},
                     {"key", ConfigValue::string("a:{n}")},
                     {"password_env", ConfigValue::string("EDDY_TEST_REDIS_PASSWORD")}},
                    "out"));
    s = unset.value()->open(ctx_);
    EXPECT_THAT(s.message(), HasSubstr("password_env names the environment variable "
                                       "`EDDY_TEST_REDIS_PASSWORD`, which is not set"));
}

TEST_F(RedisSinkTest, AUnixSocketAddressWorks) {
    fs::path socket = dir_ / "redis.sock";
    start_redis({"--unixsocket", socket.string(), "--unixsocketperm", "700"});
    auto sink = open_sink({{"address", ConfigValue::string("unix:" + socket.string())},
                           {"key", ConfigValue::string("recs:{user_id}")}});
    ASSERT_NE(sink, nullptr);
    ASSERT_TRUE(sink->write(users(5)).is_ok());
    EXPECT_EQ(Client(server_->port()).get("recs:u4"), user_json(4));
}

TEST_F(RedisSinkTest, BadParametersAreReportedWithWhatAndWhere) {
    auto diagnostics = [](const std::string& sink) {
        return testing::run_yaml(
                   "sources:\n  in: {type: memory, records: [{n: 1}]}\n"
                   "sinks:\n  out:\n    type: redis\n    input: in\n" +
                   sink)
            .diagnostics;
    };
    EXPECT_THAT(diagnostics("    key: \"recs:{user_id\"\n"),
                HasSubstr("parameter 'key' (test.yaml:7:5) 'recs:{user_id' has a `{` at "
                          "character 6 that is never closed"));
    EXPECT_THAT(diagnostics("    key: \"recs:user_id}\"\n"),
                HasSubstr("has a `}` at character 13 that closes no `{`"));
    EXPECT_THAT(diagnostics("    key: \"recs:{}\"\n"), HasSubstr("an empty placeholder `{}`"));
    EXPECT_THAT(diagnostics("    key: k\n    address: localhost\n"),
                HasSubstr("parameter 'address' (test.yaml:8:5) 'localhost' has no port; write "
                          "HOST:PORT"));
    EXPECT_THAT(diagnostics("    key: k\n    address: \"127.0.0.1:99999\"\n"),
                HasSubstr("has the port '99999', which is not a number from 1 to 65535"));
    EXPECT_THAT(diagnostics("    key: k\n    address: \"::1:6379\"\n"),
                HasSubstr("put an IPv6 address in brackets"));
    EXPECT_THAT(diagnostics("    key: k\n    ttl: 0s\n"),
                HasSubstr("parameter 'ttl' of sink 'out' (redis) must be at least 1ms, got 0s"));
    EXPECT_THAT(diagnostics("    key: k\n    ttl: -5s\n"), HasSubstr("parameter 'ttl'"));
    EXPECT_THAT(diagnostics("    key: k\n    mode: set\n"), HasSubstr("parameter 'mode'"));
    EXPECT_THAT(diagnostics("    key: k\n    pipeline: 0\n"),
                HasSubstr("parameter 'pipeline' of sink 'out' (redis) must be between 1 and "
                          "100000"));
    EXPECT_THAT(diagnostics("    key: k\n    mode: hash\n    value_field: x\n"),
                HasSubstr("does not apply to mode: hash"));
    EXPECT_THAT(diagnostics("    key: k\n    max_length: 5\n"),
                HasSubstr("parameter 'max_length' (test.yaml:8:5) applies to mode: list only"));
    EXPECT_THAT(diagnostics("    key: k\n    fields: [a]\n    value_field: b\n"),
                HasSubstr("not both"));
    EXPECT_THAT(diagnostics("    key: k\n    username: app\n"),
                HasSubstr("parameter 'username' (test.yaml:8:5) needs a password"));
    std::string secret = diagnostics("    key: k\n    password_env: \"hunter2!\"\n");
    EXPECT_THAT(secret, HasSubstr("must be the name of an environment variable"));
    EXPECT_THAT(secret, Not(HasSubstr("hunter2")));
    EXPECT_THAT(diagnostics("    key: k\n    password_env: A\n    password_file: /f\n"),
                HasSubstr("set `password_env` or `password_file`, not both"));
    EXPECT_THAT(diagnostics("    key: k\n    retry_backoff: 10s\n    max_backoff: 1s\n"),
                HasSubstr("must be at least retry_backoff (10s)"));
    EXPECT_THAT(diagnostics("    address: \"127.0.0.1:6379\"\n"), HasSubstr("key"));
    // Everything wrong in one place is reported at once, each with its place.
    std::string all = testing::run_yaml(
                          "sources:\n  in: {type: memory, records: [{n: 1}]}\n"
                          "sinks:\n"
                          "  a: {type: redis, input: in, key: \"x:{\"}\n"
                          "  b: {type: redis, input: in, key: k, address: nowhere}\n")
                          .diagnostics;
    EXPECT_THAT(all, HasSubstr("sink 'a'"));
    EXPECT_THAT(all, HasSubstr("sink 'b'"));
}

TEST_F(RedisSinkTest, AWholeTopologyRunsThroughEddyRun) {
    const std::string password = "a password of the test's own";
    RedisServer& server = start_redis({"--requirepass", password});
    {
        std::ofstream in(dir_ / "clicks.jsonl");
        for (int n = 0; n < 600; ++n) {
            in << R"({"ts":)" << 1764320000000 + n * 1000 << R"(,"user_id":"u)" << n % 20
               << R"(","type":"click","item_id":"i)" << (n * 13) % 40 << R"(","device":"mobile"})"
               << "\n";
        }
        in << R"({"ts":1764320999000,"type":"click","item_id":"i1"})"
           << "\n";  // no user_id
    }
    std::ofstream(dir_ / "topology.yaml") << "sources:\n"
                                             "  clicks:\n"
                                             "    type: file\n"
                                             "    path: " +
                                                 (dir_ / "clicks.jsonl").string() +
                                                 "\n"
                                                 "    event_time: {field: ts, unit: ms}\n"
                                                 "operators:\n"
                                                 "  recs: {type: recommend, input: clicks, "
                                                 "key: user_id, top_n: 3}\n"
                                                 "sinks:\n"
                                                 "  recs_redis:\n"
                                                 "    type: redis\n"
                                                 "    input: recs\n"
                                                 "    address: ${REDIS_ADDRESS}\n"
                                                 "    key: \"recs:{user_id}\"\n"
                                                 "    ttl: 24h\n"
                                                 "    password_env: EDDY_TEST_REDIS_PASSWORD\n"
                                                 "  recs_file: {type: file, input: recs, path: " +
                                                 (dir_ / "recs.jsonl").string() +
                                                 "}\n"
                                                 "  last_click:\n"
                                                 "    type: redis\n"
                                                 "    input: clicks\n"
                                                 "    address: ${REDIS_ADDRESS}\n"
                                                 "    key: \"last:{user_id}\"\n"
                                                 "    mode: hash\n"
                                                 "    fields: [item_id, device]\n"
                                                 "    password_env: EDDY_TEST_REDIS_PASSWORD\n"
                                                 "  dead: {type: file, input: last_click.errors, "
                                                 "path: " +
                                                 (dir_ / "dead.jsonl").string() + "}\n";
    testing::ProgramOutcome o = testing::run_program(
        {EDDY_BINARY, "run", "--no-progress", "--metrics-file", (dir_ / "m.prom").string(),
         (dir_ / "topology.yaml").string()},
        {"REDIS_ADDRESS=" + server.address(), "EDDY_TEST_REDIS_PASSWORD=" + password}, "", 120);
    ASSERT_EQ(o.exit_code, 0) << o.both();

    // The latest top 3 of each user, as the file sink wrote it, is in Redis.
    std::map<std::string, std::string> latest;
    std::ifstream recs(dir_ / "recs.jsonl");
    for (std::string line; std::getline(recs, line);) {
        size_t at = line.find(R"("user_id":")") + 11;
        latest[line.substr(at, line.find('"', at) - at)] = line;
    }
    ASSERT_EQ(latest.size(), 20u);
    Client redis(server.port(), password);
    for (const auto& [user, line] : latest) {
        EXPECT_EQ(redis.get("recs:" + user), line);
        EXPECT_GT(redis.pttl("recs:" + user), 23 * 3'600'000LL);
        EXPECT_THAT(line, HasSubstr("\"item_3\":"));
    }
    const int last_of_u7 = 587;  // the last n with n % 20 == 7
    EXPECT_EQ(redis.hgetall("last:u7"),
              (std::map<std::string, std::string>{
                  {"item_id", "i" + std::to_string(last_of_u7 * 13 % 40)}, {"device", "mobile"}}));
    EXPECT_EQ(redis.pttl("last:u7"), -1);

    std::ifstream dead(dir_ / "dead.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(dead, line));
    EXPECT_THAT(line, HasSubstr("the field `user_id` of the key template `last:{user_id}` is "
                                "missing"));
    EXPECT_THAT(line, HasSubstr(R"("error_component":"last_click")"));
    EXPECT_FALSE(std::getline(dead, line));

    std::ifstream metrics_in(dir_ / "m.prom");
    std::string metrics((std::istreambuf_iterator<char>(metrics_in)),
                        std::istreambuf_iterator<char>());
    EXPECT_THAT(metrics, HasSubstr("eddy_redis_written_total{component=\"last_click\"} 600\n"));
    EXPECT_THAT(metrics, HasSubstr("eddy_redis_write_errors_total{component=\"last_click\","
                                   "reason=\"record\"} 1\n"));
    EXPECT_THAT(metrics, HasSubstr("eddy_redis_connected{component=\"last_click\"} 0\n"));
}

/// CPU seconds the test's redis-server has used (INFO cpu).
double server_cpu_seconds(int port) {
    std::string info = Client(port).run({"INFO", "cpu"}).str;
    double total = 0;
    for (const char* name : {"used_cpu_sys:", "used_cpu_user:"}) {
        size_t at = info.find(name);
        if (at != std::string::npos) {
            total += std::strtod(info.c_str() + at + std::strlen(name), nullptr);
        }
    }
    return total;
}

/// Not a check but a measurement: records per second into a local Redis,
/// pipelined, for docs/redis.md.
TEST_F(RedisSinkTest, Throughput) {
    start_redis();
    constexpr int kRecords = 200'000;
    std::vector<Batch> batches;
    for (int first = 0; first < kRecords; first += 1024) {
        Batch b;
        for (int n = first; n < std::min(first + 1024, kRecords); ++n) {
            Record& r = b.append();
            r.set(ctx_.field("user_id"), std::string_view("u" + std::to_string(n)));
            for (int i = 1; i <= 10; ++i) {
                r.set(ctx_.field("item_" + std::to_string(i)),
                      std::string_view("i" + std::to_string((n * i) % 5000)));
                r.set(ctx_.field("score_" + std::to_string(i)), 1.0 / (i + n % 7));
            }
        }
        batches.push_back(std::move(b));
    }
    for (const char* mode : {"string", "hash"}) {
        auto sink = open_sink({{"key", ConfigValue::string(std::string(mode) + ":{user_id}")},
                               {"mode", ConfigValue::string(mode)},
                               {"ttl", ConfigValue::integer(600'000)}});
        ASSERT_NE(sink, nullptr);
        double redis_cpu = server_cpu_seconds(server_->port());
        auto start = std::chrono::steady_clock::now();
        for (const Batch& b : batches) {
            ASSERT_TRUE(sink->write(b).is_ok());
        }
        ASSERT_TRUE(sink->flush().is_ok());
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        redis_cpu = server_cpu_seconds(server_->port()) - redis_cpu;
        std::printf(
            "redis sink, mode %s with ttl, 21 fields per record: %d records in %.3f s = "
            "%.0f records/s; redis-server busy %.0f%% of it\n",
            mode, kRecords, s, kRecords / s, 100 * redis_cpu / s);
        ASSERT_TRUE(sink->close().is_ok());
    }
    EXPECT_EQ(Client(server_->port()).dbsize(), 2 * kRecords);
    EXPECT_EQ(ctx_.rejected_.size(), 0u);
}

}  // namespace
}  // namespace eddy
