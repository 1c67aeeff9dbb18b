// SPDX-License-Identifier: Apache-2.0
#include "state/backing.h"

#include "state/layout.h"

namespace eddy::state {
namespace {

rocksdb::WriteOptions scratch_writes() {
    rocksdb::WriteOptions w;
    w.disableWAL = true;
    return w;
}

}  // namespace

const std::string& RocksBacking::entry(std::string_view key) {
    assign_entry_key(key_, key_group_of_encoded(key), handle_, key);
    return key_;
}

StateBacking::Found RocksBacking::read(std::string_view key, std::string& stored) {
    if (memory_complete_) {
        return Found::kNo;
    }
    rocksdb::Slice k(entry(key));
    if (spilled_ > 0) {
        value_.Reset();
        if (db_.Get(rocksdb::ReadOptions(), spill_, k, &value_).ok()) {
            stored.assign(value_.data(), value_.size());
            ++loaded_;
            return Found::kSpilled;
        }
    }
    value_.Reset();
    rocksdb::Status s = db_.Get(rocksdb::ReadOptions(), committed_, k, &value_);
    if (s.ok()) {
        stored.assign(value_.data(), value_.size());
        ++loaded_;
        return Found::kCommitted;
    }
    if (!s.IsNotFound()) {
        fail("reading state failed: " + s.ToString());
    }
    return Found::kNo;
}

void RocksBacking::unspill(std::string_view key) {
    rocksdb::Status s = db_.Delete(scratch_writes(), spill_, entry(key));
    if (!s.ok()) {
        fail("spilling state failed: " + s.ToString());
    }
    if (spilled_ > 0) {
        --spilled_;
    }
}

void RocksBacking::spill(std::string_view key, std::string_view stored) {
    rocksdb::Status s = pending_.Put(spill_, entry(key), stored);
    (void)s;
    ++spilled_;
    ++spilled_total_;
}

rocksdb::Status RocksBacking::write_spilled() {
    if (pending_.Count() == 0) {
        return rocksdb::Status::OK();
    }
    rocksdb::WriteOptions w = scratch_writes();
    rocksdb::Status s = db_.Write(w, &pending_);
    pending_.Clear();
    if (!s.ok()) {
        fail("spilling state failed: " + s.ToString());
    }
    return s;
}

void RocksBacking::corrupt(std::string_view key) {
    std::string shown;
    for (char c : key.substr(key.empty() ? 0 : 1)) {
        shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    fail("the stored value of key '" + shown +
         "' cannot be read by its codec; the state dir is corrupt or from an incompatible "
         "version");
}

void RocksBacking::fail(std::string why) {
    if (failure_.empty()) {
        failure_ = std::move(why);
    }
}

}  // namespace eddy::state
