// SPDX-License-Identifier: Apache-2.0
// profile: decay against the closed form, out-of-order and late events, the
// throttle, averages, categories, engagement, features and the codec.
#include "profile.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "json_fields.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::run_yaml;

constexpr int64_t kHour = 3600000;

using testing::num;
using testing::raw;

std::vector<double> vec(const std::string& line, const std::string& field) {
    std::string text = raw(line, field);
    std::vector<double> out;
    const char* p = text.c_str() + 1;
    while (*p != ']' && *p != '\0') {
        char* end = nullptr;
        out.push_back(std::strtod(p, &end));
        p = *end == ',' ? end + 1 : end;
    }
    return out;
}

std::string topology(const std::string& records, const std::string& params,
                     const std::string& source_extra = "") {
    return "sources:\n  in:\n    type: memory\n" + source_extra + "    records:\n" + records +
           "operators:\n  p: {type: profile, input: in, key: user_id" + params +
           "}\nsinks:\n  out: {type: collect, input: p}\n  late: {type: collect, input: "
           "p.late}\n";
}

std::vector<std::string> run_profile(const std::string& records, const std::string& params,
                                     const std::string& source_extra = "", size_t batch_size = 1) {
    JobOptions options;
    options.batch_size = batch_size;
    auto r = run_yaml(topology(records, params, source_extra), options);
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    return r.lines("out");
}

TEST(ProfileTest, DecayMatchesTheClosedForm) {
    auto lines = run_profile(R"(      - {ts: 0, user_id: a, type: page_view}
      - {ts: 3600000, user_id: a, type: page_view}
      - {ts: 7200000, user_id: a, type: click}
)",
                             ", half_life: 1h, emit_every: 0s");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(raw(lines[0], "ts"), "0");
    EXPECT_EQ(raw(lines[0], "recency_ms"), "null");
    EXPECT_EQ(num(lines[1], "n_page_view"), 1.5);  // 2^-1 + 1
    EXPECT_EQ(raw(lines[2], "ts"), "7200000");
    EXPECT_EQ(raw(lines[2], "user_id"), "\"a\"");
    EXPECT_DOUBLE_EQ(num(lines[2], "n_page_view"), 0.75);  // 2^-2 + 2^-1
    EXPECT_DOUBLE_EQ(num(lines[2], "n_click"), 1);
    EXPECT_DOUBLE_EQ(num(lines[2], "n_purchase"), 0);
    EXPECT_DOUBLE_EQ(num(lines[2], "frequency"), 1.75);
    EXPECT_EQ(num(lines[2], "events"), 3);
    EXPECT_EQ(num(lines[2], "recency_ms"), kHour);
}

TEST(ProfileTest, OutOfOrderEventAddsItsDecayedWeight) {
    auto lines = run_profile(R"(      - {ts: 7200000, user_id: a, type: click}
      - {ts: 0, user_id: a, type: page_view}
      - {ts: 3600000, user_id: a, type: page_view}
)",
                             ", half_life: 1h, emit_every: 0s",
                             "    watermark: {max_out_of_orderness: 10h}\n");
    ASSERT_EQ(lines.size(), 3u);
    // An older event never moves the profile back in time.
    EXPECT_EQ(raw(lines[1], "ts"), "7200000");
    EXPECT_DOUBLE_EQ(num(lines[1], "n_page_view"), 0.25);
    EXPECT_EQ(raw(lines[1], "recency_ms"), "7200000");
    EXPECT_EQ(raw(lines[2], "ts"), "7200000");
    EXPECT_DOUBLE_EQ(num(lines[2], "n_page_view"), 0.75);
    EXPECT_DOUBLE_EQ(num(lines[2], "frequency"), 1.75);
    EXPECT_EQ(num(lines[2], "recency_ms"), kHour);
}

// Random events; the last profile of a permutation equals the in-order one
// and the closed form evaluated at the latest event time.
TEST(ProfileTest, PermutedStreamGivesTheSameProfile) {
    std::mt19937 rng(7);
    const char* types[] = {"page_view", "click", "purchase", "search"};
    const char* cats[] = {"shoes", "books", "toys"};
    struct Event {
        int64_t ts;
        int type;
        int cat;
        int dwell;
    };
    std::vector<Event> events;
    for (int i = 0; i < 60; ++i) {
        events.push_back({static_cast<int64_t>(i) * 97531 + static_cast<int64_t>(rng() % 1000),
                          static_cast<int>(rng() % 4), static_cast<int>(rng() % 3),
                          static_cast<int>(rng() % 20000)});
    }
    auto yaml = [&](const std::vector<Event>& evs) {
        std::string s;
        for (const Event& e : evs) {
            s += "      - {ts: " + std::to_string(e.ts) + ", user_id: u, type: " + types[e.type] +
                 ", category: " + cats[e.cat] + ", dwell_ms: " + std::to_string(e.dwell) +
                 ", price: 3}\n";
        }
        return s;
    };
    const std::string params = ", half_life: 30m, emit_every: 0s";
    const std::string wm = "    watermark: {max_out_of_orderness: 1000d}\n";
    auto ordered = run_profile(yaml(events), params, wm, 16);
    std::vector<Event> shuffled = events;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    auto permuted = run_profile(yaml(shuffled), params, wm, 16);
    ASSERT_EQ(ordered.size(), events.size());
    ASSERT_EQ(permuted.size(), events.size());
    const std::string& a = ordered.back();
    const std::string& b = permuted.back();
    int64_t last = events.back().ts;
    EXPECT_EQ(raw(a, "ts"), std::to_string(last));
    EXPECT_EQ(raw(b, "ts"), std::to_string(last));
    for (const char* f : {"n_page_view", "n_click", "n_purchase", "n_search", "frequency",
                          "dwell_avg", "monetary", "engagement", "affinity_1", "affinity_2",
                          "affinity_3", "recency_ms", "events", "purchases"}) {
        EXPECT_NEAR(num(a, f), num(b, f), 1e-9 * std::max(1.0, std::abs(num(a, f)))) << f;
    }
    for (const char* f : {"top_category_1", "top_category_2", "top_category_3"}) {
        EXPECT_EQ(raw(a, f), raw(b, f));
    }
    double closed[4] = {0, 0, 0, 0};
    double dwell_sum = 0;
    double weight = 0;
    for (const Event& e : events) {
        double w = std::exp2(-static_cast<double>(last - e.ts) / 1800000.0);
        closed[e.type] += w;
        dwell_sum += w * e.dwell;
        weight += w;
    }
    for (int t = 0; t < 4; ++t) {
        EXPECT_NEAR(num(b, std::string("n_") + types[t]), closed[t], 1e-9) << types[t];
    }
    EXPECT_NEAR(num(b, "frequency"), weight, 1e-9);
    EXPECT_NEAR(num(b, "dwell_avg"), dwell_sum / weight, 1e-6);
    EXPECT_NEAR(num(b, "monetary"), 3 * closed[2], 1e-9);
    // The features' shares and value per event are the closed forms' ratios.
    std::vector<double> fa = vec(a, "features");
    std::vector<double> fb = vec(b, "features");
    ASSERT_EQ(fa.size(), 13u);
    ASSERT_EQ(fb.size(), 13u);
    for (size_t i = 0; i < fa.size(); ++i) {
        EXPECT_NEAR(fa[i], fb[i], 1e-6) << "feature " << i;
    }
    const size_t index[4] = {0, 1, 3, 5};  // page_view, click, purchase, search
    for (int t = 0; t < 4; ++t) {
        EXPECT_NEAR(fb[index[t]], closed[t] / weight, 1e-6) << types[t];
    }
    EXPECT_NEAR(fb[8], std::log1p(weight), 1e-6);
    EXPECT_NEAR(fb[11], std::log1p(3 * closed[2] / weight), 1e-6);
}

TEST(ProfileTest, AveragesCategoriesEngagementAndFeatures) {
    auto lines = run_profile(
        R"(      - {ts: 0, user_id: a, type: page_view, category: shoes, dwell_ms: 4000, scroll_pct: 0.5}
      - {ts: 3600000, user_id: a, type: purchase, category: shoes, price: 100}
      - {ts: 7200000, user_id: a, type: page_view, category: books, dwell_ms: 10000, scroll_pct: 1.0}
)",
        ", half_life: 1h, emit_every: 0s, top_categories: 2, categories: [books, shoes, toys]");
    ASSERT_EQ(lines.size(), 3u);
    const std::string& l = lines[2];
    EXPECT_DOUBLE_EQ(num(l, "n_page_view"), 1.25);
    EXPECT_DOUBLE_EQ(num(l, "n_purchase"), 0.5);
    EXPECT_DOUBLE_EQ(num(l, "dwell_avg"), 8800);  // (0.25*4000 + 10000) / 1.25
    EXPECT_DOUBLE_EQ(num(l, "scroll_avg"), 0.9);  // (0.25*0.5 + 1) / 1.25
    EXPECT_DOUBLE_EQ(num(l, "monetary"), 50);     // 0.5 * 100
    EXPECT_EQ(num(l, "purchases"), 1);
    EXPECT_EQ(raw(l, "top_category_1"), "\"books\"");  // 1 vs 0.25 + 0.5
    EXPECT_DOUBLE_EQ(num(l, "affinity_1"), 1 / 1.75);
    EXPECT_EQ(raw(l, "top_category_2"), "\"shoes\"");
    EXPECT_DOUBLE_EQ(num(l, "affinity_2"), 0.75 / 1.75);
    EXPECT_EQ(raw(l, "top_category_3"), "");
    double engagement = 0.4 * (1 - std::exp2(-1.75 / 10)) + 0.2 * 8800 / 38800 + 0.1 * 0.9 +
                        0.3 * 0.5;  // conversions: 2 * 0.5 decayed purchases
    EXPECT_DOUBLE_EQ(num(l, "engagement"), engagement);

    // Types as shares of the 1.75 decayed events (page_view 1.25, purchase 0.5),
    // then log1p(frequency), dwell in s, scroll, value per event (50 / 1.75),
    // engagement, and the category shares (books, shoes, toys).
    std::vector<double> f = vec(l, "features");
    ASSERT_EQ(f.size(), 8u + 5 + 3);
    std::vector<double> expected = {5.0 / 7,
                                    0,
                                    0,
                                    2.0 / 7,
                                    0,
                                    0,
                                    0,
                                    0,
                                    std::log1p(1.75),
                                    std::log1p(8.8),
                                    0.9,
                                    std::log1p(200.0 / 7),
                                    engagement,
                                    1 / 1.75,
                                    0.75 / 1.75,
                                    0};
    for (size_t i = 0; i < f.size(); ++i) {
        EXPECT_NEAR(f[i], expected[i], 1e-6) << "feature " << i;
    }
    // The first profile has no dwell-less gaps: scroll and dwell of one event.
    EXPECT_DOUBLE_EQ(num(lines[0], "dwell_avg"), 4000);
    EXPECT_EQ(raw(lines[1], "ts"), "3600000");
    EXPECT_DOUBLE_EQ(num(lines[1], "dwell_avg"), 4000);
}

TEST(ProfileTest, MissingOptionalFieldsAndUnknownTypes) {
    auto lines = run_profile(R"(      - {ts: 5, user_id: a, type: wishlist}
      - {ts: 5, user_id: a, type: purchase}
)",
                             ", emit_every: 0s, top_categories: 0");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(raw(lines[0], "dwell_avg"), "null");
    EXPECT_EQ(raw(lines[0], "scroll_avg"), "null");
    EXPECT_EQ(num(lines[0], "frequency"), 1);  // counted, but in no n_<type>
    EXPECT_EQ(num(lines[1], "frequency"), 2);
    EXPECT_EQ(num(lines[1], "recency_ms"), 0);  // two events at the same time
    EXPECT_EQ(num(lines[1], "purchases"), 1);
    EXPECT_EQ(num(lines[1], "monetary"), 0);  // no price
    // The unknown type counts in the denominator of the shares: the purchase
    // is half of the events and no listed type has the other half.
    std::vector<double> f = vec(lines[1], "features");
    ASSERT_EQ(f.size(), 13u);
    std::vector<double> expected = {0,
                                    0,
                                    0,
                                    0.5,
                                    0,
                                    0,
                                    0,
                                    0,
                                    std::log1p(2.0),
                                    0,
                                    0,
                                    0,
                                    0.4 * (1 - std::exp2(-0.2)) + 0.3 * 2.0 / 3};
    for (size_t i = 0; i < f.size(); ++i) {
        EXPECT_NEAR(f[i], expected[i], 1e-6) << "feature " << i;
    }
    EXPECT_EQ(raw(lines[1], "top_category_1"), "");
}

TEST(ProfileTest, ThrottleEmitsAtMostOncePerIntervalAndNeverLosesTheLastChange) {
    // a: 0 emits; 10s and 20s wait for the 60s boundary; 70s is past it, so
    // the pending state (3 events) is emitted as of 60s first, as the timer
    // would have; 70s and 80s then wait for 120s, which the end of input fires.
    auto lines = run_profile(R"(      - {ts: 0, user_id: a, type: click}
      - {ts: 10000, user_id: a, type: click}
      - {ts: 20000, user_id: a, type: click}
      - {ts: 70000, user_id: a, type: click}
      - {ts: 80000, user_id: a, type: click}
)",
                             ", half_life: 1m, emit_every: 1m");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(raw(lines[0], "ts"), "0");
    EXPECT_EQ(raw(lines[1], "ts"), "60000");
    EXPECT_EQ(num(lines[1], "events"), 3);
    EXPECT_EQ(raw(lines[2], "ts"), "120000");
    EXPECT_EQ(num(lines[2], "events"), 5);
    // Evaluated at the timer's time: 2^-(120-80)/60 + 2^-(120-70)/60 + ...
    double expected = 0;
    for (int t : {0, 10, 20, 70, 80}) {
        expected += std::exp2(-(120.0 - t) / 60.0);
    }
    EXPECT_DOUBLE_EQ(num(lines[2], "n_click"), expected);
}

TEST(ProfileTest, EmissionsDoNotDependOnWhenWatermarksArrive) {
    // One record per batch moves the watermark after every record; one batch
    // for all moves it once, after a's pending boundaries have passed. The
    // emissions (and so the state a restart resumes) must be the same.
    std::string records;
    std::mt19937 rng(7);
    int64_t t = 0;
    for (int i = 0; i < 400; ++i) {
        t += std::uniform_int_distribution<int64_t>(1000, 40000)(rng);
        records += "      - {ts: " + std::to_string(t) + ", user_id: u" + std::to_string(i % 7) +
                   ", type: click}\n";
    }
    auto one_by_one = run_profile(records, ", half_life: 10m, emit_every: 2m", "", 1);
    auto at_once = run_profile(records, ", half_life: 10m, emit_every: 2m", "", 4096);
    std::sort(one_by_one.begin(), one_by_one.end());
    std::sort(at_once.begin(), at_once.end());
    EXPECT_GT(one_by_one.size(), 100u);
    EXPECT_TRUE(one_by_one == at_once) << one_by_one.size() << " emissions one record per batch, "
                                       << at_once.size() << " in one batch";
}

TEST(ProfileTest, ThrottleTimerFiresWhenTheWatermarkPassesTheBoundary) {
    // b's event moves the watermark to 60999, past a's boundary at 60000.
    auto lines = run_profile(R"(      - {ts: 0, user_id: a, type: click}
      - {ts: 10000, user_id: a, type: click}
      - {ts: 61000, user_id: b, type: click}
      - {ts: 65000, user_id: a, type: click}
)",
                             ", half_life: 1m, emit_every: 1m");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_THAT(lines[0], HasSubstr(R"("ts":0,"user_id":"a")"));
    EXPECT_THAT(lines[1], HasSubstr(R"("ts":61000,"user_id":"b")"));
    EXPECT_THAT(lines[2], HasSubstr(R"("ts":60000,"user_id":"a")"));
    EXPECT_EQ(num(lines[2], "events"), 2);
    EXPECT_DOUBLE_EQ(num(lines[2], "n_click"), 0.5 + std::exp2(-50.0 / 60));
    // 65000 < 60000 + 1m: waits for 120000, fired at the end of input.
    EXPECT_THAT(lines[3], HasSubstr(R"("ts":120000,"user_id":"a")"));
    EXPECT_EQ(num(lines[3], "events"), 3);
}

TEST(ProfileTest, LateEventsGoToLateAtTheExactBoundary) {
    // After b at 200000 the watermark is 199999; with 10s allowed lateness an
    // event at 189999 (= watermark - lateness) is late, one at 190000 is not.
    JobOptions options;
    options.batch_size = 1;
    auto r = run_yaml(topology(R"(      - {ts: 100000, user_id: a, type: click}
      - {ts: 200000, user_id: b, type: click}
      - {ts: 189999, user_id: a, type: click}
      - {ts: 190000, user_id: a, type: page_view}
)",
                               ", half_life: 1m, emit_every: 0s, allowed_lateness: 10s"),
                      options);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    ASSERT_EQ(r.lines("late").size(), 1u);
    EXPECT_THAT(r.lines("late")[0], HasSubstr(R"("ts":189999)"));
    EXPECT_EQ(num(r.lines("late")[0], "lateness_ms"), 10000);
    ASSERT_EQ(r.lines("out").size(), 3u);
    EXPECT_EQ(raw(r.lines("out")[2], "ts"), "190000");
    EXPECT_EQ(num(r.lines("out")[2], "events"), 2);
    EXPECT_EQ(raw(r.lines("out")[2], "n_click"), raw(r.lines("out")[2], "n_click"));
    EXPECT_DOUBLE_EQ(num(r.lines("out")[2], "n_click"), std::exp2(-90.0 / 60));
}

TEST(ProfileTest, UpdatePolicyAppliesLateEvents) {
    JobOptions options;
    options.batch_size = 1;
    auto r = run_yaml(topology(R"(      - {ts: 100000, user_id: a, type: click}
      - {ts: 200000, user_id: b, type: click}
      - {ts: 40000, user_id: a, type: page_view}
)",
                               ", half_life: 1m, emit_every: 0s, on_late: update"),
                      options);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_TRUE(r.lines("late").empty());
    ASSERT_EQ(r.lines("out").size(), 3u);
    const std::string& l = r.lines("out")[2];
    EXPECT_EQ(raw(l, "ts"), "100000");  // as of a's latest event
    EXPECT_DOUBLE_EQ(num(l, "n_page_view"), 0.5);
    EXPECT_DOUBLE_EQ(num(l, "n_click"), 1);
    EXPECT_EQ(num(l, "recency_ms"), 60000);

    auto dropped = run_yaml(topology(R"(      - {ts: 100000, user_id: a, type: click}
      - {ts: 200000, user_id: b, type: click}
      - {ts: 40000, user_id: a, type: page_view}
)",
                                     ", emit_every: 0s, on_late: drop"),
                            options);
    ASSERT_TRUE(dropped.status.is_ok());
    EXPECT_TRUE(dropped.lines("late").empty());
    EXPECT_EQ(dropped.lines("out").size(), 2u);
}

TEST(ProfileTest, CategoriesBeyondCapacityKeepTheHeaviest) {
    // top_categories 1 with a one-word vocabulary tracks 4 + 1 categories. f (weight
    // 1, all events at the same time) does not displace an equally heavy one, while
    // the vocabulary category v always gets in, evicting the lowest (ties: last name).
    auto lines = run_profile(R"(      - {ts: 0, user_id: a, type: click, category: a1}
      - {ts: 0, user_id: a, type: click, category: a1}
      - {ts: 0, user_id: a, type: click, category: b}
      - {ts: 0, user_id: a, type: click, category: c}
      - {ts: 0, user_id: a, type: click, category: d}
      - {ts: 0, user_id: a, type: click, category: e}
      - {ts: 0, user_id: a, type: click, category: f}
      - {ts: 0, user_id: a, type: click, category: v}
      - {ts: 0, user_id: a, type: click, category: v}
      - {ts: 0, user_id: a, type: click, category: v}
)",
                             ", emit_every: 0s, top_categories: 1, categories: [v]");
    ASSERT_EQ(lines.size(), 10u);
    EXPECT_EQ(raw(lines[6], "top_category_1"), "\"a1\"");
    EXPECT_DOUBLE_EQ(num(lines[6], "affinity_1"), 2.0 / 6);  // f is not tracked
    EXPECT_EQ(raw(lines[9], "top_category_1"), "\"v\"");
    EXPECT_DOUBLE_EQ(num(lines[9], "affinity_1"), 3.0 / 8);  // a1 2, b c d 1, v 3
    std::vector<double> f = vec(lines[9], "features");
    ASSERT_EQ(f.size(), 8u + 5 + 1);
    EXPECT_NEAR(f.back(), 3.0 / 8, 1e-7);
}

TEST(ProfileTest, RulesRejectDuplicateTypesAndClashingKeyField) {
    auto dup = run_yaml(topology("      - {ts: 0, user_id: a}\n", ", event_types: [click, click]"));
    EXPECT_FALSE(dup.status.is_ok());
    EXPECT_THAT(dup.diagnostics, HasSubstr("`event_types` lists `click` twice"));
    auto clash = run_yaml(topology("      - {ts: 0, user_id: a}\n", ", key_field: frequency"));
    EXPECT_FALSE(clash.status.is_ok());
    EXPECT_THAT(clash.diagnostics, HasSubstr("`key_field` `frequency`"));
}

TEST(ProfileTest, StateCodecRoundTrips) {
    ProfileState p;
    p.ref_time = 123456;
    p.second_time = 120000;
    p.last_emit = 100000;
    p.pending = true;
    p.events = 9;
    p.purchases = 2;
    p.frequency = 3.5;
    p.dwell_sum = 1234.5;
    p.dwell_weight = 2.25;
    p.scroll_sum = 0.7;
    p.scroll_weight = 1.5;
    p.monetary = 42.25;
    p.buys = 1.125;
    p.type_counts = {1, 0.5, 0, 2};
    p.categories = {{"shoes", 1.5}, {"books", 0.25}};
    std::string bytes = encode_state(p);
    ProfileState q;
    ASSERT_TRUE(decode_state(bytes, q));
    EXPECT_EQ(encode_state(q), bytes);
    EXPECT_EQ(q.ref_time, 123456);
    EXPECT_EQ(q.second_time, 120000);
    EXPECT_TRUE(q.pending);
    EXPECT_EQ(q.type_counts, p.type_counts);
    ASSERT_EQ(q.categories.size(), 2u);
    EXPECT_EQ(q.categories[1].name, "books");
    EXPECT_EQ(q.monetary, 42.25);
    ProfileState empty;
    ASSERT_TRUE(decode_state(encode_state(empty), q));
    EXPECT_EQ(q.ref_time, kNoProfileTime);
    EXPECT_TRUE(q.categories.empty());
    EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, bytes.size() - 1), q));
}

}  // namespace
}  // namespace eddy
