// SPDX-License-Identifier: Apache-2.0
// Scale-out through a Kafka consumer group (docs/scale-out.md): the state
// of each input partition moves with the partition, through the job's
// changelog topic.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>

#include "eddy/codec.h"

#include "io/kafka_common.h"
#include "runtime/job_impl.h"
#include "topology/scale_out_rules.h"

namespace eddy {
namespace {

constexpr char kEntryKind = 'k';
constexpr char kTimerKind = 't';
constexpr std::string_view kTimerSet = "1";

std::string local_meta_key(const ScaleOut& so, int32_t partition) {
    return so.local_prefix + std::to_string(partition);
}

/// Set while a partition is being restored into the local store.
std::string restoring_meta_key(const ScaleOut& so, int32_t partition) {
    return so.restoring_prefix + std::to_string(partition);
}

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A peer's model counts while it is younger than 10 checkpoint intervals,
/// and at least this (ms): a process that stopped publishing has left.
constexpr int64_t kMinModelTtlMs = 30000;

/// A restore commits its writes in batches of about this size.
constexpr size_t kRestoreBatchBytes = 32u << 20;

std::string changelog_prefix(char kind, std::string_view op) {
    std::string k(1, kind);
    state::put_u16(k, static_cast<uint16_t>(op.size()));
    k.append(op);
    return k;
}

}  // namespace

bool parse_changelog_key(std::string_view k, ParsedChangelogKey& out) {
    if (k.size() < 3 || (k[0] != kEntryKind && k[0] != kTimerKind)) {
        return false;
    }
    out.kind = k[0];
    uint16_t length = state::get_u16(k.substr(1));
    if (k.size() < 3u + length) {
        return false;
    }
    out.op = k.substr(3, length);
    std::string_view rest = k.substr(3 + length);
    if (out.kind == kEntryKind) {
        if (rest.empty()) {
            return false;
        }
        out.handle = static_cast<uint8_t>(rest[0]);
        out.encoded = rest.substr(1);
        return true;
    }
    if (rest.size() < 9) {
        return false;
    }
    out.domain = static_cast<TimeDomain>(rest[0]);
    out.time = state::get_time(rest.substr(1));
    out.encoded = rest.substr(9);
    return true;
}

std::string changelog_topic(std::string_view job, std::string_view source, bool first) {
    return first ? std::string(job) + "-changelog"
                 : std::string(job) + "-" + std::string(source) + "-changelog";
}

std::string model_key(std::string_view op, std::string_view state, std::string_view member) {
    std::string k(op);
    k.push_back('\0');
    k.append(state);
    k.push_back('\0');
    k.append(member);
    return k;
}

std::string changelog_entry_key(std::string_view op, uint8_t handle, std::string_view encoded) {
    std::string k = changelog_prefix(kEntryKind, op);
    k.push_back(static_cast<char>(handle));
    k.append(encoded);
    return k;
}

std::string changelog_timer_key(std::string_view op, uint8_t domain, int64_t time,
                                std::string_view encoded) {
    std::string k = changelog_prefix(kTimerKind, op);
    k.push_back(static_cast<char>(domain));
    state::put_time(k, time);
    k.append(encoded);
    return k;
}

Status Job::Impl::open_scale_out() {
    const Topology& topo = job_.topology_;
    const std::string job = topo.job_name();
    uint64_t writer = std::random_device{}();
    writer = (writer << 32) ^ std::random_device{}();
    bool mergeable = false;
    std::optional<KafkaClientOptions> first_client;
    for (size_t i = 0; i < sources_.size(); ++i) {
        if (sources_[i]->source_->partition_count() <= 0) {
            continue;
        }
        auto client = kafka_client_options(sources_[i]->def_.config);
        if (!client.is_ok()) {
            return client.status();
        }
        EDDY_RETURN_IF_ERROR(open_scale_out_source(i, client.value(), job, writer, mergeable));
        if (!first_client) {
            first_client = client.value();
        }
    }
    if (scale_outs_.empty()) {
        return Status::ok();
    }
    // The topic also carries each process's HTTP address (set once the
    // API listens, after this) and partitions, for redirects.
    if (mergeable || !topo.serve.listen.empty()) {
        const std::string who = "source '" + scale_outs_.front()->name + "': ";
        auto topic = ModelTopic::open(*first_client, job + "-models", who);
        if (!topic.is_ok()) {
            return topic.status();
        }
        models_ = std::make_unique<ScaleOutModels>();
        models_->topic = std::move(topic).value();
        models_->member = member_id();
        models_->ttl_ms = std::max<int64_t>(kMinModelTtlMs, 10 * topo.state.checkpoint_interval_ms);
        spdlog::info("[{}] scale_out: {} through '{}' as member {}", scale_outs_.front()->name,
                     mergeable ? "operator-wide models merge" : "the HTTP API's address goes",
                     models_->topic->topic(), models_->member);
    }
    return Status::ok();
}

Status Job::Impl::open_scale_out_source(size_t index, const KafkaClientOptions& client,
                                        const std::string& job, uint64_t writer, bool& mergeable) {
    SourceRuntime& src = *sources_[index];
    const int32_t partitions = src.source_->partition_count();
    std::string who = "source '" + src.def_.name + "': ";
    if (!store_) {
        return Status::invalid_argument(
            who +
            "scale_out: kafka keeps each partition's state in the state dir and its "
            "changelog; give the topology a `state:` dir (and do not run it with "
            "--no-state)");
    }
    const Topology& topo = job_.topology_;
    const bool first = scale_outs_.empty();
    auto so = std::make_unique<ScaleOut>();
    std::set<int32_t> interrupted;  // restores a crash cut short
    so->source = index;
    so->name = src.def_.name;
    so->partitions = partitions;
    // The first scale-out source keeps the names a topology with one has.
    so->local_prefix = first ? "scaleout/" : "scaleout:" + src.def_.name + "/";
    so->restoring_prefix =
        first ? "scaleout_restoring/" : "scaleout_restoring:" + src.def_.name + "/";
    // With a transactional sink, the changelog writes in its transactions,
    // and the input offsets reach the group only with them.
    rd_kafka_t* txn_producer = nullptr;
    if (txn_sink_ != nullptr && txn_sink_->transaction_producer() != nullptr) {
        txn_producer = txn_sink_->transaction_producer();
        txn_sink_->set_foreign_delivery(&Changelog::delivered);
        if (auto* group = dynamic_cast<KafkaGroupSource*>(src.source_.get())) {
            group->commit_through_transactions();
        }
    }
    auto changelog = Changelog::open(client, changelog_topic(job, src.def_.name, first), partitions,
                                     writer, who, txn_producer);
    if (!changelog.is_ok()) {
        return changelog.status();
    }
    so->changelog = std::move(changelog).value();
    // What an earlier run of this store left: partitions with their state.
    if (rocksdb::ColumnFamilyHandle* meta = store_->find_family(std::string(state::kMetaFamily))) {
        std::unique_ptr<rocksdb::Iterator> it(
            store_->db().NewIterator(rocksdb::ReadOptions(), meta));
        for (it->Seek(so->local_prefix); it->Valid() && it->key().starts_with(so->local_prefix);
             it->Next()) {
            StateReader r(std::string_view(it->value().data(), it->value().size()));
            ScaleOut::Local local;
            std::string p = it->key().ToString().substr(so->local_prefix.size());
            if (!r.i64(local.changelog_end) || !r.i64(local.input_offset)) {
                return Status::io_error(who + "the state dir's record of partition " + p +
                                        " is damaged; start with --fresh");
            }
            so->local[std::stoi(p)] = local;
        }
        for (it->Seek(so->restoring_prefix);
             it->Valid() && it->key().starts_with(so->restoring_prefix); it->Next()) {
            interrupted.insert(std::stoi(it->key().ToString().substr(so->restoring_prefix.size())));
        }
    }
    so->owned_metric = src.gauge("scale_out_owned_partitions",
                                 "Input partitions this process owns, their state restored.", {});
    so->moves_in = src.counter("scale_out_partitions_moved_total",
                               "Partitions whose state moved in or out.", {{"direction", "in"}});
    so->moves_out = src.counter("scale_out_partitions_moved_total",
                                "Partitions whose state moved in or out.", {{"direction", "out"}});
    std::vector<bool> reached = downstream_of(topo, static_cast<size_t>(topo.find(src.def_.name)));
    for (size_t ci = 0; ci < topo.components.size(); ++ci) {
        const ComponentDef& def = topo.components[ci];
        if (def.kind != ComponentKind::kOperator || !reached[ci]) {
            continue;
        }
        so->scoped.insert(def.name);
        int node = job_.plan_.node_of_component[ci];
        for (auto& op : instances_[static_cast<size_t>(node)].front()->ops) {
            for (const StateHandle* h : op->states_) {
                if (op->def_.name != def.name || h->keyed()) {
                    continue;
                }
                if (h->shared() && h->mergeable()) {
                    mergeable = true;
                } else {
                    spdlog::warn(
                        "[{}] state '{}' is operator-wide and has no merge rule: under "
                        "scale_out each process keeps its own, learnt from its partitions "
                        "(docs/scale-out.md)",
                        def.name, h->name());
                }
            }
        }
    }
    spdlog::info("[{}] scale_out: {} partitions, changelog '{}'", src.def_.name, partitions,
                 so->changelog->topic());
    scale_outs_.push_back(std::move(so));
    if (!interrupted.empty()) {
        spdlog::info("[{}] dropping the partial restore of {} partition(s) a stop cut short",
                     src.def_.name, interrupted.size());
        return drop_partitions(*scale_outs_.back(), interrupted);
    }
    return Status::ok();
}

Status Job::Impl::create_repartition_topics() {
    const Topology& topo = job_.topology_;
    for (const RepartitionDef& r : topo.repartitions) {
        const ComponentDef& upstream = topo.components[static_cast<size_t>(topo.find(r.upstream))];
        std::string who = "operator '" + r.op + "': ";
        auto client = kafka_client_options(upstream.config);
        if (!client.is_ok()) {
            return client.status();
        }
        KafkaConf conf;
        EDDY_RETURN_IF_ERROR(conf.apply(producer_options(client.value()), who));
        char errstr[512];
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
        if (rk == nullptr) {
            return Status::invalid_argument(who + "cannot create a Kafka client: " + errstr);
        }
        conf.release();
        // As many partitions as the input has (as Kafka Streams does).
        const std::string input = upstream.config.strings("topics").front();
        auto listed = topic_partitions(rk, client.value(), input, who);
        Status s = listed.status();
        int32_t partitions = listed.is_ok() ? listed.value() : -1;
        if (s.is_ok() && partitions <= 0) {
            s = Status::not_found(who + "the topic '" + input + "' of source '" + r.upstream +
                                  "' does not exist, so its repartition topic '" + r.topic +
                                  "' cannot be given as many partitions");
        }
        if (s.is_ok()) {
            auto found = ensure_topic(rk, client.value(), r.topic, partitions, {}, who,
                                      "the repartition topic",
                                      "create it with " + std::to_string(partitions) +
                                          " partitions (as many as '" + input + "')");
            if (found.is_ok() && found.value() > 0) {
                spdlog::info("[{}] reads its input through repartition topic '{}' ({} partitions)",
                             r.op, r.topic, found.value());
            }
            s = found.status();
        }
        close_kafka_client(rk);
        EDDY_RETURN_IF_ERROR(s);
    }
    return Status::ok();
}

ScaleOut* Job::Impl::scale_out_of(std::string_view op) const {
    for (const auto& so : scale_outs_) {
        if (so->scoped.contains(op)) {
            return so.get();
        }
    }
    return nullptr;
}

void Job::Impl::log_entry(ScaleOut& so, const std::string& op, uint8_t handle,
                          std::string_view encoded, std::optional<std::string_view> value) {
    Status s = so.changelog->put(so.partition_of(encoded), changelog_entry_key(op, handle, encoded),
                                 value);
    if (!s.is_ok() && so.failure.is_ok()) {
        so.failure = s;
    }
}

void Job::Impl::log_timer(ScaleOut& so, const std::string& op, TimeDomain domain, int64_t time,
                          std::string_view encoded, bool added) {
    // A set timer is a one-byte record: an empty value would be a null, a
    // deletion.
    std::optional<std::string_view> value;
    if (added) {
        value = kTimerSet;
    }
    Status s = so.changelog->put(
        so.partition_of(encoded),
        changelog_timer_key(op, static_cast<uint8_t>(domain), time, encoded), value);
    if (!s.is_ok() && so.failure.is_ok()) {
        so.failure = s;
    }
}

Status Job::Impl::publish_changelog(rocksdb::WriteBatch& batch,
                                    std::vector<GroupOffsets>& group_offsets) {
    for (auto& so : scale_outs_) {
        for (auto& [partition, key, value] : so->repairs) {
            std::optional<std::string_view> v;
            if (value) {
                v = *value;
            }
            if (so->owned.count(partition) > 0) {
                EDDY_RETURN_IF_ERROR(so->changelog->put(partition, key, v));
            }
        }
        so->repairs.clear();
        Status failure = so->failure;
        so->failure = Status::ok();
        EDDY_RETURN_IF_ERROR(failure);
        std::map<int32_t, int64_t> offsets;
        const Source& source = *sources_[so->source]->source_;
        for (int32_t p : so->owned) {
            int64_t next = source.partition_offset(p);
            if (next < 0) {
                // Nothing read yet: the offset the state was restored at.
                auto it = so->local.find(p);
                next = it == so->local.end() ? -1 : it->second.input_offset;
            }
            offsets[p] = next;
        }
        std::map<int32_t, int64_t> ends;
        EDDY_RETURN_IF_ERROR(so->changelog->commit(offsets, ends));
        if (txn_sink_ != nullptr) {
            auto* group = dynamic_cast<KafkaGroupSource*>(sources_[so->source]->source_.get());
            if (group != nullptr && group->group_consumer() != nullptr) {
                GroupOffsets g;
                g.consumer = group->group_consumer();
                g.topic = sources_[so->source]->def_.config.strings("topics").front();
                for (const auto& [p, next] : offsets) {
                    if (next >= 0) {
                        g.next[p] = next;
                    }
                }
                group_offsets.push_back(std::move(g));
            }
        }
        for (const auto& [p, end] : ends) {
            ScaleOut::Local& local = so->local[p];
            local.changelog_end = end;
            local.input_offset = offsets[p];
            std::string v;
            StateWriter w(v);
            w.i64(local.changelog_end);
            w.i64(local.input_offset);
            store_->put_meta(batch, local_meta_key(*so, p), v);
        }
    }
    return Status::ok();
}

void Job::Impl::sync_models() {
    ScaleOutModels& m = *models_;
    bool failed = false;
    auto warn = [&](const Status& s) {
        failed = true;
        if (!m.warned) {
            m.warned = true;  // each sync sends whole models: the next one makes up
            spdlog::warn("{} (models are sent again at every checkpoint)", s.message());
        }
    };
    // The mergeable models of the scoped operators (shard 0 holds Shared state).
    struct Model {
        const std::string& op;
        StateHandle* handle;
        std::string key;
    };
    std::vector<Model> models;
    for (auto& shards : instances_) {
        for (auto& op : shards.front()->ops) {
            if (scale_out_of(op->def_.name) == nullptr) {
                continue;
            }
            for (StateHandle* h : op->states_) {
                if (h->shared() && h->mergeable()) {
                    models.push_back(
                        {op->def_.name, h, model_key(op->def_.name, h->name(), m.member)});
                }
            }
        }
    }
    const int64_t now = wall_ms();
    std::string value;
    for (const auto& [op, handle, key] : models) {
        handle->lookup({}, value);
        // An unchanged model (an idle process) is sent again only before
        // the others would take it for a departed process's.
        auto mine = m.published.find(key);
        if (mine != m.published.end() && mine->second.value == value &&
            now - mine->second.time_ms < m.ttl_ms / 2) {
            continue;
        }
        if (Status s = m.topic->publish(key, value); !s.is_ok()) {
            warn(s);
            return;
        }
    }
    if (Status s = m.topic->flush(); !s.is_ok()) {
        warn(s);
    }
    if (Status s = m.topic->read(m.published); !s.is_ok()) {
        warn(s);
    }
    std::vector<std::string_view> peers;
    for (const auto& [op, handle, key] : models) {
        // Every member's model of this operator state but ours.
        std::string_view prefix(key.data(), key.size() - m.member.size());
        peers.clear();
        for (auto it = m.published.lower_bound(prefix);
             it != m.published.end() && it->first.starts_with(prefix); ++it) {
            if (it->first != key && !it->second.value.empty() &&
                (handle->merge_keeps_departed() || now - it->second.time_ms <= m.ttl_ms)) {
                peers.push_back(it->second.value);
            }
        }
        auto metrics = m.metrics.find(key);
        if (metrics == m.metrics.end()) {
            MetricLabels label = {{"state", handle->name()}};
            metrics =
                m.metrics
                    .emplace(key, std::make_pair(
                                      Counter(job_.metrics_.component_metric(
                                          op, "scale_out_model_merges_total",
                                          "Merges of other processes' models into this one's.",
                                          MetricKind::kCounter, label)),
                                      Gauge(job_.metrics_.component_metric(
                                          op, "scale_out_model_peers",
                                          "Other processes' models in the last merge.",
                                          MetricKind::kGauge, label))))
                    .first;
        }
        metrics->second.second.set(static_cast<int64_t>(peers.size()));
        if (peers.empty()) {
            continue;
        }
        if (!handle->merge(peers)) {
            warn(Status::io_error("model topic '" + m.topic->topic() + "': a model of '" + op +
                                  "' does not decode (another version of its operator?); "
                                  "not merged"));
        } else {
            metrics->second.first.add(1);
            if (m.merging.insert(key).second) {
                spdlog::info("[{}] merged the models of {} other process(es)", op, peers.size());
            }
        }
    }
    m.warned &= failed;  // the next failure after a good sync is logged again
}

namespace {

/// The model topic's key of a member's record: its HTTP address and partitions.
std::string member_key(std::string_view member) {
    return model_key("", "members", member);
}

}  // namespace

void Job::Impl::sync_members(bool publish) {
    ScaleOutModels& m = *models_;
    const int64_t now = wall_ms();
    const std::string mine = member_key(m.member);
    if (publish && !advertised_.empty()) {
        // "host:port\n0,3,5,\n1," : a line of partitions per scale-out source.
        std::string value = advertised_;
        for (const auto& so : scale_outs_) {
            value += "\n";
            for (int32_t p : so->owned) {
                value += std::to_string(p) + ",";
            }
        }
        auto last = m.published.find(mine);
        if (last == m.published.end() || last->second.value != value ||
            now - last->second.time_ms >= m.ttl_ms / 2) {
            Status s = m.topic->publish(mine, value);
            if (s.is_ok()) {
                s = m.topic->flush();
            }
            if (!s.is_ok()) {
                spdlog::warn("{} (redirects to this process wait for the next checkpoint)",
                             s.message());
            }
        }
    }
    if (Status s = m.topic->read(m.published); !s.is_ok()) {
        spdlog::debug("{}", s.message());
    }
    // The others' records, oldest first: a partition goes to the last
    // process that said it owns it.
    const std::string prefix = member_key("");
    std::vector<std::pair<int64_t, const std::string*>> records;
    for (auto it = m.published.lower_bound(prefix);
         it != m.published.end() && it->first.starts_with(prefix); ++it) {
        if (it->first != mine && !it->second.value.empty() &&
            now - it->second.time_ms <= m.ttl_ms) {
            records.emplace_back(it->second.time_ms, &it->second.value);
        }
    }
    std::sort(records.begin(), records.end());
    auto placement = std::make_shared<Placement>();
    for (size_t i = 0; i < scale_outs_.size(); ++i) {
        const ScaleOut& so = *scale_outs_[i];
        placement->sources.push_back({so.partitions, so.owned, {}});
        for (const std::string& op : so.scoped) {
            placement->source_of.emplace(op, i);
        }
    }
    for (const auto& [time, value] : records) {
        size_t nl = value->find('\n');
        if (nl == std::string::npos) {
            continue;
        }
        std::string address = value->substr(0, nl);
        for (size_t i = 0; i < placement->sources.size() && nl != std::string::npos; ++i) {
            Placement::Partitions& place = placement->sources[i];
            size_t line_end = value->find('\n', nl + 1);
            std::string_view line = std::string_view(*value).substr(
                nl + 1, line_end == std::string::npos ? std::string::npos : line_end - nl - 1);
            for (size_t at = 0; at < line.size();) {
                size_t comma = line.find(',', at);
                if (comma == std::string::npos) {
                    break;
                }
                int32_t p = 0;
                std::from_chars(line.data() + at, line.data() + comma, p);
                if (!place.owned.contains(p)) {
                    place.address[p] = address;
                }
                at = comma + 1;
            }
            nl = line_end;
        }
    }
    std::lock_guard lock(placement_mu_);
    placement_ = std::move(placement);
    placed_.store(true, std::memory_order_release);
}

Job::KeyPlace Job::Impl::place_of(std::string_view op, const Value& key) const {
    Job::KeyPlace place;
    if (!placed_.load(std::memory_order_acquire)) {
        return place;
    }
    std::shared_ptr<const Placement> placement;
    {
        std::lock_guard lock(placement_mu_);
        placement = placement_;
    }
    if (placement == nullptr) {
        return place;
    }
    auto source = placement->source_of.find(op);
    if (source == placement->source_of.end()) {
        return place;  // the operator's state is not scoped by partition
    }
    const Placement::Partitions& partitions = placement->sources[source->second];
    if (partitions.count <= 0) {
        return place;
    }
    std::string encoded;
    encode_state_key(key, encoded);
    place.partition = kafka_partition_of(std::string_view(encoded).substr(1), partitions.count);
    if (partitions.owned.contains(place.partition)) {
        return place;
    }
    auto it = partitions.address.find(place.partition);
    if (it == partitions.address.end()) {
        place.where = Job::KeyPlace::Where::kUnknown;
        return place;
    }
    place.where = Job::KeyPlace::Where::kElsewhere;
    place.address = it->second;
    return place;
}

void Job::Impl::move_partitions() {
    for (auto& so : scale_outs_) {
        move_partitions(*so);
    }
}

void Job::Impl::move_partitions(ScaleOut& so) {
    Source& source = *sources_[so.source]->source_;
    Source::PartitionChange change;
    while (!failed() && source.pending_change(change)) {
        if (threaded_) {
            quiesce();
        }
        auto started = std::chrono::steady_clock::now();
        std::map<int32_t, int64_t> resume_at;
        Status s = Status::ok();
        std::string list;
        for (int32_t p : change.partitions) {
            list += (list.empty() ? "" : ",") + std::to_string(p);
        }
        if (change.assigned) {
            s = restore_partitions(so, change.partitions, resume_at);
        } else {
            // Everything read from them goes into the changelog first: the
            // group gives them to another process only after complete_change().
            s = checkpoint();
            if (s.is_ok()) {
                s = drop_partitions(so, {change.partitions.begin(), change.partitions.end()});
            }
            so.moves_out.add(change.partitions.size());
        }
        if (s.is_ok()) {
            s = source.complete_change(resume_at);
        }
        so.owned_metric.set(static_cast<int64_t>(so.owned.size()));
        if (threaded_) {
            resume();
        }
        if (!s.is_ok()) {
            fail(Status(s.code(), "source '" + sources_[so.source]->def_.name +
                                      "': " + (change.assigned ? "restoring" : "releasing") +
                                      " partitions " + list + ": " + s.message()));
            return;
        }
        spdlog::info(
            "[{}] {} partition(s) {} in {:.0f} ms; owning {}", sources_[so.source]->def_.name,
            change.assigned ? "took" : "released", list,
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count(),
            so.owned.size());
        if (models_) {
            sync_members(/*publish=*/true);  // redirects follow the move at once
        }
    }
}

void Job::Impl::note_restore(ScaleOut& so, int32_t partition, int64_t ms, uint64_t records) {
    SourceRuntime& src = *sources_[so.source];
    MetricLabels label = {{"partition", std::to_string(partition)}};
    auto ms_gauge = so.restore_ms.find(partition);
    if (ms_gauge == so.restore_ms.end()) {
        ms_gauge =
            so.restore_ms
                .emplace(partition, src.gauge("scale_out_restore_ms",
                                              "How long the last restore of the partition's state "
                                              "took, in milliseconds.",
                                              label))
                .first;
        so.restore_records.emplace(
            partition,
            src.gauge("scale_out_restore_records",
                      "Changelog records the last restore of the partition read.", label));
    }
    ms_gauge->second.set(ms);
    so.restore_records.at(partition).set(static_cast<int64_t>(records));
}

Status Job::Impl::restore_partitions(ScaleOut& so, const std::vector<int32_t>& partitions,
                                     std::map<int32_t, int64_t>& resume) {
    const Topology& topo = job_.topology_;
    if (!so.assigned_once) {
        // A restarted process: partitions its store holds that it was not
        // given belong to another process now.
        so.assigned_once = true;
        std::set<int32_t> stale;
        for (const auto& [p, local] : so.local) {
            if (std::find(partitions.begin(), partitions.end(), p) == partitions.end()) {
                stale.insert(p);
            }
        }
        if (!stale.empty()) {
            EDDY_RETURN_IF_ERROR(checkpoint());
            EDDY_RETURN_IF_ERROR(drop_partitions(so, stale));
        }
    }
    for (int32_t p : partitions) {
        auto started = std::chrono::steady_clock::now();
        if (auto it = so.local.find(p); it != so.local.end()) {
            auto end = so.changelog->end_offset(p);
            if (!end.is_ok()) {
                return end.status();
            }
            // Nobody wrote since this store's last checkpoint of it. In a
            // transaction, Kafka's commit record follows the marker (any
            // other writer adds at least a marker and a commit record).
            const int64_t ours = it->second.changelog_end;
            if (end.value() == ours || (txn_sink_ != nullptr && end.value() == ours + 1)) {
                if (it->second.input_offset >= 0) {
                    resume[p] = it->second.input_offset;
                }
                so.owned.insert(p);
                so.moves_in.add();
                note_restore(so, p, 0, 0);
                spdlog::info("[{}] partition {}: local state is current (changelog at {})",
                             sources_[so.source]->def_.name, p, end.value());
                continue;
            }
            EDDY_RETURN_IF_ERROR(checkpoint());
            EDDY_RETURN_IF_ERROR(drop_partitions(so, {p}));
        }
        // Marked first: a restore a crash interrupts is dropped at the next
        // start, not taken for state (open_scale_out()).
        rocksdb::WriteBatch batch;
        store_->put_meta(batch, restoring_meta_key(so, p), "");
        EDDY_RETURN_IF_ERROR(store_->commit(batch));
        batch.Clear();
        std::map<std::string, bool> timer_keys;  // changelog key -> set
        uint64_t entries = 0;
        uint64_t skipped = 0;
        note_restore(so, p, 0, 0);
        Gauge& progress = so.restore_records.at(p);  // live: /metrics reads it meanwhile
        uint64_t applied = 0;
        Changelog::Apply apply = [&](std::string_view key,
                                     std::optional<std::string_view> value) -> Status {
            if (++applied % 4096 == 0) {
                progress.set(static_cast<int64_t>(applied));
            }
            ParsedChangelogKey k;
            if (!parse_changelog_key(key, k) || !so.scoped.contains(k.op)) {
                ++skipped;  // an operator the topology no longer has downstream
                return Status::ok();
            }
            if (k.kind == kTimerKind) {
                timer_keys[std::string(key)] = value.has_value();
                return Status::ok();
            }
            auto cf = store_->family(state::operator_family(std::string(k.op)));
            if (!cf.is_ok()) {
                return cf.status();
            }
            std::string ek =
                state::entry_key(state::key_group_of_encoded(k.encoded), k.handle, k.encoded);
            rocksdb::Status s =
                value ? batch.Put(cf.value(), ek, *value) : batch.Delete(cf.value(), ek);
            (void)s;
            ++entries;
            // Bounded memory: a large partition goes in in several batches.
            if (batch.GetDataSize() >= kRestoreBatchBytes) {
                EDDY_RETURN_IF_ERROR(store_->commit(batch));
                batch.Clear();
            }
            return Status::ok();
        };
        auto restored = so.changelog->read(p, apply);
        if (!restored.is_ok()) {
            return restored.status();
        }
        // The caches do not hold what was restored: keys missing from them
        // must be looked up in the store from now on.
        forget_memory_complete(so);
        Changelog::Restored& r = restored.value();
        std::string storage;
        uint64_t timers = 0;
        for (const auto& [key, set] : timer_keys) {
            ParsedChangelogKey k;
            parse_changelog_key(key, k);
            auto cf = store_->family(state::timer_family(std::string(k.op)));
            if (!cf.is_ok()) {
                return cf.status();
            }
            std::string tk = state::timer_key(static_cast<uint8_t>(k.domain), k.time, k.encoded);
            if (!set) {
                rocksdb::Status d = batch.Delete(cf.value(), tk);
                (void)d;
                continue;
            }
            rocksdb::Status put = batch.Put(cf.value(), tk, {});
            (void)put;
            int ci = topo.find(std::string(k.op));
            auto& shards = instances_[static_cast<size_t>(
                job_.plan_.node_of_component[static_cast<size_t>(ci)])];
            int shard = shard_of_key_group(state::get_u16(tk), static_cast<int>(shards.size()));
            for (auto& op : shards[static_cast<size_t>(shard)]->ops) {
                if (op->def_.name == k.op) {
                    op->timers_.set(k.domain, detail::decode_state_key(k.encoded, storage), k.time);
                }
            }
            ++timers;
        }
        EDDY_RETURN_IF_ERROR(store_->commit(batch));
        batch.Clear();
        // The keys whose last records nobody confirmed get their confirmed
        // value (or deletion) written again with the next checkpoint.
        for (std::string& key : r.unconfirmed) {
            ParsedChangelogKey k;
            std::optional<std::string> value;
            if (!parse_changelog_key(key, k)) {
                continue;
            }
            if (k.kind == kTimerKind) {
                if (auto t = timer_keys.find(key); t != timer_keys.end() && t->second) {
                    value = std::string(kTimerSet);
                }
            } else if (rocksdb::ColumnFamilyHandle* cf =
                           store_->find_family(state::operator_family(std::string(k.op)))) {
                std::string stored;
                if (store_->db()
                        .Get(rocksdb::ReadOptions(), cf,
                             state::entry_key(state::key_group_of_encoded(k.encoded), k.handle,
                                              k.encoded),
                             &stored)
                        .ok()) {
                    value = std::move(stored);
                }
            }
            so.repairs.emplace_back(p, std::move(key), std::move(value));
        }
        if (rocksdb::ColumnFamilyHandle* meta =
                store_->find_family(std::string(state::kMetaFamily))) {
            rocksdb::Status d = batch.Delete(meta, restoring_meta_key(so, p));
            (void)d;
        }
        ScaleOut::Local& local = so.local[p];
        local.changelog_end = r.end;
        local.input_offset = r.input_offset;
        std::string v;
        StateWriter w(v);
        w.i64(local.changelog_end);
        w.i64(local.input_offset);
        store_->put_meta(batch, local_meta_key(so, p), v);
        EDDY_RETURN_IF_ERROR(store_->commit(batch));
        if (r.input_offset >= 0) {
            resume[p] = r.input_offset;
        }
        so.owned.insert(p);
        so.moves_in.add();
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        SourceRuntime& src = *sources_[so.source];
        std::vector<std::pair<std::string, std::string>> label = {{"partition", std::to_string(p)}};
        note_restore(so, p, static_cast<int64_t>(seconds * 1000), r.records);
        spdlog::info(
            "[{}] partition {}: restored {} entry writes and {} timers from {} changelog "
            "records ({} KiB) in {:.0f} ms; input resumes at {}{}",
            src.def_.name, p, entries, timers, r.records, r.bytes >> 10, seconds * 1000,
            r.input_offset >= 0 ? std::to_string(r.input_offset) : "the group's offset",
            r.unconfirmed.empty() ? std::string()
                                  : "; skipped " + std::to_string(r.unconfirmed.size()) +
                                        " record(s) of an unfinished checkpoint");
        if (skipped > 0) {
            spdlog::warn(
                "[{}] partition {}: {} changelog entries name operators this topology "
                "does not have downstream of the source; skipped",
                src.def_.name, p, skipped);
        }
    }
    return Status::ok();
}

void Job::Impl::forget_memory_complete(const ScaleOut& so) {
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                if (so.scoped.contains(op->def_.name)) {
                    for (auto& b : op->backings_) {
                        b->set_memory_complete(false);
                    }
                }
            }
        }
    }
}

Status Job::Impl::drop_partitions(ScaleOut& so, const std::set<int32_t>& partitions) {
    auto mine = [&](std::string_view encoded) {
        return partitions.count(so.partition_of(encoded)) > 0;
    };
    rocksdb::WriteBatch batch;
    for (const ComponentDef& def : job_.topology_.components) {
        if (!so.scoped.contains(def.name)) {
            continue;
        }
        if (rocksdb::ColumnFamilyHandle* cf =
                store_->find_family(state::operator_family(def.name))) {
            std::unique_ptr<rocksdb::Iterator> it(
                store_->db().NewIterator(rocksdb::ReadOptions(), cf));
            for (it->SeekToFirst(); it->Valid(); it->Next()) {
                std::string_view k(it->key().data(), it->key().size());
                if (k.size() >= 3 && state::get_u16(k) != state::kGlobalGroup &&
                    mine(k.substr(3))) {
                    rocksdb::Status s = batch.Delete(cf, it->key());
                    (void)s;
                }
            }
        }
        if (rocksdb::ColumnFamilyHandle* cf = store_->find_family(state::timer_family(def.name))) {
            std::unique_ptr<rocksdb::Iterator> it(
                store_->db().NewIterator(rocksdb::ReadOptions(), cf));
            for (it->SeekToFirst(); it->Valid(); it->Next()) {
                std::string_view k(it->key().data(), it->key().size());
                if (k.size() >= 11 && mine(k.substr(11))) {
                    rocksdb::Status s = batch.Delete(cf, it->key());
                    (void)s;
                }
            }
        }
    }
    rocksdb::ColumnFamilyHandle* meta = store_->find_family(std::string(state::kMetaFamily));
    for (int32_t p : partitions) {
        if (meta != nullptr) {
            rocksdb::Status s = batch.Delete(meta, local_meta_key(so, p));
            s = batch.Delete(meta, restoring_meta_key(so, p));
            (void)s;
        }
        so.local.erase(p);
        so.owned.erase(p);
    }
    EDDY_RETURN_IF_ERROR(store_->commit(batch));
    // The caches hold nothing unsaved right after a checkpoint: emptied, they
    // read what is left from the store again.
    forget_memory_complete(so);
    std::string encoded;
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                if (!so.scoped.contains(op->def_.name)) {
                    continue;
                }
                for (StateHandle* h : op->states_) {
                    if (h->keyed()) {
                        h->clear();
                        h->flush_changes([](std::string_view) {},
                                         [](std::string_view, std::string_view) {});
                    }
                }
                op->timers_.drop_if([&](const Value& key) {
                    encoded.clear();
                    encode_state_key(key, encoded);
                    return mine(encoded);
                });
            }
        }
    }
    return Status::ok();
}

}  // namespace eddy
