// SPDX-License-Identifier: Apache-2.0
// JSON line <-> Record, the source's and the file sink's per-record work, on
// generated clickstream lines (about 310 bytes, 13 fields). Items are lines;
// bytes/s counts the JSON text.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "record/json.h"
#include "record/json_decoder.h"
#include "record/line_decoder.h"
#include "support.h"

namespace eddy::bench {
namespace {

const std::vector<std::string>& lines() {
    static const std::vector<std::string> out = [] {
        std::vector<std::string> text;
        JsonEncoder encoder([](FieldId id) { return fields().name(id); });
        for (const Batch& b : events(50'000, 10'000).batches) {
            for (size_t i = 0; i < b.size(); ++i) {
                encoder.append(b[i], text.emplace_back());
            }
        }
        return text;
    }();
    return out;
}

size_t bytes_of(const std::vector<std::string>& text) {
    size_t n = 0;
    for (const std::string& l : text) {
        n += l.size() + 1;
    }
    return n;
}

/// Decodes the sample lines one after the other into a reused batch.
template <class Decoder>
void decode_lines(benchmark::State& state, Decoder& decoder) {
    const auto& text = lines();
    Batch batch;
    size_t i = 0;
    for (auto _ : state) {
        if (batch.full()) {
            batch.clear();
        }
        Status s = decoder.decode(text[i], batch.append());
        benchmark::DoNotOptimize(s);
        if (++i == text.size()) {
            i = 0;
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(
        static_cast<int64_t>(bytes_of(text) * state.iterations() / text.size()));
}

/// JsonDecoder (simdjson DOM) alone: a line's fields into a record.
void BM_JsonDecode(benchmark::State& state) {
    JsonDecoder decoder([](std::string_view n) { return fields().intern(n); });
    decode_lines(state, decoder);
}
BENCHMARK(BM_JsonDecode);

/// LineDecoder with `event_time: {field: ts, unit: ms}`: what the file source
/// does per line (decode, then the event time).
void BM_LineDecode(benchmark::State& state) {
    DecoderOptions options;
    options.event_time = EventTimeOptions{"ts", TimeUnit::kMs};
    LineDecoder decoder(
        options, [](std::string_view n) { return fields().intern(n); }, Clock::system());
    decode_lines(state, decoder);
}
BENCHMARK(BM_LineDecode);

/// JsonEncoder: a record to a JSON line, as the file sink writes it.
void BM_JsonEncode(benchmark::State& state) {
    const Events& input = events(50'000, 10'000);
    JsonEncoder encoder([](FieldId id) { return fields().name(id); });
    std::string out;
    size_t b = 0;
    size_t i = 0;
    size_t bytes = 0;
    for (auto _ : state) {
        out.clear();
        encoder.append(input.batches[b][i], out);
        bytes += out.size() + 1;
        if (++i == input.batches[b].size()) {
            i = 0;
            b = (b + 1) % input.batches.size();
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_JsonEncode);

}  // namespace
}  // namespace eddy::bench
