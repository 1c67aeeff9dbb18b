// SPDX-License-Identifier: Apache-2.0
// The scale-out model topic on librdkafka (docs/scale-out.md, "Models").
#include "io/model_topic.h"

#include <chrono>
#include <cstring>

#include <librdkafka/rdkafka.h>

namespace eddy {
namespace {

// A chunk's value: the magic, then the publication's version (u64), the
// chunk's number and the chunk count (u32 each, big-endian), then its bytes.
// A model's own encoding starts with its codec's version byte, never 0xff.
constexpr std::string_view kChunkMagic =
    "\xff"
    "eddy-chunk";
constexpr size_t kChunkHeader = kChunkMagic.size() + 8 + 4 + 4;
constexpr char kChunkKeyMark = '\x01';

void put_be(std::string& out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

uint64_t get_be(std::string_view in, size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
        v = (v << 8) | static_cast<uint8_t>(in[at + static_cast<size_t>(i)]);
    }
    return v;
}

}  // namespace

ModelTopic::~ModelTopic() {
    close_kafka_client(producer_);
    close_kafka_client(consumer_);
}

Result<std::unique_ptr<ModelTopic>> ModelTopic::open(const KafkaClientOptions& client,
                                                     std::string topic, std::string who) {
    std::unique_ptr<ModelTopic> t(new ModelTopic());
    t->client_ = client;
    t->topic_ = std::move(topic);
    t->who_ = std::move(who);
    char errstr[512];
    {
        KafkaConf conf;
        EDDY_RETURN_IF_ERROR(conf.apply(producer_options(client), t->who_));
        EDDY_RETURN_IF_ERROR(conf.set("linger.ms", "5", t->who_));
        t->producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
        if (t->producer_ == nullptr) {
            return Status::invalid_argument(t->who_ +
                                            "cannot create the model topic's producer: " + errstr);
        }
        conf.release();
    }
    auto partitions =
        // Models larger than a record are split (kChunkBytes), so Kafka's
        // default max.message.bytes does.
        ensure_topic(t->producer_, client, t->topic_, 1, {{"cleanup.policy", "compact"}}, t->who_,
                     "the model topic", "create it with cleanup.policy=compact (one partition)");
    if (!partitions.is_ok()) {
        return partitions.status();
    }
    {
        KafkaConf conf;
        EDDY_RETURN_IF_ERROR(conf.apply(client, t->who_));
        // Assigned, never subscribed: the group id only names the reader.
        EDDY_RETURN_IF_ERROR(conf.set("group.id", "eddy-models", t->who_));
        EDDY_RETURN_IF_ERROR(conf.set("enable.auto.commit", "false", t->who_));
        EDDY_RETURN_IF_ERROR(conf.set("fetch.wait.max.ms", "50", t->who_));
        t->consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
        if (t->consumer_ == nullptr) {
            return Status::invalid_argument(t->who_ +
                                            "cannot create the model topic's reader: " + errstr);
        }
        conf.release();
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions.value());
    for (int32_t p = 0; p < partitions.value(); ++p) {
        rd_kafka_topic_partition_list_add(list, t->topic_.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(t->consumer_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(t->who_ + "cannot read the model topic '" + t->topic_ +
                                "': " + rd_kafka_err2str(err));
    }
    return t;
}

Status ModelTopic::publish(std::string_view key, std::string_view value) {
    if (value.size() <= kChunkBytes) {
        return produce(key, value);
    }
    // Versions grow with the wall clock (and within a millisecond), so a
    // restarted process's publications are newer than its last run's.
    auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
    last_version_ = std::max(last_version_ + 1, now << 16);
    const size_t count = (value.size() + kChunkBytes - 1) / kChunkBytes;
    std::string chunk_key;
    std::string framed;
    for (size_t i = 0; i < count; ++i) {
        chunk_key.assign(key);
        chunk_key.push_back(kChunkKeyMark);
        chunk_key.append(std::to_string(i));
        framed.assign(kChunkMagic);
        put_be(framed, last_version_, 8);
        put_be(framed, i, 4);
        put_be(framed, count, 4);
        framed.append(value.substr(i * kChunkBytes, kChunkBytes));
        EDDY_RETURN_IF_ERROR(produce(chunk_key, framed));
    }
    return Status::ok();
}

Status ModelTopic::produce(std::string_view key, std::string_view value) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Status::ok();
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            return Status::io_error(who_ + "publishing to the model topic '" + topic_ +
                                    "' failed: " + rd_kafka_err2str(err));
        }
        rd_kafka_poll(producer_, 50);
    }
}

Status ModelTopic::flush() {
    rd_kafka_resp_err_t err = rd_kafka_flush(producer_, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(who_ + "the model topic '" + topic_ +
                                "' did not acknowledge the models within 10 s (" +
                                rd_kafka_err2str(err) + ")");
    }
    return Status::ok();
}

Status ModelTopic::read(std::map<std::string, Entry, std::less<>>& latest) {
    Status failure = Status::ok();
    while (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 0)) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key != nullptr) {
            std::string key(static_cast<const char*>(m->key), m->key_len);
            std::string_view payload(static_cast<const char*>(m->payload),
                                     m->payload != nullptr ? m->len : 0);
            rd_kafka_timestamp_type_t type;
            int64_t time_ms = rd_kafka_message_timestamp(m, &type);
            if (size_t mark = key.rfind(kChunkKeyMark); mark != std::string::npos &&
                                                        payload.starts_with(kChunkMagic) &&
                                                        payload.size() >= kChunkHeader) {
                key.resize(mark);
                add_chunk(key, payload, time_ms, latest);
                rd_kafka_message_destroy(m);
                continue;
            }
            // A whole model replaces any split one being put together.
            pending_.erase(key);
            Entry& e = latest[key];
            if (m->payload != nullptr) {
                e.value.assign(static_cast<const char*>(m->payload), m->len);
            } else {
                e.value.clear();  // a tombstone: the model was withdrawn
            }
            e.time_ms = time_ms;
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && failure.is_ok()) {
            failure = Status::io_error(who_ + "reading the model topic '" + topic_ +
                                       "' failed: " + rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    return failure;
}

void ModelTopic::add_chunk(const std::string& key, std::string_view framed, int64_t time_ms,
                           std::map<std::string, Entry, std::less<>>& latest) {
    const size_t at = kChunkMagic.size();
    uint64_t version = get_be(framed, at, 8);
    auto index = static_cast<size_t>(get_be(framed, at + 8, 4));
    auto count = static_cast<size_t>(get_be(framed, at + 12, 4));
    if (count == 0 || index >= count || count > (1u << 20)) {
        return;  // not a chunk we wrote
    }
    Pending& p = pending_[key];
    if (version < p.version) {
        return;  // an older publication's chunk that compaction has kept
    }
    if (version > p.version || p.chunks.size() != count) {
        p = Pending{version, std::vector<std::string>(count), std::vector<bool>(count, false), 0};
    }
    if (!p.have[index]) {
        p.chunks[index].assign(framed.substr(kChunkHeader));
        p.have[index] = true;
        ++p.received;
    }
    if (p.received < count) {
        return;
    }
    Entry& e = latest[key];
    e.value.clear();
    for (const std::string& chunk : p.chunks) {
        e.value.append(chunk);
    }
    e.time_ms = time_ms;
    pending_.erase(key);
}

}  // namespace eddy
