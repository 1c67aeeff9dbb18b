// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/status.h"

#include "io/kafka_common.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

namespace eddy {

/// A job's changelog topic for scale-out (docs/scale-out.md): a compacted
/// topic partitioned like the input, where each checkpoint appends the keyed
/// state changes of every partition the process owns and then, per
/// partition, a commit marker holding the input offset the state has read
/// up to. Records and markers carry the writer (a random id per process run)
/// and the checkpoint id; a record counts only when a later marker of its
/// writer confirms its checkpoint, so the records of a checkpoint that a
/// crash interrupted are skipped on restore. Not thread-safe.
class Changelog {
public:
    ~Changelog();
    Changelog(const Changelog&) = delete;
    Changelog& operator=(const Changelog&) = delete;

    /// Connects, and creates `topic` (compacted, `partitions` partitions)
    /// unless it exists; one that exists with another partition count is an
    /// error. `who` prefixes errors ("source 'clicks': "). With `producer`
    /// (a transactional sink's, which outlives this), changes and markers
    /// go through it, in its transactions, and its delivery reports of them
    /// must reach delivered().
    static Result<std::unique_ptr<Changelog>> open(const KafkaClientOptions& client,
                                                   std::string topic, int32_t partitions,
                                                   uint64_t writer, std::string who,
                                                   rd_kafka_t* producer = nullptr);

    /// The delivery report of a changelog message.
    static void delivered(const rd_kafka_message_t* m);

    const std::string& topic() const { return topic_; }

    /// The changes put() from now on belong to checkpoint `checkpoint`.
    void begin(uint64_t checkpoint) { checkpoint_ = checkpoint; }
    /// Queues one change of the checkpoint being written; `value` nullopt
    /// is a deletion (a tombstone), and so is an empty value: Kafka has no
    /// empty values apart from null. Keys starting with 'm' are reserved.
    Status put(int32_t partition, std::string_view key, std::optional<std::string_view> value);

    /// Completes the checkpoint begun: waits until every queued change is
    /// acknowledged, then writes a marker to each partition of
    /// `input_offsets` (the next input offset of each, -1 when none was read)
    /// and waits for those. On success `ends` holds each marked partition's
    /// end offset, right after its marker.
    Status commit(const std::map<int32_t, int64_t>& input_offsets,
                  std::map<int32_t, int64_t>& ends);

    /// The end offset (high watermark) of a partition, asked of its leader.
    Result<int64_t> end_offset(int32_t partition);

    /// What reading a partition found: the input offset of the last marker
    /// (-1: none), the end offset read to, and the keys whose last records
    /// nobody confirmed (skipped).
    struct Restored {
        int64_t input_offset = -1;
        int64_t end = 0;
        uint64_t records = 0;
        uint64_t bytes = 0;
        std::vector<std::string> unconfirmed;
    };
    /// A confirmed record, in log order; `value` nullopt is a deletion.
    using Apply =
        std::function<Status(std::string_view key, std::optional<std::string_view> value)>;
    /// Reads a partition from its start to its current end, calling `apply`
    /// for each record once a marker confirms it (so a key may come several
    /// times; the last call holds). Memory holds only unconfirmed records.
    /// A failed `apply` stops the read with its status.
    Result<Restored> read(int32_t partition, const Apply& apply);

private:
    Changelog() = default;
    Status produce(int32_t partition, std::string_view key, std::optional<std::string_view> value,
                   uint64_t checkpoint, int64_t* offset);
    Status wait_delivered();

    KafkaClientOptions client_;
    std::string topic_;
    std::string who_;
    int32_t partitions_ = 0;
    uint64_t writer_ = 0;
    uint64_t checkpoint_ = 0;  // the checkpoint that put() records belong to
    rd_kafka_t* producer_ = nullptr;
    bool owns_producer_ = true;
    rd_kafka_t* consumer_ = nullptr;
};

}  // namespace eddy
