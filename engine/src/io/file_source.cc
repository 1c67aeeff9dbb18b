// SPDX-License-Identifier: Apache-2.0
#include "io/file_source.h"

#include <limits>

#include "eddy/codec.h"
#include "eddy/registry.h"

#include "record/utf8.h"

namespace eddy {
namespace {

// How long the first read of a poll may wait for a pipe (Source::poll: <= ~100 ms).
constexpr int kPollWaitMs = 50;
constexpr size_t kRawErrorBytes = 1024;
constexpr uint8_t kPositionVersion = 1;

}  // namespace

LineSource::LineSource(std::string name, DecoderOptions options, Opener opener, bool resumable)
    : name_(std::move(name)),
      options_(std::move(options)),
      opener_(std::move(opener)),
      resumable_(resumable) {}

Status LineSource::error(StatusCode code, const std::string& message) const {
    return Status(code, "source '" + name_ + "': " + message);
}

Status LineSource::open(ComponentContext& ctx) {
    LineReader::Options reader_options;
    reader_options.max_line_bytes = options_.max_line_bytes;
    Result<std::unique_ptr<LineReader>> reader = opener_(reader_options);
    if (!reader.is_ok()) {
        return error(reader.status().code(), reader.status().message());
    }
    reader_ = std::move(reader).value();
    decoder_ = std::make_unique<LineDecoder>(options_, ctx);
    return Status::ok();
}

template <class F, class G>
Result<PollStatus> LineSource::read(SourceEmitter& out, size_t max, F&& on_line, G&& on_skipped) {
    if (ended_ || reader_ == nullptr) {
        return PollStatus::kEnd;
    }
    size_t emitted = 0;
    LineReader::Line line;
    while (emitted < max) {
        Result<LineReader::Event> event = reader_->next(line, emitted == 0 ? kPollWaitMs : 0);
        if (!event.is_ok()) {
            return error(event.status().code(), event.status().message());
        }
        switch (*event) {
            case LineReader::Event::kEnd:
                ended_ = true;
                return emitted > 0 ? PollStatus::kData : PollStatus::kEnd;
            case LineReader::Event::kWait:
                return emitted > 0 ? PollStatus::kData : PollStatus::kIdle;
            case LineReader::Event::kTooLong:
                out.error(line.message, line.number, truncate_utf8(line.text, kRawErrorBytes));
                on_skipped(line);
                break;
            case LineReader::Event::kLine:
                if (decoder_->needs_header()) {
                    Status s = decoder_->read_header(line.text);
                    if (!s.is_ok()) {
                        out.error("invalid CSV header: " + s.message(), line.number,
                                  truncate_utf8(line.text, kRawErrorBytes));
                    } else {
                        header_.assign(line.text);
                        header_read_ = true;
                    }
                    break;
                }
                on_line(line);
                break;
        }
        ++emitted;
    }
    return PollStatus::kData;
}

Result<PollStatus> LineSource::poll(SourceEmitter& out, size_t max_records) {
    return read(
        out, max_records,
        [&](const LineReader::Line& line) {
            Record& record = out.append();
            Status s = decoder_->decode(line.text, record);
            if (!s.is_ok()) {
                out.discard_last();
                out.error(s.message(), line.number, truncate_utf8(line.text, kRawErrorBytes));
            }
        },
        [](const LineReader::Line&) {});
}

bool LineSource::splittable() const {
    return options_.format != LineFormat::kCsv;
}

Result<PollStatus> LineSource::read_lines(SourceEmitter& out, RawLines& lines, size_t max_lines) {
    lines.clear();
    return read(
        out, max_lines,
        [&](const LineReader::Line& line) {
            lines.spans.push_back({lines.bytes.size(), line.text.size(), line.number, false});
            lines.bytes.append(line.text);
        },
        // Kept in place, so that lines fall into the same polls as with poll().
        [&](const LineReader::Line& line) {
            lines.spans.push_back({lines.bytes.size(), 0, line.number, true});
        });
}

std::unique_ptr<LineDecoder> LineSource::new_decoder(ComponentContext& ctx) const {
    return std::make_unique<LineDecoder>(options_, ctx);
}

SourceProgress LineSource::progress() const {
    if (reader_ == nullptr) {
        return {};
    }
    return {reader_->bytes_read(), reader_->total_bytes(), true};
}

void LineSource::position(std::string& out) const {
    if (!resumable_ || reader_ == nullptr) {
        return;
    }
    LineReader::Position p = reader_->position();
    StateWriter w(out);
    w.u8(kPositionVersion);
    w.u8(static_cast<uint8_t>(reader_->compression()));
    w.varint(static_cast<uint64_t>(p.line));
    w.varint(p.offset);
    w.u8(header_read_ ? 1 : 0);
    if (header_read_) {
        w.str(header_);
    }
}

Status LineSource::seek(std::string_view position) {
    if (!resumable_) {
        return error(StatusCode::kUnsupported,
                     "cannot resume from a position: a pipe cannot be rewound");
    }
    if (reader_ == nullptr) {
        return error(StatusCode::kInternal, "seek() before open()");
    }
    StateReader r(position);
    uint8_t version = 0;
    uint8_t compression = 0;
    uint64_t line = 0;
    uint64_t offset = 0;
    uint8_t has_header = 0;
    std::string header;
    if (r.u8(version) && version != kPositionVersion) {
        return error(StatusCode::kInvalidArgument,
                     "the stored position has version " + std::to_string(version) +
                         ", but this Eddy reads version " + std::to_string(kPositionVersion));
    }
    bool ok = r.u8(compression) && r.varint(line) && r.varint(offset) && r.u8(has_header) &&
              (has_header != 1 || r.str(header));
    if (!ok || !r.done() || compression > static_cast<uint8_t>(Compression::kZstd) ||
        has_header > 1 || line > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return error(StatusCode::kInvalidArgument,
                     "the stored position (" + std::to_string(position.size()) +
                         " bytes) is not a valid file position; it is damaged or was written "
                         "by another source");
    }
    Status s = reader_->seek({static_cast<int64_t>(line), offset});
    if (!s.is_ok()) {
        return error(s.code(), s.message());
    }
    // A position taken before the first read does not know the compression yet.
    const auto stored = static_cast<Compression>(compression);
    if ((line > 0 || offset > 0) && stored != reader_->compression()) {
        return error(StatusCode::kInvalidArgument,
                     "the stored position is in " + std::string(compression_name(stored)) +
                         " input, but '" + reader_->name() + "' is now " +
                         compression_name(reader_->compression()) + "; was the file replaced?");
    }
    if (has_header == 1 && decoder_->needs_header()) {
        Status h = decoder_->read_header(header);
        if (!h.is_ok()) {
            return error(StatusCode::kInvalidArgument,
                         "the CSV header stored in the position is invalid: " + h.message());
        }
        header_ = std::move(header);
        header_read_ = true;
    }
    return Status::ok();
}

Status LineSource::close() {
    reader_.reset();
    decoder_.reset();
    return Status::ok();
}

}  // namespace eddy

EDDY_REGISTER_SOURCE(file) {
    using eddy::Param;
    eddy::SourceSpec spec("file");
    spec.summary(
            "Reads a file of JSON Lines, CSV or raw lines; gzip and zstd files are "
            "decompressed transparently.")
        .description(
            "Reads the file once from the start and ends at its end. Compression is detected "
            "from the first bytes, not the file name. Lines that cannot be decoded go to the "
            "`errors` output with their line number and the reason; they never stop the job. "
            "Progress is reported in bytes of the file as stored. Resumable: a checkpoint "
            "stores the line number and byte offset reached, and a restarted job continues "
            "from there (directly for plain files; compressed files are decompressed again "
            "from the start up to that offset).")
        .param(Param::string("path")
                   .required()
                   .doc("The file to read, relative to the working directory.")
                   .example("data/clicks.jsonl.gz"));
    eddy::add_decoder_params(spec);
    spec.example("A gzip-compressed JSON Lines file with epoch-ms timestamps", R"(sources:
  clicks:
    type: file
    path: data/clicks.jsonl.gz
    event_time: {field: ts, unit: ms}
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Source>> {
            eddy::Result<eddy::DecoderOptions> options = eddy::decoder_options(cfg);
            if (!options.is_ok()) {
                return options.status();
            }
            std::string path = cfg.string("path");
            return std::unique_ptr<eddy::Source>(std::make_unique<eddy::LineSource>(
                cfg.component(), std::move(options).value(),
                [path](const eddy::LineReader::Options& o) {
                    return eddy::LineReader::open(path, o);
                },
                /*resumable=*/true));
        });
    return spec.build();
}
