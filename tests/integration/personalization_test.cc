// SPDX-License-Identifier: Apache-2.0
// topologies/personalization.yaml end to end, as `make demo` runs it: a
// generated clickstream through bot filtering, profiles, rule-based and
// learned segments, and the hybrid recommender, with its self-evaluation.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "json_fields.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::num;
using testing::raw;

std::vector<std::string> read_lines(const fs::path& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

/// Runs `command` through the shell; returns its exit status and output.
int shell(const std::string& command, std::string& output) {
    output.clear();
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return -1;
    }
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) {
        output.append(buf, n);
    }
    int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PersonalizationTest, TheWholeChainRunsFromEventsToRecommendations) {
    fs::path dir =
        fs::temp_directory_path() / ("eddy_personalization_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string eddy = EDDY_BINARY;
    std::string out;
    ASSERT_EQ(shell(eddy + " gen --events 40000 --users 600 --seed 5 --out " +
                        (dir / "clicks.jsonl").string(),
                    out),
              0)
        << out;
    std::string env = "EDDY_DEMO_INPUT=" + (dir / "clicks.jsonl").string() +
                      " EDDY_DEMO_OUT=" + dir.string() + " EDDY_PII_KEY_FILE=" + EDDY_SOURCE_DIR +
                      "/tests/fixtures/privacy/demo-pii.key ";
    ASSERT_EQ(shell(env + eddy + " run --no-progress " + EDDY_SOURCE_DIR +
                        "/topologies/personalization.yaml",
                    out),
              0)
        << out;
    // The summary has the recommender's own evaluation.
    EXPECT_THAT(out, HasSubstr("recommendations HR@10"));

    fs::path p = dir / "personalization";
    std::vector<std::string> recs = read_lines(p / "recommendations.jsonl");
    ASSERT_GT(recs.size(), 1000u);
    int full = 0;
    for (const std::string& r : recs) {
        ASSERT_NE(raw(r, "user_id"), "") << r;
        // `private` pseudonymized the ids before any state was built.
        EXPECT_FALSE(std::regex_match(raw(r, "user_id"), std::regex("\"u[0-9]+\""))) << r;
        if (raw(r, "item_10") != "") {
            ++full;
            EXPECT_GE(num(r, "score_1"), num(r, "score_10")) << r;
            EXPECT_THAT(raw(r, "source_1"),
                        ::testing::AnyOf("\"item_similarity\"", "\"mf\"", "\"popularity\"",
                                         "\"segment_popularity\""));
        }
    }
    EXPECT_GT(full, static_cast<int>(recs.size()) / 2);
    // Segments reach the recommender: users are ranked in their segment.
    int with_segment = 0;
    for (const std::string& r : recs) {
        with_segment += raw(r, "segment") != "" && raw(r, "segment") != "null" ? 1 : 0;
    }
    EXPECT_GT(with_segment, static_cast<int>(recs.size()) / 2);

    std::vector<std::string> evaluation = read_lines(p / "evaluation.jsonl");
    ASSERT_FALSE(evaluation.empty());
    EXPECT_GT(num(evaluation.back(), "evaluated"), 5000);
    EXPECT_GT(num(evaluation.back(), "hit_rate"), 0.01);
    EXPECT_FALSE(read_lines(p / "segments.jsonl").empty());
    EXPECT_FALSE(read_lines(p / "learned_segments.jsonl").empty());
    EXPECT_FALSE(read_lines(p / "segment_model.jsonl").empty());
    EXPECT_FALSE(read_lines(p / "bots.jsonl").empty());
    fs::remove_all(dir);
}

}  // namespace
}  // namespace eddy
