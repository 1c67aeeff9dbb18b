// SPDX-License-Identifier: Apache-2.0
// bot_filter, built from YAML through its real spec: user-agent patterns
// (built-in and both file formats), address ranges, each behaviour rule at its
// exact limit, the flag's TTL, lateness, the state codec, and the quality on
// the generator's data against its ground truth.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bot_filter/behaviour.h"
#include "bot_filter/ip_rules.h"
#include "bot_filter/ua_patterns.h"
#include "harness.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

const std::string kFixtures = std::string(EDDY_FIXTURES_DIR) + "/bot_filter/";
const char* kChrome =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";

/// The text value of `name` in a flat JSON line, or the number as written.
std::string field(const std::string& line, const std::string& name) {
    size_t at = line.find("\"" + name + "\":");
    if (at == std::string::npos) {
        return "<none>";
    }
    at += name.size() + 3;
    if (line[at] == '"') {
        return line.substr(at + 1, line.find('"', at + 1) - at - 1);
    }
    return line.substr(at, line.find_first_of(",}", at) - at);
}

/// `user:ts` of each line, or `user:ts:rule` for bot lines.
std::vector<std::string> summary(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (const std::string& l : lines) {
        std::string s = field(l, "user_id") + ":" + field(l, "ts");
        if (std::string rule = field(l, "bot_rule"); rule != "<none>") {
            s += ":" + rule;
        }
        out.push_back(s);
    }
    return out;
}

struct Split {
    std::vector<std::string> humans, bots, late;
    std::string diagnostics;
    bool ok = false;
};

/// Runs bot_filter with `params` over `records` (YAML flow maps, one per
/// line), one record per poll so that the watermark follows each record.
/// The default out-of-orderness lets tests interleave keys freely.
Split run_filter(const std::string& params, const std::vector<std::string>& records,
                 const std::string& watermark = "1h") {
    std::string yaml =
        "sources:\n  in:\n    type: memory\n    watermark: {max_out_of_orderness: " + watermark +
        "}\n    records:\n";
    for (const std::string& r : records) {
        yaml += "      - " + r + "\n";
    }
    yaml += "operators:\n  bf: {type: bot_filter, input: in, key: user_id" +
            (params.empty() ? "" : ", " + params) + "}\n";
    yaml +=
        "sinks:\n  humans: {type: collect, input: bf}\n  bots: {type: collect, input: bf.bots}\n"
        "  late: {type: collect, input: bf.late}\n";
    JobOptions one_record_per_poll;
    one_record_per_poll.batch_size = 1;
    auto r = run_yaml(yaml, one_record_per_poll);
    Split s;
    s.ok = r.status.is_ok();
    s.diagnostics = r.diagnostics + r.status.message();
    s.humans = summary(r.lines("humans"));
    s.bots = summary(r.lines("bots"));
    s.late = summary(r.lines("late"));
    return s;
}

std::string event(const std::string& user, int64_t ts, const std::string& ua = kChrome,
                  const std::string& extra = "") {
    return "{ts: " + std::to_string(ts) + ", user_id: " + user + ", ua: \"" + ua + "\"" +
           (extra.empty() ? "" : ", " + extra) + "}";
}

// Behaviour rules off, so that each test sees only the rule it is about.
const std::string kOnlyPatterns =
    "max_events_per_minute: 0, max_pages_per_second: 0, min_gap_cv: 0";
const std::string kNoPatterns = "use_builtin_patterns: false";

TEST(BotFilterTest, BuiltInPatternsFlagCrawlersHeadlessBrowsersAndHttpTools) {
    auto s = run_filter(
        kOnlyPatterns,
        {event("g", 1000,
               "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
         event("h", 2000,
               "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "HeadlessChrome/119.0.6045.105 Safari/537.36"),
         event("c", 3000, "curl/8.4.0"), event("p", 4000, "python-requests/2.31.0"),
         event("f", 5000,
               "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
         event("x", 6000, "SomeNewCrawler/0.1"), event("e", 7000, ""), event("person", 8000)});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots,
                ElementsAre("g:1000:ua:googlebot", "h:2000:ua:headless-chrome", "c:3000:ua:curl",
                            "p:4000:ua:python-requests", "f:5000:ua:facebookexternalhit",
                            "x:6000:ua:bot", "e:7000:ua:empty"));
    EXPECT_THAT(s.humans, ElementsAre("person:8000"));
}

TEST(BotFilterTest, BotEventsCarryTheRuleAndAReason) {
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1, user_id: a, ua: "curl/8.4.0"}]}
operators:
  bf: {type: bot_filter, input: in, key: user_id}
sinks:
  bots: {type: collect, input: bf.bots}
  humans: {type: collect, input: bf}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_THAT(
        r.lines("bots"),
        ElementsAre(R"({"ts":1,"user_id":"a","ua":"curl/8.4.0","bot_rule":"ua:curl",)"
                    R"("bot_reason":"The user agent matches the built-in pattern `curl`."})"));
}

TEST(BotFilterTest, TextPatternFileAddsOneExpressionPerLine) {
    auto s = run_filter(
        kOnlyPatterns + ", " + kNoPatterns + ", patterns_file: " + kFixtures + "patterns.txt",
        {event("a", 1000, "AcmeMonitor/12"), event("b", 2000, "AcmeMonitor/x"),
         event("c", 3000, "Internal-Uptime-Check v2"), event("d", 4000, "curl/8")});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots,
                ElementsAre("a:1000:ua:AcmeMonitor/\\\\d+", "c:3000:ua:(?i)internal-uptime-check"));
    // The built-in list is off, so curl passes.
    EXPECT_THAT(s.humans, ElementsAre("b:2000", "d:4000"));
}

TEST(BotFilterTest, JsonPatternFileReadsPatternAndOptionalName) {
    auto s = run_filter(kOnlyPatterns + ", patterns_file: " + kFixtures + "patterns.json",
                        {event("a", 1000, "PriceWatcher/2.0 (+https://example.com/pricewatch)"),
                         event("b", 2000, "FeedFetch 1.0"), event("c", 3000, "My FeedFetch"),
                         event("d", 4000, "Wget/1.21.4")});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots, ElementsAre("a:1000:ua:PriceWatch(?:er)?/", "b:2000:ua:feedfetch",
                                    "d:4000:ua:wget"));
    EXPECT_THAT(s.humans, ElementsAre("c:3000"));
}

TEST(BotFilterTest, PatternFileThatDoesNotCompileNamesFileLineAndPattern) {
    auto s = run_filter("patterns_file: " + kFixtures + "broken.txt", {event("a", 1)});
    EXPECT_FALSE(s.ok);
    EXPECT_THAT(s.diagnostics,
                HasSubstr("broken.txt:3: pattern `Broken(Pattern` does not compile"));
    s = run_filter("patterns_file: " + kFixtures + "broken.json", {event("a", 1)});
    EXPECT_FALSE(s.ok);
    EXPECT_THAT(s.diagnostics,
                HasSubstr("broken.json:3: pattern `NoLookahead(?=x)` does not compile"));
    s = run_filter("patterns_file: " + kFixtures + "missing.txt", {event("a", 1)});
    EXPECT_FALSE(s.ok);
    EXPECT_THAT(s.diagnostics, HasSubstr("cannot read the patterns file"));
}

TEST(BotFilterTest, VerdictCacheMatchesEachAgentOnce) {
    auto m = bot_filter::UaMatcher::compile(bot_filter::builtin_ua_patterns());
    ASSERT_TRUE(m.is_ok()) << m.status().message();
    bot_filter::UaVerdictCache cache(2);
    const bot_filter::UaMatcher& matcher = *m.value();
    int curl = cache.verdict(matcher, "curl/8.4.0");
    EXPECT_EQ(matcher.pattern(curl).name, "curl");
    EXPECT_EQ(cache.verdict(matcher, "curl/8.4.0"), curl);
    EXPECT_EQ(cache.verdict(matcher, kChrome), -1);
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.misses(), 2u);
    EXPECT_EQ(cache.size(), 2u);
    // Full: the next new agent starts the cache over.
    EXPECT_EQ(matcher.pattern(cache.verdict(matcher, "Wget/1.0")).name, "wget");
    EXPECT_EQ(cache.size(), 1u);
}

TEST(BotFilterTest, Ipv4RangesIncludeBothEndsAndNothingBeyond) {
    auto s = run_filter(
        kOnlyPatterns + ", deny_cidrs: [10.0.0.0/8]",
        {event("a", 1, kChrome, "ip: 10.0.0.0"), event("b", 2, kChrome, "ip: 10.255.255.255"),
         event("c", 3, kChrome, "ip: 9.255.255.255"), event("d", 4, kChrome, "ip: 11.0.0.0"),
         event("e", 5, kChrome, "ip: x")});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots, ElementsAre("a:1:ip:deny 10.0.0.0/8", "b:2:ip:deny 10.0.0.0/8"));
    EXPECT_THAT(s.humans, ElementsAre("c:3", "d:4", "e:5"));
}

TEST(BotFilterTest, Ipv6RangesAndSingleAddresses) {
    auto s = run_filter(
        kOnlyPatterns + R"(, deny_cidrs: ["2001:db8::/32", 203.0.113.7])",
        {event("a", 1, kChrome, R"(ip: "2001:db8::")"),
         event("b", 2, kChrome, R"(ip: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")"),
         event("c", 3, kChrome, R"(ip: "2001:db9::")"), event("d", 4, kChrome, "ip: 203.0.113.7"),
         event("e", 5, kChrome, "ip: 203.0.113.8"),
         event("f", 6, kChrome, R"(ip: "::ffff:203.0.113.7")")});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots, ElementsAre("a:1:ip:deny 2001:db8::/32", "b:2:ip:deny 2001:db8::/32",
                                    "d:4:ip:deny 203.0.113.7", "f:6:ip:deny 203.0.113.7"));
    EXPECT_THAT(s.humans, ElementsAre("c:3", "e:5"));
}

TEST(BotFilterTest, AllowListOverridesPatternsDenyListAndFlags) {
    auto s = run_filter(
        "deny_cidrs: [10.0.0.0/8], allow_cidrs: [10.1.0.0/16]",
        {event("a", 1000, "curl/8", "ip: 10.1.2.3"), event("a", 2000, "curl/8", "ip: 10.2.0.1"),
         event("a", 3000, kChrome, "ip: 10.1.255.255"),
         event("a", 4000, kChrome, "ip: 192.0.2.1")});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    // The allowed address passes even once the key is flagged.
    EXPECT_THAT(s.humans, ElementsAre("a:1000", "a:3000"));
    EXPECT_THAT(s.bots, ElementsAre("a:2000:ua:curl", "a:4000:ua:curl"));
}

TEST(BotFilterTest, BadRangesAreValidationErrors) {
    auto s = run_filter("deny_cidrs: [10.0.0.1/8]", {event("a", 1)});
    EXPECT_THAT(s.diagnostics, HasSubstr("has host bits set; did you mean `10.0.0.0/8`?"));
    s = run_filter("allow_cidrs: [10.0.0.0/33]", {event("a", 1)});
    EXPECT_THAT(s.diagnostics, HasSubstr("bad prefix length: it must be 0-32"));
    s = run_filter("allow_cidrs: [example.com]", {event("a", 1)});
    EXPECT_THAT(s.diagnostics, HasSubstr("is not an IPv4 or IPv6 address"));
    s = run_filter(kOnlyPatterns + ", " + kNoPatterns, {event("a", 1)});
    EXPECT_THAT(s.diagnostics, HasSubstr("every rule is off"));
}

const std::string kOnlyRate = kNoPatterns + ", max_pages_per_second: 0, min_gap_cv: 0";

TEST(BotFilterTest, RateFlagsOneEventOverTheLimitOfTheLastSixtySeconds) {
    // Buckets are seconds; the minute ending at second 60 holds seconds 1-60.
    auto s = run_filter(kOnlyRate + ", max_events_per_minute: 3",
                        {event("a", 1000), event("a", 1500), event("a", 59999), event("a", 60000),
                         event("b", 1000), event("b", 1500), event("b", 2000), event("b", 61000)});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots, ElementsAre("a:60000:rate:>3/min"));
    // For b the minute ending at second 61 starts at second 2: 2 events, not 4.
    EXPECT_THAT(s.humans, ElementsAre("a:1000", "a:1500", "a:59999", "b:1000", "b:1500", "b:2000",
                                      "b:61000"));
}

TEST(BotFilterTest, RateAtTheLimitExactlyIsHuman) {
    std::vector<std::string> records;
    for (int i = 0; i < 61; ++i) {
        records.push_back(event("a", 5000 + i * 10));
    }
    auto s = run_filter(kOnlyRate + ", max_events_per_minute: 60", records);
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_EQ(s.humans.size(), 60u);
    EXPECT_THAT(s.bots, ElementsAre("a:5600:rate:>60/min"));
}

const std::string kOnlyPages = kNoPatterns + ", max_events_per_minute: 0, min_gap_cv: 0";

TEST(BotFilterTest, PageRateCountsDistinctPagesWithinOneSecond) {
    auto s = run_filter(kOnlyPages + ", max_pages_per_second: 2",
                        {event("a", 1000, kChrome, "url: /a"), event("a", 1100, kChrome, "url: /b"),
                         event("a", 1200, kChrome, "url: /a"), event("a", 1999, kChrome, "url: /c"),
                         event("b", 1000, kChrome, "url: /a"), event("b", 1500, kChrome, "url: /b"),
                         event("b", 2000, kChrome, "url: /c"), event("b", 2001)});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots, ElementsAre("a:1999:page_rate"));
    EXPECT_THAT(s.humans,
                ElementsAre("a:1000", "a:1100", "a:1200", "b:1000", "b:1500", "b:2000", "b:2001"));
}

const std::string kOnlyGaps = kNoPatterns +
                              ", max_events_per_minute: 0, max_pages_per_second: 0, "
                              "min_events_for_regularity: 3";

TEST(BotFilterTest, RegularGapsFlagOnlyBelowTheCoefficientOfVariation) {
    // Gaps 500 and 1500 ms: mean 1000, standard deviation 500, so cv = 0.5.
    const std::vector<std::string> records = {event("a", 10000), event("a", 10500),
                                              event("a", 12000)};
    auto at_limit = run_filter(kOnlyGaps + ", min_gap_cv: 0.5", records);
    ASSERT_TRUE(at_limit.ok) << at_limit.diagnostics;
    EXPECT_TRUE(at_limit.bots.empty());
    auto above = run_filter(kOnlyGaps + ", min_gap_cv: 0.51", records);
    EXPECT_THAT(above.humans, ElementsAre("a:10000", "a:10500"));
    EXPECT_THAT(above.bots, ElementsAre("a:12000:regular_gaps"));
}

TEST(BotFilterTest, RegularGapsNeedEnoughEventsAndALongGapStartsOver) {
    auto s =
        run_filter(kNoPatterns +
                       ", max_events_per_minute: 0, max_pages_per_second: 0, "
                       "min_events_for_regularity: 4, min_gap_cv: 0.1, session_gap: 10s",
                   {event("a", 1000), event("a", 2000), event("a", 3000),
                    // 20 s of silence: a new run, which needs 4 events again.
                    event("a", 23000), event("a", 24000), event("a", 25000), event("a", 26000)});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.humans,
                ElementsAre("a:1000", "a:2000", "a:3000", "a:23000", "a:24000", "a:25000"));
    EXPECT_THAT(s.bots, ElementsAre("a:26000:regular_gaps"));
}

TEST(BotFilterTest, FlagExpiresAfterTheTtlInEventTime) {
    auto s = run_filter(
        kOnlyPatterns + ", flag_ttl: 10s",
        {event("a", 1000, "curl/8"), event("a", 10999), event("a", 11000), event("b", 1000)});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.bots, ElementsAre("a:1000:ua:curl", "a:10999:ua:curl"));
    EXPECT_THAT(s.humans, ElementsAre("a:11000", "b:1000"));
}

TEST(BotFilterTest, EventsBeforeABehaviourFlagStayHuman) {
    auto s = run_filter(kOnlyRate + ", max_events_per_minute: 2",
                        {event("a", 1000), event("a", 2000), event("a", 3000), event("a", 4000)});
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.humans, ElementsAre("a:1000", "a:2000"));
    EXPECT_THAT(s.bots, ElementsAre("a:3000:rate:>2/min", "a:4000:rate:>2/min"));
}

TEST(BotFilterTest, LateEventsGoToLateWithoutTouchingState) {
    // Watermark 99999 after ts 100000: ts 99000 is 999 ms late.
    const std::vector<std::string> records = {event("a", 100000), event("a", 99000),
                                              event("a", 100500)};
    auto s = run_filter(kOnlyRate + ", max_events_per_minute: 2", records, "0s");
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.late, ElementsAre("a:99000"));
    EXPECT_THAT(s.humans, ElementsAre("a:100000", "a:100500"));
    // Under `update` the late event is counted: the third event is one too many.
    auto u = run_filter(kOnlyRate + ", max_events_per_minute: 2, on_late: update", records, "0s");
    EXPECT_TRUE(u.late.empty());
    EXPECT_THAT(u.humans, ElementsAre("a:100000", "a:99000"));
    EXPECT_THAT(u.bots, ElementsAre("a:100500:rate:>2/min"));
    // Within the allowed lateness an out-of-order event is an ordinary one.
    auto a =
        run_filter(kOnlyRate + ", max_events_per_minute: 2, allowed_lateness: 5s", records, "0s");
    EXPECT_TRUE(a.late.empty());
    EXPECT_THAT(a.bots, ElementsAre("a:100500:rate:>2/min"));
}

TEST(BotFilterTest, OutOfOrderEventsKeepGapStatisticsInEventTime) {
    // 99500 arrives after 101000: it is counted in its second but adds no gap,
    // so the run stays 1000, 1000 ms apart (cv 0).
    auto s = run_filter(
        kOnlyGaps + ", min_gap_cv: 0.1",
        {event("a", 100000), event("a", 101000), event("a", 99500), event("a", 102000)}, "5s");
    ASSERT_TRUE(s.ok) << s.diagnostics;
    EXPECT_THAT(s.humans, ElementsAre("a:100000", "a:101000", "a:99500"));
    EXPECT_THAT(s.bots, ElementsAre("a:102000:regular_gaps"));
}

TEST(BotFilterTest, StateCodecRoundTrips) {
    bot_filter::BotState s;
    s.flagged_until = 1735689600000;
    s.rule = "rate:>60/min";
    s.reason = "61 events within one minute, more than the limit of 60.";
    s.rate_head = 1735689599;
    s.rate_total = 70;
    s.rate_counts[3] = 40;
    s.rate_counts[59] = 30;
    s.last_time = 1735689599999;
    s.gap_count = 19;
    s.gap_mean = 690.25;
    s.gap_m2 = 12345.5;
    s.page_second = -5;
    s.pages = {1, 0xffffffffffffffffULL, 42};
    s.cleanup_at = 1735691400000;
    std::string bytes = encode_state(s);
    bot_filter::BotState back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(back, s);
    bot_filter::BotState fresh;
    ASSERT_TRUE(decode_state(encode_state(fresh), back));
    EXPECT_EQ(back, fresh);
    EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, bytes.size() - 1), back));
}

TEST(BotFilterTest, ParsesAddressesAndRanges) {
    std::string error;
    auto v4 = bot_filter::parse_cidr("0.0.0.0/0", error);
    ASSERT_TRUE(v4.has_value()) << error;
    bot_filter::CidrList all_v4;
    all_v4.add(*v4);
    EXPECT_EQ(all_v4.find(*bot_filter::parse_ip("255.255.255.255")), 0);
    EXPECT_EQ(all_v4.find(*bot_filter::parse_ip("::1")), -1);
    EXPECT_FALSE(bot_filter::parse_ip("1.2.3").has_value());
    EXPECT_FALSE(bot_filter::parse_ip("").has_value());
    EXPECT_FALSE(bot_filter::parse_cidr("2001:db8::1/32", error).has_value());
    EXPECT_THAT(error, HasSubstr("did you mean `2001:db8::/32`?"));
}

// --- Quality on the generator's data ------------------------------------------------------

struct Score {
    int tp = 0, fp = 0, fn = 0;
    std::map<std::string, std::pair<int, int>> by_kind;  // caught, total
    double precision() const { return tp + fp == 0 ? 0 : double(tp) / (tp + fp); }
    double recall() const { return tp + fn == 0 ? 0 : double(tp) / (tp + fn); }
};

/// Generates `events` with the given seed and users, runs bot_filter with its
/// defaults and scores per user: a bot is a user with any event in `bots`.
Score score_generated(int seed, int users, int events) {
    const std::string truth = (std::filesystem::temp_directory_path() /
                               ("bot_filter_truth_" + std::to_string(seed) + ".jsonl"))
                                  .string();
    auto r = run_yaml(R"(
parallelism: 2
sources:
  clicks:
    type: generator
    seed: )" + std::to_string(seed) +
                      R"(
    users: )" + std::to_string(users) +
                      R"(
    events: )" + std::to_string(events) +
                      R"(
    truth_path: )" + truth +
                      R"(
    watermark: {max_out_of_orderness: 30s}
operators:
  clean: {type: bot_filter, input: clicks, key: user_id}
  bot_users: {type: select, input: clean.bots, fields: [user_id]}
sinks:
  bots: {type: collect, input: bot_users}
  humans: {type: null, input: clean}
  late: {type: collect, input: clean.late}
)");
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_TRUE(r.lines("late").empty());
    std::set<std::string> flagged;
    for (const std::string& line : r.lines("bots")) {
        flagged.insert(field(line, "user_id"));
    }
    Score score;
    std::ifstream in(truth);
    EXPECT_TRUE(in) << truth;
    std::string line;
    while (std::getline(in, line)) {
        const bool is_bot = field(line, "is_bot") == "true";
        const bool caught = flagged.count(field(line, "user_id")) > 0;
        if (is_bot) {
            auto& k = score.by_kind[field(line, "bot_kind")];
            ++k.second;
            k.first += caught ? 1 : 0;
            (caught ? score.tp : score.fn) += 1;
        } else if (caught) {
            ++score.fp;
        }
    }
    std::filesystem::remove(truth);
    return score;
}

TEST(BotFilterQualityTest, DefaultsReachPrecisionAndRecallOnGeneratedTraffic) {
    for (auto [seed, users] : {std::pair{42, 5000}, std::pair{7, 1000}}) {
        Score s = score_generated(seed, users, 200000);
        EXPECT_GE(s.precision(), 0.99) << "seed " << seed << ": " << s.fp << " false positives";
        EXPECT_GE(s.recall(), 0.95) << "seed " << seed << ": " << s.fn << " bots missed";
        for (const auto& [kind, c] : s.by_kind) {
            EXPECT_GT(c.second, 0) << kind;
            EXPECT_GE(double(c.first) / c.second, 0.9) << "seed " << seed << ", kind " << kind;
        }
        std::printf("seed %d, %d users: precision %.4f, recall %.4f (tp %d, fp %d, fn %d)\n", seed,
                    users, s.precision(), s.recall(), s.tp, s.fp, s.fn);
    }
}

// --- Optional: the public crawler-user-agents list -----------------------------------------

TEST(BotFilterDataTest, CrawlerUserAgentsListCompilesAndMatchesItsInstances) {
    const std::string path =
        std::string(EDDY_SHARED_DATA_DIR) + "/crawler-user-agents/crawler-user-agents.json";
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << path << " is absent (see /work/shared/data/README.md)";
    }
    auto patterns = bot_filter::load_ua_patterns(path);
    ASSERT_TRUE(patterns.is_ok()) << patterns.status().message();
    EXPECT_EQ(patterns.value().size(), 1498u);
    auto matcher = bot_filter::UaMatcher::compile(patterns.value());
    ASSERT_TRUE(matcher.is_ok()) << matcher.status().message();
    // Every example string ("instances") must match some pattern.
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    const std::string json = text.str();
    int instances = 0, missed = 0;
    for (size_t at = json.find("\"instances\""); at != std::string::npos;
         at = json.find("\"instances\"", at + 1)) {
        size_t end = json.find(']', at);
        for (size_t q = json.find('"', json.find('[', at)); q < end;) {
            std::string ua;
            size_t i = q + 1;
            for (; json[i] != '"'; ++i) {
                if (json[i] == '\\') {
                    ++i;
                }
                ua.push_back(json[i]);
            }
            ++instances;
            missed += matcher.value()->match(ua) < 0 ? 1 : 0;
            q = json.find('"', i + 1);
        }
    }
    EXPECT_GT(instances, 2000);
    EXPECT_EQ(missed, 0);
    // And none of the generator's people's agents.
    EXPECT_EQ(matcher.value()->match(kChrome), -1);
}

}  // namespace
}  // namespace eddy
