// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "eddy/codec.h"
#include "eddy/json_writer.h"

#include "commands.h"
#include "record/json.h"
#include "runtime/builtins.h"
#include "runtime/changelog_erase.h"
#include "runtime/scale_out.h"
#include "state/erase.h"
#include "state/expiry.h"
#include "state/inspect.h"
#include "state/layout.h"
#include "state/operator_meta.h"
#include "state/store.h"
#include "topology_loading.h"

namespace eddy::cli {
namespace {

/// Decodes values: the built-ins plus the --plugin plugins.
std::unique_ptr<Registry>& decoding_registry() {
    static std::unique_ptr<Registry> registry;
    return registry;
}

/// Loads the --plugin plugins into decoding_registry(); false after saying why.
bool load_decoders(const std::vector<std::string>& plugins) {
    decoding_registry() = registry_with_plugins(plugins);
    return decoding_registry() != nullptr;
}

constexpr uint64_t kInspectMemory = 64ull << 20;

bool read_operator_info(state::StateStore& store, const std::string& op,
                        state::OperatorMeta& info) {
    auto meta = store.get_meta("op/" + op);
    return meta && state::decode_operator_meta(*meta, info);
}

/// A key as JSON: strings quoted, numbers as numbers, other types as hex.
std::string key_json(std::string_view encoded) {
    std::string out;
    if (encoded.empty()) {
        return "null";
    }
    std::string_view bytes = encoded.substr(1);
    switch (static_cast<ValueType>(encoded[0])) {
        case ValueType::kString:
            append_json_string(bytes, out);
            return out;
        case ValueType::kInt: {
            int64_t i = 0;
            std::memcpy(&i, bytes.data(), std::min(bytes.size(), sizeof i));
            return std::to_string(i);
        }
        case ValueType::kNull:
            return "null";
        default:
            return "\"0x" + state::hex(bytes) + "\"";
    }
}

/// One entry of a dump or get: state name, key (or shard), value.
std::string entry_json(const state::OperatorMeta& info, size_t handle, std::string_view where,
                       std::string_view key_or_shard, std::string_view stored) {
    JsonWriter j;
    j.begin_object().field("state", handle < info.handles.size() ? info.handles[handle].name : "?");
    j.key(where).raw(key_or_shard);
    state::append_state_value(*decoding_registry(), info, handle, stored, j);
    j.end_object();
    return j.str();
}

/// A timer as JSON; `k` is a key of `timers:<operator>`.
std::string timer_json(std::string_view k) {
    std::string line = "{\"timer\":\"";
    line += k[2] == 0 ? "event_time" : "processing_time";
    line += "\",\"time\":" + std::to_string(state::get_time(k.substr(3))) +
            ",\"key\":" + key_json(k.substr(11)) + "}";
    return line;
}

int open_failed(const Status& status) {
    std::fprintf(stderr, "eddy: %s\n", status.message().c_str());
    return status.code() == StatusCode::kNotFound ? kExitUsage : kExitRuntimeFailure;
}

Result<std::unique_ptr<state::StateStore>> open_existing(const std::string& dir) {
    if (!std::filesystem::exists(dir + "/CURRENT")) {
        return Status::not_found("'" + dir + "' is not a state dir (no RocksDB files there)");
    }
    return state::StateStore::open(dir, kInspectMemory);
}

int list(const std::string& dir) {
    auto store = open_existing(dir);
    if (!store.is_ok()) {
        return open_failed(store.status());
    }
    state::StateStore& s = *store.value();
    std::printf("state dir %s: topology '%s'\n", dir.c_str(),
                s.get_meta("topology").value_or("?").c_str());
    std::printf("%-20s %-12s %-12s %12s %12s %12s\n", "operator", "type", "key", "entries",
                "timers", "bytes");
    for (const std::string& family : s.family_names()) {
        if (!family.starts_with("op:")) {
            continue;
        }
        std::string op = family.substr(3);
        state::OperatorMeta info;
        read_operator_info(s, op, info);
        uint64_t entries = 0;
        uint64_t bytes = 0;
        std::unique_ptr<rocksdb::Iterator> it(
            s.db().NewIterator(rocksdb::ReadOptions(), s.find_family(family)));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            ++entries;
            bytes += it->key().size() + it->value().size();
        }
        uint64_t timers = 0;
        if (auto* tf = s.find_family(state::timer_family(op))) {
            std::unique_ptr<rocksdb::Iterator> t(s.db().NewIterator(rocksdb::ReadOptions(), tf));
            for (t->SeekToFirst(); t->Valid(); t->Next()) {
                ++timers;
            }
        }
        std::string key = info.has_key_field ? info.key_field : "?";
        std::printf("%-20s %-12s %-12s %12llu %12llu %12llu\n", op.c_str(), info.type.c_str(),
                    key.empty() ? "-" : key.c_str(), static_cast<unsigned long long>(entries),
                    static_cast<unsigned long long>(timers),
                    static_cast<unsigned long long>(bytes));
    }
    return kExitOk;
}

/// The operator's state_ttl as of the last checkpoint, if it has one: keys
/// past it are gone for the job (lazily), though still on disk until a
/// compaction, and are not shown.
std::optional<state::Expiry> expiry_of(state::StateStore& s, const std::string& op) {
    auto stored = s.get_meta("ttl/" + op);
    return stored ? state::Expiry::decode(*stored) : std::nullopt;
}

int dump(const std::string& dir, const std::string& op) {
    auto store = open_existing(dir);
    if (!store.is_ok()) {
        return open_failed(store.status());
    }
    state::StateStore& s = *store.value();
    state::OperatorMeta info;
    rocksdb::ColumnFamilyHandle* cf = s.find_family(state::operator_family(op));
    if (!read_operator_info(s, op, info)) {
        std::fprintf(stderr, "eddy: state dir '%s' has no state for operator '%s'\n", dir.c_str(),
                     op.c_str());
        return kExitUsage;
    }
    std::optional<state::Expiry> expiry = expiry_of(s, op);
    if (cf != nullptr) {
        std::unique_ptr<rocksdb::Iterator> it(s.db().NewIterator(rocksdb::ReadOptions(), cf));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            std::string_view k(it->key().data(), it->key().size());
            uint16_t group = state::get_u16(k);
            auto handle = static_cast<size_t>(static_cast<unsigned char>(k[2]));
            std::string_view value(it->value().data(), it->value().size());
            if (group != state::kGlobalGroup && expiry && expiry->expired(k.substr(3), value)) {
                continue;  // gone for the job: its state_ttl passed
            }
            std::string line = group == state::kGlobalGroup
                                   ? entry_json(info, handle, "shard",
                                                std::to_string(state::get_u16(k.substr(3))), value)
                                   : entry_json(info, handle, "key", key_json(k.substr(3)), value);
            std::puts(line.c_str());
        }
    }
    if (auto* tf = s.find_family(state::timer_family(op))) {
        std::unique_ptr<rocksdb::Iterator> it(s.db().NewIterator(rocksdb::ReadOptions(), tf));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            std::puts(timer_json(std::string_view(it->key().data(), it->key().size())).c_str());
        }
    }
    return kExitOk;
}

int get_key(const std::string& dir, const std::string& op, const std::string& key) {
    auto store = open_existing(dir);
    if (!store.is_ok()) {
        return open_failed(store.status());
    }
    state::StateStore& s = *store.value();
    state::OperatorMeta info;
    if (!read_operator_info(s, op, info)) {
        std::fprintf(stderr, "eddy: state dir '%s' has no state for operator '%s'\n", dir.c_str(),
                     op.c_str());
        return kExitUsage;
    }
    size_t found = 0;
    std::vector<std::string> keys = state::candidate_keys(key);
    std::optional<state::Expiry> expiry = expiry_of(s, op);
    if (rocksdb::ColumnFamilyHandle* cf = s.find_family(state::operator_family(op))) {
        for (size_t h = 0; h < info.handles.size(); ++h) {
            if (!info.handles[h].keyed) {
                continue;
            }
            for (const std::string& encoded : keys) {
                std::string value;
                rocksdb::Status st =
                    s.db().Get(rocksdb::ReadOptions(), cf,
                               state::entry_key(state::key_group_of_encoded(encoded),
                                                static_cast<uint8_t>(h), encoded),
                               &value);
                if (!st.ok() || (expiry && expiry->expired(encoded, value))) {
                    continue;
                }
                std::puts(entry_json(info, h, "key", key_json(encoded), value).c_str());
                ++found;
            }
        }
    }
    if (rocksdb::ColumnFamilyHandle* tf = s.find_family(state::timer_family(op))) {
        for (const std::string& encoded : keys) {
            std::string begin;
            std::string end;
            uint16_t group = state::key_group_of_encoded(encoded);
            state::put_u16(begin, group);
            state::put_u16(end, static_cast<uint16_t>(group + 1));
            rocksdb::Slice upper(end);
            rocksdb::ReadOptions ro;
            ro.iterate_upper_bound = &upper;
            std::unique_ptr<rocksdb::Iterator> it(s.db().NewIterator(ro, tf));
            for (it->Seek(begin); it->Valid(); it->Next()) {
                std::string_view k(it->key().data(), it->key().size());
                if (k.size() >= 11 && k.substr(11) == encoded) {
                    std::puts(timer_json(k).c_str());
                    ++found;
                }
            }
        }
    }
    if (found == 0) {
        std::fprintf(stderr, "eddy: operator '%s' holds no state for key '%s'\n", op.c_str(),
                     key.c_str());
    }
    return kExitOk;
}

/// `state erase --topology`: the key's records in the changelog topics of
/// the topology's scale-out sources, for the operators keyed by `field`.
int erase_in_changelogs(const Topology& topology, const std::string& field,
                        const std::string& key) {
    std::vector<std::string> operators;
    for (const ComponentDef& c : topology.components) {
        if (c.kind == ComponentKind::kOperator && c.key == field) {
            operators.push_back(c.name);
        }
    }
    std::vector<std::string> report;
    Status status = erase_from_changelogs(topology, operators, key, report);
    for (const std::string& line : report) {
        std::printf("%s\n", line.c_str());
    }
    if (!status.is_ok()) {
        std::fprintf(stderr, "eddy: %s\n", status.message().c_str());
        return kExitRuntimeFailure;
    }
    if (report.empty()) {
        std::printf("no changelog to erase from: the topology has no source with scale_out\n");
    }
    return kExitOk;
}

int erase_key(const std::string& dir, const std::string& key_arg, const std::string& topology_file,
              const std::vector<std::string>& plugins) {
    size_t eq = key_arg.find('=');
    if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr,
                     "eddy: --key must be FIELD=VALUE, the key field of the operators and the "
                     "key to erase, like --key user_id=u123; got '%s'\n",
                     key_arg.c_str());
        return kExitUsage;
    }
    std::string field = key_arg.substr(0, eq);
    std::string key = key_arg.substr(eq + 1);
    // The topology first: a bad one erases nothing.
    std::optional<LoadedTopology> topology;
    if (!topology_file.empty()) {
        topology = load_and_report(topology_file, plugins, /*errors_only=*/true);
        if (!topology) {
            return kExitUsage;
        }
    }
    auto store = open_existing(dir);
    if (!store.is_ok()) {
        return open_failed(store.status());
    }
    state::StateStore& s = *store.value();
    std::vector<std::string> removed;
    Status status = state::erase_key(s, field, key, removed);
    for (const std::string& line : removed) {
        std::printf("removed %s\n", line.c_str());
    }
    if (!status.is_ok()) {
        std::fprintf(stderr, "eddy: %s\n", status.message().c_str());
        return kExitRuntimeFailure;
    }
    if (topology) {
        // The local erase is done and compacted; the store stays locked
        // while the changelogs are written, as no job may run meanwhile.
        if (int code = erase_in_changelogs(topology->topology, field, key); code != kExitOk) {
            return code;
        }
    } else if (std::vector<std::string> sources = state::scale_out_sources(s); !sources.empty()) {
        // The changelog would bring the key back on the next restore.
        std::string topics;
        for (const std::string& source : sources) {
            // scale_out_sources() names the topology's first source "".
            topics += std::string(topics.empty() ? "" : ", ") +
                      changelog_topic("<topology>", source, /*first=*/source.empty());
        }
        std::fprintf(stderr,
                     "eddy: warning: this state dir belongs to a scale-out job: key '%s' also "
                     "lives in the state dirs of the other processes that owned its partition "
                     "(erase it there too) and in the changelog topic(s) %s, from which a "
                     "restore brings it back: give --topology FILE (with every process "
                     "stopped) to erase it there too (docs/scale-out.md, \"Erasing a key\")\n",
                     key.c_str(), topics.c_str());
    }
    if (!removed.empty()) {
        std::printf(
            "removed %zu entr%s of key '%s' from the operators keyed by '%s'; the state dir was "
            "compacted so the data is gone from it (savepoints and backups keep their copies)\n",
            removed.size(), removed.size() == 1 ? "y" : "ies", key.c_str(), field.c_str());
        return kExitOk;
    }
    std::vector<std::string> keyed_by_field;
    for (const std::string& family : s.family_names()) {
        state::OperatorMeta info;
        if (family.starts_with("op:") && read_operator_info(s, family.substr(3), info) &&
            info.key_field == field) {
            keyed_by_field.push_back(family.substr(3));
        }
    }
    if (keyed_by_field.empty()) {
        std::printf("nothing removed: no operator in '%s' is keyed by '%s' (see `eddy state ls`)\n",
                    dir.c_str(), field.c_str());
    } else {
        std::string ops;
        for (const std::string& op : keyed_by_field) {
            ops += (ops.empty() ? "" : ", ") + op;
        }
        std::printf("nothing removed: key '%s' has no state in the operators keyed by '%s' (%s)\n",
                    key.c_str(), field.c_str(), ops.c_str());
    }
    return kExitOk;
}

}  // namespace

void add_state_command(CLI::App& app, int& exit_code) {
    CLI::App* cmd =
        app.add_subcommand("state", "Inspect or edit a job's state dir (stop the job first).");
    cmd->require_subcommand(1);
    auto dir = std::make_shared<std::string>();
    auto op = std::make_shared<std::string>();
    auto plugins = std::make_shared<std::vector<std::string>>();
    CLI::App* ls = cmd->add_subcommand("ls", "Operators with state: type, entries, timers, bytes.");
    ls->add_option("state_dir", *dir, "The topology's state.dir")->required();
    ls->callback([dir, &exit_code] { exit_code = list(*dir); });
    CLI::App* dump_cmd = cmd->add_subcommand(
        "dump",
        "One operator's state as JSON Lines: each entry's state name, key (or shard) and "
        "value decoded as JSON, then its timers.");
    dump_cmd->add_option("state_dir", *dir, "The topology's state.dir")->required();
    dump_cmd->add_option("operator", *op, "An operator of the topology")->required();
    add_plugin_option(dump_cmd, *plugins);
    dump_cmd->callback([dir, op, plugins, &exit_code] {
        exit_code = load_decoders(*plugins) ? dump(*dir, *op) : kExitUsage;
    });
    auto key = std::make_shared<std::string>();
    CLI::App* get_cmd = cmd->add_subcommand(
        "get",
        "One key's entries in an operator's state as JSON Lines (state name, key, value), "
        "then its timers. KEY is text; when it is an integer, the int key is looked up too.");
    get_cmd->add_option("state_dir", *dir, "The topology's state.dir")->required();
    get_cmd->add_option("operator", *op, "An operator of the topology")->required();
    get_cmd->add_option("key", *key, "The key, like u123 or 42")->required();
    add_plugin_option(get_cmd, *plugins);
    const char* values_footer =
        "Values are decoded by the state's codec into JSON (\"value\"), with \"touched\", the "
        "event time of the key's last access, when state_ttl recorded one. A value Eddy cannot "
        "decode (an operator type of a plugin not given with --plugin, a format newer than this "
        "Eddy) is "
        "printed as \"hex\" (the codec's bytes, version byte first) with an \"error\" saying "
        "why.";
    dump_cmd->footer(values_footer);
    get_cmd->footer(std::string(values_footer) +
                    " Exit 0 also when the key has no state (a message on stderr says so).");
    get_cmd->callback([dir, op, key, plugins, &exit_code] {
        exit_code = load_decoders(*plugins) ? get_key(*dir, *op, *key) : kExitUsage;
    });
    CLI::App* erase_cmd = cmd->add_subcommand(
        "erase",
        "Delete one key from every operator keyed by a field (its state entries and timers), "
        "then compact so the data is gone from the state dir. Prints what it removed.");
    erase_cmd->add_option("state_dir", *dir, "The topology's state.dir")->required();
    erase_cmd->add_option("--key", *key, "FIELD=VALUE, like user_id=u123")->required();
    auto topology = std::make_shared<std::string>();
    erase_cmd->add_option("--topology", *topology,
                          "The job's topology file: also erase the key from the changelog topics "
                          "of its scale-out sources (docs/scale-out.md), with every process of "
                          "the job stopped");
    add_plugin_option(erase_cmd, *plugins);
    erase_cmd->footer(
        "Only operators whose key field is FIELD are touched; operator-wide (global) state is "
        "not per key and is left alone. Savepoints and other copies keep the key: erase it "
        "there too. Under scale-out, give --topology (every process of the job stopped) to "
        "also erase it from the changelog topics (docs/scale-out.md). Exit 0 also when nothing "
        "matched (it says so), 2 for a malformed --key or a topology with errors, 1 when the "
        "state dir is locked by a running job or unreadable, or a changelog cannot be "
        "written.");
    erase_cmd->callback([dir, key, topology, plugins, &exit_code] {
        exit_code = erase_key(*dir, *key, *topology, *plugins);
    });
}

}  // namespace eddy::cli
