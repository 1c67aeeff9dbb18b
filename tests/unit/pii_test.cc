// SPDX-License-Identifier: Apache-2.0
// pii: keyed hashes checked against Python's hmac, tokens, IP truncation,
// time and place generalization, the on_invalid policies (and that dead
// letters hold no raw values), the secret from the environment or a file and
// every way it can be missing, configuration errors with their place, and
// the transforms on their own.
#include "pii/pii.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "json_fields.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::raw;
using testing::run_yaml;

constexpr const char* kSecret = "eddy-test-secret-0123456789";
// python3 -c 'import hmac,hashlib; print(hmac.new(b"eddy-test-secret-0123456789", b"u1",
//     hashlib.sha256).hexdigest())'   (and b"42", b"u2", b"true", b"1.5")
constexpr const char* kU1 = "2cfc5f3c48abe963d006f17a46cbad98441474e0794640bbe3c63cecc7638541";
constexpr const char* k42 = "05185a8643e1b223c0ecee91cd422d7d2790be964e654217c33baa4ba4452e20";
constexpr const char* kU2 = "f8289f54813a75319141b00274128070df73da87fc6df5f15c2aaa102f24b2c8";
constexpr const char* kTrue = "a45997ee14711d7d0c90ffbc14f199a6b834e5550fcf0f9d02e1593eaa7c473d";
constexpr const char* k15 = "cb38bca1dba437e85d4bc06771bcd6256410fecc79bef044f7f93392359d2043";

std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}

std::string topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  p:\n    type: pii\n    input: in\n" + params +
           "sinks:\n  out: {type: collect, input: p}\n  errors: {type: collect, input: "
           "p.errors}\n";
}

class PiiTest : public ::testing::Test {
protected:
    void SetUp() override { ::setenv("EDDY_PII_KEY", kSecret, 1); }
    void TearDown() override { ::unsetenv("EDDY_PII_KEY"); }

    testing::RunResult run(const std::string& records, const std::string& params) {
        auto r = run_yaml(topology(records, params));
        EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
        return r;
    }
};

TEST_F(PiiTest, HashIsHmacSha256OfTheValuesTextUnderTheSecret) {
    auto r = run(R"(      - {ts: 1, user_id: u1, n: 42, s: "42", b: true, d: 1.5, other: u1}
      - {ts: 2, user_id: u2}
)",
                 "    secret_env: EDDY_PII_KEY\n    fields: {user_id: hash, n: hash, s: hash, b: "
                 "hash, d: hash}\n");
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(raw(out[0], "user_id"), quoted(kU1));
    EXPECT_EQ(raw(out[0], "n"), quoted(k42));  // 42 and "42" hash alike, so joins work
    EXPECT_EQ(raw(out[0], "s"), quoted(k42));
    EXPECT_EQ(raw(out[0], "b"), quoted(kTrue));
    EXPECT_EQ(raw(out[0], "d"), quoted(k15));
    EXPECT_EQ(raw(out[0], "other"), "\"u1\"");  // unlisted fields pass
    EXPECT_EQ(raw(out[0], "ts"), "1");
    EXPECT_EQ(raw(out[1], "user_id"), quoted(kU2));
    EXPECT_TRUE(r.lines("errors").empty());
}

TEST_F(PiiTest, LengthPrefixAndTokens) {
    auto r = run("      - {ts: 1, a: u1, b: u1, c: u1, d: u1}\n",
                 "    secret_env: EDDY_PII_KEY\n    fields:\n      a: {action: hash, length: 16, "
                 "prefix: u_}\n      b: {action: hash, length: 7}\n      c: tokenize\n      d: "
                 "{action: tokenize, length: 8, prefix: \"\"}\n");
    const std::string u1 = kU1;
    ASSERT_EQ(r.lines("out").size(), 1u);
    const std::string& line = r.lines("out")[0];
    EXPECT_EQ(raw(line, "a"), quoted("u_" + u1.substr(0, 16)));
    EXPECT_EQ(raw(line, "b"), quoted(u1.substr(0, 7)));
    EXPECT_EQ(raw(line, "c"), quoted("tok_" + u1.substr(0, 24)));
    EXPECT_EQ(raw(line, "d"), quoted(u1.substr(0, 8)));
}

TEST_F(PiiTest, CachedMacsMatchFreshOnesAcrossCollisionsAndLongInputs) {
    // The operator caches MACs by std::hash of the input in 4096 slots; find an
    // id that shares u1's slot, so that it evicts u1 between two lookups.
    auto slot = [](std::string_view s) { return std::hash<std::string_view>{}(s)&4095; };
    std::string rival;
    for (int i = 0; rival.empty(); ++i) {
        if (std::string c = "x" + std::to_string(i); slot(c) == slot("u1")) {
            rival = c;
        }
    }
    // python3 -c 'import hmac,hashlib; print(hmac.new(b"eddy-test-secret-0123456789",
    //     b"a-user-id-longer-than-forty-six-bytes-0123456789", hashlib.sha256).hexdigest())'
    const std::string long_id = "a-user-id-longer-than-forty-six-bytes-0123456789";
    auto r = run("      - {ts: 1, user_id: u1}\n      - {ts: 2, user_id: " + rival +
                     "}\n      - {ts: 3, user_id: u1}\n      - {ts: 4, user_id: " + long_id +
                     "}\n      - {ts: 5, user_id: " + long_id + "}\n",
                 "    secret_env: EDDY_PII_KEY\n    fields: {user_id: hash}\n");
    const std::vector<std::string> out = r.lines("out");  // a copy: run() clears them
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(raw(out[0], "user_id"), quoted(kU1));
    EXPECT_EQ(raw(out[2], "user_id"), quoted(kU1));
    EXPECT_NE(raw(out[1], "user_id"), quoted(kU1));
    auto alone = run("      - {ts: 1, user_id: " + rival + "}\n",
                     "    secret_env: EDDY_PII_KEY\n    fields: {user_id: hash}\n");
    EXPECT_EQ(raw(alone.lines("out")[0], "user_id"), raw(out[1], "user_id"));
    EXPECT_EQ(raw(out[3], "user_id"),
              quoted("9be74282e005bb14d7e9140069fbf608fc6fd9df0db36c75197648643aab6ea9"));
    EXPECT_EQ(raw(out[4], "user_id"), raw(out[3], "user_id"));
}

TEST_F(PiiTest, ASecretFileGivesTheSameHashesAsTheVariable) {
    std::string path =
        std::filesystem::temp_directory_path() / ("eddy_pii_key_" + std::to_string(::getpid()));
    std::ofstream(path) << kSecret << "\n";  // the trailing newline is not part of the secret
    auto r = run("      - {ts: 1, user_id: u1}\n",
                 "    secret_file: " + path + "\n    fields: {user_id: hash}\n");
    ASSERT_EQ(r.lines("out").size(), 1u);
    EXPECT_EQ(raw(r.lines("out")[0], "user_id"), quoted(kU1));
    std::filesystem::remove(path);
}

TEST_F(PiiTest, TruncatesIpv4AndIpv6ToTheirNetworks) {
    auto r = run(R"(      - {ts: 1, ip: 203.0.113.77, ip2: 203.0.113.77}
      - {ts: 2, ip: "2001:db8:abcd:1234::1", ip2: "2001:db8:abcd:1234::1"}
      - {ts: 3, ip: "::ffff:198.51.100.9", ip2: "::ffff:198.51.100.9"}
      - {ts: 4, ip: 10.1.2.3, ip2: "fe80::1:2:3:4"}
)",
                 "    fields:\n      ip: truncate_ip\n      ip2: {action: truncate_ip, "
                 "ipv4_prefix: 12, ipv6_prefix: 20}\n");
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(raw(out[0], "ip"), "\"203.0.113.0\"");
    EXPECT_EQ(raw(out[0], "ip2"), "\"203.0.0.0\"");  // 113 = 0111 0001: /12 keeps 0000
    EXPECT_EQ(raw(out[1], "ip"), "\"2001:db8:abcd::\"");
    EXPECT_EQ(raw(out[1], "ip2"), "\"2001::\"");              // /20: 0x0db8 & 0xf000 = 0
    EXPECT_EQ(raw(out[2], "ip"), "\"::ffff:198.51.100.0\"");  // mapped IPv4 counts as IPv4
    EXPECT_EQ(raw(out[2], "ip2"), "\"::ffff:198.48.0.0\"");
    EXPECT_EQ(raw(out[3], "ip"), "\"10.1.2.0\"");
    EXPECT_EQ(raw(out[3], "ip2"), "\"fe80::\"");
}

TEST_F(PiiTest, InvalidValuesGoToErrorsWithoutAnyRawValue) {
    auto r = run(R"(      - {ts: 1, user_id: u1, ip: not-an-ip, ua: Mozilla}
      - {ts: 2, user_id: u2, ip: 1.2.3.4, lat: north}
)",
                 "    secret_env: EDDY_PII_KEY\n    fields: {user_id: hash, ip: truncate_ip, "
                 "ua: drop, lat: round}\n");
    ASSERT_EQ(r.lines("out").size(), 0u);
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_THAT(raw(errors[0], "error"), HasSubstr("`ip` is not an IPv4 or IPv6 address"));
    EXPECT_EQ(raw(errors[0], "user_id"), quoted(kU1));  // the other actions were applied
    EXPECT_EQ(raw(errors[0], "ip"), "");                // the invalid value is gone
    EXPECT_EQ(raw(errors[0], "ua"), "");
    EXPECT_THAT(errors[0], Not(HasSubstr("not-an-ip")));
    EXPECT_THAT(raw(errors[1], "error"), HasSubstr("`lat` is not a finite number"));
    EXPECT_EQ(raw(errors[1], "ip"), "\"1.2.3.0\"");
}

TEST_F(PiiTest, OnInvalidCanDropTheFieldNullItOrDropTheRecord) {
    const std::string records = "      - {ts: 1, ip: bad, n: 1}\n      - {ts: 2, ip: 1.2.3.4}\n";
    auto dropped = run(records, "    on_invalid: drop_field\n    fields: {ip: truncate_ip}\n");
    EXPECT_THAT(dropped.lines("out"),
                ElementsAre(R"({"ts":1,"n":1})", R"({"ts":2,"ip":"1.2.3.0"})"));
    auto nulled = run(records, "    on_invalid: set_null\n    fields: {ip: truncate_ip}\n");
    EXPECT_THAT(nulled.lines("out"),
                ElementsAre(R"({"ts":1,"ip":null,"n":1})", R"({"ts":2,"ip":"1.2.3.0"})"));
    auto gone = run(records, "    on_invalid: drop_record\n    fields: {ip: truncate_ip}\n");
    EXPECT_THAT(gone.lines("out"), ElementsAre(R"({"ts":2,"ip":"1.2.3.0"})"));
    EXPECT_TRUE(gone.lines("errors").empty());
}

TEST_F(PiiTest, TruncatesTimesToCalendarUnitsInUtc) {
    // 1741887930250 is 2025-03-13T17:45:30.250Z, a Thursday. Expectations from
    // python3's datetime (see the .replace() of each unit), e.g. the week:
    // (t - timedelta(days=t.weekday())).replace(hour=0, ...) -> 1741564800000.
    auto r = run(
        R"(      - {ts: 1, a: 1741887930250, b: 1741887930250, c: 1741887930250, d: 1741887930250, e: 1741887930250, f: 1741887930250, g: 1741887930, h: 1741887930250.0, i: "2024-02-29T01:30:00+02:00", j: -1}
)",
        R"(    fields:
      a: {action: truncate_time, to: minute}
      b: {action: truncate_time, to: hour}
      c: truncate_time
      d: {action: truncate_time, to: week}
      e: {action: truncate_time, to: month}
      f: {action: truncate_time, to: year}
      g: {action: truncate_time, to: hour, unit: s}
      h: {action: truncate_time, to: day}
      i: {action: truncate_time, to: hour}
      j: {action: truncate_time, to: week}
)");
    ASSERT_EQ(r.lines("out").size(), 1u);
    const std::string& line = r.lines("out")[0];
    EXPECT_EQ(raw(line, "a"), "1741887900000");
    EXPECT_EQ(raw(line, "b"), "1741885200000");
    EXPECT_EQ(raw(line, "c"), "1741824000000");
    EXPECT_EQ(raw(line, "d"), "1741564800000");
    EXPECT_EQ(raw(line, "e"), "1740787200000");
    EXPECT_EQ(raw(line, "f"), "1735689600000");
    EXPECT_EQ(raw(line, "g"), "1741885200");
    EXPECT_EQ(testing::num(line, "h"), 1741824000000.0);  // a double stays a double
    EXPECT_NE(raw(line, "h"), "1741824000000");
    EXPECT_EQ(raw(line, "i"), "\"2024-02-28T23:00:00Z\"");
    EXPECT_EQ(raw(line, "j"), "-259200000");  // 1969-12-31 is in the week of Monday 12-29
    EXPECT_EQ(raw(line, "ts"), "1");
}

TEST_F(PiiTest, RoundsNumbersAndShortensGeohashes) {
    auto r = run(
        R"(      - {ts: 1, lat: 52.520008, lon: -13.404954, n: 12350, m: -12350, k: 12349, g: u33dc0cpke, h: U33DB2}
      - {ts: 2, lat: 52.5, g: u33a1}
)",
        R"(    on_invalid: set_null
    fields:
      lat: round
      lon: {action: round, decimals: 1}
      n: {action: round, decimals: -2}
      m: {action: round, decimals: -2}
      k: {action: round, decimals: -2}
      g: geohash
      h: {action: geohash, precision: 3}
)");
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(raw(out[0], "lat"), "52.52");
    EXPECT_EQ(raw(out[0], "lon"), "-13.4");
    EXPECT_EQ(raw(out[0], "n"), "12400");  // half away from zero
    EXPECT_EQ(raw(out[0], "m"), "-12400");
    EXPECT_EQ(raw(out[0], "k"), "12300");
    EXPECT_EQ(raw(out[0], "g"), "\"u33dc\"");
    EXPECT_EQ(raw(out[0], "h"), "\"u33\"");
    EXPECT_EQ(raw(out[1], "lat"), "52.5");
    EXPECT_EQ(raw(out[1], "g"), "null");  // `a` is not in the geohash alphabet
}

TEST_F(PiiTest, DropKeepUnlistedAndNulls) {
    auto r = run("      - {ts: 1, user_id: null, ua: x, type: click, email: a@b.c}\n",
                 "    unlisted: drop\n    secret_env: EDDY_PII_KEY\n    fields: {user_id: hash, "
                 "ua: drop, type: keep, ip: truncate_ip}\n");
    // ts and email are not listed; a null stays null; the missing ip is skipped.
    EXPECT_THAT(r.lines("out"), ElementsAre(R"({"user_id":null,"type":"click"})"));
}

TEST_F(PiiTest, KeyedOperatorsAfterPiiSeeOnlyTheHash) {
    auto r = run_yaml(R"(sources:
  in:
    type: memory
    records:
      - {ts: 1000, user_id: u1, type: page_view}
      - {ts: 2000, user_id: u1, type: purchase}
operators:
  p: {type: pii, input: in, secret_env: EDDY_PII_KEY, fields: {user_id: hash}}
  s: {type: sessionizer, input: p, key: user_id, key_field: user_id, gap: 1m}
sinks:
  out: {type: collect, input: s}
)");
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    ASSERT_EQ(r.lines("out").size(), 1u);
    EXPECT_EQ(raw(r.lines("out")[0], "user_id"), quoted(kU1));
    EXPECT_THAT(r.lines("out")[0], Not(HasSubstr("\"u1")));
}

TEST_F(PiiTest, AMissingEmptyOrShortSecretStopsTheJobAtStartupNamingIt) {
    const std::string params = "    secret_env: EDDY_PII_KEY\n    fields: {user_id: hash}\n";
    const std::string records = "      - {ts: 1, user_id: u1}\n";
    ::unsetenv("EDDY_PII_KEY");
    auto r = run_yaml(topology(records, params));
    EXPECT_FALSE(r.status.is_ok());
    EXPECT_THAT(r.status.message(), HasSubstr("operator 'p'"));
    EXPECT_THAT(r.status.message(), HasSubstr("environment variable `EDDY_PII_KEY` is not set"));
    EXPECT_TRUE(r.lines("out").empty());
    ::setenv("EDDY_PII_KEY", "", 1);
    r = run_yaml(topology(records, params));
    EXPECT_THAT(r.status.message(), HasSubstr("`EDDY_PII_KEY` is empty"));
    ::setenv("EDDY_PII_KEY", "short-key", 1);
    r = run_yaml(topology(records, params));
    EXPECT_THAT(r.status.message(), HasSubstr("is 9 bytes; use at least 16"));
    EXPECT_THAT(r.status.message(), Not(HasSubstr("short-key")));

    r = run_yaml(topology(records,
                          "    secret_file: /nonexistent/pii.key\n    fields: {user_id: "
                          "hash}\n"));
    EXPECT_THAT(r.status.message(), HasSubstr("cannot read secret_file `/nonexistent/pii.key`"));

    // A file far larger than any secret is the wrong file: refused, not read whole.
    std::string big =
        std::filesystem::temp_directory_path() / ("eddy_pii_big_" + std::to_string(::getpid()));
    std::ofstream(big) << std::string(1 << 20, 'k');
    r = run_yaml(topology(records, "    secret_file: " + big + "\n    fields: {user_id: hash}\n"));
    EXPECT_THAT(r.status.message(), HasSubstr("is larger than 4096 bytes"));
    EXPECT_TRUE(r.lines("out").empty());
    std::filesystem::remove(big);
}

std::string config_error(const std::string& params) {
    auto r = run_yaml(topology("      - {ts: 1}\n", params));
    EXPECT_FALSE(r.status.is_ok()) << params;
    return r.diagnostics;
}

TEST_F(PiiTest, ConfigurationErrorsNameTheFieldAndItsPlace) {
    EXPECT_THAT(config_error("    fields: {ip: {action: truncate_ip, ipv4_prefix: 33}}\n"),
                HasSubstr("`fields.ip` (test.yaml:10:40): `ipv4_prefix` must be an integer from "
                          "0 to 32, got `33`"));
    EXPECT_THAT(config_error("    fields: {ip: truncate}\n"),
                HasSubstr("unknown action `truncate`; the actions are keep, drop, hash"));
    EXPECT_THAT(config_error("    fields: {ip: {action: round, length: 3}}\n"),
                HasSubstr("unknown option `length` for `round`; it takes decimals"));
    EXPECT_THAT(config_error("    fields: {ts: {action: truncate_time, to: fortnight}}\n"),
                HasSubstr("`to` must be one of second, minute"));
    EXPECT_THAT(config_error("    fields: {ip: {length: 3}}\n"), HasSubstr("needs an `action`"));
    EXPECT_THAT(config_error("    fields: {}\n"), HasSubstr("`fields` is empty"));
    EXPECT_THAT(config_error("    fields: {user_id: hash}\n"),
                HasSubstr("`hash` and `tokenize` need a secret"));
    EXPECT_THAT(config_error("    secret_env: EDDY_PII_KEY\n    fields: {ip: truncate_ip}\n"),
                HasSubstr("`secret_env` is set but no field is hashed"));
    EXPECT_THAT(config_error("    secret_env: A\n    secret_file: /k\n    fields: {u: hash}\n"),
                HasSubstr("either `secret_env` or `secret_file`, not both"));
}

TEST_F(PiiTest, ASecretWrittenInTheYamlIsRefusedWithoutBeingShown) {
    std::string d = config_error(
        "    secret_env: EDDY_PII_KEY\n    fields: {u: {action: hash, secret: hunter2hunter2}}\n");
    EXPECT_THAT(d, HasSubstr("a secret must never be written in the topology"));
    EXPECT_THAT(d, Not(HasSubstr("hunter2")));
    // `${VAR}` expands to the secret itself.
    d = config_error("    secret_env: ${EDDY_PII_KEY}\n    fields: {u: hash}\n");
    EXPECT_THAT(d, HasSubstr("must be the name of an environment variable"));
    EXPECT_THAT(d, Not(HasSubstr(kSecret)));
    ::setenv("EDDY_PII_KEY", "ABCDEFGHIJKLMNOPQRSTUVWX", 1);  // a secret that looks like a name
    d = config_error("    secret_env: ${EDDY_PII_KEY}\n    fields: {u: hash}\n");
    EXPECT_THAT(d, HasSubstr("holds the value of the environment variable `EDDY_PII_KEY`"));
    EXPECT_THAT(d, Not(HasSubstr("ABCDEFGH")));
}

TEST(PiiTransformsTest, IpAddresses) {
    char out[64];
    auto ip = [&](const char* text, int v4, int v6) {
        size_t n = pii::truncate_ip(text, v4, v6, out);
        return std::string(out, n);
    };
    EXPECT_EQ(ip("192.168.17.250", 24, 48), "192.168.17.0");
    EXPECT_EQ(ip("192.168.17.250", 0, 48), "0.0.0.0");
    EXPECT_EQ(ip("192.168.17.250", 32, 48), "192.168.17.250");
    EXPECT_EQ(ip("192.168.17.250", 23, 48), "192.168.16.0");
    EXPECT_EQ(ip("2001:0db8:85a3:0000:0000:8a2e:0370:7334", 24, 48), "2001:db8:85a3::");
    EXPECT_EQ(ip("2001:db8:85a3::7334", 24, 128), "2001:db8:85a3::7334");
    EXPECT_EQ(ip("::1", 24, 48), "::");
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4x", "1.2.3.4/24",
                            "fe80::1%eth0", "2001:db8::g", " 1.2.3.4", "localhost"}) {
        EXPECT_EQ(pii::truncate_ip(bad, 24, 48, out), 0u) << bad;
    }
}

TEST(PiiTransformsTest, CalendarTruncationBeforeAndAfter1970) {
    using pii::TimeUnit;
    // 1969-12-31T23:59:59.999Z; expectations from python3's datetime.
    EXPECT_EQ(pii::truncate_time_ms(-1, TimeUnit::kSecond), -1000);
    EXPECT_EQ(pii::truncate_time_ms(-1, TimeUnit::kDay), -86400000);
    EXPECT_EQ(pii::truncate_time_ms(-1, TimeUnit::kWeek), -259200000);
    EXPECT_EQ(pii::truncate_time_ms(-1, TimeUnit::kMonth), -2678400000);
    EXPECT_EQ(pii::truncate_time_ms(-1, TimeUnit::kYear), -31536000000);
    EXPECT_EQ(pii::truncate_time_ms(0, TimeUnit::kWeek), -259200000);  // Thu 1970-01-01
    // 2024-02-29 (a leap day) -> the month and year starts.
    EXPECT_EQ(pii::truncate_time_ms(1709163000000, TimeUnit::kMonth), 1706745600000);
    EXPECT_EQ(pii::truncate_time_ms(1709163000000, TimeUnit::kYear), 1704067200000);
}

TEST(PiiTransformsTest, Iso8601) {
    EXPECT_EQ(pii::parse_iso8601_ms("2024-02-29T01:30:00+02:00"), 1709163000000);
    EXPECT_EQ(pii::parse_iso8601_ms("2024-02-28T23:30:00Z"), 1709163000000);
    EXPECT_EQ(pii::parse_iso8601_ms("2024-02-28 23:30:00.5Z"), 1709163000500);
    EXPECT_EQ(pii::parse_iso8601_ms("2024-02-28T23:30:00.123456789"), 1709163000123);
    EXPECT_EQ(pii::parse_iso8601_ms("2024-02-28T18:00-0530"), 1709163000000);
    EXPECT_EQ(pii::parse_iso8601_ms("2024-02-29"), 1709164800000);
    for (const char* bad : {"", "2024", "2023-02-29", "2024-13-01", "2024-02-28T24:00",
                            "2024-02-28T23:60", "2024-02-28T23:30:00.", "2024-02-28T23:30:00+02:",
                            "2024-02-28T23:30:00 ", "2024-02-28X", "24-02-28"}) {
        EXPECT_FALSE(pii::parse_iso8601_ms(bad).has_value()) << bad;
    }
    char out[20];
    ASSERT_TRUE(pii::format_iso8601(1709163000999, out));
    EXPECT_EQ(std::string(out, 20), "2024-02-28T23:30:00Z");
    ASSERT_TRUE(pii::format_iso8601(-1, out));
    EXPECT_EQ(std::string(out, 20), "1969-12-31T23:59:59Z");
    EXPECT_FALSE(pii::format_iso8601(253402300800000, out));  // year 10000
}

TEST(PiiTransformsTest, HashInputsAndGeohashAlphabet) {
    char buf[32];
    std::string_view text;
    ASSERT_TRUE(pii::hash_input(Value::integer(-7), buf, text));
    EXPECT_EQ(text, "-7");
    ASSERT_TRUE(pii::hash_input(Value::number(0.1), buf, text));
    EXPECT_EQ(text, "0.1");
    EXPECT_FALSE(pii::hash_input(Value::null(), buf, text));
    EXPECT_TRUE(pii::is_geohash("0123456789bcdefghjkmnpqrstuvwxyz"));
    EXPECT_TRUE(pii::is_geohash("U33DC"));
    EXPECT_FALSE(pii::is_geohash("u33a"));
    EXPECT_FALSE(pii::is_geohash(""));
}

}  // namespace
}  // namespace eddy
