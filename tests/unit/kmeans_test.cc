// SPDX-License-Identifier: Apache-2.0
// kmeans: quality against batch k-means on iris, wine and digits and on
// Gaussian blobs, at parallelism 1 and 2; segment changes; errors; the
// codecs; checkpoint and resume; no point lost while a shard seeds; drift
// alerts and re-seeding.
#include "kmeans/kmeans.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include "harness.h"
#include "kmeans_support.h"
#include "state/layout.h"
#include "state_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using testing::Dataset;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::run_yaml;

constexpr int64_t kStart = 1'735'689'600'000;

fs::path temp_path(const std::string& name) {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(test.begin(), test.end(), '/', '_');
    return fs::temp_directory_path() /
           ("eddy_kmeans_" + std::to_string(::getpid()) + "_" + test + "_" + name);
}

/// Writes `passes` passes over `ds`, each in its own seeded random order, as
/// JSON lines {"ts", "id", "features"}; the id is the point's index.
void write_points(const Dataset& ds, int passes, uint64_t seed, const fs::path& path) {
    std::mt19937_64 rng(seed);
    std::vector<size_t> order(ds.n);
    for (size_t i = 0; i < ds.n; ++i) {
        order[i] = i;
    }
    std::ofstream out(path);
    int64_t ts = kStart;
    for (int p = 0; p < passes; ++p) {
        std::shuffle(order.begin(), order.end(), rng);
        for (size_t i : order) {
            out << "{\"ts\":" << ts++ << ",\"id\":\"p" << i << "\",\"features\":[";
            for (size_t j = 0; j < ds.d; ++j) {
                out << (j ? "," : "") << ds.row(i)[j];
            }
            out << "]}\n";
        }
    }
}

std::string topology(const fs::path& input, const std::string& params, int parallelism = 1,
                     const std::string& extra = "") {
    return "parallelism: " + std::to_string(parallelism) + "\n" + extra +
           "sources:\n  in: {type: file, path: " + input.string() +
           ", event_time: {field: ts, unit: ms}}\n"
           "operators:\n  km: {type: kmeans, input: in, key: id, key_field: id, field: features, " +
           params +
           "}\n"
           "sinks:\n  out: {type: collect, input: km}\n  model: {type: collect, input: km.model}\n"
           "  drift: {type: collect, input: km.drift}\n"
           "  errors: {type: collect, input: km.errors}\n";
}

/// One parsed `model` record.
struct Centroid {
    int64_t ts = 0;
    int64_t segment = 0;
    std::vector<double> centroid;
    double size = 0;
    double sse = 0;
    int64_t points = 0;
    double inertia = 0;
    int64_t generation = 0;
    std::string line;
};

Centroid parse_centroid(const std::string& line) {
    simdjson::dom::parser parser;
    simdjson::dom::element e = parser.parse(line);
    Centroid c;
    c.line = line;
    c.ts = int64_t(e["ts"]);
    c.segment = int64_t(e["segment"]);
    for (simdjson::dom::element v : simdjson::dom::array(e["centroid"])) {
        c.centroid.push_back(double(v));
    }
    c.size = double(e["size"]);
    c.sse = double(e["sse"]);
    c.points = int64_t(e["points"]);
    c.inertia = double(e["inertia"]);
    c.generation = int64_t(e["generation"]);
    return c;
}

/// The last snapshot (the one at the end of input): k records.
std::vector<Centroid> final_model(const std::vector<std::string>& lines, size_t k) {
    std::vector<Centroid> out;
    EXPECT_GE(lines.size(), k);
    for (size_t i = lines.size() >= k ? lines.size() - k : 0; i < lines.size(); ++i) {
        out.push_back(parse_centroid(lines[i]));
    }
    std::sort(out.begin(), out.end(),
              [](const Centroid& a, const Centroid& b) { return a.segment < b.segment; });
    return out;
}

std::vector<double> flat(const std::vector<Centroid>& model) {
    std::vector<double> out;
    for (const Centroid& c : model) {
        out.insert(out.end(), c.centroid.begin(), c.centroid.end());
    }
    return out;
}

/// Runs kmeans over `passes` shuffled passes of `ds` and returns its final
/// centroids (input units).
std::vector<double> online_centroids(const Dataset& ds, size_t k, int passes, uint64_t seed,
                                     const std::string& params, int parallelism = 1) {
    fs::path input = temp_path("points.jsonl");
    write_points(ds, passes, seed, input);
    auto r = run_yaml(topology(
        input, "k: " + std::to_string(k) + ", seed: " + std::to_string(seed) + ", " + params,
        parallelism));
    fs::remove(input);
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    EXPECT_TRUE(r.lines("errors").empty()) << r.lines("errors").front();
    return flat(final_model(r.lines("model"), k));
}

struct Quality {
    double median_ratio = 0;
    std::vector<double> ratios;
};

/// Median over 10 seeds of (our inertia / batch inertia), both on the
/// standardized data; batch = k-means++, n_init 10, Lloyd.
Quality inertia_ratio(const Dataset& raw, size_t k, int passes, const std::string& params,
                      int parallelism = 1) {
    testing::Scaler scaler = testing::Scaler::fit(raw);
    Dataset z = scaler.transform(raw);
    // The best of three n_init = 10 references (one n_init = 10 run can end
    // in a worse optimum: iris 140.03 instead of 139.82).
    double reference = std::numeric_limits<double>::infinity();
    for (uint64_t seed : {1, 2, 3}) {
        reference = std::min(reference, testing::batch_kmeans(z, k, 10, seed).inertia);
    }
    Quality q;
    for (uint64_t seed = 0; seed < 10; ++seed) {
        std::vector<double> c = online_centroids(raw, k, passes, seed, params, parallelism);
        if (c.size() != k * raw.d) {
            ADD_FAILURE() << "no final model";
            return q;
        }
        q.ratios.push_back(testing::inertia_of(z, scaler.transform(c), k) / reference);
    }
    q.median_ratio = testing::median(q.ratios);
    return q;
}

class KmeansQualityTest : public ::testing::TestWithParam<int> {
protected:
    void SetUp() override {
        if (testing::clusters_dir().empty()) {
            GTEST_SKIP() << "the ground-truth datasets are not at " EDDY_SHARED_DATA_DIR
                            "/clusters-ground-truth (iris.csv, wine_data.csv, digits.csv.gz)";
        }
    }
};

// Iris and wine (150 and 178 points) are shorter than the default seed
// buffer, so they seed from 64 points, which keeps the run online: 5
// shuffled passes. Digits seeds from the default 256 of its 1,797 points.
struct Case {
    const char* file;
    size_t k;
    const char* params;
};
const Case kCases[] = {{"iris.csv", 3, "seed_points: 64"},
                       {"wine_data.csv", 3, "seed_points: 64"},
                       {"digits.csv.gz", 10, "seed_points: 256"}};
constexpr int kPasses = 5;

TEST_P(KmeansQualityTest, InertiaWithinFivePercentOfBatchKmeans) {
    const int parallelism = GetParam();
    for (const Case& c : kCases) {
        std::optional<Dataset> ds = testing::load_dataset(c.file);
        ASSERT_TRUE(ds.has_value()) << c.file;
        Quality q = inertia_ratio(*ds, c.k, kPasses, c.params, parallelism);
        std::string all;
        for (double r : q.ratios) {
            all += std::to_string(r) + " ";
        }
        std::printf("[quality] %s k=%zu parallelism %d: median inertia ratio %.4f (%s)\n", c.file,
                    c.k, parallelism, q.median_ratio, all.c_str());
        EXPECT_LE(q.median_ratio, 1.05) << c.file << ": " << all;
    }
}

INSTANTIATE_TEST_SUITE_P(Parallelism, KmeansQualityTest, ::testing::Values(1, 2));

class KmeansBlobsTest : public ::testing::TestWithParam<int> {};

TEST_P(KmeansBlobsTest, FindsEightBlobsInTenDimensionsInOnePass) {
    Dataset ds = testing::make_blobs(8, 500, 10, 11);
    std::vector<double> aris;
    for (uint64_t seed = 0; seed < 5; ++seed) {
        std::vector<double> c = online_centroids(ds, 8, 1, seed, "seed_points: 256", GetParam());
        ASSERT_EQ(c.size(), 80u);
        testing::Scaler scaler = testing::Scaler::fit(ds);
        std::vector<int> labels;
        testing::inertia_of(scaler.transform(ds), scaler.transform(c), 8, &labels);
        aris.push_back(testing::adjusted_rand_index(labels, ds.labels));
    }
    std::printf("[quality] blobs 8x500 d=10 parallelism %d: ARI median %.4f min %.4f\n", GetParam(),
                testing::median(aris), *std::min_element(aris.begin(), aris.end()));
    EXPECT_GE(testing::median(aris), 0.99);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, KmeansBlobsTest, ::testing::Values(1, 2));

TEST(KmeansTest, ReferenceReachesScikitLearnsOptimum) {
    if (testing::clusters_dir().empty()) {
        GTEST_SKIP() << "no ground-truth datasets at " EDDY_SHARED_DATA_DIR;
    }
    // The inertia scikit-learn's KMeans(3, n_init=10) reaches on standardized
    // iris (139.82) and wine (1277.93). At that optimum the ARI is 0.620 on
    // iris (as SOURCE.md says) and 0.8975 on wine (SOURCE.md says 0.915).
    for (auto [file, inertia, ari] :
         {std::tuple{"iris.csv", 139.8205, 0.6201}, {"wine_data.csv", 1277.9285, 0.8975}}) {
        Dataset ds = *testing::load_dataset(file);
        Dataset z = testing::Scaler::fit(ds).transform(ds);
        testing::BatchKmeans b = testing::batch_kmeans(z, 3, 10, 2);
        EXPECT_NEAR(b.inertia, inertia, 0.001) << file;
        EXPECT_NEAR(testing::adjusted_rand_index(b.labels, ds.labels), ari, 0.001) << file;
    }
}

/// Reads `eddy gen` ground truth: user id -> segment.
std::map<std::string, std::string> read_truth(const fs::path& path) {
    std::map<std::string, std::string> truth;
    simdjson::dom::parser parser;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        simdjson::dom::element e = parser.parse(line);
        truth[std::string(std::string_view(e["user_id"]))] =
            std::string(std::string_view(e["segment"]));
    }
    return truth;
}

/// ARI of each user's last kmeans segment against the generator's segment.
/// Profiles of fewer than 5 events are not clustered (docs/features.md, "Cold
/// profiles").
double generator_ari(uint64_t seed, const std::string& features) {
    fs::path truth_path = temp_path("truth.jsonl");
    auto r = run_yaml(
        "sources:\n  clicks: {type: generator, events: 300000, users: 500, "
        "bot_share: 0, segments: 3, seed: " +
        std::to_string(seed) + ", truth_path: " + truth_path.string() +
        "}\n"
        "operators:\n"
        "  profiles: {type: profile, input: clicks, key: user_id, half_life: 30d, "
        "emit_every: 1h}\n"
        "  warm: {type: filter, input: profiles, field: events, op: ge, value: 5}\n"
        "  km: {type: kmeans, input: warm, key: user_id, k: 3, " +
        features + "}\nsinks:\n  out: {type: collect, input: km}\n");
    EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::map<std::string, std::string> truth = read_truth(truth_path);
    fs::remove(truth_path);
    std::map<std::string, int> last;
    simdjson::dom::parser parser;
    for (const std::string& line : r.lines("out")) {
        simdjson::dom::element e = parser.parse(line);
        last[std::string(std::string_view(e["user_id"]))] = static_cast<int>(int64_t(e["segment"]));
    }
    std::map<std::string, int> names;
    std::vector<int> a;
    std::vector<int> b;
    for (const auto& [user, segment] : last) {
        auto it = truth.find(user);
        if (it == truth.end()) {
            continue;
        }
        a.push_back(names.emplace(it->second, static_cast<int>(names.size())).first->second);
        b.push_back(segment);
    }
    EXPECT_GE(a.size(), 490u);
    return testing::adjusted_rand_index(a, b);
}

// The generator's humans belong to latent segments (browser, reader, buyer)
// that differ in dwell time, scroll depth and what they do (docs/generator.md).
// k-means with its defaults (standardized) must find them from the profile's
// `features` vector, which describes how a user behaves (type shares, dwell,
// scroll) with activity in one entry (docs/features.md): the bar of issue 7,
// ARI >= 0.8, holds for every seed. As a user would, the topology leaves out
// profiles of fewer than 5 events: the seed buffer (the first 256 points)
// would otherwise hold mostly one-event profiles, whose shares are 0 or 1, and
// spend a centroid on them. The behavioural fields are measured the same way.
TEST(KmeansTest, FindsTheGeneratorsLatentSegmentsFromProfiles) {
    std::vector<double> behaviour;
    std::vector<double> vector;
    for (uint64_t seed : {1, 2, 3}) {
        behaviour.push_back(
            generator_ari(seed, "fields: [dwell_avg, scroll_avg, n_add_to_cart, purchases]"));
        vector.push_back(generator_ari(seed, "field: features"));
    }
    std::printf(
        "[quality] generator segments, ARI per seed: behavioural fields %.4f %.4f %.4f; "
        "features vector %.4f %.4f %.4f\n",
        behaviour[0], behaviour[1], behaviour[2], vector[0], vector[1], vector[2]);
    EXPECT_GE(testing::median(behaviour), 0.8);
    EXPECT_GE(*std::min_element(behaviour.begin(), behaviour.end()), 0.75);
    for (double ari : vector) {
        EXPECT_GE(ari, 0.8);
    }
}

std::string memory_topology(const std::string& records, const std::string& params) {
    return "sources:\n  in:\n    type: memory\n    records:\n" + records +
           "operators:\n  km: {type: kmeans, input: in, key: user_id, " + params +
           "}\nsinks:\n  out: {type: collect, input: km}\n  model: {type: collect, input: "
           "km.model}\n  errors: {type: collect, input: km.errors}\n";
}

TEST(KmeansTest, EmitsSegmentChangesOnlyAfterSeeding) {
    auto r = run_yaml(memory_topology(R"(      - {ts: 1, user_id: a, x: 0, y: 0}
      - {ts: 2, user_id: b, x: 10, y: 10}
      - {ts: 3, user_id: c, x: 0.2, y: 0}
      - {ts: 4, user_id: d, x: 10, y: 10.2}
      - {ts: 5, user_id: a, x: 0.1, y: 0.1}
      - {ts: 6, user_id: a, x: 0, y: 0.1}
      - {ts: 7, user_id: a, x: 9.9, y: 10}
      - {ts: 8, user_id: e, x: 10.1, y: 9.9}
)",
                                      "fields: [x, y], k: 2, seed_points: 4, standardize: false"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& out = r.lines("out");
    ASSERT_EQ(out.size(), 3u) << ::testing::PrintToString(out);
    // The first four points seed; `a` then keeps its segment, changes once, and `e` joins.
    EXPECT_THAT(out[0], HasSubstr(R"("user_id":"a")"));
    EXPECT_THAT(out[0], HasSubstr(R"("previous_segment":null)"));
    EXPECT_THAT(out[1], HasSubstr(R"("ts":7,"user_id":"a")"));
    EXPECT_THAT(out[2], HasSubstr(R"("user_id":"e")"));
    simdjson::dom::parser p;
    int64_t first = p.parse(out[0])["segment"].get_int64();
    simdjson::dom::element second = p.parse(out[1]);
    EXPECT_EQ(int64_t(second["previous_segment"]), first);
    EXPECT_NE(int64_t(second["segment"]), first);
    EXPECT_LT(double(second["distance"]), 0.5);
    // The end-of-input snapshot: two centroids, eight points.
    auto model = final_model(r.lines("model"), 2);
    EXPECT_EQ(model[0].points, 8);
    EXPECT_DOUBLE_EQ(model[0].size + model[1].size, 8);
}

TEST(KmeansTest, BadPointsGoToErrorsWithAReason) {
    auto r = run_yaml(memory_topology(R"(      - {ts: 1, user_id: a, x: 0, y: 0}
      - {ts: 2, user_id: a, x: 1}
      - {ts: 3, user_id: a, x: abc, y: 1}
      - {ts: 4, user_id: a, x: nan, y: 1}
      - {ts: 5, user_id: a, x: 1, y: 1e300}
)",
                                      "fields: [x, y], k: 1"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 4u);
    EXPECT_THAT(errors[0], HasSubstr("the field `y` is missing"));
    EXPECT_THAT(errors[1], HasSubstr("the field `x` is a string, not a number"));
    EXPECT_THAT(errors[2], HasSubstr("the field `x` is NaN"));
    EXPECT_THAT(errors[3], HasSubstr("the field `y` is infinite (or too large for a float)"));
}

TEST(KmeansTest, VectorsOfAnotherLengthOrTypeGoToErrors) {
    fs::path input = temp_path("bad.jsonl");
    {
        std::ofstream out(input);
        out << R"({"ts":1735689600000,"id":"a","features":[1,2,3]})"
               "\n"
            << R"({"ts":1735689600001,"id":"a","features":[1,2]})"
               "\n"
            << R"({"ts":1735689600002,"id":"a","features":"1,2,3"})"
               "\n"
            << R"({"ts":1735689600003,"id":"a"})"
               "\n"
            << R"({"ts":1735689600004,"id":"a","features":[1,2,3,4]})"
               "\n";
    }
    auto r = run_yaml(topology(input, "k: 1"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& errors = r.lines("errors");
    ASSERT_EQ(errors.size(), 4u);
    EXPECT_THAT(errors[0], HasSubstr("the point has 2 numbers but the model has 3 dimensions"));
    EXPECT_THAT(errors[1], HasSubstr("the field `features` is a string, not a vector of numbers"));
    EXPECT_THAT(errors[2], HasSubstr("the field `features` is missing"));
    EXPECT_THAT(errors[3], HasSubstr("has 4 numbers but the model has 3"));
    auto fixed = run_yaml(topology(input, "k: 1, dimensions: 2"));
    ASSERT_TRUE(fixed.status.is_ok());
    EXPECT_THAT(fixed.lines("errors")[0], HasSubstr("has 3 numbers; `dimensions` is 2"));
    fs::remove(input);
}

TEST(KmeansTest, ConfigurationErrorsNameTheFix) {
    auto diagnostics = [](const std::string& params) {
        auto r = run_yaml(memory_topology("      - {ts: 1, user_id: a, x: 1}\n", params));
        EXPECT_FALSE(r.status.is_ok()) << params;
        return r.diagnostics;
    };
    EXPECT_THAT(diagnostics("k: 2"), HasSubstr("set exactly one of `field`"));
    EXPECT_THAT(diagnostics("field: f, fields: [x], k: 2"), HasSubstr("set exactly one of"));
    EXPECT_THAT(diagnostics("fields: [x], k: 10, seed_points: 5"),
                HasSubstr("`seed_points` (5) must be at least `k` (10)"));
    EXPECT_THAT(diagnostics("fields: [x], decay: 0"), HasSubstr("`decay` must be above 0"));
    EXPECT_THAT(diagnostics("fields: [x, x]"), HasSubstr("lists `x` twice"));
    EXPECT_THAT(diagnostics("fields: [x], dimensions: 3"), HasSubstr("drop `dimensions`"));
}

TEST(KmeansTest, CodecsRoundTrip) {
    KmeansModel m;
    ASSERT_TRUE(kmeans::prepare(m, 2, 3, 4, 9));
    m.centroids = {1, 2, 3, 4, 5, 6};
    m.counts = {3, 4};
    m.sse = {0.5, 0.25};
    m.generation = 1;
    m.set_phase(kmeans::Phase::kReady);
    std::string bytes = encode_state(m);
    KmeansModel back;
    ASSERT_TRUE(decode_state(bytes, back));
    EXPECT_EQ(encode_state(back), bytes);
    EXPECT_EQ(back.centroids, m.centroids);
    EXPECT_EQ(back.current_phase(), kmeans::Phase::kReady);
    EXPECT_FALSE(decode_state(std::string_view(bytes).substr(0, bytes.size() - 3), back));
    std::string json;
    ASSERT_TRUE(state_to_json<KmeansModel>(bytes, json));
    EXPECT_THAT(json, HasSubstr(R"("phase":"ready")"));
    EXPECT_THAT(json, HasSubstr(R"("centroids":[[1.0,2.0,3.0],[4.0,5.0,6.0]])"));

    KmeansMonitor mon;
    AdwinChange change;
    for (int i = 0; i < 100; ++i) {
        mon.adwin.add(i % 7, AdwinParams{}, change);
    }
    mon.dims = 2;
    mon.sample = {1, 2, 3, 4};
    bytes = encode_state(mon);
    KmeansMonitor mon2;
    ASSERT_TRUE(decode_state(bytes, mon2));
    EXPECT_EQ(encode_state(mon2), bytes);
    EXPECT_EQ(mon2.adwin.width(), mon.adwin.width());
}

/// A ready model of k centroids in `dims` dimensions (weights 1: no points
/// in the running variance).
KmeansModel ready_model(int32_t k, int32_t dims, std::vector<float> centroids,
                        std::vector<double> counts) {
    KmeansModel m;
    EXPECT_TRUE(kmeans::prepare(m, k, dims, 4, 9));
    m.centroids = std::move(centroids);
    m.counts = std::move(counts);
    m.points = 10;
    m.generation = 1;
    m.set_phase(kmeans::Phase::kReady);
    return m;
}

// Scale-out (docs/scale-out.md, "Models"): each centroid becomes the
// count-weighted average of itself and the nearest centroid of each peer,
// whatever order the peer's centroids are in.
TEST(KmeansTest, MergeAveragesMatchedCentroidsByTheirCounts) {
    KmeansModel own = ready_model(2, 2, {0, 0, 10, 10}, {3, 1});
    // The peer's centroids in the other order, near own's.
    KmeansModel peer = ready_model(2, 2, {12, 12, 2, 0}, {1, 1});
    KmeansModel other_k = ready_model(3, 2, {50, 50, 60, 60, 70, 70}, {9, 9, 9});
    std::vector<const KmeansModel*> peers = {&peer, &other_k};
    Merge<KmeansModel>::merge(own, peers);
    EXPECT_THAT(own.centroids, ElementsAre(0.5f, 0.0f, 11.0f, 11.0f));
    EXPECT_THAT(own.counts, ElementsAre(3.0, 1.0)) << "counts stay this process's";

    // Every process applying the rule to the same models agrees.
    KmeansModel a = ready_model(2, 2, {0, 0, 10, 10}, {3, 1});
    KmeansModel b = ready_model(2, 2, {12, 12, 2, 0}, {1, 1});
    KmeansModel a0 = a;
    Merge<KmeansModel>::merge(a, std::vector<const KmeansModel*>{&b});
    Merge<KmeansModel>::merge(b, std::vector<const KmeansModel*>{&a0});
    EXPECT_THAT(b.centroids, ElementsAre(11.0f, 11.0f, 0.5f, 0.0f));
}

// A process that joins later takes over the others' model instead of
// seeding its own, and learns the points it had buffered; a re-seed after
// drift does not.
TEST(KmeansTest, MergeIntoABufferingModelAdoptsTheReadyPeerWithMostPoints) {
    KmeansModel own;
    ASSERT_TRUE(kmeans::prepare(own, 2, 2, 4, 9));
    double w[2];
    kmeans::Learning how;
    how.standardize = false;
    float point[] = {1, 1};
    EXPECT_FALSE(kmeans::add(own, point, w, how).has_value()) << "buffered";
    KmeansModel small = ready_model(2, 2, {5, 5, 6, 6}, {1, 1});
    KmeansModel big = ready_model(2, 2, {0, 0, 10, 10}, {1, 1});
    big.points = 100;
    KmeansModel seeding;
    ASSERT_TRUE(kmeans::prepare(seeding, 2, 2, 4, 9));  // not ready: left out
    Merge<KmeansModel>::merge(own, std::vector<const KmeansModel*>{&small, &big, &seeding});
    EXPECT_EQ(own.current_phase(), kmeans::Phase::kReady);
    EXPECT_EQ(own.points, 101) << "the peer's points and the buffered one";
    // (1, 1) was learned into the centroid at the origin: count 2, half way.
    EXPECT_THAT(own.centroids, ElementsAre(0.5f, 0.5f, 10.0f, 10.0f));
    EXPECT_THAT(own.counts, ElementsAre(2.0, 1.0));

    // A model re-seeding after drift found the old model stale: it seeds
    // from its own points instead.
    ASSERT_TRUE(kmeans::restart(own));
    Merge<KmeansModel>::merge(own, std::vector<const KmeansModel*>{&big});
    EXPECT_EQ(own.current_phase(), kmeans::Phase::kBuffering);
}

// Models arrive encoded: one that does not decode merges nothing.
TEST(KmeansTest, SharedStateMergesEncodedPeersAndRefusesUndecodableOnes) {
    Shared<KmeansModel> model("model");
    ASSERT_TRUE(model.mergeable());
    model.get() = ready_model(2, 2, {0, 0, 10, 10}, {1, 1});
    std::string peer = encode_state(ready_model(2, 2, {2, 2, 12, 12}, {1, 1}));
    EXPECT_FALSE(model.merge(std::vector<std::string_view>{peer, "garbage"}));
    EXPECT_THAT(model.get().centroids, ElementsAre(0.0f, 0.0f, 10.0f, 10.0f));
    EXPECT_TRUE(model.merge(std::vector<std::string_view>{peer}));
    EXPECT_THAT(model.get().centroids, ElementsAre(1.0f, 1.0f, 11.0f, 11.0f));
    EXPECT_FALSE(model.merge_keeps_departed()) << "an average: departed processes drop out";
    Global<KmeansMonitor> monitor("monitor");
    EXPECT_FALSE(monitor.mergeable()) << "no merge rule";
}

// A point that comes while another shard seeds waits for the seeds and is
// learned: none is lost at parallelism 2 (such points used to be dropped).
TEST(KmeansTest, APointThatArrivesWhileAnotherShardSeedsIsLearned) {
    constexpr size_t kDims = 8;
    constexpr int64_t kSeedPoints = 2000;
    // One Gaussian blob cut into 32 clusters: Lloyd needs many iterations,
    // so the seeding lasts long enough for the second thread to see it.
    Dataset ds = testing::make_blobs(1, kSeedPoints + 1, kDims, 5);
    std::vector<float> x(ds.x.begin(), ds.x.end());
    auto point = [&](size_t i) { return std::span<const float>(&x[i * kDims], kDims); };
    KmeansModel m;
    ASSERT_TRUE(kmeans::prepare(m, 32, kDims, kSeedPoints, 1));
    const kmeans::Learning how{1.0, 3, true};
    std::thread seeder([&] {
        std::vector<double> w(kDims);
        for (int64_t i = 0; i < kSeedPoints; ++i) {
            EXPECT_FALSE(kmeans::add(m, point(i), w.data(), how).has_value()) << i;
        }
    });
    while (m.current_phase() == kmeans::Phase::kBuffering) {
        std::this_thread::yield();
    }
    const bool seeding = m.current_phase() == kmeans::Phase::kSeeding;
    std::vector<double> w(kDims);
    std::optional<kmeans::Assignment> a = kmeans::add(m, point(kSeedPoints), w.data(), how);
    seeder.join();
    ASSERT_TRUE(seeding) << "the seeding ended before the second thread saw it";
    ASSERT_TRUE(a.has_value()) << "the point that came during the seeding was not learned";
    EXPECT_EQ(m.current_phase(), kmeans::Phase::kReady);
    EXPECT_EQ(m.points, kSeedPoints + 1);
    EXPECT_EQ(m.waited, 1);
    double size = 0;
    for (double n : m.counts) {
        size += n;
    }
    EXPECT_DOUBLE_EQ(size, static_cast<double>(kSeedPoints + 1));
    EXPECT_LT(a->segment, 32);
}

TEST(KmeansTest, ACheckpointAmidSeedingDoesNotDecode) {
    // A checkpoint is taken while no shard runs; a model caught amid
    // seeding, or buffering with no free slot, would make every shard wait
    // for a seeding that no shard runs.
    KmeansModel m;
    ASSERT_TRUE(kmeans::prepare(m, 2, 3, 4, 9));
    KmeansModel back;
    EXPECT_TRUE(decode_state(encode_state(m), back));
    m.buffered = 4;
    EXPECT_FALSE(decode_state(encode_state(m), back));
    m.buffered = 2;
    m.set_phase(kmeans::Phase::kSeeding);
    EXPECT_FALSE(decode_state(encode_state(m), back));
}

class KmeansStateTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = temp_path("state");
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(KmeansStateTest, AStoppedAndResumedJobEndsWithTheSameModel) {
    Dataset ds = testing::make_blobs(4, 1000, 6, 3);
    fs::path input = temp_path("points.jsonl");
    write_points(ds, 1, 5, input);
    const std::string params = "k: 4, seed_points: 128, snapshot_every: 1s";
    auto whole = run_yaml(topology(input, params));
    ASSERT_TRUE(whole.status.is_ok()) << whole.status.message() << whole.diagnostics;
    auto expected = final_model(whole.lines("model"), 4);
    ASSERT_EQ(expected[0].points + expected[1].points, 2 * 4000);

    const std::string state = "state: {dir: " + dir_.string() + "}\n";
    std::string stopped = topology(input, params, 1, state) +
                          "  stop: {type: stop_after, input: in, records: 1700}\n";
    auto first = run_yaml(stopped);
    ASSERT_TRUE(first.status.is_ok()) << first.status.message() << first.diagnostics;
    ASSERT_TRUE(first.job->stopped_early());
    first.job.reset();  // releases the state dir
    auto second = run_yaml(topology(input, params, 1, state));
    ASSERT_TRUE(second.status.is_ok()) << second.status.message();
    ASSERT_TRUE(second.job->restored());
    auto resumed = final_model(second.lines("model"), 4);
    for (size_t j = 0; j < 4; ++j) {
        EXPECT_EQ(resumed[j].centroid, expected[j].centroid) << j;
        EXPECT_EQ(resumed[j].size, expected[j].size) << j;
        EXPECT_EQ(resumed[j].sse, expected[j].sse) << j;
        EXPECT_EQ(resumed[j].points, expected[j].points) << j;
        EXPECT_EQ(resumed[j].inertia, expected[j].inertia) << j;
    }
    fs::remove(input);
}

/// The model a finished job checkpointed in `dir`, of operator `km`.
KmeansModel stored_model(const fs::path& dir) {
    // Operator-wide values sit at [0xFFFF][handle][shard]; the model is the
    // operator's second handle (after `segments`), stored once as shard 0's.
    std::string key;
    state::put_u16(key, state::kGlobalGroup);
    key.push_back(1);
    state::put_u16(key, 0);
    testing::StateSnapshot snapshot = testing::read_state(dir.string());
    KmeansModel m;
    auto& family = snapshot[state::operator_family("km")];
    auto it = family.find(key);
    EXPECT_NE(it, family.end()) << "no model in " << dir;
    if (it != family.end()) {
        EXPECT_TRUE(decode_state(it->second, m));
    }
    return m;
}

// At parallelism 2 one shard seeds while the other keeps receiving points:
// those wait for the seeds and are learned. Every point with its own key,
// each learned point gives its key a first segment.
TEST_F(KmeansStateTest, NoPointIsLostWhileAShardSeedsAtParallelismTwo) {
    constexpr size_t kPoints = 40000;
    constexpr size_t kSeedPoints = 2000;
    // One Gaussian blob cut into 32 clusters: a seeding of a few hundred
    // milliseconds, while the other shard has a queue of points.
    Dataset ds = testing::make_blobs(1, kPoints, 8, 17);
    fs::path input = temp_path("points.jsonl");
    write_points(ds, 1, 3, input);
    auto r = run_yaml(topology(input, "k: 32, seed_points: 2000, seed_inits: 3", 2,
                               "state: {dir: " + dir_.string() + "}\n"));
    fs::remove(input);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    r.job.reset();  // releases the state dir
    EXPECT_EQ(r.lines("out").size(), kPoints - kSeedPoints);
    KmeansModel stored = stored_model(dir_);
    EXPECT_EQ(stored.points, static_cast<int64_t>(kPoints));
    // The race did happen: points waited for the seeding.
    EXPECT_GT(stored.waited, 0);
    std::printf("[seeding] %lld points waited for the seeds at parallelism 2\n",
                static_cast<long long>(stored.waited));
}

TEST(KmeansTest, DeterministicAtParallelismOne) {
    Dataset ds = testing::make_blobs(3, 300, 4, 8);
    std::vector<double> a = online_centroids(ds, 3, 1, 7, "seed_points: 50");
    std::vector<double> b = online_centroids(ds, 3, 1, 7, "seed_points: 50");
    EXPECT_EQ(a, b);
}

TEST(KmeansTest, DriftRaisesAnAlertAndReseeds) {
    // 3 blobs, then the same number of points from 3 blobs elsewhere.
    Dataset before = testing::make_blobs(3, 1000, 4, 21);
    Dataset after = testing::make_blobs(3, 1000, 4, 22);
    fs::path input = temp_path("drift.jsonl");
    {
        std::ofstream out(input);
        int64_t ts = kStart;
        std::mt19937_64 rng(3);
        for (const Dataset* ds : {&before, &after}) {
            std::vector<size_t> order(ds->n);
            std::iota(order.begin(), order.end(), 0);
            std::shuffle(order.begin(), order.end(), rng);
            for (size_t i : order) {
                out << "{\"ts\":" << ts++ << ",\"id\":\"p" << i << "\",\"features\":[";
                for (size_t j = 0; j < ds->d; ++j) {
                    out << (j ? "," : "") << ds->row(i)[j];
                }
                out << "]}\n";
            }
        }
    }
    auto r = run_yaml(topology(input, "k: 3, seed_points: 100, reseed_on_drift: true"));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    const auto& drift = r.lines("drift");
    ASSERT_FALSE(drift.empty());
    EXPECT_THAT(drift[0], HasSubstr(R"("statistic":"distance_mean")"));
    EXPECT_THAT(drift[0], HasSubstr(R"("reseeded":true)"));
    simdjson::dom::parser p;
    simdjson::dom::element alert = p.parse(drift[0]);
    const int64_t at = int64_t(alert["ts"]) - kStart;
    std::printf("[drift] first alert after %lld points of the new regime; %zu alerts\n",
                static_cast<long long>(at - 3000), drift.size());
    EXPECT_GE(at, 3000);
    EXPECT_LT(at, 3000 + 200);
    EXPECT_GT(double(alert["value"]), double(alert["threshold"]));
    auto model = final_model(r.lines("model"), 3);
    EXPECT_EQ(model[0].generation, 2);
    fs::remove(input);
}

}  // namespace
}  // namespace eddy
