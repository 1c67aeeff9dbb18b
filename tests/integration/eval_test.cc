// SPDX-License-Identifier: Apache-2.0
// `eddy eval` end to end: the table and --json on eleven events whose
// popularity HR@2 and NDCG@2 are worked out by hand below, the figures
// equal to each operator's final `metrics` record (also at parallelism 2),
// recommendations off unless asked, --input and --set, the run summary's
// evaluation section and the metrics file, and the errors (exit code 2).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json_fields.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::num;
using testing::raw;

struct Outcome {
    int exit_code = -1;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Eleven events at one time (so that popularity's ties break by first
// appearance) with half_life 0s (plain counts) and top_n 2. An event is
// scored when its user has history and its item was seen before; the user's
// own items are never recommended.
//  1 u1 a  new item                         counts a1
//  2 u1 b  new item                         b1
//  3 u1 c  new item                         c1
//  4 u2 c  u2 has no history                c2
//  5 u2 a  top2 of {a1, b1} = [a, b]: hit at rank 0, gain 1        a2
//  6 u2 b  top2 of {b1} = [b]: hit at rank 0, gain 1               b2
//  7 u3 a  u3 has no history                a3
//  8 u3 c  top2 of {b2, c2} = [b, c]: hit at rank 1, gain 1/log2(3) c3
//  9 u3 d  new item                         d1
// 10 u1 d  top2 of {d1} = [d]: hit at rank 0, gain 1               d2
// 11 u2 a  u2 had a: top2 of {d2} = [d]: a miss
// Scored 5, hits 4: HR@2 = 0.8, NDCG@2 = (3 + 1/log2(3)) / 5 = 0.72619.
const char* const kEvents[] = {
    R"({"ts":1000,"user_id":"u1","item_id":"a","rating":4})",
    R"({"ts":1000,"user_id":"u1","item_id":"b","rating":3})",
    R"({"ts":1000,"user_id":"u1","item_id":"c","rating":5})",
    R"({"ts":1000,"user_id":"u2","item_id":"c","rating":4})",
    R"({"ts":1000,"user_id":"u2","item_id":"a","rating":2})",
    R"({"ts":1000,"user_id":"u2","item_id":"b","rating":3})",
    R"({"ts":1000,"user_id":"u3","item_id":"a","rating":5})",
    R"({"ts":1000,"user_id":"u3","item_id":"c","rating":4})",
    R"({"ts":1000,"user_id":"u3","item_id":"d","rating":1})",
    R"({"ts":1000,"user_id":"u1","item_id":"d","rating":2})",
    R"({"ts":1000,"user_id":"u2","item_id":"a","rating":3})",
};
const double kHitRate = 0.8;
const double kNdcg = (3 + 1 / std::log2(3.0)) / 5;

class EvalTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(EDDY_BINARY)) {
            GTEST_SKIP() << "the eddy binary is not built yet (" << EDDY_BINARY << ")";
        }
        dir_ = fs::temp_directory_path() / ("eddy_eval_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream out(path("events.jsonl"));
        for (const char* e : kEvents) {
            out << e << "\n";
        }
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    /// Writes a topology with popularity (`pop`), explicit mf (`recs`) and
    /// item_similarity (`sim`) reading `input`, their metrics and pop's
    /// recommendations going to files in the test's directory.
    std::string topology(const std::string& input, const std::string& extra_pop = "") const {
        std::string yaml =
            "name: tiny\n"
            "parallelism: 1\n"
            "sources:\n"
            "  events: {type: file, path: " +
            input +
            ", event_time: {field: ts, unit: ms}}\n"
            "operators:\n"
            "  pop: {type: popularity, input: events, key: user_id, top_n: 2, half_life: 0s" +
            extra_pop +
            "}\n"
            "  recs: {type: mf, input: events, key: user_id, factors: 4, top_n: 2}\n"
            "  sim: {type: item_similarity, input: events, key: user_id, top_n: 2}\n"
            "sinks:\n"
            "  pop_out: {type: file, input: pop, path: " +
            path("pop_out.jsonl") +
            "}\n"
            "  pop_metrics: {type: file, input: pop.metrics, path: " +
            path("pop_metrics.jsonl") +
            "}\n"
            "  recs_metrics: {type: file, input: recs.metrics, path: " +
            path("recs_metrics.jsonl") +
            "}\n"
            "  sim_metrics: {type: file, input: sim.metrics, path: " +
            path("sim_metrics.jsonl") + "}\n";
        return write("topology.yaml", yaml);
    }

    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path(name)) << text;
        return path(name);
    }

    Outcome eddy(const std::string& args) const {
        std::string command = "cd " + dir_.string() + " && " + std::string(EDDY_BINARY) + " " +
                              args + " 2>" + path("stderr.txt");
        Outcome o;
        FILE* p = ::popen(command.c_str(), "r");
        if (p == nullptr) {
            ADD_FAILURE() << "could not run " << command;
            return o;
        }
        char buf[4096];
        size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
            o.out.append(buf, n);
        }
        int status = ::pclose(p);
        o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.err = read("stderr.txt");
        return o;
    }

    std::string read(const std::string& name) const {
        std::ifstream in(path(name));
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    std::vector<std::string> lines(const std::string& name) const {
        std::vector<std::string> out;
        std::ifstream in(path(name));
        for (std::string line; std::getline(in, line);) {
            out.push_back(line);
        }
        return out;
    }
    /// The last line of a metrics file: the record the last shard wrote at close.
    std::string final_metrics(const std::string& name) const {
        std::vector<std::string> all = lines(name);
        EXPECT_FALSE(all.empty()) << name << " is empty";
        return all.empty() ? "" : all.back();
    }

    fs::path dir_;
};

/// The row of `op` in the table (from its name to the end of its line).
std::string row(const std::string& table, const std::string& op) {
    size_t at = table.find("\n" + op + " ");
    if (at == std::string::npos) {
        ADD_FAILURE() << "no row for " << op << " in\n" << table;
        return "";
    }
    return table.substr(at + 1, table.find('\n', at + 1) - at - 1);
}

/// The object of `op` in the --json output.
std::string object(const std::string& json, const std::string& op) {
    size_t at = json.find("{\"name\":\"" + op + "\"");
    if (at == std::string::npos) {
        ADD_FAILURE() << "no object for " << op << " in " << json;
        return "";
    }
    return json.substr(at, json.find("}}", at) + 2 - at);
}

std::string four(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

TEST_F(EvalTest, PrintsTheFiguresWorkedOutByHandAndThoseOfTheMetricsRecordAtClose) {
    Outcome o = eddy("eval --no-progress " + topology(path("events.jsonl")));
    ASSERT_EQ(o.exit_code, 0) << o.err;
    std::istringstream table(o.out);
    std::string header;
    std::getline(table, header);
    EXPECT_THAT(header,
                ::testing::MatchesRegex("operator +type +events +scored +HR@2 +NDCG@2 +MAE +RMSE"));
    EXPECT_THAT(row(o.out, "pop"),
                ::testing::MatchesRegex("pop +popularity +11 +5 +0.8000 +0.7262 +- +-"));
    // item_similarity scores the same events (user with history, item seen).
    EXPECT_THAT(row(o.out, "sim"), ::testing::MatchesRegex("sim +item_similarity +11 +5 .*"));
    // Explicit mf scores every rating; its figures are its final metrics record's.
    std::string m = final_metrics("recs_metrics.jsonl");
    EXPECT_EQ(num(m, "scored"), 11);
    EXPECT_THAT(row(o.out, "recs"),
                ::testing::MatchesRegex("recs +mf +11 +11 +- +- +" + four(num(m, "mae")) + " +" +
                                        four(num(m, "rmse"))));
    std::string p = final_metrics("pop_metrics.jsonl");
    EXPECT_EQ(num(p, "evaluated"), 5);
    EXPECT_NEAR(num(p, "hit_rate"), kHitRate, 1e-9);
    EXPECT_NEAR(num(p, "ndcg"), kNdcg, 1e-8);
    std::string s = final_metrics("sim_metrics.jsonl");
    EXPECT_THAT(row(o.out, "sim"), HasSubstr(" " + four(num(s, "hit_rate")) + " "));
    EXPECT_THAT(o.err, HasSubstr("eddy eval: input drained, 11 events read"));
}

TEST_F(EvalTest, JsonHasTheSameFiguresUnrounded) {
    Outcome o = eddy("eval --no-progress --json " + topology(path("events.jsonl")));
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out.find('\n'), o.out.size() - 1) << "one line of JSON: " << o.out;
    EXPECT_EQ(raw(o.out, "topology"), "\"tiny\"");
    EXPECT_EQ(raw(o.out, "status"), "\"input drained\"");
    EXPECT_EQ(num(o.out, "events_read"), 11);
    std::string pop = object(o.out, "pop");
    EXPECT_EQ(raw(pop, "type"), "\"popularity\"");
    EXPECT_EQ(num(pop, "events"), 11);
    EXPECT_EQ(num(pop, "errors"), 0);
    EXPECT_EQ(num(pop, "scored"), 5);
    EXPECT_EQ(num(pop, "top_n"), 2);
    EXPECT_NEAR(num(pop, "hit_rate"), kHitRate, 1e-9);
    EXPECT_NEAR(num(pop, "ndcg"), kNdcg, 1e-8);
    std::string recs = object(o.out, "recs");
    std::string m = final_metrics("recs_metrics.jsonl");
    EXPECT_EQ(num(recs, "scored"), 11);
    EXPECT_EQ(raw(recs, "top_n"), "");  // rating figures have no cutoff
    EXPECT_DOUBLE_EQ(num(recs, "mae"), num(m, "mae"));
    EXPECT_DOUBLE_EQ(num(recs, "rmse"), num(m, "rmse"));
    EXPECT_EQ(raw(recs, "hit_rate"), "");
}

TEST_F(EvalTest, AtParallelismTwoTheFiguresAreThoseOfTheFinalMetricsRecords) {
    for (int run = 0; run < 3; ++run) {
        Outcome o =
            eddy("eval --no-progress --json --parallelism 2 " + topology(path("events.jsonl")));
        ASSERT_EQ(o.exit_code, 0) << o.err;
        for (const auto& [op, file] :
             {std::pair<std::string, std::string>{"pop", "pop"}, {"sim", "sim"}}) {
            std::string m = final_metrics(file + "_metrics.jsonl");
            std::string j = object(o.out, op);
            EXPECT_EQ(num(j, "events"), 11) << op;
            EXPECT_EQ(num(j, "scored"), num(m, "evaluated")) << op;
            EXPECT_EQ(num(m, "events"), 11) << op;
            EXPECT_DOUBLE_EQ(num(j, "hit_rate"), num(m, "hit_rate")) << op;
            EXPECT_DOUBLE_EQ(num(j, "ndcg"), num(m, "ndcg")) << op;
        }
        std::string m = final_metrics("recs_metrics.jsonl");
        std::string j = object(o.out, "recs");
        EXPECT_EQ(num(m, "scored"), 11);
        EXPECT_EQ(num(j, "scored"), 11);
        EXPECT_DOUBLE_EQ(num(j, "mae"), num(m, "mae"));
        EXPECT_DOUBLE_EQ(num(j, "rmse"), num(m, "rmse"));
    }
}

TEST_F(EvalTest, RecommendationsAreOffUnlessEmitIsGiven) {
    std::string t = topology(path("events.jsonl"));
    ASSERT_EQ(eddy("eval --no-progress " + t).exit_code, 0);
    EXPECT_TRUE(lines("pop_out.jsonl").empty());
    ASSERT_EQ(eddy("eval --no-progress --emit " + t).exit_code, 0);
    EXPECT_EQ(lines("pop_out.jsonl").size(), 11u);
    // --set wins over the default.
    ASSERT_EQ(eddy("eval --no-progress --set pop.emit=true " + t).exit_code, 0);
    EXPECT_EQ(lines("pop_out.jsonl").size(), 11u);
}

TEST_F(EvalTest, RecommendationsAnotherOperatorReadsStayOn) {
    std::string yaml = "sources:\n  events: {type: file, path: " + path("events.jsonl") +
                       "}\noperators:\n"
                       "  pop: {type: popularity, input: events, key: user_id, top_n: 2}\n"
                       "  keep: {type: filter, input: pop, field: user_id, op: exists}\n"
                       "sinks:\n  out: {type: file, input: keep, path: " +
                       path("kept.jsonl") + "}\n";
    Outcome o = eddy("eval --no-progress " + write("chained.yaml", yaml));
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(lines("kept.jsonl").size(), 11u);
    EXPECT_THAT(o.err, HasSubstr("operator 'pop' keeps its recommendations on"));
}

TEST_F(EvalTest, InputReplacesThePathOfTheFileSourceAndSetChangesParameters) {
    std::string t = topology(path("not_there.jsonl"));
    Outcome o = eddy("eval --no-progress --json --input " + path("events.jsonl") +
                     " --set pop.top_n=1 --set parallelism=1 " + t);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    // top_n 1: events 5, 6 and 10 hit at rank 0, event 8 now misses.
    std::string pop = object(o.out, "pop");
    EXPECT_EQ(num(pop, "top_n"), 1);
    EXPECT_NEAR(num(pop, "hit_rate"), 0.6, 1e-9);
    EXPECT_NEAR(num(pop, "ndcg"), 0.6, 1e-9);
}

TEST_F(EvalTest, RunShowsTheEvaluationInItsSummaryAndMetricsFile) {
    std::string t = topology(path("events.jsonl"), ", evaluate: true");
    Outcome o = eddy("run --no-progress --metrics-file " + path("m.prom") + " " + t);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.err, HasSubstr("  evaluation (prequential"));
    EXPECT_THAT(o.err, ::testing::ContainsRegex("\n    pop +HR@2 +0.8000 +5\n"
                                                "    pop +NDCG@2 +0.7262 +5\n"));
    EXPECT_THAT(o.err, Not(HasSubstr("    recs ")));  // not evaluated in this run
    std::string prom = read("m.prom");
    EXPECT_THAT(
        prom,
        HasSubstr("eddy_evaluation{component=\"pop\",metric=\"hit_rate\",top_n=\"2\"} 0.8\n"));
    EXPECT_THAT(prom, HasSubstr("eddy_evaluation_scored_events{component=\"pop\",metric=\"ndcg\","
                                "top_n=\"2\"} 5\n"));
}

TEST_F(EvalTest, ATopologyWithoutARecommenderIsRefused) {
    std::string yaml = "sources:\n  events: {type: file, path: " + path("events.jsonl") +
                       "}\nsinks:\n  out: {type: file, input: events, path: " + path("o.jsonl") +
                       "}\n";
    Outcome o = eddy("eval " + write("plain.yaml", yaml));
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("has no operator with prequential evaluation"));
    EXPECT_THAT(o.err, HasSubstr("operator types that have it: "));
    EXPECT_THAT(o.err, HasSubstr("popularity"));
    EXPECT_EQ(o.out, "");
}

TEST_F(EvalTest, AMissingInputFileIsRefusedWithItsPlace) {
    Outcome o = eddy("eval --input " + path("nope.jsonl") + " " + topology(path("events.jsonl")));
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err,
                HasSubstr("--input names '" + path("nope.jsonl") + "', which does not exist"));

    o = eddy("eval " + topology(path("gone.jsonl")));
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("source 'events' (" + path("topology.yaml") + ":4:"));
    EXPECT_THAT(o.err, HasSubstr("reads '" + path("gone.jsonl") + "', which does not exist"));
}

TEST_F(EvalTest, InputNeedsExactlyOneFileSource) {
    std::string two =
        "sources:\n  a: {type: file, path: x.jsonl}\n  b: {type: file, path: "
        "y.jsonl}\noperators:\n  pop: {type: popularity, inputs: [a, b], key: "
        "user_id}\nsinks:\n  out: {type: file, input: pop.metrics, path: o.jsonl}\n";
    Outcome o = eddy("eval --input " + path("events.jsonl") + " " + write("two.yaml", two));
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("--input is ambiguous: '" + path("two.yaml") +
                                 "' has 2 file sources: a (" + path("two.yaml") + ":2:3), b (" +
                                 path("two.yaml") + ":3:3)"));

    std::string none =
        "sources:\n  gen: {type: generator, events: 10}\noperators:\n  pop: {type: popularity, "
        "input: gen, key: user_id}\nsinks:\n  out: {type: file, input: pop.metrics, path: "
        "o.jsonl}\n";
    o = eddy("eval --input " + path("events.jsonl") + " " + write("none.yaml", none));
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("--input needs a source of type `file`"));
    EXPECT_THAT(o.err, HasSubstr("its sources are: gen (generator)"));
}

TEST_F(EvalTest, BadSettingsAreRefusedWithTheirPlace) {
    std::string t = topology(path("events.jsonl"));
    Outcome o = eddy("eval --set pop.top_n=many " + t);
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("--set pop.top_n:1:1: error: parameter 'top_n' of operator "
                                 "'pop' (popularity) must be an integer"));
    o = eddy("eval --set popp.top_n=3 " + t);
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("the topology has no component 'popp'; did you mean 'pop'?"));
    o = eddy("eval --set top_n " + t);
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("--set 'top_n' must be PATH=VALUE"));
}

}  // namespace
}  // namespace eddy
