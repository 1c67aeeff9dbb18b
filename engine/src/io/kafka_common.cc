// SPDX-License-Identifier: Apache-2.0
#include "io/kafka_common.h"

#include <charconv>
#include <chrono>

#include "record/event_time.h"

namespace eddy {

std::string kafka_param_place(const Config& cfg, std::string_view param) {
    std::string where = cfg.location_of(param).to_string();
    std::string out = "source '" + cfg.component() + "': parameter '" + std::string(param) + "'";
    return where.empty() ? out : out + " (" + where + ")";
}

namespace {

/// A scalar as librdkafka wants it: its text.
std::string scalar_text(const ConfigValue& v) {
    switch (v.kind()) {
        case ConfigValue::Kind::kBool:
            return v.as_bool() ? "true" : "false";
        case ConfigValue::Kind::kInt:
            return std::to_string(v.as_int());
        case ConfigValue::Kind::kDouble: {
            std::string s = std::to_string(v.as_double());
            return s;
        }
        default:
            return v.as_string();
    }
}

}  // namespace

Result<KafkaClientOptions> kafka_client_options(const Config& cfg) {
    KafkaClientOptions o;
    o.brokers = cfg.string("brokers");
    if (o.brokers.empty()) {
        return Status::invalid_argument(kafka_param_place(cfg, "brokers") +
                                        " is empty; give host:port[,host:port...]");
    }
    if (cfg.has("properties")) {
        const ConfigValue& props = cfg.value("properties");
        for (const ConfigValue::Entry& e : props.entries()) {
            if (!e.second.is_scalar() || e.second.is_null()) {
                return Status::invalid_argument(kafka_param_place(cfg, "properties") + ": '" +
                                                e.first + "' must be a single value, got " +
                                                e.second.to_string());
            }
            o.properties.emplace_back(e.first, scalar_text(e.second));
        }
    }
    o.connect_timeout_ms = cfg.duration("connect_timeout").count();
    if (o.connect_timeout_ms <= 0) {
        return Status::invalid_argument(kafka_param_place(cfg, "connect_timeout") +
                                        " must be above 0");
    }
    return o;
}

Status fetch_metadata(rd_kafka_t* rk, const KafkaClientOptions& options, bool all_topics,
                      const std::string& who, const rd_kafka_metadata_t** metadata) {
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, all_topics ? 1 : 0, nullptr, metadata,
                                                static_cast<int>(options.connect_timeout_ms));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(who + "no answer from Kafka brokers '" + options.brokers +
                                "' within " + std::to_string(options.connect_timeout_ms / 1000) +
                                " s (" + rd_kafka_err2str(err) +
                                "); check `brokers` and that Kafka is running");
    }
    return Status::ok();
}

namespace {

/// How long closing a consumer waits to leave its group.
constexpr int64_t kCloseWaitMs = 10000;

/// Whether the consumer is configured with the cooperative-sticky assignor.
bool cooperative_configured(rd_kafka_t* rk) {
    char strategy[256];
    size_t size = sizeof strategy;
    return rd_kafka_conf_get(rd_kafka_conf(rk), "partition.assignment.strategy", strategy, &size) ==
               RD_KAFKA_CONF_OK &&
           std::string_view(strategy).find("cooperative-sticky") != std::string_view::npos;
}

/// Whether destroying `rk` before its first assignment would hit
/// librdkafka#4312: a cooperative-sticky consumer on librdkafka < 2.3.0.
bool destroy_aborts_unassigned(rd_kafka_t* rk) {
    return rd_kafka_version() < 0x020300ff && cooperative_configured(rk);
}

}  // namespace

bool cooperative_rebalance(rd_kafka_t* rk) {
    const char* protocol = rd_kafka_rebalance_protocol(rk);
    return protocol != nullptr ? std::string_view(protocol) == "COOPERATIVE"
                               : cooperative_configured(rk);
}

void close_kafka_client(rd_kafka_t* rk, bool ever_assigned) {
    if (rk == nullptr) {
        return;
    }
    if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER) {
        rd_kafka_flush(rk, 10000);
        rd_kafka_destroy(rk);
        return;
    }
    // rd_kafka_consumer_close() can wait forever (a group join the job never
    // polled, a broker gone): leave the group within a bound instead.
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(rk, q); error != nullptr) {
        rd_kafka_error_destroy(error);
    } else {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCloseWaitMs);
        while (rd_kafka_consumer_closed(rk) == 0 && std::chrono::steady_clock::now() < deadline) {
            rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 100);
            if (ev == nullptr) {
                continue;
            }
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                // Take an assignment that arrives now (a join that was in
                // flight), then give everything up as the group asks. An
                // assignment not taken keeps the close waiting, and in
                // librdkafka 2.0.2 an unassign of it can block for ever.
                bool assign = rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
                ever_assigned |= assign;
                const rd_kafka_topic_partition_list_t* partitions =
                    rd_kafka_event_topic_partition_list(ev);
                if (cooperative_rebalance(rk)) {
                    rd_kafka_error_t* e = assign ? rd_kafka_incremental_assign(rk, partitions)
                                                 : rd_kafka_incremental_unassign(rk, partitions);
                    if (e != nullptr) {
                        rd_kafka_error_destroy(e);
                    }
                } else {
                    rd_kafka_assign(rk, assign ? partitions : nullptr);
                }
            }
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    if (!ever_assigned && destroy_aborts_unassigned(rk)) {
        return;  // left to the process's exit (see the header)
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

Result<int32_t> topic_partitions(rd_kafka_t* rk, const KafkaClientOptions& options,
                                 const std::string& topic, const std::string& who) {
    const rd_kafka_metadata_t* md = nullptr;
    EDDY_RETURN_IF_ERROR(fetch_metadata(rk, options, /*all_topics=*/true, who, &md));
    int32_t found = -1;
    for (int i = 0; i < md->topic_cnt; ++i) {
        if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            found = md->topics[i].partition_cnt;
        }
    }
    rd_kafka_metadata_destroy(md);
    return found;
}

Result<int32_t> ensure_topic(rd_kafka_t* rk, const KafkaClientOptions& options,
                             const std::string& topic, int32_t partitions,
                             const std::vector<std::pair<std::string, std::string>>& configs,
                             const std::string& who, const std::string& what,
                             const std::string& how) {
    auto listed = topic_partitions(rk, options, topic, who);
    if (!listed.is_ok() || listed.value() >= 0) {
        return listed;
    }
    char errstr[512];
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, errstr, sizeof errstr);
    for (const auto& [name, value] : configs) {
        rd_kafka_NewTopic_set_config(t, name.c_str(), value.c_str());
    }
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t* admin = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    int timeout = static_cast<int>(options.connect_timeout_ms);
    rd_kafka_AdminOptions_set_request_timeout(admin, timeout, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_operation_timeout(admin, timeout, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, &t, 1, admin, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout + 1000);
    std::string error;
    if (ev == nullptr) {
        error = "no answer";
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error = rd_kafka_event_error_string(ev);
    } else if (const rd_kafka_CreateTopics_result_t* r = rd_kafka_event_CreateTopics_result(ev)) {
        size_t n = 0;
        const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(r, &n);
        for (size_t i = 0; i < n; ++i) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                error = rd_kafka_topic_result_error_string(results[i]);
            }
        }
    }
    if (ev != nullptr) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(admin);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(t);
    if (!error.empty()) {
        return Status::io_error(who + "cannot create " + what + " '" + topic + "' (" + error +
                                "): " + how);
    }
    return partitions;
}

KafkaClientOptions producer_options(const KafkaClientOptions& client) {
    static constexpr std::string_view kConsumerOnly[] = {"group.",
                                                         "session.timeout.ms",
                                                         "heartbeat.interval.ms",
                                                         "coordinator.query.interval.ms",
                                                         "max.poll.interval.ms",
                                                         "enable.auto.",
                                                         "auto.commit.interval.ms",
                                                         "auto.offset.reset",
                                                         "queued.",
                                                         "fetch.",
                                                         "max.partition.fetch.bytes",
                                                         "offset.store.",
                                                         "isolation.level",
                                                         "enable.partition.eof",
                                                         "check.crcs",
                                                         "allow.auto.create.topics",
                                                         "partition.assignment.strategy"};
    KafkaClientOptions out = client;
    out.properties.clear();
    for (const auto& [name, value] : client.properties) {
        bool consumer = false;
        for (std::string_view c : kConsumerOnly) {
            consumer |= name.starts_with(c);
        }
        if (!consumer) {
            out.properties.emplace_back(name, value);
        }
    }
    return out;
}

std::optional<int64_t> parse_time_ms(std::string_view text) {
    int64_t ms = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec == std::errc() && end == text.data() + text.size() && ms >= 0) {
        return ms;
    }
    return parse_iso8601_ms(text);
}

Status KafkaConf::set(const std::string& name, const std::string& value,
                      const std::string& component) {
    char errstr[512];
    if (rd_kafka_conf_set(conf_, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        return Status::invalid_argument("'" + component + "': Kafka setting '" + name + "' = '" +
                                        value + "': " + errstr);
    }
    return Status::ok();
}

Status KafkaConf::apply(const KafkaClientOptions& options, const std::string& component) {
    EDDY_RETURN_IF_ERROR(set("bootstrap.servers", options.brokers, component));
    for (const auto& [name, value] : options.properties) {
        EDDY_RETURN_IF_ERROR(set(name, value, component));
    }
    return Status::ok();
}

}  // namespace eddy
