// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "eddy/status.h"

namespace eddy {

/// How the input bytes are compressed, detected from the first bytes.
enum class Compression { kNone, kGzip, kZstd };

/// "none", "gzip" or "zstd".
const char* compression_name(Compression c);

/// Reads lines from a file or a file descriptor (stdin, a pipe) in large
/// chunks, inflating gzip and zstd input transparently. Lines end at `\n`; a
/// trailing `\r` is dropped; a last line without newline is still a line;
/// blank lines (empty or only spaces and tabs) are skipped but counted. A line
/// longer than max_line_bytes is skipped up to its newline without being
/// buffered whole, and reported once. Not thread-safe.
class LineReader {
public:
    struct Options {
        /// Longest line returned; longer ones are reported as kTooLong. Default 1MB.
        uint64_t max_line_bytes = 1 << 20;
        /// Bytes per read(2). Default 1 MiB.
        size_t chunk_bytes = 1 << 20;
    };

    enum class Event {
        kLine,     ///< `line` holds the next line.
        kTooLong,  ///< A line over max_line_bytes was skipped; see Line.
        kWait,     ///< No complete line is available yet (pipes; or a call's work bound hit).
        kEnd,      ///< End of input; every later call returns kEnd too.
    };

    /// What next() found. Views stay valid until the next call.
    struct Line {
        std::string_view text;     ///< The line; for kTooLong its first 1 KiB.
        int64_t number = 0;        ///< 1-based line number.
        uint64_t length = 0;       ///< Full length in bytes, without the line break.
        std::string_view message;  ///< For kTooLong: "line 17 is 5242880 bytes, over ...".
    };

    /// Opens `path` for reading. Errors: not_found when it does not exist,
    /// io_error otherwise (permission, a directory); the message names the path
    /// and the system's reason, e.g. "cannot open 'x.jsonl': No such file or directory".
    static Result<std::unique_ptr<LineReader>> open(const std::string& path, Options options);

    /// Reads from `fd`, which the reader does not close. `name` appears in
    /// messages (e.g. "stdin").
    static std::unique_ptr<LineReader> from_fd(int fd, std::string name, Options options);

    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    /// The next line or event. Waits at most `wait_ms` once for a pipe to
    /// become readable (poll(2)); regular files never wait. A failed Status is
    /// fatal: a read error, corrupt or truncated compressed data.
    Result<Event> next(Line& line, int wait_ms = 0);

    /// Where the reader stands, for checkpoints: the number of the last line
    /// consumed (returned, skipped as blank, or reported as too long) and the
    /// offset in the uncompressed input just after it. A line whose skipping
    /// is in progress is not consumed yet. Read-ahead is not included.
    struct Position {
        int64_t line = 0;
        uint64_t offset = 0;
    };
    Position position() const;

    /// Continues after `position` (from position() on the same input): the next
    /// call to next() yields the line after it. Call before the first next().
    /// Plain files seek directly, O(1); compressed input is inflated from the
    /// start and discarded up to the offset, O(offset). Errors: unsupported for
    /// pipes; invalid_argument when the offset is past the end of the input,
    /// naming both sizes; read and decompression errors as next().
    Status seek(Position position);

    /// Input bytes consumed so far (compressed bytes for compressed input).
    uint64_t bytes_read() const { return bytes_read_; }
    /// The input's size in bytes; 0 when unknown (a pipe).
    uint64_t total_bytes() const { return total_bytes_; }
    /// The compression detected so far (kNone until the first bytes arrived).
    Compression compression() const { return compression_; }
    const std::string& name() const { return name_; }

private:
    struct Inflater;
    LineReader(int fd, bool owns_fd, std::string name, Options options);

    enum class Fill { kData, kWait, kEof };
    /// Adds input to buf_ (reading, and inflating when compressed).
    Result<Fill> fill(int wait_ms);
    Result<Fill> read_fd(char* dst, size_t capacity, size_t& n, int wait_ms);
    Status detect_compression();
    /// Reads until the compression is known.
    Status detect();
    Event too_long(Line& line, uint64_t length);
    Event take_line(std::string_view text, Line& line);
    void compact();

    int fd_;
    bool owns_fd_;
    bool pollable_;  // a pipe, socket or terminal; false for regular files
    std::string name_;
    Options options_;

    std::unique_ptr<char[]> buf_;  // decompressed bytes
    size_t capacity_ = 0;
    size_t begin_ = 0;  // start of the current line
    size_t scan_ = 0;   // where the newline search resumes
    size_t end_ = 0;    // end of valid bytes

    bool detected_ = false;
    bool input_eof_ = false;  // the fd reached end of file
    bool eof_ = false;        // no more decompressed bytes will come
    Compression compression_ = Compression::kNone;
    std::unique_ptr<Inflater> inflater_;

    // Uncompressed bytes appended to buf_ so far: buf_[end_] is at this offset.
    uint64_t produced_ = 0;

    bool skipping_ = false;    // inside a line over max_line_bytes
    uint64_t skip_start_ = 0;  // its offset
    uint64_t skipped_ = 0;     // its bytes so far
    int64_t skipped_line_ = 0;
    bool ends_with_cr_ = false;
    int64_t line_number_ = 0;
    std::string head_;     // the first 1 KiB of a skipped line
    std::string message_;  // the kTooLong message

    uint64_t bytes_read_ = 0;
    uint64_t total_bytes_ = 0;
};

}  // namespace eddy
