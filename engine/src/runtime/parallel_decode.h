// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tbb/task_arena.h>

#include "eddy/context.h"
#include "eddy/record.h"

#include "io/file_source.h"
#include "record/line_decoder.h"

namespace eddy {

/// Decodes a line source's lines on a TBB task arena, so that a parallel job
/// parses its input on every core before the first exchange. The lines of one
/// read are cut into chunks of `chunk_lines`; each chunk is decoded by one
/// arena thread into its own batch, and the caller takes the chunks in input
/// order, so records, errors and their order are those of LineSource::poll().
/// Not thread-safe: one instance per source, used by the job's thread.
class ParallelDecoder {
public:
    /// A line that did not decode: the reason, its line number, the line.
    struct Error {
        std::string reason;
        int64_t line = 0;
        size_t index = 0;  ///< In the RawLines decoded.
    };
    struct Chunk {
        Batch records;
        std::vector<Error> errors;
    };

    /// `ctx` is the source's context (its field() must be thread-safe);
    /// `threads` the arena's size, the job's parallelism.
    ParallelDecoder(const LineSource& source, ComponentContext& ctx, int threads,
                    size_t chunk_lines);

    /// How many lines one read should take: two chunks per thread.
    size_t lines_per_read() const { return chunk_lines_ * 2 * static_cast<size_t>(threads_); }
    /// Decodes `lines`; chunks() are then valid until the next call.
    void decode(const RawLines& lines);
    size_t chunks() const { return used_; }
    Chunk& chunk(size_t i) { return chunks_[i]; }

private:
    const LineSource& source_;
    ComponentContext& ctx_;
    int threads_;
    size_t chunk_lines_;
    tbb::task_arena arena_;
    // One per arena slot (tbb::this_task_arena::current_thread_index()), made on first use.
    std::vector<std::unique_ptr<LineDecoder>> decoders_;
    std::vector<Chunk> chunks_;
    size_t used_ = 0;
};

}  // namespace eddy
