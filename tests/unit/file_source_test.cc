// SPDX-License-Identifier: Apache-2.0
// The `file` and `stdin` sources end to end, into a fake SourceEmitter.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include "eddy/context.h"
#include "eddy/fields.h"
#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/spec.h"
#include "eddy/units.h"

#include "fake_context.h"
#include "io_support.h"
#include "record/json.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

::eddy::ComponentSpec eddy_builtin_source_file();
::eddy::ComponentSpec eddy_builtin_source_stdin();
::eddy::ComponentSpec eddy_builtin_sink_stdout();

namespace eddy {
namespace {

namespace fs = std::filesystem;
using testing::ErrorRecord;
using testing::FakeEmitter;

const std::string kFixtures = std::string(EDDY_FIXTURES_DIR) + "/io/";

using testing::FakeContext;

ConfigValue str(std::string s) {
    return ConfigValue::string(std::move(s));
}

ConfigValue event_time(std::string field, std::string unit) {
    return ConfigValue::map({{"field", str(std::move(field))}, {"unit", str(std::move(unit))}});
}

std::unique_ptr<Source> make_source(const ComponentSpec& spec,
                                    std::vector<ConfigValue::Entry> given) {
    Result<std::unique_ptr<Source>> source = spec.make_source(make_config(spec, std::move(given)));
    EXPECT_TRUE(source.is_ok()) << source.status().to_string();
    return source.is_ok() ? std::move(source).value() : nullptr;
}

// Polls until kEnd; every record as JSON with its time.
struct Drained {
    std::vector<std::string> records;
    std::vector<int64_t> times;
    std::vector<ErrorRecord> errors;
    int polls = 0;
};

Drained drain(Source& source, FakeContext& ctx, size_t max_records = 3) {
    Drained out;
    FakeEmitter emitter;
    JsonEncoder encoder([&ctx](FieldId id) { return ctx.field_name(id); });
    while (true) {
        Result<PollStatus> status = source.poll(emitter, max_records);
        ++out.polls;
        EXPECT_TRUE(status.is_ok()) << status.status().to_string();
        EXPECT_LE(emitter.batch_.size() + emitter.errors_.size(), max_records);
        for (size_t i = 0; i < emitter.batch_.size(); ++i) {
            std::string json;
            encoder.append(emitter.batch_[i], json);
            out.records.push_back(json);
            out.times.push_back(emitter.batch_[i].time());
        }
        for (ErrorRecord& e : emitter.errors_) {
            out.errors.push_back(std::move(e));
        }
        emitter.batch_.clear();
        emitter.errors_.clear();
        if (!status.is_ok() || status.value() == PollStatus::kEnd || out.polls > 100'000) {
            return out;
        }
    }
}

class FileSourceTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_file_source_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& bytes) {
        std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }

    ComponentSpec spec_ = eddy_builtin_source_file();
    FakeContext ctx_{"clicks"};
    fs::path dir_;
};

TEST_F(FileSourceTest, SpecIsDocumented) {
    for (const ComponentSpec& spec : {eddy_builtin_source_file(), eddy_builtin_source_stdin()}) {
        EXPECT_EQ(spec.kind, ComponentKind::kSource);
        EXPECT_FALSE(spec.summary.empty()) << spec.name;
        EXPECT_TRUE(spec.make_source) << spec.name;
        for (const Param& p : spec.params) {
            EXPECT_FALSE(p.doc_text().empty()) << spec.name << "." << p.name();
        }
        EXPECT_NE(spec.find_param("format"), nullptr);
        EXPECT_NE(spec.find_param("event_time"), nullptr);
        EXPECT_NE(spec.find_param("max_line_bytes"), nullptr);
        EXPECT_NE(spec.find_param("csv_delimiter"), nullptr);
    }
    ASSERT_NE(spec_.find_param("path"), nullptr);
    EXPECT_TRUE(spec_.find_param("path")->is_required());
    EXPECT_EQ(eddy_builtin_source_stdin().find_param("path"), nullptr);
}

TEST_F(FileSourceTest, JsonLinesEndToEnd) {
    auto source = make_source(spec_, {{"path", str(kFixtures + "clicks.jsonl")},
                                      {"event_time", event_time("ts", "auto")}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    Drained d = drain(*source, ctx_);
    EXPECT_EQ(
        d.records,
        (std::vector<std::string>{
            R"({"ts":1764320000123,"user_id":"u1","type":"page_view","item_id":"i42",)"
            R"("geo.country":"DE","dwell_ms":5300,"scroll_pct":0.75})",
            R"({"ts":1764320001000,"user_id":"u2","type":"click","tags":"[\"a\",\"b\"]",)"
            R"("embedding":[0.5,1.5]})",
            R"({"ts":"2025-11-28T09:33:22.500Z","user_id":"u1","type":"purchase","price":19.99})",
            R"({"ts":1764320005,"user_id":"u5","type":"search","query":"shoes"})",
            R"({"ts":1764320006000,"user_id":"u6","type":"video_play"})",
        }));
    EXPECT_EQ(d.times, (std::vector<int64_t>{1764320000123, 1764320001000, 1764322402500,
                                             1764320005000, 1764320006000}));
    ASSERT_EQ(d.errors.size(), 4u);
    EXPECT_EQ(d.errors[0].position, 5);
    EXPECT_NE(d.errors[0].reason.find("invalid JSON"), std::string::npos) << d.errors[0].reason;
    EXPECT_EQ(d.errors[0].raw, "not json at all");
    EXPECT_EQ(d.errors[1].position, 6);
    EXPECT_EQ(d.errors[1].reason, "event-time field 'ts' is missing");
    EXPECT_EQ(d.errors[2].position, 7);
    EXPECT_EQ(d.errors[2].reason, "a JSON line must be an object, got an array");
    EXPECT_EQ(d.errors[3].position, 8);
    EXPECT_EQ(d.errors[3].reason,
              "event-time field 'ts' must be epoch ms or an ISO-8601 string, got bool");
    EXPECT_EQ(d.errors[3].raw, R"({"ts": true, "user_id": "u4", "type": "scroll"})");

    SourceProgress p = source->progress();
    EXPECT_TRUE(p.bytes);
    EXPECT_EQ(p.total, fs::file_size(kFixtures + "clicks.jsonl"));
    EXPECT_EQ(p.done, p.total);
    EXPECT_TRUE(source->close().is_ok());
}

TEST_F(FileSourceTest, PollsAfterTheEndKeepReturningEnd) {
    auto source =
        make_source(spec_, {{"path", str(kFixtures + "access.log")}, {"format", str("raw")}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    FakeEmitter emitter;
    Result<PollStatus> first = source->poll(emitter, 100);
    ASSERT_TRUE(first.is_ok());
    EXPECT_EQ(first.value(), PollStatus::kData);  // records never arrive with kEnd
    EXPECT_EQ(emitter.batch_.size(), 2u);
    Result<PollStatus> second = source->poll(emitter, 100);
    ASSERT_TRUE(second.is_ok());
    EXPECT_EQ(second.value(), PollStatus::kEnd);
    EXPECT_EQ(emitter.batch_.size(), 2u);
}

TEST_F(FileSourceTest, RawLinesGetIngestionTime) {
    auto source =
        make_source(spec_, {{"path", str(kFixtures + "access.log")}, {"format", str("raw")}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    Drained d = drain(*source, ctx_);
    ASSERT_EQ(d.records.size(), 2u);
    EXPECT_EQ(d.records[0], R"({"message":"203.0.113.7 - - [28/Nov/2025:10:00:00 +0000] )"
                            R"(\"GET /p/42 HTTP/1.1\" 200 5300"})");
    EXPECT_EQ(d.times, (std::vector<int64_t>{1'000'000, 1'000'000}));
    EXPECT_TRUE(d.errors.empty());
}

TEST_F(FileSourceTest, CsvWithHeader) {
    auto source = make_source(spec_, {{"path", str(kFixtures + "clicks.csv")},
                                      {"format", str("csv")},
                                      {"event_time", event_time("ts", "ms")}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    Drained d = drain(*source, ctx_, 1);
    EXPECT_EQ(d.records,
              (std::vector<std::string>{
                  R"({"ts":1764320000123,"user_id":"u1","type":"page_view","note":"hello, world"})",
                  R"({"ts":1764320001000,"user_id":"u2","type":"purchase","price":19.99,)"
                  R"("note":"say \"hi\""})",
                  R"({"ts":1764320003000,"user_id":"u4","type":"click"})",
              }));
    ASSERT_EQ(d.errors.size(), 1u);
    EXPECT_EQ(d.errors[0].position, 4);
    EXPECT_EQ(d.errors[0].reason, "row has 3 cells but the header has 5");
    EXPECT_EQ(d.errors[0].raw, "1764320002000,u3,click");
}

TEST_F(FileSourceTest, CsvSemicolonsWithoutHeader) {
    std::string path = write("rows.csv", "1;a\n2;b\n");
    auto source = make_source(spec_, {{"path", str(path)},
                                      {"format", str("csv")},
                                      {"csv_delimiter", str(";")},
                                      {"csv_columns", ConfigValue::list({str("n"), str("s")})}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    Drained d = drain(*source, ctx_);
    EXPECT_EQ(d.records, (std::vector<std::string>{R"({"n":1,"s":"a"})", R"({"n":2,"s":"b"})"}));
}

TEST_F(FileSourceTest, GzipInputAndProgressInCompressedBytes) {
    std::string data;
    for (int i = 0; i < 5000; ++i) {
        data += R"({"ts":)" + std::to_string(1764320000000 + i) + R"(,"seq":)" + std::to_string(i) +
                "}\n";
    }
    std::string path = (dir_ / "clicks.jsonl.gz").string();
    gzFile gz = gzopen(path.c_str(), "wb");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, data.data(), static_cast<unsigned>(data.size())), int(data.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);

    auto source = make_source(spec_, {{"path", str(path)}, {"event_time", event_time("ts", "ms")}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    Drained d = drain(*source, ctx_, 1024);
    ASSERT_EQ(d.records.size(), 5000u);
    EXPECT_EQ(d.records[4999], R"({"ts":1764320004999,"seq":4999})");
    EXPECT_EQ(d.times[4999], 1764320004999);
    EXPECT_EQ(source->progress().total, fs::file_size(path));
    EXPECT_EQ(source->progress().done, fs::file_size(path));
}

TEST_F(FileSourceTest, LongLinesAndBadBytesAreErrorsWithLineNumbers) {
    std::string data = "{\"n\":1}\n" + std::string(3000, 'x') + "\n{\"n\":3}\n{\"n\":\"\xff\"}\n" +
                       "{\"n\":5," + std::string(1500, ' ') + "oops}\n";
    std::string path = write("bad.jsonl", data);
    auto source =
        make_source(spec_, {{"path", str(path)}, {"max_line_bytes", ConfigValue::integer(2048)}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    Drained d = drain(*source, ctx_);
    EXPECT_EQ(d.records, (std::vector<std::string>{R"({"n":1})", R"({"n":3})"}));
    ASSERT_EQ(d.errors.size(), 3u);
    EXPECT_EQ(d.errors[0].position, 2);
    EXPECT_EQ(d.errors[0].reason, "line 2 is 3000 bytes, over max_line_bytes 2KB");
    EXPECT_EQ(d.errors[0].raw, std::string(1024, 'x'));  // raw is cut to 1 KiB
    EXPECT_EQ(d.errors[1].position, 4);
    EXPECT_EQ(d.errors[1].reason, "invalid UTF-8 at byte offset 6");
    EXPECT_EQ(d.errors[2].position, 5);
    EXPECT_EQ(d.errors[2].raw.size(), 1024u);
}

TEST_F(FileSourceTest, MissingFile) {
    auto source = make_source(spec_, {{"path", str("data/x.jsonl")}});
    Status s = source->open(ctx_);
    EXPECT_EQ(s.code(), StatusCode::kNotFound);
    EXPECT_EQ(s.message(),
              "source 'clicks': cannot open 'data/x.jsonl': No such file or directory");
}

TEST_F(FileSourceTest, DirectoryIsAnIoError) {
    auto source = make_source(spec_, {{"path", str(dir_.string())}});
    Status s = source->open(ctx_);
    EXPECT_EQ(s.code(), StatusCode::kIoError);
    EXPECT_EQ(s.message(),
              "source 'clicks': cannot read '" + dir_.string() + "': it is a directory");
}

TEST_F(FileSourceTest, InvalidEventTimeIsRejectedByTheFactory) {
    Result<std::unique_ptr<Source>> source = spec_.make_source(
        make_config(spec_, {{"path", str("x")}, {"event_time", event_time("ts", "minutes")}}));
    ASSERT_FALSE(source.is_ok());
    EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(source.status().message().find("unit 'minutes', which is not one of: ms, s, us, ns, "
                                             "iso8601, auto"),
              std::string::npos)
        << source.status().message();
}

// Redirects fd 0 to a pipe for the life of the object.
class StdinPipe {
public:
    StdinPipe() {
        EXPECT_EQ(::pipe(fds_), 0);
        saved_ = ::dup(STDIN_FILENO);
        ::dup2(fds_[0], STDIN_FILENO);
        ::close(fds_[0]);
    }
    ~StdinPipe() {
        close_writer();
        ::dup2(saved_, STDIN_FILENO);
        ::close(saved_);
    }
    void write(std::string_view s) {
        EXPECT_EQ(::write(fds_[1], s.data(), s.size()), ssize_t(s.size()));
    }
    void close_writer() {
        if (fds_[1] >= 0) {
            ::close(fds_[1]);
            fds_[1] = -1;
        }
    }

private:
    int fds_[2] = {-1, -1};
    int saved_ = -1;
};

TEST_F(FileSourceTest, StdinIdlesThenReadsUntilClosed) {
    StdinPipe pipe;
    auto source = make_source(eddy_builtin_source_stdin(), {{"event_time", event_time("ts", "s")}});
    ASSERT_TRUE(source->open(ctx_).is_ok());
    FakeEmitter emitter;
    Result<PollStatus> idle = source->poll(emitter, 10);
    ASSERT_TRUE(idle.is_ok());
    EXPECT_EQ(idle.value(), PollStatus::kIdle);

    pipe.write("{\"ts\":1764324000}\n{\"ts\":\"x\"}\n{\"ts\":1764324001");
    Result<PollStatus> data = source->poll(emitter, 10);
    ASSERT_TRUE(data.is_ok());
    EXPECT_EQ(data.value(), PollStatus::kData);
    ASSERT_EQ(emitter.batch_.size(), 1u);
    EXPECT_EQ(emitter.batch_[0].time(), 1764324000000);
    ASSERT_EQ(emitter.errors_.size(), 1u);
    EXPECT_EQ(emitter.errors_[0].position, 2);
    EXPECT_EQ(source->progress().total, 0u);

    pipe.write("}\n");
    pipe.close_writer();
    Drained rest = drain(*source, ctx_);
    EXPECT_EQ(rest.records, (std::vector<std::string>{R"({"ts":1764324001})"}));
}

// The specs through the real YAML loader and validator, as `eddy run` builds them.
TEST_F(FileSourceTest, ConfigFromYamlThroughTheValidator) {
    Registry registry;
    ASSERT_TRUE(registry.add(eddy_builtin_source_file(), "built-in").is_ok());
    ASSERT_TRUE(registry.add(eddy_builtin_sink_stdout(), "built-in").is_ok());
    Diagnostics diags;
    std::string yaml =
        "sources:\n"
        "  clicks:\n"
        "    type: file\n"
        "    path: " +
        kFixtures +
        "clicks.csv\n"
        "    format: csv\n"
        "    event_time: {field: ts, unit: ms}\n"
        "sinks:\n"
        "  out: {type: stdout, input: clicks}\n";
    std::optional<ConfigValue> root = load_yaml_text(yaml, "t.yaml", diags);
    ASSERT_TRUE(root);
    std::optional<Topology> topology = validate_topology(*root, registry, diags);
    for (const Diagnostic& dg : diags.items()) {
        ADD_FAILURE() << dg.to_string();
    }
    ASSERT_TRUE(topology);
    int index = topology->find("clicks");
    ASSERT_GE(index, 0);
    const Config& config = topology->components[index].config;
    EXPECT_EQ(config.size("max_line_bytes"), 1u << 20);
    EXPECT_EQ(config.string("csv_delimiter"), ",");
    Result<std::unique_ptr<Source>> source = eddy_builtin_source_file().make_source(config);
    ASSERT_TRUE(source.is_ok()) << source.status().to_string();
    ASSERT_TRUE(source.value()->open(ctx_).is_ok());
    Drained d = drain(*source.value(), ctx_);
    EXPECT_EQ(d.records.size(), 3u);
    EXPECT_EQ(d.errors.size(), 1u);
}

TEST_F(FileSourceTest, BadEventTimeUnitIsReportedByValidation) {
    Registry registry;
    ASSERT_TRUE(registry.add(eddy_builtin_source_file(), "built-in").is_ok());
    Diagnostics diags;
    std::string yaml =
        "sources:\n"
        "  clicks:\n"
        "    type: file\n"
        "    path: x.jsonl\n"
        "    event_time: {field: ts, unit: minutes}\n";
    std::optional<ConfigValue> root = load_yaml_text(yaml, "t.yaml", diags);
    ASSERT_TRUE(root);
    (void)validate_topology(*root, registry, diags);
    bool found = false;
    for (const Diagnostic& dg : diags.items()) {
        found = found || dg.message.find("unit 'minutes'") != std::string::npos;
    }
    EXPECT_TRUE(found);
}

}  // namespace
}  // namespace eddy
