// SPDX-License-Identifier: Apache-2.0
// Test support: a local test broker (`eddy broker`, librdkafka's mock
// cluster) started as a child process, and a plain librdkafka producer and
// consumer to put messages in and take them out.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <sys/wait.h>
#include <unistd.h>

namespace eddy::testing {

/// `eddy broker` with the given topics (NAME:PARTITIONS), on 127.0.0.1;
/// stopped by the destructor.
class TestBroker {
public:
    TestBroker(const std::filesystem::path& dir, const std::vector<std::string>& topics,
               int rtt_ms = 0) {
        std::filesystem::path file = dir / "bootstrap.txt";
        std::filesystem::remove(file);
        pid_ = ::fork();
        if (pid_ == 0) {
            FILE* log = std::freopen((dir / "broker.log").c_str(), "a", stderr);
            FILE* out = std::freopen("/dev/null", "w", stdout);
            (void)log;
            (void)out;
            std::vector<std::string> args = {"eddy",        "broker", "--bootstrap-file",
                                             file.string(), "--rtt",  std::to_string(rtt_ms)};
            for (const std::string& t : topics) {
                args.push_back("--topic");
                args.push_back(t);
            }
            std::vector<char*> argv;
            for (std::string& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(EDDY_BINARY, argv.data());
            ::_exit(127);
        }
        for (int i = 0; i < 200 && !std::filesystem::exists(file); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        std::ifstream in(file);
        std::getline(in, bootstrap_);
    }
    ~TestBroker() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    TestBroker(const TestBroker&) = delete;
    TestBroker& operator=(const TestBroker&) = delete;

    /// "127.0.0.1:PORT", empty when the broker did not start.
    const std::string& bootstrap() const { return bootstrap_; }

private:
    pid_t pid_ = -1;
    std::string bootstrap_;
};

/// Settings that make the mock cluster's consumer groups quick (see docs/kafka.md).
inline const char* kQuickGroupProperties =
    "{session.timeout.ms: 6000, fetch.wait.max.ms: 10, heartbeat.interval.ms: 500}";

/// Produces each line as one message to `topic` (partition chosen by the key
/// when `key_of` gives one), with extra librdkafka producer properties
/// (NAME, VALUE), e.g. {{"partitioner", "murmur2_random"}}: the partition
/// Kafka's Java client (and `scale_out: kafka`) expects for each key. Small
/// record batches: a consumer with a small max.partition.fetch.bytes then
/// really reads a little at a time. Returns how many messages were
/// acknowledged; 0 when a property is refused.
template <class KeyOf>
size_t produce_with(const std::string& bootstrap, const std::string& topic,
                    const std::vector<std::string>& lines, KeyOf key_of,
                    const std::vector<std::pair<std::string, std::string>>& properties) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "batch.num.messages", "20", errstr, sizeof errstr);
    for (const auto& [name, value] : properties) {
        if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return 0;
        }
    }
    size_t acked = 0;  // per call (unlike produce()): calls may run in several threads
    rd_kafka_conf_set_opaque(conf, &acked);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ++*static_cast<size_t*>(opaque);
        }
    });
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        return 0;
    }
    for (const std::string& line : lines) {
        std::string key = key_of(line);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(line.data()), line.size()),
                                 RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
        }
    }
    rd_kafka_flush(rk, 30000);
    rd_kafka_destroy(rk);
    return acked;
}

/// produce_with() with librdkafka's defaults (its partitioner: CRC32).
template <class KeyOf>
size_t produce(const std::string& bootstrap, const std::string& topic,
               const std::vector<std::string>& lines, KeyOf key_of) {
    return produce_with(bootstrap, topic, lines, key_of, {});
}

/// Reads `topic` from the beginning (no group) until `expected` messages or
/// `timeout_ms`; returns the values, and their timestamps in `timestamps`
/// when given.
inline std::vector<std::string> consume(const std::string& bootstrap, const std::string& topic,
                                        size_t expected, int timeout_ms = 20000,
                                        std::vector<int64_t>* timestamps = nullptr) {
    std::vector<std::string> out;
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "eddy-test-reader", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof errstr);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        return out;
    }
    const rd_kafka_metadata_t* md = nullptr;
    int partitions = 1;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
        partitions = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (m == nullptr) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            out.emplace_back(static_cast<const char*>(m->payload), m->len);
            if (timestamps != nullptr) {
                timestamps->push_back(rd_kafka_message_timestamp(m, nullptr));
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

/// The offsets `group` has committed for partitions 0..partitions-1 of
/// `topic` (negative: none); empty when the brokers do not answer.
inline std::vector<int64_t> committed_offsets(const std::string& bootstrap,
                                              const std::string& group, const std::string& topic,
                                              int partitions) {
    std::vector<int64_t> out;
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), errstr, sizeof errstr);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        return out;
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    }
    if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int p = 0; p < list->cnt; ++p) {
            out.push_back(list->elems[p].offset);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return out;
}

/// The end (high watermark) of partitions 0..partitions-1 of `topic`; -1
/// where the brokers do not answer.
inline std::vector<int64_t> partition_ends(const std::string& bootstrap, const std::string& topic,
                                           int partitions) {
    std::vector<int64_t> out(static_cast<size_t>(partitions), -1);
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        return out;
    }
    for (int p = 0; p < partitions; ++p) {
        int64_t low = 0;
        int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            out[static_cast<size_t>(p)] = high;
        }
    }
    rd_kafka_destroy(rk);
    return out;
}

}  // namespace eddy::testing
