// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "eddy/state.h"

namespace eddy::state {

/// The StateBacking of one keyed handle of one operator instance: reads the
/// last checkpoint in `op:<operator>` and keeps evicted changes in
/// `spill:<operator>` (see layout.h). Spill writes skip the write-ahead log:
/// the spill area is scratch that the next checkpoint moves into
/// `op:<operator>` in its own synced batch, and a crashed run's leftovers are
/// dropped on start. Used by the thread that runs the operator instance.
class RocksBacking final : public StateBacking {
public:
    RocksBacking(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* committed,
                 rocksdb::ColumnFamilyHandle* spill, uint8_t handle)
        : db_(db), committed_(committed), spill_(spill), handle_(handle) {}

    Found read(std::string_view key, std::string& stored) override;
    void unspill(std::string_view key) override;
    void spill(std::string_view key, std::string_view stored) override;
    void corrupt(std::string_view key) override;

    /// Whether memory holds every entry of this handle that the store has
    /// (a job that started without state and has evicted nothing yet): then
    /// a key missing from memory is new, and read() needs no lookup.
    void set_memory_complete(bool complete) { memory_complete_ = complete; }

    /// Writes the entries spill() collected (after an eviction pass).
    rocksdb::Status write_spilled();
    /// The next checkpoint moved the spill area into the committed state.
    void spill_committed() { spilled_ = 0; }
    /// Entries read from the store and spilled since the last call (for metrics).
    uint64_t take_loaded() { return std::exchange(loaded_, 0); }
    uint64_t take_spilled() { return std::exchange(spilled_total_, 0); }
    /// Entries in the spill area from this handle.
    uint64_t spilled() const { return spilled_; }
    /// Why reading or spilling failed (first failure), or empty.
    const std::string& failure() const { return failure_; }

private:
    const std::string& entry(std::string_view key);
    void fail(std::string why);

    rocksdb::DB& db_;
    rocksdb::ColumnFamilyHandle* committed_;
    rocksdb::ColumnFamilyHandle* spill_;
    uint8_t handle_;
    bool memory_complete_ = false;
    uint64_t spilled_ = 0;
    uint64_t loaded_ = 0;
    uint64_t spilled_total_ = 0;
    rocksdb::WriteBatch pending_;
    std::string key_;  // scratch
    rocksdb::PinnableSlice value_;
    std::string failure_;
};

}  // namespace eddy::state
