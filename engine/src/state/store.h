// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "eddy/status.h"

namespace eddy::state {

/// The job's RocksDB instance under state.dir, tuned for a bounded memory
/// budget: one block cache and one write-buffer manager shared by every
/// column family, both sized from `state.memory`. Column families are created
/// on first use. Writes go through WriteBatches committed with sync, so a
/// checkpoint is all or nothing. Not thread-safe: the checkpointing thread owns it.
class StateStore {
public:
    /// Why open() failed, for callers that treat the cases differently.
    enum class OpenError { kNone, kLocked, kCorrupt, kNotAStateDir, kOther };

    ~StateStore();

    /// Opens or creates the store. A directory locked by another running job,
    /// unwritable, corrupt or holding other files than a store gives an error
    /// naming the path (and sets `*error` when given), having written nothing.
    static Result<std::unique_ptr<StateStore>> open(const std::string& dir, uint64_t memory_bytes,
                                                    OpenError* error = nullptr);

    /// Whether the store has ever completed a checkpoint.
    bool has_checkpoint();
    std::optional<std::string> get_meta(const std::string& key);
    void put_meta(rocksdb::WriteBatch& batch, const std::string& key, std::string_view value);

    /// The column family, created if missing.
    Result<rocksdb::ColumnFamilyHandle*> family(const std::string& name);
    /// The column family if it exists, else nullptr.
    rocksdb::ColumnFamilyHandle* find_family(const std::string& name) const;
    std::vector<std::string> family_names() const;
    /// Drops a column family and its data (for --allow-state-drop).
    Status drop_family(const std::string& name);

    /// state_ttl: lets compactions of `family` drop keyed entries last touched
    /// before `cutoff - ttl_ms` (cutoff: the event time of the last checkpoint,
    /// where lazy expiry would drop them too). ttl_ms 0 turns it off.
    void set_expiry(const std::string& family, int64_t ttl_ms, int64_t cutoff);

    /// Commits the batch durably (WAL synced).
    Status commit(rocksdb::WriteBatch& batch);

    rocksdb::DB& db() { return *db_; }
    const std::string& dir() const { return dir_; }

    /// The expiry of each column family (by id), read by compactions.
    class TtlFilters;

private:
    StateStore() = default;

    std::string dir_;
    rocksdb::Options options_;
    std::shared_ptr<TtlFilters> expiry_;
    std::unique_ptr<rocksdb::DB> db_;
    std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
};

}  // namespace eddy::state
