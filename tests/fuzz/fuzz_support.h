// SPDX-License-Identifier: Apache-2.0
// Shared by the libFuzzer targets: input splitting, a failure that libFuzzer
// records as a crash, and the properties several targets check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/record.h"

#include "record/event_time.h"
#include "record/json.h"
#include "record/json_decoder.h"
#include "record/line_decoder.h"
#include "topology/diagnostic.h"

namespace eddy::fuzz {

/// The input as text.
inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Calls `f` on each line of `text` (split at '\n', without it), as the line
/// reader hands lines to a decoder; a trailing '\r' is left in the line.
template <class F>
void for_each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        size_t end = text.find('\n');
        f(text.substr(0, end));
        if (end == std::string_view::npos) {
            break;
        }
        text.remove_prefix(end + 1);
    }
}

/// A property the target checks does not hold: report and abort, which
/// libFuzzer saves as a crash with its reproducer.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "eddy fuzz: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

/// Validation's contract: it returns a topology (`validated`) exactly when
/// it reported no error. `text` is the input, for the report.
inline void check_validated(bool validated, const Diagnostics& diags, std::string_view text) {
    if (validated == diags.has_errors()) {
        fail(validated ? "a topology was returned despite errors"
                       : "validation failed without an error",
             text);
    }
}

/// The event time of field `ts` in one of the units, or none, as `choice`
/// (taken modulo their number) picks it.
inline std::optional<EventTimeOptions> event_time_choice(size_t choice) {
    constexpr TimeUnit kUnits[] = {TimeUnit::kAuto, TimeUnit::kMs, TimeUnit::kS,
                                   TimeUnit::kUs,   TimeUnit::kNs, TimeUnit::kIso8601};
    constexpr size_t kChoices = std::size(kUnits) + 1;  // the last: none
    choice %= kChoices;
    if (choice == kChoices - 1) {
        return std::nullopt;
    }
    return EventTimeOptions{"ts", kUnits[choice]};
}

/// Decodes each line of `text` with a LineDecoder made from `options`, as the
/// line sources run it (in csv format, a header row first unless the options
/// fix the columns), and checks every line: an error is a parse_error with a
/// reason, an event time is within the accepted range, and the record
/// re-encodes to JSON that decodes again.
inline void check_decoded_lines(const DecoderOptions& options, std::string_view text) {
    FieldTable table;
    ManualClock clock(1'764'320'000'000);
    LineDecoder decoder(
        options, [&table](std::string_view name) { return table.intern(name); }, clock);
    JsonEncoder encoder([&table](FieldId id) { return table.name(id); });
    JsonDecoder reader([&table](std::string_view name) { return table.intern(name); });
    Batch batch;
    std::string encoded;
    for_each_line(text, [&](std::string_view line) {
        if (decoder.needs_header()) {
            Status h = decoder.read_header(line);
            if (!h.is_ok() && h.code() != StatusCode::kParseError) {
                fail("a header error is not a parse_error", h.to_string());
            }
            return;
        }
        Record& record = batch.append();
        Status s = decoder.decode(line, record);
        if (!s.is_ok()) {
            if (s.code() != StatusCode::kParseError || s.message().empty()) {
                fail("a decode error is not a parse_error with a reason", s.to_string());
            }
            batch.pop_back();
            return;
        }
        if (options.event_time &&
            (record.time() < kMinEventTimeMs || record.time() >= kMaxEventTimeMs)) {
            fail("event time out of range", std::to_string(record.time()));
        }
        encoded.clear();
        encoder.append(record, encoded);
        Record& again = batch.append();
        Status r = reader.decode(encoded, again);
        if (!r.is_ok()) {
            fail("a decoded record re-encodes to JSON that does not decode",
                 r.to_string() + " in " + encoded);
        }
    });
}

}  // namespace eddy::fuzz
