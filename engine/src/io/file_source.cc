// SPDX-License-Identifier: Apache-2.0
#include "io/file_source.h"

#include "eddy/registry.h"

#include "record/utf8.h"

namespace eddy {
namespace {

// How long the first read of a poll may wait for a pipe (Source::poll: <= ~100 ms).
constexpr int kPollWaitMs = 50;
constexpr size_t kRawErrorBytes = 1024;

}  // namespace

LineSource::LineSource(std::string name, DecoderOptions options, Opener opener)
    : name_(std::move(name)), options_(std::move(options)), opener_(std::move(opener)) {}

Status LineSource::open(ComponentContext& ctx) {
    LineReader::Options reader_options;
    reader_options.max_line_bytes = options_.max_line_bytes;
    Result<std::unique_ptr<LineReader>> reader = opener_(reader_options);
    if (!reader.is_ok()) {
        Status s = reader.status();
        return Status(s.code(), "source '" + name_ + "': " + s.message());
    }
    reader_ = std::move(reader).value();
    decoder_ = std::make_unique<LineDecoder>(options_, ctx);
    return Status::ok();
}

Result<PollStatus> LineSource::poll(SourceEmitter& out, size_t max_records) {
    if (ended_ || reader_ == nullptr) {
        return PollStatus::kEnd;
    }
    size_t emitted = 0;
    LineReader::Line line;
    while (emitted < max_records) {
        Result<LineReader::Event> event = reader_->next(line, emitted == 0 ? kPollWaitMs : 0);
        if (!event.is_ok()) {
            Status s = event.status();
            return Status(s.code(), "source '" + name_ + "': " + s.message());
        }
        switch (*event) {
            case LineReader::Event::kEnd:
                ended_ = true;
                return emitted > 0 ? PollStatus::kData : PollStatus::kEnd;
            case LineReader::Event::kWait:
                return emitted > 0 ? PollStatus::kData : PollStatus::kIdle;
            case LineReader::Event::kTooLong:
                out.error(line.message, line.number, truncate_utf8(line.text, kRawErrorBytes));
                break;
            case LineReader::Event::kLine: {
                if (decoder_->needs_header()) {
                    Status s = decoder_->read_header(line.text);
                    if (!s.is_ok()) {
                        out.error("invalid CSV header: " + s.message(), line.number,
                                  truncate_utf8(line.text, kRawErrorBytes));
                    }
                    break;
                }
                Record& record = out.append();
                Status s = decoder_->decode(line.text, record);
                if (!s.is_ok()) {
                    out.discard_last();
                    out.error(s.message(), line.number, truncate_utf8(line.text, kRawErrorBytes));
                }
                break;
            }
        }
        ++emitted;
    }
    return PollStatus::kData;
}

SourceProgress LineSource::progress() const {
    if (reader_ == nullptr) {
        return {};
    }
    return {reader_->bytes_read(), reader_->total_bytes(), true};
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
            "Progress is reported in bytes of the file as stored.")
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
            return std::unique_ptr<eddy::Source>(
                std::make_unique<eddy::LineSource>(cfg.component(), std::move(options).value(),
                                                   [path](const eddy::LineReader::Options& o) {
                                                       return eddy::LineReader::open(path, o);
                                                   }));
        });
    return spec.build();
}
