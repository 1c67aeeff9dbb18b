// SPDX-License-Identifier: Apache-2.0
// The HTTP API (docs/serving.md) against a running job, through a real HTTP
// client on loopback: state, views, recommendations, health, readiness,
// metrics, the plan, the bearer token, limits and malformed requests.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
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

using ::testing::HasSubstr;

// u1 views and buys; u2 views; then the source stays open (then_idle), so
// the job runs until the test stops it. The profiles emit once per user
// (emit_every: 1h), so each segment is that of the user's first event.
constexpr const char* kTopology = R"(
name: serve_test
sources:
  events:
    type: memory
    then_idle: true
    records:
      - {ts: 1000, user_id: u1, type: page_view, item_id: i1, category: shoes}
      - {ts: 2000, user_id: u1, type: page_view, item_id: i2, category: shoes}
      - {ts: 3000, user_id: u1, type: purchase, item_id: i2, category: shoes}
      - {ts: 4000, user_id: u2, type: page_view, item_id: i1, category: shoes}
      - {ts: 5000, user_id: u2, type: page_view, item_id: i3, category: books}
      - {ts: 6000, user_id: u3, type: page_view, item_id: i2, category: shoes}
      - {ts: 7000, user_id: u3, type: page_view, item_id: i3, category: books}
operators:
  profiles: {type: profile, input: events, key: user_id, half_life: 30d, emit_every: 1h}
  segs:
    type: segment
    input: profiles
    key: user_id
    rules:
      - {name: viewer, when: {n_page_view: ">= 1"}}
    default: casual
  recs:
    type: recommend
    input: events
    key: user_id
    item_field: item_id
    category_field: category
    top_n: 3
    emit_every: 1h
sinks:
  out: {type: null, inputs: [recs, segs]}
)";

// Two recommenders fed separately: `mf` and `mf_cat` learn ratings (a and
// c rated well, b and d badly), `recs` learns views with a segment: north
// users view n1, south users view s1 more often (so s1 leads overall).
constexpr const char* kRecommenders = R"(
name: serve_recommenders
sources:
  ratings:
    type: memory
    then_idle: true
    records:
      - {ts: 1000, user_id: u1, item_id: a, rating: 5, category: shoes}
      - {ts: 2000, user_id: u1, item_id: b, rating: 1, category: shoes}
      - {ts: 3000, user_id: u2, item_id: a, rating: 5, category: shoes}
      - {ts: 4000, user_id: u2, item_id: c, rating: 4, category: books}
      - {ts: 5000, user_id: u3, item_id: a, rating: 5, category: shoes}
      - {ts: 6000, user_id: u3, item_id: d, rating: 1, category: books}
      - {ts: 7000, user_id: u4, item_id: b, rating: 1, category: shoes}
      - {ts: 8000, user_id: u4, item_id: c, rating: 4, category: books}
  views:
    type: memory
    then_idle: true
    records:
      - {ts: 1000, user_id: v1, item_id: n1, segment: north}
      - {ts: 2000, user_id: v2, item_id: n1, segment: north}
      - {ts: 3000, user_id: v3, item_id: n1, segment: north}
      - {ts: 4000, user_id: v4, item_id: s1, segment: south}
      - {ts: 5000, user_id: v5, item_id: s1, segment: south}
      - {ts: 6000, user_id: v6, item_id: s1, segment: south}
      - {ts: 7000, user_id: v7, item_id: s1, segment: south}
operators:
  mf: {type: mf, input: ratings, key: user_id, factors: 4, top_n: 3, emit_every: 100}
  mf_cat: {type: mf, input: ratings, key: user_id, factors: 4, top_n: 3, emit_every: 100,
           filter_field: category}
  recs: {type: recommend, input: views, key: user_id, segment_field: segment, top_n: 3,
         emit_every: 1h, half_life: 0s}
sinks:
  out: {type: null, inputs: [mf, mf_cat, recs]}
)";

class ServeTest : public ::testing::Test {
protected:
    /// Runs `yaml` with `serve_yaml` until every record has reached the
    /// operators named in `wait` (name, records).
    void start(const std::string& serve_yaml, int parallelism = 1,
               const std::string& yaml = kTopology,
               const std::vector<std::pair<std::string, uint64_t>>& wait = {{"recs", 7}},
               const Clock* clock = nullptr) {
        served_.start(yaml + serve_yaml, parallelism, clock);
        ASSERT_FALSE(HasFatalFailure());
        client_ = std::make_unique<httplib::Client>("127.0.0.1", served_.server().port());
        client_->set_read_timeout(10);
        // Ready: every record processed (the source caught up, then is idle).
        for (int i = 0; i < 200 && !served_.job().ready(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ASSERT_TRUE(served_.job().ready());
        for (const auto& [op, records] : wait) {
            for (int i = 0; i < 200 && metric(op) < records; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    }

    void start_recommenders(const std::string& serve_yaml, int parallelism = 1,
                            const Clock* clock = nullptr) {
        start(serve_yaml, parallelism, kRecommenders, {{"mf", 8}, {"mf_cat", 8}, {"recs", 7}},
              clock);
    }

    uint64_t metric(const std::string& component) const {
        for (const auto& m : served_.job().metrics().components()) {
            if (m->name == component) {
                return m->records_in.load();
            }
        }
        return 0;
    }

    void TearDown() override { served_.stop(); }

    httplib::Result get(const std::string& path, const httplib::Headers& headers = {}) {
        return client_->Get(path.c_str(), headers);
    }

    testing::ServedJob served_;
    std::unique_ptr<httplib::Client> client_;
};

constexpr const char* kServe = "serve: {listen: \"127.0.0.1:0\"}\n";

TEST_F(ServeTest, HealthReadinessAndThePlan) {
    start(kServe);
    auto r = get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"status":"ok"})");
    r = get("/ready");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"("ready":true,"running":true)"));
    r = get("/v1/topology");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"({"name":"recs","kind":"operator","type":"recommend",)"
                                   R"("inputs":["events"],"key":"user_id")"));
    EXPECT_THAT(r->body, HasSubstr(R"("views":{"recommendations":["recs"],"profiles":)"
                                   R"(["profiles"],"segments":["segs"]})"));
}

TEST_F(ServeTest, KeyedStateIsReadThroughItsCodecWithTheWatermark) {
    start(kServe);
    auto r = get("/v1/state/segs/u1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"({"operator":"segs","key":"u1","shard":0,)"));
    EXPECT_THAT(r->body, HasSubstr(R"("checkpoint_id":0,"state":{"segments":"viewer"},)"
                                   R"("found":true})"));
    EXPECT_THAT(r->body, HasSubstr(R"("watermark":)"));
    r = get("/v1/state/profiles/u1?state=profiles");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"("events":3,"purchases":1)"));

    // Absent keys, operators and states; unkeyed state; key types.
    r = get("/v1/state/segs/nobody");
    EXPECT_EQ(r->status, 404);
    EXPECT_THAT(r->body, HasSubstr(R"("state":null,"found":false)"));
    r = get("/v1/state/nope/u1");
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, R"({"error":"no operator named 'nope'"})");
    r = get("/v1/state/segs/u1?state=nope");
    EXPECT_EQ(r->status, 404);
    EXPECT_THAT(r->body, HasSubstr("has no keyed state named 'nope'"));
    r = get("/v1/state/segs/u1?key_type=int");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("is not a whole number"));
    r = get("/v1/state/segs/7?key_type=int");
    EXPECT_EQ(r->status, 404);  // an integer key 7 is not the string "u1"
    r = get("/v1/state/segs/u1?key_type=float");
    EXPECT_EQ(r->status, 400);
}

TEST_F(ServeTest, ProfilesAndSegmentsAnswerUnknownUsersWithoutAnError) {
    start(kServe);
    auto r = get("/v1/segments/u1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"u1","segments":{"segs":"viewer"},"known":true,)"));
    r = get("/v1/profiles/u2");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"u2","profiles":{"profiles":{)"));
    EXPECT_THAT(r->body, HasSubstr(R"("events":2,)"));
    r = get("/v1/profiles/stranger");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"stranger","profiles":{"profiles":null},)"
                                   R"("known":false,)"));
}

TEST_F(ServeTest, RecommendationsForKnownUsersFiltersAndColdStart) {
    start(kServe);
    // u2 saw i1 and i3; u1 and u3 make i2 the item that co-occurs with both.
    auto r = get("/v1/recommendations/u2?n=1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"u2","operator":"recs","known":true,)"
                                   R"("items":[{"item":"i2",)"));
    // Only books: u2's own items are excluded, so nothing is left.
    r = get("/v1/recommendations/u2?category=books");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"("items":[])"));
    r = get("/v1/recommendations/u1?category=books&n=5");
    EXPECT_THAT(r->body, HasSubstr(R"("items":[{"item":"i3",)"));
    EXPECT_THAT(r->body, Not(HasSubstr(R"("item":"i1")")));
    r = get("/v1/recommendations/u1?category=unheard-of");
    EXPECT_THAT(r->body, HasSubstr(R"("items":[])"));
    // Without `segment_field` there are no segments to rank for.
    r = get("/v1/recommendations/u1?segment=viewer");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("this recommend operator has no `segment_field`"));
    // Someone never seen: the most popular items (i2 was bought).
    r = get("/v1/recommendations/newcomer?n=2");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"newcomer","operator":"recs","known":false,)"
                                   R"("items":[{"item":"i2",)"));
    EXPECT_THAT(r->body, HasSubstr(R"("source":"popularity")"));
    for (const char* bad : {"n=0", "n=abc", "n=1001", "n=-3"}) {
        r = get(std::string("/v1/recommendations/u1?") + bad);
        EXPECT_EQ(r->status, 400) << bad;
        EXPECT_THAT(r->body, HasSubstr("`n` must be a whole number from 1 to 1000")) << bad;
    }
}

TEST_F(ServeTest, RecommendersAreRecommendFirstThenMf) {
    start_recommenders(kServe);
    auto r = get("/v1/topology");
    ASSERT_TRUE(r);
    EXPECT_THAT(r->body, HasSubstr(R"("views":{"recommendations":["recs","mf","mf_cat"],)"));
    r = get("/v1/recommendations/v1");
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"v1","operator":"recs",)"));
}

TEST_F(ServeTest, MfAnswersKnownUsersWithoutTheirSeenItemsAndColdStart) {
    start_recommenders("serve: {listen: \"127.0.0.1:0\", views: {recommendations: mf}}\n");
    // u1 rated a and b: they are excluded (exclude_seen), c and d remain.
    auto r = get("/v1/recommendations/u1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"u1","operator":"mf","known":true,"items":[)"
                                   R"({"item":")"));
    EXPECT_THAT(r->body, HasSubstr(R"("score":)"));
    EXPECT_THAT(r->body, Not(HasSubstr(R"("item":"a")")));
    EXPECT_THAT(r->body, Not(HasSubstr(R"("item":"b")")));
    EXPECT_THAT(r->body, HasSubstr(R"("item":"c")"));
    EXPECT_THAT(r->body, HasSubstr(R"("item":"d")"));
    EXPECT_THAT(r->body, HasSubstr(R"("watermark":)"));
    // n: one item only.
    r = get("/v1/recommendations/u1?n=1");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"("known":true,"items":[{"item":")"));
    EXPECT_EQ(r->body.find(R"("item":)"), r->body.rfind(R"("item":)")) << r->body;
    // Someone never seen: the items with the highest bias, a (rated 5 three
    // times) first and d (rated 1) last.
    r = get("/v1/recommendations/newcomer?n=4");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"({"user":"newcomer","operator":"mf","known":false,)"
                                   R"("items":[{"item":"a",)"));
    EXPECT_THAT(r->body, HasSubstr(R"({"item":"d","score":)"));
    EXPECT_LT(r->body.find(R"("item":"c")"), r->body.find(R"("item":"d")"));
    // mf without `filter_field` knows no categories, and never segments.
    r = get("/v1/recommendations/u1?category=books");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("mf has no categories"));
    r = get("/v1/recommendations/u1?segment=north");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("mf has no segments"));
    for (const char* bad : {"n=0", "n=x", "n=1001"}) {
        r = get(std::string("/v1/recommendations/u1?") + bad);
        EXPECT_EQ(r->status, 400) << bad;
        EXPECT_THAT(r->body, HasSubstr("`n` must be a whole number from 1 to 1000")) << bad;
    }
}

TEST_F(ServeTest, MfAnswersOnEveryShardOfAParallelJob) {
    start_recommenders("serve: {listen: \"127.0.0.1:0\", views: {recommendations: mf}}\n", 3);
    for (const char* user : {"u1", "u2", "u3", "u4"}) {
        auto r = get(std::string("/v1/recommendations/") + user);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_THAT(r->body, HasSubstr(R"("known":true,"items":[{"item":")")) << user;
    }
    auto r = get("/v1/recommendations/u1");
    EXPECT_THAT(r->body, Not(HasSubstr(R"("item":"a")")));
    r = get("/v1/recommendations/newcomer?n=1");
    EXPECT_THAT(r->body, HasSubstr(R"("known":false,"items":[{"item":"a",)"));
}

TEST_F(ServeTest, MfWithAFilterFieldFiltersByCategory) {
    start_recommenders("serve: {listen: \"127.0.0.1:0\", views: {recommendations: mf_cat}}\n");
    auto r = get("/v1/recommendations/newcomer?category=books&n=5");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"("known":false,"items":[{"item":"c",)"));
    EXPECT_THAT(r->body, HasSubstr(R"("item":"d")"));
    EXPECT_THAT(r->body, Not(HasSubstr(R"("item":"a")")));
    // u4's last category is books, where u4 has seen c: as an emit, d only.
    r = get("/v1/recommendations/u4");
    EXPECT_THAT(r->body, HasSubstr(R"("known":true,"items":[{"item":"d",)"));
    EXPECT_EQ(r->body.find(R"("item":)"), r->body.rfind(R"("item":)")) << r->body;
    r = get("/v1/recommendations/u4?category=shoes");
    EXPECT_THAT(r->body, HasSubstr(R"("items":[{"item":"a",)"));
    r = get("/v1/recommendations/u1?category=unheard-of");
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"("items":[])"));
}

TEST_F(ServeTest, RecommendRanksForTheSegmentAsked) {
    start_recommenders(kServe);
    // Overall s1 leads (4 views against 3); in the north n1 does.
    auto r = get("/v1/recommendations/newcomer?n=1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"("known":false,"items":[{"item":"s1",)"));
    r = get("/v1/recommendations/newcomer?n=1&segment=north");
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"("known":false,"segment":"north","items":[{"item":"n1",)"));
    // A known user of one segment, asked for as if in another: v4 (south)
    // saw s1, which stays excluded.
    r = get("/v1/recommendations/v4?segment=north");
    EXPECT_THAT(r->body, HasSubstr(R"("known":true,"segment":"north","items":[{"item":"n1",)"));
    EXPECT_THAT(r->body, Not(HasSubstr(R"("item":"s1")")));
    r = get("/v1/recommendations/v4");
    EXPECT_THAT(r->body, HasSubstr(R"("segment":"south")"));
    r = get("/v1/recommendations/newcomer?segment=west");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("'west' is unknown to this operator"));
    // The unknown segment was not added: asking again still fails.
    EXPECT_EQ(get("/v1/recommendations/newcomer?segment=west")->status, 400);
}

// u1 views a, b and c; u2 views a (its first event: recommend emits, and
// keeps, u2's ranking: b and c), then b (no emit within the hour); u3 views
// a in the north (an emit), then moves south (a record without an item).
constexpr const char* kKept = R"(
name: serve_kept
sources:
  views:
    type: memory
    then_idle: true
    records:
      - {ts: 1000, user_id: u1, item_id: a}
      - {ts: 2000, user_id: u1, item_id: b}
      - {ts: 3000, user_id: u1, item_id: c}
      - {ts: 4000, user_id: u2, item_id: a}
      - {ts: 5000, user_id: u2, item_id: b}
      - {ts: 6000, user_id: u3, item_id: a, segment: north}
      - {ts: 7000, user_id: u3, segment: south}
operators:
  recs:
    type: recommend
    input: views
    key: user_id
    segment_field: segment
    top_n: 3
    emit_every: 1h
    factors: 0
)";

/// kKept with `extra` parameters of `recs`, and its sink.
std::string kept_topology(const std::string& extra = "") {
    return kKept + extra + "sinks: {out: {type: null, input: recs}}\n";
}

/// The "age_ms" of an answer; -1 when it has none.
int64_t age_of(const std::string& body) {
    size_t at = body.find(R"("age_ms":)");
    return at == std::string::npos ? -1 : std::stoll(body.substr(at + 9));
}

/// The items of an answer, in order.
std::vector<std::string> items_of(const std::string& body) {
    std::vector<std::string> items;
    for (size_t at = body.find(R"("item":")"); at != std::string::npos;
         at = body.find(R"("item":")", at + 1)) {
        size_t start = at + 8;
        items.push_back(body.substr(start, body.find('"', start) - start));
    }
    return items;
}

// The three emits (u1, u2, u3 first events) reach the sink after the batch
// that also took b out of u2's kept ranking and moved u3 south.
const std::vector<std::pair<std::string, uint64_t>> kKeptDone = {{"out", 3}};

TEST_F(ServeTest, KeptRankingsAnswerWithoutTheShardAndLoseTheUsersNewItems) {
    ManualClock clock(1'000'000);
    start(kServe, 1, kept_topology(), kKeptDone, &clock);
    clock.advance(30'000);
    // The ranking emitted at u2's first event, without b, which u2 viewed since.
    auto r = get("/v1/recommendations/u2?n=1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(age_of(r->body), 30'000) << r->body;
    EXPECT_EQ(items_of(r->body), std::vector<std::string>{"c"}) << r->body;
    // Ranked now, on the shard: the same items.
    r = get("/v1/recommendations/u2?n=1&fresh=true");
    EXPECT_EQ(age_of(r->body), 0) << r->body;
    EXPECT_EQ(items_of(r->body), std::vector<std::string>{"c"}) << r->body;
    // More than the ranking kept has, or a category: ranked on the shard.
    EXPECT_EQ(age_of(get("/v1/recommendations/u2?n=2")->body), 0);
    EXPECT_EQ(age_of(get("/v1/recommendations/u2?n=1&category=shoes")->body), 0);
    // u3 changed segment since its ranking was kept: ranked again.
    EXPECT_EQ(age_of(get("/v1/recommendations/u3?n=1")->body), 0);
    // An unknown user's cold start is never kept.
    get("/v1/recommendations/newcomer");
    clock.advance(1'000);
    EXPECT_EQ(age_of(get("/v1/recommendations/newcomer")->body), 0);
    r = get("/v1/recommendations/u2?fresh=maybe");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("`fresh` must be `true` or `false`, got 'maybe'"));
    // Which answers were kept and which ranked on the shard.
    r = get("/metrics");
    EXPECT_THAT(r->body, HasSubstr(R"(eddy_api_recommendations_total{component="recs",)"
                                   R"(answered_by="kept"} 1)"));
    EXPECT_THAT(r->body, HasSubstr(R"(eddy_api_recommendations_total{component="recs",)"
                                   R"(answered_by="shard"} 6)"));
}

TEST_F(ServeTest, ARankingOlderThanServeMaxAgeIsRankedAgainAndKept) {
    ManualClock clock(1'000'000);
    start(kServe, 1, kept_topology("    serve_max_age: 1s\n"), kKeptDone, &clock);
    clock.advance(1'001);
    auto r = get("/v1/recommendations/u2?n=1");
    ASSERT_TRUE(r);
    EXPECT_EQ(age_of(r->body), 0) << r->body;  // too old: ranked now
    clock.advance(50);
    EXPECT_EQ(age_of(get("/v1/recommendations/u2?n=1")->body), 50);  // the one kept then
    clock.set(900'000);  // set back: a ranking from the future is not served
    EXPECT_EQ(age_of(get("/v1/recommendations/u2?n=1")->body), 0);
}

TEST_F(ServeTest, WithoutACacheEveryAnswerIsRankedOnTheShard) {
    ManualClock clock(1'000'000);
    start(kServe, 1, kept_topology("    serve_cache_users: 0\n"), kKeptDone, &clock);
    for (int i = 0; i < 3; ++i) {
        clock.advance(20);
        EXPECT_EQ(age_of(get("/v1/recommendations/u2?n=1")->body), 0);
    }
}

TEST_F(ServeTest, ATooLargeCacheIsRefused) {
    Diagnostics diags;
    auto root =
        load_yaml_text(kept_topology("    serve_cache_users: 100000000\n"), "kept.yaml", diags);
    ASSERT_TRUE(root);
    EXPECT_FALSE(validate_topology(*root, testing::test_registry(), diags));
    ASSERT_FALSE(diags.items().empty());
    EXPECT_THAT(diags.items()[0].to_string(),
                HasSubstr("`serve_cache_users` keeps 100000000 rankings of 6 items: 8.2 GiB, "
                          "over the limit of 4 GiB"));
}

TEST_F(ServeTest, MfKeepsTheRankingsItAnswers) {
    ManualClock clock(1'000'000);
    start_recommenders("serve: {listen: \"127.0.0.1:0\", views: {recommendations: mf}}\n", 2,
                       &clock);
    // mf emits every 100 updates: nothing is kept until a first answer. u3
    // has seen a and d, so b and c are left.
    auto first = get("/v1/recommendations/u3?n=2");
    ASSERT_TRUE(first);
    EXPECT_EQ(age_of(first->body), 0) << first->body;
    EXPECT_EQ(items_of(first->body).size(), 2U) << first->body;
    clock.advance(30);
    auto kept = get("/v1/recommendations/u3?n=2");
    EXPECT_EQ(age_of(kept->body), 30) << kept->body;
    EXPECT_EQ(kept->body.substr(0, kept->body.find(R"("age_ms")")),
              first->body.substr(0, first->body.find(R"("age_ms")")));
}

TEST_F(ServeTest, AViewOperatorThatIsNotQueryableIsAClearError) {
    start("serve: {listen: \"127.0.0.1:0\", views: {recommendations: segs}}\n");
    auto r = get("/v1/recommendations/u1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_THAT(r->body, HasSubstr("operator 'segs' (type `segment`) does not answer "
                                   "/v1/recommendations"));
}

TEST_F(ServeTest, ReadsReachEveryShardOfAParallelJob) {
    start(kServe, 3);
    for (const char* user : {"u1", "u2", "u3"}) {
        auto r = get(std::string("/v1/profiles/") + user);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_THAT(r->body, HasSubstr(R"("known":true)")) << user;
    }
    // Ranked now on u2's shard (u2's own ranking, kept when it was emitted,
    // predates the items the other users brought).
    auto r = get("/v1/recommendations/u2?n=1&fresh=true");
    EXPECT_THAT(r->body, HasSubstr(R"("items":[{"item":"i2",)"));
}

TEST_F(ServeTest, MetricsAreThePrometheusText) {
    start(kServe);
    auto r = get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/plain"));
    EXPECT_THAT(r->body, HasSubstr("# TYPE eddy_records_in_total counter"));
    EXPECT_THAT(r->body, HasSubstr(R"(eddy_records_in_total{component="recs",type="recommend",)"
                                   R"(kind="operator"} 7)"));
}

TEST_F(ServeTest, MalformedAndOversizedRequestsGetJsonErrors) {
    start("serve: {listen: \"127.0.0.1:0\", max_key_bytes: 16}\n");
    auto r = get("/v1/nothing-here");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_THAT(r->body, HasSubstr(R"({"error":)"));
    r = get("/v1/profiles/" + std::string(17, 'k'));
    EXPECT_EQ(r->status, 414);
    EXPECT_THAT(r->body, HasSubstr("the limit is 16 (serve.max_key_bytes)"));
    r = get("/v1/profiles/" + std::string(4000, 'k'));
    EXPECT_EQ(r->status, 414);
    auto post = client_->Post("/v1/profiles/u1", "x", "text/plain");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 404);  // only GET is routed
    EXPECT_THAT(post->body, HasSubstr(R"({"error":)"));

    // Raw garbage on the socket: a 400, and the server keeps answering.
    httplib::Client raw("127.0.0.1", served_.server().port());
    auto bad = raw.Get("/v1/state/segs/%zz");
    ASSERT_TRUE(bad);
    EXPECT_GE(bad->status, 400);
    r = get("/healthz");
    EXPECT_EQ(r->status, 200);
}

TEST_F(ServeTest, ABearerTokenGuardsEverythingButHealthz) {
    std::string path =
        std::filesystem::temp_directory_path() / ("eddy_serve_token_" + std::to_string(::getpid()));
    std::ofstream(path) << "0123456789abcdef0123456789abcdef\n";
    start("serve: {listen: \"127.0.0.1:0\", token_file: " + path + "}\n");
    std::filesystem::remove(path);
    EXPECT_EQ(get("/healthz")->status, 200);
    auto r = get("/v1/segments/u1");
    EXPECT_EQ(r->status, 401);
    EXPECT_THAT(r->body, HasSubstr("a bearer token is required"));
    EXPECT_EQ(get("/metrics")->status, 401);
    EXPECT_EQ(get("/v1/segments/u1", {{"Authorization", "Bearer wrong"}})->status, 401);
    r = get("/v1/segments/u1", {{"Authorization", "Bearer 0123456789abcdef0123456789abcdef"}});
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(R"("segs":"viewer")"));
}

TEST(ServeSettingsTest, RefusesAnOpenAddressWithoutATokenAndBadSettings) {
    Diagnostics diags;
    auto root = load_yaml_text(std::string(kTopology) + "serve: {listen: \"0.0.0.0:0\"}\n",
                               "open.yaml", diags);
    ASSERT_TRUE(root);
    auto topology = validate_topology(*root, testing::test_registry(), diags);
    ASSERT_TRUE(topology);
    auto job = Job::create(*topology);
    ASSERT_TRUE(job.is_ok());
    auto server = Server::start(*job.value(), testing::test_registry(), topology->serve);
    ASSERT_FALSE(server.is_ok());
    EXPECT_THAT(server.status().message(),
                HasSubstr("refusing to serve on 0.0.0.0:0 (not loopback) without a bearer token"));

    ::unsetenv("EDDY_SERVE_TEST_TOKEN");
    ServeDef s = topology->serve;
    s.token_env = "EDDY_SERVE_TEST_TOKEN";
    server = Server::start(*job.value(), testing::test_registry(), s);
    EXPECT_THAT(server.status().message(),
                HasSubstr("serve: token_env names the environment variable "
                          "`EDDY_SERVE_TEST_TOKEN`, which is not set"));
    ::setenv("EDDY_SERVE_TEST_TOKEN", "short", 1);
    server = Server::start(*job.value(), testing::test_registry(), s);
    EXPECT_THAT(server.status().message(), HasSubstr("use at least 16 random bytes"));
    ::unsetenv("EDDY_SERVE_TEST_TOKEN");

    for (const auto& [yaml, message] : std::vector<std::pair<std::string, std::string>>{
             {"serve: {listen: nowhere}\n", "`serve.listen`: expected host:port"},
             {"serve: {listen: \"127.0.0.1:99999\"}\n", "a port from 0 to 65535"},
             {"serve: {listen: \"127.0.0.1:0\", bogus: 1}\n", "unknown key 'bogus' in `serve`"},
             {"serve: {listen: \"127.0.0.1:0\", views: {recommendations: nope}}\n",
              "`serve.views.recommendations` must name an operator of this topology, got 'nope'"},
             {"serve: {listen: \"127.0.0.1:0\", views: {profile: profiles}}\n",
              "unknown view 'profile' in `serve.views`"},
             {"serve: {listen: \"127.0.0.1:0\", token_env: A, token_file: B}\n",
              "`token_env` or `token_file`, not both"},
             {"serve: 8080\n", "`serve` must be a map"}}) {
        Diagnostics d;
        auto r = load_yaml_text(std::string(kTopology) + yaml, "bad.yaml", d);
        ASSERT_TRUE(r) << yaml;
        EXPECT_FALSE(validate_topology(*r, testing::test_registry(), d)) << yaml;
        std::string all;
        for (const auto& item : d.items()) {
            all += item.to_string() + "\n";
        }
        EXPECT_THAT(all, HasSubstr(message)) << yaml;
    }
}

}  // namespace
}  // namespace eddy
