// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eddy/status.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

namespace eddy {

/// Engine-internal, not part of the SDK: what the runtime needs from the
/// kafka connectors for one Kafka transaction per checkpoint (docs/kafka.md,
/// "Transactions"). The runtime finds these interfaces on the built-in kafka
/// sink and source with dynamic_cast.

/// Where a consumer's group has read a topic to: sent with a transaction.
struct GroupOffsets {
    rd_kafka_t* consumer = nullptr;  ///< Its group metadata goes with the offsets.
    std::string topic;
    std::map<int32_t, int64_t> next;  ///< Partition -> the next offset to read.
};

/// A kafka sink with `transactional: true`.
class KafkaTransactionalSink {
public:
    virtual ~KafkaTransactionalSink() = default;
    virtual bool transactional() const = 0;
    /// Before open(): the transactional.id. Stable for a state dir, so that
    /// a restarted process fences what its previous run left open.
    virtual void set_transactional_id(std::string id) = 0;
    /// After open(): the producer, its transaction open. Others (the
    /// changelog) may produce through it; the delivery reports of messages
    /// with a non-null opaque go to `foreign`.
    virtual rd_kafka_t* transaction_producer() = 0;
    virtual void set_foreign_delivery(void (*foreign)(const rd_kafka_message_t*)) = 0;
    /// Before open(), on a sink that is not transactional itself: write
    /// through `owner`'s producer, in its transactions, rather than with a
    /// producer of its own (a repartition topic's writer, docs/scale-out.md).
    /// False, with the reason in `why`, when it cannot: another cluster, or
    /// on_error: errors. `owner` must open before this sink and close after
    /// it; delivery reports then reach either sink on whichever thread polls.
    virtual bool write_through(KafkaTransactionalSink& owner, std::string& why) = 0;
    /// Sends `offsets` with the open transaction, commits it and begins the
    /// next. A failed commit aborts the transaction: its records are never
    /// visible to readers with isolation.level=read_committed.
    virtual Status commit_transaction(const std::vector<GroupOffsets>& offsets) = 0;
};

/// A kafka source in a consumer group.
class KafkaGroupSource {
public:
    virtual ~KafkaGroupSource() = default;
    virtual rd_kafka_t* group_consumer() = 0;
    /// From now on its offsets reach the group only through transactions,
    /// not after each checkpoint.
    virtual void commit_through_transactions() = 0;
};

}  // namespace eddy
