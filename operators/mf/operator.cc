// SPDX-License-Identifier: Apache-2.0
// The `mf` operator: one SGD step per event on user factors (keyed state)
// and item factors (shared by all shards), recommendations and prequential
// evaluation. The model and its update rules are described in docs/mf.md.
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/query.h"
#include "eddy/state.h"

#include "common/published_rankings.h"
#include "common/recommend.h"
#include "mf/item_cache.h"
#include "mf/kernels.h"
#include "mf/mf.h"
#include "mf/model.h"

namespace eddy::mf {
namespace {

/// An event count shared by all shards: an atomic add only when they run in parallel.
template <bool kConcurrent, class T>
void add(std::atomic<T>& a, T v) {
    if constexpr (kConcurrent) {
        a.fetch_add(v, std::memory_order_relaxed);
    } else {
        a.store(a.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    }
}

struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using LocalIndex = std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>>;

/// A recommendation candidate: a score and an item index.
struct Scored {
    float score;
    uint32_t item;
};
/// Higher score first; ties by the older (smaller) index, so results are stable.
bool better(const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
}

const char* type_word(const Value& v) {
    return value_type_name(v.type());
}

class Mf final : public Operator, public Queryable, public PublishedQueryable {
public:
    explicit Mf(Options o)
        : o_(std::move(o)), rates_{o_.learning_rate, o_.bias_learning_rate, o_.l2, o_.l2_bias} {}

    Status open(OpenContext& ctx) override {
        ctx.register_state(users_);
        ctx.register_state(model_);
        if (!model_.get().configured()) {
            // Shards open one after another, shard 0 first: the first configures.
            model_.get().configure(o_.factors, o_.implicit ? o_.recent_items : 0);
        }
        ctx_ = &ctx;
        parallelism_ = ctx.parallelism();
        clock_ = &ctx.clock();
        // Each shard keeps the rankings of its own users.
        auto shards = static_cast<size_t>(parallelism_);
        published_.configure((o_.serve_users + shards - 1) / shards, 2 * served_top_n(),
                             o_.serve_max_age_ms);
        item_ = ctx.field(o_.item_field);
        rating_ = ctx.field(o_.rating_field);
        type_ = ctx.field(o_.type_field);
        filter_ = o_.filter_field.empty() ? kInvalidField : ctx.field(o_.filter_field);
        ts_out_ = ctx.field("ts");
        user_out_ = ctx.field(o_.user_field);
        model_out_ = ctx.field("model");
        for (int i = 1; i <= o_.top_n; ++i) {
            item_out_.push_back(ctx.field("item_" + std::to_string(i)));
            score_out_.push_back(ctx.field("score_" + std::to_string(i)));
        }
        metrics_ = ctx.output("metrics");
        mode_out_ = ctx.field("mode");
        events_out_ = ctx.field("events");
        scored_out_ = ctx.field("scored");
        items_out_ = ctx.field("items");
        mae_out_ = ctx.field("mae");
        rmse_out_ = ctx.field("rmse");
        hit_rate_out_ = ctx.field("hit_rate");
        ndcg_out_ = ctx.field("ndcg");
        cutoff_out_ = ctx.field("cutoff");
        updates_ = ctx.counter("mf_updates_total", "Events the model learned from.");
        skipped_ = ctx.counter("mf_skipped_total",
                               "Implicit events skipped because their type has weight 0.");
        scored_ = ctx.counter("mf_scored_total", "Events scored by the prequential evaluation.");
        items_gauge_ = ctx.gauge("mf_items", "Items in the shared item model.");
        if (o_.evaluate) {
            const char* a = o_.implicit ? "mf_hit_rate_ppm" : "mf_mae_ppm";
            const char* b = o_.implicit ? "mf_ndcg_ppm" : "mf_rmse_ppm";
            quality_a_ =
                ctx.gauge(a, "Prequential quality so far, in millionths (see docs/mf.md).");
            quality_b_ =
                ctx.gauge(b, "Prequential quality so far, in millionths (see docs/mf.md).");
            figure_a_ = o_.implicit ? ctx.evaluation("hit_rate", o_.top_n) : ctx.evaluation("mae");
            figure_b_ = o_.implicit ? ctx.evaluation("ndcg", o_.top_n) : ctx.evaluation("rmse");
        }
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        if (parallelism_ == 1) {
            process_as<false>(record, out);
        } else {
            process_as<true>(record, out);
        }
    }

    void close(Emitter& out) override {
        ItemModel& model = model_.get();
        items_gauge_.set(model.configured() ? model.size() : 0);
        if (!o_.evaluate || !model.configured()) {
            return;
        }
        // The last shard to close reports the final figures of all of them.
        if (model.closed().fetch_add(1, std::memory_order_acq_rel) + 1 == parallelism_) {
            emit_metrics(model, last_time_, model.running().events.load(std::memory_order_relaxed),
                         out);
        }
    }

    bool serves(std::string_view view) const override { return view == "recommendations"; }

    /// `GET /v1/recommendations/{user}?n=&category=`: the user's top N now,
    /// ranked as an emit would (seen items excluded, the user's last
    /// `filter_field` value unless `category` names another), without
    /// changing any state. A user never seen gets the items with the highest
    /// bias (the model's score for a user without factors), `"known":false`.
    Status query(const QueryRequest& q, JsonWriter& j) override {
        size_t n = o_.top_n > 0 ? static_cast<size_t>(o_.top_n) : kQueryTopN;
        EDDY_RETURN_IF_ERROR(query_top_n(q, n));
        if (!q.param("segment").empty()) {
            return Status::invalid_argument(
                "`segment`: mf has no segments; ask a `recommend` operator with a "
                "`segment_field` for a segment's ranking");
        }
        std::string_view category_name = q.param("category");
        if (!category_name.empty() && filter_ == kInvalidField) {
            return Status::invalid_argument(
                "`category`: mf has no categories; this operator learns item categories only "
                "with `filter_field`");
        }
        ItemModel& model = model_.get();
        if (model.identity() != identity_) {
            sync(model);
        }
        bool known = lookup_user(users_, q.key, query_stored_, query_user_);
        const float* p = query_user_.params.data();
        if (query_user_.params.size() != 2 * static_cast<size_t>(k_)) {
            zeros_.assign(static_cast<size_t>(k_), 0);  // cold start: bias only
            p = zeros_.data();
        }
        uint32_t category = filter_ != kInvalidField && known ? query_user_.category : kNoCategory;
        bool none = false;
        if (!category_name.empty()) {
            category = model.find_category(category_name);
            none = category == kNoCategory;  // a category no item has: nothing to recommend
        }
        top_.clear();
        if (!none) {
            // At least what is published: the first n of that ranking are
            // the top n, and a whole ranking can be published.
            size_t ranked = std::max(n, ranked_n());
            if (parallelism_ == 1) {
                rank<false>(model, query_user_, p, category, ranked);
            } else {
                rank<true>(model, query_user_, p, category, ranked);
            }
        }
        ranked_entries(model, query_user_);
        // The user's own ranking (no other category asked) serves later reads.
        if (known && category_name.empty()) {
            publish(q.key);
        }
        entries_.resize(std::min(entries_.size(), n));
        write_answer(model, known, entries_, 0, j);
        return Status::ok();
    }

    void keep_answers() override { published_.want(); }

    /// The user's ranking kept by the last emit or query, when it is at most
    /// `serve_max_age` old and nothing but `n` is asked.
    bool query_published(const QueryRequest& q, JsonWriter& j) const override {
        size_t n = served_top_n();
        if (!published_.enabled() || !query_top_n(q, n).is_ok() || !q.param("segment").empty() ||
            !q.param("category").empty()) {
            return false;
        }
        std::string encoded;
        encode_state_key(q.key, encoded);
        int64_t now = clock_->now_ms();
        PublishedRanking kept;
        if (!published_.read(UserFingerprint::of(encoded), now, n, kept)) {
            return false;
        }
        write_answer(model_.get(), true, kept.entries, std::max<int64_t>(0, now - kept.ranked_ms),
                     j);
        return true;
    }

private:
    /// Items a query returns by default when `top_n` is 0.
    static constexpr size_t kQueryTopN = 10;

    /// The N of a query without `n`, and of the published rankings.
    size_t served_top_n() const {
        return o_.top_n > 0 ? static_cast<size_t>(o_.top_n) : kQueryTopN;
    }

    /// How many items an emit or a query ranks: what is published.
    size_t ranked_n() const { return published_.wanted() ? published_.kept() : served_top_n(); }

    /// top_ with the scores as shown, into entries_.
    void ranked_entries(const ItemModel& model, const UserState& u) {
        float offset = score_offset(model, u);
        entries_.resize(top_.size());
        for (size_t k = 0; k < top_.size(); ++k) {
            entries_[k].item = top_[k].item;
            entries_[k].score = kept_score(shown_score(top_[k].score, offset));
        }
    }

    /// Keeps entries_, the user's ranking now, for query_published().
    void publish(const Value& user) {
        if (published_.wanted()) {
            published_.publish(fingerprint(user), clock_->now_ms(), UINT32_MAX, entries_);
        }
    }

    UserFingerprint fingerprint(const Value& user) {
        user_key_.clear();
        encode_state_key(user, user_key_);
        return UserFingerprint::of(user_key_);
    }

    /// The members of a recommendations answer: known, items, age_ms.
    static void write_answer(const ItemModel& model, bool known,
                             std::span<const PublishedRanking::Entry> entries, int64_t age_ms,
                             JsonWriter& j) {
        j.key("known").value(known);
        j.key("items").begin_array();
        for (const PublishedRanking::Entry& e : entries) {
            Value id = item_value(model.key(e.item));
            j.begin_object().key("item");
            if (id.is_int()) {
                j.value(id.as_int());
            } else {
                j.value(id.as_string());
            }
            j.key("score");
            write_kept_score(j, e.score);
            j.end_object();
        }
        j.end_array();
        j.key("age_ms").value(age_ms);
    }

    template <bool kConcurrent>
    void process_as(const Record& record, Emitter& out) {
        ItemModel& model = model_.get();
        if (model.identity() != identity_) {
            sync(model);
        }
        float weight = 1;
        if (o_.implicit) {
            // Before the item check: unweighted events (searches) often have no item.
            weight = weight_of(record);
            if (weight <= 0) {
                skipped_.add();
                return;
            }
        }
        const Value* item = record.get(item_);
        if (item == nullptr || item->is_null()) {
            out.error(record, "item field `" + o_.item_field + "` is missing");
            return;
        }
        if (!item->is_string() && !item->is_int()) {
            out.error(record, "item field `" + o_.item_field +
                                  "` must be a string or an integer, got " + type_word(*item));
            return;
        }
        float rating = 0;
        if (!o_.implicit && !read_rating(record, out, rating)) {
            return;
        }
        key_.clear();
        encode_state_key(*item, key_);
        bool known = false;
        uint32_t i = item_index(model, known);
        if (i == ItemModel::kFull) {
            out.error(record, "the item model is full (" +
                                  std::to_string(ItemModel::kMaxChunks * ItemModel::kChunkItems) +
                                  " items); this item cannot be learned");
            return;
        }
        last_time_ = record.time();
        const Value& user = record.key();
        UserState& u = users_.get_or_create(user);
        if (u.params.size() != 2 * static_cast<size_t>(k_)) {
            init_user(u, user);
        }
        if (filter_ != kInvalidField) {
            uint32_t before = u.category;
            apply_filter_value(model, record, u, i);
            if (u.category != before && published_.enabled()) {
                published_.erase(fingerprint(user));  // ranked within another category
            }
        }
        if (o_.implicit) {
            if (o_.evaluate) {
                score_implicit<kConcurrent>(model, u, i, known);
            }
            learn_implicit<kConcurrent>(model, u, user, i, weight);
        } else {
            learn_explicit<kConcurrent>(model, u, i, rating);
        }
        add_seen(u, i);
        bool emit_now = o_.top_n > 0 && due(u, record.time());
        if (published_.enabled() && o_.exclude_seen && o_.max_seen > 0 && !emit_now) {
            // A ranking made now would exclude the item; an emit replaces it all.
            published_.remove(fingerprint(user), i);
        }
        updates_.add();
        add<kConcurrent>(model.running().events, int64_t{1});
        int64_t events = model.running().events.load(std::memory_order_relaxed);
        if (emit_now) {
            recommend<kConcurrent>(model, u, user, record.time(), out);
        }
        if (o_.evaluate && o_.metrics_every > 0 && events % o_.metrics_every == 0) {
            emit_metrics(model, record.time(), events, out);
        }
    }

    /// The model was configured or restored: take its shape, drop caches.
    void sync(ItemModel& model) {
        identity_ = model.identity();
        k_ = model.factors();
        if (k_ != o_.factors && !warned_) {
            warned_ = true;
            ctx_->log(LogLevel::kWarn, "the restored model has " + std::to_string(k_) +
                                           " factors, not the configured " +
                                           std::to_string(o_.factors) + "; it keeps " +
                                           std::to_string(k_));
        }
        items_.clear();
        categories_.clear();
    }

    bool read_rating(const Record& record, Emitter& out, float& rating) {
        const Value* v = record.get(rating_);
        if (v == nullptr || v->is_null()) {
            out.error(record, "rating field `" + o_.rating_field + "` is missing");
            return false;
        }
        if (!v->is_number()) {
            out.error(record, "rating field `" + o_.rating_field + "` must be a number, got " +
                                  type_word(*v));
            return false;
        }
        double d = v->as_double();
        if (!std::isfinite(d)) {
            out.error(record, "rating field `" + o_.rating_field + "` is not a finite number");
            return false;
        }
        if (d < o_.min_rating || d > o_.max_rating) {
            char buf[128];
            std::snprintf(buf, sizeof buf, "rating %g is outside [%g, %g] (min_rating, max_rating)",
                          d, o_.min_rating, o_.max_rating);
            out.error(record, buf);
            return false;
        }
        rating = static_cast<float>(d);
        return true;
    }

    float weight_of(const Record& record) const {
        const Value* t = record.get(type_);
        if (t != nullptr && t->is_string()) {
            std::string_view name = t->as_string();
            for (const auto& [type, w] : o_.weights) {
                if (type == name) {
                    return w;
                }
            }
        }
        return o_.default_weight;
    }

    /// The index of the item in key_, adding it when new; `known` tells
    /// whether it was in the model before this event.
    uint32_t item_index(ItemModel& model, bool& known) {
        uint64_t hash = std::hash<std::string_view>{}(key_);
        if (uint32_t i = items_.find(model, key_, hash); i != ItemModel::kFull) {
            known = true;
            return i;
        }
        bool added = false;
        uint32_t i = model.find_or_add(key_, o_.seed, o_.init_scale, added);
        known = !added;
        if (i != ItemModel::kFull) {
            items_.insert(hash, i);
        }
        return i;
    }

    void init_user(UserState& u, const Value& user) {
        u.params.assign(2 * static_cast<size_t>(k_), 0);
        user_key_.clear();
        encode_state_key(user, user_key_);
        gaussian_fill(std::span<float>(u.params.data(), static_cast<size_t>(k_)),
                      stable_hash(user_key_, o_.seed ^ 0x5eedu), o_.init_scale);
    }

    void apply_filter_value(ItemModel& model, const Record& record, UserState& u, uint32_t i) {
        const Value* v = record.get(filter_);
        if (v == nullptr || !v->is_string()) {
            return;
        }
        std::string_view name = v->as_string();
        uint32_t id = 0;
        if (auto it = categories_.find(name); it != categories_.end()) {
            id = it->second;
        } else {
            id = model.category_id(name);
            categories_.emplace(std::string(name), id);
        }
        model.category(i).store(id, std::memory_order_relaxed);
        u.category = id;
    }

    float rating_mean(const ItemModel& model) const {
        int64_t n = model.running().ratings.load(std::memory_order_relaxed);
        return n > 0
                   ? static_cast<float>(model.running().rating_sum.load(std::memory_order_relaxed) /
                                        static_cast<double>(n))
                   : static_cast<float>((o_.min_rating + o_.max_rating) / 2);
    }

    /// Explicit feedback: predict, score (prequential), then one SGD step with
    /// count-based bias learning rates and AdaGrad on the factors.
    template <bool kConcurrent>
    void learn_explicit(ItemModel& model, UserState& u, uint32_t i, float rating) {
        float* p = u.params.data();
        float* gp = p + k_;
        float* q = model.factors(i);
        float* gq = model.grad2(i);
        float& bi = model.bias(i);
        float b_item = ld<kConcurrent>(bi);
        float prediction = rating_mean(model) + u.bias + b_item + dot<kConcurrent>(p, q, k_);
        Running& run = model.running();
        if (o_.evaluate) {
            double clamped =
                std::clamp(static_cast<double>(prediction), o_.min_rating, o_.max_rating);
            double e = rating - clamped;
            add<kConcurrent>(run.abs_error, std::fabs(e));
            add<kConcurrent>(run.squared_error, e * e);
            add<kConcurrent>(run.scored, int64_t{1});
            scored_.add();
        }
        add<kConcurrent>(run.rating_sum, static_cast<double>(rating));
        add<kConcurrent>(run.ratings, int64_t{1});
        float err = rating - prediction;
        int64_t n_item = model.count(i).load(std::memory_order_relaxed);
        add<kConcurrent>(model.count(i), int64_t{1});
        float lr_user =
            std::max(o_.bias_learning_rate, 1.0f / (static_cast<float>(u.events) + o_.bias_prior));
        float lr_item =
            std::max(o_.bias_learning_rate, 1.0f / (static_cast<float>(n_item) + o_.bias_prior));
        u.bias += lr_user * (err - o_.l2_bias * u.bias);
        st<kConcurrent>(bi, b_item + lr_item * (err - o_.l2_bias * b_item));
        const float lr = o_.learning_rate;
        const float l2 = o_.l2;
        for (int j = 0; j < k_; ++j) {
            float pj = p[j];
            float qj = ld<kConcurrent>(q[j]);
            float g_user = err * qj - l2 * pj;
            float g_item = err * pj - l2 * qj;
            float gu2 = gp[j] + g_user * g_user;
            float gi2 = ld<kConcurrent>(gq[j]) + g_item * g_item;
            gp[j] = gu2;
            st<kConcurrent>(gq[j], gi2);
            p[j] = pj + lr * g_user / std::sqrt(gu2 + kAdaGradEpsilon);
            st<kConcurrent>(q[j], qj + lr * g_item / std::sqrt(gi2 + kAdaGradEpsilon));
        }
        ++u.events;
    }

    /// Implicit feedback: BPR steps against `negatives` sampled items, each
    /// scaled by the event's weight; negatives come from the recency ring
    /// with probability `recency_share`, else uniformly from all items.
    template <bool kConcurrent>
    void learn_implicit(ItemModel& model, UserState& u, const Value& user, uint32_t i,
                        float weight) {
        add<kConcurrent>(model.count(i), int64_t{1});
        model.touch_recent(i);
        float* p = u.params.data();
        float* qi = model.factors(i);
        float& bi = model.bias(i);
        // Negatives are drawn from a stream seeded by the user and its event
        // count: the same at any parallelism and after a restore.
        user_key_.clear();
        encode_state_key(user, user_key_);
        uint64_t stream = mix64(stable_hash(user_key_, o_.seed) ^ static_cast<uint64_t>(u.events));
        for (int n = 0; n < o_.negatives; ++n) {
            uint32_t c = sample_negative(model, u, i, stream);
            if (c == ItemModel::kFull) {
                break;
            }
            bpr_step<kConcurrent>(p, qi, bi, model.factors(c), model.bias(c), k_, weight, rates_);
        }
        ++u.events;
    }

    uint32_t sample_negative(const ItemModel& model, const UserState& u, uint32_t positive,
                             uint64_t& stream) const {
        uint32_t size = model.size();
        if (size < 2) {
            return ItemModel::kFull;
        }
        constexpr int kTries = 10;
        for (int t = 0; t < kTries; ++t) {
            uint64_t r = mix64(stream++);
            double u01 = static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);
            uint64_t pick = mix64(stream++);
            uint32_t c = ItemModel::kFull;
            uint64_t recent = model.recent_count();
            if (u01 < o_.recency_share && recent > 0) {
                c = model.recent(pick % recent);
            } else {
                c = static_cast<uint32_t>(pick % size);
            }
            if (c == positive || c >= size || !model.ready(c) || has_seen(u, c)) {
                continue;
            }
            return c;
        }
        return ItemModel::kFull;
    }

    /// Without an early exit the loop vectorizes: 1,000 items in ~100 cycles.
    static bool has_seen(const UserState& u, uint32_t i) {
        const uint32_t* seen = u.seen.data();
        size_t n = u.seen.size();
        uint32_t found = 0;
        for (size_t j = 0; j < n; ++j) {
            found |= static_cast<uint32_t>(seen[j] == i);
        }
        return found != 0;
    }

    void add_seen(UserState& u, uint32_t i) const {
        if (o_.max_seen == 0 || has_seen(u, i)) {
            return;
        }
        if (u.seen.size() < o_.max_seen) {
            u.seen.push_back(i);
            return;
        }
        u.seen[u.seen_next % u.seen.size()] = i;
        u.seen_next = (u.seen_next + 1) % static_cast<uint32_t>(u.seen.size());
    }

    /// Marks the user's seen items in marks_ (cleared again by unmark()).
    void mark(const ItemModel& model, const UserState& u) {
        if (marks_.size() < model.size()) {
            marks_.resize(std::max<size_t>(model.size(), marks_.size() * 2), 0);
        }
        for (uint32_t s : u.seen) {
            if (s < marks_.size()) {
                marks_[s] = 1;
            }
        }
    }
    void unmark(const UserState& u) {
        for (uint32_t s : u.seen) {
            if (s < marks_.size()) {
                marks_[s] = 0;
            }
        }
    }

    /// Calls f(index, score) for every ready item that is not marked (and,
    /// with `category` != kNoCategory, whose category matches) and whose score
    /// is at least floor(), chunk by chunk: scores first, a block at a time,
    /// then the checks for the few that pass the floor.
    template <bool kConcurrent, class Floor, class F>
    void scan(const ItemModel& model, const float* p, uint32_t category, Floor&& floor, F&& f) {
        // Items other shards added after mark() sized marks_ wait for the next scan.
        auto n = static_cast<uint32_t>(std::min<size_t>(model.size(), marks_.size()));
        constexpr uint32_t kBlock = 256;
        scores_.resize(kBlock);
        auto kk = static_cast<size_t>(k_);
        for (uint32_t c = 0; (c << ItemModel::kChunkBits) < n; ++c) {
            ItemModel::Rows rows = model.rows(c, n);
            if (rows.factors == nullptr) {
                continue;
            }
            for (uint32_t b = 0; b < rows.count; b += kBlock) {
                uint32_t m = std::min(kBlock, rows.count - b);
                const float* q = rows.factors + b * kk;
                if constexpr (kConcurrent) {
                    for (uint32_t s = 0; s < m; ++s) {
                        scores_[s] = ld<true>(rows.bias[b + s]) + dot<true>(p, q + s * kk, k_);
                    }
                } else {
                    score_rows(p, q, rows.bias + b, m, k_, scores_.data());
                }
                const uint8_t* marks = marks_.data() + rows.first + b;
                for (uint32_t s = 0; s < m; ++s) {
                    float score = scores_[s];
                    if (score < floor() || marks[s] != 0 ||
                        (category != kNoCategory &&
                         rows.category[b + s].load(std::memory_order_relaxed) != category) ||
                        rows.ready[b + s].load(std::memory_order_acquire) == 0) {
                        continue;
                    }
                    f(rows.first + b + s, score);
                }
            }
        }
    }

    /// Prequential HR@N and NDCG@N: before learning, rank the event's item
    /// among all items the user did not have yet (when the user has history
    /// and the item was seen before).
    template <bool kConcurrent>
    void score_implicit(ItemModel& model, const UserState& u, uint32_t target, bool known) {
        if (!known || u.seen.empty()) {
            return;
        }
        Running& run = model.running();
        add<kConcurrent>(run.scored, int64_t{1});
        scored_.add();
        if (has_seen(u, target)) {
            return;  // a repeat: excluded from the candidates, so a miss
        }
        const float* p = u.params.data();
        Scored t{
            ld<kConcurrent>(model.bias(target)) + dot<kConcurrent>(p, model.factors(target), k_),
            target};
        mark(model, u);
        marks_[target] = 1;
        int rank = 0;
        scan<kConcurrent>(
            model, p, kNoCategory, [&] { return t.score; },
            [&](uint32_t c, float score) {
                rank += better(Scored{score, c}, t) ? 1 : 0;
            });
        marks_[target] = 0;
        unmark(u);
        if (rank < o_.top_n) {
            add<kConcurrent>(run.hits, 1.0);
            add<kConcurrent>(run.ndcg, 1.0 / std::log2(rank + 2.0));
        }
    }

    bool due(UserState& u, int64_t t) const {
        ++u.since_emit;
        if (o_.emit_every_ms > 0) {
            return u.last_emit == kNoTime || t >= u.last_emit + o_.emit_every_ms;
        }
        return u.since_emit >= o_.emit_every_updates;
    }

    /// The best `n_top` items for user factors `p` into top_, best first:
    /// every ready item scored b_i + p . q_i, without the user's seen items
    /// when `exclude_seen`, and only items of `category` unless kNoCategory.
    /// Changes nothing but this shard's scratch (marks_, top_, scores_).
    template <bool kConcurrent>
    void rank(const ItemModel& model, const UserState& u, const float* p, uint32_t category,
              size_t n_top) {
        if (o_.exclude_seen) {
            mark(model, u);
        } else if (marks_.size() < model.size()) {
            marks_.resize(model.size(), 0);
        }
        top_.clear();
        auto floor = [&] {
            return top_.size() < n_top ? -std::numeric_limits<float>::infinity()
                                       : top_.front().score;
        };
        scan<kConcurrent>(model, p, category, floor, [&](uint32_t c, float score) {
            Scored s{score, c};
            if (top_.size() < n_top) {
                top_.push_back(s);
                std::push_heap(top_.begin(), top_.end(), better);
            } else if (better(s, top_.front())) {
                std::pop_heap(top_.begin(), top_.end(), better);
                top_.back() = s;
                std::push_heap(top_.begin(), top_.end(), better);
            }
        });
        if (o_.exclude_seen) {
            unmark(u);
        }
        std::sort_heap(top_.begin(), top_.end(), better);
    }

    /// What turns the user's ranking scores into shown scores: explicit,
    /// mu + b_u (a predicted rating); implicit, 0 (the ranking score).
    float score_offset(const ItemModel& model, const UserState& u) const {
        return o_.implicit ? 0 : rating_mean(model) + u.bias;
    }
    /// A ranking score as shown (explicit: clamped to the rating range).
    double shown_score(float score, float offset) const {
        double shown = score + offset;
        return o_.implicit ? shown : std::clamp(shown, o_.min_rating, o_.max_rating);
    }

    /// An item's id as the model stores it (encode_state_key()), as a Value
    /// of its type; a string views the model's key.
    static Value item_value(const std::string& key) {
        if (key.size() == 1 + sizeof(int64_t) && key[0] == static_cast<char>(ValueType::kInt)) {
            int64_t id = 0;
            std::memcpy(&id, key.data() + 1, sizeof id);
            return Value::integer(id);
        }
        return Value::string_view(std::string_view(key).substr(1));
    }

    template <bool kConcurrent>
    void recommend(const ItemModel& model, UserState& u, const Value& user, int64_t t,
                   Emitter& out) {
        u.since_emit = 0;
        u.last_emit = t;
        uint32_t category = filter_ != kInvalidField ? u.category : kNoCategory;
        rank<kConcurrent>(model, u, u.params.data(), category, ranked_n());
        Record& r = out.append();
        r.set_time(t);
        r.set(ts_out_, t);
        r.set_value(user_out_, user);
        r.set(model_out_, std::string_view("mf"));
        float offset = score_offset(model, u);
        for (size_t j = 0; j < top_.size() && j < item_out_.size(); ++j) {
            r.set_value(item_out_[j], item_value(model.key(top_[j].item)));
            r.set(score_out_[j], shown_score(top_[j].score, offset));
        }
        if (published_.wanted()) {
            ranked_entries(model, u);
            publish(user);
        }
    }

    void emit_metrics(const ItemModel& model, int64_t t, int64_t events, Emitter& out) {
        const Running& run = model.running();
        int64_t scored = run.scored.load(std::memory_order_relaxed);
        Record& r = out.append(metrics_);
        r.set_time(t);
        r.set(ts_out_, t);
        r.set(model_out_, std::string_view("mf"));
        r.set(mode_out_, std::string_view(o_.implicit ? "implicit" : "explicit"));
        r.set(events_out_, events);
        r.set(scored_out_, scored);
        r.set(items_out_, static_cast<int64_t>(model.size()));
        double n = static_cast<double>(std::max<int64_t>(scored, 1));
        double a = 0;
        double b = 0;
        if (o_.implicit) {
            a = run.hits.load(std::memory_order_relaxed) / n;
            b = run.ndcg.load(std::memory_order_relaxed) / n;
            r.set(hit_rate_out_, a);
            r.set(ndcg_out_, b);
            r.set(cutoff_out_, static_cast<int64_t>(o_.top_n));
        } else {
            a = run.abs_error.load(std::memory_order_relaxed) / n;
            b = std::sqrt(run.squared_error.load(std::memory_order_relaxed) / n);
            r.set(mae_out_, a);
            r.set(rmse_out_, b);
        }
        quality_a_.set(static_cast<int64_t>(std::llround(a * 1e6)));
        quality_b_.set(static_cast<int64_t>(std::llround(b * 1e6)));
        figure_a_.set(a, scored);
        figure_b_.set(b, scored);
        items_gauge_.set(model.size());
    }

    Options o_;
    BprRates rates_;  // implicit mode
    KeyedValue<UserState> users_{"users"};
    Shared<ItemModel> model_{"items"};
    OpenContext* ctx_ = nullptr;
    int parallelism_ = 1;
    const void* identity_ = nullptr;
    int k_ = 0;
    bool warned_ = false;
    int64_t last_time_ = 0;

    ItemCache items_;             // item key -> index, this shard's cache of the shared index
    LocalIndex categories_;       // filter value -> category id, likewise
    std::string key_;             // scratch: the encoded item key
    std::string user_key_;        // scratch: the encoded user key
    std::vector<uint8_t> marks_;  // per item index: seen by the current user
    std::vector<Scored> top_;     // min-heap of the best candidates
    std::vector<float> scores_;   // scratch: the scores of one block of items
    // query(): the user decoded from state, its stored bytes, zero factors.
    UserState query_user_;
    std::string query_stored_;
    std::vector<float> zeros_;
    // The rankings kept for query_published(), and the last ranking as entries.
    PublishedRankings published_;
    std::vector<PublishedRanking::Entry> entries_;
    const Clock* clock_ = nullptr;

    FieldId item_ = kInvalidField;
    FieldId rating_ = kInvalidField;
    FieldId type_ = kInvalidField;
    FieldId filter_ = kInvalidField;
    FieldId ts_out_ = kInvalidField;
    FieldId user_out_ = kInvalidField;
    FieldId model_out_ = kInvalidField;
    std::vector<FieldId> item_out_;
    std::vector<FieldId> score_out_;
    OutputId metrics_ = kMainOutput;
    FieldId mode_out_ = kInvalidField;
    FieldId events_out_ = kInvalidField;
    FieldId scored_out_ = kInvalidField;
    FieldId items_out_ = kInvalidField;
    FieldId mae_out_ = kInvalidField;
    FieldId rmse_out_ = kInvalidField;
    FieldId hit_rate_out_ = kInvalidField;
    FieldId ndcg_out_ = kInvalidField;
    FieldId cutoff_out_ = kInvalidField;

    Counter updates_;
    Counter skipped_;
    Counter scored_;
    Gauge items_gauge_;
    Gauge quality_a_;
    Gauge quality_b_;
    EvaluationMetric figure_a_;  // MAE or HR@N
    EvaluationMetric figure_b_;  // RMSE or NDCG@N
};

}  // namespace

std::unique_ptr<Operator> make_operator(const Options& options) {
    return std::make_unique<Mf>(options);
}

}  // namespace eddy::mf
