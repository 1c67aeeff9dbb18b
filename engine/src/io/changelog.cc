// SPDX-License-Identifier: Apache-2.0
// The scale-out changelog topic on librdkafka (docs/scale-out.md).
#include "io/changelog.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <utility>

#include <librdkafka/rdkafka.h>

namespace eddy {
namespace {

constexpr uint8_t kMarkerVersion = 1;
constexpr char kMarkerKind = 'm';
constexpr const char* kWriterHeader = "eddy-writer";

void put_u64(std::string& out, uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
}

uint64_t get_u64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | p[i];
    }
    return v;
}

/// The writer and checkpoint of a record: its header, or a marker's value.
std::string stamp(uint64_t writer, uint64_t checkpoint) {
    std::string s;
    put_u64(s, writer);
    put_u64(s, checkpoint);
    return s;
}

/// The opaque of changes: every changelog message has one, so that a
/// transactional sink sharing its producer can tell them from its own.
int64_t g_change = 0;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    Changelog::delivered(m);
}

}  // namespace

Changelog::~Changelog() {
    if (owns_producer_) {
        close_kafka_client(producer_);
    }
    close_kafka_client(consumer_);
}

void Changelog::delivered(const rd_kafka_message_t* m) {
    // A marker's offset goes where its opaque points (-1 when it was not
    // delivered). A failed change shows in commit(): the markers after it
    // are not written either, as the producer is idempotent and fails the
    // rest of the partition's queue.
    if (auto* offset = static_cast<int64_t*>(m->_private);
        offset != nullptr && offset != &g_change) {
        *offset = m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? m->offset : -1;
    }
}

Result<std::unique_ptr<Changelog>> Changelog::open(const KafkaClientOptions& client,
                                                   std::string topic, int32_t partitions,
                                                   uint64_t writer, std::string who,
                                                   rd_kafka_t* producer) {
    std::unique_ptr<Changelog> c(new Changelog());
    c->client_ = client;
    c->topic_ = std::move(topic);
    c->who_ = std::move(who);
    c->partitions_ = partitions;
    c->writer_ = writer;
    if (producer != nullptr) {
        // A transactional sink's: changes and markers join its transaction.
        c->producer_ = producer;
        c->owns_producer_ = false;
    } else {
        KafkaConf conf;
        EDDY_RETURN_IF_ERROR(conf.apply(producer_options(client), c->who_));
        // Retries neither duplicate nor reorder: a partition's records keep the
        // order the checkpoint wrote them in, markers last.
        EDDY_RETURN_IF_ERROR(conf.set("enable.idempotence", "true", c->who_));
        EDDY_RETURN_IF_ERROR(conf.set("linger.ms", "5", c->who_));
        rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
        char errstr[512];
        c->producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
        if (c->producer_ == nullptr) {
            return Status::invalid_argument(c->who_ +
                                            "cannot create the changelog's producer: " + errstr);
        }
        conf.release();
    }

    std::string how = "create it with " + std::to_string(partitions) +
                      " partitions (as many as the input) and cleanup.policy=compact";
    // Records of a checkpoint a crash interrupted stay until a restore has
    // skipped them and re-written what they hid (docs/scale-out.md).
    auto found = ensure_topic(c->producer_, client, c->topic_, partitions,
                              {{"cleanup.policy", "compact"}, {"min.compaction.lag.ms", "3600000"}},
                              c->who_, "the changelog topic", how);
    if (!found.is_ok()) {
        return found.status();
    }
    if (found.value() != partitions) {
        return Status::invalid_argument(
            c->who_ + "the changelog topic '" + c->topic_ + "' has " +
            std::to_string(found.value()) + " partitions but the input has " +
            std::to_string(partitions) + "; they must match: delete it and " + how);
    }
    return c;
}

Status Changelog::produce(int32_t partition, std::string_view key,
                          std::optional<std::string_view> value, uint64_t checkpoint,
                          int64_t* offset) {
    std::string header = stamp(writer_, checkpoint);
    char* payload = value ? const_cast<char*>(value->data()) : nullptr;
    size_t length = value ? value->size() : 0;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
            RD_KAFKA_V_VALUE(payload, length),
            RD_KAFKA_V_HEADER(kWriterHeader, header.data(), static_cast<ssize_t>(header.size())),
            RD_KAFKA_V_OPAQUE(offset), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Status::ok();
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            return Status::io_error(who_ + "writing to the changelog topic '" + topic_ +
                                    "' failed: " + rd_kafka_err2str(err));
        }
        rd_kafka_poll(producer_, 50);
    }
}

Status Changelog::put(int32_t partition, std::string_view key,
                      std::optional<std::string_view> value) {
    return produce(partition, key, value, checkpoint_, &g_change);
}

Status Changelog::wait_delivered() {
    rd_kafka_resp_err_t err = rd_kafka_flush(producer_, 60000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(who_ + "the changelog topic '" + topic_ +
                                "' did not acknowledge the checkpoint's records within 60 s (" +
                                rd_kafka_err2str(err) + ")");
    }
    return Status::ok();
}

Status Changelog::commit(const std::map<int32_t, int64_t>& input_offsets,
                         std::map<int32_t, int64_t>& ends) {
    // Every change first: a marker must not overtake the records it confirms.
    EDDY_RETURN_IF_ERROR(wait_delivered());
    std::vector<int64_t> offsets(input_offsets.size(), -2);
    std::string key(1, kMarkerKind);
    put_u64(key, writer_);
    size_t i = 0;
    for (const auto& [partition, input] : input_offsets) {
        std::string value(1, static_cast<char>(kMarkerVersion));
        value += stamp(writer_, checkpoint_);
        put_u64(value, static_cast<uint64_t>(input));
        EDDY_RETURN_IF_ERROR(produce(partition, key, value, checkpoint_, &offsets[i++]));
    }
    EDDY_RETURN_IF_ERROR(wait_delivered());
    ends.clear();
    i = 0;
    for (const auto& [partition, input] : input_offsets) {
        (void)input;
        if (offsets[i] < 0) {
            return Status::io_error(who_ + "the changelog topic '" + topic_ +
                                    "' refused the checkpoint's marker for partition " +
                                    std::to_string(partition));
        }
        ends[partition] = offsets[i++] + 1;
    }
    return Status::ok();
}

Result<int64_t> Changelog::end_offset(int32_t partition) {
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(producer_, topic_.c_str(), partition, &low, &high,
                                         static_cast<int>(client_.connect_timeout_ms));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(who_ + "cannot ask where partition " + std::to_string(partition) +
                                " of the changelog topic '" + topic_ +
                                "' ends: " + rd_kafka_err2str(err));
    }
    return high;
}

Result<Changelog::Restored> Changelog::read(int32_t partition, const Apply& apply) {
    Restored out;
    auto end = end_offset(partition);
    if (!end.is_ok()) {
        return end.status();
    }
    out.end = end.value();
    if (out.end <= 0) {
        return out;
    }
    if (consumer_ == nullptr) {
        KafkaConf conf;
        EDDY_RETURN_IF_ERROR(conf.apply(client_, who_));
        EDDY_RETURN_IF_ERROR(conf.set("group.id", "eddy-changelog-restore", who_));
        EDDY_RETURN_IF_ERROR(conf.set("enable.auto.commit", "false", who_));
        EDDY_RETURN_IF_ERROR(conf.set("fetch.wait.max.ms", "10", who_));
        // The end as the fetcher sees it: past the commit records and aborted
        // records of transactions, which a read_committed reader never gets.
        EDDY_RETURN_IF_ERROR(conf.set("enable.partition.eof", "true", who_));
        char errstr[512];
        consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
        if (consumer_ == nullptr) {
            return Status::invalid_argument(who_ +
                                            "cannot create the changelog's reader: " + errstr);
        }
        conf.release();
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(consumer_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(who_ + "cannot read the changelog topic '" + topic_ +
                                "': " + rd_kafka_err2str(err));
    }
    // Records wait per writer until a marker of that writer confirms their
    // checkpoint (markers of a writer only grow).
    struct Waiting {
        uint64_t checkpoint;
        std::string key;
        std::optional<std::string> value;
    };
    std::map<uint64_t, std::deque<Waiting>> waiting;
    auto last_read = std::chrono::steady_clock::now();
    int64_t next = 0;
    Status failure = Status::ok();
    while (next < out.end) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 100);
        if (m == nullptr) {
            // Transactions leave control records, and aborted records, that
            // a read_committed reader never sees: its position passes them.
            rd_kafka_topic_partition_list_t* at = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(at, topic_.c_str(), partition);
            if (rd_kafka_position(consumer_, at) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                at->elems[0].offset > next) {
                next = at->elems[0].offset;
                last_read = std::chrono::steady_clock::now();
            }
            rd_kafka_topic_partition_list_destroy(at);
            // A dead process's open transaction holds readers back until
            // Kafka aborts it (transaction.timeout.ms, 60 s by default).
            if (std::chrono::steady_clock::now() - last_read > std::chrono::seconds(90)) {
                failure = Status::io_error(who_ + "reading partition " + std::to_string(partition) +
                                           " of the changelog '" + topic_ + "' stalled at offset " +
                                           std::to_string(next) + " of " + std::to_string(out.end));
                break;
            }
            continue;
        }
        last_read = std::chrono::steady_clock::now();
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                failure = Status::io_error(who_ + "reading the changelog '" + topic_ +
                                           "': " + rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                break;
            }
            next = std::max(next, m->offset);  // an end of partition: its offset
            rd_kafka_message_destroy(m);
            continue;
        }
        next = m->offset + 1;
        ++out.records;
        out.bytes += m->len + m->key_len;
        std::string_view key(static_cast<const char*>(m->key), m->key_len);
        const void* hv = nullptr;
        size_t hn = 0;
        rd_kafka_headers_t* headers = nullptr;
        uint64_t writer = 0;
        uint64_t checkpoint = 0;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(headers, kWriterHeader, &hv, &hn) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            hn == 16) {
            writer = get_u64(static_cast<const unsigned char*>(hv));
            checkpoint = get_u64(static_cast<const unsigned char*>(hv) + 8);
        } else {
            failure = Status::io_error(who_ + "the changelog '" + topic_ + "' holds a record at " +
                                       std::to_string(partition) + "@" + std::to_string(m->offset) +
                                       " that Eddy did not write; the topic must be Eddy's alone");
            rd_kafka_message_destroy(m);
            break;
        }
        if (!key.empty() && key[0] == kMarkerKind) {
            const auto* v = static_cast<const unsigned char*>(m->payload);
            if (m->payload == nullptr || m->len != 25 || v[0] != kMarkerVersion) {
                failure = Status::io_error(
                    who_ + "the changelog '" + topic_ + "' holds a damaged marker at " +
                    std::to_string(partition) + "@" + std::to_string(m->offset));
                rd_kafka_message_destroy(m);
                break;
            }
            out.input_offset = static_cast<int64_t>(get_u64(v + 17));
            std::deque<Waiting>& w = waiting[writer];
            while (failure.is_ok() && !w.empty() && w.front().checkpoint <= checkpoint) {
                const Waiting& r = w.front();
                failure = apply(r.key,
                                r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
                w.pop_front();
            }
            if (!failure.is_ok()) {
                rd_kafka_message_destroy(m);
                break;
            }
        } else {
            std::optional<std::string> value;
            if (m->payload != nullptr) {
                value.emplace(static_cast<const char*>(m->payload), m->len);
            }
            waiting[writer].push_back({checkpoint, std::string(key), std::move(value)});
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(consumer_, nullptr);
    if (!failure.is_ok()) {
        return failure;
    }
    for (auto& [writer, w] : waiting) {
        for (Waiting& r : w) {
            out.unconfirmed.push_back(std::move(r.key));
        }
    }
    return out;
}

}  // namespace eddy
