// SPDX-License-Identifier: Apache-2.0
// Checkpoint positions of sources (position(), seek()) and the file sink on resume:
// reading up to a position, then resuming a fresh source from it, must give
// exactly the uninterrupted stream, errors and their line numbers included.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "eddy/context.h"
#include "eddy/fields.h"
#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/spec.h"
#include "eddy/units.h"

#include "fake_context.h"
#include "io/line_reader.h"
#include "io_support.h"
#include "record/json.h"
#include "runtime/builtins.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

::eddy::ComponentSpec eddy_builtin_source_file();
::eddy::ComponentSpec eddy_builtin_source_stdin();
::eddy::ComponentSpec eddy_builtin_sink_file();

namespace eddy {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(EDDY_FIXTURES_DIR) + "/io/";

using testing::FakeContext;

// Records and errors as one sequence of strings, in emission order.
class Emitter : public SourceEmitter {
public:
    explicit Emitter(FakeContext& ctx)
        : encoder_([&ctx](FieldId id) { return ctx.field_name(id); }) {}
    Record& append() override {
        take_records();
        return batch_.append();
    }
    void discard_last() override { batch_.pop_back(); }
    void error(std::string_view reason, int64_t position, std::string_view raw) override {
        take_records();
        out_.push_back("error line " + std::to_string(position) + ": " + std::string(reason) +
                       " | " + std::string(raw));
    }
    std::vector<std::string> take() {
        take_records();
        return std::move(out_);
    }

private:
    void take_records() {
        for (size_t i = 0; i < batch_.size(); ++i) {
            std::string json;
            encoder_.append(batch_[i], json);
            out_.push_back(json + " @" + std::to_string(batch_[i].time()));
        }
        batch_.clear();
    }
    JsonEncoder encoder_;
    Batch batch_;
    std::vector<std::string> out_;
};

ConfigValue str(std::string s) {
    return ConfigValue::string(std::move(s));
}

using Given = std::vector<ConfigValue::Entry>;

struct Polled {
    std::vector<std::string> items;
    bool ended = false;
};

// Up to `polls` polls of `max_records` (stops at kEnd); the source stays open.
Polled poll_n(Source& source, FakeContext& ctx, size_t max_records, int polls) {
    Emitter emitter(ctx);
    Polled out;
    for (int i = 0; i < polls && !out.ended; ++i) {
        Result<PollStatus> s = source.poll(emitter, max_records);
        EXPECT_TRUE(s.is_ok()) << s.status().to_string();
        out.ended = !s.is_ok() || *s == PollStatus::kEnd;
    }
    out.items = emitter.take();
    return out;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

class SourcePositionTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_source_position_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& bytes) {
        std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }

    std::unique_ptr<Source> open_file(const Given& given) {
        Result<std::unique_ptr<Source>> s =
            eddy_builtin_source_file().make_source(make_config(eddy_builtin_source_file(), given));
        EXPECT_TRUE(s.is_ok()) << s.status().to_string();
        if (!s.is_ok()) {
            return nullptr;
        }
        Status o = s.value()->open(ctx_);
        EXPECT_TRUE(o.is_ok()) << o.to_string();
        return std::move(s).value();
    }

    // For every number of polls k (0, each batch boundary, the end): read k
    // polls, take the position, resume a fresh source from it and read the
    // rest; the concatenation must equal one uninterrupted read.
    void expect_resume_everywhere(const Given& given, size_t max_records, int every = 1) {
        auto whole = open_file(given);
        ASSERT_NE(whole, nullptr);
        Polled all = poll_n(*whole, ctx_, max_records, 1'000'000);
        ASSERT_TRUE(all.ended);
        ASSERT_FALSE(all.items.empty());
        const int polls = static_cast<int>(all.items.size() / std::max<size_t>(max_records, 1)) + 3;
        for (int k = 0; k <= polls; k += every) {
            std::string position;
            Polled first;
            {
                auto source = open_file(given);
                ASSERT_NE(source, nullptr);
                ASSERT_TRUE(source->resumable());
                first = poll_n(*source, ctx_, max_records, k);
                source->position(position);
            }
            auto resumed = open_file(given);
            ASSERT_NE(resumed, nullptr);
            Status s = resumed->seek(position);
            ASSERT_TRUE(s.is_ok()) << "after " << k << " polls: " << s.to_string();
            Polled rest = poll_n(*resumed, ctx_, max_records, 1'000'000);
            ASSERT_TRUE(rest.ended);
            ASSERT_EQ(concat(first.items, rest.items), all.items)
                << "resumed after " << k << " polls of " << max_records;
            SourceProgress p = resumed->progress();
            EXPECT_EQ(p.done, p.total) << "after " << k << " polls";
        }
    }

    FakeContext ctx_{"clicks"};
    fs::path dir_;
};

// Malformed, blank, over-long and CRLF lines, and no newline at the end.
std::string messy_json_lines() {
    std::string d;
    for (int i = 0; i < 40; ++i) {
        switch (i % 8) {
            case 1:
                d += "not json " + std::to_string(i) + "\n";
                break;
            case 3:
                d += "{\"ts\":" + std::to_string(1000 + i) + ",\"pad\":\"" + std::string(200, 'p') +
                     "\"}\n";  // over max_line_bytes 128
                break;
            case 4:
                d += "   \n";
                break;
            case 6:
                d +=
                    "{\"ts\":" + std::to_string(1000 + i) + ",\"n\":" + std::to_string(i) + "}\r\n";
                break;
            default:
                d += "{\"ts\":" + std::to_string(1000 + i) + ",\"n\":" + std::to_string(i) + "}\n";
        }
    }
    d += "{\"ts\":2000,\"last\":true}";  // no trailing newline
    return d;
}

Given messy_config(const std::string& path) {
    return {{"path", str(path)},
            {"max_line_bytes", ConfigValue::integer(128)},
            {"event_time", ConfigValue::map({{"field", str("ts")}, {"unit", str("ms")}})}};
}

TEST_F(SourcePositionTest, JsonLinesFixtureAtEveryBatchBoundary) {
    for (size_t batch : {1, 2, 3, 100}) {
        expect_resume_everywhere(
            {{"path", str(kFixtures + "clicks.jsonl")},
             {"event_time", ConfigValue::map({{"field", str("ts")}, {"unit", str("auto")}})}},
            batch);
    }
}

TEST_F(SourcePositionTest, MalformedOverLongAndUnterminatedLines) {
    std::string path = write("messy.jsonl", messy_json_lines());
    for (size_t batch : {1, 3, 7}) {
        expect_resume_everywhere(messy_config(path), batch);
    }
}

TEST_F(SourcePositionTest, Gzip) {
    std::string path = write("messy.jsonl.gz", gzip(messy_json_lines()));
    for (size_t batch : {1, 4}) {
        expect_resume_everywhere(messy_config(path), batch);
    }
}

TEST_F(SourcePositionTest, Zstd) {
    std::string path = write("messy.jsonl.zst", zstd(messy_json_lines()));
    for (size_t batch : {1, 5}) {
        expect_resume_everywhere(messy_config(path), batch);
    }
}

TEST_F(SourcePositionTest, LargeCompressedInputsSkipAcrossChunks) {
    std::string data;
    for (int i = 0; i < 60'000; ++i) {
        data += "{\"ts\":" + std::to_string(1764320000000 + i) + ",\"seq\":" + std::to_string(i) +
                ",\"pad\":\"abcdefghij\"}\n";
    }
    ASSERT_GT(data.size(), 2u << 20);  // several 1 MiB chunks
    Given json_ts = {{"event_time", ConfigValue::map({{"field", str("ts")}, {"unit", str("ms")}})}};
    for (const std::string& path : {write("big.jsonl", data), write("big.jsonl.gz", gzip(data)),
                                    write("big.jsonl.zst", zstd(data))}) {
        Given given = json_ts;
        given.emplace_back("path", str(path));
        expect_resume_everywhere(given, 4096, 5);
    }
}

TEST_F(SourcePositionTest, CsvHeaderIsRestoredFromThePosition) {
    for (size_t batch : {1, 2}) {
        expect_resume_everywhere(
            {{"path", str(kFixtures + "clicks.csv")},
             {"format", str("csv")},
             {"event_time", ConfigValue::map({{"field", str("ts")}, {"unit", str("ms")}})}},
            batch);
    }
    // A blank line and an invalid header before the real one: line 1 is not the header.
    std::string path = write("late_header.csv", "\n\"unclosed\n user,n\nu1,1\nu2,2,x\nu3,3\n");
    expect_resume_everywhere({{"path", str(path)}, {"format", str("csv")}}, 1);
    std::string gz = write("late_header.csv.gz", gzip(read_text(path)));
    expect_resume_everywhere({{"path", str(gz)}, {"format", str("csv")}}, 1);
}

TEST_F(SourcePositionTest, PositionAtTheStartAndAtTheEnd) {
    std::string path = write("two.jsonl", "{\"a\":1}\n{\"a\":2}\n");
    std::string start;
    {
        auto source = open_file({{"path", str(path)}});
        source->position(start);
    }
    auto resumed = open_file({{"path", str(path)}});
    ASSERT_TRUE(resumed->seek(start).is_ok());
    EXPECT_EQ(poll_n(*resumed, ctx_, 10, 10).items.size(), 2u);

    std::string end;
    resumed->position(end);
    auto at_end = open_file({{"path", str(path)}});
    ASSERT_TRUE(at_end->seek(end).is_ok());
    EXPECT_EQ(at_end->progress().done, 16u);
    Polled nothing = poll_n(*at_end, ctx_, 10, 1);
    EXPECT_TRUE(nothing.ended);
    EXPECT_TRUE(nothing.items.empty());
}

TEST_F(SourcePositionTest, AppendedLinesAreReadAfterAResumeAtTheEnd) {
    std::string path = write("grows.jsonl", "{\"a\":1}\n");
    std::string end;
    {
        auto source = open_file({{"path", str(path)}});
        EXPECT_EQ(poll_n(*source, ctx_, 10, 10).items.size(), 1u);
        source->position(end);
    }
    std::ofstream(path, std::ios::app) << "{\"a\":2}\n";
    auto resumed = open_file({{"path", str(path)}});
    ASSERT_TRUE(resumed->seek(end).is_ok());
    Polled rest = poll_n(*resumed, ctx_, 10, 10);
    ASSERT_EQ(rest.items.size(), 1u);
    EXPECT_TRUE(rest.items[0].starts_with("{\"a\":2}")) << rest.items[0];
}

TEST_F(SourcePositionTest, BadPositionsAreClearErrors) {
    std::string data = messy_json_lines();
    std::string path = write("messy.jsonl", data);
    std::string position;
    {
        auto source = open_file(messy_config(path));
        poll_n(*source, ctx_, 1'000, 1'000);
        source->position(position);
    }
    // Truncated bytes.
    for (size_t n = 0; n < position.size(); ++n) {
        auto source = open_file(messy_config(path));
        Status s = source->seek(std::string_view(position).substr(0, n));
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << n;
        EXPECT_TRUE(s.message().starts_with("source 'clicks': ")) << s.message();
    }
    // Another version.
    {
        std::string future = position;
        future[0] = 9;
        auto source = open_file(messy_config(path));
        Status s = source->seek(future);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
        EXPECT_NE(s.message().find("version 9"), std::string::npos) << s.message();
    }
    // The file was replaced by a shorter one.
    write("messy.jsonl", data.substr(0, 100));
    {
        auto source = open_file(messy_config(path));
        Status s = source->seek(position);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(s.message(), "source 'clicks': the position at byte " +
                                   std::to_string(data.size()) + " is past the end of '" + path +
                                   "', which has 100 bytes; was the file replaced by a shorter "
                                   "one?");
    }
    // ... by a shorter compressed one.
    write("messy.jsonl", gzip(data.substr(0, 100)));
    {
        auto source = open_file(messy_config(path));
        Status s = source->seek(position);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
        EXPECT_NE(s.message().find("past the end of '" + path +
                                   "', which has 100 bytes "
                                   "uncompressed"),
                  std::string::npos)
            << s.message();
    }
    // ... by a compressed one of the same content.
    write("messy.jsonl", gzip(data));
    {
        auto source = open_file(messy_config(path));
        Status s = source->seek(position);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
        EXPECT_NE(s.message().find("is in none input, but '" + path + "' is now gzip"),
                  std::string::npos)
            << s.message();
    }
}

TEST_F(SourcePositionTest, StdinIsNotResumable) {
    Result<std::unique_ptr<Source>> s =
        eddy_builtin_source_stdin().make_source(make_config(eddy_builtin_source_stdin(), {}));
    ASSERT_TRUE(s.is_ok());
    EXPECT_FALSE(s.value()->resumable());
    ASSERT_TRUE(s.value()->open(ctx_).is_ok());
    std::string position;
    s.value()->position(position);
    EXPECT_TRUE(position.empty());
    Status seek = s.value()->seek("\x01");
    EXPECT_EQ(seek.code(), StatusCode::kUnsupported);
    EXPECT_EQ(seek.message(),
              "source 'clicks': cannot resume from a position: a pipe cannot be rewound");
}

// ---------------------------------------------------------------------------
// LineReader positions, including a checkpoint in the middle of an over-long
// line (only reachable when one next() call hits its bound of 64 fills).

struct Item {
    LineReader::Event event;
    int64_t number;
    std::string text;
    bool operator==(const Item&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Item& item) {
    return os << "{" << static_cast<int>(item.event) << ", " << item.number << ", '"
              << item.text.substr(0, 60) << "'}";
}

// Up to `events` events (kWait counts as one, and is recorded); kEnd stops.
std::vector<Item> read_events(LineReader& reader, size_t events, bool* ended = nullptr) {
    std::vector<Item> items;
    LineReader::Line l;
    for (size_t i = 0; i < events; ++i) {
        Result<LineReader::Event> e = reader.next(l);
        EXPECT_TRUE(e.is_ok()) << e.status().to_string();
        if (!e.is_ok() || *e == LineReader::Event::kEnd) {
            if (ended != nullptr) {
                *ended = true;
            }
            break;
        }
        if (*e == LineReader::Event::kWait) {
            continue;
        }
        items.push_back(
            {*e, l.number, std::string(*e == LineReader::Event::kLine ? l.text : l.message)});
    }
    return items;
}

TEST_F(SourcePositionTest, LineReaderResumesInsideAnOverLongLine) {
    LineReader::Options o;
    o.max_line_bytes = 100;
    o.chunk_bytes = 4096;
    // 64 fills of 4 KiB cannot reach the end of a 1 MiB line: next() returns kWait mid-skip.
    std::string data = "a\n" + std::string(1 << 20, 'x') + "\nb\n";
    for (const std::string& bytes : {data, gzip(data), zstd(data)}) {
        std::string path = write("long", bytes);
        auto reader = LineReader::open(path, o).value();
        LineReader::Line l;
        ASSERT_EQ(reader->next(l).value(), LineReader::Event::kLine);
        ASSERT_EQ(reader->next(l).value(), LineReader::Event::kWait);
        LineReader::Position p = reader->position();
        EXPECT_EQ(p.line, 1);
        EXPECT_EQ(p.offset, 2u);

        auto resumed = LineReader::open(path, o).value();
        ASSERT_TRUE(resumed->seek(p).is_ok());
        bool ended = false;
        std::vector<Item> rest = read_events(*resumed, 1000, &ended);
        EXPECT_TRUE(ended);
        EXPECT_EQ(rest, (std::vector<Item>{
                            {LineReader::Event::kTooLong, 2,
                             "line 2 is 1048576 bytes, over max_line_bytes 100"},
                            {LineReader::Event::kLine, 3, "b"},
                        }));
    }
}

TEST_F(SourcePositionTest, LineReaderRandomInputsResumeAfterEveryEvent) {
    std::mt19937 rng(11);
    LineReader::Options o;
    o.max_line_bytes = 300;
    o.chunk_bytes = 4096;
    std::string data;
    while (data.size() < 60'000) {
        int kind = static_cast<int>(rng() % 10);
        size_t len = kind == 0 ? 301 + rng() % 3000 : rng() % 200;
        data +=
            kind == 1 ? std::string(len % 5, ' ') : std::string(len, static_cast<char>('a' + kind));
        data += rng() % 7 == 0 ? "\r\n" : "\n";
    }
    data += "tail";
    for (const std::string& bytes : {data, gzip(data), zstd(data)}) {
        std::string path = write("random", bytes);
        auto whole = LineReader::open(path, o).value();
        std::vector<Item> all = read_events(*whole, 1'000'000);
        ASSERT_GT(all.size(), 150u);
        for (size_t k = 0; k <= all.size(); k += 3) {
            auto reader = LineReader::open(path, o).value();
            std::vector<Item> first = read_events(*reader, k);
            LineReader::Position p = reader->position();
            auto resumed = LineReader::open(path, o).value();
            ASSERT_TRUE(resumed->seek(p).is_ok());
            std::vector<Item> rest = read_events(*resumed, 1'000'000);
            first.insert(first.end(), rest.begin(), rest.end());
            ASSERT_EQ(first, all) << "after " << k << " events";
        }
    }
}

// ---------------------------------------------------------------------------
// The generator source.

std::unique_ptr<Source> make_generator(const std::string& params) {
    Diagnostics diags;
    std::string yaml = "sources:\n  clicks: {type: generator" + params +
                       "}\nsinks:\n  out: {type: stdout, input: clicks}\n";
    auto root = load_yaml_text(yaml, "test.yaml", diags);
    EXPECT_TRUE(root.has_value());
    std::optional<Topology> t = validate_topology(*root, builtin_registry(), diags);
    for (const Diagnostic& d : diags.items()) {
        ADD_FAILURE() << d.message;
    }
    if (!t) {
        return nullptr;
    }
    const Config& cfg = t->components[static_cast<size_t>(t->find("clicks"))].config;
    auto source = builtin_registry().find(ComponentKind::kSource, "generator")->make_source(cfg);
    EXPECT_TRUE(source.is_ok()) << source.status().message();
    return std::move(source).value();
}

TEST_F(SourcePositionTest, GeneratorResumesWhereItStopped) {
    const std::string truth_whole = (dir_ / "truth_whole.jsonl").string();
    const std::string truth_resumed = (dir_ / "truth_resumed.jsonl").string();
    const std::string params = ", events: 3000, seed: 5, out_of_order_rate: 0.2";
    auto whole = make_generator(params + ", truth_path: " + truth_whole);
    ASSERT_TRUE(whole->open(ctx_).is_ok());
    ASSERT_TRUE(whole->resumable());
    Polled all = poll_n(*whole, ctx_, 500, 100);
    ASSERT_TRUE(all.ended);
    ASSERT_EQ(all.items.size(), 3000u);
    ASSERT_TRUE(whole->close().is_ok());

    for (int k : {0, 1, 3, 6, 7}) {
        std::string position;
        Polled first;
        {
            auto source = make_generator(params + ", truth_path: " + truth_resumed);
            ASSERT_TRUE(source->open(ctx_).is_ok());
            first = poll_n(*source, ctx_, 500, k);
            source->position(position);
            // Crashed: no close(), so no truth from the first run.
        }
        fs::remove(truth_resumed);
        auto resumed = make_generator(params + ", truth_path: " + truth_resumed);
        ASSERT_TRUE(resumed->open(ctx_).is_ok());
        ASSERT_TRUE(resumed->seek(position).is_ok());
        EXPECT_EQ(resumed->progress().done, std::min<uint64_t>(500u * k, 3000u));
        Polled rest = poll_n(*resumed, ctx_, 500, 100);
        EXPECT_TRUE(rest.ended);
        ASSERT_EQ(concat(first.items, rest.items), all.items) << "after " << k << " polls";
        ASSERT_TRUE(resumed->close().is_ok());
        EXPECT_EQ(read_text(truth_resumed), read_text(truth_whole)) << "after " << k << " polls";
    }
}

TEST_F(SourcePositionTest, GeneratorRejectsPositionsOfAnotherStream) {
    std::string position;
    {
        auto source = make_generator(", events: 100, seed: 5");
        ASSERT_TRUE(source->open(ctx_).is_ok());
        poll_n(*source, ctx_, 60, 1);
        source->position(position);
    }
    auto seek_error = [&](const std::string& params, std::string_view bytes) {
        auto source = make_generator(params);
        EXPECT_TRUE(source->open(ctx_).is_ok());
        Status s = source->seek(bytes);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << params;
        return s.message();
    };
    EXPECT_EQ(seek_error(", events: 100, seed: 6", position),
              "source 'clicks': the checkpoint was taken with seed 5, but `seed` is now 6; "
              "restore the seed or start without the checkpoint");
    EXPECT_NE(seek_error(", events: 100, seed: 5, users: 7", position).find("differ from"),
              std::string::npos);
    EXPECT_EQ(seek_error(", events: 50, seed: 5", position),
              "source 'clicks': the checkpoint is after event 60, but the stream now ends after "
              "50 events; `events` or `duration` was lowered");
    EXPECT_NE(seek_error(", events: 100, seed: 5", position.substr(0, 3)).find("not a valid"),
              std::string::npos);
    // A higher bound continues the same stream.
    auto longer = make_generator(", events: 200, seed: 5");
    ASSERT_TRUE(longer->open(ctx_).is_ok());
    EXPECT_TRUE(longer->seek(position).is_ok());
    EXPECT_EQ(poll_n(*longer, ctx_, 1000, 10).items.size(), 140u);
}

TEST_F(SourcePositionTest, LiveGeneratorContinuesTheCountAndIsPacedFromTheRestart) {
    std::string position;
    Polled first;
    {
        auto source = make_generator(", rate: 100, seed: 2");
        ASSERT_TRUE(source->open(ctx_).is_ok());
        ctx_.clock_.set(5'000'000);
        first = poll_n(*source, ctx_, 1000, 1);
        ctx_.clock_.set(5'001'000);
        Polled more = poll_n(*source, ctx_, 1000, 1);
        first.items = concat(first.items, more.items);
        source->position(position);
    }
    ASSERT_EQ(first.items.size(), 101u);
    auto resumed = make_generator(", rate: 100, seed: 2");
    ASSERT_TRUE(resumed->open(ctx_).is_ok());
    ASSERT_TRUE(resumed->seek(position).is_ok());
    ctx_.clock_.set(9'000'000);
    // Not held back by the 101 events of the earlier run: one is due at once.
    Polled now = poll_n(*resumed, ctx_, 1000, 1);
    ASSERT_EQ(now.items.size(), 1u);
    EXPECT_EQ(resumed->progress().done, 102u);
    // Stamped with the wall clock (moved back by at most max_out_of_order, 30 s).
    const int64_t ts = std::stoll(now.items[0].substr(now.items[0].rfind('@') + 1));
    EXPECT_LE(ts, 9'000'000);
    EXPECT_GE(ts, 9'000'000 - 30'000);
}

// ---------------------------------------------------------------------------
// The file sink on resume.

std::unique_ptr<Sink> open_sink(FakeContext& ctx, const std::string& path, bool append) {
    Config cfg("out", "file",
               ConfigValue::map({{"path", str(path)},
                                 {"format", str("json")},
                                 {"append", ConfigValue::boolean(append)}}),
               Location{"t.yaml", 9, 3});
    Result<std::unique_ptr<Sink>> sink = eddy_builtin_sink_file().make_sink(cfg);
    EXPECT_TRUE(sink.is_ok()) << sink.status().to_string();
    EXPECT_TRUE(sink.value()->open(ctx).is_ok());
    return std::move(sink).value();
}

Batch one_record(FakeContext& ctx, int64_t n) {
    Batch b;
    b.append().set(ctx.field("n"), n);
    return b;
}

TEST_F(SourcePositionTest, FileSinkAppendsWhenResumingEvenWithoutAppend) {
    std::string path = (dir_ / "out.jsonl").string();
    auto first = open_sink(ctx_, path, false);
    ASSERT_TRUE(first->write(one_record(ctx_, 1)).is_ok());
    ASSERT_TRUE(first->close().is_ok());

    ctx_.resuming_ = true;
    auto resumed = open_sink(ctx_, path, false);
    ASSERT_TRUE(resumed->write(one_record(ctx_, 2)).is_ok());
    ASSERT_TRUE(resumed->close().is_ok());
    EXPECT_EQ(read_text(path), "{\"n\":1}\n{\"n\":2}\n");
    EXPECT_TRUE(ctx_.logs_.empty());

    ctx_.resuming_ = false;
    auto fresh = open_sink(ctx_, path, false);
    ASSERT_TRUE(fresh->close().is_ok());
    EXPECT_EQ(read_text(path), "");
}

TEST_F(SourcePositionTest, FileSinkEndsATornLastLineWhenResuming) {
    std::string path = write("out.jsonl", "{\"n\":1}\n{\"n\":");
    ctx_.resuming_ = true;
    auto resumed = open_sink(ctx_, path, false);
    ASSERT_TRUE(resumed->write(one_record(ctx_, 2)).is_ok());
    ASSERT_TRUE(resumed->close().is_ok());
    EXPECT_EQ(read_text(path), "{\"n\":1}\n{\"n\":\n{\"n\":2}\n");
    ASSERT_EQ(ctx_.logs_.size(), 1u);
    EXPECT_NE(ctx_.logs_[0].find("partial line"), std::string::npos);

    // A resumed sink on a file that does not exist yet creates it.
    auto created = open_sink(ctx_, (dir_ / "new.jsonl").string(), false);
    ASSERT_TRUE(created->write(one_record(ctx_, 3)).is_ok());
    ASSERT_TRUE(created->close().is_ok());
    EXPECT_EQ(read_text((dir_ / "new.jsonl").string()), "{\"n\":3}\n");
}

}  // namespace
}  // namespace eddy
