// SPDX-License-Identifier: Apache-2.0
// State on RocksDB: opening the store, checking that stored state fits the
// topology, restoring it, and writing checkpoints. See state/layout.h.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "eddy/codec.h"

#include "runtime/job_impl.h"
#include "state/compatibility.h"
#include "state/expiry.h"
#include "state/layout.h"
#include "state/operator_meta.h"
#include "state/savepoint.h"

namespace eddy {

namespace detail {

Value decode_state_key(std::string_view encoded, std::string& storage) {
    if (encoded.empty()) {
        return Value::null();
    }
    auto type = static_cast<ValueType>(encoded[0]);
    std::string_view bytes = encoded.substr(1);
    switch (type) {
        case ValueType::kString:
            storage.assign(bytes);
            return Value::string_view(storage);
        case ValueType::kInt: {
            int64_t i = 0;
            std::memcpy(&i, bytes.data(), std::min(bytes.size(), sizeof i));
            return Value::integer(i);
        }
        case ValueType::kDouble: {
            double d = 0;
            std::memcpy(&d, bytes.data(), std::min(bytes.size(), sizeof d));
            return Value::number(d);
        }
        case ValueType::kBool:
            return Value::boolean(!bytes.empty() && bytes[0] != 0);
        case ValueType::kVector:
            storage.assign(bytes);
            return Value::vector_view(
                {reinterpret_cast<const float*>(storage.data()), storage.size() / sizeof(float)});
        case ValueType::kNull:
            break;
    }
    return Value::null();
}

}  // namespace detail

namespace {

constexpr uint8_t kMetaVersion = 1;

/// Whether the job may start from `savepoint` with `dir` as its state.dir;
/// checked before --fresh deletes anything.
Status check_savepoint_start(const std::string& savepoint, const std::string& dir,
                             const std::string& name, const JobOptions& options, uint64_t memory) {
    auto info = state::read_savepoint(savepoint);
    if (!info.is_ok()) {
        return info.status();
    }
    if (info.value().topology != name && !options.force) {
        return Status::invalid_argument("savepoint '" + savepoint + "' is of topology '" +
                                        info.value().topology + "', not '" + name +
                                        "'; add --force to start from it anyway");
    }
    std::error_code ec;
    if (options.fresh || !std::filesystem::exists(dir, ec)) {
        return Status::ok();
    }
    if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
        if (std::filesystem::is_empty(dir, ec)) {
            return Status::ok();
        }
        return Status::invalid_argument("state dir '" + dir +
                                        "' is not empty and holds no Eddy state; empty it or "
                                        "choose another state.dir to start from a savepoint");
    }
    auto existing = state::StateStore::open(dir, memory);
    if (!existing.is_ok()) {
        return existing.status();
    }
    if (existing.value()->has_checkpoint()) {
        return Status::invalid_argument("state dir '" + dir +
                                        "' already holds a checkpoint; add --fresh to replace "
                                        "it with the savepoint");
    }
    return Status::ok();
}

/// Whether column family `name` exists and holds at least one entry.
bool family_has_entries(state::StateStore& store, const std::string& name) {
    rocksdb::ColumnFamilyHandle* cf = store.find_family(name);
    if (cf == nullptr) {
        return false;
    }
    std::unique_ptr<rocksdb::Iterator> it(store.db().NewIterator(rocksdb::ReadOptions(), cf));
    it->SeekToFirst();
    return it->Valid() || !it->status().ok();
}

/// Entries copied per write batch, so that a large state moves in bounded memory.
constexpr size_t kMoveBatchBytes = 32u << 20;

/// `renamed_from:`: moves the state stored under an operator's old name to
/// its name, when the store holds state under the old name and none under
/// the new one. Entries are copied first, in batches, into the new name's
/// families; then one synced batch switches the metas and empties the old
/// families. A crash during the copy leaves the old state and its meta in
/// place, and the next start copies again over the partial copy (which has
/// no meta, so it is no state); a crash after the switch leaves empty old
/// families, which check_compatibility() drops.
Status move_renamed_state(state::StateStore& store, const Topology& topo) {
    for (const ComponentDef& def : topo.components) {
        if (def.kind != ComponentKind::kOperator || def.renamed_from.empty()) {
            continue;
        }
        const std::string& from = def.renamed_from;
        const std::string& to = def.name;
        auto stored = store.get_meta("op/" + from);
        if (!stored || store.get_meta("op/" + to)) {
            continue;  // nothing under the old name, or already moved
        }
        for (const std::string& family : {state::operator_family(to), state::timer_family(to)}) {
            if (family_has_entries(store, family)) {
                // Entries without a meta: a copy a crash interrupted.
                EDDY_RETURN_IF_ERROR(store.drop_family(family));
            }
        }
        uint64_t moved = 0;
        for (auto [source, target] :
             {std::pair{state::operator_family(from), state::operator_family(to)},
              std::pair{state::timer_family(from), state::timer_family(to)}}) {
            rocksdb::ColumnFamilyHandle* src = store.find_family(source);
            if (src == nullptr) {
                continue;
            }
            auto dst = store.family(target);
            EDDY_RETURN_IF_ERROR(dst.status());
            std::unique_ptr<rocksdb::Iterator> it(
                store.db().NewIterator(rocksdb::ReadOptions(), src));
            rocksdb::WriteBatch batch;
            for (it->SeekToFirst(); it->Valid(); it->Next()) {
                rocksdb::Status s = batch.Put(dst.value(), it->key(), it->value());
                (void)s;
                ++moved;
                if (batch.GetDataSize() >= kMoveBatchBytes) {
                    EDDY_RETURN_IF_ERROR(store.commit(batch));
                    batch.Clear();
                }
            }
            if (!it->status().ok()) {
                return Status::io_error("state dir '" + store.dir() + "': reading the state of '" +
                                        from + "' to rename it failed: " + it->status().ToString());
            }
            EDDY_RETURN_IF_ERROR(store.commit(batch));
        }
        rocksdb::WriteBatch batch;
        for (const std::string prefix : {"op/", "ttl/"}) {
            if (auto meta = store.get_meta(prefix + from)) {
                store.put_meta(batch, prefix + to, *meta);
                rocksdb::Status s =
                    batch.Delete(store.find_family(std::string(state::kMetaFamily)), prefix + from);
                (void)s;
            }
        }
        // Every key of op: and timers: starts with a u16 key group: 0xFFFF
        // at most, followed by a handle byte or a domain byte and more.
        const std::string past_all(8, '\xff');
        for (const std::string& family :
             {state::operator_family(from), state::timer_family(from)}) {
            if (rocksdb::ColumnFamilyHandle* cf = store.find_family(family)) {
                rocksdb::Status s = batch.DeleteRange(cf, "", past_all);
                (void)s;
            }
        }
        EDDY_RETURN_IF_ERROR(store.commit(batch));
        EDDY_RETURN_IF_ERROR(store.drop_family(state::operator_family(from)));
        EDDY_RETURN_IF_ERROR(store.drop_family(state::timer_family(from)));
        spdlog::info(
            "moved the state of operator '{}' ({} entries and timers) to '{}', as its "
            "renamed_from asks",
            from, moved, to);
    }
    return Status::ok();
}

}  // namespace

std::string Job::Impl::operator_meta(const ComponentDef& def, const OperatorRuntime& op) const {
    state::OperatorMeta meta;
    meta.version = kMetaVersion;
    meta.type = def.type;
    meta.parallelism = static_cast<uint64_t>(op.parallelism());
    for (const StateHandle* h : op.states_) {
        meta.handles.push_back({h->name(), h->keyed(), h->format_version()});
    }
    meta.key_field = def.key;
    return state::encode_operator_meta(meta);
}

Status Job::Impl::open_state() {
    const Topology& topo = job_.topology_;
    const std::string& dir = topo.state.dir;
    const std::string name = topo.name.empty() ? topo.file : topo.name;
    const std::string& savepoint = job_.options_.from_savepoint;
    if (!savepoint.empty()) {
        EDDY_RETURN_IF_ERROR(
            check_savepoint_start(savepoint, dir, name, job_.options_, topo.state.memory_bytes));
    }
    if (job_.options_.fresh && std::filesystem::exists(dir)) {
        {
            auto failure = state::StateStore::OpenError::kNone;
            auto existing = state::StateStore::open(dir, topo.state.memory_bytes, &failure);
            // A corrupt store's owner is unknown: only --force deletes it.
            bool forced_over_corruption =
                failure == state::StateStore::OpenError::kCorrupt && job_.options_.force;
            if (!existing.is_ok() && !forced_over_corruption) {
                return existing.status();
            }
            auto owner = existing.is_ok() ? existing.value()->get_meta("topology") : std::nullopt;
            if (owner && *owner != name && !job_.options_.force) {
                return Status::invalid_argument("state dir '" + dir + "' belongs to topology '" +
                                                *owner + "', not '" + name +
                                                "'; add --force to delete it anyway");
            }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        if (ec) {
            return Status::io_error("cannot delete state dir '" + dir + "': " + ec.message());
        }
    }
    if (!savepoint.empty()) {
        // What is left in `dir` is empty or was never checkpointed (checked above).
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        EDDY_RETURN_IF_ERROR(state::install_savepoint(savepoint, dir));
        spdlog::info("state dir '{}' is now a copy of savepoint '{}'", dir, savepoint);
    }
    auto opened = state::StateStore::open(dir, topo.state.memory_bytes);
    if (!opened.is_ok()) {
        return opened.status();
    }
    store_ = std::move(opened.value());
    if (!savepoint.empty() && job_.options_.force) {
        // A savepoint of another topology, adopted on purpose.
        rocksdb::WriteBatch batch;
        store_->put_meta(batch, "topology", name);
        EDDY_RETURN_IF_ERROR(store_->commit(batch));
    }
    if (auto format = store_->get_meta("format"); format && *format != state::kFormat) {
        return Status::invalid_argument("state dir '" + dir + "' has format '" + *format +
                                        "', which this Eddy cannot read");
    }
    if (auto owner = store_->get_meta("topology"); owner && *owner != name) {
        return Status::invalid_argument(
            "state dir '" + dir + "' belongs to topology '" + *owner + "', not '" + name +
            "'; use another state.dir, or --fresh --force to replace it");
    }
    // Entries a crashed run evicted after its last checkpoint are not state.
    for (const std::string& family : store_->family_names()) {
        if (family.starts_with("spill:")) {
            EDDY_RETURN_IF_ERROR(store_->drop_family(family));
        }
    }
    EDDY_RETURN_IF_ERROR(move_renamed_state(*store_, topo));
    resuming_ = store_->has_checkpoint();
    return Status::ok();
}

Status Job::Impl::check_compatibility() {
    const Topology& topo = job_.topology_;
    auto allowed = [&](const std::string& op) {
        const auto& list = job_.options_.allow_state_drop;
        return std::find(list.begin(), list.end(), op) != list.end();
    };
    std::vector<std::string> problems;
    std::vector<std::pair<std::string, std::string>> drops;  // operator, problem
    std::set<std::string> seen;
    for (const std::string& family : store_->family_names()) {
        if (!family.starts_with("op:") && !family.starts_with("timers:")) {
            continue;
        }
        std::string op = family.substr(family.find(':') + 1);
        if (!seen.insert(op).second) {
            continue;  // its other family
        }
        int ci = topo.find(op);
        auto stored = store_->get_meta("op/" + op);
        if (!stored && !holds_entries(op)) {
            // Created for a run that never checkpointed this operator.
            EDDY_RETURN_IF_ERROR(store_->drop_family(state::operator_family(op)));
            EDDY_RETURN_IF_ERROR(store_->drop_family(state::timer_family(op)));
            continue;
        }
        state::OperatorMeta meta;
        std::vector<std::string> found;
        if (!stored || !state::decode_operator_meta(*stored, meta)) {
            found.push_back("operator '" + op + "': its state has no readable description");
        } else if (ci < 0 ||
                   topo.components[static_cast<size_t>(ci)].kind != ComponentKind::kOperator) {
            found.push_back(state::removed_operator_problem(op, meta.type));
        } else {
            // Compare with a live instance of the operator (shard 0).
            const ComponentDef& def = topo.components[static_cast<size_t>(ci)];
            std::vector<state::LiveHandle> handles;
            for (auto& o : instances_[static_cast<size_t>(
                                          job_.plan_.node_of_component[static_cast<size_t>(ci)])]
                               .front()
                               ->ops) {
                if (o->def_.name != op) {
                    continue;
                }
                for (const StateHandle* s : o->states_) {
                    handles.push_back({s->name(), s->keyed(), s->shared(), s->format_version()});
                }
            }
            found = state::state_conflicts(op, meta, {def.type, def.key, &handles});
        }
        if (found.empty()) {
            continue;
        }
        for (std::string& problem : found) {
            if (allowed(op)) {
                drops.emplace_back(op, std::move(problem));
            } else {
                problems.push_back(std::move(problem));
            }
        }
    }
    if (problems.empty()) {
        // Only now: a refused start leaves the state dir as it was.
        std::set<std::string> dropped;
        for (const auto& [op, problem] : drops) {
            spdlog::warn("dropping the state of operator '{}' as --allow-state-drop asks: {}", op,
                         problem);
            if (dropped.insert(op).second) {
                EDDY_RETURN_IF_ERROR(store_->drop_family(state::operator_family(op)));
                EDDY_RETURN_IF_ERROR(store_->drop_family(state::timer_family(op)));
            }
        }
        return Status::ok();
    }
    std::string message = "the state in '" + topo.state.dir + "' does not fit this topology:";
    for (const std::string& p : problems) {
        message += "\n  - " + p;
    }
    message += "\nadd --allow-state-drop OPERATOR to accept losing an operator's state, or --fresh";
    return Status::invalid_argument(message);
}

namespace {

/// What a checkpoint stores of one chain instance's watermarks.
struct StoredWatermarks {
    int64_t current = 0;
    int64_t output = 0;
    std::vector<WatermarkCombiner::Channel> channels;
};

std::optional<StoredWatermarks> decode_watermarks(std::string_view bytes) {
    StateReader r(bytes);
    StoredWatermarks w;
    uint64_t count = 0;
    bool ok = r.i64(w.current) && r.i64(w.output) && r.varint(count) && count < 65536;
    for (uint64_t c = 0; ok && c < count; ++c) {
        WatermarkCombiner::Channel ch;
        uint8_t idle = 0;
        ok = r.i64(ch.watermark) && r.u8(idle);
        ch.idle = idle != 0;
        w.channels.push_back(ch);
    }
    if (!ok) {
        return std::nullopt;
    }
    return w;
}

}  // namespace

Status Job::Impl::restore() {
    EDDY_RETURN_IF_ERROR(check_compatibility());
    const Topology& topo = job_.topology_;
    std::string storage;
    for (size_t ci = 0; ci < topo.components.size(); ++ci) {
        const ComponentDef& def = topo.components[ci];
        if (def.kind != ComponentKind::kOperator) {
            continue;
        }
        auto& shards = instances_[static_cast<size_t>(job_.plan_.node_of_component[ci])];
        auto runtime_of = [&](int shard) -> OperatorRuntime* {
            for (auto& o : shards[static_cast<size_t>(shard)]->ops) {
                if (o->def_.name == def.name) {
                    return o.get();
                }
            }
            return nullptr;
        };
        int parallelism = static_cast<int>(shards.size());
        state::OperatorMeta meta;
        if (auto stored = store_->get_meta("op/" + def.name);
            !stored || !state::decode_operator_meta(*stored, meta)) {
            continue;  // no state yet
        }
        if (rocksdb::ColumnFamilyHandle* cf =
                store_->find_family(state::operator_family(def.name))) {
            // Keyed entries are read on first use (see KeyedValue); only the
            // operator-wide values, at the end of the family, load now.
            std::unique_ptr<rocksdb::Iterator> it(
                store_->db().NewIterator(rocksdb::ReadOptions(), cf));
            std::string globals;
            state::put_u16(globals, state::kGlobalGroup);
            for (it->Seek(globals); it->Valid(); it->Next()) {
                std::string_view k(it->key().data(), it->key().size());
                if (k.size() < 3) {
                    continue;
                }
                uint8_t handle = static_cast<uint8_t>(k[2]);
                if (handle >= meta.handles.size()) {
                    return Status::io_error("state of operator '" + def.name + "' names handle " +
                                            std::to_string(handle) +
                                            ", which it does not describe");
                }
                const std::string& handle_name = meta.handles[handle].name;
                std::string_view rest = k.substr(3);
                int shard = rest.size() >= 2 ? state::get_u16(rest) : 0;
                if (shard >= parallelism) {
                    spdlog::warn(
                        "[{}] state '{}' of shard {} is dropped: the job now has {} shards",
                        def.name, handle_name, shard, parallelism);
                    continue;
                }
                for (StateHandle* h : runtime_of(shard)->states_) {
                    std::string_view value(it->value().data(), it->value().size());
                    if (h->name() == handle_name && !h->restore({}, value)) {
                        return Status::io_error(
                            "state '" + handle_name + "' of operator '" + def.name +
                            "' holds a value its codec cannot read; the state dir "
                            "is corrupt or from an incompatible version");
                    }
                }
            }
            if (!it->status().ok()) {
                return Status::io_error("reading the state of '" + def.name +
                                        "': " + it->status().ToString());
            }
        }
        if (rocksdb::ColumnFamilyHandle* cf = store_->find_family(state::timer_family(def.name))) {
            std::unique_ptr<rocksdb::Iterator> it(
                store_->db().NewIterator(rocksdb::ReadOptions(), cf));
            for (it->SeekToFirst(); it->Valid(); it->Next()) {
                std::string_view k(it->key().data(), it->key().size());
                if (k.size() < 11) {
                    continue;
                }
                uint16_t group = state::get_u16(k);
                auto domain = static_cast<TimeDomain>(k[2]);
                int64_t time = state::get_time(k.substr(3));
                Value key = detail::decode_state_key(k.substr(11), storage);
                runtime_of(shard_of_key_group(group, parallelism))->timers_.set(domain, key, time);
            }
        }
        for (int s = 0; s < parallelism; ++s) {
            runtime_of(s)->timers_.mark_clean();
        }
        if (auto stored = store_->get_meta("ttl/" + def.name)) {
            auto expiry = state::Expiry::decode(*stored);
            if (!expiry) {
                return Status::io_error("state_ttl record of operator '" + def.name +
                                        "' is unreadable; the state dir is corrupt");
            }
            // The same parallelism resumes each shard's clock; another one
            // starts every shard from the oldest, which expires nothing early.
            bool same = expiry->now.size() == static_cast<size_t>(parallelism);
            for (int s = 0; s < parallelism; ++s) {
                runtime_of(s)->ttl_now_ =
                    same ? expiry->now[static_cast<size_t>(s)] : expiry->cutoff();
            }
            if (def.state_ttl_ms) {
                store_->set_expiry(state::operator_family(def.name), *def.state_ttl_ms,
                                   expiry->cutoff());
            }
        }
    }

    // Watermarks of every chain instance, then the sources. An instance that
    // did not exist before (the parallelism grew), or whose input channels
    // changed, starts from the lowest watermark stored for its plan node:
    // every shard of a node sees the same watermarks, so that is exact when
    // they agree and never ahead of the data when they do not.
    for (auto& shards : instances_) {
        std::vector<StoredWatermarks> stored_of_node;
        for (auto& inst : shards) {
            if (inst->ops.empty()) {
                continue;
            }
            std::string prefix = "wm/" + std::to_string(inst->node->id) + "/";
            if (stored_of_node.empty()) {
                for (int s = 0;; ++s) {
                    auto stored = store_->get_meta(prefix + std::to_string(s));
                    if (!stored) {
                        break;
                    }
                    if (auto w = decode_watermarks(*stored)) {
                        stored_of_node.push_back(std::move(*w));
                    }
                }
            }
            std::optional<StoredWatermarks> w;
            if (auto stored = store_->get_meta(prefix + std::to_string(inst->shard))) {
                w = decode_watermarks(*stored);
            }
            if (!w || w->channels.size() != inst->combiner.size()) {
                if (stored_of_node.empty()) {
                    continue;
                }
                const StoredWatermarks& lowest = *std::min_element(
                    stored_of_node.begin(), stored_of_node.end(),
                    [](const auto& a, const auto& b) { return a.current < b.current; });
                w = lowest;
                if (w->channels.size() != inst->combiner.size()) {
                    w->channels.assign(inst->combiner.size(),
                                       WatermarkCombiner::Channel{lowest.current, false});
                }
                spdlog::info(
                    "watermarks of plan node {} shard {} start at the node's lowest: "
                    "the parallelism or the plan changed",
                    inst->node->id, inst->shard);
            }
            int64_t current = w->current;
            inst->combiner.restore(std::move(w->channels), current);
            inst->output_watermark = w->output;
            for (auto& op : inst->ops) {
                op->timers_.set_watermark(current);
                if (current != kEndOfTime) {
                    op->ttl_now_ = std::max(op->ttl_now_, current);
                }
            }
        }
    }
    for (auto& src : sources_) {
        if (auto wm = store_->get_meta("srcwm/" + src->def_.name)) {
            StateReader r(*wm);
            int64_t max_seen = 0;
            int64_t sent = 0;
            uint8_t ended = 0;
            if (r.i64(max_seen) && r.i64(sent) && r.u8(ended)) {
                src->watermarks_.restore(max_seen, ended != 0);
                src->sent_watermark_ = sent;
                src->ended_ = ended != 0;
            }
        }
        auto position = store_->get_meta("source/" + src->def_.name);
        if (!position) {
            continue;
        }
        if (!src->source_->resumable()) {
            spdlog::warn(
                "[{}] this source cannot resume from a position; it continues with what it "
                "reads next",
                src->def_.name);
            continue;
        }
        Status s = src->source_->seek(*position);
        if (!s.is_ok()) {
            return Status(s.code(), "source '" + src->def_.name + "': " + s.message());
        }
    }
    if (auto id = store_->get_meta("checkpoint")) {
        StateReader r(*id);
        uint64_t n = 0;
        if (r.varint(n)) {
            checkpoint_id_ = n;
        }
    }
    spdlog::info("restored checkpoint {} from '{}'", checkpoint_id_, topo.state.dir);
    return Status::ok();
}

bool Job::Impl::holds_entries(const std::string& op) {
    for (const std::string& family : {state::operator_family(op), state::timer_family(op)}) {
        if (rocksdb::ColumnFamilyHandle* cf = store_->find_family(family)) {
            std::unique_ptr<rocksdb::Iterator> it(
                store_->db().NewIterator(rocksdb::ReadOptions(), cf));
            it->SeekToFirst();
            if (it->Valid() || !it->status().ok()) {
                return true;
            }
        }
    }
    return false;
}

Status Job::Impl::bind_state() {
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                op->timers_.track_changes(true);
                for (size_t h = 0; h < op->states_.size(); ++h) {
                    StateHandle& handle = *op->states_[h];
                    if (!handle.keyed()) {
                        continue;
                    }
                    auto committed = store_->family(state::operator_family(op->def_.name));
                    EDDY_RETURN_IF_ERROR(committed.status());
                    auto spill = store_->family(state::spill_family(op->def_.name));
                    EDDY_RETURN_IF_ERROR(spill.status());
                    op->backings_.push_back(std::make_unique<state::RocksBacking>(
                        store_->db(), committed.value(), spill.value(), static_cast<uint8_t>(h)));
                    op->backings_.back()->set_memory_complete(!holds_entries(op->def_.name));
                    handle.bind(op->backings_.back().get());
                }
            }
        }
    }
    // The cache budget is shared evenly by the operator instances with keyed state.
    size_t cached = 0;
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                cached += op->backings_.empty() ? 0 : 1;
            }
        }
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                op->cache_budget_ = cached == 0 ? 0 : job_.topology_.state.cache_bytes / cached;
            }
        }
    }
    return Status::ok();
}

void Job::Impl::evict(OperatorRuntime& op, size_t used) {
    // Down to 90% of the budget, so that eviction runs in batches; each
    // handle gives up memory in proportion to what it holds.
    size_t target = op.cache_budget_ / 10 * 9;
    for (StateHandle* h : op.states_) {
        size_t held = h->memory_bytes();
        if (held > 0) {
            h->evict(static_cast<size_t>(static_cast<double>(held) * static_cast<double>(target) /
                                         static_cast<double>(used)));
        }
    }
    for (auto& b : op.backings_) {
        b->set_memory_complete(false);
        rocksdb::Status s = b->write_spilled();
        (void)s;  // a failure is reported by maintain_state()
    }
}

Status Job::Impl::commit_spilled(rocksdb::WriteBatch& batch) {
    std::set<std::string> moved;
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                uint64_t spilled = 0;
                for (const auto& b : op->backings_) {
                    spilled += b->spilled();
                }
                const std::string& name = op->def_.name;
                if (spilled == 0 || !moved.insert(name).second) {
                    continue;
                }
                rocksdb::ColumnFamilyHandle* spill = store_->find_family(state::spill_family(name));
                auto committed = store_->family(state::operator_family(name));
                EDDY_RETURN_IF_ERROR(committed.status());
                std::unique_ptr<rocksdb::Iterator> it(
                    store_->db().NewIterator(rocksdb::ReadOptions(), spill));
                for (it->SeekToFirst(); it->Valid(); it->Next()) {
                    rocksdb::Status s = batch.Put(committed.value(), it->key(), it->value());
                    (void)s;
                }
                if (!it->status().ok()) {
                    return Status::io_error("state dir '" + job_.topology_.state.dir +
                                            "': reading spilled state of '" + name +
                                            "' failed: " + it->status().ToString());
                }
                // Keys start with a key group below 4096: "\xff" is past all of them.
                rocksdb::Status s = batch.DeleteRange(spill, "", "\xff");
                (void)s;
            }
        }
    }
    return Status::ok();
}

std::vector<std::pair<std::string, state::Expiry>> Job::Impl::record_expiry(
    rocksdb::WriteBatch& batch) {
    std::vector<std::pair<std::string, state::Expiry>> out;
    for (auto& shards : instances_) {
        // Every shard of a node runs the same operators, in the same order.
        for (size_t k = 0; !shards.empty() && k < shards[0]->ops.size(); ++k) {
            const OperatorRuntime& op = *shards[0]->ops[k];
            if (!op.def_.state_ttl_ms || op.backings_.empty()) {
                continue;
            }
            state::Expiry e;
            e.ttl_ms = *op.def_.state_ttl_ms;
            for (auto& inst : shards) {
                e.now.push_back(inst->ops[k]->ttl_now_);
            }
            store_->put_meta(batch, "ttl/" + op.def_.name, e.encode());
            out.emplace_back(op.def_.name, std::move(e));
        }
    }
    return out;
}

Status Job::Impl::checkpoint() {
    if (!store_) {
        return Status::ok();
    }
    if (closed_) {
        // Closed sources have no position, and a failed run must keep the
        // checkpoint before its failure.
        return Status(StatusCode::kInternal,
                      "checkpoint() after run() ended: the job took its last checkpoint when it "
                      "stopped");
    }
    // At-least-once sinks: everything emitted before the checkpoint reaches the
    // sinks' destinations before the checkpoint says it was processed.
    EDDY_RETURN_IF_ERROR(flush_sinks());
    const Topology& topo = job_.topology_;
    auto started = std::chrono::steady_clock::now();
    rocksdb::WriteBatch batch;
    std::string scratch;
    std::vector<std::pair<std::string, std::string>> puts;
    EDDY_RETURN_IF_ERROR(commit_spilled(batch));
    for (auto& so : scale_outs_) {
        so->changelog->begin(checkpoint_id_ + 1);
    }
    if (models_) {
        sync_models();  // before the snapshot, which then holds the merged models
        sync_members(/*publish=*/true);
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                const std::string& name = op->def_.name;
                // Scale-out: the changes of operators whose keys are the
                // input's also go to the changelog.
                ScaleOut* logged = scale_out_of(name);
                if (!op->states_.empty()) {
                    auto cf = store_->family(state::operator_family(name));
                    if (!cf.is_ok()) {
                        return cf.status();
                    }
                    rocksdb::ColumnFamilyHandle* family = cf.value();
                    for (size_t h = 0; h < op->states_.size(); ++h) {
                        StateHandle& handle = *op->states_[h];
                        auto index = static_cast<uint8_t>(h);
                        if (size_t dropped = handle.expire(); dropped > 0) {
                            spdlog::debug("[{}] state_ttl dropped {} keys of '{}'", name, dropped,
                                          handle.name());
                        }
                        if (handle.keyed()) {
                            spdlog::debug("[{}] '{}' of shard {}: {} keys in memory, ~{} MB", name,
                                          handle.name(), inst->shard, handle.size(),
                                          handle.memory_bytes() >> 20);
                            handle.flush_changes(
                                [&](std::string_view key) {
                                    rocksdb::Status s = batch.Delete(
                                        family, state::entry_key(state::key_group_of_encoded(key),
                                                                 index, key));
                                    (void)s;
                                    if (logged) {
                                        log_entry(*logged, name, index, key, std::nullopt);
                                    }
                                },
                                [&](std::string_view key, std::string_view value) {
                                    if (logged) {
                                        log_entry(*logged, name, index, key, value);
                                    }
                                    puts.emplace_back(
                                        state::entry_key(state::key_group_of_encoded(key), index,
                                                         key),
                                        std::string(value));
                                });
                            // Sorted keys let RocksDB's memtable insert each one next to
                            // the last instead of searching: large checkpoints are several
                            // times faster.
                            std::sort(puts.begin(), puts.end());
                            for (const auto& [k, v] : puts) {
                                rocksdb::Status s = batch.Put(family, k, v);
                                (void)s;
                            }
                            puts.clear();
                        } else if (!handle.shared() || inst->shard == 0) {
                            // Shared state is one value, stored once (as shard 0's).
                            handle.flush_changes(
                                [](std::string_view) {},
                                [&](std::string_view, std::string_view value) {
                                    std::string k;
                                    state::put_u16(k, state::kGlobalGroup);
                                    k.push_back(static_cast<char>(index));
                                    state::put_u16(k, static_cast<uint16_t>(inst->shard));
                                    rocksdb::Status s = batch.Put(family, k, value);
                                    (void)s;
                                });
                        }
                    }
                    store_->put_meta(batch, "op/" + name, operator_meta(op->def_, *op));
                }
                if (op->timers_.changed()) {
                    auto cf = store_->family(state::timer_family(name));
                    if (!cf.is_ok()) {
                        return cf.status();
                    }
                    std::vector<std::pair<std::string, bool>> changes;
                    op->timers_.drain_changes([&](bool added, TimeDomain domain, int64_t time,
                                                  const Value& key) {
                        scratch.clear();
                        encode_state_key(key, scratch);
                        if (logged) {
                            log_timer(*logged, name, domain, time, scratch, added);
                        }
                        changes.emplace_back(
                            state::timer_key(static_cast<uint8_t>(domain), time, scratch), added);
                    });
                    // Sorted for the same reason as above; of several changes to one
                    // timer only the last counts.
                    std::stable_sort(
                        changes.begin(), changes.end(),
                        [](const auto& a, const auto& b) { return a.first < b.first; });
                    for (size_t i = 0; i < changes.size(); ++i) {
                        if (i + 1 < changes.size() && changes[i + 1].first == changes[i].first) {
                            continue;
                        }
                        rocksdb::Status s = changes[i].second
                                                ? batch.Put(cf.value(), changes[i].first, {})
                                                : batch.Delete(cf.value(), changes[i].first);
                        (void)s;
                    }
                    if (op->states_.empty()) {
                        store_->put_meta(batch, "op/" + name, operator_meta(op->def_, *op));
                    }
                }
            }
            if (!inst->ops.empty()) {
                std::string wm;
                StateWriter w(wm);
                w.i64(inst->combiner.current());
                w.i64(inst->output_watermark);
                w.varint(inst->combiner.channels().size());
                for (const auto& ch : inst->combiner.channels()) {
                    w.i64(ch.watermark);
                    w.u8(ch.idle ? 1 : 0);
                }
                store_->put_meta(
                    batch,
                    "wm/" + std::to_string(inst->node->id) + "/" + std::to_string(inst->shard), wm);
            }
        }
    }
    for (auto& src : sources_) {
        std::string wm;
        StateWriter w(wm);
        w.i64(src->watermarks_.max_seen());
        w.i64(src->sent_watermark_);
        w.u8(src->ended_ ? 1 : 0);
        store_->put_meta(batch, "srcwm/" + src->def_.name, wm);
        if (src->source_->resumable()) {
            std::string position;
            src->source_->position(position);
            store_->put_meta(batch, "source/" + src->def_.name, position);
        }
    }
    ++checkpoint_id_;
    std::string id;
    StateWriter w(id);
    w.varint(checkpoint_id_);
    w.i64(job_.options_.clock->now_ms());
    store_->put_meta(batch, "format", state::kFormat);
    store_->put_meta(batch, "topology", topo.name.empty() ? topo.file : topo.name);
    store_->put_meta(batch, "checkpoint", id);
    std::vector<std::pair<std::string, state::Expiry>> expiries = record_expiry(batch);
    std::vector<GroupOffsets> group_offsets;
    if (!scale_outs_.empty()) {
        // The changelog has the checkpoint before the store says it is done.
        EDDY_RETURN_IF_ERROR(publish_changelog(batch, group_offsets));
    }
    // A transactional sink's output, with the changelog's records and the
    // input offsets, commits before the store does: a crash in between
    // leaves the store behind the changelog, which a restore catches up.
    EDDY_RETURN_IF_ERROR(commit_transaction(group_offsets));
    auto built = std::chrono::steady_clock::now();
    EDDY_RETURN_IF_ERROR(store_->commit(batch));
    ++checkpoints_;
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                for (auto& b : op->backings_) {
                    b->spill_committed();
                }
            }
        }
    }
    for (const auto& [op, expiry] : expiries) {
        store_->set_expiry(state::operator_family(op), expiry.ttl_ms, expiry.cutoff());
    }
    for (auto& src : sources_) {
        if (src->source_->resumable()) {
            src->source_->checkpointed();
        }
    }
    spdlog::debug(
        "checkpoint {}: batch built in {:.1f} ms, committed in {:.1f} ms", checkpoint_id_ + 0,
        std::chrono::duration<double, std::milli>(built - started).count(),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - built)
            .count());
    last_checkpoint_bytes_ = batch.GetDataSize();
    last_checkpoint_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    spdlog::debug("checkpoint {}: {} bytes written in {:.1f} ms", checkpoint_id_,
                  last_checkpoint_bytes_, last_checkpoint_ms_);
    job_.metrics_.checkpoints().record(checkpoint_id_, last_checkpoint_bytes_,
                                       job_.options_.clock->now_ms(),
                                       static_cast<int64_t>(last_checkpoint_ms_ * 1000));
    // The workers are quiet: state sizes can be read here.
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            sample_state(*inst);
        }
    }
    return Status::ok();
}

}  // namespace eddy
