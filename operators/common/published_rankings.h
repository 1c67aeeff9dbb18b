// SPDX-License-Identifier: Apache-2.0
// Rankings a recommender's shard publishes so that the HTTP API can answer
// `GET /v1/recommendations/{user}` from its own threads, without waiting for
// the shard (PublishedQueryable, eddy/query.h). Design notes: docs/serving.md
// ("Answers without the shard").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/config.h"
#include "eddy/json_writer.h"
#include "eddy/param.h"

namespace eddy {

/// The `serve_cache_users` and `serve_max_age` parameters of the recommenders
/// that answer the HTTP API (recommend, mf).
Param serve_cache_users_param();
Param serve_max_age_param();
/// A rule of their specs: the tables of all shards, `serve_cache_users` *
/// 8 * (5 + 2 * top_n) bytes, within 4 GiB; "" when they fit.
std::string check_serve_cache(const Config& cfg, int64_t top_n);

/// One user's published ranking: up to the table's entries, best first.
struct PublishedRanking {
    struct Entry {
        uint32_t item = 0;   ///< The model's item index (below 2^26).
        uint8_t source = 0;  ///< The operator's own code, below 4 (recommend: the main source).
        double score = 0;    ///< Kept as a float: round it so before showing it (kept_score()).
    };
    std::vector<Entry> entries;
    uint32_t group = UINT32_MAX;  ///< The operator's own code (recommend: the segment).
    int64_t ranked_ms = 0;        ///< Processing time of the ranking.
};

/// A score as the table keeps it: an answer from the shard shows it so too,
/// and both answers are the same.
inline double kept_score(double score) {
    return static_cast<float>(score);
}

/// Writes a kept score in the shortest form that reads back as the same
/// float ("1.037004", not "1.037003993988037"); null when not finite.
void write_kept_score(JsonWriter& j, double score);

/// 128 bits of a user's encoded state key: the table's key.
struct UserFingerprint {
    uint64_t hi = 0;
    uint64_t lo = 0;
    static UserFingerprint of(std::string_view encoded_key);
};

/// A fixed-size table of the latest ranking of each recently ranked user of
/// one shard. One writer (the shard that owns the users) and any number of
/// readers on other threads, without locks: each slot is a sequence lock
/// (the writer makes the sequence odd, writes, makes it even again; a reader
/// keeps what it read only when the sequence was even and did not change),
/// and every word is a relaxed atomic. Slots sit in buckets of four; a user
/// new to a full bucket replaces its oldest ranking. A slot keeps twice the
/// answer's N entries: when the user then has an event, its item leaves the
/// kept ranking (remove()) and the next one moves up, as in a ranking made
/// now. The table costs nothing until something wants it (want(): the HTTP
/// API serves this operator); the writer then allocates it, 8 * (5 + kept)
/// bytes per user, at its next write.
class PublishedRankings {
public:
    /// The largest item index a kept ranking holds (sources are below 4).
    static constexpr uint32_t kMaxItem = (uint32_t{1} << 26) - 1;

    PublishedRankings() = default;
    PublishedRankings(const PublishedRankings&) = delete;
    PublishedRankings& operator=(const PublishedRankings&) = delete;

    /// Room for about `users` rankings of up to `kept` entries, served for
    /// `max_age_ms` after they were made; before any writer or reader runs.
    /// 0 users (or kept, or age): never kept.
    void configure(size_t users, size_t kept, int64_t max_age_ms);
    /// Any thread, any time: rankings are to be kept from the writer's next
    /// write on (the table is allocated then). No effect when never kept.
    void want() { wanted_.store(true, std::memory_order_relaxed); }
    /// Whether rankings are wanted (so the writer ranks kept() items).
    bool wanted() const { return buckets_ != 0 && wanted_.load(std::memory_order_relaxed); }
    /// Any thread: whether the table exists (rankings may be kept).
    bool enabled() const { return words_.load(std::memory_order_acquire) != nullptr; }
    /// Entries kept per user: publish() wants a ranking of this many.
    size_t kept() const { return kept_; }
    int64_t max_age_ms() const { return max_age_ms_; }
    size_t capacity() const { return buckets_ * kWays; }

    /// Writer only: the user's ranking made at `now_ms`, of up to kept()
    /// entries (more are cut); allocates the table when wanted() and not yet
    /// enabled(). Items must be at most kMaxItem, sources below 4.
    void publish(const UserFingerprint& user, int64_t now_ms, uint32_t group,
                 std::span<const PublishedRanking::Entry> entries);
    /// Writer only: takes `item` out of the user's kept ranking (the user has
    /// just had it), if there.
    void remove(const UserFingerprint& user, uint32_t item);
    /// Writer only: forgets the user's kept ranking.
    void erase(const UserFingerprint& user);

    /// Any thread: the first `n` entries of the user's ranking into `out`
    /// when one is kept, made at most max_age_ms() before `now_ms` (and not
    /// after it: a clock set back), with at least n entries (a shorter
    /// ranking, from a catalogue that was small then, is ranked again).
    /// False otherwise, or while the writer keeps rewriting the slot.
    bool read(const UserFingerprint& user, int64_t now_ms, size_t n, PublishedRanking& out) const;

private:
    static constexpr size_t kWays = 4;
    // Slot words: sequence (0: never written), fingerprint (2), ranked_ms,
    // group << 32 | count, then per entry (item << 2 | source) << 32 | the
    // score's float bits.
    static constexpr size_t kHeader = 5;

    /// The first slot of the user's bucket.
    size_t bucket(const UserFingerprint& user) const {
        return static_cast<size_t>(((user.lo >> 32) * buckets_) >> 32) * kWays;
    }
    static std::atomic<uint64_t>* slot(std::atomic<uint64_t>* words, size_t stride, size_t i) {
        return words + i * stride;
    }
    /// The user's slot in the writer's table, or nullptr.
    std::atomic<uint64_t>* find(const UserFingerprint& user);

    std::unique_ptr<std::atomic<uint64_t>[]> owned_;  // the writer's
    std::atomic<std::atomic<uint64_t>*> words_{nullptr};
    std::atomic<bool> wanted_{false};
    size_t kept_ = 0;
    size_t stride_ = 0;
    size_t buckets_ = 0;
    int64_t max_age_ms_ = 0;
};

}  // namespace eddy
