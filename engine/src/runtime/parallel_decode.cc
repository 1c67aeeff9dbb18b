// SPDX-License-Identifier: Apache-2.0
#include "runtime/parallel_decode.h"

#include <algorithm>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace eddy {

ParallelDecoder::ParallelDecoder(const LineSource& source, ComponentContext& ctx, int threads,
                                 size_t chunk_lines)
    : source_(source),
      ctx_(ctx),
      threads_(std::max(threads, 1)),
      chunk_lines_(std::max<size_t>(chunk_lines, 1)),
      arena_(threads_) {
    arena_.initialize();
    decoders_.resize(static_cast<size_t>(arena_.max_concurrency()));
}

void ParallelDecoder::decode(const RawLines& lines) {
    used_ = (lines.size() + chunk_lines_ - 1) / chunk_lines_;
    if (chunks_.size() < used_) {
        chunks_.resize(used_);
    }
    arena_.execute([&] {
        // One chunk per task: a chunk is large enough (about 1024 lines) to
        // amortize the task, and chunks keep their own batches.
        tbb::parallel_for(
            tbb::blocked_range<size_t>(0, used_, 1),
            [&](const tbb::blocked_range<size_t>& range) {
                int slot = tbb::this_task_arena::current_thread_index();
                std::unique_ptr<LineDecoder>& decoder = decoders_[static_cast<size_t>(slot)];
                if (decoder == nullptr) {
                    decoder = source_.new_decoder(ctx_);
                }
                for (size_t c = range.begin(); c != range.end(); ++c) {
                    Chunk& chunk = chunks_[c];
                    chunk.records.clear();
                    chunk.errors.clear();
                    size_t end = std::min(lines.size(), (c + 1) * chunk_lines_);
                    for (size_t i = c * chunk_lines_; i < end; ++i) {
                        if (lines.spans[i].skipped) {
                            continue;
                        }
                        Record& record = chunk.records.append();
                        Status s = decoder->decode(lines.text(i), record);
                        if (!s.is_ok()) {
                            chunk.records.pop_back();
                            chunk.errors.push_back({s.message(), lines.spans[i].number, i});
                        }
                    }
                }
            },
            tbb::simple_partitioner());
    });
}

}  // namespace eddy
