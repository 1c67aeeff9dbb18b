// SPDX-License-Identifier: Apache-2.0
// `eddy gen` → `eddy run` (bot_filter with defaults) → `eddy score`, through
// the built binary; and the exit codes of bad inputs.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Outcome {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

class ScoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("eddy_score_test_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    /// Runs `eddy args...`, capturing stdout, stderr and the exit code.
    Outcome eddy(const std::vector<std::string>& args) const {
        std::vector<std::string> storage = {EDDY_BINARY};
        storage.insert(storage.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (std::string& a : storage) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        const std::string out_path = path("stdout"), err_path = path("stderr");
        pid_t pid = ::fork();
        if (pid == 0) {
            int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) {
                ::_exit(127);
            }
            ::alarm(120);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        Outcome o;
        int status = 0;
        if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
            ADD_FAILURE() << "could not run " << EDDY_BINARY;
            return o;
        }
        o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = read_all(out_path);
        o.err = read_all(err_path);
        return o;
    }

    fs::path dir_;
};

TEST_F(ScoreTest, GeneratedTrafficScoresAboveTheTargets) {
    Outcome gen = eddy({"gen", "--events", "200000", "--users", "5000", "--seed", "11", "--out",
                        path("clicks.jsonl"), "--truth", path("truth.jsonl")});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    write(path("topology.yaml"), R"(name: bot-score
sources:
  clicks:
    type: file
    path: )" + path("clicks.jsonl") + R"(
    format: json
    event_time: {field: ts, unit: ms}
    watermark: {max_out_of_orderness: 30s}
operators:
  clean: {type: bot_filter, input: clicks, key: user_id}
sinks:
  humans: {type: file, input: clean, path: )" +
                                     path("humans.jsonl") + R"(}
  bots: {type: file, input: clean.bots, path: )" +
                                     path("bots.jsonl") + R"(}
  late: {type: file, input: clean.late, path: )" +
                                     path("late.jsonl") + R"(}
)");
    Outcome run = eddy({"run", "--no-progress", path("topology.yaml")});
    ASSERT_EQ(run.exit_code, 0) << run.err;

    Outcome text = eddy({"score", "--bots", path("bots.jsonl"), "--humans", path("humans.jsonl"),
                         "--truth", path("truth.jsonl")});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_THAT(text.out, HasSubstr("predicted bot  predicted human"));
    EXPECT_THAT(text.out, HasSubstr("recall by bot kind:"));
    EXPECT_THAT(text.out, HasSubstr("crawler"));

    Outcome json = eddy({"score", "--bots", path("bots.jsonl"), "--humans", path("humans.jsonl"),
                         "--truth", path("truth.jsonl"), "--format", "json", "--min-precision",
                         "0.99", "--min-recall", "0.95"});
    EXPECT_EQ(json.exit_code, 0) << json.out << json.err;
    EXPECT_THAT(json.out, StartsWith("{\"users\":"));
    EXPECT_THAT(json.out, HasSubstr("\"recall_by_kind\":{\"crawler\":"));
}

TEST_F(ScoreTest, PerUserCountsAreExact) {
    write(path("truth.jsonl"),
          R"({"user_id":"u1","is_bot":true,"bot_kind":"crawler","segment":"bot"}
{"user_id":"u2","is_bot":true,"bot_kind":"scraper","segment":"bot"}
{"user_id":"u3","is_bot":false,"bot_kind":null,"segment":"reader"}
{"user_id":"u4","is_bot":false,"bot_kind":null,"segment":"buyer"}
)");
    // u1 caught; u2 missed; u3 wrongly flagged by one of its events; u4 right.
    write(path("bots.jsonl"), R"({"user_id":"u1","bot_rule":"ua:googlebot"}
{"user_id":"u3","bot_rule":"rate:>60/min"}
)");
    write(path("humans.jsonl"), R"({"user_id":"u2"}
{"user_id":"u3"}
{"user_id":"u4"}
)");
    Outcome o = eddy({"score", "--bots", path("bots.jsonl"), "--humans", path("humans.jsonl"),
                      "--truth", path("truth.jsonl"), "--format", "json"});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out,
              "{\"users\":4,\"tp\":1,\"fp\":1,\"fn\":1,\"tn\":1,\"precision\":0.500000,"
              "\"recall\":0.500000,\"f1\":0.500000,\"recall_by_kind\":{\"crawler\":1.000000,"
              "\"scraper\":0.000000},\"unseen\":0,\"unknown\":0}\n");
    Outcome strict = eddy({"score", "--bots", path("bots.jsonl"), "--truth", path("truth.jsonl"),
                           "--min-recall", "0.9"});
    EXPECT_EQ(strict.exit_code, 1);
    EXPECT_THAT(strict.err, HasSubstr("recall 0.5000 is below --min-recall 0.9000"));
}

TEST_F(ScoreTest, BadInputsExitWithCode2AndOneLine) {
    write(path("bots.jsonl"), "{\"user_id\":\"u1\"}\n");
    write(path("truth.jsonl"), "{\"user_id\":\"u1\",\"is_bot\":true}\n{\"user_id\":\"u2\"}\n");
    Outcome bad_truth =
        eddy({"score", "--bots", path("bots.jsonl"), "--truth", path("truth.jsonl")});
    EXPECT_EQ(bad_truth.exit_code, 2);
    EXPECT_THAT(bad_truth.err, HasSubstr("truth.jsonl:2: not a ground-truth line"));

    write(path("truth.jsonl"), "not json\n");
    Outcome not_json =
        eddy({"score", "--bots", path("bots.jsonl"), "--truth", path("truth.jsonl")});
    EXPECT_EQ(not_json.exit_code, 2);
    EXPECT_THAT(not_json.err, HasSubstr("truth.jsonl:1: not a JSON object"));

    write(path("truth.jsonl"), "{\"user_id\":\"u1\",\"is_bot\":true}\n");
    Outcome missing = eddy({"score", "--bots", path("nope.jsonl"), "--truth", path("truth.jsonl")});
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_THAT(missing.err, HasSubstr("nope.jsonl"));
    EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);
}

TEST_F(ScoreTest, RunRefusesAPatternFileThatDoesNotCompile) {
    write(path("topology.yaml"), R"(sources:
  clicks: {type: generator, events: 10}
operators:
  clean: {type: bot_filter, input: clicks, key: user_id, patterns_file: )" +
                                     std::string(EDDY_FIXTURES_DIR) + R"(/bot_filter/broken.txt}
sinks:
  out: {type: null, inputs: [clean, clean.bots, clean.late]}
)");
    Outcome o = eddy({"run", "--no-progress", path("topology.yaml")});
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_THAT(o.err, HasSubstr("broken.txt:3: pattern `Broken(Pattern` does not compile"));
}

}  // namespace
