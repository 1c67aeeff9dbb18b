// SPDX-License-Identifier: Apache-2.0
// LineReader: line splitting, long lines, gzip/zstd, pipes and open errors.
#include "io/line_reader.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "io_support.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;

struct Item {
    LineReader::Event event;
    int64_t number;
    std::string text;  // the line, or the message of kTooLong
    bool operator==(const Item&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Item& item) {
    return os << "{" << static_cast<int>(item.event) << ", " << item.number << ", '"
              << item.text.substr(0, 80) << "'}";
}

Item line(int64_t n, std::string text) {
    return {LineReader::Event::kLine, n, std::move(text)};
}
Item too_long(int64_t n, std::string message) {
    return {LineReader::Event::kTooLong, n, std::move(message)};
}

// The next event, which must not be a failure.
LineReader::Event next(LineReader& reader, LineReader::Line& l, int wait_ms = 0) {
    Result<LineReader::Event> e = reader.next(l, wait_ms);
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    return e.is_ok() ? e.value() : LineReader::Event::kEnd;
}

// Everything a reader yields until kEnd.
std::vector<Item> read_all(LineReader& reader) {
    std::vector<Item> items;
    LineReader::Line l;
    while (true) {
        Result<LineReader::Event> e = reader.next(l, 100);
        EXPECT_TRUE(e.is_ok()) << e.status().to_string();
        if (!e.is_ok() || *e == LineReader::Event::kEnd) {
            return items;
        }
        if (*e == LineReader::Event::kWait) {
            continue;
        }
        items.push_back(
            {*e, l.number, std::string(*e == LineReader::Event::kLine ? l.text : l.message)});
    }
}

class LineReaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_line_reader_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& bytes) {
        std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }
    std::unique_ptr<LineReader> open(const std::string& path, LineReader::Options o = {}) {
        Result<std::unique_ptr<LineReader>> r = LineReader::open(path, o);
        EXPECT_TRUE(r.is_ok()) << r.status().to_string();
        return r.is_ok() ? std::move(r).value() : nullptr;
    }
    std::vector<Item> read_file(const std::string& bytes, LineReader::Options o = {}) {
        auto reader = open(write("input", bytes), o);
        return read_all(*reader);
    }

    fs::path dir_;
};

TEST_F(LineReaderTest, LinesNumbersAndLineEndings) {
    EXPECT_EQ(read_file("a\nb\r\n\n  \t\nc\r\n\r\nlast"),
              (std::vector<Item>{line(1, "a"), line(2, "b"), line(5, "c"), line(7, "last")}));
}

TEST_F(LineReaderTest, EmptyAndNewlineOnlyFiles) {
    EXPECT_TRUE(read_file("").empty());
    EXPECT_TRUE(read_file("\n\n\r\n").empty());
    EXPECT_EQ(read_file("x"), (std::vector<Item>{line(1, "x")}));
    EXPECT_EQ(read_file("x\n"), (std::vector<Item>{line(1, "x")}));
}

TEST_F(LineReaderTest, EndIsSticky) {
    auto reader = open(write("input", "a\n"));
    LineReader::Line l;
    EXPECT_EQ(next(*reader, l), LineReader::Event::kLine);
    EXPECT_EQ(next(*reader, l), LineReader::Event::kEnd);
    EXPECT_EQ(next(*reader, l), LineReader::Event::kEnd);
}

TEST_F(LineReaderTest, ProgressOfAPlainFile) {
    std::string data = "one\ntwo\nthree\n";
    auto reader = open(write("input", data));
    EXPECT_EQ(reader->total_bytes(), data.size());
    EXPECT_EQ(reader->bytes_read(), 0u);
    read_all(*reader);
    EXPECT_EQ(reader->bytes_read(), data.size());
    EXPECT_EQ(reader->compression(), Compression::kNone);
}

TEST_F(LineReaderTest, FiveMegabyteLineIsSkippedWithItsLineNumber) {
    std::string data;
    for (int i = 1; i <= 16; ++i) {
        data += "{\"n\":" + std::to_string(i) + "}\n";
    }
    data += std::string(5 << 20, 'x') + "\n";  // line 17
    data += "{\"n\":18}\n";
    std::vector<Item> items = read_file(data);
    ASSERT_EQ(items.size(), 18u);
    EXPECT_EQ(items[15], line(16, "{\"n\":16}"));
    EXPECT_EQ(items[16], too_long(17, "line 17 is 5242880 bytes, over max_line_bytes 1MB"));
    EXPECT_EQ(items[17], line(18, "{\"n\":18}"));
}

TEST_F(LineReaderTest, LongLinesAcrossManySmallChunks) {
    LineReader::Options o;
    o.max_line_bytes = 100;
    o.chunk_bytes = 4096;
    std::string data = "short\n" + std::string(50'000, 'y') + "\r\nafter\n" +
                       std::string(101, 'z') + "\n" + std::string(100, 'w') + "\n" +
                       std::string(100, 'v') + "\r\n" + std::string(30'000, 'u');
    std::vector<Item> items = read_file(data, o);
    EXPECT_EQ(items, (std::vector<Item>{
                         line(1, "short"),
                         too_long(2, "line 2 is 50000 bytes, over max_line_bytes 100"),
                         line(3, "after"),
                         too_long(4, "line 4 is 101 bytes, over max_line_bytes 100"),
                         line(5, std::string(100, 'w')),
                         line(6, std::string(100, 'v')),
                         too_long(7, "line 7 is 30000 bytes, over max_line_bytes 100"),
                     }));
}

TEST_F(LineReaderTest, TooLongLineKeepsItsHead) {
    LineReader::Options o;
    o.max_line_bytes = 10;
    o.chunk_bytes = 4096;
    auto reader = open(write("input", "0123456789ABCDEFGHIJ" + std::string(20'000, '.') + "\n"), o);
    LineReader::Line l;
    ASSERT_EQ(next(*reader, l), LineReader::Event::kTooLong);
    EXPECT_EQ(l.length, 20'020u);
    EXPECT_EQ(l.text.size(), 1024u);
    EXPECT_TRUE(l.text.starts_with("0123456789ABCDEFGHIJ..."));
}

TEST_F(LineReaderTest, RandomLinesMatchAReferenceSplit) {
    std::mt19937 rng(7);
    LineReader::Options o;
    o.max_line_bytes = 300;
    o.chunk_bytes = 4096;
    std::string data;
    std::vector<Item> expected;
    for (int n = 1; n <= 3000; ++n) {
        size_t len = rng() % 3 == 0 ? rng() % 2000 : rng() % 120;
        std::string text;
        for (size_t i = 0; i < len; ++i) {
            text += static_cast<char>('a' + rng() % 26);
        }
        bool crlf = rng() % 4 == 0;
        data += text + (crlf ? "\r\n" : "\n");
        if (len > 300) {
            expected.push_back(too_long(n, "line " + std::to_string(n) + " is " +
                                               std::to_string(len) +
                                               " bytes, over max_line_bytes 300"));
        } else if (len > 0) {
            expected.push_back(line(n, text));
        }
    }
    EXPECT_EQ(read_file(data, o), expected);
    EXPECT_EQ(read_file(gzip(data), o), expected);
    EXPECT_EQ(read_file(zstd(data), o), expected);
}

TEST_F(LineReaderTest, Gzip) {
    std::string data = "a\nb\r\n\nc";
    std::string compressed = gzip(data);
    auto reader = open(write("input.gz", compressed));
    EXPECT_EQ(read_all(*reader), (std::vector<Item>{line(1, "a"), line(2, "b"), line(4, "c")}));
    EXPECT_EQ(reader->compression(), Compression::kGzip);
    EXPECT_EQ(reader->bytes_read(), compressed.size());
    EXPECT_EQ(reader->total_bytes(), compressed.size());
}

TEST_F(LineReaderTest, ConcatenatedGzipMembers) {
    EXPECT_EQ(read_file(gzip("a\nb\n") + gzip("c\n") + gzip("d")),
              (std::vector<Item>{line(1, "a"), line(2, "b"), line(3, "c"), line(4, "d")}));
}

TEST_F(LineReaderTest, ZstdWithSeveralFrames) {
    std::string data = zstd("x\ny\n") + zstd("z\n");
    auto reader = open(write("input.zst", data));
    EXPECT_EQ(read_all(*reader), (std::vector<Item>{line(1, "x"), line(2, "y"), line(3, "z")}));
    EXPECT_EQ(reader->compression(), Compression::kZstd);
    EXPECT_EQ(reader->bytes_read(), data.size());
}

TEST_F(LineReaderTest, LargeCompressedInputs) {
    std::string data;
    for (int i = 0; i < 200'000; ++i) {
        data +=
            "{\"seq\":" + std::to_string(i) + ",\"pad\":\"" + std::string(i % 50, 'p') + "\"}\n";
    }
    for (const std::string& encoded : {gzip(data), zstd(data)}) {
        auto reader = open(write("big", encoded));
        std::vector<Item> items = read_all(*reader);
        ASSERT_EQ(items.size(), 200'000u);
        EXPECT_EQ(items.back().number, 200'000);
        EXPECT_EQ(items[12345].text,
                  "{\"seq\":12345,\"pad\":\"" + std::string(12345 % 50, 'p') + "\"}");
        EXPECT_EQ(reader->bytes_read(), encoded.size());
    }
}

TEST_F(LineReaderTest, TruncatedCompressedFilesAreErrors) {
    std::string data(100'000, 'q');
    data += "\n";
    for (const std::string& encoded : {gzip(data), zstd(data)}) {
        auto reader = open(write("cut", encoded.substr(0, encoded.size() / 2)));
        LineReader::Line l;
        Result<LineReader::Event> e = reader->next(l);
        while (e.is_ok() && *e != LineReader::Event::kEnd) {
            e = reader->next(l);
        }
        ASSERT_FALSE(e.is_ok());
        EXPECT_EQ(e.status().code(), StatusCode::kIoError);
        EXPECT_NE(e.status().message().find("truncated"), std::string::npos)
            << e.status().message();
    }
}

TEST_F(LineReaderTest, CorruptGzipIsAnError) {
    std::string encoded = gzip(std::string(10'000, 'a') + "\n");
    encoded[encoded.size() / 2] ^= 0x55;
    encoded[encoded.size() / 2 + 1] ^= 0x55;
    auto reader = open(write("bad.gz", encoded));
    LineReader::Line l;
    Result<LineReader::Event> e = reader->next(l);
    while (e.is_ok() && *e != LineReader::Event::kEnd) {
        e = reader->next(l);
    }
    ASSERT_FALSE(e.is_ok());
    EXPECT_NE(e.status().message().find("is not valid gzip data"), std::string::npos)
        << e.status().message();
}

TEST_F(LineReaderTest, OpenErrors) {
    std::string missing = (dir_ / "nope.jsonl").string();
    Result<std::unique_ptr<LineReader>> r = LineReader::open(missing, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(r.status().message(), "cannot open '" + missing + "': No such file or directory");

    Result<std::unique_ptr<LineReader>> d = LineReader::open(dir_.string(), {});
    ASSERT_FALSE(d.is_ok());
    EXPECT_EQ(d.status().code(), StatusCode::kIoError);
    EXPECT_NE(d.status().message().find("is a directory"), std::string::npos);
}

TEST_F(LineReaderTest, UnreadableFile) {
    if (::geteuid() == 0) {
        GTEST_SKIP() << "root reads files regardless of permissions";
    }
    std::string path = write("secret", "x\n");
    fs::permissions(path, fs::perms::none);
    Result<std::unique_ptr<LineReader>> r = LineReader::open(path, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kIoError);
    EXPECT_NE(r.status().message().find("Permission denied"), std::string::npos);
}

class Pipe {
public:
    Pipe() { EXPECT_EQ(::pipe(fds_), 0); }
    ~Pipe() {
        close_writer();
        ::close(fds_[0]);
    }
    int reader() const { return fds_[0]; }
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
};

TEST_F(LineReaderTest, PipeWaitsBrieflyThenYieldsLines) {
    Pipe pipe;
    auto reader = LineReader::from_fd(pipe.reader(), "stdin", {});
    EXPECT_EQ(reader->total_bytes(), 0u);
    LineReader::Line l;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(next(*reader, l, 30), LineReader::Event::kWait);
    auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_LT(waited, std::chrono::milliseconds(100));

    pipe.write("par");
    EXPECT_EQ(next(*reader, l, 10), LineReader::Event::kWait);  // no newline yet
    pipe.write("tial\nsecond\nthi");
    ASSERT_EQ(next(*reader, l, 10), LineReader::Event::kLine);
    EXPECT_EQ(l.text, "partial");
    ASSERT_EQ(next(*reader, l, 10), LineReader::Event::kLine);
    EXPECT_EQ(l.text, "second");
    EXPECT_EQ(next(*reader, l, 10), LineReader::Event::kWait);
    pipe.write("rd");
    pipe.close_writer();
    ASSERT_EQ(next(*reader, l, 10), LineReader::Event::kLine);
    EXPECT_EQ(l.text, "third");
    EXPECT_EQ(l.number, 3);
    EXPECT_EQ(next(*reader, l, 10), LineReader::Event::kEnd);
    EXPECT_EQ(reader->bytes_read(), 20u);
}

TEST_F(LineReaderTest, GzipTricklingThroughAPipe) {
    std::string encoded = gzip("first\nsecond\n");
    Pipe pipe;
    auto reader = LineReader::from_fd(pipe.reader(), "stdin", {});
    std::thread writer([&] {
        for (char c : encoded) {  // one byte at a time, magic included
            pipe.write(std::string_view(&c, 1));
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        pipe.close_writer();
    });
    std::vector<Item> items = read_all(*reader);
    writer.join();
    EXPECT_EQ(items, (std::vector<Item>{line(1, "first"), line(2, "second")}));
    EXPECT_EQ(reader->compression(), Compression::kGzip);
}

TEST(CompressionTest, Names) {
    EXPECT_STREQ(compression_name(Compression::kNone), "none");
    EXPECT_STREQ(compression_name(Compression::kGzip), "gzip");
    EXPECT_STREQ(compression_name(Compression::kZstd), "zstd");
}

}  // namespace
}  // namespace eddy
