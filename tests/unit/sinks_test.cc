// SPDX-License-Identifier: Apache-2.0
// The `file`, `stdout` and `null` sinks: output, buffering, errors and round trips.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "eddy/context.h"
#include "eddy/fields.h"
#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/spec.h"

#include "fake_context.h"
#include "io_support.h"
#include "record/json_decoder.h"

::eddy::ComponentSpec eddy_builtin_sink_file();
::eddy::ComponentSpec eddy_builtin_sink_stdout();
::eddy::ComponentSpec eddy_builtin_sink_null();

namespace eddy {
namespace {

namespace fs = std::filesystem;

using testing::FakeContext;

std::unique_ptr<Sink> make_sink(const ComponentSpec& spec, std::vector<ConfigValue::Entry> given) {
    Result<std::unique_ptr<Sink>> sink = spec.make_sink(make_config(spec, std::move(given), "out"));
    EXPECT_TRUE(sink.is_ok()) << sink.status().to_string();
    return sink.is_ok() ? std::move(sink).value() : nullptr;
}

class SinksTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_sinks_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // A batch of `n` small records.
    Batch batch(int n, int first = 0) {
        Batch b;
        for (int i = first; i < first + n; ++i) {
            Record& r = b.append();
            r.set(ctx_.field("seq"), int64_t{i});
            std::string user = "u";
            user += std::to_string(i % 7);  // not "u" + ...: GCC 12 warns falsely (-Wrestrict)
            r.set(ctx_.field("user_id"), std::string_view(user));
        }
        return b;
    }

    FakeContext ctx_;
    fs::path dir_;
};

TEST_F(SinksTest, SpecsAreDocumented) {
    for (const ComponentSpec& spec :
         {eddy_builtin_sink_file(), eddy_builtin_sink_stdout(), eddy_builtin_sink_null()}) {
        EXPECT_EQ(spec.kind, ComponentKind::kSink);
        EXPECT_FALSE(spec.summary.empty()) << spec.name;
        EXPECT_TRUE(spec.make_sink) << spec.name;
        for (const Param& p : spec.params) {
            EXPECT_FALSE(p.doc_text().empty()) << spec.name << "." << p.name();
        }
    }
    ComponentSpec file = eddy_builtin_sink_file();
    ASSERT_NE(file.find_param("path"), nullptr);
    EXPECT_TRUE(file.find_param("path")->is_required());
    EXPECT_EQ(*file.find_param("format")->default_text(), "json");
    EXPECT_EQ(file.find_param("format")->values(), std::vector<std::string>{"json"});
    EXPECT_EQ(*file.find_param("append")->default_text(), "false");
}

TEST_F(SinksTest, FileSinkWritesJsonLinesAndCreatesDirectories) {
    std::string path = (dir_ / "a" / "b" / "out.jsonl").string();
    auto sink = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)}});
    ASSERT_TRUE(sink->open(ctx_).is_ok());
    ASSERT_TRUE(sink->write(batch(3)).is_ok());
    EXPECT_EQ(read_text(path), "");  // buffered until flush
    ASSERT_TRUE(sink->flush().is_ok());
    EXPECT_EQ(read_text(path),
              "{\"seq\":0,\"user_id\":\"u0\"}\n{\"seq\":1,\"user_id\":\"u1\"}\n"
              "{\"seq\":2,\"user_id\":\"u2\"}\n");
    ASSERT_TRUE(sink->write(batch(1, 3)).is_ok());
    ASSERT_TRUE(sink->close().is_ok());
    EXPECT_EQ(read_text(path).substr(read_text(path).size() - 25),
              "{\"seq\":3,\"user_id\":\"u3\"}\n");
}

TEST_F(SinksTest, LargeOutputIsWrittenBeforeFlush) {
    std::string path = (dir_ / "big.jsonl").string();
    auto sink = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)}});
    ASSERT_TRUE(sink->open(ctx_).is_ok());
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(sink->write(batch(1000, i * 1000)).is_ok());
    }
    uintmax_t before_close = fs::file_size(path);
    EXPECT_GT(before_close, 1u << 20);
    ASSERT_TRUE(sink->close().is_ok());
    std::string content = read_text(path);
    EXPECT_GT(content.size(), before_close);
    EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 100'000);
    EXPECT_TRUE(content.ends_with("{\"seq\":99999,\"user_id\":\"u4\"}\n"));
}

TEST_F(SinksTest, AppendOrReplace) {
    std::string path = (dir_ / "out.jsonl").string();
    std::ofstream(path) << "old\n";
    auto appending = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)},
                                                          {"append", ConfigValue::boolean(true)}});
    ASSERT_TRUE(appending->open(ctx_).is_ok());
    ASSERT_TRUE(appending->write(batch(1)).is_ok());
    ASSERT_TRUE(appending->close().is_ok());
    EXPECT_EQ(read_text(path), "old\n{\"seq\":0,\"user_id\":\"u0\"}\n");

    auto replacing = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)}});
    ASSERT_TRUE(replacing->open(ctx_).is_ok());
    ASSERT_TRUE(replacing->write(batch(1, 5)).is_ok());
    ASSERT_TRUE(replacing->close().is_ok());
    EXPECT_EQ(read_text(path), "{\"seq\":5,\"user_id\":\"u5\"}\n");
}

TEST_F(SinksTest, DiskFullIsAnIoErrorNamingThePath) {
    if (!fs::exists("/dev/full")) {
        GTEST_SKIP() << "no /dev/full";
    }
    auto sink = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string("/dev/full")}});
    ASSERT_TRUE(sink->open(ctx_).is_ok());
    ASSERT_TRUE(sink->write(batch(2)).is_ok());
    Status s = sink->flush();
    EXPECT_EQ(s.code(), StatusCode::kIoError);
    EXPECT_EQ(s.message(), "sink 'out': cannot write '/dev/full': No space left on device");
    EXPECT_EQ(sink->close().code(), StatusCode::kIoError);
}

TEST_F(SinksTest, UncreatableDirectory) {
    std::string blocker = (dir_ / "file").string();
    std::ofstream(blocker) << "x";
    std::string path = blocker + "/sub/out.jsonl";
    auto sink = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)}});
    Status s = sink->open(ctx_);
    EXPECT_EQ(s.code(), StatusCode::kIoError);
    EXPECT_TRUE(
        s.message().starts_with("sink 'out': cannot create directory '" + blocker + "/sub'"))
        << s.message();
}

TEST_F(SinksTest, RoundTripThroughAFile) {
    Batch b;
    Record& r = b.append();
    r.set(ctx_.field("s"),
          std::string_view("quote \" backslash \\ newline \n tab \t nul \0 end", 45));
    r.set(ctx_.field("unicode"), "Grüße 日本 😀");
    r.set(ctx_.field("control"), "\x01\x1f\x7f");
    r.set(ctx_.field("i"), int64_t{-9223372036854775807 - 1});
    r.set(ctx_.field("d"), 0.1 + 0.2);
    r.set(ctx_.field("whole"), 1e15);
    r.set(ctx_.field("tiny"), 5e-324);
    r.set(ctx_.field("b"), true);
    r.set_null(ctx_.field("n"));
    std::vector<float> v = {0.1f, -2.5f, 1e-7f, 3e38f};
    r.set(ctx_.field("v"), std::span<const float>(v));
    r.set(ctx_.field("geo.country"), "DE");
    Record& empty = b.append();
    (void)empty;

    std::string path = (dir_ / "rt.jsonl").string();
    auto sink = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)}});
    ASSERT_TRUE(sink->open(ctx_).is_ok());
    ASSERT_TRUE(sink->write(b).is_ok());
    ASSERT_TRUE(sink->close().is_ok());

    std::string content = read_text(path);
    JsonDecoder decoder([this](std::string_view n) { return ctx_.field(n); });
    Batch back;
    size_t start = 0;
    for (size_t nl = content.find('\n'); nl != std::string::npos; nl = content.find('\n', start)) {
        Status s =
            decoder.decode(std::string_view(content).substr(start, nl - start), back.append());
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        start = nl + 1;
    }
    ASSERT_EQ(back.size(), 2u);
    ASSERT_EQ(back[0].field_count(), r.field_count());
    for (size_t i = 0; i < r.field_count(); ++i) {
        EXPECT_EQ(back[0].fields()[i].id, r.fields()[i].id);
        EXPECT_EQ(back[0].fields()[i].value, r.fields()[i].value)
            << ctx_.field_name(r.fields()[i].id);
    }
    EXPECT_EQ(back[1].field_count(), 0u);
}

TEST_F(SinksTest, NonFiniteDoublesAreWrittenAsNull) {
    Batch b;
    b.append().set(ctx_.field("x"), std::nan(""));
    std::string path = (dir_ / "nan.jsonl").string();
    auto sink = make_sink(eddy_builtin_sink_file(), {{"path", ConfigValue::string(path)}});
    ASSERT_TRUE(sink->open(ctx_).is_ok());
    ASSERT_TRUE(sink->write(b).is_ok());
    ASSERT_TRUE(sink->close().is_ok());
    EXPECT_EQ(read_text(path), "{\"x\":null}\n");
}

TEST_F(SinksTest, StdoutSink) {
    std::string path = (dir_ / "stdout.txt").string();
    std::fflush(stdout);
    int saved = ::dup(STDOUT_FILENO);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ::dup2(fd, STDOUT_FILENO);
    ::close(fd);

    auto sink = make_sink(eddy_builtin_sink_stdout(), {});
    Status opened = sink->open(ctx_);
    Status wrote = sink->write(batch(2));
    Status closed = sink->close();

    std::fflush(stdout);
    ::dup2(saved, STDOUT_FILENO);
    ::close(saved);
    ASSERT_TRUE(opened.is_ok());
    ASSERT_TRUE(wrote.is_ok());
    ASSERT_TRUE(closed.is_ok());
    EXPECT_EQ(read_text(path), "{\"seq\":0,\"user_id\":\"u0\"}\n{\"seq\":1,\"user_id\":\"u1\"}\n");
    EXPECT_GE(::fcntl(STDOUT_FILENO, F_GETFD), 0);  // stdout itself stays open
}

TEST_F(SinksTest, NullSinkDiscards) {
    auto sink = make_sink(eddy_builtin_sink_null(), {});
    ASSERT_TRUE(sink->open(ctx_).is_ok());
    EXPECT_TRUE(sink->write(batch(10)).is_ok());
    EXPECT_TRUE(sink->flush().is_ok());
    EXPECT_TRUE(sink->close().is_ok());
}

}  // namespace
}  // namespace eddy
