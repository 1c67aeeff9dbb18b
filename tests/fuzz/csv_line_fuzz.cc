// SPDX-License-Identifier: Apache-2.0
// CSV lines to records, through LineDecoder as the line sources run it. Input:
// one byte choosing the delimiter (bits 0-1), a header row or fixed columns
// (bit 2) and the event-time unit of field `ts` or none (the rest), then lines;
// with a header row the first line is the header. Every decoded record must
// encode to JSON that decodes again, with an event time in the accepted range.
#include <cstddef>
#include <cstdint>
#include <string>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/record.h"

#include "fuzz_support.h"
#include "record/event_time.h"
#include "record/json.h"
#include "record/json_decoder.h"
#include "record/line_decoder.h"

namespace eddy {
namespace {

constexpr char kDelimiters[] = {',', ';', '\t', '|'};
constexpr TimeUnit kUnits[] = {TimeUnit::kAuto, TimeUnit::kMs, TimeUnit::kS,
                               TimeUnit::kUs,   TimeUnit::kNs, TimeUnit::kIso8601};
constexpr size_t kTimeModes = sizeof(kUnits) / sizeof(kUnits[0]) + 1;  // the last: none

int fuzz_one(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const uint8_t mode = data[0];
    DecoderOptions options;
    options.format = LineFormat::kCsv;
    options.csv_delimiter = kDelimiters[mode & 3];
    if ((mode & 4) != 0) {
        options.csv_columns = {"ts", "user_id", "type", "item_id", "dwell_ms", "scroll_pct"};
    }
    size_t time_mode = (mode >> 3) % kTimeModes;
    if (time_mode < kTimeModes - 1) {
        options.event_time = EventTimeOptions{"ts", kUnits[time_mode]};
    }
    FieldTable table;
    ManualClock clock(1'764'320'000'000);
    LineDecoder decoder(
        options, [&table](std::string_view name) { return table.intern(name); }, clock);
    JsonEncoder encoder([&table](FieldId id) { return table.name(id); });
    JsonDecoder reader([&table](std::string_view name) { return table.intern(name); });
    Batch batch;
    std::string encoded;
    fuzz::for_each_line(fuzz::as_text(data + 1, size - 1), [&](std::string_view line) {
        if (decoder.needs_header()) {
            Status h = decoder.read_header(line);
            if (!h.is_ok() && h.code() != StatusCode::kParseError) {
                fuzz::fail("a header error is not a parse_error", h.to_string());
            }
            return;
        }
        Record& record = batch.append();
        Status s = decoder.decode(line, record);
        if (!s.is_ok()) {
            if (s.code() != StatusCode::kParseError || s.message().empty()) {
                fuzz::fail("a decode error is not a parse_error with a reason", s.to_string());
            }
            batch.pop_back();
            return;
        }
        if (options.event_time &&
            (record.time() < kMinEventTimeMs || record.time() >= kMaxEventTimeMs)) {
            fuzz::fail("event time out of range", std::to_string(record.time()));
        }
        encoded.clear();
        encoder.append(record, encoded);
        Record& again = batch.append();
        Status r = reader.decode(encoded, again);
        if (!r.is_ok()) {
            fuzz::fail("a decoded record re-encodes to JSON that does not decode",
                       r.to_string() + " in " + encoded);
        }
    });
    return 0;
}

}  // namespace
}  // namespace eddy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return eddy::fuzz_one(data, size);
}
