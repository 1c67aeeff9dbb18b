// SPDX-License-Identifier: Apache-2.0
// mf on MovieLens 100k (../shared/data/movielens-100k, never copied into the
// repository: its licence forbids redistribution). The ratings are sorted by
// timestamp (stable) and replayed once through the real operator from a
// JSON Lines file; every rating is predicted before it is learned
// (prequential). The quality bars and the figures are in docs/mf.md.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"
#include "mf/mf.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;

struct Rating {
    int64_t user;
    int64_t item;
    int64_t rating;
    int64_t ts;
};

double field(const std::string& line, const std::string& name) {
    std::string needle = "\"" + name + "\":";
    size_t at = line.find(needle);
    EXPECT_NE(at, std::string::npos) << name << " missing in " << line;
    return at == std::string::npos ? -1 : std::strtod(line.c_str() + at + needle.size(), nullptr);
}

class MovieLensTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        Registry& r = testing::test_registry();
        if (r.find(ComponentKind::kOperator, "mf") == nullptr) {
            Status s = r.add(mf_spec(), "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
        }
    }

    void SetUp() override {
        fs::path data = fs::path(EDDY_SHARED_DATA_DIR) / "movielens-100k" / "u.data";
        if (!fs::exists(data)) {
            GTEST_SKIP() << "MovieLens 100k is not at " << data
                         << " (see ../shared/data/README.md); the quality test needs it";
        }
        std::ifstream in(data);
        std::vector<Rating> ratings;
        Rating r{};
        while (in >> r.user >> r.item >> r.rating >> r.ts) {
            ratings.push_back(r);
        }
        ASSERT_EQ(ratings.size(), 100000u);
        std::stable_sort(ratings.begin(), ratings.end(),
                         [](const Rating& a, const Rating& b) { return a.ts < b.ts; });
        path_ =
            fs::temp_directory_path() / ("eddy_movielens_" + std::to_string(::getpid()) + ".jsonl");
        std::ofstream out(path_);
        for (const Rating& x : ratings) {
            out << "{\"user_id\":" << x.user << ",\"item_id\":" << x.item
                << ",\"rating\":" << x.rating << ",\"ts\":" << x.ts * 1000 << "}\n";
        }
    }
    void TearDown() override {
        if (!path_.empty()) {
            fs::remove(path_);
        }
    }

    /// The final metrics line of one prequential pass with `params`.
    std::string run(int parallelism, const std::string& params) {
        std::string yaml = "parallelism: " + std::to_string(parallelism) +
                           "\nsources:\n  ratings: {type: file, path: " + path_.string() +
                           ", event_time: {field: ts, unit: ms}}\noperators:\n  m: {type: mf, "
                           "input: ratings, key: user_id, evaluate: true, metrics_every: 0" +
                           params + "}\nsinks:\n  metrics: {type: collect, input: m.metrics}\n";
        auto r = testing::run_yaml(yaml);
        EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
        const auto& lines = r.lines("metrics");
        EXPECT_EQ(lines.size(), 1u);
        return lines.empty() ? "" : lines.back();
    }

    fs::path path_;
};

TEST_F(MovieLensTest, ExplicitDefaultsBeatBiasedMF) {
    std::string m = run(1, ", top_n: 0");
    double mae = field(m, "mae");
    double rmse = field(m, "rmse");
    std::cout << "movielens-100k explicit, parallelism 1: MAE " << mae << " RMSE " << rmse << " ("
              << m << ")\n";
    RecordProperty("mae", std::to_string(mae));
    RecordProperty("rmse", std::to_string(rmse));
    EXPECT_EQ(field(m, "scored"), 100000);
    EXPECT_LE(mae, 0.745);
    EXPECT_LE(rmse, 0.945);
}

TEST_F(MovieLensTest, ExplicitAtParallelismTwoStaysClose) {
    std::string m = run(2, ", top_n: 0");
    double mae = field(m, "mae");
    double rmse = field(m, "rmse");
    std::cout << "movielens-100k explicit, parallelism 2: MAE " << mae << " RMSE " << rmse << "\n";
    EXPECT_EQ(field(m, "scored"), 100000);
    EXPECT_LE(mae, 0.755);
    EXPECT_LE(rmse, 0.955);
}

TEST_F(MovieLensTest, ImplicitHitRateBeatsPopularity) {
    // Every rating is one event; no type field, so every event weighs 1.
    std::string m = run(1, ", mode: implicit, default_weight: 1, top_n: 10");
    double hr = field(m, "hit_rate");
    double ndcg = field(m, "ndcg");
    std::cout << "movielens-100k implicit, parallelism 1: HR@10 " << hr << " NDCG@10 " << ndcg
              << " over " << field(m, "scored") << " scored events\n";
    RecordProperty("hr_at_10", std::to_string(hr));
    EXPECT_GT(hr, 0.077);  // running popularity
}

}  // namespace
}  // namespace eddy
