// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "eddy/source.h"

#include "io/line_reader.h"
#include "record/line_decoder.h"

namespace eddy {

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
