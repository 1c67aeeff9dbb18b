// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "eddy/config.h"
#include "eddy/context.h"
#include "eddy/spec.h"
#include "eddy/status.h"

namespace eddy {

/// What every Kafka client of a source or sink is given: `brokers`,
/// `properties` (any librdkafka setting, passed through) and `connect_timeout`.
struct KafkaClientOptions {
    std::string brokers;
    std::vector<std::pair<std::string, std::string>> properties;
    int64_t connect_timeout_ms = 10000;
};

/// Declares `brokers`, `properties` and `connect_timeout` on a spec.
template <class Spec>
void add_kafka_client_params(Spec& spec) {
    spec.param(Param::string("brokers")
                   .required()
                   .doc("Bootstrap servers, host:port[,host:port...].")
                   .example("127.0.0.1:9092"))
        .param(Param::map("properties")
                   .doc("Any other librdkafka setting, passed through as written (security: "
                        "security.protocol, sasl.*, ssl.*; tuning: fetch.wait.max.ms, ...). An "
                        "unknown name or a bad value is an error at start.")
                   .example("{security.protocol: SASL_SSL, sasl.mechanisms: PLAIN}"))
        .param(Param::duration("connect_timeout")
                   .default_value("10s")
                   .doc("How long to wait at start for the brokers to answer."));
}

/// "source 'clicks': parameter 'start' (topology.yaml:9:5)".
std::string kafka_param_place(const Config& cfg, std::string_view param);

/// Reads the parameters add_kafka_client_params() declares.
Result<KafkaClientOptions> kafka_client_options(const Config& cfg);

/// Asks the brokers for metadata (every topic's with `all_topics`) within
/// the connect timeout. The error, prefixed with `who` ("source 'clicks': "),
/// says the brokers did not answer. The caller destroys *metadata.
Status fetch_metadata(rd_kafka_t* rk, const KafkaClientOptions& options, bool all_topics,
                      const std::string& who, const rd_kafka_metadata_t** metadata);

/// The partition count of `topic` as the brokers list it (-1: no such topic).
Result<int32_t> topic_partitions(rd_kafka_t* rk, const KafkaClientOptions& options,
                                 const std::string& topic, const std::string& who);

/// The partition count of `topic` (-1: no such topic), creating it when
/// absent through the Admin API with `partitions` partitions and `configs`
/// (cleanup.policy=compact, ...). Errors say what `what` is ("the changelog
/// topic") and end with `how` (how to create it by hand).
Result<int32_t> ensure_topic(rd_kafka_t* rk, const KafkaClientOptions& options,
                             const std::string& topic, int32_t partitions,
                             const std::vector<std::pair<std::string, std::string>>& configs,
                             const std::string& who, const std::string& what,
                             const std::string& how);

/// Ends a client and destroys it (nothing for null): a producer delivers
/// what it holds first (up to 10 s), a consumer leaves its group (also
/// within 10 s; then it is destroyed without leaving). `ever_assigned`:
/// whether a subscribed consumer has had an assignment. librdkafka before
/// 2.3.0 aborts when a cooperative-sticky consumer that has not is destroyed
/// (librdkafka#4312); such a consumer leaves its group and is left to the
/// process's exit instead of being destroyed.
void close_kafka_client(rd_kafka_t* rk, bool ever_assigned = true);

/// The source's `properties` without those only a consumer reads, which a
/// producer would warn about.
KafkaClientOptions producer_options(const KafkaClientOptions& client);

/// Whether the consumer's group rebalances incrementally (cooperative-sticky).
/// librdkafka gives no protocol (null) before the group has chosen one, or
/// while the consumer closes: then the configured assignor decides.
bool cooperative_rebalance(rd_kafka_t* rk);

/// The partition, of `partitions`, that Kafka's default partitioner (murmur2,
/// as the Java client and librdkafka's murmur2_random) gives a key.
inline int32_t kafka_partition_of(std::string_view key, int32_t partitions) {
    return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr,
                                            nullptr);
}

/// Epoch milliseconds written as digits, or an ISO 8601 time.
std::optional<int64_t> parse_time_ms(std::string_view text);

/// The job's log level for a librdkafka (syslog) level.
inline LogLevel kafka_log_level(int level) {
    return level <= 3   ? LogLevel::kError
           : level == 4 ? LogLevel::kWarn
           : level <= 6 ? LogLevel::kInfo
                        : LogLevel::kDebug;
}

/// An rd_kafka_conf_t that is destroyed unless handed to rd_kafka_new().
class KafkaConf {
public:
    KafkaConf() : conf_(rd_kafka_conf_new()) {}
    ~KafkaConf() {
        if (conf_ != nullptr) {
            rd_kafka_conf_destroy(conf_);
        }
    }
    KafkaConf(const KafkaConf&) = delete;
    KafkaConf& operator=(const KafkaConf&) = delete;

    /// Sets one librdkafka property; errors name the component and the property.
    Status set(const std::string& name, const std::string& value, const std::string& component);
    /// bootstrap.servers, then every `properties` entry.
    Status apply(const KafkaClientOptions& options, const std::string& component);
    rd_kafka_conf_t* get() { return conf_; }
    /// After a successful rd_kafka_new(), which owns the conf.
    void release() { conf_ = nullptr; }

private:
    rd_kafka_conf_t* conf_;
};

}  // namespace eddy
