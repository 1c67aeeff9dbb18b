// SPDX-License-Identifier: Apache-2.0
// CSV lines to records, through LineDecoder as the line sources run it. Input:
// one byte choosing the delimiter (bits 0-1), a header row or fixed columns
// (bit 2) and the event-time unit of field `ts` or none (the rest), then lines;
// with a header row the first line is the header. Every decoded record must
// encode to JSON that decodes again, with an event time in the accepted range.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "record/line_decoder.h"

namespace eddy {
namespace {

constexpr char kDelimiters[] = {',', ';', '\t', '|'};

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
    options.event_time = fuzz::event_time_choice(mode >> 3);
    fuzz::check_decoded_lines(options, fuzz::as_text(data + 1, size - 1));
    return 0;
}

}  // namespace
}  // namespace eddy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return eddy::fuzz_one(data, size);
}
