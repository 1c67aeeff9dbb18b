// SPDX-License-Identifier: Apache-2.0
#include "io/generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/clock.h"
#include "eddy/context.h"
#include "eddy/fields.h"
#include "eddy/record.h"
#include "eddy/source.h"
#include "eddy/spec.h"

#include "files.h"
#include "io/generator_random.h"
#include "record/json.h"
#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

// Counts heap allocations while enabled, to check that generation allocates
// nothing beyond the batch's arena in the steady state.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
    if (g_count_allocations.load(std::memory_order_relaxed)) {
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    }
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
// GCC pairs the replaced operator new with free() after inlining and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t) noexcept {
    std::free(p);
}
#pragma GCC diagnostic pop

namespace eddy::io {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

/// One event, decoded from its record.
struct Ev {
    int64_t ts = 0;
    std::string user;
    std::string type;
    std::map<std::string, std::string> text;  // every other field, as text
    bool has(const std::string& f) const { return text.count(f) > 0; }
    int64_t num(const std::string& f) const { return std::stoll(text.at(f)); }
};

struct Stream {
    std::vector<Ev> events;
    std::vector<std::string> json;  // each event as the JSON line `eddy gen` writes
    std::vector<UserTruth> truth;
    uint64_t users_seen = 0, bots_seen = 0;
};

Stream generate(const GeneratorOptions& options) {
    EXPECT_TRUE(options.validate().is_ok()) << options.validate().message();
    FieldTable table;
    auto fields = GeneratorFields::resolve([&](std::string_view n) { return table.intern(n); });
    ClickstreamGenerator gen(options, fields);
    JsonEncoder encoder([&](FieldId id) { return table.name(id); });
    Stream run;
    Batch batch;
    while (true) {
        batch.clear();
        Record& r = batch.append();
        if (!gen.next(r)) {
            break;
        }
        EXPECT_TRUE(r.get(fields.ts) && r.get(fields.ts)->as_int() == r.time());
        Ev e;
        e.ts = r.time();
        for (const Field& f : r.fields()) {
            const std::string name(table.name(f.id));
            std::string v;
            if (f.value.is_string()) {
                v = std::string(f.value.as_string());
            } else if (f.value.is_int()) {
                v = std::to_string(f.value.as_int());
            } else if (f.value.is_double()) {
                v = std::to_string(f.value.as_double());
            }
            if (name == "user_id") {
                e.user = v;
            } else if (name == "type") {
                e.type = v;
            } else if (name != "ts") {
                e.text[name] = v;
            }
        }
        std::string line;
        encoder.append(r, line);
        run.json.push_back(std::move(line));
        run.events.push_back(std::move(e));
    }
    EXPECT_TRUE(gen.done());
    run.truth = gen.truth();
    run.users_seen = gen.users_seen();
    run.bots_seen = gen.bots_seen();
    return run;
}

GeneratorOptions with_events(int64_t n, uint64_t seed = 42) {
    GeneratorOptions o;
    o.events = n;
    o.seed = seed;
    return o;
}

std::string user_id(int64_t n) {
    std::string id = std::to_string(n);
    id.insert(id.begin(), 'u');
    return id;
}

std::map<std::string, const UserTruth*> by_user(const Stream& run) {
    std::map<std::string, const UserTruth*> m;
    for (const UserTruth& t : run.truth) {
        m[user_id(t.user)] = &t;
    }
    return m;
}

using eddy::testing::read_lines;

std::string kind_of(const UserTruth& t) {
    return t.is_bot ? bot_kind_name(t.bot_kind) : t.segment;
}

// ---------------------------------------------------------------------------

TEST(GeneratorTest, SameSeedSameStreamOtherSeedOther) {
    Stream a = generate(with_events(20'000, 7));
    Stream b = generate(with_events(20'000, 7));
    Stream c = generate(with_events(20'000, 8));
    ASSERT_EQ(a.json.size(), 20'000u);
    EXPECT_EQ(a.json, b.json);
    EXPECT_NE(a.json, c.json);
    size_t same = 0;
    for (size_t i = 0; i < a.json.size(); ++i) {
        same += a.json[i] == c.json[i];
    }
    EXPECT_LT(same, a.json.size() / 100);
}

TEST(GeneratorTest, StreamIsAPrefixOfALongerOne) {
    Stream a = generate(with_events(3'000));
    Stream b = generate(with_events(6'000));
    EXPECT_TRUE(std::equal(a.json.begin(), a.json.end(), b.json.begin()));
}

TEST(GeneratorTest, EventsBoundGivesExactlyThatMany) {
    for (int64_t n : {1, 17, 1024, 5000}) {
        EXPECT_EQ(generate(with_events(n)).events.size(), static_cast<size_t>(n));
    }
}

TEST(GeneratorTest, DurationModeStaysInItsSpan) {
    GeneratorOptions o;
    o.duration_ms = 6 * kHour;
    o.start_ms = *parse_timestamp_ms("2025-03-01T00:00:00Z");
    Stream run = generate(o);
    ASSERT_GT(run.events.size(), 1000u);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (const Ev& e : run.events) {
        lo = std::min(lo, e.ts);
        hi = std::max(hi, e.ts);
    }
    EXPECT_GE(lo, o.start_ms);
    EXPECT_LT(hi, o.start_ms + *o.duration_ms);
    EXPECT_GT(hi, o.start_ms + *o.duration_ms - kHour);
}

TEST(GeneratorTest, BothBoundsStopAtTheFirst) {
    GeneratorOptions o = with_events(100);
    o.duration_ms = kHour * 24 * 7;
    EXPECT_EQ(generate(o).events.size(), 100u);
}

// ---------------------------------------------------------------------------
// Statistics of one 50k-event stream with the defaults.

class GeneratorStats : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        GeneratorOptions o = with_events(50'000);
        o.missing_rate = 0;  // exact field presence for the shape checks below
        o.out_of_order_rate = 0;
        shared() = std::make_unique<Shared>();
        shared()->stream = generate(o);
        shared()->truth = by_user(shared()->stream);
    }
    static void TearDownTestSuite() { shared().reset(); }

    struct Shared {
        Stream stream;
        std::map<std::string, const UserTruth*> truth;
    };
    static std::unique_ptr<Shared>& shared() {
        static std::unique_ptr<Shared> s;
        return s;
    }
    static const Stream& stream() { return shared()->stream; }
    static const std::map<std::string, const UserTruth*>& truths() { return shared()->truth; }
    static const UserTruth& truth(const Ev& e) { return *truths().at(e.user); }
};

TEST_F(GeneratorStats, BotShareAndEveryBotKind) {
    const double share =
        static_cast<double>(stream().bots_seen) / static_cast<double>(stream().users_seen);
    EXPECT_NEAR(share, 0.05, 0.02);
    std::map<BotKind, int> kinds;
    for (const UserTruth& t : stream().truth) {
        EXPECT_EQ(t.is_bot, t.bot_kind != BotKind::kNone);
        EXPECT_EQ(t.is_bot, t.segment == "bot");
        ++kinds[t.bot_kind];
    }
    EXPECT_GT(kinds[BotKind::kCrawler], 5);
    EXPECT_GT(kinds[BotKind::kHeadless], 5);
    EXPECT_GT(kinds[BotKind::kScraper], 5);
}

TEST_F(GeneratorStats, SegmentsPreferDifferentCategories) {
    std::map<std::string, std::map<std::string, double>> share;  // segment -> category -> share
    std::map<std::string, double> total;
    for (const Ev& e : stream().events) {
        const UserTruth& t = truth(e);
        if (!t.is_bot && e.has("category")) {
            share[t.segment][e.text.at("category")] += 1;
            total[t.segment] += 1;
        }
    }
    ASSERT_EQ(share.size(), 3u);  // browser, reader, buyer
    std::set<std::string> tops;
    for (auto& [segment, cats] : share) {
        for (auto& [c, n] : cats) {
            n /= total[segment];
        }
        auto top = std::max_element(cats.begin(), cats.end(),
                                    [](auto& a, auto& b) { return a.second < b.second; });
        EXPECT_GT(top->second, 2.0 / 20) << segment << " is not concentrated";
        tops.insert(top->first);
    }
    EXPECT_EQ(tops.size(), 3u) << "each segment should have its own favourite category";
    for (auto& [a, ca] : share) {
        for (auto& [b, cb] : share) {
            if (a >= b) {
                continue;
            }
            double tv = 0;
            std::set<std::string> cats;
            for (auto& [c, n] : ca) {
                cats.insert(c);
            }
            for (auto& [c, n] : cb) {
                cats.insert(c);
            }
            for (const std::string& c : cats) {
                tv += std::abs((ca.count(c) ? ca.at(c) : 0) - (cb.count(c) ? cb.at(c) : 0));
            }
            EXPECT_GT(tv / 2, 0.3) << a << " vs " << b;
        }
    }
}

TEST_F(GeneratorStats, EventTypeMixIsPlausible) {
    std::map<std::string, double> types;
    std::map<std::string, std::map<std::string, double>> by_segment;
    for (const Ev& e : stream().events) {
        types[e.type] += 1;
        if (!truth(e).is_bot) {
            by_segment[truth(e).segment][e.type] += 1;
            by_segment[truth(e).segment]["*"] += 1;
        }
    }
    for (const char* t : {"page_view", "click", "add_to_cart", "purchase", "video_play", "search",
                          "scroll", "signup"}) {
        EXPECT_GT(types[t], 0) << t;
    }
    const double n = static_cast<double>(stream().events.size());
    EXPECT_GT(types["page_view"] / n, 0.4);
    EXPECT_LT(types["page_view"] / n, 0.85);
    EXPECT_LT(types["purchase"] * 20, types["page_view"]);
    EXPECT_LE(types["purchase"], types["add_to_cart"]);  // every purchase empties a cart slot
    auto rate = [&](const char* segment, const char* type) {
        return by_segment[segment][type] / by_segment[segment]["*"];
    };
    EXPECT_GT(rate("buyer", "purchase"), 3 * rate("browser", "purchase"));
    EXPECT_GT(rate("buyer", "add_to_cart"), 3 * rate("reader", "add_to_cart"));
    EXPECT_GT(rate("reader", "scroll"), 2 * rate("buyer", "scroll"));
}

TEST_F(GeneratorStats, FunnelPurchasesFollowCarts) {
    std::map<std::string, std::multiset<std::string>> cart;
    size_t purchases = 0;
    for (const Ev& e : stream().events) {
        if (truth(e).is_bot) {
            EXPECT_NE(e.type, "purchase") << "bots never buy";
            continue;
        }
        if (e.type == "add_to_cart") {
            cart[e.user].insert(e.text.at("item_id"));
        } else if (e.type == "purchase") {
            ++purchases;
            auto it = cart[e.user].find(e.text.at("item_id"));
            ASSERT_NE(it, cart[e.user].end()) << e.user << " bought what was never in a cart";
            cart[e.user].erase(it);
        }
    }
    EXPECT_GT(purchases, 50u);
}

TEST_F(GeneratorStats, SessionGapsAndBotRates) {
    std::map<std::string, std::vector<int64_t>> times;
    for (const Ev& e : stream().events) {
        times[e.user].push_back(e.ts);
    }
    std::vector<int64_t> human_gaps, bot_gaps;
    std::map<std::string, std::vector<int64_t>> gaps_by_kind;
    for (auto& [user, ts] : times) {
        const UserTruth& t = *truths().at(user);
        for (size_t i = 1; i < ts.size(); ++i) {
            const int64_t gap = ts[i] - ts[i - 1];
            ASSERT_GE(gap, 0);
            (t.is_bot ? bot_gaps : human_gaps).push_back(gap);
            gaps_by_kind[kind_of(t)].push_back(gap);
            if (!t.is_bot) {
                // Sessions are separated by 40+ minutes; steps within one take at most 20.
                EXPECT_FALSE(gap > 21 * kMinute && gap < 40 * kMinute) << user << " gap " << gap;
            }
        }
    }
    const double long_gaps =
        static_cast<double>(std::count_if(human_gaps.begin(), human_gaps.end(),
                                          [](int64_t g) { return g > 30 * kMinute; })) /
        static_cast<double>(human_gaps.size());
    EXPECT_GT(long_gaps, 0.05);
    EXPECT_LT(long_gaps, 0.5);
    auto median = [](std::vector<int64_t> v) {
        std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
        return v[v.size() / 2];
    };
    const int64_t human = median(human_gaps);
    for (const char* kind : {"crawler", "headless", "scraper"}) {
        EXPECT_LT(median(gaps_by_kind[kind]) * 2, human) << kind;
    }
    EXPECT_LT(median(gaps_by_kind["scraper"]), 200) << "scrapers burst";
    EXPECT_LT(median(bot_gaps) * 5, human);
}

TEST_F(GeneratorStats, BotsLookDifferentButNotTrivially) {
    int headless_with_normal_ua = 0, crawler_carts = 0, crawler_events = 0;
    std::map<std::string, std::set<std::string>> uas;
    for (const Ev& e : stream().events) {
        const UserTruth& t = truth(e);
        const std::string& ua = e.text.at("ua");
        if (t.bot_kind == BotKind::kHeadless && ua.find("Headless") == std::string::npos &&
            ua.find("PhantomJS") == std::string::npos) {
            ++headless_with_normal_ua;
        }
        if (t.bot_kind == BotKind::kCrawler) {
            ++crawler_events;
            crawler_carts += e.type == "add_to_cart";
            EXPECT_TRUE(ua.find("bot") != std::string::npos ||
                        ua.find("Bot") != std::string::npos ||
                        ua.find("spider") != std::string::npos ||
                        ua.find("externalhit") != std::string::npos)
                << ua;
        }
        uas[kind_of(t)].insert(ua);
    }
    EXPECT_GT(headless_with_normal_ua, 0);
    EXPECT_LT(crawler_carts * 100, crawler_events);
    EXPECT_GT(uas["scraper"].size(), 3u);
}

TEST_F(GeneratorStats, ItemPopularityIsSkewed) {
    std::map<std::string, int> views;
    for (const Ev& e : stream().events) {
        if (!truth(e).is_bot && e.type == "page_view") {
            ++views[e.text.at("item_id")];
        }
    }
    std::vector<int> counts;
    counts.reserve(views.size());
    for (auto& [item, n] : views) {
        counts.push_back(n);
    }
    std::sort(counts.rbegin(), counts.rend());
    ASSERT_GT(counts.size(), 100u);
    EXPECT_GT(counts[0], 10 * counts[counts.size() / 2]);
}

TEST_F(GeneratorStats, FieldsFollowTheEventFormat) {
    const std::set<std::string> types = {"page_view",  "click",  "add_to_cart", "purchase",
                                         "video_play", "search", "scroll",      "signup"};
    for (const Ev& e : stream().events) {
        ASSERT_EQ(e.user[0], 'u');
        ASSERT_TRUE(types.count(e.type)) << e.type;
        for (const char* f :
             {"url", "dwell_ms", "scroll_pct", "ua", "ip", "device", "country", "referrer"}) {
            ASSERT_TRUE(e.has(f)) << f;
        }
        ASSERT_EQ(e.has("item_id"), e.type != "search" && e.type != "signup") << e.type;
        ASSERT_EQ(e.has("category"), e.type != "signup");
        const double scroll = std::stod(e.text.at("scroll_pct"));
        ASSERT_TRUE(scroll >= 0 && scroll <= 1);
        ASSERT_GT(e.num("dwell_ms"), 0);
        const std::string& device = e.text.at("device");
        ASSERT_TRUE(device == "desktop" || device == "mobile" || device == "tablet");
    }
}

// ---------------------------------------------------------------------------

TEST(GeneratorTest, MissingFieldsAtTheirRate) {
    GeneratorOptions o = with_events(30'000);
    o.missing_rate = 0.1;
    Stream run = generate(o);
    size_t absent = 0, slots = 0;
    for (const Ev& e : run.events) {
        for (const char* f :
             {"url", "dwell_ms", "scroll_pct", "ua", "ip", "device", "country", "referrer"}) {
            absent += !e.has(f);
            ++slots;
        }
    }
    EXPECT_NEAR(static_cast<double>(absent) / static_cast<double>(slots), 0.1, 0.01);
}

TEST(GeneratorTest, LateEventsAtTheirRateAndWithinTheBound) {
    GeneratorOptions base = with_events(30'000);
    base.missing_rate = 0;
    base.out_of_order_rate = 0;
    GeneratorOptions late = base;
    late.out_of_order_rate = 0.05;
    late.max_out_of_order_ms = 20'000;
    Stream a = generate(base);
    Stream b = generate(late);
    ASSERT_EQ(a.events.size(), b.events.size());
    size_t moved = 0;
    int64_t running_max = INT64_MIN;
    for (size_t i = 0; i < a.events.size(); ++i) {
        ASSERT_EQ(a.events[i].user, b.events[i].user) << "noise must not change the behaviour";
        ASSERT_GE(a.events[i].ts, running_max) << "without noise, time never goes back";
        running_max = a.events[i].ts;
        const int64_t shift = a.events[i].ts - b.events[i].ts;
        ASSERT_GE(shift, 0);
        ASSERT_LE(shift, late.max_out_of_order_ms);
        moved += shift > 0;
    }
    EXPECT_NEAR(static_cast<double>(moved) / static_cast<double>(a.events.size()), 0.05, 0.007);
}

TEST(GeneratorTest, LatenessNeverExceedsTheBoundInADefaultStream) {
    Stream run = generate(with_events(30'000));
    int64_t running_max = 0;
    size_t late = 0;
    for (const Ev& e : run.events) {
        ASSERT_GE(e.ts, running_max - 30'000);
        late += e.ts < running_max;
        running_max = std::max(running_max, e.ts);
    }
    EXPECT_GT(late, 100u);
    EXPECT_LT(late, 600u);
}

TEST(GeneratorTest, GroundTruthCoversExactlyTheUsersInTheStream) {
    GeneratorOptions o = with_events(5'000);
    o.users = 3000;  // many users never appear in 5k events
    o.truth_path = (std::filesystem::path(::testing::TempDir()) / "gen_truth.jsonl").string();
    Stream run = generate(o);
    std::map<std::string, uint64_t> counts;
    for (const Ev& e : run.events) {
        ++counts[e.user];
    }
    ASSERT_LT(counts.size(), 3000u);
    ASSERT_EQ(run.truth.size(), counts.size());
    EXPECT_EQ(run.users_seen, counts.size());
    for (const UserTruth& t : run.truth) {
        EXPECT_EQ(counts[user_id(t.user)], t.events);
        EXPECT_GE(t.sessions, 1u);
    }

    // The file holds the same, one JSON object per line.
    FieldTable table;
    ClickstreamGenerator gen(
        o, GeneratorFields::resolve([&](std::string_view n) { return table.intern(n); }));
    Batch batch;
    while (gen.next(batch.append())) {
        batch.clear();
    }
    ASSERT_TRUE(gen.write_truth(o.truth_path).is_ok());
    std::ifstream in(o.truth_path);
    std::string line;
    size_t i = 0;
    while (std::getline(in, line)) {
        ASSERT_LT(i, run.truth.size());
        EXPECT_EQ(line, run.truth[i++].to_json());
    }
    EXPECT_EQ(i, run.truth.size());
    const UserTruth human{.user = 17, .segment = "buyer", .events = 3, .sessions = 1};
    EXPECT_EQ(human.to_json(),
              R"({"user_id":"u17","is_bot":false,"bot_kind":null,"segment":"buyer",)"
              R"("events":3,"sessions":1})");
    UserTruth bot{.user = 5, .is_bot = true, .bot_kind = BotKind::kScraper, .segment = "bot"};
    EXPECT_EQ(bot.to_json(), R"({"user_id":"u5","is_bot":true,"bot_kind":"scraper",)"
                             R"("segment":"bot","events":0,"sessions":0})");

    EXPECT_FALSE(gen.write_truth("/nonexistent-dir/truth.jsonl").is_ok());
}

TEST(GeneratorTest, MoreSegmentsAndSmallCatalogues) {
    GeneratorOptions o = with_events(20'000);
    o.segments = 6;
    o.items = 40;
    o.categories = 40;
    o.users = 200;
    o.bot_share = 0;
    Stream run = generate(o);
    std::set<std::string> segments;
    for (const UserTruth& t : run.truth) {
        EXPECT_FALSE(t.is_bot);
        segments.insert(t.segment);
    }
    EXPECT_EQ(segments, (std::set<std::string>{"bargain_hunter", "browser", "buyer", "reader",
                                               "searcher", "watcher"}));
    GeneratorOptions one = with_events(100);
    one.users = 1;
    one.bot_share = 1;
    EXPECT_EQ(generate(one).events.size(), 100u);
}

TEST(GeneratorTest, GenerationAllocatesNothingInTheSteadyState) {
    FieldTable table;
    GeneratorOptions o;
    auto fields = GeneratorFields::resolve([&](std::string_view n) { return table.intern(n); });
    ClickstreamGenerator gen(o, fields);
    Batch batch;
    // 128 records fit in one arena block; with more, Arena::reset() frees all
    // blocks but one and the arena itself allocates again.
    auto fill = [&] {
        batch.clear();
        for (int i = 0; i < 128; ++i) {
            ASSERT_TRUE(gen.next(batch.append()));
        }
    };
    for (int i = 0; i < 100; ++i) {
        fill();
    }
    g_allocations = 0;
    g_count_allocations = true;
    for (int i = 0; i < 400; ++i) {
        fill();
    }
    g_count_allocations = false;
    EXPECT_EQ(g_allocations.load(), 0);
}

TEST(GeneratorTest, OwnLogAndExpMatchTheLibrary) {
    for (double x : {1e-300, 1e-9, 0.001, 0.3, 0.70710678, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300}) {
        EXPECT_NEAR(sampling::det_log(x), std::log(x), 1e-15 * std::max(1.0, std::abs(std::log(x))))
            << x;
    }
    for (double x : {-700.0, -20.0, -1.0, -0.1, 0.0, 0.1, 0.5, 1.0, 3.7, 20.0, 700.0}) {
        EXPECT_NEAR(sampling::det_exp(x) / std::exp(x), 1.0, 1e-13) << x;
    }
    sampling::Rng rng(1);
    double sum = 0, sq = 0;
    for (int i = 0; i < 100'000; ++i) {
        const double z = rng.normal();
        sum += z;
        sq += z * z;
    }
    EXPECT_NEAR(sum / 1e5, 0.0, 0.02);
    EXPECT_NEAR(sq / 1e5, 1.0, 0.02);
}

TEST(GeneratorTest, ParsesTimestamps) {
    EXPECT_EQ(parse_timestamp_ms("2025-01-01T00:00:00Z"), kDefaultGeneratorStartMs);
    EXPECT_EQ(parse_timestamp_ms("2025-01-01"), kDefaultGeneratorStartMs);
    EXPECT_EQ(parse_timestamp_ms("1735689600000"), kDefaultGeneratorStartMs);
    EXPECT_EQ(parse_timestamp_ms("2025-01-01T02:00:00.250+02:00"), kDefaultGeneratorStartMs + 250);
    EXPECT_EQ(parse_timestamp_ms("2024-02-29 12:30"), 1709209800000);
    EXPECT_EQ(parse_timestamp_ms("1970-01-01T00:00:01.5Z"), 1500);
    for (const char* bad : {"", "2025-13-01", "2023-02-29", "2025-01-01T25:00", "yesterday",
                            "2025-01-01T00:00:00Q", "12ms"}) {
        EXPECT_FALSE(parse_timestamp_ms(bad).has_value()) << bad;
    }
}

TEST(GeneratorTest, ValidatesOptions) {
    EXPECT_TRUE(GeneratorOptions{}.validate().is_ok());
    auto error = [](auto change, bool cli = false) {
        GeneratorOptions o;
        change(o);
        Status s = o.validate(cli);
        EXPECT_FALSE(s.is_ok());
        return s.message();
    };
    EXPECT_EQ(error([](auto& o) { o.users = 0; }), "`users` must be between 1 and 1e+07, got 0");
    EXPECT_EQ(error([](auto& o) { o.bot_share = 1.5; }, true),
              "--bot-share must be between 0 and 1, got 1.5");
    EXPECT_NE(error([](auto& o) { o.missing_rate = -0.1; }).find("missing_rate"),
              std::string::npos);
    EXPECT_NE(error([](auto& o) { o.out_of_order_rate = 2; }).find("out_of_order_rate"),
              std::string::npos);
    EXPECT_NE(error([](auto& o) { o.segments = 7; }).find("segments"), std::string::npos);
    EXPECT_NE(error([](auto& o) { o.items = 5; }).find("at least `categories`"), std::string::npos);
    EXPECT_NE(error([](auto& o) { o.events = 0; }).find("events"), std::string::npos);
    EXPECT_NE(error([](auto& o) { o.duration_ms = 0; }).find("duration"), std::string::npos);
    EXPECT_NE(error([](auto& o) { o.rate = 0; }).find("rate"), std::string::npos);
    EXPECT_NE(error([](auto& o) { o.max_out_of_order_ms = -1; }).find("max_out_of_order"),
              std::string::npos);
}

// ---------------------------------------------------------------------------
// The `generator` source, configured from YAML through the real spec.

class TestContext final : public ComponentContext {
public:
    explicit TestContext(const Clock& clock) : clock_(clock) {}
    std::string_view name() const override { return "clicks"; }
    FieldId field(std::string_view name) override { return table.intern(name); }
    std::string_view field_name(FieldId id) const override { return table.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view) override { return kMainOutput; }

    FieldTable table;

private:
    const Clock& clock_;
};

class TestEmitter final : public SourceEmitter {
public:
    Record& append() override { return batch.append(); }
    void discard_last() override { batch.pop_back(); }
    void error(std::string_view, int64_t, std::string_view) override { ++errors; }

    Batch batch;
    int errors = 0;
};

std::string topology(const std::string& params) {
    return "sources:\n  clicks: {type: generator" + params +
           "}\nsinks:\n  out: {type: stdout, input: clicks}\n";
}

/// The validated config of the `clicks` source, or the diagnostics' messages.
std::optional<Config> configure(const std::string& params, std::string* errors = nullptr) {
    Diagnostics diags;
    auto root = load_yaml_text(topology(params), "test.yaml", diags);
    std::optional<Topology> t;
    if (root) {
        t = validate_topology(*root, builtin_registry(), diags);
    }
    if (errors != nullptr) {
        for (const Diagnostic& d : diags.sorted()) {
            *errors += d.message + "\n";
        }
    }
    if (!t) {
        return std::nullopt;
    }
    return t->components[static_cast<size_t>(t->find("clicks"))].config;
}

std::unique_ptr<Source> make_source(const std::string& params) {
    std::optional<Config> cfg = configure(params);
    EXPECT_TRUE(cfg.has_value()) << params;
    if (!cfg) {
        return nullptr;
    }
    const ComponentSpec* spec = builtin_registry().find(ComponentKind::kSource, "generator");
    auto source = spec->make_source(*cfg);
    EXPECT_TRUE(source.is_ok()) << source.status().message();
    return std::move(source.value());
}

TEST(GeneratorSourceTest, SpecIsDocumentedAndExamplesValidate) {
    const ComponentSpec* spec = builtin_registry().find(ComponentKind::kSource, "generator");
    ASSERT_NE(spec, nullptr);
    EXPECT_FALSE(spec->summary.empty());
    ASSERT_FALSE(spec->examples.empty());
    for (const Param& p : spec->params) {
        EXPECT_FALSE(p.doc_text().empty()) << p.name();
    }
    for (const char* rate : {"bot_share", "missing_rate", "out_of_order_rate"}) {
        ASSERT_NE(spec->find_param(rate), nullptr) << rate;
        EXPECT_EQ(spec->find_param(rate)->min_value(), 0.0);
        EXPECT_EQ(spec->find_param(rate)->max_value(), 1.0);
    }
    for (const ExampleSpec& e : spec->examples) {
        Diagnostics diags;
        auto root = load_yaml_text(e.yaml, "example.yaml", diags);
        ASSERT_TRUE(root.has_value()) << e.title;
        EXPECT_TRUE(validate_topology(*root, builtin_registry(), diags).has_value()) << e.title;
        for (const Diagnostic& d : diags.items()) {
            ADD_FAILURE() << e.title << ": " << d.message;
        }
    }
}

TEST(GeneratorSourceTest, RejectsBadConfigs) {
    auto error_of = [](const std::string& params) {
        std::string errors;
        EXPECT_FALSE(configure(params, &errors).has_value()) << params;
        return errors;
    };
    EXPECT_NE(error_of("").find("set `events` or `duration`"), std::string::npos);
    EXPECT_NE(error_of(", events: 10, bot_share: 1.5").find("bot_share"), std::string::npos);
    EXPECT_NE(error_of(", events: 10, users: 0").find("users"), std::string::npos);
    EXPECT_NE(error_of(", events: 10, segments: 9").find("segments"), std::string::npos);
    EXPECT_NE(error_of(", events: 10, start: tomorrow").find("start"), std::string::npos);
    EXPECT_NE(error_of(", events: 10, items: 3").find("categories"), std::string::npos);
    EXPECT_NE(error_of(", duration: 10").find("duration"), std::string::npos);
    EXPECT_TRUE(configure(", duration: 1h, start: 1735689600000").has_value());
}

TEST(GeneratorSourceTest, FiniteSourceEmitsThenEndsAndWritesTruth) {
    const std::string truth =
        (std::filesystem::path(::testing::TempDir()) / "src_truth.jsonl").string();
    std::filesystem::remove(truth);
    auto source = make_source(", events: 2500, seed: 3, truth_path: " + truth);
    ASSERT_NE(source, nullptr);
    ManualClock clock(1'000);
    TestContext ctx(clock);
    ASSERT_TRUE(source->open(ctx).is_ok());
    TestEmitter out;
    size_t total = 0;
    int polls = 0;
    for (;; ++polls) {
        out.batch.clear();
        auto status = source->poll(out, 1000);
        ASSERT_TRUE(status.is_ok());
        total += out.batch.size();
        for (size_t i = 0; i < out.batch.size(); ++i) {
            const Value* ts = out.batch[i].get(ctx.table.find("ts"));
            ASSERT_NE(ts, nullptr);
            EXPECT_EQ(ts->as_int(), out.batch[i].time());
            EXPECT_GE(out.batch[i].time(), kDefaultGeneratorStartMs);
        }
        SourceProgress p = source->progress();
        EXPECT_FALSE(p.bytes);
        EXPECT_EQ(p.total, 2500u);
        EXPECT_EQ(p.done, total);
        if (*status == PollStatus::kEnd) {
            break;
        }
        ASSERT_EQ(*status, PollStatus::kData);
        ASSERT_LT(polls, 10);
    }
    EXPECT_EQ(total, 2500u);
    EXPECT_TRUE(std::filesystem::exists(truth));
    EXPECT_TRUE(source->close().is_ok());

    // Same stream as the model alone with the same options.
    EXPECT_EQ(read_lines(truth).size(), generate(with_events(2500, 3)).truth.size());
}

TEST(GeneratorSourceTest, LiveSourceIsPacedByTheClock) {
    auto source = make_source(", rate: 100, duration: 2s");
    ASSERT_NE(source, nullptr);
    ManualClock clock(5'000'000);
    TestContext ctx(clock);
    ASSERT_TRUE(source->open(ctx).is_ok());
    TestEmitter out;
    auto poll = [&]() {
        out.batch.clear();
        auto status = source->poll(out, 1000);
        EXPECT_TRUE(status.is_ok());
        return *status;
    };
    EXPECT_EQ(poll(), PollStatus::kData);  // the first event is due at once
    EXPECT_EQ(out.batch.size(), 1u);
    EXPECT_EQ(out.batch[0].time(), 5'000'000);
    EXPECT_EQ(poll(), PollStatus::kIdle);
    clock.advance(500);
    EXPECT_EQ(poll(), PollStatus::kData);
    EXPECT_EQ(out.batch.size(), 50u);
    for (size_t i = 0; i < out.batch.size(); ++i) {
        EXPECT_LE(out.batch[i].time(), 5'000'500);
        EXPECT_GE(out.batch[i].time(), 5'000'500 - 30'000);
    }
    clock.advance(1499);
    EXPECT_EQ(poll(), PollStatus::kData);
    EXPECT_EQ(out.batch.size(), 149u);
    clock.advance(1);
    EXPECT_EQ(poll(), PollStatus::kEnd);
    EXPECT_EQ(source->progress().total, 0u);
}

// ---------------------------------------------------------------------------
// `eddy gen`

int run_eddy(const std::string& args) {
    const std::string cmd = std::string(EDDY_BINARY) + " " + args + " 2>/dev/null";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(GenCommandTest, WritesTheModelsStreamAndTruth) {
    const auto dir = std::filesystem::path(::testing::TempDir());
    const std::string out = (dir / "gen_out.jsonl").string();
    const std::string truth = (dir / "gen_cmd_truth.jsonl").string();
    ASSERT_EQ(run_eddy("gen --events 3000 --seed 9 --users 400 --bot-share 0.1 --out " + out +
                       " --truth " + truth),
              0);
    GeneratorOptions o = with_events(3000, 9);
    o.users = 400;
    o.bot_share = 0.1;
    Stream run = generate(o);
    EXPECT_EQ(read_lines(out), run.json);
    std::vector<std::string> expected;
    for (const UserTruth& t : run.truth) {
        expected.push_back(t.to_json());
    }
    EXPECT_EQ(read_lines(truth), expected);
}

TEST(GenCommandTest, ExitCodes) {
    const std::string out = (std::filesystem::path(::testing::TempDir()) / "gen_x.jsonl").string();
    EXPECT_EQ(run_eddy("gen --events 10 --out " + out), 0);
    EXPECT_EQ(read_lines(out).size(), 10u);
    EXPECT_EQ(run_eddy("gen --events 10 --bot-share 2 --out " + out), 2);
    EXPECT_EQ(run_eddy("gen --duration 3 --out " + out), 2);
    EXPECT_EQ(run_eddy("gen --start yesterday --out " + out), 2);
    EXPECT_EQ(run_eddy("gen --users many --out " + out), 2);
    EXPECT_EQ(run_eddy("gen --events 10 --out /nonexistent-dir/x.jsonl"), 1);
    EXPECT_EQ(run_eddy("gen --events 10 --out " + out + " --truth /nonexistent-dir/t.jsonl"), 1);
    EXPECT_EQ(run_eddy("gen --help > /dev/null"), 0);
}

}  // namespace
}  // namespace eddy::io
