// SPDX-License-Identifier: Apache-2.0
// Live taps (GET /v1/tap and `eddy tap`) on a running job whose events
// arrive over HTTP while the tap is open: a component's output, a side
// output, a key followed through every operator with its state before and
// after, limits, the end of the job, and malformed requests.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include "harness.h"
#include "runtime/job.h"
#include "serve/server.h"
#include "served_job.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

/// Events POSTed to `events`; `views` keeps page views (the rest go to its
/// `rejected` output); `profiles` keeps a keyed profile per user.
std::string topology_yaml(const fs::path& port_file, const std::string& serve) {
    return "name: tap_test\n"
           "sources:\n"
           "  events:\n"
           "    type: http\n"
           "    listen: 127.0.0.1:0\n"
           "    port_file: " +
           port_file.string() +
           "\n"
           "    event_time: {field: ts, unit: ms}\n"
           "operators:\n"
           "  views: {type: filter, input: events, field: type, op: eq, value: page_view}\n"
           "  profiles: {type: profile, input: events, key: user_id, half_life: 30d, "
           "emit_every: 1h}\n"
           "sinks:\n"
           "  out: {type: null, inputs: [views, views.rejected, profiles]}\n"
           "serve: {listen: \"127.0.0.1:0\"" +
           serve + "}\n";
}

/// Reads one tap stream on a thread of its own, line by line.
class TapReader {
public:
    TapReader(int port, std::string path) {
        thread_ = std::thread([this, port, path = std::move(path)] {
            httplib::Client client("127.0.0.1", port);
            client.set_read_timeout(20);
            std::string pending;
            // The server writes a keep-alive every second: a stream that
            // never ends fails the test instead of hanging it.
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
            auto r = client.Get(
                path.c_str(),
                [&](const httplib::Response& res) {
                    std::lock_guard lock(mu_);
                    status_ = res.status;
                    return true;
                },
                [&](const char* data, size_t size) {
                    pending.append(data, size);
                    std::lock_guard lock(mu_);
                    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
                        if (nl > 0) {
                            lines_.push_back(pending.substr(0, nl));
                        }
                        pending.erase(0, nl + 1);
                    }
                    return !stop_ && std::chrono::steady_clock::now() < deadline;
                });
            std::lock_guard lock(mu_);
            if (!pending.empty()) {
                lines_.push_back(pending);  // an error's body has no newline
            }
            done_ = true;
        });
    }
    ~TapReader() { finish(); }

    /// Waits until the stream ends (or 15 s), then returns its lines.
    std::vector<std::string> finish() {
        if (thread_.joinable()) {
            thread_.join();
        }
        std::lock_guard lock(mu_);
        return lines_;
    }
    /// Leaves before the stream ends.
    void leave() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        finish();
    }
    int status() {
        std::lock_guard lock(mu_);
        return status_;
    }

private:
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> lines_;
    int status_ = 0;
    bool done_ = false;
    bool stop_ = false;
};

class TapTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("eddy_tap_test_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        served_.start(topology_yaml(dir_ / "port", serve()), parallelism());
        ASSERT_FALSE(HasFatalFailure());
        job_ = &served_.job();
        server_ = &served_.server();
        for (int i = 0; i < 500 && !fs::exists(dir_ / "port"); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        std::ifstream in(dir_ / "port");
        int port = 0;
        ASSERT_TRUE(in >> port) << "the http source wrote no port file";
        collector_ = std::make_unique<httplib::Client>("127.0.0.1", port);
        api_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    }

    virtual int parallelism() const { return 1; }
    /// More settings for `serve`, after the listen address.
    virtual std::string serve() const { return ""; }

    void TearDown() override {
        served_.stop();
        fs::remove_all(dir_);
    }

    void stop_job() { served_.stop_job(); }

    /// Waits until `n` taps are open, so that what is posted next is seen.
    void await_taps(size_t n) {
        for (int i = 0; i < 500 && job_->open_taps() != n; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ASSERT_EQ(job_->open_taps(), n);
    }

    void post(const std::string& json_lines) {
        auto r = collector_->Post("/v1/events", json_lines, "application/x-ndjson");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 202) << r->body;
    }

    /// u1's page view (with one of u2's), then, in a second request so that
    /// the profile's state changes between batches, u1's purchase.
    void post_view_then_purchase() {
        post(R"({"ts":1000,"user_id":"u1","type":"page_view","item_id":"i1"}
{"ts":1500,"user_id":"u2","type":"page_view","item_id":"i9"}
)");
        for (int i = 0; i < 500 && job_->metrics().source_records() < 2; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        post(R"({"ts":2000,"user_id":"u1","type":"purchase","item_id":"i1","price":20}
)");
    }

    /// "record component[.output]", "state component" or "end reason".
    static std::string summary(const std::string& line) {
        auto field = [&](const std::string& name) -> std::string {
            std::string key = "\"" + name + "\":\"";
            size_t at = line.find(key);
            if (at == std::string::npos) {
                return "";
            }
            at += key.size();
            return line.substr(at, line.find('"', at) - at);
        };
        std::string event = field("event");
        if (event == "end") {
            return "end " + field("reason");
        }
        std::string output = field("output");
        return event + " " + field("component") + (output.empty() ? "" : "." + output);
    }

    fs::path dir_;
    testing::ServedJob served_;
    Job* job_ = nullptr;
    Server* server_ = nullptr;
    std::unique_ptr<httplib::Client> collector_;
    std::unique_ptr<httplib::Client> api_;
};

TEST_F(TapTest, StreamsAComponentsOutputUntilTheLimit) {
    TapReader tap(server_->port(), "/v1/tap/views?limit=2");
    await_taps(1);
    post(R"({"ts":1000,"user_id":"u1","type":"click","item_id":"i1"}
{"ts":2000,"user_id":"u1","type":"page_view","item_id":"i2"}
{"ts":3000,"user_id":"u2","type":"page_view","item_id":"i3"}
{"ts":4000,"user_id":"u2","type":"page_view","item_id":"i4"}
)");
    std::vector<std::string> lines = tap.finish();
    EXPECT_EQ(tap.status(), 200);
    ASSERT_THAT(lines, SizeIs(3));
    EXPECT_EQ(lines[0], R"({"event":"record","component":"views","shard":0,"time":2000,"record":)"
                        R"({"ts":2000,"user_id":"u1","type":"page_view","item_id":"i2"}})");
    EXPECT_THAT(lines[1], HasSubstr(R"("item_id":"i3")"));
    EXPECT_EQ(lines[2], R"({"event":"end","reason":"limit reached"})");
    await_taps(0);  // the job no longer feeds it
}

TEST_F(TapTest, TapsASideOutput) {
    TapReader tap(server_->port(), "/v1/tap/views.rejected?limit=1");
    await_taps(1);
    post(R"({"ts":1000,"user_id":"u1","type":"page_view"}
{"ts":2000,"user_id":"u1","type":"purchase","price":9.5}
)");
    std::vector<std::string> lines = tap.finish();
    ASSERT_THAT(lines, SizeIs(2));
    EXPECT_THAT(lines[0], AllOf(HasSubstr(R"("component":"views","output":"rejected")"),
                                HasSubstr(R"("type":"purchase","price":9.5)")));
}

TEST_F(TapTest, FollowsAKeyThroughEveryComponentWithStateBeforeAndAfter) {
    TapReader tap(server_->port(), "/v1/tap/*?key=u1&limit=10");
    await_taps(1);
    post_view_then_purchase();
    std::vector<std::string> lines = tap.finish();
    for (const std::string& l : lines) {
        EXPECT_THAT(l, Not(HasSubstr("u2")));
    }
    // Depth first, as the job runs: the page view from the source to the
    // filter and its sink, then into the profile (its state, then its
    // output and the sink); then the purchase, which the filter rejects.
    std::vector<std::string> path;
    for (const std::string& l : lines) {
        path.push_back(summary(l));
    }
    EXPECT_THAT(
        path, ElementsAre("record events", "record views", "record out", "state profiles",
                          "record profiles", "record out", "record events", "record views.rejected",
                          "record out", "state profiles", "end limit reached"));
    ASSERT_THAT(lines, SizeIs(11));
    EXPECT_THAT(lines[0], HasSubstr(R"("record":{"ts":1000,"user_id":"u1")"));
    EXPECT_THAT(lines[3], HasSubstr(R"({"event":"state","component":"profiles","type":"profile",)"
                                    R"("shard":0,"key":"u1","inputs":[{"ts":1000,)"));
    EXPECT_THAT(lines[3], HasSubstr(R"("before":{"profiles":null},"after":{"profiles":{)"));
    EXPECT_THAT(lines[3], HasSubstr(R"("events":1,"purchases":0)"));
    EXPECT_THAT(lines[9], HasSubstr(R"("inputs":[{"ts":2000,"user_id":"u1","type":"purchase")"));
    EXPECT_THAT(lines[9], HasSubstr(R"("before":{"profiles":{)"));
    EXPECT_THAT(lines[9], HasSubstr(R"("events":2,"purchases":1)"));
}

TEST_F(TapTest, AStateChangeByATimerIsAStateEventWithTheTimer) {
    TapReader tap(server_->port(), "/v1/tap/profiles?key=u1&limit=5");
    await_taps(1);
    post_view_then_purchase();  // u1's purchase waits for the hour's emit (a timer)
    // u2, two hours on: the watermark passes u1's timer, which emits.
    post(R"({"ts":7201000,"user_id":"u2","type":"page_view","item_id":"i9"}
)");
    std::vector<std::string> lines = tap.finish();
    std::vector<std::string> path;
    for (const std::string& l : lines) {
        path.push_back(summary(l));
    }
    EXPECT_THAT(path, ElementsAre("state profiles", "record profiles", "state profiles",
                                  "state profiles", "record profiles", "end limit reached"));
    ASSERT_THAT(lines, SizeIs(6));
    EXPECT_THAT(lines[3], HasSubstr(R"("key":"u1","timer":{"domain":"event_time",)"
                                    R"("time":3601000},"inputs":[],)"));
    EXPECT_THAT(lines[3], HasSubstr(R"("before":{"profiles":{)"));
    EXPECT_THAT(lines[3], HasSubstr(R"("pending":true)"));
    EXPECT_THAT(lines[3], HasSubstr(R"("after":{"profiles":{)"));
    EXPECT_THAT(lines[4], HasSubstr(R"("purchases":1)"));
}

/// The same job with every operator on two shards, each on a thread of its
/// own: taps are fed from several threads at once.
class ParallelTapTest : public TapTest {
protected:
    int parallelism() const override { return 2; }
};

TEST_F(ParallelTapTest, FollowsAKeyAcrossShardsAndThreads) {
    TapReader tap(server_->port(), "/v1/tap/*?key=u1&limit=10");
    await_taps(1);
    post_view_then_purchase();
    std::vector<std::string> path;
    for (const std::string& l : tap.finish()) {
        EXPECT_THAT(l, Not(HasSubstr("u2")));
        path.push_back(summary(l));
    }
    EXPECT_THAT(path, UnorderedElementsAre("record events", "record views", "record out",
                                           "state profiles", "record profiles", "record out",
                                           "record events", "record views.rejected", "record out",
                                           "state profiles", "end limit reached"));
    EXPECT_EQ(path.back(), "end limit reached");
}

/// An API that holds at most two connections.
class LimitedTapTest : public TapTest {
protected:
    std::string serve() const override { return ", max_connections: 2"; }
};

TEST_F(LimitedTapTest, RefusesConnectionsBeyondTheLimitUntilOneCloses) {
    TapReader first(server_->port(), "/v1/tap/events");
    TapReader second(server_->port(), "/v1/tap/events");
    await_taps(2);  // each stream holds its connection
    auto r = api_->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_EQ(r->body, R"({"error":"too many connections; retry later"})");
    first.leave();
    await_taps(1);
    for (int i = 0; i < 100 && r && r->status == 503; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        r = api_->Get("/healthz");
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    second.leave();
}

TEST_F(TapTest, EndsWhenTheJobStopsAndWhenTheReaderLeaves) {
    TapReader leaving(server_->port(), "/v1/tap/events");
    await_taps(1);
    leaving.leave();
    // The keep-alive written every second finds the reader gone.
    await_taps(0);

    TapReader tap(server_->port(), "/v1/tap/events.*");
    await_taps(1);
    post(R"({"ts":1000,"user_id":"u1","type":"page_view"}
)");
    for (int i = 0; i < 500 && job_->metrics().source_records() < 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop_job();
    std::vector<std::string> lines = tap.finish();
    ASSERT_THAT(lines, SizeIs(2));
    EXPECT_THAT(lines[0], HasSubstr(R"("user_id":"u1")"));
    EXPECT_EQ(lines[1], R"({"event":"end","reason":"the job stopped"})");

    // A tap opened after the end ends at once instead of waiting forever.
    TapReader late(server_->port(), "/v1/tap/events");
    EXPECT_THAT(late.finish(), ElementsAre(R"({"event":"end","reason":"the job stopped"})"));
    EXPECT_EQ(job_->open_taps(), 0u);
}

TEST_F(TapTest, RefusesMalformedRequestsWithAJsonError) {
    struct Case {
        std::string path;
        int status;
        std::string error;
    };
    for (
        const Case& c : std::vector<Case>{
            {"/v1/tap/nope", 404, R"({"error":"no component named 'nope'"})"},
            {"/v1/tap/views.late", 404,
             R"j({"error":"component 'views' has no output 'late' (it has: (main), )j"
             R"j(rejected, errors)"})j"},
            {"/v1/tap/views?sample=0", 400,
             R"({"error":"sample must be in (0, 1], the fraction of records kept"})"},
            {"/v1/tap/views?sample=half", 400,
             R"({"error":"sample must be a number in (0, 1], got 'half'"})"},
            {"/v1/tap/views?limit=-1", 400,
             R"({"error":"limit must be a whole number of records, got '-1'"})"},
            {"/v1/tap/*.rejected", 400,
             R"j({"error":"with every component (*), the output must be errors or * (every output)"})j"},
            {"/v1/tap/views?key=" + std::string(300, 'k'), 414,
             R"j({"error":"the key is longer than 256 bytes (serve.max_key_bytes)"})j"},
        }) {
        auto r = api_->Get(c.path.c_str());
        ASSERT_TRUE(r) << c.path;
        EXPECT_EQ(r->status, c.status) << c.path;
        EXPECT_EQ(r->body, c.error) << c.path;
    }
    EXPECT_EQ(job_->open_taps(), 0u);
}

TEST_F(TapTest, TheCommandLinePrintsRecordsAndReportsTheEnd) {
    if (!fs::exists(EDDY_BINARY)) {
        GTEST_SKIP() << "eddy binary not built at " << EDDY_BINARY;
    }
    std::string command = std::string(EDDY_BINARY) +
                          " tap http://127.0.0.1:" + std::to_string(server_->port()) +
                          " views --limit 1 2>" + (dir_ / "stderr").string();
    std::FILE* out = ::popen(command.c_str(), "r");
    ASSERT_NE(out, nullptr);
    await_taps(1);
    post(R"({"ts":1000,"user_id":"u7","type":"page_view"}
)");
    std::string printed;
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, out)) {
        printed.append(buffer, n);
    }
    EXPECT_EQ(::pclose(out), 0);
    EXPECT_EQ(printed, R"({"event":"record","component":"views","shard":0,"time":1000,"record":)"
                       R"({"ts":1000,"user_id":"u7","type":"page_view"}})"
                       "\n");
    std::ifstream err(dir_ / "stderr");
    std::string notice((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    EXPECT_EQ(notice, "eddy tap: ended: limit reached\n");

    command = std::string(EDDY_BINARY) +
              " tap http://127.0.0.1:" + std::to_string(server_->port()) + " nope 2>&1";
    out = ::popen(command.c_str(), "r");
    ASSERT_NE(out, nullptr);
    printed.clear();
    while (size_t n = std::fread(buffer, 1, sizeof buffer, out)) {
        printed.append(buffer, n);
    }
    int status = ::pclose(out);
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_THAT(printed, HasSubstr("answered 404: no component named 'nope'"));
}

}  // namespace
}  // namespace eddy
