// SPDX-License-Identifier: Apache-2.0
// `eddy kselect`: the table, the recommendation, the SVG and the errors
// (exit code 2 with a message naming the problem).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmeans_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Outcome {
    int exit_code = -1;
    std::string output;  // stdout and stderr
};

Outcome kselect(const std::string& args) {
    std::string command = std::string(EDDY_BINARY) + " kselect " + args + " 2>&1";
    Outcome o;
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) {
        ADD_FAILURE() << "could not run " << command;
        return o;
    }
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        o.output.append(buf, n);
    }
    int status = ::pclose(p);
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return o;
}

class KselectTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "the eddy binary is not built yet (" << EDDY_BINARY << ")";
        }
        dir_ = fs::temp_directory_path() / ("eddy_kselect_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        // Three well separated blobs in 4 dimensions, as a vector and as fields.
        testing::Dataset ds = testing::make_blobs(3, 200, 4, 5);
        std::ofstream out(dir_ / "points.jsonl");
        for (size_t i = 0; i < ds.n; ++i) {
            out << "{\"id\":" << i << ",\"features\":[";
            for (size_t j = 0; j < ds.d; ++j) {
                out << (j ? "," : "") << ds.row(i)[j];
            }
            out << "],\"a\":" << ds.row(i)[0] << ",\"b\":" << ds.row(i)[1]
                << ",\"c\":" << ds.row(i)[2] << ",\"name\":\"x\"}\n";
        }
        out << "{\"id\":-1}\n";  // a line without the field is skipped
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string input() const { return (dir_ / "points.jsonl").string(); }
    fs::path dir_;
};

TEST_F(KselectTest, PrintsTheTableRecommendsTheBestSilhouetteAndPlots) {
    fs::path svg = dir_ / "k.svg";
    Outcome o = kselect("--input " + input() + " --field features --k 2..6 --plot " + svg.string());
    ASSERT_EQ(o.exit_code, 0) << o.output;
    EXPECT_THAT(o.output, HasSubstr("600 points, sample of 600, 4 dimensions, standardized"));
    for (int k = 2; k <= 6; ++k) {
        EXPECT_THAT(o.output, HasSubstr("\n   " + std::to_string(k) + "  ")) << o.output;
    }
    EXPECT_THAT(o.output, HasSubstr("recommended k = 3 (the highest mean silhouette"));
    std::ifstream in(svg);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_THAT(text.str(), HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    EXPECT_THAT(text.str(), HasSubstr("Inertia (elbow)"));
    EXPECT_THAT(text.str(), HasSubstr("</svg>"));
}

TEST_F(KselectTest, NumericFieldsAndJson) {
    Outcome o = kselect("--input " + input() + " --fields a,b,c --k 2..5 --format json");
    ASSERT_EQ(o.exit_code, 0) << o.output;
    EXPECT_THAT(o.output, HasSubstr("\"dimensions\":3"));
    EXPECT_THAT(o.output, HasSubstr("\"recommended_k\":3,\"rule\":\"highest silhouette\""));
}

TEST_F(KselectTest, ErrorsExitWithCode2AndSayWhy) {
    Outcome missing = kselect("--input " + (dir_ / "nope.jsonl").string() + " --field features");
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_THAT(missing.output, HasSubstr("cannot open"));
    EXPECT_THAT(missing.output, HasSubstr("nope.jsonl"));

    Outcome absent = kselect("--input " + input() + " --field vector");
    EXPECT_EQ(absent.exit_code, 2);
    EXPECT_THAT(absent.output, HasSubstr("the field `vector` is absent from every line"));

    Outcome text = kselect("--input " + input() + " --fields a,name");
    EXPECT_EQ(text.exit_code, 2);
    EXPECT_THAT(text.output, HasSubstr(":1: the field `name` is not a number"));

    Outcome scalar = kselect("--input " + input() + " --field a");
    EXPECT_EQ(scalar.exit_code, 2);
    EXPECT_THAT(scalar.output, HasSubstr("the field `a` is not a list of numbers"));

    for (const char* range : {"1..4", "5..3", "two", "2..", "2..5000"}) {
        Outcome bad = kselect("--input " + input() + " --field features --k " + range);
        EXPECT_EQ(bad.exit_code, 2) << range;
        EXPECT_THAT(bad.output, HasSubstr("--k must be a range like 2..12")) << range;
    }
    Outcome neither = kselect("--input " + input());
    EXPECT_EQ(neither.exit_code, 2);
    EXPECT_THAT(neither.output, HasSubstr("--field NAME or numeric fields with --fields"));
}

}  // namespace
}  // namespace eddy
