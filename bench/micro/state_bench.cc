// SPDX-License-Identifier: Apache-2.0
// Keyed state through the cache (eddy::KeyedValue<T>): get_or_create on keys
// in memory (hits), on new keys (misses that create), and with a RocksDB
// backing bound as the runtime binds it (state/backing.h): hits, and reads of
// evicted keys, either committed by a checkpoint or spilled since. Keys are
// strings "u<i>" as user ids are; values are ~90-byte counters.
#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "eddy/state.h"

#include "state/backing.h"
#include "state/layout.h"
#include "state/store.h"
#include "support.h"

namespace eddy {

/// Per-key counters of about the size of a small operator state.
struct BenchCounters {
    int64_t events = 0;
    double total = 0;
    std::array<double, 8> by_type{};
};

template <>
struct Codec<BenchCounters> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const BenchCounters& v, StateWriter& w) {
        w.i64(v.events);
        w.f64(v.total);
        for (double d : v.by_type) {
            w.f64(d);
        }
    }
    static bool decode(StateReader& r, uint8_t, BenchCounters& v) {
        bool ok = r.i64(v.events) && r.f64(v.total);
        for (double& d : v.by_type) {
            ok = ok && r.f64(d);
        }
        return ok;
    }
    static size_t heap_bytes(const BenchCounters&) { return 0; }
};

namespace bench {
namespace {

namespace fs = std::filesystem;
using State = KeyedValue<BenchCounters>;

/// `n` string keys "u0".."u<n-1>" (the Values view the strings).
struct Keys {
    explicit Keys(size_t n) {
        names.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            names.push_back("u" + std::to_string(i));
        }
        for (const std::string& s : names) {
            values.push_back(Value::string_view(s));
        }
    }
    std::vector<std::string> names;
    std::vector<Value> values;
};

void update(BenchCounters& c) {
    ++c.events;
    c.total += 1.5;
    c.by_type[static_cast<size_t>(c.events) % c.by_type.size()] += 1;
}

/// Keys already in memory, visited in a stride that defeats the CPU cache.
void BM_KeyedValue_Hit(benchmark::State& state) {
    const size_t n = static_cast<size_t>(state.range(0));
    Keys keys(n);
    State values("bench");
    for (const Value& k : keys.values) {
        update(values.get_or_create(k));
    }
    size_t i = 0;
    for (auto _ : state) {
        update(values.get_or_create(keys.values[i]));
        i = (i + 7919) % n;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyedValue_Hit)->Arg(10'000)->Arg(1'000'000);

/// Keys seen for the first time: each call creates its entry.
void BM_KeyedValue_MissCreate(benchmark::State& state) {
    const size_t n = 1'000'000;
    Keys keys(n);
    auto values = std::make_unique<State>("bench");
    size_t i = 0;
    for (auto _ : state) {
        update(values->get_or_create(keys.values[i]));
        if (++i == n) {
            state.PauseTiming();
            values = std::make_unique<State>("bench");
            i = 0;
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyedValue_MissCreate);

/// A RocksDB state dir in /tmp with one keyed handle bound to a backing,
/// the way the runtime binds it.
class RocksState {
public:
    explicit RocksState(const char* what)
        : dir_(fs::temp_directory_path() /
               ("eddy_micro_" + std::string(what) + "_" + std::to_string(::getpid()))) {
        fs::remove_all(dir_);
        auto store = state::StateStore::open(dir_.string(), 256 << 20);
        if (!store.is_ok()) {
            fail(store.status().message());
        }
        store_ = std::move(store).value();
        committed_ = family(state::operator_family("bench"));
        spill_ = family(state::spill_family("bench"));
        backing_ = std::make_unique<state::RocksBacking>(store_->db(), committed_, spill_, 0);
        values.bind(backing_.get());
    }
    ~RocksState() {
        backing_.reset();
        store_.reset();
        fs::remove_all(dir_);
    }

    /// What a checkpoint does: writes every changed entry to the committed
    /// family in one synced batch (and the spill area is empty after it).
    void checkpoint() {
        rocksdb::WriteBatch batch;
        values.flush_changes(
            [&](std::string_view key) {
                (void)batch.Delete(committed_,
                                   state::entry_key(state::key_group_of_encoded(key), 0, key));
            },
            [&](std::string_view key, std::string_view value) {
                (void)batch.Put(committed_,
                                state::entry_key(state::key_group_of_encoded(key), 0, key), value);
            });
        if (Status s = store_->commit(batch); !s.is_ok()) {
            fail(s.message());
        }
        backing_->spill_committed();
    }
    /// Evicts every key from memory (changed ones are spilled) and writes the spill.
    void evict_all() {
        values.evict(0);
        if (!backing_->write_spilled().ok()) {
            fail(backing_->failure());
        }
    }
    /// Moves the memtables to SST files, so reads go through the block cache.
    void flush() { (void)store_->db().Flush(rocksdb::FlushOptions(), {committed_, spill_}); }

    State values{"bench"};

private:
    rocksdb::ColumnFamilyHandle* family(const std::string& name) {
        auto f = store_->family(name);
        if (!f.is_ok()) {
            fail(f.status().message());
        }
        return f.value();
    }

    fs::path dir_;
    std::unique_ptr<state::StateStore> store_;
    rocksdb::ColumnFamilyHandle* committed_ = nullptr;
    rocksdb::ColumnFamilyHandle* spill_ = nullptr;
    std::unique_ptr<state::RocksBacking> backing_;
};

/// Hits with a backing bound: the cache's bookkeeping for eviction
/// (recency, size samples) on top of BM_KeyedValue_Hit.
void BM_RocksKeyed_Hit(benchmark::State& state) {
    const size_t n = static_cast<size_t>(state.range(0));
    Keys keys(n);
    RocksState rocks("hit");
    for (const Value& k : keys.values) {
        update(rocks.values.get_or_create(k));
    }
    size_t i = 0;
    for (auto _ : state) {
        update(rocks.values.get_or_create(keys.values[i]));
        i = (i + 7919) % n;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RocksKeyed_Hit)->Arg(10'000)->Arg(1'000'000);

/// Reads of keys evicted after a checkpoint: each misses the cache and is
/// read from the committed column family (a restored job's first use of a
/// key, or a cold key under a small `state.cache`).
void BM_RocksKeyed_EvictedCommitted(benchmark::State& state) {
    const size_t n = static_cast<size_t>(state.range(0));
    Keys keys(n);
    RocksState rocks("committed");
    auto reset = [&] {
        rocks.checkpoint();
        rocks.evict_all();  // every entry is unchanged since the checkpoint: just dropped
    };
    for (const Value& k : keys.values) {
        update(rocks.values.get_or_create(k));
    }
    reset();
    rocks.flush();
    size_t i = 0;
    for (auto _ : state) {
        update(rocks.values.get_or_create(keys.values[i]));
        if (++i == n) {
            state.PauseTiming();
            reset();
            i = 0;
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RocksKeyed_EvictedCommitted)->Arg(100'000);

/// Reads of keys changed and evicted since the last checkpoint: each is read
/// from the spill column family and deleted there (it is in memory again).
void BM_RocksKeyed_EvictedSpilled(benchmark::State& state) {
    const size_t n = static_cast<size_t>(state.range(0));
    Keys keys(n);
    RocksState rocks("spilled");
    for (const Value& k : keys.values) {
        update(rocks.values.get_or_create(k));
    }
    rocks.evict_all();
    size_t i = 0;
    for (auto _ : state) {
        update(rocks.values.get_or_create(keys.values[i]));
        if (++i == n) {
            state.PauseTiming();
            rocks.evict_all();
            i = 0;
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RocksKeyed_EvictedSpilled)->Arg(100'000);

}  // namespace
}  // namespace bench
}  // namespace eddy
