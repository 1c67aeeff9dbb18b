// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/context.h"
#include "eddy/record.h"
#include "eddy/status.h"

namespace eddy {

/// Where a source puts what it read. Records must carry their event time.
class SourceEmitter {
public:
    virtual ~SourceEmitter() = default;
    /// A new, empty record on the main output, to be filled by the caller.
    virtual Record& append() = 0;
    /// Drops the record most recently returned by append() (a decode failed).
    virtual void discard_last() = 0;
    /// Input that could not become a record: goes to the source's `errors`
    /// output with the reason, the position (line number or offset) and up to
    /// 1 KiB of the raw input. Counted; never stops the job.
    virtual void error(std::string_view reason, int64_t position, std::string_view raw) = 0;
    /// For sources that read several independent splits (Kafka partitions):
    /// the records appended from now on, until the next call, come from
    /// `split` (small dense ids from 0). Each split keeps its own largest
    /// event time and the source's watermark is the minimum over the splits
    /// that had data within the watermark's idle_timeout, so a lagging split
    /// holds time back and an idle one does not. Call it again in each poll;
    /// a source that never calls it is one split.
    virtual void set_split(uint32_t split) { (void)split; }
};

/// What a poll produced.
enum class PollStatus {
    kData,  ///< Records (or errors) were emitted; poll again soon.
    kIdle,  ///< Nothing available now; the runtime waits a little and polls again.
    kEnd,   ///< The input is exhausted; poll is not called again.
};

/// How far a finite source has come, for the progress line.
struct SourceProgress {
    uint64_t done = 0;   ///< Bytes (or records) consumed so far.
    uint64_t total = 0;  ///< 0 when unknown (a pipe, an endless source).
    bool bytes = true;   ///< Whether the units are bytes (else records).
};

/// A source of records. Called by one thread at a time. poll() must not block
/// for long (at most ~100 ms) so that the job can stop promptly.
class Source {
public:
    virtual ~Source() = default;
    virtual Status open(ComponentContext& ctx) = 0;
    /// Emits up to `max_records` records. A Status that is not ok is a fatal
    /// failure of the source (unreadable file); bad data goes to error().
    virtual Result<PollStatus> poll(SourceEmitter& out, size_t max_records) = 0;
    virtual SourceProgress progress() const { return {}; }
    virtual Status close() { return Status::ok(); }

    /// Whether position() and seek() are supported (a pipe cannot rewind).
    virtual bool resumable() const { return false; }
    /// Appends an opaque encoding of how far the source has read (everything
    /// emitted so far is before it) to `out`. Called between polls, at
    /// checkpoints.
    virtual void position(std::string& out) const { (void)out; }
    /// Continues after a position that position() produced, so that the next
    /// poll emits the first record that was not emitted before it. Called once,
    /// after open() and before the first poll. A position that does not fit
    /// the input (the file shrank) is an error naming the source.
    virtual Status seek(std::string_view position) {
        (void)position;
        return Status::unsupported("this source cannot resume from a position");
    }
    /// Called on the polling thread after a checkpoint holding the last
    /// position() was made durable: the source may acknowledge its input
    /// upstream (the kafka source commits its offsets to the group).
    virtual void checkpointed() {}

    // Scale-out (docs/scale-out.md): a source whose input is split into
    // partitions that several processes share, each partition's keyed state
    // moving with it. Only the runtime calls these, on the polling thread.

    /// How many partitions the input has; 0 for a source that does not scale
    /// out. Known after open().
    virtual int32_t partition_count() const { return 0; }
    /// The partitions this process gains or loses, waiting for the runtime,
    /// or nothing. Asked after every poll(). Once a change is pending, the
    /// source emits nothing more from revoked partitions, and nothing from
    /// assigned ones, until complete_change().
    struct PartitionChange {
        bool assigned = false;  ///< Gained; else revoked.
        std::vector<int32_t> partitions;
    };
    virtual bool pending_change(PartitionChange& change) {
        (void)change;
        return false;
    }
    /// The runtime has moved the state of the pending change: revoked
    /// partitions were checkpointed and their state dropped; assigned ones
    /// had their state restored, and `resume` says where each continues (a
    /// partition without an entry starts where the source would start it).
    virtual Status complete_change(const std::map<int32_t, int64_t>& resume) {
        (void)resume;
        return Status::ok();
    }
    /// The next offset to read of a partition this process owns (everything
    /// before it was emitted), or -1 when nothing of it was read.
    virtual int64_t partition_offset(int32_t partition) const {
        (void)partition;
        return -1;
    }
};

/// What a sink can ask the runtime: everything a component can, plus a way
/// to hand back records it could not write. Valid until close().
class SinkContext : public ComponentContext {
public:
    /// A new record on the sink's `errors` output, with `error` set to
    /// `reason` and `error_component` to the sink's name, for the caller to
    /// fill (e.g. from a message that was not delivered). Call only from
    /// write(), flush() or close(): the runtime passes the records on when
    /// the call returns. Counted in the sink's errors.
    virtual Record& reject(std::string_view reason) = 0;
    /// A copy of `record` on the `errors` output, as above.
    virtual void reject(const Record& record, std::string_view reason) = 0;
};

/// A destination of records. Called by one thread at a time.
class Sink {
public:
    virtual ~Sink() = default;
    virtual Status open(SinkContext& ctx) = 0;
    /// Writes the batch; may buffer. A failure stops the job.
    virtual Status write(const Batch& batch) = 0;
    /// Makes everything written so far durable or visible.
    virtual Status flush() { return Status::ok(); }
    /// Flushes and releases resources. Called once.
    virtual Status close() { return flush(); }
};

}  // namespace eddy
