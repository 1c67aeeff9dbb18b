// SPDX-License-Identifier: Apache-2.0
// The `kafka` source: a librdkafka consumer in a consumer group whose offsets
// live in Eddy's checkpoints (docs/kafka.md).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "eddy/codec.h"
#include "eddy/registry.h"
#include "eddy/source.h"

#include "io/kafka_common.h"
#include "record/line_decoder.h"
#include "record/utf8.h"

namespace eddy {
namespace {

constexpr size_t kRawErrorBytes = 1024;
constexpr uint8_t kPositionVersion = 1;
// How long one poll may wait for messages (Source::poll: <= ~100 ms).
constexpr int kPollWaitMs = 50;

/// Where a group starts reading a partition it has no committed offset for.
struct StartAt {
    enum class Kind { kEarliest, kLatest, kTimestamp } kind = Kind::kEarliest;
    int64_t timestamp_ms = 0;
};

class KafkaSource final : public Source {
public:
    KafkaSource(std::string name, KafkaClientOptions client, std::vector<std::string> topics,
                std::string group, StartAt start, std::string key_field, bool until_end,
                DecoderOptions decoder)
        : name_(std::move(name)),
          client_(std::move(client)),
          topics_(std::move(topics)),
          group_(std::move(group)),
          start_(start),
          key_field_name_(std::move(key_field)),
          until_end_(until_end),
          options_(std::move(decoder)) {}

    ~KafkaSource() override {
        ctx_ = nullptr;  // librdkafka may log while it shuts down
        shut_down();
    }

    Status open(ComponentContext& ctx) override {
        ctx_ = &ctx;
        decoder_ = std::make_unique<LineDecoder>(options_, ctx);
        if (!key_field_name_.empty()) {
            key_field_ = ctx.field(key_field_name_);
        }
        KafkaConf conf;
        EDDY_RETURN_IF_ERROR(conf.apply(client_, name_));
        EDDY_RETURN_IF_ERROR(conf.set("group.id", group_, name_));
        // Offsets are Eddy's: stored in checkpoints, committed to Kafka after them.
        EDDY_RETURN_IF_ERROR(conf.set("enable.auto.commit", "false", name_));
        EDDY_RETURN_IF_ERROR(conf.set("enable.auto.offset.store", "false", name_));
        EDDY_RETURN_IF_ERROR(conf.set("auto.offset.reset",
                                      start_.kind == StartAt::Kind::kLatest ? "latest" : "earliest",
                                      name_));
        if (until_end_) {
            EDDY_RETURN_IF_ERROR(conf.set("enable.partition.eof", "true", name_));
        }
        rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSource::on_rebalance);
        rd_kafka_conf_set_log_cb(conf.get(), &KafkaSource::on_log);
        rd_kafka_conf_set_opaque(conf.get(), this);
        char errstr[512];
        rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
        if (rk_ == nullptr) {
            return Status::invalid_argument(prefix() + "cannot create a Kafka consumer: " + errstr);
        }
        conf.release();  // owned by rk_ now
        rd_kafka_poll_set_consumer(rk_);
        EDDY_RETURN_IF_ERROR(check_topics());
        rd_kafka_topic_partition_list_t* subscription =
            rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size()));
        for (const std::string& t : topics_) {
            rd_kafka_topic_partition_list_add(subscription, t.c_str(), RD_KAFKA_PARTITION_UA);
        }
        rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, subscription);
        rd_kafka_topic_partition_list_destroy(subscription);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Status::io_error(prefix() + "cannot subscribe to " + topic_list() + ": " +
                                    rd_kafka_err2str(err));
        }
        queue_ = rd_kafka_queue_get_consumer(rk_);
        messages_.resize(1024);
        return Status::ok();
    }

    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override {
        if (failure_) {
            return *failure_;
        }
        size_t want = std::min(max_records, messages_.size());
        last_split_ = UINT32_MAX;  // set_split() holds for one poll
        ssize_t n = rd_kafka_consume_batch_queue(queue_, kPollWaitMs, messages_.data(), want);
        if (n < 0) {
            return Status::io_error(prefix() +
                                    "consume failed: " + rd_kafka_err2str(rd_kafka_last_error()));
        }
        size_t records = 0;
        for (ssize_t i = 0; i < n; ++i) {
            rd_kafka_message_t* m = messages_[static_cast<size_t>(i)];
            if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                handle_error(m);
            } else {
                records += emit(m, out);
            }
            rd_kafka_message_destroy(m);
        }
        if (failure_) {
            return *failure_;
        }
        if (n > 0) {
            return PollStatus::kData;
        }
        return until_end_ && !assigned_.empty() && at_end_.size() == assigned_.size()
                   ? PollStatus::kEnd
                   : PollStatus::kIdle;
    }

    SourceProgress progress() const override { return {consumed_, 0, false}; }

    bool resumable() const override { return true; }

    /// Version 1: u8 version, varint count, then per partition: str topic,
    /// varint partition, varint next offset.
    void position(std::string& out) const override {
        StateWriter w(out);
        w.u8(kPositionVersion);
        w.varint(next_.size());
        for (const auto& [tp, offset] : next_) {
            w.str(tp.first);
            w.varint(static_cast<uint64_t>(tp.second));
            w.varint(static_cast<uint64_t>(offset));
        }
        staged_ = next_;
    }

    Status seek(std::string_view position) override {
        StateReader r(position);
        uint8_t version = 0;
        uint64_t count = 0;
        if (!r.u8(version) || version != kPositionVersion || !r.varint(count)) {
            return Status::invalid_argument(
                prefix() + "the stored position is not a Kafka position of this Eddy (version " +
                std::to_string(version) + "); it is damaged or was written by another source");
        }
        std::map<std::pair<std::string, int32_t>, int64_t> stored;
        for (uint64_t i = 0; i < count; ++i) {
            std::string topic;
            uint64_t partition = 0;
            uint64_t offset = 0;
            if (!r.str(topic) || !r.varint(partition) || !r.varint(offset) ||
                partition > INT32_MAX || offset > INT64_MAX) {
                return Status::invalid_argument(prefix() + "the stored Kafka position is damaged");
            }
            stored[{topic, static_cast<int32_t>(partition)}] = static_cast<int64_t>(offset);
        }
        if (!r.done()) {
            return Status::invalid_argument(prefix() + "the stored Kafka position is damaged");
        }
        next_ = std::move(stored);
        last_rkt_ = nullptr;
        return Status::ok();
    }

    void checkpointed() override {
        // Standard lag tools then see the group's progress. Asynchronous: a
        // commit that fails costs nothing but lag figures, since the offsets
        // that count are in the checkpoint.
        checkpointed_ = staged_;
        commit(/*async=*/true);
    }

    Status close() override {
        // The last checkpoint's offsets, synchronously: an asynchronous
        // commit still in flight would be lost with the consumer.
        commit(/*async=*/false, /*again=*/true);
        log_totals();
        shut_down();
        return Status::ok();
    }

private:
    /// librdkafka's own messages, through the job's log.
    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
        auto* self = static_cast<KafkaSource*>(rd_kafka_opaque(rk));
        if (self != nullptr && self->ctx_ != nullptr) {
            self->ctx_->log(kafka_log_level(level),
                            std::string("librdkafka ") + facility + ": " + text);
        }
    }

    std::string prefix() const { return "source '" + name_ + "': "; }

    /// What the run read, and the lag it left: messages behind the end of
    /// each partition read, as of the last fetch (no request is made).
    void log_totals() {
        if (rk_ == nullptr || ctx_ == nullptr) {
            return;
        }
        int64_t lag = 0;
        for (const auto& [tp, next] : next_) {
            int64_t low = 0;
            int64_t high = 0;
            if (rd_kafka_get_watermark_offsets(rk_, tp.first.c_str(), tp.second, &low, &high) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                high > next) {
                lag += high - next;
            }
        }
        ctx_->log(LogLevel::kInfo, "read " + std::to_string(consumed_) + " message(s) from " +
                                       std::to_string(next_.size()) + " partition(s), " +
                                       std::to_string(rebalances_) +
                                       " rebalance(s); lag at close: " + std::to_string(lag) +
                                       " message(s)");
    }

    /// Commits the last checkpoint's offsets to the group, unless already
    /// sent (`again`: also then).
    void commit(bool async, bool again = false) {
        if (rk_ == nullptr || checkpointed_.empty() || (!again && checkpointed_ == sent_commit_)) {
            return;
        }
        rd_kafka_topic_partition_list_t* list =
            rd_kafka_topic_partition_list_new(static_cast<int>(checkpointed_.size()));
        for (const auto& [tp, offset] : checkpointed_) {
            rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = offset;
        }
        rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, async ? 1 : 0);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
            sent_commit_ = checkpointed_;
        } else {
            logged_warn("committing offsets to Kafka failed (lag tools will lag): " +
                        std::string(rd_kafka_err2str(err)));
        }
        rd_kafka_topic_partition_list_destroy(list);
    }

    std::string topic_list() const {
        std::string s;
        for (const std::string& t : topics_) {
            s += (s.empty() ? "'" : ", '") + t + "'";
        }
        return s;
    }

    void logged_warn(const std::string& message) {
        if (warnings_ < 20) {
            ++warnings_;
            ctx_->log(LogLevel::kWarn, message);
        }
    }

    /// The brokers answer within the connect timeout, and every named topic
    /// (not a ^regex) exists.
    Status check_topics() {
        const rd_kafka_metadata_t* md = nullptr;
        EDDY_RETURN_IF_ERROR(fetch_metadata(rk_, client_, /*all_topics=*/true, prefix(), &md));
        std::string missing;
        for (const std::string& t : topics_) {
            if (t.starts_with("^")) {
                continue;
            }
            bool found = false;
            for (int i = 0; i < md->topic_cnt && !found; ++i) {
                found = t == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
            }
            if (!found) {
                missing += (missing.empty() ? "'" : ", '") + t + "'";
            }
        }
        rd_kafka_metadata_destroy(md);
        if (!missing.empty()) {
            return Status::not_found(prefix() + "topic " + missing + " does not exist on '" +
                                     client_.brokers + "'; create it first");
        }
        return Status::ok();
    }

    size_t emit(rd_kafka_message_t* m, SourceEmitter& out) {
        ++consumed_;
        if (m->rkt != last_rkt_ || m->partition != last_partition_) {
            // A lookup (and a topic string) per change of partition, not per message.
            std::pair<std::string, int32_t> tp{rd_kafka_topic_name(m->rkt), m->partition};
            at_end_.erase(tp);
            last_next_ = &next_[tp];
            last_split_id_ =
                splits_.try_emplace(tp, static_cast<uint32_t>(splits_.size())).first->second;
            last_rkt_ = m->rkt;
            last_partition_ = m->partition;
        }
        *last_next_ = m->offset + 1;
        std::string_view payload(static_cast<const char*>(m->payload), m->len);
        // Each partition gets a watermark of its own.
        if (last_split_id_ != last_split_) {
            out.set_split(last_split_id_);
            last_split_ = last_split_id_;
        }
        Record& record = out.append();
        Status s = decoder_->decode(payload, record);
        if (!s.is_ok()) {
            out.discard_last();
            out.error(std::string(rd_kafka_topic_name(m->rkt)) + "/" +
                          std::to_string(m->partition) + "@" + std::to_string(m->offset) + ": " +
                          s.message(),
                      m->offset, truncate_utf8(payload, kRawErrorBytes));
            return 0;
        }
        if (!options_.event_time) {
            rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
            int64_t ts = rd_kafka_message_timestamp(m, &type);
            if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0) {
                record.set_time(ts);
            }
        }
        if (key_field_ != kInvalidField && m->key != nullptr) {
            record.set(key_field_, std::string_view(static_cast<const char*>(m->key), m->key_len));
        }
        return 1;
    }

    void handle_error(rd_kafka_message_t* m) {
        switch (m->err) {
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                if (assigned_.count({rd_kafka_topic_name(m->rkt), m->partition}) > 0) {
                    at_end_.insert({rd_kafka_topic_name(m->rkt), m->partition});
                    last_rkt_ = nullptr;  // the next message of it must leave at_end_
                }
                return;
            case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
            case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
            case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
                failure_ = Status::io_error(prefix() + rd_kafka_message_errstr(m));
                return;
            default:
                break;
        }
        char errstr[512];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk_, errstr, sizeof errstr);
        if (fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
            failure_ = Status::io_error(prefix() + "fatal Kafka error: " + errstr);
            return;
        }
        // Transient (a broker down, a timeout): librdkafka retries.
        logged_warn(rd_kafka_message_errstr(m));
    }

    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* partitions, void* opaque) {
        static_cast<KafkaSource*>(opaque)->rebalance(rk, err, partitions);
    }

    void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* partitions) {
        bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            // Partitions the checkpoint knows resume after its offsets; the
            // others start where the group committed, or at `start`.
            bool any_new = false;
            for (int i = 0; i < partitions->cnt; ++i) {
                rd_kafka_topic_partition_t& p = partitions->elems[i];
                auto it = next_.find({p.topic, p.partition});
                if (it != next_.end()) {
                    p.offset = it->second;
                } else {
                    any_new = true;
                }
                assigned_.insert({p.topic, p.partition});
            }
            if (any_new && start_.kind == StartAt::Kind::kTimestamp) {
                resolve_start_times(rk, partitions);
            }
            ++rebalances_;
            if (ctx_ != nullptr) {
                ctx_->log(LogLevel::kInfo, "assigned " + std::to_string(partitions->cnt) +
                                               " partition(s) of " + topic_list());
            }
            rd_kafka_error_t* e = nullptr;
            if (cooperative) {
                e = rd_kafka_incremental_assign(rk, partitions);
            } else if (rd_kafka_assign(rk, partitions) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                logged_warn("assigning partitions failed");
            }
            if (e != nullptr) {
                logged_warn(std::string("assigning partitions failed: ") +
                            rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
            // Offsets of revoked partitions stay in the position: what was
            // read from them is in the state, and a later checkpoint says so.
            ++rebalances_;
            for (int i = 0; i < partitions->cnt; ++i) {
                assigned_.erase({partitions->elems[i].topic, partitions->elems[i].partition});
                at_end_.erase({partitions->elems[i].topic, partitions->elems[i].partition});
            }
            if (cooperative) {
                rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions);
                if (e != nullptr) {
                    rd_kafka_error_destroy(e);
                }
            } else {
                rd_kafka_assign(rk, nullptr);
            }
            return;
        }
        logged_warn(std::string("rebalance failed: ") + rd_kafka_err2str(err));
        rd_kafka_assign(rk, nullptr);
    }

    /// Partitions new to the group and to the checkpoint, with `start` a
    /// timestamp: the first offset at or after it.
    void resolve_start_times(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
        rd_kafka_topic_partition_list_t* query = rd_kafka_topic_partition_list_new(partitions->cnt);
        for (int i = 0; i < partitions->cnt; ++i) {
            const rd_kafka_topic_partition_t& p = partitions->elems[i];
            if (next_.find({p.topic, p.partition}) == next_.end()) {
                rd_kafka_topic_partition_list_add(query, p.topic, p.partition)->offset =
                    start_.timestamp_ms;
            }
        }
        // A committed offset of the group wins over the timestamp.
        rd_kafka_resp_err_t err =
            rd_kafka_committed(rk, query, static_cast<int>(client_.connect_timeout_ms));
        rd_kafka_topic_partition_list_t* lookup = rd_kafka_topic_partition_list_new(query->cnt);
        for (int i = 0; i < query->cnt; ++i) {
            const rd_kafka_topic_partition_t& q = query->elems[i];
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR || q.offset < 0) {
                rd_kafka_topic_partition_list_add(lookup, q.topic, q.partition)->offset =
                    start_.timestamp_ms;
            }
        }
        if (lookup->cnt > 0) {
            rd_kafka_resp_err_t found = rd_kafka_offsets_for_times(
                rk, lookup, static_cast<int>(client_.connect_timeout_ms));
            for (int i = 0; i < lookup->cnt; ++i) {
                const rd_kafka_topic_partition_t& l = lookup->elems[i];
                rd_kafka_topic_partition_t* p =
                    rd_kafka_topic_partition_list_find(partitions, l.topic, l.partition);
                if (p == nullptr) {
                    continue;
                }
                if (found == RD_KAFKA_RESP_ERR_NO_ERROR && l.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    p->offset = l.offset;  // -1 (end) when every message is older
                } else {
                    logged_warn(
                        "cannot look up offsets by time for " + std::string(l.topic) + "/" +
                        std::to_string(l.partition) + " (" +
                        rd_kafka_err2str(found != RD_KAFKA_RESP_ERR_NO_ERROR ? found : l.err) +
                        "); starting at the earliest offset");
                    p->offset = RD_KAFKA_OFFSET_BEGINNING;
                }
            }
        }
        rd_kafka_topic_partition_list_destroy(lookup);
        rd_kafka_topic_partition_list_destroy(query);
    }

    void shut_down() {
        if (queue_ != nullptr) {
            rd_kafka_queue_destroy(queue_);
            queue_ = nullptr;
        }
        if (rk_ != nullptr) {
            rd_kafka_consumer_close(rk_);
            rd_kafka_destroy(rk_);
            rk_ = nullptr;
        }
    }

    std::string name_;
    KafkaClientOptions client_;
    std::vector<std::string> topics_;
    std::string group_;
    StartAt start_;
    std::string key_field_name_;
    bool until_end_;
    DecoderOptions options_;
    ComponentContext* ctx_ = nullptr;
    std::unique_ptr<LineDecoder> decoder_;
    FieldId key_field_ = kInvalidField;
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_queue_t* queue_ = nullptr;
    std::vector<rd_kafka_message_t*> messages_;
    // The next offset to read per (topic, partition): what the checkpoint stores.
    std::map<std::pair<std::string, int32_t>, int64_t> next_;
    // Offsets in the checkpoint being written, in the last one made durable,
    // and last committed to the group.
    mutable std::map<std::pair<std::string, int32_t>, int64_t> staged_;
    std::map<std::pair<std::string, int32_t>, int64_t> checkpointed_;
    std::map<std::pair<std::string, int32_t>, int64_t> sent_commit_;
    // until_end: the partitions assigned, and those read to their end.
    std::set<std::pair<std::string, int32_t>> assigned_;
    std::set<std::pair<std::string, int32_t>> at_end_;
    // A split (watermark) id per partition, in the order first read.
    std::map<std::pair<std::string, int32_t>, uint32_t> splits_;
    uint32_t last_split_ = UINT32_MAX;  // the last set_split() of this poll
    // The partition of the last message, its next offset and its split.
    rd_kafka_topic_t* last_rkt_ = nullptr;
    int32_t last_partition_ = -1;
    int64_t* last_next_ = nullptr;
    uint32_t last_split_id_ = 0;
    std::optional<Status> failure_;
    uint64_t consumed_ = 0;
    uint64_t rebalances_ = 0;
    int warnings_ = 0;
};

/// `start`: earliest, latest, or an ISO 8601 time / epoch milliseconds.
Result<StartAt> parse_start(const Config& cfg) {
    StartAt s;
    if (!cfg.has("start")) {
        return s;
    }
    const std::string& text = cfg.string("start");
    if (text == "earliest") {
        return s;
    }
    if (text == "latest") {
        s.kind = StartAt::Kind::kLatest;
        return s;
    }
    std::optional<int64_t> ms = parse_time_ms(text);
    if (!ms) {
        return Status::invalid_argument(
            kafka_param_place(cfg, "start") + ": start '" + text +
            "' is not earliest, latest, an ISO 8601 time (2026-11-28T10:00:00Z) or epoch "
            "milliseconds");
    }
    s.kind = StartAt::Kind::kTimestamp;
    s.timestamp_ms = *ms;
    return s;
}

}  // namespace
}  // namespace eddy

EDDY_REGISTER_SOURCE(kafka) {
    using eddy::Param;
    eddy::SourceSpec spec("kafka");
    spec.summary("Reads JSON or raw messages from Kafka topics in a consumer group.")
        .description(
            "Offsets are Eddy's: auto-commit is off, the next offset of every partition read is "
            "part of each checkpoint, and a restarted job resumes from the checkpoint's offsets, "
            "so state stays exactly-once. After each checkpoint the offsets are also committed "
            "to the group, so standard lag tools see progress. A partition the checkpoint does "
            "not know starts at the group's committed offset, else at `start`. Without "
            "`event_time`, a record's time is the message timestamp. Undecodable messages go "
            "to `errors` with topic, partition and offset. An unreachable broker or a missing "
            "topic is an error at start. See docs/kafka.md.");
    eddy::add_kafka_client_params(spec);
    spec.param(Param::list("topics")
                   .required()
                   .doc("Topics to read; a name starting with ^ is a regular expression "
                        "(librdkafka's subscription syntax).")
                   .example("[clicks]"))
        .param(Param::string("group")
                   .doc("Consumer group id; default `eddy-` followed by the component's name.")
                   .example("personalization"))
        .param(Param::string("start")
                   .default_value("earliest")
                   .doc("Where a partition without an offset (in the checkpoint or the group) "
                        "starts: earliest, latest, or a time (ISO 8601 or epoch ms): the first "
                        "message at or after it."))
        .param(Param::boolean("until_end")
                   .default_value(false)
                   .doc("End the input once every assigned partition has been read to its end "
                        "(as `kcat -e`): for backfills and tests. Default: run forever."))
        .param(Param::string("key_field")
                   .doc("Store the message key (as a string) in this field, e.g. to key "
                        "operators by it."));
    eddy::add_decoder_params(spec);
    spec.example("Clicks from a local test broker (`eddy broker --topic clicks`)", R"(sources:
  clicks:
    type: kafka
    brokers: ${KAFKA_BROKERS:-127.0.0.1:9092}
    topics: [clicks]
    event_time: {field: ts, unit: ms}
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Source>> {
            eddy::Result<eddy::DecoderOptions> options = eddy::decoder_options(cfg);
            if (!options.is_ok()) {
                return options.status();
            }
            if (options.value().format == eddy::LineFormat::kCsv) {
                return eddy::Status::invalid_argument(
                    eddy::kafka_param_place(cfg, "format") +
                    ": the kafka source reads json or raw messages, not csv");
            }
            eddy::Result<eddy::KafkaClientOptions> client = eddy::kafka_client_options(cfg);
            if (!client.is_ok()) {
                return client.status();
            }
            eddy::Result<eddy::StartAt> start = eddy::parse_start(cfg);
            if (!start.is_ok()) {
                return start.status();
            }
            std::vector<std::string> topics = cfg.strings("topics");
            if (topics.empty()) {
                return eddy::Status::invalid_argument(eddy::kafka_param_place(cfg, "topics") +
                                                      ": name at least one topic");
            }
            std::string group = cfg.has("group") ? cfg.string("group") : "eddy-" + cfg.component();
            return std::unique_ptr<eddy::Source>(std::make_unique<eddy::KafkaSource>(
                cfg.component(), std::move(client).value(), std::move(topics), std::move(group),
                start.value(), cfg.has("key_field") ? cfg.string("key_field") : std::string(),
                cfg.boolean("until_end"), std::move(options).value()));
        });
    return spec.build();
}
