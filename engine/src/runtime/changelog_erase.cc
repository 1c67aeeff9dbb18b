// SPDX-License-Identifier: Apache-2.0
// Erasing a key from the changelog topics of a scale-out job, so that no
// restore brings it back (docs/scale-out.md, "Erasing a key").
#include "runtime/changelog_erase.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <librdkafka/rdkafka.h>

#include "io/changelog.h"
#include "io/kafka_common.h"
#include "runtime/scale_out.h"
#include "state/erase.h"

namespace eddy {
namespace {

/// The partition count of `topic` (-1: it does not exist).
Result<int32_t> partitions_of(const KafkaClientOptions& client, const std::string& topic,
                              const std::string& who) {
    KafkaConf conf;
    EDDY_RETURN_IF_ERROR(conf.apply(producer_options(client), who));
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
    if (rk == nullptr) {
        return Status::invalid_argument(who + "cannot create a Kafka client: " + errstr);
    }
    conf.release();
    auto partitions = topic_partitions(rk, client, topic, who);
    close_kafka_client(rk);
    return partitions;
}

}  // namespace

Status erase_from_changelogs(const Topology& topology, const std::vector<std::string>& operators,
                             std::string_view key, std::vector<std::string>& report) {
    const std::set<std::string, std::less<>> ops(operators.begin(), operators.end());
    const std::vector<std::string> candidates = state::candidate_keys(key);
    bool first = true;
    for (const ComponentDef& c : topology.components) {
        if (c.kind != ComponentKind::kSource || c.type != "kafka" || !c.config.has("scale_out") ||
            c.config.string("scale_out") != "kafka") {
            continue;
        }
        const std::string topic = changelog_topic(topology.job_name(), c.name, first);
        first = false;
        const std::string who = "source '" + c.name + "': ";
        auto client = kafka_client_options(c.config);
        if (!client.is_ok()) {
            return client.status();
        }
        auto partitions = partitions_of(client.value(), topic, who);
        if (!partitions.is_ok()) {
            return partitions.status();
        }
        if (partitions.value() <= 0) {
            report.push_back("changelog '" + topic + "': no such topic, nothing to erase");
            continue;
        }
        uint64_t writer = std::random_device{}();
        writer = (writer << 32) ^ std::random_device{}();
        auto log = Changelog::open(client.value(), topic, partitions.value(), writer, who);
        if (!log.is_ok()) {
            return log.status();
        }
        const int32_t p = kafka_partition_of(key, partitions.value());
        // What a restore would apply for the key: its live entries and timers.
        std::map<std::string, bool> live;
        auto read =
            log.value()->read(p, [&](std::string_view k, std::optional<std::string_view> value) {
                ParsedChangelogKey parsed;
                if (parse_changelog_key(k, parsed) && ops.contains(parsed.op) &&
                    std::find(candidates.begin(), candidates.end(), parsed.encoded) !=
                        candidates.end()) {
                    live[std::string(k)] = value.has_value();
                }
                return Status::ok();
            });
        if (!read.is_ok()) {
            return Status(read.status().code(), "changelog '" + topic + "' partition " +
                                                    std::to_string(p) + ": " +
                                                    read.status().message());
        }
        size_t entries = 0;
        size_t timers = 0;
        log.value()->begin(1);  // any id: our own marker confirms it
        for (const auto& [k, present] : live) {
            if (!present) {
                continue;
            }
            (k[0] == 't' ? timers : entries) += 1;
            EDDY_RETURN_IF_ERROR(log.value()->put(p, k, std::nullopt));
        }
        if (entries + timers == 0) {
            report.push_back("changelog '" + topic + "' partition " + std::to_string(p) +
                             ": nothing of the key");
            continue;
        }
        // The marker repeats the partition's last input offset, so restores
        // resume the input where they would have.
        std::map<int32_t, int64_t> ends;
        Status committed = log.value()->commit({{p, read.value().input_offset}}, ends);
        if (!committed.is_ok()) {
            return Status(committed.code(), "changelog '" + topic + "' partition " +
                                                std::to_string(p) + ": " + committed.message() +
                                                "; the key may be only partly erased there: run "
                                                "the command again");
        }
        report.push_back("changelog '" + topic + "' partition " + std::to_string(p) + ": " +
                         std::to_string(entries) + " entr" + (entries == 1 ? "y" : "ies") +
                         " and " + std::to_string(timers) + " timer(s) tombstoned");
    }
    return Status::ok();
}

}  // namespace eddy
