// SPDX-License-Identifier: Apache-2.0
// The `http` source (collector), built from YAML through its spec and
// driven with a real HTTP client on 127.0.0.1, and end to end in a job.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include "eddy/source.h"

#include "fake_context.h"
#include "io_support.h"
#include "record/json.h"
#include "runtime/builtins.h"
#include "runtime/job.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using testing::FakeEmitter;
using ::testing::HasSubstr;

/// Waits up to 5 s for a file the source writes once listening.
int read_port(const fs::path& path) {
    for (int i = 0; i < 500; ++i) {
        std::ifstream in(path);
        int port = 0;
        if (in >> port && port > 0) {
            return port;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

std::optional<Topology> validate_yaml(const std::string& yaml, Diagnostics& diags) {
    auto root = load_yaml_text(yaml, "t.yaml", diags);
    if (!root) {
        return std::nullopt;
    }
    return validate_topology(*root, builtin_registry(), diags);
}

std::string all_of(const Diagnostics& diags) {
    std::string all;
    for (const Diagnostic& d : diags.items()) {
        all += d.to_string() + "\n";
    }
    return all;
}

class HttpSourceTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_http_source_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (source_ != nullptr) {
            EXPECT_TRUE(source_->close().is_ok());
        }
        fs::remove_all(dir_);
    }

    /// The topology text of a source `events` with `params` (YAML lines,
    /// indented by four), listening on a free port.
    std::string topology(const std::string& params) const {
        return "sources:\n  events:\n    type: http\n    listen: 127.0.0.1:0\n    port_file: " +
               (dir_ / "port").string() + "\n" + params +
               "sinks:\n  out: {type: null, input: " + "events}\n";
    }

    /// Builds the source from YAML, opens it and connects a client.
    void start(const std::string& params = "") {
        Diagnostics diags;
        auto t = validate_yaml(topology(params), diags);
        ASSERT_TRUE(t.has_value()) << all_of(diags);
        const ComponentDef& def = t->components.front();
        ASSERT_EQ(def.name, "events");
        auto source = def.spec->make_source(def.config);
        ASSERT_TRUE(source.is_ok()) << source.status().to_string();
        source_ = std::move(source).value();
        Status s = source_->open(ctx_);
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        port_ = read_port(dir_ / "port");
        ASSERT_GT(port_, 0);
        client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        client_->set_connection_timeout(2);
        client_->set_read_timeout(5);
    }

    httplib::Result post(const std::string& body, const std::string& type = "application/json",
                         httplib::Headers headers = {}) {
        return client_->Post("/v1/events", headers, body, type);
    }

    /// Polls until the source is idle.
    FakeEmitter drain() {
        FakeEmitter out;
        for (int i = 0; i < 1000; ++i) {
            Result<PollStatus> s = source_->poll(out, 1000);
            EXPECT_TRUE(s.is_ok());
            if (!s.is_ok() || s.value() == PollStatus::kIdle) {
                break;
            }
        }
        return out;
    }

    std::string json(const Record& r) {
        std::string out;
        JsonEncoder encoder([this](FieldId id) { return ctx_.field_name(id); });
        encoder.append(r, out);
        return out;
    }

    fs::path dir_;
    testing::FakeContext ctx_{"events"};
    std::unique_ptr<Source> source_;
    int port_ = 0;
    std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpSourceTest, AcceptsAJsonArrayAndDecodesItAsAFileSourceWould) {
    start("    event_time: {field: ts, unit: ms}\n");
    EXPECT_THAT(ctx_.logs_,
                ::testing::Contains(HasSubstr("http source 'events' listening on 127.0.0.1:" +
                                              std::to_string(port_))));
    auto r = post(R"([{"ts": 1000, "user_id": "u1", "type": "click", "geo": {"country": "DE"}},
                      {"ts": 2000, "user_id": "u2", "type": "view"}])");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(r->body, R"({"accepted":2,"rejected":0,"errors":[]})");
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    FakeEmitter out = drain();
    ASSERT_EQ(out.batch_.size(), 2u);
    EXPECT_EQ(json(out.batch_[0]),
              R"({"ts":1000,"user_id":"u1","type":"click","geo.country":"DE"})");
    EXPECT_EQ(out.batch_[0].time(), 1000);
    EXPECT_EQ(out.batch_[1].time(), 2000);
    EXPECT_TRUE(out.errors_.empty());
}

TEST_F(HttpSourceTest, AcceptsJsonLinesAndStampsTheArrivalTimeWithoutEventTime) {
    start();
    ctx_.clock_.set(1'700'000'000'000);
    auto r = post("{\"n\": 1}\r\n\n{\"n\": 2}\n  {\"n\": 3}  \n", "application/x-ndjson");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(r->body, R"({"accepted":3,"rejected":0,"errors":[]})");
    ctx_.clock_.set(1'700'000'005'000);  // polled later: the time is still the arrival's
    FakeEmitter out = drain();
    ASSERT_EQ(out.batch_.size(), 3u);
    EXPECT_EQ(json(out.batch_[2]), R"({"n":3})");
    EXPECT_EQ(out.batch_[2].time(), 1'700'000'000'000);
}

TEST_F(HttpSourceTest, AcceptsATextPlainBeaconAndOneObjectOverSeveralLines) {
    start();
    // navigator.sendBeacon(url, JSON.stringify(events)) sends text/plain;charset=UTF-8.
    auto r = post(R"([{"type":"page_view"},{"type":"click"}])", "text/plain;charset=UTF-8");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(r->body, R"({"accepted":2,"rejected":0,"errors":[]})");
    r = post("{\n  \"type\": \"scroll\",\n  \"pct\": 0.5\n}\n", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, R"({"accepted":1,"rejected":0,"errors":[]})");
    FakeEmitter out = drain();
    ASSERT_EQ(out.batch_.size(), 3u);
    EXPECT_EQ(json(out.batch_[2]), R"({"type":"scroll","pct":0.5})");
}

TEST_F(HttpSourceTest, DecompressesGzipBodiesAndRefusesBrokenOnes) {
    start();
    std::string events;
    for (int i = 0; i < 100; ++i) {
        events += R"({"i": )" + std::to_string(i) + "}\n";
    }
    auto r = post(gzip(events), "application/x-ndjson", {{"Content-Encoding", "gzip"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(r->body, R"({"accepted":100,"rejected":0,"errors":[]})");
    EXPECT_EQ(drain().batch_.size(), 100u);

    r = post("this is not gzip", "application/json", {{"Content-Encoding", "gzip"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr(R"({"error":"the body could not be read)"));
    r = post("[{}]", "application/json", {{"Content-Encoding", "compress"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415);
    EXPECT_THAT(r->body, HasSubstr("Content-Encoding compress is not supported"));
}

TEST_F(HttpSourceTest, AnswersCorsPreflightsAndAddsCorsHeadersForAllowedOrigins) {
    start("    allow_origins: [\"https://shop.example.com\"]\n");
    httplib::Headers preflight = {{"Origin", "https://shop.example.com"},
                                  {"Access-Control-Request-Method", "POST"},
                                  {"Access-Control-Request-Headers", "content-type"}};
    auto r = client_->Options("/v1/events", preflight);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://shop.example.com");
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Methods"), "POST");
    EXPECT_THAT(r->get_header_value("Access-Control-Allow-Headers"), HasSubstr("Content-Type"));
    EXPECT_EQ(r->get_header_value("Vary"), "Origin");

    r = post(R"([{"a":1}])", "application/json", {{"Origin", "https://shop.example.com"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://shop.example.com");

    // Errors carry the headers too, so that the page can read them.
    r = post("", "application/json", {{"Origin", "https://shop.example.com"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://shop.example.com");

    preflight = {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}};
    r = client_->Options("/v1/events", preflight);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
    EXPECT_THAT(r->body, HasSubstr("origin https://evil.example is not in allow_origins"));
    r = post(R"([{"a":1}])", "text/plain", {{"Origin", "https://evil.example"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);

    // Servers send no Origin: not a browser, not CORS.
    r = post(R"([{"a":1}])");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
    EXPECT_EQ(drain().batch_.size(), 2u);
}

TEST_F(HttpSourceTest, SendsNoCorsHeadersByDefaultAndAnyOriginWithAStar) {
    start();
    auto r = post(R"([{"a":1}])", "application/json", {{"Origin", "https://a.example"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
    r = client_->Options("/v1/events", {{"Origin", "https://a.example"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_THAT(r->body, HasSubstr("allow_origins is empty"));
    ASSERT_TRUE(source_->close().is_ok());
    source_.reset();

    start("    allow_origins: [\"*\"]\n");
    r = client_->Options("/v1/events", {{"Origin", "https://b.example"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST_F(HttpSourceTest, RejectsBadEventsWithReasonsAndSendsThemToErrors) {
    start("    event_time: {field: ts, unit: ms}\n");
    auto r = post(R"([{"ts": 1000, "ok": true}, 5, {"ts": "yesterday"}, ["x"], {"ts": 2000}])");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_THAT(r->body,
                HasSubstr(R"({"accepted":2,"rejected":3,"errors":[{"index":1,"reason":")"));
    EXPECT_THAT(r->body, HasSubstr(R"({"index":2,"reason":")"));
    EXPECT_THAT(r->body, HasSubstr(R"({"index":3,"reason":")"));
    FakeEmitter out = drain();
    ASSERT_EQ(out.batch_.size(), 2u);
    EXPECT_EQ(out.batch_[1].time(), 2000);
    ASSERT_EQ(out.errors_.size(), 3u);
    EXPECT_THAT(out.errors_[0].reason, HasSubstr("object"));
    EXPECT_EQ(out.errors_[0].raw, "5");
    EXPECT_EQ(out.errors_[0].position, 2);  // the source's second event
    EXPECT_THAT(out.errors_[1].reason, HasSubstr("ts"));
    EXPECT_EQ(out.errors_[1].raw, R"({"ts": "yesterday"})");
    EXPECT_EQ(out.errors_[2].raw, R"(["x"])");
    EXPECT_EQ(out.errors_[2].position, 4);
    // The reasons in the answer and in `errors` are the same.
    EXPECT_THAT(r->body, HasSubstr(out.errors_[1].reason));
}

TEST_F(HttpSourceTest, ListsAtMostAHundredErrorsButCountsThemAll) {
    start();
    std::string body = "{\"ok\":1}\n";
    for (int i = 0; i < 150; ++i) {
        body += "[1]\n";
    }
    auto r = post(body, "application/x-ndjson");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_THAT(r->body, HasSubstr(R"({"accepted":1,"rejected":150,)"));
    EXPECT_THAT(r->body, HasSubstr(R"("index":100,)"));
    EXPECT_THAT(r->body, ::testing::Not(HasSubstr(R"("index":101,)")));
    EXPECT_EQ(drain().errors_.size(), 150u);
}

TEST_F(HttpSourceTest, RefusesMalformedAndEmptyBodies) {
    start();
    auto expect_error = [&](const std::string& body, const std::string& type, int status,
                            const std::string& message) {
        auto r = post(body, type);
        ASSERT_TRUE(r) << body;
        EXPECT_EQ(r->status, status) << body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << body;
        EXPECT_THAT(r->body, HasSubstr(R"({"error":")")) << body;
        EXPECT_THAT(r->body, HasSubstr(message)) << body;
    };
    expect_error(R"([{"a":1}, {"b":)", "application/json", 400, "is not a valid JSON array");
    expect_error("hello, world", "text/plain", 400, "neither a JSON array nor JSON Lines");
    expect_error("", "application/json", 400, "the body is empty");
    expect_error(" \n\n ", "text/plain", 400, "the body is empty");
    expect_error("a=1&b=2", "application/x-www-form-urlencoded", 415,
                 "Content-Type application/x-www-form-urlencoded is not accepted");
    // A JSON Lines body whose objects are partly broken: those events are rejected.
    auto r = post("{\"a\":1}\n{\"a\":\n", "application/x-ndjson");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_THAT(r->body, HasSubstr(R"({"accepted":1,"rejected":1,"errors":[{"index":1,)"));
    // An empty array is fine, and nothing.
    r = post("[]");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(r->body, R"({"accepted":0,"rejected":0,"errors":[]})");
    FakeEmitter out = drain();
    EXPECT_EQ(out.batch_.size(), 1u);
    EXPECT_EQ(out.errors_.size(), 1u);
}

TEST_F(HttpSourceTest, AnswersPayloadTooLargeForBigBodiesAndTooManyEvents) {
    start("    max_body: 1KB\n    max_events_per_request: 3\n");
    std::string big = "[{\"pad\":\"" + std::string(2000, 'x') + "\"}]";
    auto r = post(big);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_THAT(r->body, HasSubstr("over max_body (1KB"));
    // Small on the wire, large once inflated.
    r = post(gzip("[{\"pad\":\"" + std::string(100'000, 'x') + "\"}]"), "application/json",
             {{"Content-Encoding", "gzip"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    r = post(R"([{"a":1},{"a":2},{"a":3},{"a":4}])");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_THAT(r->body, HasSubstr("more than 3 events (max_events_per_request)"));
    r = post(R"([{"a":1},{"a":2},{"a":3}])");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_EQ(drain().batch_.size(), 3u);
}

TEST_F(HttpSourceTest, AnswersTooManyRequestsWhileTheJobHasNotTakenMaxInFlight) {
    start("    max_body: 1KB\n    max_in_flight: 2KB\n");
    std::string body = "[{\"pad\":\"" + std::string(400, 'x') + "\"}]";
    int accepted = 0;
    auto r = post(body);
    for (; r && r->status == 202 && accepted < 20; r = post(body)) {
        ++accepted;
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_THAT(r->body, HasSubstr(R"({"error":"the job has not yet taken the 2KB)"));
    EXPECT_GE(accepted, 2);
    EXPECT_LE(accepted, 4);
    // Memory stays bounded: another request is refused as well...
    r = post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    // ...until the job polls.
    EXPECT_EQ(drain().batch_.size(), static_cast<size_t>(accepted));
    r = post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
}

TEST_F(HttpSourceTest, RequiresTheBearerTokenFromTheEnvironment) {
    ::setenv("EDDY_HTTP_TEST_TOKEN", "s3cret-token-0123456789", 1);
    start("    token_env: EDDY_HTTP_TEST_TOKEN\n");
    auto r = post(R"([{"a":1}])");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
    EXPECT_THAT(r->body, HasSubstr("Authorization: Bearer"));
    r = post(R"([{"a":1}])", "application/json", {{"Authorization", "Bearer wrong"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_THAT(r->body, HasSubstr("the bearer token is wrong"));
    r = post(R"([{"a":1}])", "application/json",
             {{"Authorization", "Bearer s3cret-token-0123456789"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    // Health checks and preflights need no token.
    r = client_->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(drain().batch_.size(), 1u);
    ::unsetenv("EDDY_HTTP_TEST_TOKEN");
}

TEST_F(HttpSourceTest, ReadsTheTokenFromAFileAndFailsToOpenWithoutOne) {
    std::ofstream(dir_ / "token") << "from-file-0123456789\n";
    start("    token_file: " + (dir_ / "token").string() + "\n");
    auto r = post(R"([{"a":1}])", "application/json",
                  {{"Authorization", "bearer from-file-0123456789"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    ASSERT_TRUE(source_->close().is_ok());
    source_.reset();

    ::unsetenv("EDDY_HTTP_TEST_MISSING");
    Diagnostics diags;
    auto t = validate_yaml(topology("    token_env: EDDY_HTTP_TEST_MISSING\n"), diags);
    ASSERT_TRUE(t.has_value()) << all_of(diags);
    auto source = t->components.front().spec->make_source(t->components.front().config);
    ASSERT_TRUE(source.is_ok());
    Status s = source.value()->open(ctx_);
    EXPECT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("EDDY_HTTP_TEST_MISSING`, which is not set"));
}

TEST_F(HttpSourceTest, RefusesATokenShorterThanSixteenBytes) {
    ::setenv("EDDY_HTTP_TEST_SHORT", "short", 1);
    Diagnostics diags;
    auto t = validate_yaml(topology("    token_env: EDDY_HTTP_TEST_SHORT\n"), diags);
    ASSERT_TRUE(t.has_value()) << all_of(diags);
    auto source = t->components.front().spec->make_source(t->components.front().config);
    ASSERT_TRUE(source.is_ok());
    Status s = source.value()->open(ctx_);
    EXPECT_EQ(s.message(),
              "source 'events': the bearer token is 5 bytes; use at least 16 random bytes (e.g. "
              "`openssl rand -hex 32`)");
    ::unsetenv("EDDY_HTTP_TEST_SHORT");
}

TEST_F(HttpSourceTest, AnswersNotFoundMethodNotAllowedAndHealth) {
    start();
    auto r = client_->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"status":"ok"})");
    r = client_->Get("/nope");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_THAT(r->body,
                HasSubstr(R"({"error":"no such path: /nope; POST events to /v1/events"})"));
    r = client_->Post("/v2/events", R"([{"a":1}])", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    r = client_->Get("/v1/events");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->get_header_value("Allow"), "POST, OPTIONS");
    EXPECT_THAT(r->body, HasSubstr("method GET is not allowed"));
    r = client_->Put("/v1/events", R"([{"a":1}])", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    r = client_->Post("/healthz", "x", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_TRUE(drain().batch_.empty());
}

TEST_F(HttpSourceTest, AKeepAliveConnectionStaysUsableAfterARefusedBody) {
    start("    max_body: 1KB\n    keep_alive: 1s\n");
    client_->set_keep_alive(true);
    std::string big(2000, ' ');
    for (int i = 0; i < 3; ++i) {
        auto r = client_->Post("/elsewhere", big, "application/json");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404);
        r = post(big);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
        r = post(R"([{"i":1}])");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 202);
    }
    EXPECT_EQ(drain().batch_.size(), 3u);
    client_->stop();  // an idle connection would hold close() for `keep_alive`
}

TEST_F(HttpSourceTest, ConnectionsBeyondMaxConnectionsWaitForAFreeOne) {
    start("    max_connections: 1\n    keep_alive: 2s\n");
    client_->set_keep_alive(true);
    auto r = post(R"([{"from":"a"}])");  // its connection now holds the only thread
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    std::atomic<int> status{0};
    std::thread other([&] {
        httplib::Client b("127.0.0.1", port_);
        auto rb = b.Post("/v1/events", R"([{"from":"b"}])", "application/json");
        status = rb ? rb->status : -1;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(status.load(), 0) << "served while the only thread was taken";
    client_->stop();  // closes the first connection: the thread is free
    other.join();
    EXPECT_EQ(status.load(), 202);
    EXPECT_EQ(drain().batch_.size(), 2u);
}

TEST_F(HttpSourceTest, AnotherSourceCannotTakeAPortInUse) {
    start();
    Diagnostics diags;
    std::string yaml =
        "sources:\n  second:\n    type: http\n    listen: 127.0.0.1:" + std::to_string(port_) +
        "\nsinks:\n  out: {type: null, input: second}\n";
    auto t = validate_yaml(yaml, diags);
    ASSERT_TRUE(t.has_value()) << all_of(diags);
    auto second = t->components.front().spec->make_source(t->components.front().config);
    ASSERT_TRUE(second.is_ok());
    testing::FakeContext ctx("second");
    Status s = second.value()->open(ctx);
    EXPECT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(),
                HasSubstr("source 'second': cannot listen on 127.0.0.1:" + std::to_string(port_)));
}

TEST_F(HttpSourceTest, ValidationReportsBadSettings) {
    struct Case {
        std::string params;
        std::string message;
    };
    for (const Case& c : std::vector<Case>{
             {"    listen: localhost\n", "must be HOST:PORT"},
             {"    path: events\n", "must be a URL path starting with /"},
             {"    path: /healthz\n", "cannot be /healthz"},
             {"    max_body: 2MB\n    max_in_flight: 1MB\n", "must be at least max_body"},
             {"    token_env: A\n    token_file: b\n", "not both"},
             {"    allow_origins: [\"https://a.example/\"]\n", "is not an origin"},
             {"    event_time: {field: ts, unit: weeks}\n", "has unit 'weeks'"},
             {"    format: csv\n", "unknown parameter 'format'"},
             {"    keep_alive: 1h\n", "must be at most 5m"},
         }) {
        Diagnostics diags;
        std::string yaml = "sources:\n  events:\n    type: http\n" + c.params +
                           "sinks:\n  out: {type: null, input: events}\n";
        auto t = validate_yaml(yaml, diags);
        EXPECT_FALSE(t.has_value()) << c.params;
        EXPECT_THAT(all_of(diags), HasSubstr(c.message)) << c.params;
    }
}

TEST_F(HttpSourceTest, EndToEndThroughAJobIntoFiles) {
    std::string out = (dir_ / "out.jsonl").string();
    std::string errors = (dir_ / "errors.jsonl").string();
    std::string yaml =
        "sources:\n  events:\n    type: http\n    listen: 127.0.0.1:0\n"
        "    port_file: " +
        (dir_ / "port").string() +
        "\n    event_time: {field: ts, unit: ms}\n"
        "sinks:\n  out: {type: file, input: events, path: " +
        out + "}\n  bad: {type: file, input: events.errors, path: " + errors + "}\n";
    Diagnostics diags;
    auto topology = validate_yaml(yaml, diags);
    ASSERT_TRUE(topology.has_value()) << all_of(diags);
    auto job = Job::create(*topology);
    ASSERT_TRUE(job.is_ok()) << job.status().message();
    Status run_status;
    std::thread runner([&] { run_status = job.value()->run(); });

    int port = read_port(dir_ / "port");
    ASSERT_GT(port, 0);
    httplib::Client client("127.0.0.1", port);
    auto r = client.Post("/v1/events",
                         R"([{"ts": 1000, "user_id": "u1"}, {"ts": 2000, "user_id": "u2"}])",
                         "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    r = client.Post("/v1/events", "{\"ts\": 3000, \"user_id\": \"u3\"}\n{\"user_id\": \"u4\"}\n",
                    "application/x-ndjson");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_THAT(r->body, HasSubstr(R"({"accepted":1,"rejected":1,)"));

    const ComponentMetrics* source = nullptr;
    for (const auto& m : job.value()->metrics().components()) {
        if (m->name == "events") {
            source = m;
        }
    }
    ASSERT_NE(source, nullptr);
    for (int i = 0; i < 500 && (source->records_out.load() < 3 || source->errors.load() < 1); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    job.value()->request_stop();
    runner.join();
    EXPECT_TRUE(run_status.is_ok()) << run_status.message();
    EXPECT_EQ(read_text(out),
              "{\"ts\":1000,\"user_id\":\"u1\"}\n{\"ts\":2000,\"user_id\":\"u2\"}\n"
              "{\"ts\":3000,\"user_id\":\"u3\"}\n");
    std::string bad = read_text(errors);
    EXPECT_THAT(bad, HasSubstr("u4"));
    EXPECT_THAT(bad, HasSubstr("\"error_component\":\"events\""));
    EXPECT_THAT(bad, HasSubstr("ts"));
}

}  // namespace
}  // namespace eddy
