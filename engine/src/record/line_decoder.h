// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/clock.h"
#include "eddy/config.h"
#include "eddy/context.h"
#include "eddy/record.h"
#include "eddy/spec.h"
#include "eddy/status.h"

#include "record/event_time.h"
#include "record/field_cache.h"

namespace eddy {

class JsonDecoder;
class CsvDecoder;

/// How a line (or a message) becomes a record.
enum class LineFormat { kJson, kCsv, kRaw };

/// "json", "csv" or "raw".
const char* line_format_name(LineFormat format);

/// The decoding parameters shared by line-oriented sources (file, stdin, kafka).
struct DecoderOptions {
    LineFormat format = LineFormat::kJson;
    /// Where event time comes from; none: records get the ingestion time.
    std::optional<EventTimeOptions> event_time;
    /// Longer lines are reported and skipped. Default: 1MB.
    uint64_t max_line_bytes = 1 << 20;
    char csv_delimiter = ',';
    /// Column names for csv input without a header row; empty: the first line is the header.
    std::vector<std::string> csv_columns;
};

/// Declares the shared decoder parameters on a source spec: `format`
/// (json|csv|raw, default json), `event_time` ({field, unit}), `max_line_bytes`
/// (default 1MB), `csv_delimiter` (default ","), `csv_columns`; and a rule that
/// reports what decoder_options() rejects.
void add_decoder_params(SourceSpec& spec);

/// Reads and validates the parameters declared by add_decoder_params(). Errors
/// (invalid_argument) name the component, the parameter and its place: unknown
/// `event_time` keys, a missing `field`, a unit outside kTimeUnitNames, a
/// `csv_delimiter` that is not one character.
Result<DecoderOptions> decoder_options(const Config& cfg);

/// Turns one line into one record: format decoding, then event time (the
/// configured field, or the ingestion time from the clock). Errors never stop a
/// job: the caller discards the record and sends the reason to `errors`.
/// Not thread-safe: one decoder per thread; `resolve` and `clock` must outlive it.
class LineDecoder {
public:
    LineDecoder(DecoderOptions options, FieldResolver resolve, const Clock& clock);
    /// Resolves field names through ctx.field() and reads ctx.clock(); `ctx`
    /// must outlive the decoder.
    LineDecoder(DecoderOptions options, ComponentContext& ctx);
    ~LineDecoder();
    LineDecoder(const LineDecoder&) = delete;
    LineDecoder& operator=(const LineDecoder&) = delete;

    /// True in csv format until a header row was read (never with csv_columns).
    bool needs_header() const;
    /// Reads the csv header row. Call instead of decode() while needs_header().
    Status read_header(std::string_view line);

    /// Decodes `line` (without its newline) into `out`, an empty record, and
    /// sets its time. On error (parse_error, with a reason fit for the `errors`
    /// output) `out` may be partly filled: discard it.
    Status decode(std::string_view line, Record& out);

    const DecoderOptions& options() const { return options_; }

private:
    DecoderOptions options_;
    const Clock& clock_;
    std::unique_ptr<JsonDecoder> json_;
    std::unique_ptr<CsvDecoder> csv_;
    FieldId message_ = kInvalidField;
    FieldId time_field_ = kInvalidField;
};

}  // namespace eddy
