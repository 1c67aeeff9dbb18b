// SPDX-License-Identifier: Apache-2.0
// context_features, loaded through the plugin loader from the build's
// plugins/ folder: time features in UTC, across DST changes and at fixed
// offsets; a table of real user agents; one_hot and index encodings with
// values not listed, missing and of the wrong type; the prefix and feature
// groups; and configuration errors with their messages. Every expectation is
// computed by hand (the angles' definitions are in
// docs/plugins/context_features.md).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "json_fields.h"
#include "spec_support.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::num;
using testing::raw;
using testing::run_yaml;

constexpr const char* kPlugin = EDDY_PLUGINS_DIR "/libcontext_features.so";

// sqrt(2) / 2, and sin, cos of pi / 7 (Monday noon's weekday angle).
constexpr double kHalfSqrt2 = 0.70710678118654752;
constexpr double kSinPi7 = 0.43388373911755812;
constexpr double kCosPi7 = 0.90096886790241913;

std::string topology(const std::string& records, const std::string& params) {
    return std::string("plugins: [\"") + kPlugin +
           "\"]\nsources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  ctx:\n    type: context_features\n    input: in\n" + params +
           "sinks:\n  out: {type: collect, input: ctx}\n"
           "  errors: {type: collect, input: ctx.errors}\n";
}

testing::RunResult run(const std::string& records, const std::string& params = "") {
    auto r = run_yaml(topology(records, params));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

/// The diagnostics of a topology that must not validate.
std::string invalid(const std::string& params) {
    auto r = run_yaml(topology("      - {ts: 1}\n", params));
    EXPECT_FALSE(r.status.is_ok());
    return r.diagnostics;
}

void expect_time(const std::string& line, double hour_sin, double hour_cos, double weekday_sin,
                 double weekday_cos, int hour, int weekday) {
    SCOPED_TRACE(line);
    EXPECT_NEAR(num(line, "hour_sin"), hour_sin, 1e-12);
    EXPECT_NEAR(num(line, "hour_cos"), hour_cos, 1e-12);
    EXPECT_NEAR(num(line, "weekday_sin"), weekday_sin, 1e-12);
    EXPECT_NEAR(num(line, "weekday_cos"), weekday_cos, 1e-12);
    EXPECT_EQ(raw(line, "local_hour"), std::to_string(hour));
    EXPECT_EQ(raw(line, "local_weekday"), std::to_string(weekday));
}

// --- Time ----------------------------------------------------------------

TEST(ContextFeaturesTest, TimeOfDayAndWeekdayInUtc) {
    auto r = run(R"(      - {ts: 1735689600000, user_id: u1}
      - {ts: 1735711200000, user_id: u1}
      - {ts: 1736100000000, user_id: u1}
)");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 3u);
    // 2025-01-01 00:00 UTC, a Wednesday (d = 2): hour angle 0, weekday angle
    // 2 pi * 2/7 = 4 pi / 7 (sin 0.97493, cos -0.22252).
    expect_time(lines[0], 0, 1, 0.97492791218182361, -0.22252093395631440, 0, 2);
    // 06:00 the same day: hour angle pi / 2; weekday angle 2 pi * 2.25 / 7.
    expect_time(lines[1], 1, 0, 0.90096886790241913, -0.43388373911755812, 6, 2);
    // 2025-01-05 18:00 UTC, a Sunday (d = 6): hour angle 3 pi / 2; weekday
    // angle 2 pi * 6.75 / 7 = 2 pi - pi / 14.
    expect_time(lines[2], -1, 0, -0.22252093395631440, 0.97492791218182361, 18, 6);
    // The record passes on whole.
    EXPECT_EQ(raw(lines[0], "user_id"), "\"u1\"");
    EXPECT_EQ(raw(lines[0], "ts"), "1735689600000");
}

TEST(ContextFeaturesTest, TimesBefore1970) {
    // -1 h is 1969-12-31 23:00 UTC, a Wednesday: hour angle 2 pi * 23/24 =
    // -pi / 12; weekday angle 2 pi * (2 + 23/24) / 7 = 71 pi / 84.
    auto r = run("      - {ts: -3600000}\n");
    ASSERT_EQ(r.lines("out").size(), 1u);
    expect_time(r.lines("out")[0], -0.25881904510252074, 0.96592582628906829, 0.46726862827306177,
                -0.88411539350460989, 23, 2);
}

TEST(ContextFeaturesTest, BerlinSpringForwardSkipsTwoOClock) {
    // 2024-03-31, a Sunday: at 01:00 UTC Berlin goes from 02:00 CET to 03:00 CEST.
    auto r = run(R"(      - {ts: 1711846799000}
      - {ts: 1711846800000}
)",
                 "    time_zone: Europe/Berlin\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 2u);
    // 01:59:59 CET.
    EXPECT_EQ(raw(lines[0], "local_hour"), "1");
    EXPECT_EQ(raw(lines[0], "local_weekday"), "6");
    // 03:00 CEST: hour angle 2 pi * 3/24 = pi / 4; weekday angle
    // 2 pi * (6 + 1/8) / 7 = 2 pi * 7/8 = -pi / 4.
    expect_time(lines[1], kHalfSqrt2, kHalfSqrt2, -kHalfSqrt2, kHalfSqrt2, 3, 6);
}

TEST(ContextFeaturesTest, BerlinFallBackRepeatsTwoOClock) {
    // 2024-10-27: at 01:00 UTC Berlin goes from 03:00 CEST back to 02:00 CET.
    auto r = run(R"(      - {ts: 1729990799000}
      - {ts: 1729990800000}
      - {ts: 1729994400000}
)",
                 "    time_zone: Europe/Berlin\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(raw(lines[0], "local_hour"), "2");  // 02:59:59 CEST
    EXPECT_EQ(raw(lines[1], "local_hour"), "2");  // 02:00:00 CET, the wall clock again
    EXPECT_EQ(raw(lines[2], "local_hour"), "3");  // 03:00:00 CET
    // The same wall-clock time has the same features, whichever offset.
    EXPECT_NEAR(num(lines[1], "hour_sin"), 0.5, 1e-12);  // 2 pi * 2/24 = pi / 6
    EXPECT_EQ(raw(lines[1], "local_weekday"), "6");
}

TEST(ContextFeaturesTest, NoonIsNoonInBerlinWinterAndSummer) {
    // 2024-01-15 11:00 UTC (CET, +1) and 2024-07-01 10:00 UTC (CEST, +2):
    // both Monday 12:00 local. Hour angle pi; weekday angle 2 pi * 0.5 / 7.
    auto r = run(R"(      - {ts: 1705316400000}
      - {ts: 1719828000000}
)",
                 "    time_zone: Europe/Berlin\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 2u);
    expect_time(lines[0], 0, -1, kSinPi7, kCosPi7, 12, 0);
    expect_time(lines[1], 0, -1, kSinPi7, kCosPi7, 12, 0);
}

TEST(ContextFeaturesTest, NewYorkSpringForward) {
    // 2024-03-10: at 07:00 UTC New York goes from 02:00 EST to 03:00 EDT.
    auto r = run(R"(      - {ts: 1710053999000}
      - {ts: 1710054000000}
)",
                 "    time_zone: America/New_York\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(raw(lines[0], "local_hour"), "1");
    EXPECT_EQ(raw(lines[1], "local_hour"), "3");
    EXPECT_EQ(raw(lines[1], "local_weekday"), "6");
}

TEST(ContextFeaturesTest, FixedOffsets) {
    const std::string records = "      - {ts: 1735689600000}\n";  // 2025-01-01 00:00 UTC, Wed
    {
        // 05:30 Wednesday: hour angle 2 pi * 5.5 / 24 = 11 pi / 24.
        auto r = run(records, "    time_zone: \"+05:30\"\n");
        ASSERT_EQ(r.lines("out").size(), 1u);
        const std::string& line = r.lines("out")[0];
        EXPECT_NEAR(num(line, "hour_sin"), 0.99144486137381041, 1e-12);
        EXPECT_NEAR(num(line, "hour_cos"), 0.13052619222005157, 1e-12);
        EXPECT_EQ(raw(line, "local_hour"), "5");
        EXPECT_EQ(raw(line, "local_weekday"), "2");
    }
    for (const char* zone : {"\"-08:00\"", "UTC-8", "\"-0800\""}) {
        // 16:00 on Tuesday (d = 1), the day before: hour angle 4 pi / 3;
        // weekday angle 2 pi * (1 + 2/3) / 7 = 10 pi / 21.
        auto r = run(records, std::string("    time_zone: ") + zone + "\n");
        ASSERT_EQ(r.lines("out").size(), 1u) << zone;
        expect_time(r.lines("out")[0], -0.86602540378443865, -0.5, 0.99720379718118015,
                    0.074730093586424254, 16, 1);
    }
}

// --- User agents ---------------------------------------------------------

struct AgentCase {
    const char* what;
    const char* ua;
    const char* device;
    const char* browser;
    const char* os;
};

const AgentCase kAgents[] = {
    {"desktop Chrome",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36",
     "desktop", "chrome", "windows"},
    {"iPhone Safari",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
     "mobile", "safari", "ios"},
    {"iPad Safari",
     "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1",
     "tablet", "safari", "ios"},
    {"Android Chrome",
     "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.43 Mobile Safari/537.36",
     "mobile", "chrome", "android"},
    {"Android tablet Chrome (no Mobile)",
     "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36",
     "tablet", "chrome", "android"},
    {"Samsung Internet",
     "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
     "mobile", "samsung_internet", "android"},
    {"Edge",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.0.0",
     "desktop", "edge", "windows"},
    {"Firefox", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
     "desktop", "firefox", "linux"},
    {"Firefox on an Android phone",
     "Mozilla/5.0 (Android 13; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0", "mobile", "firefox",
     "android"},
    {"Opera",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/118.0.0.0 Safari/537.36 OPR/104.0.0.0",
     "desktop", "opera", "windows"},
    {"Chrome on iOS",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/120.0.6099.101 Mobile/15E148 Safari/604.1",
     "mobile", "chrome", "ios"},
    {"macOS Safari",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Safari/605.1.15",
     "desktop", "safari", "macos"},
    {"Chromebook",
     "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/120.0.0.0 Safari/537.36",
     "desktop", "chrome", "chrome_os"},
    {"IE 11", "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", "desktop",
     "ie", "windows"},
    {"Samsung smart TV",
     "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "85.0.4183.93/6.0 TV Safari/537.36",
     "tv", "safari", "other"},
    {"LG webOS TV",
     "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
     "tv", "chrome", "linux"},
    {"Fire TV (says Mobile)",
     "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Version/4.0 Chrome/70.0.3538.110 Mobile Safari/537.36",
     "tv", "chrome", "android"},
    {"Xbox (says Windows and Edge)",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
     "console", "edge", "windows"},
    {"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot",
     "other", "other"},
    {"Googlebot smartphone",
     "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)",
     "bot", "other", "other"},
    {"headless Chrome",
     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0.6099.109 Safari/537.36",
     "bot", "other", "other"},
    {"an HTTP library", "python-requests/2.31.0", "bot", "other", "other"},
    {"curl", "curl/8.4.0", "bot", "other", "other"},
    {"a Cubot phone is no bot",
     "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Mobile Safari/537.36",
     "mobile", "chrome", "android"},
    {"Opera Mini on Android",
     "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16",
     "mobile", "opera", "android"},
    {"something else", "SomeApp/1.0", "unknown", "other", "other"},
    {"empty", "", "unknown", "unknown", "unknown"},
    {"blank", "   ", "unknown", "unknown", "unknown"},
};

TEST(ContextFeaturesTest, ClassifiesRealUserAgents) {
    std::string records;
    for (const AgentCase& c : kAgents) {
        records += std::string("      - {ts: 1, ua: \"") + c.ua + "\"}\n";
    }
    records += "      - {ts: 1}\n";            // missing
    records += "      - {ts: 1, ua: null}\n";  // null
    auto r = run(records);
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), std::size(kAgents) + 2);
    for (size_t i = 0; i < std::size(kAgents); ++i) {
        SCOPED_TRACE(kAgents[i].what);
        EXPECT_EQ(raw(lines[i], "device_class"), "\"" + std::string(kAgents[i].device) + "\"");
        EXPECT_EQ(raw(lines[i], "browser_family"), "\"" + std::string(kAgents[i].browser) + "\"");
        EXPECT_EQ(raw(lines[i], "os_family"), "\"" + std::string(kAgents[i].os) + "\"");
    }
    for (size_t i = std::size(kAgents); i < lines.size(); ++i) {
        EXPECT_EQ(raw(lines[i], "device_class"), "\"unknown\"") << lines[i];
        EXPECT_EQ(raw(lines[i], "browser_family"), "\"unknown\"") << lines[i];
        EXPECT_EQ(raw(lines[i], "os_family"), "\"unknown\"") << lines[i];
    }
}

TEST(ContextFeaturesTest, TheCacheGivesTheSameVerdicts) {
    // A one-slot cache: every agent evicts the one before, and repeats hit.
    std::string records;
    for (int round = 0; round < 2; ++round) {
        for (const AgentCase& c : kAgents) {
            records += std::string("      - {ts: 1, ua: \"") + c.ua + "\"}\n";
            records += std::string("      - {ts: 1, ua: \"") + c.ua + "\"}\n";
        }
    }
    auto r = run(records, "    ua_cache_size: 1\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 4 * std::size(kAgents));
    for (size_t i = 0; i < lines.size(); ++i) {
        const AgentCase& c = kAgents[(i / 2) % std::size(kAgents)];
        EXPECT_EQ(raw(lines[i], "device_class"), "\"" + std::string(c.device) + "\"") << c.what;
        EXPECT_EQ(raw(lines[i], "browser_family"), "\"" + std::string(c.browser) + "\"") << c.what;
    }
}

TEST(ContextFeaturesTest, VeryLongUserAgentsFollowTheSameRules) {
    // Longer than the 1024-byte buffer the case-insensitive rules use.
    const std::string padding(1100, 'x');
    auto r = run("      - {ts: 1, ua: \"Mozilla/5.0 (Windows NT 10.0) " + padding +
                 " Chrome/120.0 Safari/537.36\"}\n      - {ts: 1, ua: \"Mozilla/5.0 " + padding +
                 " (compatible; GoogleBot/2.1)\"}\n      - {ts: 1, ua: \"CURL/8 " + padding +
                 "\"}\n      - {ts: 1, ua: \"Mozilla/5.0 (Linux; Android 9; " + padding +
                 " SMART-TV)\"}\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(raw(lines[0], "device_class"), "\"desktop\"");
    EXPECT_EQ(raw(lines[0], "browser_family"), "\"chrome\"");
    EXPECT_EQ(raw(lines[1], "device_class"), "\"bot\"");
    EXPECT_EQ(raw(lines[2], "device_class"), "\"bot\"");
    EXPECT_EQ(raw(lines[3], "device_class"), "\"tv\"");
}

TEST(ContextFeaturesTest, AnotherUserAgentField) {
    auto r = run("      - {ts: 1, agent: \"curl/8.4.0\", ua: \"\"}\n", "    ua_field: agent\n");
    ASSERT_EQ(r.lines("out").size(), 1u);
    EXPECT_EQ(raw(r.lines("out")[0], "device_class"), "\"bot\"");
}

TEST(ContextFeaturesTest, AUserAgentOfTheWrongTypeIsUnknownOrAnError) {
    const std::string records = "      - {ts: 1, ua: 42}\n      - {ts: 2, ua: \"curl/8\"}\n";
    {
        auto r = run(records);
        ASSERT_EQ(r.lines("out").size(), 2u);
        EXPECT_EQ(raw(r.lines("out")[0], "device_class"), "\"unknown\"");
        EXPECT_EQ(raw(r.lines("out")[1], "device_class"), "\"bot\"");
        EXPECT_TRUE(r.lines("errors").empty());
    }
    {
        auto r = run(records, "    on_invalid: error\n");
        ASSERT_EQ(r.lines("out").size(), 1u);
        EXPECT_EQ(raw(r.lines("out")[0], "ts"), "2");
        ASSERT_EQ(r.lines("errors").size(), 1u);
        const std::string& e = r.lines("errors")[0];
        EXPECT_EQ(raw(e, "ua"), "42");
        EXPECT_THAT(raw(e, "error"),
                    HasSubstr("the user-agent field `ua` holds an int, not a string"));
        EXPECT_EQ(raw(e, "device_class"), "");  // nothing added
    }
}

// --- Encodings -----------------------------------------------------------

TEST(ContextFeaturesTest, OneHotOfAFeatureWithOther) {
    auto r = run(
        R"(      - {ts: 1, ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36"}
      - {ts: 1, ua: "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) Safari/604.1"}
      - {ts: 1, ua: "curl/8.4.0"}
      - {ts: 1}
)",
        "    encode:\n      device_class: {values: [desktop, mobile, tablet], as: one_hot}\n");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 4u);
    auto columns = [&](size_t i) {
        return raw(lines[i], "device_class_desktop") + raw(lines[i], "device_class_mobile") +
               raw(lines[i], "device_class_tablet") + raw(lines[i], "device_class_other");
    };
    EXPECT_EQ(columns(0), "1000");
    EXPECT_EQ(columns(1), "0010");
    EXPECT_EQ(columns(2), "0001");  // bot: not listed
    EXPECT_EQ(columns(3), "0001");  // no agent: device_class is `unknown`, not listed
}

TEST(ContextFeaturesTest, OneHotAndIndexOfInputFields) {
    auto r = run(R"(      - {ts: 1, country: DE, seg: 2, vip: true}
      - {ts: 1, country: US, seg: 1, vip: false}
      - {ts: 1, country: JP, seg: 9}
      - {ts: 1, country: null}
      - {ts: 1, country: de}
)",
                 R"(    features: []
    encode:
      country: {values: [DE, FR, US], as: index}
      seg: {values: [1, 2], as: index}
      vip: {values: [true]}
)");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_EQ(raw(lines[0], "country_index"), "0");
    EXPECT_EQ(raw(lines[1], "country_index"), "2");
    EXPECT_EQ(raw(lines[2], "country_index"), "3");   // not listed: the number of values
    EXPECT_EQ(raw(lines[3], "country_index"), "-1");  // null
    EXPECT_EQ(raw(lines[4], "country_index"), "3");   // matching is case-sensitive
    // Integers match their decimal text.
    EXPECT_EQ(raw(lines[0], "seg_index"), "1");
    EXPECT_EQ(raw(lines[1], "seg_index"), "0");
    EXPECT_EQ(raw(lines[2], "seg_index"), "2");
    EXPECT_EQ(raw(lines[3], "seg_index"), "-1");  // missing
    // Booleans match `true` and `false`; as defaults to one_hot.
    EXPECT_EQ(raw(lines[0], "vip_true") + raw(lines[0], "vip_other"), "10");
    EXPECT_EQ(raw(lines[1], "vip_true") + raw(lines[1], "vip_other"), "01");
    EXPECT_EQ(raw(lines[2], "vip_true") + raw(lines[2], "vip_other"), "00");  // missing
    // features: [] adds no feature.
    EXPECT_EQ(raw(lines[0], "hour_sin"), "");
    EXPECT_EQ(raw(lines[0], "device_class"), "");
}

TEST(ContextFeaturesTest, AListedOtherTakesTheValuesNotListed) {
    auto r = run(R"(      - {ts: 1, ua: "Mozilla/5.0 (Windows NT 10.0) Firefox/121.0"}
      - {ts: 1, ua: "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36 Edg/119.0"}
      - {ts: 1}
)",
                 R"(    encode:
      browser_family: {values: [chrome, firefox, other], as: one_hot}
      os_family: {values: [windows, other], as: index}
)");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), 3u);
    auto columns = [&](size_t i) {
        return raw(lines[i], "browser_family_chrome") + raw(lines[i], "browser_family_firefox") +
               raw(lines[i], "browser_family_other");
    };
    EXPECT_EQ(columns(0), "010");
    EXPECT_EQ(columns(1), "001");  // edge
    EXPECT_EQ(columns(2), "001");  // unknown
    EXPECT_EQ(raw(lines[0], "os_family_index"), "0");
    EXPECT_EQ(raw(lines[2], "os_family_index"), "1");  // unknown -> other
}

TEST(ContextFeaturesTest, AnEncodedDoubleIsNotListedOrAnError) {
    const std::string records = "      - {ts: 1, country: 1.5}\n      - {ts: 2, country: FR}\n";
    const std::string params =
        "    features: [time]\n    encode: {country: {values: [DE, FR], as: index}}\n";
    {
        auto r = run(records, params);
        ASSERT_EQ(r.lines("out").size(), 2u);
        EXPECT_EQ(raw(r.lines("out")[0], "country_index"), "2");
        EXPECT_EQ(raw(r.lines("out")[1], "country_index"), "1");
    }
    {
        auto r = run(records, params + "    on_invalid: error\n");
        ASSERT_EQ(r.lines("out").size(), 1u);
        ASSERT_EQ(r.lines("errors").size(), 1u);
        EXPECT_THAT(raw(r.lines("errors")[0], "error"),
                    HasSubstr("the field `country` to encode holds a double"));
    }
}

TEST(ContextFeaturesTest, PrefixAndFeatureGroups) {
    auto r = run("      - {ts: 1735689600000, ua: \"curl/8\"}\n",
                 "    features: [time]\n    prefix: ctx_\n");
    ASSERT_EQ(r.lines("out").size(), 1u);
    const std::string& line = r.lines("out")[0];
    EXPECT_NEAR(num(line, "ctx_hour_cos"), 1, 1e-12);
    EXPECT_EQ(raw(line, "ctx_local_weekday"), "2");
    EXPECT_EQ(raw(line, "hour_cos"), "");
    EXPECT_EQ(raw(line, "ctx_device_class"), "");
    EXPECT_EQ(raw(line, "device_class"), "");

    auto agent = run("      - {ts: 1, ua: \"curl/8\"}\n",
                     "    features: [user_agent]\n    prefix: ctx_\n"
                     "    encode: {ctx_device_class: {values: [bot]}}\n");
    ASSERT_EQ(agent.lines("out").size(), 1u);
    EXPECT_EQ(raw(agent.lines("out")[0], "ctx_device_class"), "\"bot\"");
    EXPECT_EQ(raw(agent.lines("out")[0], "ctx_device_class_bot"), "1");
    EXPECT_EQ(raw(agent.lines("out")[0], "ctx_hour_sin"), "");
}

// --- Configuration errors ------------------------------------------------

TEST(ContextFeaturesTest, AnUnknownZoneNamesTheValueAndWhatToWrite) {
    std::string d = invalid("    time_zone: Europe/Berln\n");
    EXPECT_THAT(d, HasSubstr("`time_zone` `Europe/Berln` (test.yaml:"));
    EXPECT_THAT(d, HasSubstr("is not a time zone this machine knows"));
    EXPECT_THAT(d, HasSubstr("Europe/Berlin or America/New_York"));
    EXPECT_THAT(d, HasSubstr("fixed offset such as +05:30"));

    EXPECT_THAT(invalid("    time_zone: america/new_york\n"),
                HasSubstr("did you mean `America/New_York`?"));
    EXPECT_THAT(invalid("    time_zone: PST\n"), HasSubstr("abbreviations like CEST or PST"));
    EXPECT_THAT(invalid("    time_zone: \"+25:00\"\n"), HasSubstr("`+25:00`"));
}

TEST(ContextFeaturesTest, BadEncodeBlocksSayWhatToWrite) {
    struct Case {
        const char* encode;
        const char* message;
    };
    const Case cases[] = {
        {"{country: [DE, FR]}",
         "the encoding of `country` in `encode` (test.yaml:11:14) must be a map like {values: "
         "[desktop, mobile, tablet], as: one_hot}, got `[DE, FR]`"},
        {"{country: {values: [DE], as: onehot}}",
         "`as` of `country` in `encode` (test.yaml:11:38) must be one_hot or index, got "
         "`onehot`"},
        {"{country: {vals: [DE]}}",
         "the encoding of `country` in `encode` (test.yaml:11:14) has an unknown key `vals`; its "
         "keys are `values` and `as`"},
        {"{country: {as: index}}",
         "the encoding of `country` in `encode` (test.yaml:11:14) "
         "needs `values`, the list of values to encode"},
        {"{country: {values: []}}",
         "`values` of `country` in `encode` (test.yaml:11:24) must be a non-empty list like "
         "[de, fr, us], got `[]`"},
        {"{country: {values: [DE, FR, DE]}}",
         "`values` of `country` in `encode` (test.yaml:11:41) lists `DE` twice"},
        {"{country: {values: [DE, {a: 1}]}}",
         "`values` of `country` in `encode` (test.yaml:11:37) may hold only strings, integers "
         "and booleans"},
        {"{device_class: {values: [other_x]}, device_class_other: {values: [x]}}",
         "`encode` would write the field `device_class_other_x` twice"},
        {"{device: {values: [a]}, device_a: {values: [b]}}",
         "`encode` reads `device_a`, which an encoding of `device` writes"},
        {"{hour: {values: [sin]}}",
         "`encode` would write the field `hour_sin` twice, as a feature and as an encoding of "
         "`hour`"},
    };
    for (const Case& c : cases) {
        EXPECT_THAT(invalid(std::string("    encode: ") + c.encode + "\n"), HasSubstr(c.message))
            << c.encode;
    }
}

TEST(ContextFeaturesTest, BadFeatureListsAreRefused) {
    EXPECT_THAT(invalid("    features: [time, weather]\n"),
                HasSubstr("`features` lists `weather` (test.yaml:11:22); the feature groups are "
                          "`time` and `user_agent`"));
    EXPECT_THAT(invalid("    features: [time, time]\n"), HasSubstr("lists `time` twice"));
    EXPECT_THAT(invalid("    features: []\n"), HasSubstr("would add nothing"));
}

TEST(ContextFeaturesTest, EveryRuleReportsAtOnce) {
    std::string d = invalid(
        "    time_zone: Mars/Olympus\n    features: [moon]\n    encode: {x: {values: []}}\n");
    EXPECT_THAT(d, HasSubstr("`Mars/Olympus`"));
    EXPECT_THAT(d, HasSubstr("`features` lists `moon`"));
    EXPECT_THAT(d, HasSubstr("`values` of `x` in `encode`"));
    EXPECT_THAT(d, HasSubstr("operator 'ctx'"));
    EXPECT_THAT(d, Not(HasSubstr("internal")));
}

// docs/plugins/context_features.md covers every parameter with its default
// (specs_test checks that the spec's examples validate).
TEST(ContextFeaturesTest, TheDocCoversTheSpec) {
    Registry registry = testing::test_registry();
    Status loaded = load_plugin(kPlugin, registry);
    ASSERT_TRUE(loaded.is_ok()) << loaded.message();
    const ComponentSpec* spec = registry.find(ComponentKind::kOperator, "context_features");
    ASSERT_NE(spec, nullptr);
    testing::expect_doc_covers_spec(*spec, "docs/plugins/context_features.md");
}

}  // namespace
}  // namespace eddy
