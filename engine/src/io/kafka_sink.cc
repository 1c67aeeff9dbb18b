// SPDX-License-Identifier: Apache-2.0
// The `kafka` sink: an idempotent librdkafka producer whose delivery reports
// are checked before every checkpoint completes, or, with `transactional`,
// a transactional one whose transaction each checkpoint commits
// (docs/kafka.md).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "eddy/registry.h"
#include "eddy/source.h"

#include "io/kafka_common.h"
#include "io/kafka_transaction.h"
#include "record/json.h"
#include "record/json_decoder.h"
#include "record/utf8.h"

namespace eddy {
namespace {

constexpr int kQueueFullWaitMs = 100;

struct KafkaSinkOptions {
    KafkaClientOptions client;
    std::string topic;
    std::string topic_field;
    std::string key_field;
    std::vector<std::pair<std::string, std::string>> headers;  // header name, field
    std::vector<std::string> id_fields;
    bool fail_on_error = true;
    bool event_timestamp = false;  // timestamp: event_time
    bool transactional = false;
    int64_t flush_timeout_ms = 60000;
};

class KafkaSink final : public Sink, public KafkaTransactionalSink {
public:
    KafkaSink(std::string name, KafkaSinkOptions options)
        : name_(std::move(name)), o_(std::move(options)) {}
    ~KafkaSink() override {
        ctx_ = nullptr;  // librdkafka may log while it shuts down
        if (rk_ != nullptr && owner_ == nullptr) {
            rd_kafka_destroy(rk_);
        }
    }

    Status open(SinkContext& ctx) override {
        ctx_ = &ctx;
        encoder_ = std::make_unique<JsonEncoder>([&ctx](FieldId id) { return ctx.field_name(id); });
        if (!o_.topic_field.empty()) {
            topic_field_ = ctx.field(o_.topic_field);
        }
        if (!o_.key_field.empty()) {
            key_field_ = ctx.field(o_.key_field);
        }
        for (const auto& [header, field] : o_.headers) {
            header_fields_.emplace_back(header, ctx.field(field));
        }
        for (const std::string& f : o_.id_fields) {
            id_fields_.push_back(ctx.field(f));
        }
        raw_field_ = ctx.field("raw");
        delivered_metric_ =
            ctx.counter("kafka_delivered_total", "Messages the brokers acknowledged.");
        not_delivered_metric_ = ctx.counter(
            "kafka_produce_errors_total",
            "Messages that could not be delivered after retries, or were refused at once.",
            {{"outcome", "not_delivered"}});
        unknown_metric_ = ctx.counter(
            "kafka_produce_errors_total",
            "Messages that could not be delivered after retries, or were refused at once.",
            {{"outcome", "unknown"}});
        in_flight_metric_ =
            ctx.gauge("kafka_outq_messages", "Messages produced and not yet acknowledged.");
        if (owner_ != nullptr) {
            rk_ = owner_->rk_;
            if (rk_ == nullptr) {
                return Status::internal(prefix() + "writes in the transactions of sink '" +
                                        owner_->name_ + "', which is not open");
            }
            ctx.log(LogLevel::kInfo, "writes in the transactions of sink '" + owner_->name_ +
                                         "', through its producer");
            return Status::ok();
        }
        KafkaConf conf;
        // Retries cannot duplicate or reorder messages; set before
        // `properties`, which may say otherwise.
        EDDY_RETURN_IF_ERROR(conf.set("enable.idempotence", "true", name_));
        // Keys go where the Java client and Kafka Streams put them (librdkafka's
        // default hashes with CRC32), so that a job with scale_out: kafka can
        // read what this sink writes (docs/scale-out.md).
        EDDY_RETURN_IF_ERROR(conf.set("partitioner", "murmur2_random", name_));
        // Without the settings only a consumer reads (one anchor may serve a
        // source and a sink), which librdkafka would warn about.
        EDDY_RETURN_IF_ERROR(conf.apply(producer_options(o_.client), name_));
        if (o_.transactional) {
            if (transactional_id_.empty()) {
                return Status::invalid_argument(
                    prefix() +
                    "transactional: true commits one Kafka transaction per checkpoint, and "
                    "this job takes no checkpoints: give the topology a `state:` dir (and do not "
                    "run it with --no-state)");
            }
            EDDY_RETURN_IF_ERROR(conf.set("transactional.id", transactional_id_, name_));
        }
        rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSink::on_delivery);
        rd_kafka_conf_set_log_cb(conf.get(), &KafkaSink::on_log);
        rd_kafka_conf_set_opaque(conf.get(), this);
        char errstr[512];
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
        if (rk_ == nullptr) {
            return Status::invalid_argument(prefix() + "cannot create a Kafka producer: " + errstr);
        }
        conf.release();
        const rd_kafka_metadata_t* md = nullptr;
        EDDY_RETURN_IF_ERROR(fetch_metadata(rk_, o_.client, /*all_topics=*/false, prefix(), &md));
        rd_kafka_metadata_destroy(md);
        if (o_.transactional) {
            // Fences an earlier run with this id and aborts what it left open.
            EDDY_RETURN_IF_ERROR(
                txn_status(rd_kafka_init_transactions(rk_, static_cast<int>(o_.flush_timeout_ms)),
                           "starting transactions (transactional.id '" + transactional_id_ + "')"));
            EDDY_RETURN_IF_ERROR(
                txn_status(rd_kafka_begin_transaction(rk_), "beginning a transaction"));
        }
        return Status::ok();
    }

    bool transactional() const override { return o_.transactional; }
    void set_transactional_id(std::string id) override { transactional_id_ = std::move(id); }
    rd_kafka_t* transaction_producer() override { return rk_; }
    void set_foreign_delivery(void (*foreign)(const rd_kafka_message_t*)) override {
        foreign_delivery_ = foreign;
    }
    bool write_through(KafkaTransactionalSink& owner, std::string& why) override {
        auto* o = dynamic_cast<KafkaSink*>(&owner);
        if (o == nullptr || !o->o_.transactional || o_.transactional) {
            why = "not a kafka sink with transactional: true";
            return false;
        }
        if (o->o_.client.brokers != o_.client.brokers) {
            // A transaction spans one cluster.
            why = "it writes to brokers '" + o_.client.brokers + "', sink '" + o->name_ + "' to '" +
                  o->o_.client.brokers + "'";
            return false;
        }
        if (!o_.fail_on_error) {
            why = "on_error: errors (a refused record fails the whole transaction)";
            return false;
        }
        owner_ = o;
        o->members_.push_back(this);
        return true;
    }

    Status commit_transaction(const std::vector<GroupOffsets>& offsets) override {
        const int timeout = static_cast<int>(o_.flush_timeout_ms);
        Status s = Status::ok();
        for (const GroupOffsets& g : offsets) {
            if (g.next.empty() || !s.is_ok()) {
                continue;
            }
            rd_kafka_topic_partition_list_t* list =
                rd_kafka_topic_partition_list_new(static_cast<int>(g.next.size()));
            for (const auto& [partition, next] : g.next) {
                rd_kafka_topic_partition_list_add(list, g.topic.c_str(), partition)->offset = next;
            }
            rd_kafka_consumer_group_metadata_t* group =
                rd_kafka_consumer_group_metadata(g.consumer);
            s = txn_status(rd_kafka_send_offsets_to_transaction(rk_, list, group, timeout),
                           "sending the offsets of '" + g.topic + "' with the transaction");
            rd_kafka_consumer_group_metadata_destroy(group);
            rd_kafka_topic_partition_list_destroy(list);
        }
        if (s.is_ok()) {
            s = txn_status(rd_kafka_commit_transaction(rk_, timeout),
                           "committing the checkpoint's transaction");
        }
        if (!s.is_ok()) {
            // Nothing of it becomes visible to read_committed readers; the
            // job stops and its restart writes it again.
            if (rd_kafka_error_t* e = rd_kafka_abort_transaction(rk_, timeout)) {
                rd_kafka_error_destroy(e);
            }
            return s;
        }
        ++transactions_;
        return txn_status(rd_kafka_begin_transaction(rk_), "beginning a transaction");
    }

    Status write(const Batch& batch) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            const Record& r = batch[i];
            value_.clear();
            encoder_->append(r, value_);
            const std::string* topic = &o_.topic;
            if (topic_field_ != kInvalidField) {
                if (const Value* v = r.get(topic_field_); v != nullptr && v->is_string()) {
                    topic_buf_.assign(v->as_string());
                    topic = &topic_buf_;
                }
            }
            key_.clear();
            bool has_key = false;
            if (key_field_ != kInvalidField) {
                if (const Value* v = r.get(key_field_); v != nullptr) {
                    append_text(*v, key_);
                    has_key = true;
                }
            }
            rd_kafka_headers_t* headers = make_headers(r);
            EDDY_RETURN_IF_ERROR(produce(r, *topic, has_key, headers));
        }
        rd_kafka_poll(rk_, 0);  // delivery reports
        in_flight_metric_.set(rd_kafka_outq_len(rk_));
        return failed();
    }

    /// Waits until every message is delivered or has failed: a checkpoint
    /// completes only when its records are in Kafka.
    Status flush() override {
        if (rk_ == nullptr) {
            return Status::ok();
        }
        rd_kafka_resp_err_t err = rd_kafka_flush(rk_, static_cast<int>(o_.flush_timeout_ms));
        in_flight_metric_.set(rd_kafka_outq_len(rk_));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Status::io_error(prefix() + std::to_string(rd_kafka_outq_len(rk_)) +
                                    " message(s) still undelivered after " +
                                    std::to_string(o_.flush_timeout_ms / 1000) +
                                    " s (flush_timeout); their outcome is unknown");
        }
        return failed();
    }

    Status close() override {
        if (owner_ != nullptr) {
            // The owner, closing after this sink, aborts what the last
            // checkpoint did not commit; the producer is the owner's.
            if (ctx_ != nullptr) {
                ctx_->log(LogLevel::kInfo, "delivered " + std::to_string(delivered_.load()) +
                                               " record(s), " + std::to_string(failures_.load()) +
                                               " not delivered, in the transactions of sink '" +
                                               owner_->name_ + "'");
            }
            rk_ = nullptr;
            return failed();
        }
        Status s = flush();
        if (ctx_ != nullptr && rk_ != nullptr) {
            ctx_->log(LogLevel::kInfo,
                      "delivered " + std::to_string(delivered_.load()) + " record(s), " +
                          std::to_string(failures_.load()) + " not delivered" +
                          (o_.transactional ? ", in " + std::to_string(transactions_) +
                                                  " committed transaction(s)"
                                            : std::string()));
        }
        if (rk_ != nullptr && o_.transactional) {
            // What the last checkpoint did not commit is not its output.
            if (rd_kafka_error_t* e =
                    rd_kafka_abort_transaction(rk_, static_cast<int>(o_.flush_timeout_ms))) {
                rd_kafka_error_destroy(e);
            }
        }
        if (rk_ != nullptr) {
            rd_kafka_destroy(rk_);
            rk_ = nullptr;
        }
        return s;
    }

private:
    /// librdkafka's own messages, through the job's log.
    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
        auto* self = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
        if (self != nullptr && self->ctx_ != nullptr) {
            self->ctx_->log(kafka_log_level(level),
                            std::string("librdkafka ") + facility + ": " + text);
        }
    }

    std::string prefix() const { return "sink '" + name_ + "': "; }

    static void append_text(const Value& v, std::string& out) {
        if (v.is_string()) {
            out.append(v.as_string());
        } else if (v.type() == ValueType::kInt) {
            char digits[24];
            char* end = std::to_chars(digits, digits + sizeof digits, v.as_int()).ptr;
            out.append(digits, end);
        } else {
            append_json_value(v, out);
        }
    }

    rd_kafka_headers_t* make_headers(const Record& r) {
        if (header_fields_.empty() && id_fields_.empty()) {
            return nullptr;
        }
        rd_kafka_headers_t* h = rd_kafka_headers_new(header_fields_.size() + 1);
        for (const auto& [name, field] : header_fields_) {
            if (const Value* v = r.get(field); v != nullptr) {
                scratch_.clear();
                append_text(*v, scratch_);
                rd_kafka_header_add(h, name.c_str(), -1, scratch_.data(),
                                    static_cast<ssize_t>(scratch_.size()));
            }
        }
        if (!id_fields_.empty()) {
            // A deterministic id (e.g. key plus window start): a record sent
            // again after a restart carries the same one.
            scratch_.clear();
            for (FieldId f : id_fields_) {
                if (!scratch_.empty()) {
                    scratch_ += '|';
                }
                if (const Value* v = r.get(f); v != nullptr) {
                    append_text(*v, scratch_);
                }
            }
            rd_kafka_header_add(h, "eddy-id", -1, scratch_.data(),
                                static_cast<ssize_t>(scratch_.size()));
        }
        return h;
    }

    /// Queues one message. A message librdkafka refuses at once (larger than
    /// message.max.bytes, say) fails the job, or goes to `errors` as it is.
    Status produce(const Record& record, const std::string& topic, bool has_key,
                   rd_kafka_headers_t* headers) {
        while (true) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(value_.data(), value_.size()),
                RD_KAFKA_V_KEY(has_key ? key_.data() : nullptr, has_key ? key_.size() : 0),
                RD_KAFKA_V_TIMESTAMP(o_.event_timestamp ? std::max<int64_t>(record.time(), 0) : 0),
                RD_KAFKA_V_HEADERS(headers),
                // A member's reports go back to it through the owner's callback.
                RD_KAFKA_V_OPAQUE(owner_ != nullptr ? this : nullptr), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                return Status::ok();  // the message owns the headers now
            }
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                // Backpressure: wait for deliveries instead of buffering more.
                rd_kafka_poll(rk_, kQueueFullWaitMs);
                continue;
            }
            if (headers != nullptr) {
                rd_kafka_headers_destroy(headers);
            }
            std::string reason =
                "cannot produce to topic '" + topic + "': " + rd_kafka_err2str(err);
            ++failures_;
            note_failure(reason);
            not_delivered_metric_.add();
            if (o_.fail_on_error) {
                return Status::io_error(prefix() + reason);
            }
            ctx_->reject(record, reason);
            return Status::ok();
        }
    }

    /// Called from rd_kafka_poll() and rd_kafka_flush(), so on the sink's
    /// thread, inside write(), flush() or close(); with members sharing the
    /// producer, on any of their threads too (the counters are atomic, and
    /// neither the owner nor a member sends records to `errors`).
    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        auto* self = static_cast<KafkaSink*>(opaque);
        if (m->_private != nullptr) {
            for (KafkaSink* member : self->members_) {
                if (m->_private == member) {
                    member->report(m);
                    return;
                }
            }
            if (self->foreign_delivery_ != nullptr) {
                self->foreign_delivery_(m);  // the changelog's, in the same transaction
                return;
            }
        }
        self->report(m);
    }

    void report(const rd_kafka_message_t* m) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            delivered_.fetch_add(1, std::memory_order_relaxed);
            delivered_metric_.add();
            return;
        }
        not_delivered(m);
    }

    void not_delivered(const rd_kafka_message_t* m) {
        ++failures_;
        // A request that timed out may have been written: its outcome is
        // unknown, and a consumer de-duplicating on `eddy-id` drops a copy.
        bool unknown = rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
        (unknown ? unknown_metric_ : not_delivered_metric_).add();
        std::string reason =
            "topic '" + std::string(rd_kafka_topic_name(m->rkt)) +
            "': " + rd_kafka_err2str(m->err) +
            (unknown ? " (outcome unknown: it may be in Kafka)" : " (not delivered after retries)");
        note_failure(reason);
        if (o_.fail_on_error || ctx_ == nullptr) {
            return;
        }
        // The record again, decoded from the message, on `errors`.
        std::string_view payload(static_cast<const char*>(m->payload), m->len);
        Record& r = ctx_->reject(reason);
        if (!decoder_) {
            decoder_ = std::make_unique<JsonDecoder>(
                [ctx = ctx_](std::string_view name) { return ctx->field(name); });
        }
        if (!decoder_->decode(payload, r).is_ok()) {
            r.set(raw_field_, truncate_utf8(payload, 1024));
        }
    }

    void note_failure(const std::string& reason) {
        std::lock_guard lock(failure_mu_);
        if (first_failure_.empty()) {
            first_failure_ = reason;
        }
    }

    /// A transaction call's error as a status (null: none); frees it.
    Status txn_status(rd_kafka_error_t* error, const std::string& what) const {
        if (error == nullptr) {
            return Status::ok();
        }
        std::string message = prefix() + what + " failed: " + rd_kafka_error_string(error) +
                              (rd_kafka_error_is_fatal(error) != 0
                                   ? " (fatal: another process may use this transactional.id)"
                                   : "");
        rd_kafka_error_destroy(error);
        return Status::io_error(message);
    }

    Status failed() const {
        uint64_t failures = failures_.load(std::memory_order_relaxed);
        if (failures > 0 && o_.fail_on_error) {
            std::lock_guard lock(failure_mu_);
            return Status::io_error(
                prefix() + std::to_string(failures) +
                " record(s) could not be delivered after retries (first: " + first_failure_ +
                "); set on_error: errors to send them to the sink's `errors` "
                "output and go on");
        }
        return Status::ok();
    }

    std::string name_;
    KafkaSinkOptions o_;
    SinkContext* ctx_ = nullptr;
    std::unique_ptr<JsonEncoder> encoder_;
    std::unique_ptr<JsonDecoder> decoder_;  // of rejected messages, made on the first
    FieldId raw_field_ = kInvalidField;
    FieldId topic_field_ = kInvalidField;
    FieldId key_field_ = kInvalidField;
    std::vector<std::pair<std::string, FieldId>> header_fields_;
    std::vector<FieldId> id_fields_;
    rd_kafka_t* rk_ = nullptr;
    std::string value_;
    std::string key_;
    std::string topic_buf_;
    std::string scratch_;
    Counter delivered_metric_;
    Counter not_delivered_metric_;
    Counter unknown_metric_;
    Gauge in_flight_metric_;
    // Atomic: with a shared producer, any sharer's thread serves reports.
    std::atomic<uint64_t> delivered_{0};
    std::atomic<uint64_t> failures_{0};
    std::string transactional_id_;
    void (*foreign_delivery_)(const rd_kafka_message_t*) = nullptr;
    uint64_t transactions_ = 0;
    KafkaSink* owner_ = nullptr;       // write_through(): its producer, not one of our own
    std::vector<KafkaSink*> members_;  // sinks writing through ours; fixed once open
    mutable std::mutex failure_mu_;
    std::string first_failure_;
};

}  // namespace
}  // namespace eddy

EDDY_REGISTER_SINK(kafka) {
    using eddy::Param;
    eddy::SinkSpec spec("kafka");
    spec.summary("Writes records as JSON messages to a Kafka topic with an idempotent producer.")
        .description(
            "Each record becomes one JSON message. Delivery reports are checked: a checkpoint "
            "completes only after every record before it was acknowledged by Kafka "
            "(at-least-once), and a record that cannot be delivered after librdkafka's retries "
            "stops the job (or, with on_error: errors, goes to the sink's `errors` output, "
            "decoded back into its fields, with the reason). A delivery that times out has an "
            "unknown outcome (it may be in Kafka) and counts as failed. Exactly-once comes from "
            "the "
            "source offsets stored with the state plus `id_fields`, a deterministic id that "
            "consumers can de-duplicate on; see docs/kafka.md.");
    eddy::add_kafka_client_params(spec);
    spec.param(Param::string("topic").required().doc("The topic to write to.").example("profiles"))
        .param(Param::string("topic_field")
                   .doc("Take the topic from this string field when a record has it."))
        .param(Param::string("key_field").doc("The message key: this field's value as text."))
        .param(Param::map("headers", eddy::ParamType::kString)
                   .doc("Message headers from fields: header name to field name.")
                   .example("{segment: segment}"))
        .param(Param::list("id_fields")
                   .doc("Fields whose values, joined by |, form the `eddy-id` header: the same "
                        "record sent again after a restart has the same id.")
                   .example("[user_id, window_start]"))
        .param(Param::enumeration("on_error", {"fail", "errors"})
                   .default_value("fail")
                   .doc("A record that cannot be delivered: fail stops the job (the restart "
                        "sends it again from the last checkpoint); errors sends it to the sink's "
                        "`errors` output (read it as `NAME.errors`, e.g. with a file sink) and "
                        "goes on."))
        .param(Param::enumeration("timestamp", {"now", "event_time"})
                   .default_value("now")
                   .doc("The message timestamp: now, when the record is produced; event_time, "
                        "the record's event time (as Kafka Streams sets it), which a kafka "
                        "source without `event_time` takes as the record's time."))
        .param(Param::boolean("transactional")
                   .default_value(false)
                   .doc("Write in Kafka transactions, one per checkpoint: readers with "
                        "isolation.level=read_committed see a checkpoint's records once it "
                        "completes, and never those of a checkpoint that failed. Under "
                        "scale_out: kafka the changelog's records and the input offsets commit "
                        "in the same transaction. Needs a state dir; one transactional sink "
                        "per topology (docs/kafka.md)."))
        .param(Param::duration("flush_timeout")
                   .default_value("60s")
                   .doc("How long a checkpoint waits for outstanding deliveries."));
    spec.example("Clicks to a topic, keyed by user", R"(sinks:
  out:
    type: kafka
    input: clicks
    brokers: ${KAFKA_BROKERS:-127.0.0.1:9092}
    topic: clicks-by-user
    key_field: user_id
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Sink>> {
            eddy::Result<eddy::KafkaClientOptions> client = eddy::kafka_client_options(cfg);
            if (!client.is_ok()) {
                return client.status();
            }
            eddy::KafkaSinkOptions o;
            o.client = std::move(client).value();
            o.topic = cfg.string("topic");
            if (cfg.has("topic_field")) {
                o.topic_field = cfg.string("topic_field");
            }
            if (cfg.has("key_field")) {
                o.key_field = cfg.string("key_field");
            }
            if (cfg.has("headers")) {
                for (const auto& [name, field] : cfg.value("headers").entries()) {
                    o.headers.emplace_back(name, field.as_string());
                }
            }
            if (cfg.has("id_fields")) {
                o.id_fields = cfg.strings("id_fields");
            }
            o.fail_on_error = cfg.string("on_error") == "fail";
            o.event_timestamp = cfg.string("timestamp") == "event_time";
            o.transactional = cfg.boolean("transactional");
            if (o.transactional && !o.fail_on_error) {
                // An undelivered record fails the whole transaction's commit:
                // it cannot go to `errors` while the rest is committed.
                return eddy::Status::invalid_argument(
                    eddy::kafka_param_place(cfg, "on_error") +
                    ": on_error: errors does not go with transactional: true (a record Kafka "
                    "refuses fails the checkpoint's whole transaction, which the restart writes "
                    "again); remove one of them");
            }
            o.flush_timeout_ms = cfg.duration("flush_timeout").count();
            return std::unique_ptr<eddy::Sink>(
                std::make_unique<eddy::KafkaSink>(cfg.component(), std::move(o)));
        });
    return spec.build();
}
