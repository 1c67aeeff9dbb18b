// SPDX-License-Identifier: Apache-2.0
#include "state/erase.h"

#include <charconv>
#include <memory>
#include <set>

#include <rocksdb/options.h>

#include "eddy/state.h"
#include "eddy/value.h"

#include "state/layout.h"
#include "state/operator_meta.h"

namespace eddy::state {
namespace {

/// A key for a report line: ints as numbers, strings quoted.
std::string key_text(std::string_view encoded, std::string_view text) {
    if (!encoded.empty() && static_cast<ValueType>(encoded[0]) == ValueType::kInt) {
        return std::string(text);
    }
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out + "\"";
}

std::string group_prefix(uint32_t group) {
    std::string k;
    put_u16(k, static_cast<uint16_t>(group));
    return k;
}

/// The key-group ranges of one column family that lost entries.
struct Touched {
    rocksdb::ColumnFamilyHandle* family = nullptr;
    std::set<uint16_t> groups;
};

}  // namespace

std::vector<std::string> candidate_keys(std::string_view text) {
    std::vector<std::string> keys(1);
    encode_state_key(Value::string_view(text), keys[0]);
    int64_t i = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) {
        keys.emplace_back();
        encode_state_key(Value::integer(i), keys.back());
    }
    return keys;
}

Status erase_key(StateStore& store, std::string_view key_field, std::string_view key,
                 std::vector<std::string>& report) {
    std::set<std::string> operators;
    for (const std::string& family : store.family_names()) {
        if (family.starts_with("op:") || family.starts_with("timers:")) {
            operators.insert(family.substr(family.find(':') + 1));
        }
    }
    // Decide everything before deleting anything: an erasure must not be partial.
    std::vector<std::pair<std::string, OperatorMeta>> targets;
    for (const std::string& op : operators) {
        OperatorMeta meta;
        auto stored = store.get_meta("op/" + op);
        if (!stored || !decode_operator_meta(*stored, meta)) {
            return Status::io_error("state dir '" + store.dir() + "': operator '" + op +
                                    "' has state but no readable description; nothing was erased");
        }
        if (!meta.has_key_field) {
            return Status::unsupported(
                "state dir '" + store.dir() + "': operator '" + op +
                "' was checkpointed by an Eddy that did not record key fields, so it is unknown "
                "whether it is keyed by '" +
                std::string(key_field) +
                "'; run the job once with this Eddy (its next checkpoint records the key field), "
                "stop it and erase again. Nothing was erased");
        }
        if (meta.key_field == key_field) {
            targets.emplace_back(op, std::move(meta));
        }
    }

    std::vector<std::string> keys = candidate_keys(key);
    rocksdb::WriteBatch batch;
    std::vector<Touched> touched;
    std::vector<std::string> removed;
    for (const auto& [op, meta] : targets) {
        if (rocksdb::ColumnFamilyHandle* cf = store.find_family(operator_family(op))) {
            Touched t{cf, {}};
            for (size_t h = 0; h < meta.handles.size(); ++h) {
                if (!meta.handles[h].keyed) {
                    continue;
                }
                for (const std::string& encoded : keys) {
                    uint16_t group = key_group_of_encoded(encoded);
                    std::string k = entry_key(group, static_cast<uint8_t>(h), encoded);
                    std::string value;
                    rocksdb::Status s = store.db().Get(rocksdb::ReadOptions(), cf, k, &value);
                    if (s.IsNotFound()) {
                        continue;
                    }
                    if (!s.ok()) {
                        return Status::io_error("reading the state of '" + op +
                                                "': " + s.ToString() + "; nothing was erased");
                    }
                    s = batch.Delete(cf, k);
                    (void)s;
                    t.groups.insert(group);
                    removed.push_back("operator '" + op + "' state '" + meta.handles[h].name +
                                      "' key " + key_text(encoded, key));
                }
            }
            if (!t.groups.empty()) {
                touched.push_back(std::move(t));
            }
        }
        if (rocksdb::ColumnFamilyHandle* cf = store.find_family(timer_family(op))) {
            Touched t{cf, {}};
            for (const std::string& encoded : keys) {
                uint16_t group = key_group_of_encoded(encoded);
                std::string begin = group_prefix(group);
                std::string end = group_prefix(group + 1u);
                rocksdb::Slice upper(end);
                rocksdb::ReadOptions ro;
                ro.iterate_upper_bound = &upper;
                std::unique_ptr<rocksdb::Iterator> it(store.db().NewIterator(ro, cf));
                for (it->Seek(begin); it->Valid(); it->Next()) {
                    std::string_view k(it->key().data(), it->key().size());
                    if (k.size() < 11 || k.substr(11) != encoded) {
                        continue;
                    }
                    rocksdb::Status s = batch.Delete(cf, it->key());
                    (void)s;
                    t.groups.insert(group);
                    removed.push_back("operator '" + op + "' timer " +
                                      (k[2] == 0 ? "event_time" : "processing_time") + " at " +
                                      std::to_string(get_time(k.substr(3))) + " key " +
                                      key_text(encoded, key));
                }
                if (!it->status().ok()) {
                    return Status::io_error("reading the timers of '" + op + "': " +
                                            it->status().ToString() + "; nothing was erased");
                }
            }
            if (!t.groups.empty()) {
                touched.push_back(std::move(t));
            }
        }
    }
    if (removed.empty()) {
        return Status::ok();
    }
    EDDY_RETURN_IF_ERROR(store.commit(batch));
    report.insert(report.end(), removed.begin(), removed.end());

    // Flush every family, so that no write-ahead log still holds an old value
    // (a log is kept until all families with data in it are flushed), then
    // rewrite the touched ranges so the tombstones drop the values from disk.
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (const std::string& name : store.family_names()) {
        all.push_back(store.find_family(name));
    }
    rocksdb::Status s = store.db().Flush(rocksdb::FlushOptions(), all);
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    for (const Touched& t : touched) {
        for (uint16_t group : t.groups) {
            std::string begin = group_prefix(group);
            std::string end = group_prefix(group + 1u);
            rocksdb::Slice b(begin);
            rocksdb::Slice e(end);
            if (s.ok()) {
                s = store.db().CompactRange(compact, t.family, &b, &e);
            }
        }
    }
    if (!s.ok()) {
        return Status::io_error("state dir '" + store.dir() +
                                "': the key was deleted but compacting it away failed (" +
                                s.ToString() + "); run the erase again to finish");
    }
    return Status::ok();
}

std::vector<std::string> scale_out_sources(StateStore& store) {
    std::set<std::string> sources;
    rocksdb::ColumnFamilyHandle* meta = store.find_family(std::string(kMetaFamily));
    if (meta == nullptr) {
        return {};
    }
    // `scaleout/<p>` (the first source) and `scaleout:<source>/<p>`.
    std::unique_ptr<rocksdb::Iterator> it(store.db().NewIterator(rocksdb::ReadOptions(), meta));
    for (it->Seek("scaleout"); it->Valid() && it->key().starts_with("scaleout"); it->Next()) {
        std::string key = it->key().ToString();
        if (key.starts_with("scaleout/")) {
            sources.insert("");
        } else if (key.starts_with("scaleout:") && key.find('/') != std::string::npos) {
            sources.insert(key.substr(9, key.find('/') - 9));
        }
    }
    return {sources.begin(), sources.end()};
}

}  // namespace eddy::state
