// SPDX-License-Identifier: Apache-2.0
// JSON Lines to records, through LineDecoder as the file, stdin and kafka
// sources run it. Input: one byte choosing the event-time unit of field `ts`
// (or none), then lines. Every decoded record must re-encode to JSON that
// decodes again, and carry an event time in the accepted range.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "record/line_decoder.h"

namespace eddy {
namespace {

int fuzz_one(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    DecoderOptions options;
    options.format = LineFormat::kJson;
    options.event_time = fuzz::event_time_choice(data[0]);
    fuzz::check_decoded_lines(options, fuzz::as_text(data + 1, size - 1));
    return 0;
}

}  // namespace
}  // namespace eddy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return eddy::fuzz_one(data, size);
}
