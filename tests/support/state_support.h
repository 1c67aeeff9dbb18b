// SPDX-License-Identifier: Apache-2.0
// Test support: the committed state of a stopped job, to compare runs.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "state/layout.h"
#include "state/store.h"

namespace eddy::testing {

/// Every entry of every operator's state and timers in a state dir, by
/// column family, then key.
using StateSnapshot = std::map<std::string, std::map<std::string, std::string>>;

/// Reads the state dir of a stopped job. With `keyed_only`, operator-wide
/// (Global) entries are left out: they are per shard, so they differ between
/// parallelisms by design.
inline StateSnapshot read_state(const std::string& dir, bool keyed_only = false) {
    StateSnapshot out;
    auto store = state::StateStore::open(dir, 16 << 20);
    EXPECT_TRUE(store.is_ok()) << store.status().message();
    if (!store.is_ok()) {
        return out;
    }
    for (const std::string& family : store.value()->family_names()) {
        if (!family.starts_with("op:") && !family.starts_with("timers:")) {
            continue;
        }
        std::unique_ptr<rocksdb::Iterator> it(store.value()->db().NewIterator(
            rocksdb::ReadOptions(), store.value()->find_family(family)));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            std::string k = it->key().ToString();
            if (keyed_only && family.starts_with("op:") &&
                state::get_u16(k) == state::kGlobalGroup) {
                continue;
            }
            out[family][k] = it->value().ToString();
        }
    }
    return out;
}

}  // namespace eddy::testing
