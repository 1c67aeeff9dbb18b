// SPDX-License-Identifier: Apache-2.0
// Reads a file of lines in large chunks for the parse-only and hand-written
// benchmarks. Every line handed out has at least simdjson::SIMDJSON_PADDING
// readable bytes after it, so simdjson can parse it in place without a copy.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

namespace eddy::bench {

class LineChunks {
public:
    /// Opens `path`; check ok() and error().
    explicit LineChunks(const std::string& path) : buffer_(new char[capacity_ + kPadding]) {
        fd_ = ::open(path.c_str(), O_RDONLY);
        if (fd_ < 0) {
            error_ = "cannot open '" + path + "': " + std::strerror(errno);
            return;
        }
        ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    ~LineChunks() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    LineChunks(const LineChunks&) = delete;
    LineChunks& operator=(const LineChunks&) = delete;

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    /// The next line without its newline (a trailing '\r' is kept), and how
    /// many bytes are readable from its start (for simdjson's `capacity`).
    /// False at the end of the file or on a read error (then !ok()).
    bool next(std::string_view& line, size_t& readable) {
        for (;;) {
            if (const void* nl = std::memchr(buffer_.get() + begin_, '\n', end_ - begin_)) {
                size_t at = static_cast<const char*>(nl) - buffer_.get();
                line = {buffer_.get() + begin_, at - begin_};
                readable = capacity_ + kPadding - begin_;
                begin_ = at + 1;
                return true;
            }
            if (eof_) {
                if (begin_ == end_) {
                    return false;
                }
                line = {buffer_.get() + begin_, end_ - begin_};  // a last line without newline
                readable = capacity_ + kPadding - begin_;
                begin_ = end_;
                return true;
            }
            if (!fill()) {
                return false;
            }
        }
    }

private:
    static constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

    // Moves the partial line to the front and reads more; grows the buffer
    // for a line longer than it.
    bool fill() {
        size_t rest = end_ - begin_;
        if (rest == capacity_) {
            auto bigger = std::unique_ptr<char[]>(new char[2 * capacity_ + kPadding]);
            std::memcpy(bigger.get(), buffer_.get() + begin_, rest);
            buffer_ = std::move(bigger);
            capacity_ *= 2;
        } else {
            std::memmove(buffer_.get(), buffer_.get() + begin_, rest);
        }
        begin_ = 0;
        end_ = rest;
        while (end_ < capacity_) {
            ssize_t n = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                error_ = std::string("read failed: ") + std::strerror(errno);
                return false;
            }
            if (n == 0) {
                eof_ = true;
                break;
            }
            end_ += static_cast<size_t>(n);
            if (std::memchr(buffer_.get() + end_ - n, '\n', static_cast<size_t>(n)) != nullptr) {
                break;
            }
        }
        std::memset(buffer_.get() + end_, 0, kPadding);
        return true;
    }

    size_t capacity_ = 8 << 20;
    std::unique_ptr<char[]> buffer_;
    size_t begin_ = 0;
    size_t end_ = 0;
    int fd_ = -1;
    bool eof_ = false;
    std::string error_;
};

#define EDDY_BENCH_STRINGIFY_(x) #x
#define EDDY_BENCH_STRINGIFY(x) EDDY_BENCH_STRINGIFY_(x)

/// The simdjson kernel that On-Demand was compiled for in this program
/// (chosen by the compiler's target flags; see EDDY_BENCH_AVX2 in bench/CMakeLists.txt).
inline const char* simd_kernel() {
    return EDDY_BENCH_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION);
}

/// Whether this CPU can run simd_kernel(); says why not on stderr.
inline bool simd_kernel_runs(const char* program) {
    const simdjson::implementation* kernel =
        simdjson::get_available_implementations()[simd_kernel()];
    if (kernel != nullptr && kernel->supported_by_runtime_system()) {
        return true;
    }
    std::fprintf(stderr,
                 "%s: built for the simdjson '%s' kernel, which this CPU cannot run; "
                 "reconfigure with -DEDDY_BENCH_AVX2=OFF\n",
                 program, simd_kernel());
    return false;
}

}  // namespace eddy::bench
