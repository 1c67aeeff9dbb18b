// SPDX-License-Identifier: Apache-2.0
// JSON Lines to records, through LineDecoder as the file, stdin and kafka
// sources run it. Input: one byte choosing the event-time unit of field `ts`
// (or none), then lines. Every decoded record must re-encode to JSON that
// decodes again, and carry an event time in the accepted range.
#include <cstddef>
#include <cstdint>
#include <optional>
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

constexpr TimeUnit kUnits[] = {TimeUnit::kAuto, TimeUnit::kMs, TimeUnit::kS,
                               TimeUnit::kUs,   TimeUnit::kNs, TimeUnit::kIso8601};
constexpr size_t kModes = sizeof(kUnits) / sizeof(kUnits[0]) + 1;  // the last: no event time

int fuzz_one(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    DecoderOptions options;
    options.format = LineFormat::kJson;
    size_t mode = data[0] % kModes;
    if (mode < kModes - 1) {
        options.event_time = EventTimeOptions{"ts", kUnits[mode]};
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
