// SPDX-License-Identifier: Apache-2.0
#include "state/store.h"

#include <cstring>
#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

#include "state/expiry.h"
#include "state/layout.h"

namespace eddy::state {
namespace {

StateStore::OpenError classify(const rocksdb::Status& s) {
    if (s.ok()) {
        return StateStore::OpenError::kNone;
    }
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
        return StateStore::OpenError::kLocked;
    }
    return s.IsCorruption() ? StateStore::OpenError::kCorrupt : StateStore::OpenError::kOther;
}

std::string corrupt_message(const std::string& dir, const std::string& detail) {
    return "state dir '" + dir + "' is corrupt (" + detail +
           "); restore a savepoint, or start with --fresh --force to delete it";
}

Status to_status(const rocksdb::Status& s, const std::string& dir, const std::string& what) {
    switch (classify(s)) {
        case StateStore::OpenError::kNone:
            return Status::ok();
        case StateStore::OpenError::kLocked:
            return Status::io_error("state dir '" + dir +
                                    "' is locked by another running job (stop it or use another "
                                    "state.dir)");
        case StateStore::OpenError::kCorrupt:
            return Status::io_error(corrupt_message(dir, s.ToString()));
        default:
            break;
    }
    std::string text = s.ToString();
    if (s.IsNoSpace() || text.find("File too large") != std::string::npos) {
        return Status::io_error("state dir '" + dir + "' is full: " + what + " failed (" + text +
                                "); the previous checkpoint is kept, free space and start again");
    }
    return Status::io_error("state dir '" + dir + "': " + what + " failed: " + text);
}

/// Whether `dir` holds files although it is no store (RocksDB takes LOCK
/// first and writes CURRENT last when creating one).
bool foreign_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec) || fs::is_empty(dir, ec)) {
        return false;
    }
    return !fs::exists(fs::path(dir) / "CURRENT", ec) && !fs::exists(fs::path(dir) / "LOCK", ec);
}

/// Drops keyed entries whose 8-byte "last touched" prefix is older than the
/// family's TTL allows (see KeyedValue: stored values start with it).
class TtlFilter final : public rocksdb::CompactionFilter {
public:
    TtlFilter(int64_t ttl_ms, int64_t cutoff) : ttl_ms_(ttl_ms), cutoff_(cutoff) {}
    bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value, std::string*,
                bool*) const override {
        if (key.size() < 3 || get_u16(std::string_view(key.data(), 2)) == kGlobalGroup ||
            value.size() < sizeof(int64_t)) {
            return false;
        }
        int64_t touched = 0;
        std::memcpy(&touched, value.data(), sizeof touched);
        return touched + ttl_ms_ < cutoff_;
    }
    const char* Name() const override { return "eddy.state_ttl"; }

private:
    int64_t ttl_ms_;
    int64_t cutoff_;
};

}  // namespace

class StateStore::TtlFilters final : public rocksdb::CompactionFilterFactory {
public:
    void set(uint32_t family, int64_t ttl_ms, int64_t cutoff) {
        std::lock_guard lock(mutex_);
        if (ttl_ms <= 0) {
            by_family_.erase(family);
        } else {
            by_family_[family] = {ttl_ms, cutoff};
        }
    }
    std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
        const rocksdb::CompactionFilter::Context& context) override {
        std::lock_guard lock(mutex_);
        auto it = by_family_.find(context.column_family_id);
        if (it == by_family_.end()) {
            return nullptr;
        }
        return std::make_unique<TtlFilter>(it->second.first, it->second.second);
    }
    const char* Name() const override { return "eddy.state_ttl"; }

private:
    std::mutex mutex_;
    std::map<uint32_t, std::pair<int64_t, int64_t>> by_family_;
};

StateStore::~StateStore() {
    if (db_) {
        for (auto& [name, cf] : families_) {
            if (cf != db_->DefaultColumnFamily()) {
                rocksdb::Status s = db_->DestroyColumnFamilyHandle(cf);
                (void)s;
            }
        }
        rocksdb::Status s = db_->Close();
        (void)s;
    }
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::string& dir, uint64_t memory_bytes,
                                                     OpenError* error) {
    OpenError ignored = OpenError::kNone;
    OpenError& failure = error != nullptr ? *error : ignored;
    failure = OpenError::kOther;
    if (foreign_dir(dir)) {
        failure = OpenError::kNotAStateDir;
        return Status::invalid_argument("state dir '" + dir +
                                        "' is not an Eddy state dir: it holds other files; point "
                                        "state.dir at a new or empty directory");
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return Status::io_error("cannot create state dir '" + dir + "': " + ec.message());
    }
    std::unique_ptr<StateStore> store(new StateStore());
    store->dir_ = dir;
    rocksdb::Options& o = store->options_;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    o.max_open_files = 256;
    // Every commit is synced, so only the record being written when the
    // process died or the disk filled up can be torn; damage anywhere else
    // is corruption to report, not a reason to silently restore less.
    o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    // One budget: a third for memtables (charged to the cache), the rest for blocks.
    auto cache = rocksdb::NewLRUCache(memory_bytes);
    o.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(memory_bytes / 3);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.cache_index_and_filter_blocks = true;
    // Keys seen for the first time miss the store: a Bloom filter answers
    // most such reads without touching a data block.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    // Checkpoints arrive as one large batch: memtables big enough to take a
    // good part of it, background work on both cores, and no write stalls
    // for a burst of level-0 files.
    o.write_buffer_size = std::max<uint64_t>(memory_bytes / 8, 4 << 20);
    o.max_write_buffer_number = 4;
    // A checkpoint's batch may be larger than a memtable; RocksDB would then
    // throttle it to its default 16 MB/s "delayed write" rate.
    o.delayed_write_rate = 1ull << 30;
    o.IncreaseParallelism(2);
    o.level0_slowdown_writes_trigger = 40;
    o.level0_stop_writes_trigger = 64;
    o.compression = rocksdb::kLZ4Compression;
    // A checkpoint writes its keys sorted; each key group's next key goes
    // right after its last one, so the memtable keeps that position as a
    // hint instead of searching its skip list from the top.
    o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(2));
    store->expiry_ = std::make_shared<TtlFilters>();
    o.compaction_filter_factory = store->expiry_;

    std::vector<std::string> names;
    rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(o, dir, &names);
    if (!listed.ok() && std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
        // CURRENT names a MANIFEST that is missing or unreadable: the store
        // cannot be opened, and opening it anyway would write into it.
        failure = OpenError::kCorrupt;
        return Status::io_error(corrupt_message(dir, listed.ToString()));
    }
    if (!listed.ok() || names.empty()) {
        names = {rocksdb::kDefaultColumnFamilyName};
    }
    bool has_meta = false;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& n : names) {
        has_meta |= n == kMetaFamily;
        descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions(o));
    }
    if (!has_meta) {
        descriptors.emplace_back(std::string(kMetaFamily), rocksdb::ColumnFamilyOptions(o));
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status opened = rocksdb::DB::Open(o, dir, descriptors, &handles, &raw);
    if (!opened.ok()) {
        failure = classify(opened);
        return to_status(opened, dir, "open");
    }
    failure = OpenError::kNone;
    store->db_.reset(raw);
    for (size_t i = 0; i < descriptors.size(); ++i) {
        store->families_[descriptors[i].name] = handles[i];
    }
    // Compactions honour the state_ttl of the last checkpoint whoever opens
    // the store; a job then applies its own topology's TTL.
    std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator(
        rocksdb::ReadOptions(), store->families_.at(std::string(kMetaFamily))));
    for (it->Seek("ttl/"); it->Valid() && it->key().starts_with("ttl/"); it->Next()) {
        if (auto e =
                state::Expiry::decode(std::string_view(it->value().data(), it->value().size()))) {
            store->set_expiry(operator_family(it->key().ToString().substr(4)), e->ttl_ms,
                              e->cutoff());
        }
    }
    return store;
}

bool StateStore::has_checkpoint() {
    return get_meta("checkpoint").has_value();
}

std::optional<std::string> StateStore::get_meta(const std::string& key) {
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), families_.at(std::string(kMetaFamily)), key, &value);
    if (!s.ok()) {
        return std::nullopt;
    }
    return value;
}

void StateStore::put_meta(rocksdb::WriteBatch& batch, const std::string& key,
                          std::string_view value) {
    rocksdb::Status s = batch.Put(families_.at(std::string(kMetaFamily)), key, value);
    (void)s;
}

Result<rocksdb::ColumnFamilyHandle*> StateStore::family(const std::string& name) {
    auto it = families_.find(name);
    if (it != families_.end()) {
        return it->second;
    }
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    EDDY_RETURN_IF_ERROR(
        to_status(db_->CreateColumnFamily(rocksdb::ColumnFamilyOptions(options_), name, &cf), dir_,
                  "creating column family " + name));
    families_[name] = cf;
    return cf;
}

rocksdb::ColumnFamilyHandle* StateStore::find_family(const std::string& name) const {
    auto it = families_.find(name);
    return it == families_.end() ? nullptr : it->second;
}

std::vector<std::string> StateStore::family_names() const {
    std::vector<std::string> out;
    for (const auto& [name, cf] : families_) {
        out.push_back(name);
    }
    return out;
}

Status StateStore::drop_family(const std::string& name) {
    auto it = families_.find(name);
    if (it == families_.end()) {
        return Status::ok();
    }
    EDDY_RETURN_IF_ERROR(to_status(db_->DropColumnFamily(it->second), dir_, "dropping " + name));
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(it->second);
    (void)s;
    families_.erase(it);
    return Status::ok();
}

void StateStore::set_expiry(const std::string& family, int64_t ttl_ms, int64_t cutoff) {
    if (rocksdb::ColumnFamilyHandle* cf = find_family(family)) {
        expiry_->set(cf->GetID(), ttl_ms, cutoff);
    }
}

Status StateStore::commit(rocksdb::WriteBatch& batch) {
    rocksdb::WriteOptions w;
    w.sync = true;
    return to_status(db_->Write(w, &batch), dir_, "writing a checkpoint");
}

}  // namespace eddy::state
