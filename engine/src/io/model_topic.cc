// SPDX-License-Identifier: Apache-2.0
// The scale-out model topic on librdkafka (docs/scale-out.md, "Models").
#include "io/model_topic.h"

#include <librdkafka/rdkafka.h>

namespace eddy {

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
        // A model is a few kB to a few MB (k-means centroids and their seed buffer).
        EDDY_RETURN_IF_ERROR(conf.set("message.max.bytes", "16777216", t->who_));
        t->producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
        if (t->producer_ == nullptr) {
            return Status::invalid_argument(t->who_ +
                                            "cannot create the model topic's producer: " + errstr);
        }
        conf.release();
    }
    auto partitions =
        ensure_topic(t->producer_, client, t->topic_, 1,
                     {{"cleanup.policy", "compact"}, {"max.message.bytes", "16777216"}}, t->who_,
                     "the model topic",
                     "create it with cleanup.policy=compact and max.message.bytes=16777216 "
                     "(one partition)");
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
            Entry& e = latest[std::string(static_cast<const char*>(m->key), m->key_len)];
            if (m->payload != nullptr) {
                e.value.assign(static_cast<const char*>(m->payload), m->len);
            } else {
                e.value.clear();  // a tombstone: the model was withdrawn
            }
            rd_kafka_timestamp_type_t type;
            e.time_ms = rd_kafka_message_timestamp(m, &type);
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && failure.is_ok()) {
            failure = Status::io_error(who_ + "reading the model topic '" + topic_ +
                                       "' failed: " + rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    return failure;
}

}  // namespace eddy
