// SPDX-License-Identifier: Apache-2.0
// mf: explicit and implicit learning, recommendations (exclusion, filter,
// throttle), prequential metrics, bad input, determinism, codecs, and a
// stopped and resumed job that ends with the same model.
#include "mf/mf.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "json_fields.h"
#include "mf/model.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_yaml;

using testing::num;
using testing::raw;

class MfTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Until `mf` is in EDDY_BUILTIN_OPERATORS, register it for the tests.
        Registry& r = testing::test_registry();
        if (r.find(ComponentKind::kOperator, "mf") == nullptr) {
            Status s = r.add(mf_spec(), "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
        }
    }

    static std::string topology(const std::string& records, const std::string& params,
                                const std::string& head = "") {
        return head + "sources:\n  in:\n    type: memory\n    records:\n" + records +
               "operators:\n  m: {type: mf, input: in, key: user_id" + params +
               "}\nsinks:\n  out: {type: collect, input: m}\n  metrics: {type: collect, input: "
               "m.metrics}\n  errors: {type: collect, input: m.errors}\n";
    }

    static testing::RunResult run(const std::string& records, const std::string& params,
                                  const std::string& head = "") {
        auto r = run_yaml(topology(records, params, head));
        EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
        return r;
    }
};

TEST_F(MfTest, ExplicitRecommendsUnseenItemsWithPredictedRatings) {
    auto r = run(R"(      - {user_id: a, item_id: i1, rating: 5}
      - {user_id: b, item_id: i1, rating: 5}
      - {user_id: b, item_id: i2, rating: 1}
      - {user_id: b, item_id: i3, rating: 4}
      - {user_id: a, item_id: i4, rating: 4}
)",
                 ", top_n: 2");
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(raw(out[0], "user_id"), "\"a\"");
    EXPECT_EQ(raw(out[0], "model"), "\"mf\"");
    EXPECT_EQ(raw(out[0], "item_1"), "");  // nothing a has not had yet
    // b had i1, i2, i3: only i4 is left; a had i1 and i4: i3 scores above i2.
    EXPECT_EQ(raw(out[4], "item_1"), "\"i3\"");
    EXPECT_EQ(raw(out[4], "item_2"), "\"i2\"");
    EXPECT_GT(num(out[4], "score_1"), num(out[4], "score_2"));
    for (const std::string& line : out) {
        for (const char* f : {"score_1", "score_2"}) {
            if (!raw(line, f).empty()) {
                EXPECT_GE(num(line, f), 1.0) << line;
                EXPECT_LE(num(line, f), 5.0) << line;
            }
        }
    }
}

TEST_F(MfTest, IntegerItemIdsStayIntegers) {
    auto r = run(R"(      - {user_id: 1, item_id: 10, rating: 5}
      - {user_id: 2, item_id: 20, rating: 4}
)",
                 ", top_n: 3");
    ASSERT_EQ(r.lines("out").size(), 2u);
    EXPECT_EQ(raw(r.lines("out")[1], "item_1"), "10");
    EXPECT_EQ(raw(r.lines("out")[1], "user_id"), "2");
}

TEST_F(MfTest, PrequentialMetricsScoreBeforeLearning) {
    // init_scale 0: factors stay 0 until the first error moves them, so the
    // first prediction is the mid-range 3 and the second the mean 5 + biases.
    auto r = run(R"(      - {user_id: a, item_id: i1, rating: 5}
      - {user_id: b, item_id: i2, rating: 5}
      - {user_id: c, item_id: i3, rating: 1}
)",
                 ", init_scale: 0, top_n: 0, evaluate: true, metrics_every: 1");
    const auto& m = r.lines("metrics");
    ASSERT_EQ(m.size(), 4u);  // one per event, then the final one
    EXPECT_EQ(raw(m[0], "mode"), "\"explicit\"");
    EXPECT_DOUBLE_EQ(num(m[0], "mae"), 2.0);
    EXPECT_DOUBLE_EQ(num(m[0], "rmse"), 2.0);
    EXPECT_EQ(num(m[1], "scored"), 2);
    EXPECT_DOUBLE_EQ(num(m[1], "mae"), 1.0);  // the second prediction is the mean, 5
    EXPECT_EQ(num(m[3], "events"), 3);
    EXPECT_EQ(num(m[3], "items"), 3);
    EXPECT_DOUBLE_EQ(num(m[3], "mae"), num(m[2], "mae"));
    EXPECT_TRUE(r.lines("out").empty());
}

TEST_F(MfTest, BadRecordsGoToErrorsWithAReason) {
    auto r = run(R"(      - {user_id: a, rating: 4}
      - {user_id: a, item_id: 1.5, rating: 4}
      - {user_id: a, item_id: i1}
      - {user_id: a, item_id: i1, rating: great}
      - {user_id: a, item_id: i1, rating: nan}
      - {user_id: a, item_id: i1, rating: 7}
      - {item_id: i1, rating: 3}
      - {user_id: a, item_id: i1, rating: 3}
)",
                 ", top_n: 1");
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 7u);
    // The runtime reports the missing key before the operator sees the batch.
    EXPECT_THAT(errors[0], HasSubstr("key field 'user_id' is missing"));
    EXPECT_THAT(errors[1], HasSubstr("item field `item_id` is missing"));
    EXPECT_THAT(errors[2], HasSubstr("must be a string or an integer, got double"));
    EXPECT_THAT(errors[3], HasSubstr("rating field `rating` is missing"));
    EXPECT_THAT(errors[4], HasSubstr("must be a number, got string"));
    EXPECT_THAT(errors[5], HasSubstr("is not a finite number"));
    EXPECT_THAT(errors[6], HasSubstr("rating 7 is outside [1, 5]"));
    EXPECT_EQ(r.lines("out").size(), 1u);  // the one good rating
}

TEST_F(MfTest, ImplicitWeightsSkipUnweightedTypesAndExcludeSeenItems) {
    auto r = run(R"(      - {user_id: a, item_id: i1, type: page_view}
      - {user_id: a, item_id: i2, type: purchase}
      - {user_id: b, item_id: i3, type: click}
      - {user_id: b, type: search}
      - {user_id: b, item_id: i9, type: scroll}
      - {user_id: b, item_id: i1, type: add_to_cart}
)",
                 ", mode: implicit, top_n: 5, negatives: 3");
    EXPECT_TRUE(r.lines("errors").empty()) << r.lines("errors")[0];
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 4u);  // search and scroll have no weight: skipped
    const std::string& last = out[3];
    EXPECT_EQ(raw(last, "user_id"), "\"b\"");
    EXPECT_EQ(raw(last, "item_1"), "\"i2\"");  // the only item b has not had
    EXPECT_EQ(raw(last, "item_2"), "");
    EXPECT_THAT(out[2], Not(HasSubstr("i9")));  // never learned
}

TEST_F(MfTest, FilterFieldKeepsTheUsersLastCategory) {
    auto r = run(R"(      - {user_id: a, item_id: s1, type: click, category: shoes}
      - {user_id: a, item_id: s2, type: click, category: shoes}
      - {user_id: a, item_id: b1, type: click, category: books}
      - {user_id: a, item_id: b2, type: click, category: books}
      - {user_id: b, item_id: s3, type: click, category: shoes}
      - {user_id: b, item_id: b3, type: click, category: books}
      - {user_id: c, item_id: s1, type: click, category: shoes}
)",
                 ", mode: implicit, filter_field: category, top_n: 10");
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 7u);
    // c's last category is shoes: s2 and s3 (s1 is seen), no books.
    EXPECT_THAT(out[6], HasSubstr("\"s2\""));
    EXPECT_THAT(out[6], HasSubstr("\"s3\""));
    EXPECT_THAT(out[6], Not(HasSubstr("\"b")));
    EXPECT_EQ(raw(out[6], "item_3"), "");
}

TEST_F(MfTest, EmitEveryCountsUpdatesOrEventTime) {
    std::string records;
    for (int i = 0; i < 10; ++i) {
        records += "      - {ts: " + std::to_string(i * 10000) + ", user_id: a, item_id: i" +
                   std::to_string(i) + ", rating: 4}\n";
    }
    auto every3 = run(records, ", emit_every: 3");
    EXPECT_EQ(every3.lines("out").size(), 3u);  // updates 3, 6, 9
    auto every25s = run(records, ", emit_every: 25s");
    ASSERT_EQ(every25s.lines("out").size(), 4u);  // t = 0, 30s, 60s, 90s
    EXPECT_EQ(raw(every25s.lines("out")[1], "ts"), "30000");
}

TEST_F(MfTest, RulesRejectBadSettings) {
    for (const auto& [params, message] : std::vector<std::pair<std::string, std::string>>{
             {", emit_every: soon", "`emit_every` must be a number of updates"},
             {", emit_every: 0", "`emit_every` must be at least 1 update"},
             {", min_rating: 5, max_rating: 1", "`min_rating` must be below `max_rating`"},
             {", mode: implicit, evaluate: true, top_n: 0", "set `top_n` to at least 1"},
             {", user_field: item_1", "`user_field` `item_1` is also the name"},
             {", weights: {click: -1}", "weights"},
         }) {
        auto r = run_yaml(topology("      - {user_id: a, item_id: i1, rating: 4}\n", params));
        EXPECT_FALSE(r.status.is_ok()) << params;
        EXPECT_THAT(r.diagnostics, HasSubstr(message)) << params;
    }
}

TEST_F(MfTest, SpecExamplesValidate) {
    ComponentSpec spec = mf_spec();
    ASSERT_EQ(spec.examples.size(), 2u);
    for (const ExampleSpec& e : spec.examples) {
        std::string yaml = e.yaml;
        if (yaml.find("sources:") == std::string::npos) {
            yaml = "sources:\n  clicks: {type: generator, events: 10}\n" + yaml;
        }
        yaml += "sinks:\n  out: {type: null, input: recs}\n";
        Diagnostics diags;
        auto root = load_yaml_text(yaml, "example.yaml", diags);
        ASSERT_TRUE(root.has_value()) << e.title;
        auto topology = validate_topology(*root, testing::test_registry(), diags);
        std::string all;
        for (const Diagnostic& d : diags.sorted()) {
            all += d.to_string() + "\n";
        }
        EXPECT_TRUE(topology.has_value()) << e.title << "\n" << all;
    }
    for (const Param& p : spec.params) {
        EXPECT_FALSE(p.doc_text().empty()) << p.name();
    }
}

TEST_F(MfTest, ParallelismOneIsDeterministic) {
    std::string records;
    for (int i = 0; i < 300; ++i) {
        records += "      - {user_id: u" + std::to_string(i % 17) + ", item_id: i" +
                   std::to_string((i * 7) % 41) + ", type: click}\n";
    }
    auto first = run(records, ", mode: implicit, top_n: 5, evaluate: true, metrics_every: 100",
                     "parallelism: 1\n");
    std::vector<std::string> out = first.lines("out");
    std::vector<std::string> metrics = first.lines("metrics");
    auto second = run(records, ", mode: implicit, top_n: 5, evaluate: true, metrics_every: 100",
                      "parallelism: 1\n");
    EXPECT_EQ(second.lines("out"), out);
    EXPECT_EQ(second.lines("metrics"), metrics);
    ASSERT_EQ(metrics.size(), 4u);
    EXPECT_GT(num(metrics.back(), "scored"), 0);
}

TEST_F(MfTest, ParallelShardsLearnOneModel) {
    std::string records;
    for (int i = 0; i < 400; ++i) {
        records += "      - {user_id: u" + std::to_string(i % 23) + ", item_id: i" +
                   std::to_string((i * 5) % 37) + ", rating: " + std::to_string(1 + i % 5) + "}\n";
    }
    auto r = run(records, ", top_n: 3, evaluate: true, metrics_every: 0", "parallelism: 3\n");
    ASSERT_EQ(r.lines("metrics").size(), 1u);  // the last shard to close reports
    EXPECT_EQ(num(r.lines("metrics")[0], "events"), 400);
    EXPECT_EQ(num(r.lines("metrics")[0], "items"), 37);  // one item model for all shards
    EXPECT_EQ(r.lines("out").size(), 400u);
}

TEST_F(MfTest, UserStateCodecRoundTrips) {
    mf::UserState u;
    u.bias = 0.25f;
    u.events = 7;
    u.since_emit = 2;
    u.last_emit = 123;
    u.category = 4;
    u.seen_next = 1;
    u.params = {0.5f, -1, 2, 3};
    u.seen = {3, 9};
    mf::UserState back;
    ASSERT_TRUE(decode_state(encode_state(u), back));
    EXPECT_EQ(back.bias, u.bias);
    EXPECT_EQ(back.events, 7);
    EXPECT_EQ(back.last_emit, 123);
    EXPECT_EQ(back.category, 4u);
    EXPECT_EQ(back.params, u.params);
    EXPECT_EQ(back.seen, u.seen);
    std::string truncated = encode_state(u);
    truncated.pop_back();
    EXPECT_FALSE(decode_state(truncated, back));
}

TEST_F(MfTest, ItemModelCodecRoundTrips) {
    mf::ItemModel m;
    m.configure(4, 8);
    bool added = false;
    uint32_t a = m.find_or_add("\x04item-a", 42, 0.1f, added);
    EXPECT_TRUE(added);
    uint32_t b = m.find_or_add("\x04item-b", 42, 0.1f, added);
    EXPECT_EQ(m.find_or_add("\x04item-a", 42, 0.1f, added), a);
    EXPECT_FALSE(added);
    m.bias(b) = 0.5f;
    m.count(b) = 3;
    m.category(a) = m.category_id("shoes");
    m.touch_recent(b);
    m.running().ratings = 2;
    m.running().rating_sum = 7;
    mf::ItemModel back;
    ASSERT_TRUE(decode_state(encode_state(m), back));
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back.find("\x04item-b"), b);
    EXPECT_EQ(back.bias(b), 0.5f);
    EXPECT_EQ(back.count(b).load(), 3);
    EXPECT_EQ(back.category(a), back.category_id("shoes"));
    EXPECT_EQ(back.category(b), mf::kNoCategory);
    EXPECT_EQ(back.recent_count(), 1u);
    EXPECT_EQ(back.recent(0), b);
    EXPECT_EQ(back.running().rating_sum.load(), 7);
    for (int j = 0; j < 4; ++j) {
        EXPECT_EQ(back.factors(a)[j], m.factors(a)[j]);
    }
    EXPECT_EQ(encode_state(back), encode_state(m));
    std::string bytes = encode_state(m);
    bytes.resize(bytes.size() / 2);
    mf::ItemModel broken;
    EXPECT_FALSE(decode_state(bytes, broken));
}

/// An item of `m` with the given factors, bias and event count.
uint32_t put_item(mf::ItemModel& m, const std::string& key, std::vector<float> factors, float bias,
                  int64_t count) {
    bool added = false;
    uint32_t i = m.find_or_add(key, 42, 0.1f, added);
    std::copy(factors.begin(), factors.end(), m.factors(i));
    m.bias(i) = bias;
    m.count(i) = count;
    return i;
}

// Scale-out (docs/scale-out.md, "Models"): items meet by id, and each
// becomes the count-weighted average of the processes' rows.
TEST_F(MfTest, ItemModelsMergeByItemWeightedByEventCounts) {
    mf::ItemModel own;
    own.configure(2, 8);
    uint32_t a = put_item(own, "\x04a", {1, 1}, 1, 3);
    uint32_t only_here = put_item(own, "\x04here", {5, 5}, 5, 2);
    mf::ItemModel peer;
    peer.configure(2, 8);
    put_item(peer, "\x04new", {4, -4}, 2, 1);  // not known here: added with the peer's row
    put_item(peer, "\x04a", {5, 9}, 3, 1);
    peer.category(peer.find("\x04new")) = peer.category_id("shoes");
    mf::ItemModel other_shape;
    other_shape.configure(3, 8);
    put_item(other_shape, "\x04a", {100, 100, 100}, 100, 100);

    Merge<mf::ItemModel>::merge(own, std::vector<const mf::ItemModel*>{&peer, &other_shape});
    ASSERT_EQ(own.size(), 3u);
    EXPECT_EQ(own.factors(a)[0], 2.0f);  // (3 * 1 + 1 * 5) / 4
    EXPECT_EQ(own.factors(a)[1], 3.0f);  // (3 * 1 + 1 * 9) / 4
    EXPECT_EQ(own.bias(a), 1.5f);
    EXPECT_EQ(own.count(a).load(), 3) << "counts stay this process's";
    uint32_t added = own.find("\x04new");
    ASSERT_NE(added, mf::ItemModel::kFull);
    EXPECT_EQ(own.factors(added)[0], 4.0f);
    EXPECT_EQ(own.factors(added)[1], -4.0f);
    EXPECT_EQ(own.bias(added), 2.0f);
    EXPECT_EQ(own.count(added).load(), 0);
    EXPECT_EQ(own.category(added), own.find_category("shoes"));
    EXPECT_EQ(own.factors(only_here)[0], 5.0f) << "an item no peer has keeps its row";

    Shared<mf::ItemModel> shared("items");
    EXPECT_TRUE(shared.mergeable());
}

class MfResumeTest : public MfTest {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("eddy_mf_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string yaml(const std::string& mode, int stop_after) const {
        std::string y = "parallelism: 1\nstate: {dir: " + dir_.string() +
                        "}\nsources:\n  clicks: {type: generator, events: 4000, users: 200, "
                        "items: 300, seed: 7}\noperators:\n  m: {type: mf, input: clicks, key: "
                        "user_id, top_n: 5, evaluate: true, metrics_every: 500, mode: " +
                        mode +
                        ", default_weight: 1}\nsinks:\n  out: {type: collect, input: m}\n  "
                        "metrics: {type: collect, input: m.metrics}\n";
        if (stop_after > 0) {
            y +=
                "  stop: {type: stop_after, input: clicks, records: " + std::to_string(stop_after) +
                "}\n";
        }
        return y;
    }

    fs::path dir_;
};

TEST_F(MfResumeTest, AStoppedAndResumedJobEndsWithTheSameModel) {
    auto whole = run_yaml(yaml("implicit", 0));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message() << whole.diagnostics;
    std::vector<std::string> all = whole.lines("out");
    std::string final_metrics = whole.lines("metrics").back();
    whole.job.reset();  // releases the state dir
    fs::remove_all(dir_);

    auto first = run_yaml(yaml("implicit", 1500));
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();
    auto second = run_yaml(yaml("implicit", 0));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    const auto& rest = second.lines("out");
    ASSERT_GT(rest.size(), 0u);
    ASSERT_LT(rest.size(), all.size());
    // Every recommendation after the restart, and the final figures (which
    // sum over the whole stream), are those of the uninterrupted run.
    std::vector<std::string> tail(all.end() - static_cast<std::ptrdiff_t>(rest.size()), all.end());
    EXPECT_EQ(rest, tail);
    EXPECT_EQ(second.lines("metrics").back(), final_metrics);
}

}  // namespace
}  // namespace eddy
