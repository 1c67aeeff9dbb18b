// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "eddy/codec.h"

#include "commands.h"
#include "record/json.h"
#include "state/layout.h"
#include "state/store.h"

namespace eddy::cli {
namespace {

constexpr uint64_t kInspectMemory = 64ull << 20;

struct OperatorInfo {
    std::string type;
    std::vector<std::string> handles;
};

bool read_operator_info(state::StateStore& store, const std::string& op, OperatorInfo& info) {
    auto meta = store.get_meta("op/" + op);
    if (!meta) {
        return false;
    }
    StateReader r(*meta);
    uint8_t version = 0;
    uint64_t parallelism = 0;
    uint64_t count = 0;
    if (!r.u8(version) || !r.str(info.type) || !r.varint(parallelism) || !r.varint(count)) {
        return false;
    }
    for (uint64_t i = 0; i < count; ++i) {
        std::string name;
        uint8_t keyed = 0;
        uint8_t v = 0;
        if (!r.str(name) || !r.u8(keyed) || !r.u8(v)) {
            return false;
        }
        info.handles.push_back(name);
    }
    return true;
}

std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        out += digits[(static_cast<unsigned char>(c) >> 4) & 0xf];
        out += digits[static_cast<unsigned char>(c) & 0xf];
    }
    return out;
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
            return "\"0x" + hex(bytes) + "\"";
    }
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
        std::fprintf(stderr, "eddy: %s\n", store.status().message().c_str());
        return store.status().code() == StatusCode::kNotFound ? kExitUsage : kExitRuntimeFailure;
    }
    state::StateStore& s = *store.value();
    std::printf("state dir %s: topology '%s'\n", dir.c_str(),
                s.get_meta("topology").value_or("?").c_str());
    std::printf("%-20s %-12s %12s %12s %12s\n", "operator", "type", "entries", "timers", "bytes");
    for (const std::string& family : s.family_names()) {
        if (!family.starts_with("op:")) {
            continue;
        }
        std::string op = family.substr(3);
        OperatorInfo info;
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
        std::printf("%-20s %-12s %12llu %12llu %12llu\n", op.c_str(), info.type.c_str(),
                    static_cast<unsigned long long>(entries),
                    static_cast<unsigned long long>(timers),
                    static_cast<unsigned long long>(bytes));
    }
    return kExitOk;
}

int dump(const std::string& dir, const std::string& op) {
    auto store = open_existing(dir);
    if (!store.is_ok()) {
        std::fprintf(stderr, "eddy: %s\n", store.status().message().c_str());
        return store.status().code() == StatusCode::kNotFound ? kExitUsage : kExitRuntimeFailure;
    }
    state::StateStore& s = *store.value();
    OperatorInfo info;
    rocksdb::ColumnFamilyHandle* cf = s.find_family(state::operator_family(op));
    if (!read_operator_info(s, op, info)) {
        std::fprintf(stderr, "eddy: state dir '%s' has no state for operator '%s'\n", dir.c_str(),
                     op.c_str());
        return kExitUsage;
    }
    if (cf != nullptr) {
        std::unique_ptr<rocksdb::Iterator> it(s.db().NewIterator(rocksdb::ReadOptions(), cf));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            std::string_view k(it->key().data(), it->key().size());
            uint16_t group = state::get_u16(k);
            auto handle = static_cast<size_t>(static_cast<unsigned char>(k[2]));
            std::string name = handle < info.handles.size() ? info.handles[handle] : "?";
            std::string line = "{\"state\":";
            append_json_string(name, line);
            if (group == state::kGlobalGroup) {
                line += ",\"shard\":" + std::to_string(state::get_u16(k.substr(3)));
            } else {
                line += ",\"key\":" + key_json(k.substr(3));
            }
            line += ",\"value\":\"" +
                    hex(std::string_view(it->value().data(), it->value().size())) + "\"}";
            std::puts(line.c_str());
        }
    }
    if (auto* tf = s.find_family(state::timer_family(op))) {
        std::unique_ptr<rocksdb::Iterator> it(s.db().NewIterator(rocksdb::ReadOptions(), tf));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            std::string_view k(it->key().data(), it->key().size());
            std::string line = "{\"timer\":\"";
            line += k[2] == 0 ? "event_time" : "processing_time";
            line += "\",\"time\":" + std::to_string(state::get_time(k.substr(3))) +
                    ",\"key\":" + key_json(k.substr(11)) + "}";
            std::puts(line.c_str());
        }
    }
    return kExitOk;
}

}  // namespace

void add_state_command(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("state", "Inspect a job's state dir (stop the job first).");
    cmd->require_subcommand(1);
    auto dir = std::make_shared<std::string>();
    auto op = std::make_shared<std::string>();
    CLI::App* ls = cmd->add_subcommand("ls", "Operators with state: type, entries, timers, bytes.");
    ls->add_option("state_dir", *dir, "The topology's state.dir")->required();
    ls->callback([dir, &exit_code] { exit_code = list(*dir); });
    CLI::App* dump_cmd = cmd->add_subcommand(
        "dump",
        "One operator's state as JSON Lines: each entry's state name, key and encoded "
        "value (hex), then its timers.");
    dump_cmd->add_option("state_dir", *dir, "The topology's state.dir")->required();
    dump_cmd->add_option("operator", *op, "An operator of the topology")->required();
    dump_cmd->callback([dir, op, &exit_code] { exit_code = dump(*dir, *op); });
}

}  // namespace eddy::cli
