// SPDX-License-Identifier: Apache-2.0
// Pieces shared by the recommenders (popularity, item_similarity): a user's
// recent items, top-N selection, prequential HR@N / NDCG@N, and the output
// records. Design notes: docs/recommenders.md.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/context.h"
#include "eddy/operator.h"
#include "eddy/param.h"
#include "eddy/query.h"
#include "eddy/spec.h"
#include "eddy/state.h"

#include "common/item_index.h"

namespace eddy {

inline constexpr int64_t kNoRecTime = std::numeric_limits<int64_t>::min();
inline constexpr uint32_t kNoItem = UINT32_MAX;

/// One user's state in a recommender: the most recent distinct items (dense
/// indexes of the operator's shared item index), oldest first, and the
/// emission throttle. `group` is popularity's group index (kNoItem: none).
struct UserItems {
    std::vector<uint32_t> items;
    int64_t last_emit = kNoRecTime;
    bool pending = false;
    uint32_t group = kNoItem;
};

template <>
struct Codec<UserItems> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const UserItems& u, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, UserItems& u);
    static void to_json(const UserItems& u, JsonWriter& j);
    static size_t heap_bytes(const UserItems& u) { return heap_bytes_of(u.items); }
};

/// Rate-limits a user's recommendations to one per `every` ms of event time
/// without losing the last change: calls emit() at once when the user has
/// not had one for `every` (0: always), else sets an event-time timer at the
/// last one + `every`, once, whose on_timer() emits then.
template <class Emit>
void throttle_emit(UserItems& user, Timers& timers, const Value& key, int64_t t, int64_t every,
                   Emit&& emit);

/// Whether throttle_emit() at `t` emits at once.
inline bool emits_now(const UserItems& user, int64_t t, int64_t every) {
    return every == 0 || user.last_emit == kNoRecTime || t >= user.last_emit + every;
}

template <class Emit>
void throttle_emit(UserItems& user, Timers& timers, const Value& key, int64_t t, int64_t every,
                   Emit&& emit) {
    if (emits_now(user, t, every)) {
        if (user.pending) {
            timers.cancel(TimeDomain::kEventTime, key, user.last_emit + every);
        }
        emit();
    } else if (!user.pending) {
        user.pending = true;
        timers.set(TimeDomain::kEventTime, key, user.last_emit + every);
    }
}

/// Appends `item` as the user's most recent item (moving it there when the
/// user had it), dropping the oldest beyond `capacity`.
void remember(UserItems& user, uint32_t item, size_t capacity);

/// The best `n` (score, item) pairs offered: higher score first, then lower
/// item index. Allocation-free after reset() with the same or a smaller n.
class TopN {
public:
    struct Entry {
        double score;
        uint32_t item;
    };
    void reset(size_t n) {
        n_ = n;
        entries_.clear();
        entries_.reserve(n);
        worst_ = 0;
    }
    /// Whether `score` could enter (a cheap pre-check for scans).
    bool admits(double score) const {
        return entries_.size() < n_ || score >= entries_[worst_].score;
    }
    void offer(double score, uint32_t item) {
        if (entries_.size() < n_) {
            entries_.push_back({score, item});
            if (entries_.size() == n_) {
                find_worst();
            }
            return;
        }
        if (n_ == 0 || !better(Entry{score, item}, entries_[worst_])) {
            return;
        }
        entries_[worst_] = {score, item};
        find_worst();
    }
    /// The entries, best first.
    const std::vector<Entry>& sorted();

private:
    static bool better(const Entry& a, const Entry& b) {
        return a.score != b.score ? a.score > b.score : a.item < b.item;
    }
    void find_worst() {
        worst_ = 0;
        for (size_t i = 1; i < entries_.size(); ++i) {
            if (better(entries_[worst_], entries_[i])) {
                worst_ = i;
            }
        }
    }
    size_t n_ = 0;
    std::vector<Entry> entries_;
    size_t worst_ = 0;
};

/// Where `item` stands in `top` (0-based), or -1 when it is not there.
inline int rank_of(const std::vector<TopN::Entry>& top, uint32_t item) {
    for (size_t k = 0; k < top.size(); ++k) {
        if (top[k].item == item) {
            return static_cast<int>(k);
        }
    }
    return -1;
}

/// A set of item indexes that empties in O(1): one stamp per item. Per shard.
class ItemMarks {
public:
    /// Empties the set; items up to `size` may be marked afterwards.
    void clear(uint32_t size) {
        if (stamps_.size() < size) {
            stamps_.resize(size + size / 2 + 64, 0);
        }
        if (++epoch_ == 0) {
            std::fill(stamps_.begin(), stamps_.end(), 0);
            epoch_ = 1;
        }
    }
    void mark(uint32_t item) { stamps_[item] = epoch_; }
    bool marked(uint32_t item) const { return item < stamps_.size() && stamps_[item] == epoch_; }

private:
    std::vector<uint32_t> stamps_;
    uint32_t epoch_ = 0;
};

/// Prequential evaluation counts for every shard of an operator, kept in its
/// shared model: relaxed atomic adds, NDCG in fixed point (1e-9) so that
/// sums do not depend on the order of the adds.
struct PrequentialCounts {
    int64_t events = 0;     ///< Events applied.
    int64_t evaluated = 0;  ///< Events scored: the user had history and the item was known.
    int64_t hits = 0;       ///< Scored events whose item was in the top N.
    int64_t ndcg_nano = 0;  ///< Sum of 1 / log2(rank + 2) over hits, in units of 1e-9.

    /// Counts one scored event; rank is 0-based, or < 0 for a miss.
    void score(int rank);
    /// Counts one applied event; returns the new total.
    int64_t count_event() {
        return std::atomic_ref<int64_t>(events).fetch_add(1, std::memory_order_relaxed) + 1;
    }
    /// Counts a shard's close(); returns how many shards have closed in this
    /// run (not stored: a restored job counts again from 0).
    int close_shard() {
        return std::atomic_ref<int>(closed).fetch_add(1, std::memory_order_acq_rel) + 1;
    }
    void encode(StateWriter& w) const;
    bool decode(StateReader& r);

    int closed = 0;
};

/// The parameters and outputs both recommenders declare: user, item, type
/// and key field names, top_n, emit, emit_every, evaluate, metrics_every, the
/// `metrics` output.
void add_recommender_params(OperatorSpec& spec);

/// The names a ranking's records and parameters use. Recommenders write
/// item_1..item_N and score_1..score_N, sized by `top_n`; next_action writes
/// action_1..action_k and probability_1..probability_k, sized by `top_k`.
struct RankingNames {
    const char* size = "top_n";  ///< The size parameter, also a `metrics` field.
    const char* item = "item";   ///< Output fields item_<i>; gauge `<prefix>_<item>s`.
    const char* score = "score";
    const char* item_param = "item_field";
};

/// Writes recommendation and metrics records (fields resolved in open()).
class RecommendationOutput {
public:
    /// Reads top_n (names.size), emit, emit_every (when the spec has it),
    /// evaluate, metrics_every, key_field and names.item_param.
    void configure(const Config& cfg, const RankingNames& names = {});
    /// Resolves fields and outputs; metrics are named `<prefix>_...`.
    Status open(OpenContext& ctx, std::string_view prefix);

    /// {ts, <key_field>: key, item_1..item_k, score_1..score_k} (k <= top_n,
    /// best first, under the RankingNames); the caller may add fields to the
    /// returned record.
    Record& emit(Emitter& out, int64_t time, const Value& key, const std::vector<TopN::Entry>& top,
                 const ItemIndex& index);
    /// {ts, events, evaluated, hits, hit_rate, ndcg, top_n} on `metrics`; the
    /// same hit_rate and ndcg go to the evaluation figures (run summary,
    /// `eddy eval`, `eddy_evaluation`).
    void emit_metrics(Emitter& out, int64_t time, const PrequentialCounts& counts);
    /// Prequential scoring of one event: whether `item` is in `top` (the
    /// recommendations made before learning it), and where, into `counts`
    /// and the `evaluated` and `hits` counters.
    void score(const std::vector<TopN::Entry>& top, uint32_t item, PrequentialCounts& counts);

    size_t top_n() const { return top_n_; }
    bool emit_enabled() const { return emit_; }
    int64_t emit_every_ms() const { return emit_every_ms_; }
    bool evaluate() const { return evaluate_; }
    int64_t metrics_every() const { return metrics_every_; }
    const std::string& item_field() const { return item_name_; }

    Counter evaluated;
    Counter hits;
    Gauge items;
    /// HR@N and NDCG@N, published by emit_metrics() (with `evaluate` only).
    EvaluationMetric hit_rate;
    EvaluationMetric ndcg;

private:
    size_t top_n_ = 10;
    bool emit_ = true;
    int64_t emit_every_ms_ = 0;
    bool evaluate_ = false;
    int64_t metrics_every_ = 1000;
    RankingNames names_;
    std::string key_name_;
    std::string item_name_;
    FieldId time_out_ = kInvalidField;
    FieldId key_out_ = kInvalidField;
    std::vector<FieldId> item_out_;
    std::vector<FieldId> score_out_;
    OutputId metrics_ = kMainOutput;
    FieldId events_out_ = kInvalidField;
    FieldId evaluated_out_ = kInvalidField;
    FieldId hits_out_ = kInvalidField;
    FieldId hit_rate_out_ = kInvalidField;
    FieldId ndcg_out_ = kInvalidField;
    FieldId top_n_out_ = kInvalidField;
};

/// Writes an encoded item id as a JSON string or integer.
void item_id_to_json(std::string_view id, JsonWriter& j);
/// Writes prequential counts as JSON fields of the current object.
void counts_to_json(const PrequentialCounts& c, JsonWriter& j);

/// A rule for the spec: the key field must not clash with an output field
/// (those of RecommendationOutput under `names`, and `more`).
std::string check_ranking_names(const Config& cfg, const RankingNames& names,
                                std::initializer_list<const char*> more);
/// check_ranking_names() for the recommenders' item_<i> and score_<i>.
std::string check_recommender_names(const Config& cfg);

/// The `n` of a recommendations query (docs/serving.md): 1 to 1000 items;
/// `n` keeps its default when the query has none.
Status query_top_n(const QueryRequest& q, size_t& n);

/// A query's user: the key's stored value in `users` decoded into `user`
/// (a default T when the key is absent or does not decode); whether it was
/// there. Reads only: touches no entry.
template <class T, class Users>
bool lookup_user(const Users& users, const Value& key, std::string& scratch, T& user) {
    std::string encoded;
    encode_state_key(key, encoded);
    user = T{};
    bool known = users.lookup(encoded, scratch) && decode_state(scratch, user);
    if (!known) {
        user = T{};
    }
    return known;
}

}  // namespace eddy
