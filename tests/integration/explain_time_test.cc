// SPDX-License-Identifier: Apache-2.0
// "Why hasn't my window fired?": GET /v1/time on a running job whose window
// reads two sources, one of which lags. The answer names the input that
// holds the watermark back, the idle inputs once the lagging source goes
// idle, and the next timer with the event time still to go; `eddy
// explain-time` prints the same as text.
#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "eddy/clock.h"

#include "harness.h"
#include "process.h"
#include "serve/server.h"
#include "served_job.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// `clicks` runs to 60 s of event time, `orders` stops at 5 s; both stay
/// open (idle in the source's sense only with an idle timeout). A 10 s
/// window reads both.
std::string topology(const std::string& orders_watermark) {
    std::string clicks;
    for (int t = 1000; t <= 60000; t += 1000) {
        clicks += "{ts: " + std::to_string(t) + ", user_id: u1}, ";
    }
    return "name: explain_time\n"
           "sources:\n"
           "  clicks:\n"
           "    type: memory\n"
           "    then_idle: true\n"
           "    records: [" +
           clicks +
           "]\n"
           "    watermark: {max_out_of_orderness: 1s}\n"
           "  orders:\n"
           "    type: memory\n"
           "    then_idle: true\n"
           "    records: [{ts: 2000, user_id: u1}, {ts: 5000, user_id: u1}]\n"
           "    watermark: " +
           orders_watermark +
           "\n"
           "operators:\n"
           "  per_user:\n"
           "    type: window\n"
           "    inputs: [clicks, orders]\n"
           "    key: user_id\n"
           "    size: 10s\n"
           "    aggregations: {events: {op: count}}\n"
           "sinks:\n"
           "  out: {type: null, input: per_user}\n"
           "serve: {listen: \"127.0.0.1:0\"}\n";
}

/// GET /v1/time until `done` says its answer is the one awaited (10 s at most).
template <class Done>
std::string await_time(Server& server, Done done) {
    httplib::Client client("127.0.0.1", server.port());
    std::string body;
    for (int i = 0; i < 200; ++i) {
        auto res = client.Get("/v1/time");
        if (res && res->status == 200) {
            body = res->body;
            if (done(body)) {
                return body;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return body;
}

/// The instance of `component` in a /v1/time answer.
simdjson::dom::element instance_of(simdjson::dom::parser& parser, const std::string& body,
                                   std::string_view component) {
    simdjson::dom::element doc = parser.parse(body);
    for (simdjson::dom::element in : doc["instances"].get_array()) {
        for (simdjson::dom::element c : in["components"].get_array()) {
            if (std::string_view(c.get_string()) == component) {
                return in;
            }
        }
    }
    ADD_FAILURE() << "no instance of " << component << " in " << body;
    return doc;
}

TEST(ExplainTimeTest, TheLaggingInputHoldsTheWindowBackAndTheNextTimerSaysHowFarToGo) {
    testing::ServedJob served;
    served.start(topology("{max_out_of_orderness: 1s}"));
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    // clicks' watermark: 60000 - 1000 - 1; orders': 5000 - 1000 - 1.
    std::string body = await_time(served.server(), [](const std::string& b) {
        return b.find("\"watermark\":58999") != std::string::npos &&
               b.find("\"held_back_by\":[\"orders\"]") != std::string::npos;
    });
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    simdjson::dom::array sources = doc["sources"].get_array();
    ASSERT_EQ(sources.size(), 2u) << body;
    for (simdjson::dom::element s : sources) {
        std::string_view name = s["name"].get_string();
        int64_t wm = s["watermark"].get_int64();
        int64_t max_seen = s["max_event_time"].get_int64();
        EXPECT_EQ(wm, name == "clicks" ? 58'999 : 3'999) << name;
        EXPECT_EQ(max_seen, name == "clicks" ? 60'000 : 5'000) << name;
        EXPECT_EQ(int64_t(s["max_out_of_orderness_ms"].get_int64()), 1000);
        EXPECT_FALSE(bool(s["idle"].get_bool()));
        EXPECT_FALSE(bool(s["ended"].get_bool()));
    }

    simdjson::dom::element window = instance_of(parser, body, "per_user");
    EXPECT_TRUE(bool(window["answered"].get_bool())) << body;
    EXPECT_EQ(int64_t(window["watermark"].get_int64()), 3'999) << body;
    std::vector<std::string> inputs;
    for (simdjson::dom::element i : window["inputs"].get_array()) {
        inputs.emplace_back(std::string_view(i["from"].get_string()));
        EXPECT_EQ(bool(i["holds_back"].get_bool()), inputs.back() == "orders") << body;
    }
    EXPECT_THAT(inputs, ElementsAre("clicks", "orders"));
    EXPECT_EQ(window["idle_inputs"].get_array().size(), 0u);
    // The window [0, 10s) fires at 9999; the watermark is at 3999.
    simdjson::dom::element op = window["operators"].at(0);
    EXPECT_EQ(std::string_view(op["name"].get_string()), "per_user");
    EXPECT_EQ(int64_t(op["next_event_timer"].get_int64()), 9'999) << body;
    EXPECT_EQ(int64_t(op["event_time_to_go_ms"].get_int64()), 6'000) << body;
    EXPECT_TRUE(op["next_processing_timer"].is_null());
    EXPECT_GE(int64_t(op["pending_timers"].get_int64()), 1);

    // The sink reads the window: its input is the window's output watermark.
    simdjson::dom::element sink = instance_of(parser, body, "out");
    EXPECT_EQ(std::string_view(sink["kind"].get_string()), "sink");
    EXPECT_THAT(std::string(simdjson::to_string(sink["held_back_by"])), HasSubstr("per_user"));
    served.stop();
}

TEST(ExplainTimeTest, AnIdleInputStopsHoldingTheWatermarkBack) {
    ManualClock clock(1'000'000);
    testing::ServedJob served;
    served.start(topology("{max_out_of_orderness: 1s, idle_timeout: 5s}"), 1, &clock);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    await_time(served.server(), [](const std::string& b) {
        return b.find("\"watermark\":58999") != std::string::npos;
    });
    clock.advance(6'000);  // orders has had no data for longer than its idle timeout
    std::string body = await_time(served.server(), [](const std::string& b) {
        return b.find("\"idle_inputs\":[\"orders\"]") != std::string::npos;
    });
    simdjson::dom::parser parser;
    simdjson::dom::element window = instance_of(parser, body, "per_user");
    EXPECT_THAT(std::string(simdjson::to_string(window["idle_inputs"])), "[\"orders\"]") << body;
    EXPECT_THAT(std::string(simdjson::to_string(window["held_back_by"])), "[\"clicks\"]") << body;
    // With orders idle, the window follows clicks and the first windows fired.
    EXPECT_EQ(int64_t(window["watermark"].get_int64()), 58'999) << body;
    EXPECT_EQ(int64_t(window["operators"].at(0)["next_event_timer"].get_int64()), 59'999) << body;
    served.stop();
}

TEST(ExplainTimeTest, EveryShardAnswersAndTheSinkNamesEachUpstreamShard) {
    testing::ServedJob served;
    served.start(topology("{max_out_of_orderness: 1s}"), 2);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    // Asked repeatedly while the job runs: every answer is whole.
    std::string body;
    for (int i = 0; i < 20; ++i) {
        body = await_time(served.server(), [](const std::string& b) {
            return b.find("\"held_back_by\":[\"orders\"]") != std::string::npos;
        });
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    int shards = 0;
    for (simdjson::dom::element in : doc["instances"].get_array()) {
        EXPECT_TRUE(bool(in["answered"].get_bool())) << body;
        std::string_view first = in["components"].at(0).get_string();
        if (first == "per_user") {
            ++shards;
            EXPECT_EQ(int64_t(in["parallelism"].get_int64()), 2);
            EXPECT_EQ(int64_t(in["watermark"].get_int64()), 3'999) << body;
        }
        if (first == "out") {
            std::string inputs(simdjson::to_string(in["inputs"]));
            EXPECT_THAT(inputs, HasSubstr("per_user shard 0"));
            EXPECT_THAT(inputs, HasSubstr("per_user shard 1"));
        }
    }
    EXPECT_EQ(shards, 2) << body;
    served.stop_job();
    // The job has stopped: the instances say so instead of timing out.
    httplib::Client client("127.0.0.1", served.server().port());
    auto res = client.Get("/v1/time");
    ASSERT_TRUE(res);
    EXPECT_THAT(res->body, HasSubstr("\"reason\":\"the job has stopped\""));
    served.stop();
}

TEST(ExplainTimeTest, TheCliPrintsTheSameAsText) {
    testing::ServedJob served;
    served.start(topology("{max_out_of_orderness: 1s}"));
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    await_time(served.server(), [](const std::string& b) {
        return b.find("\"held_back_by\":[\"orders\"]") != std::string::npos;
    });
    std::string url = "http://127.0.0.1:" + std::to_string(served.server().port());
    testing::ProgramOutcome out = testing::run_program({EDDY_BINARY, "explain-time", url});
    EXPECT_EQ(out.exit_code, 0) << out.both();
    EXPECT_THAT(out.out, HasSubstr("per_user"));
    EXPECT_THAT(out.out, HasSubstr("held back by orders"));
    EXPECT_THAT(out.out, HasSubstr("1970-01-01T00:00:03.999Z"));
    EXPECT_THAT(out.out, HasSubstr("next event-time timer 1970-01-01T00:00:09.999Z"));
    EXPECT_THAT(out.out, HasSubstr("6s of event time to go"));

    testing::ProgramOutcome bad = testing::run_program(
        {EDDY_BINARY, "explain-time", "http://127.0.0.1:1"});  // nothing listens there
    EXPECT_EQ(bad.exit_code, 1) << bad.both();
    EXPECT_THAT(bad.err, HasSubstr("127.0.0.1:1"));
    served.stop();
}

}  // namespace
}  // namespace eddy
