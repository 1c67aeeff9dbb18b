// SPDX-License-Identifier: Apache-2.0
// consent: events pass, drop or are stripped by the consent as of their
// event time; deciding at the watermark against deciding on arrival when a
// consent record arrives after the events it governs; two inputs; unknown
// keys; several purposes; bad consent records; the consent file; held events
// surviving a stop and resume; the codec.
#include "consent/consent.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "json_fields.h"
#include "resume_support.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::raw;
using testing::run_yaml;

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  c:\n    type: consent\n    input: in\n    key: user_id\n" + params +
           "sinks:\n  out: {type: collect, input: c}\n  errors: {type: collect, input: "
           "c.errors}\n";
}

/// One record per poll, so that the watermark (max ts - 1) follows each record.
JobOptions one_per_poll() {
    JobOptions o;
    o.batch_size = 1;
    return o;
}

testing::RunResult run(const std::string& records, const std::string& params,
                       JobOptions options = one_per_poll()) {
    auto r = run_yaml(topology(records, params), std::move(options));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

// u1 grants analytics at 100 and withdraws at 300; u2 never says anything.
constexpr const char* kGrantThenWithdraw =
    R"(      - {ts: 100, user_id: u1, purpose: analytics, granted: true}
      - {ts: 150, user_id: u1, n: 1}
      - {ts: 160, user_id: u2, n: 2}
      - {ts: 300, user_id: u1, purpose: analytics, granted: false}
      - {ts: 350, user_id: u1, n: 3}
      - {ts: 400, user_id: u1, purpose: analytics, granted: true}
      - {ts: 450, user_id: u1, n: 4}
)";

TEST(ConsentTest, EventsPassOnlyWhileTheirKeyHasConsent) {
    for (const char* decide_at : {"watermark", "arrival"}) {
        auto r = run(kGrantThenWithdraw,
                     "    purposes: [analytics]\n    decide_at: " + std::string(decide_at) + "\n");
        EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":150,"user_id":"u1","n":1})",
                                                R"({"ts":450,"user_id":"u1","n":4})"))
            << decide_at;
        EXPECT_THAT(r.lines("errors"), IsEmpty());
    }
}

TEST(ConsentTest, UnknownKeysCanBeAllowed) {
    auto r = run(kGrantThenWithdraw, "    purposes: [analytics]\n    unknown: allow\n");
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":150,"user_id":"u1","n":1})",
                                            R"({"ts":160,"user_id":"u2","n":2})",
                                            R"({"ts":450,"user_id":"u1","n":4})"));
}

// The withdrawal at 200 arrives after the event at 250 (out of order).
constexpr const char* kLateWithdrawal =
    R"(      - {ts: 100, user_id: u1, purpose: analytics, granted: true}
      - {ts: 250, user_id: u1, n: 1}
      - {ts: 200, user_id: u1, purpose: analytics, granted: false}
      - {ts: 260, user_id: u1, n: 2}
)";

TEST(ConsentTest, AtTheWatermarkAConsentChangeAppliesFromItsEventTimeWhateverTheArrivalOrder) {
    // With a watermark that allows 100 ms of disorder, the event at 250 waits
    // until the watermark passes 250, by which time the withdrawal has come.
    std::string yaml = topology(kLateWithdrawal, "    purposes: [analytics]\n");
    yaml.insert(yaml.find("operators:"), "    watermark: {max_out_of_orderness: 100ms}\n");
    auto r = run_yaml(yaml, one_per_poll());
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(r.lines("out"), IsEmpty());
    // On arrival, the event at 250 is judged by what is known then: granted.
    auto a = run(kLateWithdrawal, "    purposes: [analytics]\n    decide_at: arrival\n");
    EXPECT_THAT(a.lines("out"), ElementsAre(R"({"ts":250,"user_id":"u1","n":1})"));
}

TEST(ConsentTest, AGrantArrivingAfterTheEventsOfItsTimeStillLetsThemPass) {
    auto r = run_yaml(R"(sources:
  events:
    type: memory
    records:
      - {ts: 100, user_id: u1, n: 1}
      - {ts: 200, user_id: u2, n: 2}
      - {ts: 300, user_id: u1, n: 3}
  consents:
    type: memory
    records:
      - {ts: 50, user_id: u1, purpose: analytics, granted: true}
      - {ts: 250, user_id: u1, purpose: analytics, granted: false}
      - {ts: 150, user_id: u2, purpose: analytics, granted: true}
      - {ts: 150, user_id: u2, purpose: ads, granted: false}
operators:
  c: {type: consent, inputs: [events, consents], key: user_id, purposes: [analytics]}
sinks:
  out: {type: collect, input: c}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":100,"user_id":"u1","n":1})",
                                            R"({"ts":200,"user_id":"u2","n":2})"));
}

TEST(ConsentTest, StripRemovesTheListedFieldsAndEveryPurposeIsNeeded) {
    auto r = run(R"(      - {ts: 10, user_id: u1, purpose: ads, granted: true}
      - {ts: 10, user_id: u1, purpose: analytics, granted: true}
      - {ts: 10, user_id: u2, purpose: ads, granted: true}
      - {ts: 20, user_id: u1, ip: 1.2.3.4, ua: x, n: 1}
      - {ts: 20, user_id: u2, ip: 1.2.3.4, ua: x, n: 2}
)",
                 "    purposes: [ads, analytics]\n    action: strip\n    strip: [ip, ua]\n");
    EXPECT_THAT(r.lines("out"),
                ElementsAre(R"({"ts":20,"user_id":"u1","ip":"1.2.3.4","ua":"x","n":1})",
                            R"({"ts":20,"user_id":"u2","n":2})"));
}

TEST(ConsentTest, LateEventsAreDecidedAtOnceByTheKeptHistory) {
    // The watermark is 999 when the event at 500 arrives: it is late, so it is
    // decided at once, by the grant at 100 (history before the watermark is
    // kept from its latest change on).
    auto r = run(R"(      - {ts: 100, user_id: u1, purpose: analytics, granted: true}
      - {ts: 1000, user_id: u1, n: 1}
      - {ts: 500, user_id: u1, n: 2}
      - {ts: 50, user_id: u1, n: 3}
)",
                 "    purposes: [analytics]\n");
    // 1000 is held until the end of the input; 500 and 50 are late and decided
    // at once; 50 predates every consent change: unknown, so denied.
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":500,"user_id":"u1","n":2})",
                                            R"({"ts":1000,"user_id":"u1","n":1})"));
}

TEST(ConsentTest, BadConsentRecordsGoToErrorsAndOtherPurposesAreIgnored) {
    auto r = run(R"(      - {ts: 1, user_id: u1, purpose: analytics, granted: maybe}
      - {ts: 2, user_id: u1, purpose: 7, granted: true}
      - {ts: 3, user_id: u1, purpose: analytics}
      - {ts: 4, user_id: u1, purpose: ads, granted: true}
      - {ts: 5, user_id: u1, purpose: analytics, granted: "true"}
      - {ts: 6, user_id: u1, n: 1}
)",
                 "    purposes: [analytics]\n");
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_THAT(raw(errors[0], "error"), HasSubstr("`granted` must be true or false"));
    EXPECT_THAT(raw(errors[1], "error"), HasSubstr("`purpose` must be a string"));
    EXPECT_THAT(raw(errors[2], "error"), HasSubstr("`granted` must be true or false"));
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":6,"user_id":"u1","n":1})"));
}

TEST(ConsentTest, ShardsDecideAsOneInstanceDoes) {
    // Consent changes of 40 users over the generator's first hours, on a second input.
    std::string consents;
    for (int u = 1; u <= 40; ++u) {
        for (int h = 0; h < 6; ++h) {
            consents +=
                "      - {ts: " + std::to_string(1735689600000 + (u * 7 + h * 53) % 360 * 60000) +
                ", user_id: u" + std::to_string(u) +
                ", purpose: analytics, granted: " + ((u + h) % 3 == 0 ? "false" : "true") + "}\n";
        }
    }
    auto yaml = [&](int parallelism, const char* decide_at) {
        return "parallelism: " + std::to_string(parallelism) +
               "\nsources:\n  clicks: {type: generator, events: 4000, users: 50, seed: 3}\n"
               "  consents:\n    type: memory\n    records:\n" +
               consents +
               "operators:\n  c: {type: consent, inputs: [clicks, consents], key: user_id, "
               "purposes: [analytics], decide_at: " +
               decide_at + "}\nsinks:\n  out: {type: collect, input: c}\n";
    };
    auto one = run_yaml(yaml(1, "watermark"));
    ASSERT_TRUE(one.status.is_ok()) << one.status.message() << one.diagnostics;
    std::vector<std::string> expected = one.lines("out");
    ASSERT_GT(expected.size(), 100u);
    ASSERT_LT(expected.size(), 3500u);
    std::sort(expected.begin(), expected.end());
    auto three = run_yaml(yaml(3, "watermark"));
    ASSERT_TRUE(three.status.is_ok()) << three.status.message();
    std::vector<std::string> got = three.lines("out");
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected);
}

class ConsentFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() /
                ("eddy_consent_" + std::to_string(::getpid()) + ".jsonl");
    }
    void TearDown() override { std::filesystem::remove(path_); }
    void write(const std::string& text) { std::ofstream(path_) << text; }
    std::string params(const std::string& more = "") const {
        return "    purposes: [analytics]\n    decide_at: arrival\n    consent_file: " +
               path_.string() + "\n" + more;
    }
    std::filesystem::path path_;
};

TEST_F(ConsentFileTest, TheFileIsTheConsentAtStartAndTheStreamOverridesItLater) {
    write(R"({"user_id": "u1", "purpose": "analytics", "granted": true, "ts": 100}
{"user_id": "u2", "purpose": "analytics", "granted": true}

{"user_id": "u2", "purpose": "analytics", "granted": false, "ts": 300, "source": {"cmp": ["x", 1]}}
{"user_id": 7, "purpose": "analytics", "granted": true, "note": "caf\u00e9 \"q\""}
{"user_id": "u3", "purpose": "ads", "granted": true}
)");
    auto r = run(R"(      - {ts: 50, user_id: u1, n: 1}
      - {ts: 150, user_id: u1, n: 2}
      - {ts: 200, user_id: u2, n: 3}
      - {ts: 310, user_id: u2, n: 4}
      - {ts: 320, user_id: 7, n: 5}
      - {ts: 330, user_id: u3, n: 7}
      - {ts: 400, user_id: u1, purpose: analytics, granted: false}
      - {ts: 410, user_id: u1, n: 8}
)",
                 params());
    // u1 from 100 until the stream withdraws it at 400; u2 from the start until
    // 300; the integer key 7.
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"ts":150,"user_id":"u1","n":2})",
                                            R"({"ts":200,"user_id":"u2","n":3})",
                                            R"({"ts":320,"user_id":7,"n":5})"));
}

TEST_F(ConsentFileTest, AMalformedOrMissingFileStopsTheJobAtStartupWithItsLine) {
    write(
        "{\"user_id\": \"u1\", \"purpose\": \"analytics\", \"granted\": true}\n"
        "{\"user_id\": \"u2\", \"purpose\": \"analytics\", \"granted\": \"yes\"}\n");
    auto r = run_yaml(topology("      - {ts: 1, user_id: u1}\n", params()));
    EXPECT_FALSE(r.status.is_ok());
    EXPECT_THAT(r.status.message(), HasSubstr("operator 'c': consent_file `" + path_.string() +
                                              "` line 2: needs `granted` (true or false)"));
    write("{\"user_id\": \"u1\", \"purpose\": \"analytics\" \"granted\": true}\n");
    r = run_yaml(topology("      - {ts: 1, user_id: u1}\n", params()));
    EXPECT_THAT(r.status.message(), HasSubstr("line 1: expected `,` or `}` at column 42"));
    write("{\"user_id\": \"u1\", \"purpose\": \"analytics\", \"granted\": true, \"ts\": 1.5}\n");
    r = run_yaml(topology("      - {ts: 1, user_id: u1}\n", params()));
    EXPECT_THAT(r.status.message(), HasSubstr("line 1: `ts` must be epoch milliseconds"));
    write("{\"user_id\": \"u1\", \"purpose\": \"analytics\", \"granted\": true}\n[" +
          std::string(100000, ' ') + "]\n");
    r = run_yaml(topology("      - {ts: 1, user_id: u1}\n", params()));
    EXPECT_THAT(r.status.message(), HasSubstr("line 2 is 100002 bytes long"));
    std::filesystem::remove(path_);
    r = run_yaml(topology("      - {ts: 1, user_id: u1}\n", params()));
    EXPECT_THAT(r.status.message(), HasSubstr("cannot open consent_file"));
}

TEST(ConsentTest, ConfigurationErrors) {
    auto error = [](const std::string& params) {
        auto r = run_yaml(topology("      - {ts: 1, user_id: u1}\n", params));
        EXPECT_FALSE(r.status.is_ok()) << params;
        return r.diagnostics;
    };
    EXPECT_THAT(error("    purposes: []\n"), HasSubstr("`purposes` is empty"));
    EXPECT_THAT(error("    purposes: [a, a]\n"), HasSubstr("lists `a` twice"));
    EXPECT_THAT(error("    purposes: [a]\n    action: strip\n"),
                HasSubstr("`action: strip` needs `strip`"));
    EXPECT_THAT(error("    purposes: [a]\n    strip: [ip]\n"),
                HasSubstr("`strip` only applies with `action: strip`"));
    EXPECT_THAT(error("    purposes: [a]\n    granted_field: purpose\n"),
                HasSubstr("must be different fields"));
}

TEST(ConsentTest, HeldEventsSurviveAStopAndResume) {
    // Events are held until the watermark (30 ms of disorder) passes them, so a
    // stop always leaves some in state. Consent changes every 40 events. The
    // file source reads 1024 lines per poll; the stop comes after the second.
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("eddy_consent_resume_" + std::to_string(::getpid()) + ".jsonl");
    {
        std::ofstream f(path);
        for (int i = 0; i < 4000; ++i) {
            std::string head = "{\"ts\":" + std::to_string(1000 + i * 5) + ",\"user_id\":\"u" +
                               std::to_string(i % 7) + "\"";
            if (i % 40 == 0) {
                f << head
                  << ",\"purpose\":\"analytics\",\"granted\":" << (i % 80 == 0 ? "true" : "false")
                  << "}\n";
            }
            f << head << ",\"n\":" << i << "}\n";
        }
    }
    auto yaml = [&](int stop_after, const std::string& state) {
        return state + "sources:\n  in:\n    type: file\n    path: " + path.string() +
               "\n    format: json\n    event_time: {field: ts, unit: ms}\n"
               "    watermark: {max_out_of_orderness: 30ms}\n"
               "operators:\n  c: {type: consent, input: in, key: user_id, purposes: "
               "[analytics], unknown: allow}\nsinks:\n  out: {type: collect, input: c}\n"
               "  metrics: {type: collect, input: c}\n" +
               testing::stop_after_sink("in", stop_after);
    };
    testing::expect_resume_equals_whole(yaml, 1500, "consent");
    std::filesystem::remove(path);
}

TEST(ConsentCodecTest, RoundTripsAndRendersHeldEvents) {
    ConsentState s;
    s.purposes.push_back({"analytics", {{100, true}, {300, false}}});
    // One held event at time 5 with {"n": 7, "ip": "1.2.3.4"}, as hold() writes it.
    std::string payload(8, '\0');
    int64_t t = 5;
    std::memcpy(payload.data(), &t, 8);
    StateWriter w(payload);
    w.varint(2);
    w.str("n");
    w.u8(static_cast<uint8_t>(ValueType::kInt));
    w.i64(7);
    w.str("ip");
    w.u8(static_cast<uint8_t>(ValueType::kString));
    w.str("1.2.3.4");
    auto len = static_cast<uint32_t>(payload.size());
    s.held.assign(reinterpret_cast<const char*>(&len), 4);
    s.held += payload;
    s.held_count = 1;
    s.timer = 5;
    ConsentState back;
    ASSERT_TRUE(decode_state(encode_state(s), back));
    EXPECT_EQ(back.purposes.size(), 1u);
    EXPECT_EQ(back.purposes[0].changes.size(), 2u);
    EXPECT_EQ(back.held, s.held);
    std::string json;
    ASSERT_TRUE(state_to_json<ConsentState>(encode_state(back), json));
    EXPECT_EQ(
        json,
        R"({"purposes":{"analytics":[{"time":100,"granted":true},{"time":300,"granted":false}]},)"
        R"("held":[{"time":5,"fields":{"n":7,"ip":"1.2.3.4"}}],"held_ok":true,"timer":5})");
    EXPECT_FALSE(decode_state(std::string("\x01\xff\xff\xff\xff\x0f", 6), back));
}

}  // namespace
}  // namespace eddy
