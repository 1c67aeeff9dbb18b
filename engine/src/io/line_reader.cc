// SPDX-License-Identifier: Apache-2.0
#include "io/line_reader.h"

#include <algorithm>
#include <cstring>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "eddy/units.h"

namespace eddy {
namespace {

constexpr size_t kHeadBytes = 1024;
// Bounds the work of one next() call, e.g. while skipping a huge line from a
// fast pipe, so that a source's poll() stays short.
constexpr int kMaxFillsPerCall = 64;

bool is_blank(std::string_view s) {
    return s.find_first_not_of(" \t") == std::string_view::npos;
}

std::string quoted(const std::string& name) {
    return "'" + name + "'";
}

}  // namespace

const char* compression_name(Compression c) {
    switch (c) {
        case Compression::kNone:
            return "none";
        case Compression::kGzip:
            return "gzip";
        case Compression::kZstd:
            return "zstd";
    }
    return "none";
}

// Streaming decompression of concatenated gzip members or zstd frames.
struct LineReader::Inflater {
    Compression kind;
    std::unique_ptr<char[]> in;
    size_t in_capacity = 0;
    size_t in_pos = 0;
    size_t in_len = 0;
    bool output_full = false;  // the last call filled its output: more may be pending
    bool at_boundary = true;   // between members/frames: input may end here
    z_stream zs{};
    bool zs_ready = false;
    ZSTD_DCtx* zctx = nullptr;

    Inflater(Compression k, size_t capacity)
        : kind(k), in(std::make_unique<char[]>(capacity)), in_capacity(capacity) {}
    ~Inflater() {
        if (zs_ready) {
            inflateEnd(&zs);
        }
        ZSTD_freeDCtx(zctx);
    }

    bool has_work() const { return in_pos < in_len || output_full; }

    Status init(const std::string& name) {
        if (kind == Compression::kGzip) {
            if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
                return Status::internal("cannot initialise zlib for " + quoted(name));
            }
            zs_ready = true;
        } else {
            zctx = ZSTD_createDCtx();
            if (zctx == nullptr) {
                return Status::internal("cannot initialise zstd for " + quoted(name));
            }
        }
        return Status::ok();
    }

    // Inflates pending input into dst; `produced` bytes were written.
    Status run(char* dst, size_t capacity, size_t& produced, const std::string& name) {
        produced = 0;
        if (kind == Compression::kGzip) {
            if (at_boundary && in_pos < in_len && zs.total_in > 0) {
                inflateReset(&zs);  // the next member of a concatenated file
            }
            zs.next_in = reinterpret_cast<Bytef*>(in.get() + in_pos);
            zs.avail_in = static_cast<uInt>(in_len - in_pos);
            zs.next_out = reinterpret_cast<Bytef*>(dst);
            zs.avail_out = static_cast<uInt>(capacity);
            int rc = inflate(&zs, Z_NO_FLUSH);
            in_pos = in_len - zs.avail_in;
            produced = capacity - zs.avail_out;
            if (rc == Z_STREAM_END) {
                at_boundary = true;
            } else if (rc == Z_OK || rc == Z_BUF_ERROR) {
                at_boundary = false;
            } else {
                return Status::io_error(
                    quoted(name) + " is not valid gzip data: " +
                    (zs.msg != nullptr ? zs.msg : "error " + std::to_string(rc)));
            }
        } else {
            ZSTD_inBuffer input{in.get(), in_len, in_pos};
            ZSTD_outBuffer output{dst, capacity, 0};
            size_t rc = ZSTD_decompressStream(zctx, &output, &input);
            if (ZSTD_isError(rc)) {
                return Status::io_error(quoted(name) +
                                        " is not valid zstd data: " + ZSTD_getErrorName(rc));
            }
            in_pos = input.pos;
            produced = output.pos;
            at_boundary = rc == 0;
        }
        output_full = produced == capacity;
        return Status::ok();
    }
};

LineReader::LineReader(int fd, bool owns_fd, std::string name, Options options)
    : fd_(fd), owns_fd_(owns_fd), pollable_(false), name_(std::move(name)), options_(options) {
    options_.chunk_bytes = std::max<size_t>(options_.chunk_bytes, 4096);
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
        pollable_ = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode);
        if (S_ISREG(st.st_mode)) {
            total_bytes_ = static_cast<uint64_t>(st.st_size);
        }
    }
    capacity_ = 2 * options_.chunk_bytes;
    buf_ = std::make_unique<char[]>(capacity_);
}

LineReader::~LineReader() {
    if (owns_fd_ && fd_ >= 0) {
        ::close(fd_);
    }
}

Result<std::unique_ptr<LineReader>> LineReader::open(const std::string& path, Options options) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        std::string message = "cannot open " + quoted(path) + ": " + std::strerror(err);
        return err == ENOENT ? Status::not_found(message) : Status::io_error(message);
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        return Status::io_error("cannot read " + quoted(path) + ": it is a directory");
    }
    return std::unique_ptr<LineReader>(new LineReader(fd, true, path, options));
}

std::unique_ptr<LineReader> LineReader::from_fd(int fd, std::string name, Options options) {
    return std::unique_ptr<LineReader>(new LineReader(fd, false, std::move(name), options));
}

Result<LineReader::Fill> LineReader::read_fd(char* dst, size_t capacity, size_t& n, int wait_ms) {
    n = 0;
    if (pollable_) {
        pollfd p{fd_, POLLIN, 0};
        int rc = ::poll(&p, 1, std::max(wait_ms, 0));
        if (rc == 0 || (rc < 0 && errno == EINTR)) {
            return Fill::kWait;
        }
        if (rc < 0) {
            return Status::io_error("cannot poll " + quoted(name_) + ": " + std::strerror(errno));
        }
    }
    ssize_t k = 0;
    do {
        k = ::read(fd_, dst, capacity);
    } while (k < 0 && errno == EINTR);
    if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return Fill::kWait;
        }
        return Status::io_error("cannot read " + quoted(name_) + ": " + std::strerror(errno));
    }
    if (k == 0) {
        return Fill::kEof;
    }
    n = static_cast<size_t>(k);
    bytes_read_ += n;
    return Fill::kData;
}

void LineReader::compact() {
    if (capacity_ - end_ >= options_.chunk_bytes) {
        return;
    }
    if (begin_ > 0) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        scan_ -= begin_;
        begin_ = 0;
    }
    if (capacity_ - end_ < options_.chunk_bytes) {
        // Only a partial line up to max_line_bytes + 1 stays buffered, so this is bounded.
        size_t capacity = std::max(2 * capacity_, end_ + options_.chunk_bytes);
        auto grown = std::make_unique<char[]>(capacity);
        std::memcpy(grown.get(), buf_.get(), end_);
        buf_ = std::move(grown);
        capacity_ = capacity;
    }
}

Result<LineReader::Fill> LineReader::fill(int wait_ms) {
    compact();
    char* dst = buf_.get() + end_;
    size_t room = capacity_ - end_;
    if (inflater_ == nullptr) {
        size_t n = 0;
        Result<Fill> r = read_fd(dst, room, n, wait_ms);
        if (r.is_ok() && *r == Fill::kEof) {
            input_eof_ = eof_ = true;
        }
        end_ += n;
        produced_ += n;
        return r;
    }
    while (true) {
        if (inflater_->has_work()) {
            size_t before = inflater_->in_pos;
            size_t produced = 0;
            EDDY_RETURN_IF_ERROR(inflater_->run(dst, room, produced, name_));
            if (produced > 0) {
                end_ += produced;
                produced_ += produced;
                return Fill::kData;
            }
            if (inflater_->in_pos != before) {
                continue;  // consumed a header or trailer only
            }
        }
        if (inflater_->in_pos < inflater_->in_len) {
            return Status::internal("decompressing " + quoted(name_) + " made no progress");
        }
        if (input_eof_) {
            if (!inflater_->at_boundary) {
                return Status::io_error(quoted(name_) + " ends in the middle of a " +
                                        compression_name(compression_) +
                                        " stream; the file is truncated");
            }
            eof_ = true;
            return Fill::kEof;
        }
        size_t n = 0;
        Result<Fill> r = read_fd(inflater_->in.get(), inflater_->in_capacity, n, wait_ms);
        if (!r.is_ok() || *r == Fill::kWait) {
            return r;
        }
        wait_ms = 0;
        if (*r == Fill::kEof) {
            input_eof_ = true;
        }
        inflater_->in_pos = 0;
        inflater_->in_len = n;
    }
}

Status LineReader::detect_compression() {
    detected_ = true;
    std::string_view head(buf_.get() + begin_, end_ - begin_);
    if (head.starts_with("\x1f\x8b")) {
        compression_ = Compression::kGzip;
    } else if (head.starts_with("\x28\xb5\x2f\xfd")) {
        compression_ = Compression::kZstd;
    } else {
        return Status::ok();
    }
    inflater_ =
        std::make_unique<Inflater>(compression_, std::max(options_.chunk_bytes, head.size()));
    EDDY_RETURN_IF_ERROR(inflater_->init(name_));
    std::memcpy(inflater_->in.get(), head.data(), head.size());
    inflater_->in_len = head.size();
    inflater_->at_boundary = false;
    begin_ = scan_ = end_ = 0;
    produced_ = 0;
    eof_ = false;
    return Status::ok();
}

Status LineReader::detect() {
    while (!detected_) {
        if (end_ - begin_ >= 4 || eof_) {
            return detect_compression();
        }
        Result<Fill> filled = fill(0);
        if (!filled.is_ok()) {
            return filled.status();
        }
        if (*filled == Fill::kWait) {
            return Status::unsupported("cannot seek in " + quoted(name_) +
                                       ": its first bytes are not available yet");
        }
    }
    return Status::ok();
}

LineReader::Position LineReader::position() const {
    if (skipping_) {
        // The over-long line is reported only once its end is found: resume before it.
        return {skipped_line_ - 1, skip_start_};
    }
    return {line_number_, produced_ - (end_ - begin_)};
}

Status LineReader::seek(Position position) {
    if (pollable_) {
        return Status::unsupported("cannot seek in " + quoted(name_) +
                                   ": it is a pipe or a terminal");
    }
    if (position.line < 0) {
        return Status::invalid_argument("line number " + std::to_string(position.line) +
                                        " of a position in " + quoted(name_) + " is negative");
    }
    EDDY_RETURN_IF_ERROR(detect());
    if (compression_ == Compression::kNone) {
        if (position.offset > total_bytes_) {
            return Status::invalid_argument(
                "the position at byte " + std::to_string(position.offset) + " is past the end of " +
                quoted(name_) + ", which has " + std::to_string(total_bytes_) +
                " bytes; was the file replaced by a shorter one?");
        }
        if (::lseek(fd_, static_cast<off_t>(position.offset), SEEK_SET) < 0) {
            return Status::io_error("cannot seek in " + quoted(name_) + ": " +
                                    std::strerror(errno));
        }
        bytes_read_ = produced_ = position.offset;
        begin_ = scan_ = end_ = 0;
        input_eof_ = eof_ = false;
    } else {
        // No random access into a gzip or zstd stream: inflate and drop what precedes.
        while (produced_ < position.offset && !eof_) {
            begin_ = scan_ = end_ = 0;
            Result<Fill> filled = fill(0);
            if (!filled.is_ok()) {
                return filled.status();
            }
        }
        if (produced_ < position.offset) {
            return Status::invalid_argument(
                "the position at uncompressed byte " + std::to_string(position.offset) +
                " is past the end of " + quoted(name_) + ", which has " +
                std::to_string(produced_) + " bytes uncompressed (" + std::to_string(total_bytes_) +
                " " + compression_name(compression_) +
                "); was the file replaced by a shorter one?");
        }
        begin_ = scan_ = end_ - static_cast<size_t>(produced_ - position.offset);
    }
    line_number_ = position.line;
    return Status::ok();
}

LineReader::Event LineReader::too_long(Line& line, uint64_t length) {
    message_ = "line " + std::to_string(line.number) + " is " + std::to_string(length) +
               " bytes, over max_line_bytes " + format_size_bytes(options_.max_line_bytes);
    line.length = length;
    line.message = message_;
    return Event::kTooLong;
}

Result<LineReader::Event> LineReader::next(Line& line, int wait_ms) {
    line = Line{};
    int fills = 0;
    while (true) {
        if (!detected_ && (end_ - begin_ >= 4 || eof_)) {
            EDDY_RETURN_IF_ERROR(detect_compression());
        }
        if (detected_ && skipping_) {
            const char* start = buf_.get() + begin_;
            const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
            size_t n = nl != nullptr ? static_cast<size_t>(nl - start) : end_ - begin_;
            if (n > 0) {
                ends_with_cr_ = start[n - 1] == '\r';
            }
            skipped_ += n;
            if (nl != nullptr) {
                begin_ = scan_ = begin_ + n + 1;
                skipping_ = false;
                line.number = skipped_line_;
                line.text = head_;
                return too_long(line, skipped_ - (ends_with_cr_ ? 1 : 0));
            }
            begin_ = scan_ = end_ = 0;
        } else if (detected_) {
            char* base = buf_.get();
            const auto* nl =
                static_cast<const char*>(std::memchr(base + scan_, '\n', end_ - scan_));
            if (nl != nullptr) {
                std::string_view text(base + begin_, static_cast<size_t>(nl - base) - begin_);
                begin_ = scan_ = static_cast<size_t>(nl - base) + 1;
                if (Event e = take_line(text, line); e != Event::kEnd) {
                    return e;
                }
                continue;
            }
            scan_ = end_;
            if (end_ - begin_ > options_.max_line_bytes + 1) {
                skipping_ = true;
                skip_start_ = produced_ - (end_ - begin_);
                skipped_line_ = ++line_number_;
                head_.assign(base + begin_, std::min(end_ - begin_, kHeadBytes));
                skipped_ = end_ - begin_;
                ends_with_cr_ = base[end_ - 1] == '\r';
                begin_ = scan_ = end_ = 0;
            }
        }
        if (eof_ && detected_) {
            if (skipping_) {
                skipping_ = false;
                line.number = skipped_line_;
                line.text = head_;
                return too_long(line, skipped_ - (ends_with_cr_ ? 1 : 0));
            }
            if (begin_ < end_) {
                std::string_view text(buf_.get() + begin_, end_ - begin_);
                begin_ = scan_ = end_;
                if (Event e = take_line(text, line); e != Event::kEnd) {
                    return e;
                }
                continue;
            }
            return Event::kEnd;
        }
        if (fills++ == kMaxFillsPerCall) {
            return Event::kWait;
        }
        Result<Fill> filled = fill(wait_ms);
        if (!filled.is_ok()) {
            return filled.status();
        }
        if (*filled == Fill::kWait) {
            return Event::kWait;
        }
        wait_ms = 0;  // wait once per call: a trickling pipe must not hold the caller
    }
}

// Numbers a complete line; kEnd means "blank, look further".
LineReader::Event LineReader::take_line(std::string_view text, Line& line) {
    ++line_number_;
    if (!text.empty() && text.back() == '\r') {
        text.remove_suffix(1);
    }
    line.number = line_number_;
    if (text.size() > options_.max_line_bytes) {
        line.text = text.substr(0, kHeadBytes);
        return too_long(line, text.size());
    }
    if (is_blank(text)) {
        return Event::kEnd;
    }
    line.text = text;
    line.length = text.size();
    return Event::kLine;
}

}  // namespace eddy
