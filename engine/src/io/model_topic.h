// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/status.h"

#include "io/kafka_common.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace eddy {

/// A job's model topic for scale-out (docs/scale-out.md, "Models"): a
/// compacted topic where each process publishes its operator-wide models
/// (one record per model and process, keyed by both, so compaction keeps
/// each process's latest) and reads the others'. A model larger than
/// kChunkBytes goes as several records (key + "\x01" + chunk number, each
/// value framed with the publication's version and the chunk count), which
/// read() puts together again. Not thread-safe.
class ModelTopic {
public:
    /// The largest record value; a larger model is split. Below Kafka's
    /// default max.message.bytes (1 MB), so a topic created by hand with
    /// defaults takes it.
    static constexpr size_t kChunkBytes = 900 * 1024;

    ~ModelTopic();
    ModelTopic(const ModelTopic&) = delete;
    ModelTopic& operator=(const ModelTopic&) = delete;

    /// Connects, creates `topic` (compacted, one partition) unless it
    /// exists, and starts reading it from its beginning. `who` prefixes
    /// errors ("source 'clicks': ").
    static Result<std::unique_ptr<ModelTopic>> open(const KafkaClientOptions& client,
                                                    std::string topic, std::string who);

    const std::string& topic() const { return topic_; }

    /// Queues one model; flush() sends what is queued.
    Status publish(std::string_view key, std::string_view value);
    /// Waits until every published model is acknowledged.
    Status flush();

    /// A model as last published under its key, and when (the record's
    /// timestamp, epoch ms).
    struct Entry {
        std::string value;
        int64_t time_ms = 0;
    };
    /// Adds what has arrived since the last call to `latest` (the last
    /// record of a key replaces the one before; a split model once all its
    /// chunks of one publication have arrived), without waiting for more.
    Status read(std::map<std::string, Entry, std::less<>>& latest);

private:
    ModelTopic() = default;
    Status produce(std::string_view key, std::string_view value);
    /// One chunk of a split model arrived under `key` (the model's key).
    void add_chunk(const std::string& key, std::string_view framed, int64_t time_ms,
                   std::map<std::string, Entry, std::less<>>& latest);

    /// A split model being put together: the chunks of its newest publication.
    struct Pending {
        uint64_t version = 0;
        std::vector<std::string> chunks;
        std::vector<bool> have;
        size_t received = 0;
    };
    std::map<std::string, Pending, std::less<>> pending_;
    uint64_t last_version_ = 0;

    KafkaClientOptions client_;
    std::string topic_;
    std::string who_;
    rd_kafka_t* producer_ = nullptr;
    rd_kafka_t* consumer_ = nullptr;
};

}  // namespace eddy
