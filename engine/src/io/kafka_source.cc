// SPDX-License-Identifier: Apache-2.0
// The `kafka` source: a librdkafka consumer, in a consumer group or assigned
// every partition itself, whose offsets live in Eddy's checkpoints
// (docs/kafka.md).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "eddy/codec.h"
#include "eddy/registry.h"
#include "eddy/source.h"

#include "io/kafka_common.h"
#include "io/kafka_transaction.h"
#include "record/line_decoder.h"
#include "record/utf8.h"

namespace eddy {
namespace {

constexpr size_t kRawErrorBytes = 1024;
constexpr uint8_t kPositionVersion = 1;
constexpr int64_t kLagIntervalMs = 1000;  // how often polls refresh the consumer-lag gauges

/// Where a group starts reading a partition it has no committed offset for.
struct StartAt {
    enum class Kind { kEarliest, kLatest, kTimestamp } kind = Kind::kEarliest;
    int64_t timestamp_ms = 0;
};

/// `assignment`: partitions from the group's rebalances, or every partition
/// of the topics, assigned by the source itself.
enum class Assignment { kGroup, kAll };

/// A `^regex` topic: librdkafka compiles its subscription patterns with POSIX
/// regcomp(REG_EXTENDED) and matches them unanchored at the end, so
/// `assignment: all` does the same with std::regex's POSIX extended grammar
/// (RE2 is not linked into eddy_io, and this runs once at start). Sets
/// `error` when `pattern` does not compile.
std::optional<std::regex> topic_regex(const std::string& pattern, std::string& error) {
    try {
        return std::regex(pattern, std::regex::extended | std::regex::nosubs);
    } catch (const std::regex_error& e) {
        error = e.what();
        return std::nullopt;
    }
}

class KafkaSource final : public Source, public KafkaGroupSource {
public:
    KafkaSource(std::string name, KafkaClientOptions client, std::vector<std::string> topics,
                std::string group, Assignment assignment, StartAt start, std::string key_field,
                bool until_end, bool scale_out, DecoderOptions decoder)
        : name_(std::move(name)),
          client_(std::move(client)),
          topics_(std::move(topics)),
          group_(std::move(group)),
          assignment_(assignment),
          start_(start),
          key_field_name_(std::move(key_field)),
          until_end_(until_end),
          scale_out_(scale_out),
          options_(std::move(decoder)) {}

    ~KafkaSource() override {
        ctx_ = nullptr;  // librdkafka may log while it shuts down
        shut_down();
        for (Pending& p : pending_) {
            rd_kafka_topic_partition_list_destroy(p.list);
        }
    }

    Status open(ComponentContext& ctx) override {
        ctx_ = &ctx;
        decoder_ = std::make_unique<LineDecoder>(options_, ctx);
        rebalances_metric_ =
            ctx.counter("kafka_rebalances_total", "Partition assignments and revocations.");
        assigned_metric_ = ctx.gauge("kafka_assigned_partitions", "Partitions assigned now.");
        if (!key_field_name_.empty()) {
            key_field_ = ctx.field(key_field_name_);
        }
        KafkaConf conf;
        // A default that `properties` may override. Once the pre-fetch queue holds
        // queued.min.messages (librdkafka's 100,000, counted over all the
        // partitions, as they share one queue), librdkafka 2.0.2 fetches
        // again only a second later: a job slower than the fetcher starved
        // for half of each second (behaviour.yaml, 250,000 messages from
        // `eddy broker`: 2.7 s, 1.7 s with this). queued.max.messages.kbytes
        // (64 MiB) still bounds the memory.
        EDDY_RETURN_IF_ERROR(conf.set("queued.min.messages", "1000000", name_));
        if (scale_out_) {
            // A process joining or leaving moves only the partitions that must
            // move, not all of them (docs/scale-out.md).
            EDDY_RETURN_IF_ERROR(
                conf.set("partition.assignment.strategy", "cooperative-sticky", name_));
        }
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
        rd_kafka_conf_set_offset_commit_cb(conf.get(), &KafkaSource::on_commit);
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
        // `all` assigns at the first poll: seek() (the checkpoint's offsets)
        // comes after open(). `group` subscribes there too: a job that fails
        // to start after open() (a changelog topic missing, say) then has no
        // group join in flight, which librdkafka 2.0.2 cannot always close.
        queue_ = rd_kafka_queue_get_consumer(rk_);
        messages_.resize(1024);
        return Status::ok();
    }

    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override {
        if (failure_) {
            return *failure_;
        }
        if (assignment_ == Assignment::kAll && !self_assigned_) {
            self_assigned_ = true;
            EDDY_RETURN_IF_ERROR(assign_every_partition());
        }
        if (assignment_ == Assignment::kGroup && !subscribed_) {
            subscribed_ = true;
            EDDY_RETURN_IF_ERROR(subscribe());
        }
        if (int64_t now = ctx_->clock().now_ms(); now >= lag_updated_ms_ + kLagIntervalMs) {
            lag_updated_ms_ = now;
            update_lag();
        }
        size_t want = std::min(max_records, messages_.size());
        last_split_ = UINT32_MAX;  // set_split() holds for one poll
        // Never waits: an empty queue is kIdle, and the runtime waits a
        // little. A wait in librdkafka would wake this thread for every
        // message set fetched, which slows the fetcher (250,000 messages from
        // `eddy broker` on 2 cores, fetch.wait.max.ms 10: 460 ms with a 50 ms
        // wait, 320 ms without).
        ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, messages_.data(), want);
        if (n < 0) {
            return Status::io_error(prefix() +
                                    "consume failed: " + rd_kafka_err2str(rd_kafka_last_error()));
        }
        for (ssize_t i = 0; i < n; ++i) {
            rd_kafka_message_t* m = messages_[static_cast<size_t>(i)];
            if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                handle_error(m);
            } else {
                emit(m, out);
            }
            rd_kafka_message_destroy(m);
        }
        if (failure_) {
            return *failure_;
        }
        if (n > 0) {
            return PollStatus::kData;
        }
        // A group's assignment may still be on its way while none is known;
        // `all` assigned everything there is at the first poll.
        bool assigned = assignment_ == Assignment::kAll || !assigned_.empty();
        return until_end_ && assigned && pending_.empty() && at_end_.size() == assigned_.size()
                   ? PollStatus::kEnd
                   : PollStatus::kIdle;
    }

    int32_t partition_count() const override { return scale_out_ ? partition_count_ : 0; }

    bool pending_change(PartitionChange& change) override {
        if (pending_.empty()) {
            return false;
        }
        const Pending& p = pending_.front();
        change.assigned = p.assigned;
        change.partitions.clear();
        for (int i = 0; i < p.list->cnt; ++i) {
            change.partitions.push_back(p.list->elems[i].partition);
        }
        return true;
    }

    Status complete_change(const std::map<int32_t, int64_t>& resume) override {
        if (pending_.empty()) {
            return Status::ok();
        }
        Pending p = pending_.front();
        pending_.pop_front();
        std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>
            owned(p.list, rd_kafka_topic_partition_list_destroy);
        last_rkt_ = nullptr;
        if (!p.assigned) {
            // Their offsets are the next owner's now (the changelog has them).
            for (int i = 0; i < p.list->cnt; ++i) {
                next_.erase({p.list->elems[i].topic, p.list->elems[i].partition});
            }
            return unassign(rk_, p.list, p.cooperative);
        }
        // Where the state says each partition continues; the others start
        // at the group's committed offset, else at `start`.
        for (int i = 0; i < p.list->cnt; ++i) {
            rd_kafka_topic_partition_t& tp = p.list->elems[i];
            tp.offset = RD_KAFKA_OFFSET_INVALID;
            if (auto it = resume.find(tp.partition); it != resume.end()) {
                next_[{tp.topic, tp.partition}] = it->second;
            } else {
                next_.erase({tp.topic, tp.partition});
            }
        }
        return assign(rk_, p.list, p.cooperative);
    }

    int64_t partition_offset(int32_t partition) const override {
        if (topics_.empty()) {
            return -1;
        }
        auto it = next_.find({topics_.front(), partition});
        return it == next_.end() ? -1 : it->second;
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
        if (scale_out_) {
            // Where each partition continues is the changelog's business: the
            // runtime says so when the group assigns it (complete_change()).
            return Status::ok();
        }
        next_ = std::move(stored);
        last_rkt_ = nullptr;
        return Status::ok();
    }

    rd_kafka_t* group_consumer() override { return rk_; }
    void commit_through_transactions() override { commit_through_transactions_ = true; }

    void checkpointed() override {
        // Standard lag tools then see the group's progress. Asynchronous: a
        // commit that fails costs nothing but lag figures, since the offsets
        // that count are in the checkpoint.
        checkpointed_ = staged_;
        if (pending_.empty()) {  // not while a rebalance waits for the state to move
            commit(/*async=*/true);
        }
    }

    Status close() override {
        // The last checkpoint's offsets, synchronously: an asynchronous
        // commit still in flight would be lost with the consumer.
        commit(/*async=*/false, /*again=*/true);
        update_lag();
        log_totals();
        closing_ = true;  // the metrics keep the last assignment's figures
        shut_down();
        return Status::ok();
    }

private:
    /// An asynchronous commit failed (a rebalance moved the group to a new
    /// generation, say): the next checkpoint sends the offsets again, so
    /// that the group catches up also when no more input comes.
    static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* offsets, void* opaque) {
        (void)rk;
        (void)offsets;
        auto* self = static_cast<KafkaSource*>(opaque);
        if (self->ctx_ == nullptr) {
            return;  // shutting down
        }
        if (err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
            err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
            err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) {
            // The group moved on: send it again once the rebalance is over
            // (sooner would fail again, and each failure makes the member
            // rejoin: a storm of rebalances).
            self->recommit_after_assign_ = true;
            return;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            self->sent_commit_.clear();
            self->logged_warn(
                "committing offsets to Kafka failed (sent again after the next "
                "checkpoint): " +
                std::string(rd_kafka_err2str(err)));
        }
    }

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
            lag += lag_of(tp, next);
        }
        ctx_->log(LogLevel::kInfo, "read " + std::to_string(consumed_) + " message(s) from " +
                                       std::to_string(next_.size()) + " partition(s), " +
                                       std::to_string(rebalances_) +
                                       " rebalance(s); lag at close: " + std::to_string(lag) +
                                       " message(s)");
    }

    /// Messages between `next` and the end of the partition, as of the
    /// last fetch (librdkafka's cached high watermark: no request is made).
    int64_t lag_of(const std::pair<std::string, int32_t>& tp, int64_t next) const {
        int64_t low = 0;
        int64_t high = 0;
        if (rd_kafka_get_watermark_offsets(rk_, tp.first.c_str(), tp.second, &low, &high) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            high > next) {
            return high - next;
        }
        return 0;
    }

    /// The consumer-lag gauge of every assigned partition: from the next
    /// offset to read, or for a partition not read from yet, from where it
    /// starts. Left as it is while the partition's end is not known yet.
    void update_lag() {
        if (rk_ == nullptr) {
            return;
        }
        for (auto& [tp, gauge] : lag_metric_) {
            if (auto it = next_.find(tp); it != next_.end()) {
                gauge.set(lag_of(tp, it->second));
                continue;
            }
            int64_t low = 0;
            int64_t high = 0;
            if (rd_kafka_get_watermark_offsets(rk_, tp.first.c_str(), tp.second, &low, &high) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
                high < 0) {
                continue;
            }
            int64_t start = RD_KAFKA_OFFSET_INVALID;
            if (auto s = start_offset_.find(tp); s != start_offset_.end()) {
                start = s->second;
            }
            if (start == RD_KAFKA_OFFSET_BEGINNING) {
                start = low;
            } else if (start == RD_KAFKA_OFFSET_END) {
                start = high;
            } else if (start < 0) {
                // The group's committed offset, which librdkafka looked up:
                // where it fetches from, as nothing of it was read yet.
                rd_kafka_topic_partition_list_t* one = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(one, tp.first.c_str(), tp.second);
                if (rd_kafka_position(rk_, one) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    start = one->elems[0].offset;
                }
                rd_kafka_topic_partition_list_destroy(one);
            }
            if (start >= 0) {
                gauge.set(std::max<int64_t>(0, high - start));
            }
        }
    }

    /// Commits the last checkpoint's offsets to the group, unless already
    /// sent (`again`: also then).
    void commit(bool async, bool again = false) {
        if (rk_ == nullptr || checkpointed_.empty() || commit_through_transactions_ ||
            (!again && checkpointed_ == sent_commit_)) {
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
    /// (not a ^regex) exists. With `assignment: all`, also notes every
    /// partition of the named topics and of those a ^regex matches.
    Status check_topics() {
        const rd_kafka_metadata_t* md = nullptr;
        EDDY_RETURN_IF_ERROR(fetch_metadata(rk_, client_, /*all_topics=*/true, prefix(), &md));
        std::vector<std::regex> patterns;
        for (const std::string& t : topics_) {
            std::string error;  // the factory refused patterns that do not compile
            if (assignment_ == Assignment::kAll && t.starts_with("^")) {
                if (std::optional<std::regex> re = topic_regex(t, error)) {
                    patterns.push_back(std::move(*re));
                }
            }
        }
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
        for (int i = 0; i < md->topic_cnt && scale_out_; ++i) {
            if (md->topics[i].topic == topics_.front()) {
                partition_count_ = md->topics[i].partition_cnt;
            }
        }
        for (int i = 0; i < md->topic_cnt && assignment_ == Assignment::kAll; ++i) {
            const rd_kafka_metadata_topic_t& topic = md->topics[i];
            bool wanted = std::find(topics_.begin(), topics_.end(), topic.topic) != topics_.end();
            for (size_t r = 0; r < patterns.size() && !wanted; ++r) {
                wanted = std::regex_search(topic.topic, patterns[r]);
            }
            if (!wanted || topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                continue;
            }
            for (int p = 0; p < topic.partition_cnt; ++p) {
                every_partition_.emplace_back(topic.topic, topic.partitions[p].id);
            }
            // Known to the client now (from this metadata), its partitions
            // have found their leaders by the first poll: assigned before,
            // librdkafka retries such a partition's start after 500 ms.
            topic_handles_.push_back(rd_kafka_topic_new(rk_, topic.topic, nullptr));
        }
        rd_kafka_metadata_destroy(md);
        if (!missing.empty()) {
            return Status::not_found(prefix() + "topic " + missing + " does not exist on '" +
                                     client_.brokers + "'; create it first");
        }
        return Status::ok();
    }

    size_t emit(rd_kafka_message_t* m, SourceEmitter& out) {
        if (m->rkt != last_rkt_ || m->partition != last_partition_) {
            // A lookup (and a topic string) per change of partition, not per message.
            std::pair<std::string, int32_t> tp{rd_kafka_topic_name(m->rkt), m->partition};
            if (scale_out_ && assigned_.count(tp) == 0) {
                // Revoked, its state on its way to the next owner: that
                // owner reads it from the changelog's offset.
                return 0;
            }
            at_end_.erase(tp);
            last_next_ = &next_[tp];
            last_split_id_ =
                splits_.try_emplace(tp, static_cast<uint32_t>(splits_.size())).first->second;
            last_rkt_ = m->rkt;
            last_partition_ = m->partition;
        }
        ++consumed_;
        *last_next_ = m->offset + 1;
        std::string_view payload(static_cast<const char*>(m->payload), m->len);
        // Each partition gets a watermark of its own.
        if (last_split_id_ != last_split_) {
            out.set_split(last_split_id_);
            last_split_ = last_split_id_;
        }
        if (scale_out_ && !key_in_partition(m)) {
            out.error(std::string(rd_kafka_topic_name(m->rkt)) + "/" +
                          std::to_string(m->partition) + "@" + std::to_string(m->offset) + ": " +
                          key_problem(m),
                      m->offset, truncate_utf8(payload, kRawErrorBytes));
            return 0;
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
            record.set(key_field_, message_key(m));
        }
        return 1;
    }

    /// scale_out: whether Kafka's default (murmur2) partitioner puts the
    /// message's key in the partition it came from, as the state assumes.
    bool key_in_partition(const rd_kafka_message_t* m) const {
        return m->key != nullptr &&
               kafka_partition_of(message_key(m), partition_count_) == m->partition;
    }

    static std::string_view message_key(const rd_kafka_message_t* m) {
        return {static_cast<const char*>(m->key), m->key_len};
    }

    std::string key_problem(const rd_kafka_message_t* m) const {
        if (m->key == nullptr) {
            return "the message has no key; with scale_out: kafka every message needs one (the "
                   "state of a key lives in its partition)";
        }
        std::string_view key = message_key(m);
        return "key '" + std::string(truncate_utf8(key, 64)) + "' belongs in partition " +
               std::to_string(kafka_partition_of(key, partition_count_)) +
               " by Kafka's default partitioner (murmur2), not here: produce with "
               "partitioner=murmur2_random (the Java client's default) so that each key's "
               "state has one partition";
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
        bool cooperative = cooperative_rebalance(rk);
        ever_assigned_ |= err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
        if (scale_out_ && !closing_ &&
            (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ||
             err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)) {
            // The state must move first: the runtime asks pending_change()
            // after this poll, and complete_change() (un)assigns. Until then
            // librdkafka holds the rebalance, so no other process reads a
            // revoked partition before its last checkpoint is in the changelog.
            bool assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
            ++rebalances_;
            rebalances_metric_.add();
            if (!assigned) {
                for (int i = 0; i < partitions->cnt; ++i) {
                    forget_assigned({partitions->elems[i].topic, partitions->elems[i].partition});
                }
                assigned_metric_.set(static_cast<int64_t>(assigned_.size()));
            }
            last_rkt_ = nullptr;  // emit() skips revoked partitions from now on
            pending_.push_back(
                {assigned, cooperative, rd_kafka_topic_partition_list_copy(partitions)});
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            ++rebalances_;
            rebalances_metric_.add();
            Status s = assign(rk, partitions, cooperative);
            if (!s.is_ok()) {
                logged_warn(s.message());
            }
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
            // Offsets of revoked partitions stay in the position: what was
            // read from them is in the state, and a later checkpoint says so.
            if (!closing_) {
                ++rebalances_;
                rebalances_metric_.add();
            }
            for (int i = 0; i < partitions->cnt; ++i) {
                forget_assigned({partitions->elems[i].topic, partitions->elems[i].partition});
            }
            if (!closing_) {
                assigned_metric_.set(static_cast<int64_t>(assigned_.size()));
            }
            Status s = unassign(rk, partitions, cooperative);
            (void)s;  // the consumer is closing or the group moves on
            return;
        }
        logged_warn(std::string("rebalance failed: ") + rd_kafka_err2str(err));
        rd_kafka_assign(rk, nullptr);
    }

    /// A partition leaves the assignment: it is read no more.
    void forget_assigned(const std::pair<std::string, int32_t>& tp) {
        assigned_.erase(tp);
        at_end_.erase(tp);
        if (auto it = lag_metric_.find(tp); it != lag_metric_.end() && !closing_) {
            it->second.retire();
            lag_metric_.erase(it);
        }
    }

    Status unassign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
        if (cooperative) {
            rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions);
            if (e != nullptr) {
                std::string message = rd_kafka_error_string(e);
                rd_kafka_error_destroy(e);
                return Status::io_error(prefix() + "releasing partitions failed: " + message);
            }
            return Status::ok();
        }
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, nullptr);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Status::io_error(prefix() +
                                    "releasing partitions failed: " + rd_kafka_err2str(err));
        }
        return Status::ok();
    }

    /// Assigns `partitions` (offsets RD_KAFKA_OFFSET_INVALID), from a group
    /// rebalance or from `assignment: all`. Partitions the checkpoint knows
    /// resume after its offsets; the others start at the group's committed
    /// offset, or else at `start`.
    Status assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions, bool incremental) {
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
            if (ctx_ != nullptr && lag_metric_.count({p.topic, p.partition}) == 0) {
                lag_metric_.emplace(
                    std::pair<std::string, int32_t>{p.topic, p.partition},
                    ctx_->gauge("kafka_consumer_lag",
                                "Messages between the next offset to read and the end of the "
                                "partition, as of the last fetch.",
                                {{"topic", p.topic}, {"partition", std::to_string(p.partition)}}));
            }
        }
        assigned_metric_.set(static_cast<int64_t>(assigned_.size()));
        if (recommit_after_assign_) {
            recommit_after_assign_ = false;
            sent_commit_.clear();  // the next checkpoint commits again
        }
        // In a group the 100 ms resolve_new_partitions() saves are lost in
        // the join's seconds: librdkafka looks up committed offsets there.
        if (any_new &&
            (assignment_ == Assignment::kAll || start_.kind == StartAt::Kind::kTimestamp)) {
            resolve_new_partitions(rk, partitions);
        }
        for (int i = 0; i < partitions->cnt; ++i) {
            const rd_kafka_topic_partition_t& p = partitions->elems[i];
            start_offset_[{p.topic, p.partition}] = p.offset;
        }
        if (ctx_ != nullptr) {
            ctx_->log(LogLevel::kInfo, "assigned " + std::to_string(partitions->cnt) +
                                           " partition(s) of " + topic_list());
        }
        if (incremental) {
            rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions);
            if (e != nullptr) {
                std::string message = rd_kafka_error_string(e);
                rd_kafka_error_destroy(e);
                return Status::io_error(prefix() + "assigning partitions failed: " + message);
            }
            return Status::ok();
        }
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, partitions);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Status::io_error(prefix() +
                                    "assigning partitions failed: " + rd_kafka_err2str(err));
        }
        return Status::ok();
    }

    /// `assignment: group`, at the first poll: joins the group.
    Status subscribe() {
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
        return Status::ok();
    }

    /// `assignment: all`, at the first poll: every partition check_topics()
    /// found, with no group join. Partitions added later are not read.
    Status assign_every_partition() {
        if (every_partition_.empty()) {
            ctx_->log(LogLevel::kWarn,
                      prefix() + "no partition of " + topic_list() + " to read: no topic matches");
            return Status::ok();
        }
        rd_kafka_topic_partition_list_t* list =
            rd_kafka_topic_partition_list_new(static_cast<int>(every_partition_.size()));
        for (const auto& [topic, partition] : every_partition_) {
            rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset =
                RD_KAFKA_OFFSET_INVALID;
        }
        Status s = assign(rk_, list, /*incremental=*/false);
        rd_kafka_topic_partition_list_destroy(list);
        return s;
    }

    /// Partitions new to the checkpoint: the group's committed offset, else
    /// `start` (a time: the first offset at or after it). librdkafka would
    /// look up committed offsets itself (RD_KAFKA_OFFSET_INVALID), but then
    /// waits 100 ms before it resets a partition without one to `start`;
    /// asking first costs one request to the group's coordinator.
    void resolve_new_partitions(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
        rd_kafka_topic_partition_list_t* query = rd_kafka_topic_partition_list_new(partitions->cnt);
        for (int i = 0; i < partitions->cnt; ++i) {
            const rd_kafka_topic_partition_t& p = partitions->elems[i];
            if (next_.find({p.topic, p.partition}) == next_.end()) {
                rd_kafka_topic_partition_list_add(query, p.topic, p.partition);
            }
        }
        rd_kafka_resp_err_t err =
            rd_kafka_committed(rk, query, static_cast<int>(client_.connect_timeout_ms));
        rd_kafka_topic_partition_list_t* lookup = rd_kafka_topic_partition_list_new(query->cnt);
        for (int i = 0; i < query->cnt; ++i) {
            const rd_kafka_topic_partition_t& q = query->elems[i];
            rd_kafka_topic_partition_t* p =
                rd_kafka_topic_partition_list_find(partitions, q.topic, q.partition);
            bool known = err == RD_KAFKA_RESP_ERR_NO_ERROR && q.err == RD_KAFKA_RESP_ERR_NO_ERROR;
            if (known && q.offset >= 0) {
                p->offset = q.offset;
            } else if (!known && start_.kind != StartAt::Kind::kTimestamp) {
                p->offset = RD_KAFKA_OFFSET_INVALID;  // librdkafka asks again
            } else if (start_.kind == StartAt::Kind::kEarliest) {
                p->offset = RD_KAFKA_OFFSET_BEGINNING;
            } else if (start_.kind == StartAt::Kind::kLatest) {
                p->offset = RD_KAFKA_OFFSET_END;
            } else {
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
        for (rd_kafka_topic_t* t : topic_handles_) {
            rd_kafka_topic_destroy(t);
        }
        topic_handles_.clear();
        if (queue_ != nullptr) {
            rd_kafka_queue_destroy(queue_);
            queue_ = nullptr;
        }
        // A consumer that never subscribed has no assignor state to trip on.
        close_kafka_client(rk_, ever_assigned_ || !subscribed_);
        rk_ = nullptr;
    }

    std::string name_;
    KafkaClientOptions client_;
    std::vector<std::string> topics_;
    std::string group_;
    Assignment assignment_;
    StartAt start_;
    std::string key_field_name_;
    bool until_end_;
    bool scale_out_;
    DecoderOptions options_;
    // scale_out: the topic's partitions, and (un)assignments waiting for the
    // runtime to move their state.
    int32_t partition_count_ = 0;
    struct Pending {
        bool assigned;
        bool cooperative;
        rd_kafka_topic_partition_list_t* list;
    };
    std::deque<Pending> pending_;
    // A commit the group refused during a rebalance: sent again after the
    // next assignment.
    bool recommit_after_assign_ = false;
    bool commit_through_transactions_ = false;  // the runtime's transactions commit offsets
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
    // `assignment: all`: every partition of the topics at open(), and
    // whether the first poll assigned them.
    std::vector<std::pair<std::string, int32_t>> every_partition_;
    std::vector<rd_kafka_topic_t*> topic_handles_;
    bool self_assigned_ = false;
    bool subscribed_ = false;  // `group`: joined at the first poll
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
    // Metrics (docs/metrics.md): lag per assigned partition, refreshed at
    // most every kLagIntervalMs of polling and at close.
    Counter rebalances_metric_;
    Gauge assigned_metric_;
    std::map<std::pair<std::string, int32_t>, Gauge> lag_metric_;
    // Where each assigned partition started (an offset, or librdkafka's
    // logical BEGINNING / END / INVALID = the group's committed offset).
    std::map<std::pair<std::string, int32_t>, int64_t> start_offset_;
    int64_t lag_updated_ms_ = 0;
    bool closing_ = false;
    bool ever_assigned_ = false;  // the group has given this consumer an assignment
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
    spec.summary(
            "Reads JSON or raw messages from Kafka topics, in a consumer group or from every "
            "partition.")
        .description(
            "Offsets are Eddy's: auto-commit is off, the next offset of every partition read is "
            "part of each checkpoint, and a restarted job resumes from the checkpoint's offsets, "
            "so state stays exactly-once. After each checkpoint the offsets are also committed "
            "to the group, so standard lag tools see progress. A partition the checkpoint does "
            "not know starts at the group's committed offset, else at `start`. With "
            "`assignment: group` partitions come from the group's rebalances; with `all` the "
            "source assigns itself every partition the topics have at start (no group join, "
            "no rebalances; partitions and ^regex topics created later are not read). Without "
            "`event_time`, a record's time is the message timestamp. Undecodable messages go "
            "to `errors` with topic, partition and offset. An unreachable broker or a missing "
            "topic is an error at start. See docs/kafka.md.");
    eddy::add_kafka_client_params(spec);
    spec.param(Param::list("topics")
                   .required()
                   .doc("Topics to read; a name starting with ^ is a regular expression "
                        "(POSIX extended, as librdkafka's subscriptions: `^clicks-` is every "
                        "topic whose name starts with clicks-).")
                   .example("[clicks]"))
        .param(Param::string("group")
                   .doc("Consumer group id; default `eddy-` followed by the component's name. "
                        "With `assignment: all` the group only keeps committed offsets.")
                   .example("personalization"))
        .param(Param::enumeration("assignment", {"group", "all"})
                   .default_value("group")
                   .doc("Who assigns partitions: group, the consumer group (partitions shared "
                        "and moved by rebalances; the first join takes seconds); all, the source "
                        "itself, every partition of the topics at start (as Flink's "
                        "KafkaSource: no group join or rebalance; partitions added later are "
                        "not read). ^regex topics match the topic names at start."))
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
                        "operators by it."))
        .param(Param::enumeration("scale_out", {"none", "kafka"})
                   .default_value("none")
                   .doc("kafka: several `eddy run` processes share the group and its "
                        "partitions, and each partition's keyed state moves with it through "
                        "a changelog topic (docs/scale-out.md). Needs key_field, one topic and "
                        "a state dir; operators keyed by another field read through a "
                        "repartition topic that Eddy adds. Messages must be partitioned by "
                        "Kafka's default (murmur2) partitioner."));
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
            eddy::Assignment assignment = cfg.string("assignment") == "all"
                                              ? eddy::Assignment::kAll
                                              : eddy::Assignment::kGroup;
            for (const std::string& t : topics) {
                std::string error;
                if (assignment == eddy::Assignment::kAll && t.starts_with("^") &&
                    !eddy::topic_regex(t, error)) {
                    return eddy::Status::invalid_argument(
                        eddy::kafka_param_place(cfg, "topics") + ": '" + t +
                        "' is not a POSIX extended regular expression (" + error + ")");
                }
            }
            std::string group = cfg.has("group") ? cfg.string("group") : "eddy-" + cfg.component();
            return std::unique_ptr<eddy::Source>(std::make_unique<eddy::KafkaSource>(
                cfg.component(), std::move(client).value(), std::move(topics), std::move(group),
                assignment, start.value(),
                cfg.has("key_field") ? cfg.string("key_field") : std::string(),
                cfg.boolean("until_end"), cfg.string("scale_out") == "kafka",
                std::move(options).value()));
        });
    return spec.build();
}
