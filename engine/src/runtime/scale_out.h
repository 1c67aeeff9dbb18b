// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "eddy/metrics.h"
#include "eddy/operator.h"
#include "eddy/status.h"

#include "io/changelog.h"
#include "io/model_topic.h"

namespace eddy {

/// What a job running with `scale_out: kafka` keeps about the partitions of
/// one scale-out source (docs/scale-out.md). A topology may have several
/// (a repartition topic is one more). Owned by Job::Impl; used on the job's
/// thread only (job_scale_out.cc, and checkpoint()).
struct ScaleOut {
    /// Where a partition's state stands locally: the changelog's end after
    /// this store's last marker (or restore) of it, and the input offset
    /// that state has read up to (-1: none).
    struct Local {
        int64_t changelog_end = 0;
        int64_t input_offset = -1;
    };

    size_t source = 0;  // index in Job::Impl::sources_
    std::string name;   // the source's
    /// The store's meta keys of this source's partitions: `scaleout/<p>` and
    /// `scaleout_restoring/<p>` for the topology's first scale-out source,
    /// `scaleout:<source>/<p>` and `scaleout_restoring:<source>/<p>` for others.
    std::string local_prefix;
    std::string restoring_prefix;
    int32_t partitions = 0;
    std::unique_ptr<Changelog> changelog;
    /// The operators downstream of the source: their keys are the input's
    /// and their keyed state moves with the partitions. Others keep theirs.
    std::set<std::string, std::less<>> scoped;
    /// Partitions whose state is in the local store.
    std::map<int32_t, Local> local;
    /// Partitions assigned to this process, their state restored.
    std::set<int32_t> owned;
    bool assigned_once = false;
    /// Keys a restore found unconfirmed: their confirmed value (nullopt:
    /// none) is written again with the next checkpoint, so that compaction
    /// never leaves an unconfirmed record as a key's last.
    std::vector<std::tuple<int32_t, std::string, std::optional<std::string>>> repairs;
    Status failure = Status::ok();  // the first failed put() of a checkpoint
    // Metrics (docs/metrics.md).
    Gauge owned_metric;
    Counter moves_in;
    Counter moves_out;
    std::map<int32_t, Gauge> restore_ms;
    std::map<int32_t, Gauge> restore_records;

    /// The partition of an encoded state key (eddy::encode_state_key): Kafka's
    /// partitioner on the key's bytes, which for a string key are the message key.
    int32_t partition_of(std::string_view encoded_key) const {
        return kafka_partition_of(encoded_key.empty() ? encoded_key : encoded_key.substr(1),
                                  partitions);
    }
};

/// Operator-wide models merged across processes (docs/scale-out.md,
/// "Models"), and each process's HTTP address and partitions: the model
/// topic, this process's member id in its keys (kept in the state dir), the
/// latest record each key holds, and how old a peer's record may be and
/// still count. Owned by Job::Impl when a scoped operator has a mergeable
/// model or the topology serves its HTTP API.
struct ScaleOutModels {
    std::unique_ptr<ModelTopic> topic;
    std::string member;
    std::map<std::string, ModelTopic::Entry, std::less<>> published;
    int64_t ttl_ms = 0;
    bool warned = false;            // a failed sync was logged
    std::set<std::string> merging;  // models that have merged a peer's (logged once)
    /// Per model key: merges applied, and the peers in the last one.
    std::map<std::string, std::pair<Counter, Gauge>> metrics;
};

/// The model topic's key of operator `op`'s state `state` as published by
/// `member`: the three joined by NUL bytes.
std::string model_key(std::string_view op, std::string_view state, std::string_view member);

/// Changelog keys: 'k' [u16 BE name length][operator name][handle u8][encoded key]
/// for keyed entries; 't' [same name][domain u8][time, layout.h's put_time]
/// [encoded key] for timers.
std::string changelog_entry_key(std::string_view op, uint8_t handle, std::string_view encoded);
std::string changelog_timer_key(std::string_view op, uint8_t domain, int64_t time,
                                std::string_view encoded);

/// A changelog key split into its parts (views into the key).
struct ParsedChangelogKey {
    char kind = 0;  ///< 'k' (entry) or 't' (timer)
    std::string_view op;
    uint8_t handle = 0;                          // entries
    TimeDomain domain = TimeDomain::kEventTime;  // timers
    int64_t time = 0;
    std::string_view encoded;
};
/// False when `k` is not an entry's or a timer's key (a marker's, say).
bool parse_changelog_key(std::string_view k, ParsedChangelogKey& out);

/// The changelog topic of a scale-out source: the topology's first keeps
/// `<job>-changelog`, the others `<job>-<source>-changelog`.
std::string changelog_topic(std::string_view job, std::string_view source, bool first);

}  // namespace eddy
