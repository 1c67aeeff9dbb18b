// SPDX-License-Identifier: Apache-2.0
// ab_assign (plugins/ab_assign), loaded through the real plugin loader: known
// answers computed with sha256sum, the split over 20,000 keys, the same
// assignment across runs, parallelism and input order, salts, exposure,
// integer keys, bad keys to `errors`, configuration errors, metrics, and the
// spec's examples and docs.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "json_fields.h"
#include "metrics/metrics.h"
#include "plugin/loader.h"
#include "spec_support.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::num;
using testing::raw;
using testing::run_yaml;

const std::string kPlugin = EDDY_PLUGINS_DIR "/libab_assign.so";

std::string records_of(const std::vector<std::string>& keys) {
    std::string out;
    for (const std::string& k : keys) {
        out += "      - {user_id: " + k + "}\n";
    }
    return out;
}

std::vector<std::string> user_keys(int n) {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) {
        keys.push_back("u" + std::to_string(i));
    }
    return keys;
}

/// `params` go into the operator's flow map, `top` before `sources:`.
std::string topology(const std::string& records, const std::string& params,
                     const std::string& top = "") {
    return "plugins: [\"" + kPlugin + "\"]\n" + top +
           "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  assign: {type: ab_assign, input: in" + params +
           "}\nsinks:\n  out: {type: collect, input: assign}\n"
           "  excluded: {type: collect, input: assign.excluded}\n"
           "  errors: {type: collect, input: assign.errors}\n";
}

testing::RunResult run(const std::string& records, const std::string& params,
                       const std::string& top = "") {
    auto r = run_yaml(topology(records, params, top));
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r;
}

/// The unquoted string a flat JSON line holds in `field`.
std::string text(const std::string& line, const std::string& field) {
    std::string s = raw(line, field);
    return s.size() >= 2 && s.front() == '"' ? s.substr(1, s.size() - 2) : s;
}

/// user_id -> variant on `out`; "-" for keys on `excluded`.
std::map<std::string, std::string> assignments(testing::RunResult& r) {
    std::map<std::string, std::string> out;
    for (const std::string& line : r.lines("out")) {
        out[text(line, "user_id")] = text(line, "variant");
    }
    for (const std::string& line : r.lines("excluded")) {
        out[text(line, "user_id")] = "-";
    }
    return out;
}

/// u as the plugin defines it, from the first 16 hex digits of the SHA-256
/// that sha256sum prints: (h >> 11) / 2^53.
double u_of(const std::string& hex16) {
    uint64_t h = std::stoull(hex16, nullptr, 16);
    return static_cast<double>(h >> 11) / 9007199254740992.0;
}

constexpr const char* kAbc = ", experiment: checkout_button, variants: {a: 25, b: 50, c: 25}";

// The hashes come from coreutils, not from OpenSSL, e.g.
//   printf 'checkout_button.u1' | sha256sum   ->  a51e41073a216183...
// u = (0xa51e41073a216183 >> 11) / 2^53 = 0.64499..., and with weights
// a: 25, b: 50, c: 25 the blocks are a [0, 0.25), b [0.25, 0.75), c [0.75, 1).
// Integer keys hash their decimal text: 'checkout_button.-7', and 2^53 + 1
// (which a double cannot hold) as 'checkout_button.9007199254740993'.
TEST(AbAssignTest, KnownAnswersFromSha256sum) {
    struct Known {
        const char* key;
        const char* sha256_prefix;
        const char* variant;
    };
    const Known known[] = {
        {"u1", "a51e41073a216183", "b"},                // u = 0.6450
        {"u3", "5c42ea9dd45dd706", "b"},                // u = 0.3604
        {"u4", "b827778961a8bc16", "b"},                // u = 0.7194
        {"u5", "11241845ad56763b", "a"},                // u = 0.0670
        {"u6", "f30bc414db238b4f", "c"},                // u = 0.9494
        {"42", "6dec2a1e41f1e5fd", "b"},                // u = 0.4294
        {"-7", "06586556ddf9afc6", "a"},                // u = 0.0248
        {"9007199254740993", "42845dd25ea7bb53", "b"},  // u = 0.2598
    };
    std::vector<std::string> keys;
    for (const Known& k : known) {
        keys.push_back(k.key);
    }
    auto r = run(records_of(keys), std::string(kAbc) + ", bucket_field: bucket");
    const auto& lines = r.lines("out");
    ASSERT_EQ(lines.size(), std::size(known));
    for (size_t i = 0; i < lines.size(); ++i) {
        SCOPED_TRACE(known[i].key);
        EXPECT_EQ(text(lines[i], "user_id"), known[i].key);
        EXPECT_EQ(text(lines[i], "variant"), known[i].variant);
        EXPECT_EQ(num(lines[i], "bucket"), u_of(known[i].sha256_prefix));
    }
    EXPECT_TRUE(r.lines("errors").empty());
}

// The plugin's own SHA-256 over messages that end at and around its 64-byte
// blocks (padding that fits, that spills into a second block, several
// blocks): salt = n times 's', message = salt + ".u1", hashes from e.g.
//   printf '%s.u1' "$(printf 's%.0s' $(seq 1 52))" | sha256sum
TEST(AbAssignTest, KnownAnswersForMessagesAcrossHashBlocks) {
    struct Known {
        int salt_length;
        const char* sha256_prefix;
    };
    const Known known[] = {
        {52, "cfdc77dfd0382f60"},  {53, "a8838ca00448e5b7"},  {60, "f22f4b4bf9121cb4"},
        {61, "5c64b8c521a97f5a"},  {62, "954958ffa44b2131"},  {116, "ae7c0f3637c65db4"},
        {117, "3182c4ab26f71591"}, {197, "80522b37239cfbe8"},
    };
    for (const Known& k : known) {
        SCOPED_TRACE(k.salt_length);
        auto r = run(records_of({"u1"}), ", experiment: e, salt: " +
                                             std::string(static_cast<size_t>(k.salt_length), 's') +
                                             ", variants: {a: 1}, bucket_field: bucket");
        ASSERT_EQ(r.lines("out").size(), 1u);
        EXPECT_EQ(num(r.lines("out")[0], "bucket"), u_of(k.sha256_prefix));
    }
}

// Exposure 0.5 with two equal variants: control [0, 0.25), excluded [0.25,
// 0.5), treatment [0.5, 0.75), excluded [0.75, 1). Hashes as above.
TEST(AbAssignTest, KnownAnswersWithExposure) {
    auto r = run(records_of({"u1", "u2", "u3", "u4", "u5", "u6", "42", "-7"}),
                 ", experiment: checkout_button, variants: {control: 1, treatment: 1}, "
                 "exposure: 0.5");
    auto got = assignments(r);
    std::map<std::string, std::string> want = {
        {"u1", "treatment"},  // 0.6450
        {"u2", "treatment"},  // 0.5885 (96a547ea6fb15221)
        {"u3", "-"},          // 0.3604
        {"u4", "treatment"},  // 0.7194
        {"u5", "control"},    // 0.0670
        {"u6", "-"},          // 0.9494
        {"42", "-"},          // 0.4294
        {"-7", "control"},    // 0.0248
    };
    EXPECT_EQ(got, want);
    // Excluded records leave unchanged: no variant field.
    for (const std::string& line : r.lines("excluded")) {
        EXPECT_EQ(raw(line, "variant"), "") << line;
    }
}

// 20,000 keys, weights 50/30/20: each share is within 0.015 of its weight
// (about 4 standard deviations of a binomial share at n = 20,000; the hash
// is fixed, so this either always holds or never).
TEST(AbAssignTest, SplitFollowsTheWeights) {
    const int n = 20000;
    auto r = run(records_of(user_keys(n)),
                 ", experiment: split_check, variants: {control: 50, big: 30, small: 20}");
    std::map<std::string, int> counts;
    for (const std::string& line : r.lines("out")) {
        ++counts[text(line, "variant")];
    }
    ASSERT_EQ(r.lines("out").size(), static_cast<size_t>(n));
    EXPECT_NEAR(counts["control"] / double(n), 0.5, 0.015);
    EXPECT_NEAR(counts["big"] / double(n), 0.3, 0.015);
    EXPECT_NEAR(counts["small"] / double(n), 0.2, 0.015);
    EXPECT_EQ(counts.size(), 3u);
    // The per-variant counters say the same.
    std::string metrics = render_prometheus(r.job->metrics());
    for (const auto& [variant, count] : counts) {
        EXPECT_THAT(metrics, HasSubstr("experiment=\"split_check\",variant=\"" + variant + "\"} " +
                                       std::to_string(count) + "\n"));
    }
}

TEST(AbAssignTest, SameAssignmentAcrossRunsParallelismAndInputOrder) {
    std::vector<std::string> keys = user_keys(3000);
    keys.push_back("42");
    const std::string params = ", experiment: stable, variants: {a: 1, b: 1, c: 2}, exposure: 0.8";
    auto first = run(records_of(keys), params);
    auto once = assignments(first);
    ASSERT_EQ(once.size(), keys.size());
    auto again = run(records_of(keys), params);
    EXPECT_EQ(assignments(again), once);
    auto parallel = run(records_of(keys), params + ", parallelism: 2", "parallelism: 2\n");
    EXPECT_EQ(assignments(parallel), once);
    std::reverse(keys.begin(), keys.end());
    auto reversed = run(records_of(keys), params);
    EXPECT_EQ(assignments(reversed), once);
}

TEST(AbAssignTest, SaltDecidesAndDefaultsToTheExperiment) {
    std::string records = records_of(user_keys(2000));
    // run_yaml() clears the collected lines: read each run before the next.
    auto base = run(records, ", experiment: checkout_button, variants: {x: 1, y: 1}");
    auto a = assignments(base);
    // Another experiment name with the old name as salt: the same assignment.
    auto renamed =
        run(records, ", experiment: renamed, salt: checkout_button, variants: {x: 1, y: 1}");
    EXPECT_EQ(assignments(renamed), a);
    // Another salt: independent, so about half of the keys change variant.
    auto salted = run(records, ", experiment: checkout_button, salt: s2, variants: {x: 1, y: 1}");
    auto b = assignments(salted);
    ASSERT_EQ(a.size(), b.size());
    int changed = 0;
    for (const auto& [key, variant] : a) {
        changed += b[key] != variant ? 1 : 0;
    }
    EXPECT_NEAR(changed / 2000.0, 0.5, 0.06);
}

// Raising exposure only adds keys: a key in the experiment keeps its variant.
TEST(AbAssignTest, ExposureSharesAndRaisingItOnlyAddsKeys) {
    std::string records = records_of(user_keys(4000));
    auto at = [&](const std::string& exposure) {
        auto r = run(records,
                     ", experiment: rollout, variants: {control: 1, treatment: 1}, "
                     "bucket_field: u, exposure: " +
                         exposure);
        // Every record inside has u in the first `exposure` of its block.
        double e = std::stod(exposure);
        for (const std::string& line : r.lines("out")) {
            double u = num(line, "u");
            double start = text(line, "variant") == "control" ? 0.0 : 0.5;
            EXPECT_TRUE(u >= start && u < start + 0.5 * e) << line;
        }
        return assignments(r);
    };
    auto small = at("0.1");
    auto half = at("0.5");
    auto all = at("1");
    auto share_in = [](const std::map<std::string, std::string>& m) {
        return std::count_if(m.begin(), m.end(), [](const auto& kv) { return kv.second != "-"; }) /
               double(m.size());
    };
    EXPECT_NEAR(share_in(small), 0.1, 0.02);
    EXPECT_NEAR(share_in(half), 0.5, 0.03);
    EXPECT_EQ(share_in(all), 1.0);
    for (const auto& [key, variant] : small) {
        if (variant != "-") {
            EXPECT_EQ(half[key], variant) << key;
        }
    }
    for (const auto& [key, variant] : half) {
        if (variant != "-") {
            EXPECT_EQ(all[key], variant) << key;
        }
    }
}

TEST(AbAssignTest, BadKeysGoToErrorsNamingTheField) {
    auto r = run(R"(      - {user_id: u1}
      - {other: x}
      - {user_id: 1.5}
      - {user_id: true}
      - {user_id: null}
      - {user_id: ""}
)",
                 ", experiment: e, variants: {a: 1}");
    EXPECT_EQ(r.lines("out").size(), 1u);
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 5u);
    EXPECT_THAT(errors[0], HasSubstr("the record has no field `user_id`"));
    EXPECT_THAT(errors[1], HasSubstr("field `user_id` holds a double, not a string or an integer"));
    EXPECT_THAT(errors[2], HasSubstr("field `user_id` holds a bool"));
    EXPECT_THAT(errors[3], HasSubstr("field `user_id` holds null"));
    EXPECT_THAT(errors[4], HasSubstr("field `user_id` is an empty string"));
    for (const std::string& line : errors) {
        EXPECT_EQ(raw(line, "variant"), "") << line;
    }
}

TEST(AbAssignTest, CustomFieldsKeepTheRestOfTheRecord) {
    auto r = run(R"(      - {ts: 5, account: 42, page: /home}
)",
                 ", experiment: checkout_button, key_field: account, field: arm, "
                 "variants: {a: 25, b: 50, c: 25}");
    ASSERT_EQ(r.lines("out").size(), 1u);
    const std::string& line = r.lines("out")[0];
    EXPECT_EQ(text(line, "arm"), "b");  // as `42` in KnownAnswersFromSha256sum
    EXPECT_EQ(raw(line, "ts"), "5");
    EXPECT_EQ(text(line, "page"), "/home");
    EXPECT_EQ(raw(line, "account"), "42");
}

std::string config_error(const std::string& params) {
    auto r = run_yaml(topology(records_of({"u1"}), params));
    EXPECT_FALSE(r.status.is_ok()) << params;
    return r.diagnostics;
}

TEST(AbAssignTest, ConfigurationErrorsSayWhatAndWhere) {
    EXPECT_THAT(config_error(", experiment: e"),
                HasSubstr("is missing required parameter 'variants'"));
    EXPECT_THAT(config_error(", experiment: e, variants: {}"),
                HasSubstr("`variants` (test.yaml:8:55) needs at least one variant"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1, b: 0}"),
                HasSubstr("the weight of variant `b` in `variants` (test.yaml:8:72) must be a "
                          "number > 0, got `0`"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: -2}"),
                HasSubstr("the weight of variant `a` in `variants` (test.yaml:8:66) must be a "
                          "number > 0, got `-2`"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1e308, b: 1e308}"),
                HasSubstr("the weights in `variants` (test.yaml:8:55) add up to more than a "
                          "double holds"));
    EXPECT_THAT(config_error(", experiment: e, variants: {\"\": 1}"),
                HasSubstr("a variant in `variants` (test.yaml:8:66) has an empty name"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: lots}"),
                HasSubstr("must be a number like `0.5`, got `lots`"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1}, exposure: 0"),
                HasSubstr("must be more than 0 and at most 1 (the share of keys in the "
                          "experiment), got 0"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1}, exposure: 1.5"),
                HasSubstr("`exposure` (test.yaml:8:73) must be more than 0 and at most 1"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1}, salt: \"\""),
                HasSubstr("`salt` must not be empty"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1}, field: user_id"),
                HasSubstr("`field` and `key_field` are both `user_id`"));
    EXPECT_THAT(config_error(", experiment: e, variants: {a: 1}, bucket_field: variant"),
                HasSubstr("`bucket_field` is `variant`, which is also `field`"));
}

// docs/plugins/ab_assign.md covers every parameter with its default, and every
// output (specs_test checks that the spec's examples validate).
TEST(AbAssignTest, TheDocCoversTheSpec) {
    Registry registry = testing::test_registry();
    Status loaded = load_plugin(kPlugin, registry);
    ASSERT_TRUE(loaded.is_ok()) << loaded.message();
    const ComponentSpec* spec = registry.find(ComponentKind::kOperator, "ab_assign");
    ASSERT_NE(spec, nullptr);
    testing::expect_doc_covers_spec(*spec, "docs/plugins/ab_assign.md");
}

}  // namespace
}  // namespace eddy
