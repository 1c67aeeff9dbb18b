// SPDX-License-Identifier: Apache-2.0
// `eddy broker`: a local Kafka-protocol test broker (librdkafka's mock
// cluster) for development and tests. Not a Kafka: see docs/kafka.md.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "commands.h"

namespace eddy::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_broker_signal(int sig) {
    g_stop.store(true);
    std::signal(sig, SIG_DFL);
}

struct BrokerOptions {
    int brokers = 1;
    int partitions = 4;
    int rtt_ms = 0;
    std::vector<std::string> topics;
    std::string bootstrap_file;
};

/// "name" or "name:partitions".
bool parse_topic(const std::string& text, int default_partitions, std::string& name,
                 int& partitions) {
    size_t colon = text.rfind(':');
    name = text.substr(0, colon);
    partitions = default_partitions;
    if (colon != std::string::npos) {
        try {
            size_t used = 0;
            partitions = std::stoi(text.substr(colon + 1), &used);
            if (used != text.size() - colon - 1) {
                return false;
            }
        } catch (const std::exception&) {
            return false;
        }
    }
    return !name.empty() && partitions >= 1 && partitions <= 1024;
}

int run_broker(const BrokerOptions& o) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // Its client has no bootstrap.servers of its own: keep its notices quiet.
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    // The cluster lives in this (otherwise idle) client's background threads.
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        std::fprintf(stderr, "eddy broker: cannot create the mock cluster's client: %s\n", errstr);
        return kExitRuntimeFailure;
    }
    std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> client(rk, rd_kafka_destroy);
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, o.brokers);
    if (cluster == nullptr) {
        std::fprintf(stderr, "eddy broker: cannot start a mock cluster of %d broker(s)\n",
                     o.brokers);
        return kExitRuntimeFailure;
    }
    std::unique_ptr<rd_kafka_mock_cluster_t, void (*)(rd_kafka_mock_cluster_t*)> owned(
        cluster, rd_kafka_mock_cluster_destroy);
    for (const std::string& t : o.topics) {
        std::string name;
        int partitions = 0;
        if (!parse_topic(t, o.partitions, name, partitions)) {
            std::fprintf(stderr,
                         "eddy broker: --topic '%s' is not NAME or NAME:PARTITIONS (1 to 1024)\n",
                         t.c_str());
            return kExitUsage;
        }
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, std::min(o.brokers, 3));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::fprintf(stderr, "eddy broker: cannot create topic '%s': %s\n", name.c_str(),
                         rd_kafka_err2str(err));
            return kExitRuntimeFailure;
        }
    }
    if (o.rtt_ms > 0) {
        rd_kafka_mock_broker_set_rtt(cluster, -1, o.rtt_ms);
    }
    std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    if (!o.bootstrap_file.empty()) {
        std::ofstream out(o.bootstrap_file + ".tmp");
        out << bootstrap << "\n";
        out.close();
        if (!out || std::rename((o.bootstrap_file + ".tmp").c_str(), o.bootstrap_file.c_str())) {
            std::fprintf(stderr, "eddy broker: cannot write '%s'\n", o.bootstrap_file.c_str());
            return kExitRuntimeFailure;
        }
    }
    std::printf("%s\n", bootstrap.c_str());
    std::fflush(stdout);
    std::fprintf(stderr,
                 "eddy broker: %d test broker(s) on %s; stop with Ctrl-C.\n"
                 "  A test broker (librdkafka's mock cluster), for development and tests only: "
                 "data lives in memory, about 5 MiB per partition is kept, and transactions are "
                 "not enforced. See docs/kafka.md.\n",
                 o.brokers, bootstrap.c_str());
    g_stop.store(false);
    std::signal(SIGINT, on_broker_signal);
    std::signal(SIGTERM, on_broker_signal);
    while (!g_stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::fprintf(stderr, "eddy broker: stopped\n");
    return kExitOk;
}

}  // namespace

void add_broker_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<BrokerOptions>();
    CLI::App* cmd = app.add_subcommand(
        "broker",
        "Start a local Kafka-protocol test broker on 127.0.0.1 (for development and tests only).");
    cmd->add_option("--brokers", o->brokers, "Number of brokers in the cluster")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    cmd->add_option("--topic", o->topics,
                    "A topic to create, NAME or NAME:PARTITIONS (repeatable); other topics are "
                    "created when first produced to");
    cmd->add_option("--partitions", o->partitions, "Partitions of a --topic given without a count")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    cmd->add_option("--rtt", o->rtt_ms,
                    "Delay every request by this many milliseconds, as a distant broker would")
        ->check(CLI::Range(0, 60000));
    cmd->add_option("--bootstrap-file", o->bootstrap_file,
                    "Also write the bootstrap address to this file once the brokers listen");
    cmd->footer(
        "Prints the bootstrap address (127.0.0.1:PORT,...) on the first line of standard output "
        "and runs until SIGINT or SIGTERM. It is librdkafka's mock cluster: good for trying "
        "topologies and for tests, not a Kafka to keep data in.");
    cmd->callback([o, &exit_code] { exit_code = run_broker(*o); });
}

}  // namespace eddy::cli
