// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/source.h"

#include "io/line_reader.h"
#include "record/line_decoder.h"

namespace eddy {

/// Lines read but not decoded yet, copied out of the reader, so that they can
/// be decoded on other threads (runtime/parallel_decode.h).
struct RawLines {
    struct Span {
        size_t offset;  ///< In `bytes`.
        size_t size;
        int64_t number;  ///< 1-based line number.
        bool skipped;    ///< Too long: already reported to errors, not to decode.
    };
    std::string bytes;
    std::vector<Span> spans;

    void clear() {
        bytes.clear();
        spans.clear();
    }
    size_t size() const { return spans.size(); }
    std::string_view text(size_t i) const {
        return {bytes.data() + spans[i].offset, spans[i].size};
    }
};

/// A source that reads lines with a LineReader and decodes each into one
/// record with a LineDecoder; the `file` and `stdin` sources are instances.
/// Undecodable lines go to SourceEmitter::error() with their line number and
/// up to 1 KiB of the line. Called by one thread at a time.
class LineSource : public Source {
public:
    /// Opens the input; called once from open().
    using Opener = std::function<Result<std::unique_ptr<LineReader>>(const LineReader::Options&)>;

    /// `name` is the component's name, used in messages. `resumable`: whether
    /// the input can be re-opened and positioned (a file, not a pipe).
    LineSource(std::string name, DecoderOptions options, Opener opener, bool resumable);

    /// Opens the input. Errors name the component and the input, e.g.
    /// "source 'clicks': cannot open 'data/x.jsonl': No such file or directory".
    Status open(ComponentContext& ctx) override;
    /// Emits up to `max_records` records and errors; waits at most ~50 ms for a
    /// pipe. kEnd once the input is exhausted and everything was emitted.
    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override;

    /// Whether read_lines() and new_decoder() may stand in for poll(): each
    /// line decodes on its own (JSON or raw lines; CSV needs its header first).
    bool splittable() const;
    /// Like poll(), but copies up to `max_lines` lines into `lines` (cleared
    /// first) instead of decoding them; lines over max_line_bytes go to
    /// out.error(). Decoding each line with new_decoder(), in order, emits
    /// what poll() would have emitted.
    Result<PollStatus> read_lines(SourceEmitter& out, RawLines& lines, size_t max_lines);
    /// A decoder with the source's settings, for another thread; `ctx` (the
    /// source's context) must be safe to call from it and outlive the decoder.
    std::unique_ptr<LineDecoder> new_decoder(ComponentContext& ctx) const;
    /// Input bytes read (compressed bytes for compressed files) of the total
    /// size; total 0 for pipes.
    SourceProgress progress() const override;
    Status close() override;

    bool resumable() const override { return resumable_; }
    /// Version 1: u8 version, u8 compression, varint line number of the last
    /// consumed line, varint uncompressed offset after it, u8 whether a CSV
    /// header was read, then the header row (a string) when it was.
    void position(std::string& out) const override;
    /// Continues after a position() of the same file; see LineReader::seek for
    /// the cost (O(1) for plain files, O(offset) for compressed ones). Errors
    /// (invalid_argument) name the source: damaged bytes, another version, the
    /// file is now shorter than the position or differently compressed.
    Status seek(std::string_view position) override;

private:
    Status error(StatusCode code, const std::string& message) const;
    /// Reads up to `max` lines, reading the CSV header itself, and calls
    /// on_line(line) for each other line, or on_skipped(line) after reporting
    /// one that is too long.
    template <class F, class G>
    Result<PollStatus> read(SourceEmitter& out, size_t max, F&& on_line, G&& on_skipped);

    std::string name_;
    DecoderOptions options_;
    Opener opener_;
    bool resumable_;
    std::unique_ptr<LineReader> reader_;
    std::unique_ptr<LineDecoder> decoder_;
    std::string header_;  // the CSV header row, once read; kept for positions
    bool header_read_ = false;
    bool ended_ = false;
};

}  // namespace eddy
