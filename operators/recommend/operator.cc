// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "eddy/config.h"
#include "eddy/query.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "common/published_rankings.h"
#include "mf/kernels.h"
#include "recommend/recommend.h"

namespace eddy {
namespace {

/// The blended models, in the order of `blend` and of the `source_<i>` names.
enum Source : int { kSimilarity, kMf, kPopularity, kSegmentPopularity, kSources };
constexpr const auto& kSourceNames = kBlendSources;
static_assert(kBlendSources.size() == kSources);
constexpr std::array<double, kSources> kDefaultBlend = {1.0, 0.5, 0.1, 0.1};

/// A value of a segment or category field as text: strings as they are,
/// integers in decimal (kmeans segments are integers); false for other types.
bool as_text(const Value& v, std::string& out) {
    if (v.is_string()) {
        out.assign(v.as_string());
        return true;
    }
    if (v.is_int()) {
        out = std::to_string(v.as_int());
        return true;
    }
    return false;
}

struct Boost {
    std::string segment;
    std::string category;
    double factor = 1;
};

struct Options {
    size_t history = 10;
    size_t neighbours = 200;
    size_t exclude = 1000;
    int factors = 32;
    mf::BprRates rates;
    float init_scale = 0.1f;
    int negatives = 5;
    double recency_share = 0.5;
    uint32_t recent_items = 1000;
    uint64_t seed = 42;
    double half_life_ms = 0;
    double default_weight = 1;
    double confidence = 5;
    std::array<double, kSources> blend = kDefaultBlend;
    std::vector<std::pair<std::string, double>> weights;
    std::string type_field;
    std::string segment_field;
    std::string category_field;
    std::vector<Boost> boosts;
    size_t serve_users = 0;
    int64_t serve_max_age_ms = 0;
};

Options read_options(const Config& cfg) {
    Options o;
    o.history = static_cast<size_t>(cfg.integer("history"));
    o.serve_users = static_cast<size_t>(cfg.integer("serve_cache_users"));
    o.serve_max_age_ms = cfg.duration("serve_max_age").count();
    o.neighbours = static_cast<size_t>(cfg.integer("neighbours"));
    o.exclude = static_cast<size_t>(cfg.integer("exclude_recent"));
    o.factors = static_cast<int>(cfg.integer("factors"));
    o.rates.learning_rate = static_cast<float>(cfg.number("learning_rate"));
    o.rates.bias_learning_rate = static_cast<float>(cfg.number("bias_learning_rate"));
    o.rates.l2 = static_cast<float>(cfg.number("l2"));
    o.init_scale = static_cast<float>(cfg.number("init_scale"));
    o.negatives = static_cast<int>(cfg.integer("negatives"));
    o.recency_share = cfg.number("recency_share");
    o.recent_items = static_cast<uint32_t>(cfg.integer("recent_items"));
    o.seed = static_cast<uint64_t>(cfg.integer("seed"));
    o.half_life_ms = static_cast<double>(cfg.duration("half_life").count());
    o.default_weight = cfg.number("default_weight");
    o.confidence = cfg.number("confidence");
    for (const auto& [name, w] : cfg.value("blend").entries()) {
        for (int s = 0; s < kSources; ++s) {
            if (name == kSourceNames[s]) {
                o.blend[s] = w.as_double();
            }
        }
    }
    for (const auto& [type, w] : cfg.value("weights").entries()) {
        o.weights.emplace_back(type, w.as_double());
    }
    o.type_field = cfg.string("type_field");
    o.segment_field = cfg.has("segment_field") ? cfg.string("segment_field") : "";
    o.category_field = cfg.has("category_field") ? cfg.string("category_field") : "";
    if (cfg.has("segment_boost")) {
        for (const auto& [segment, rule] : cfg.value("segment_boost").entries()) {
            Boost b;
            b.segment = segment;
            b.category = scalar_text(*rule.find("category"));
            b.factor = scalar_number(*rule.find("factor"));
            o.boosts.push_back(std::move(b));
        }
    }
    return o;
}

class Recommend final : public Operator, public Queryable, public PublishedQueryable {
public:
    explicit Recommend(const Config& cfg) : o_(read_options(cfg)) { output_.configure(cfg); }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(users_);
        ctx.register_state(model_);
        // Shards open one after another, shard 0 first: the first configures.
        model_.get().configure(o_.factors, o_.recent_items);
        model_.get().set_learning(o_.half_life_ms, o_.neighbours);
        item_ = ctx.field(output_.item_field());
        type_ = ctx.field(o_.type_field);
        segment_ = o_.segment_field.empty() ? kInvalidField : ctx.field(o_.segment_field);
        category_ = o_.category_field.empty() ? kInvalidField : ctx.field(o_.category_field);
        for (size_t i = 1; i <= output_.top_n(); ++i) {
            source_out_.push_back(ctx.field("source_" + std::to_string(i)));
        }
        parallelism_ = ctx.parallelism();
        clock_ = &ctx.clock();
        // Each shard keeps the rankings of its own users.
        auto shards = static_cast<size_t>(parallelism_);
        published_.configure((o_.serve_users + shards - 1) / shards, 2 * output_.top_n(),
                             o_.serve_max_age_ms);
        skipped_ = ctx.counter("recommend_skipped_total",
                               "Events not learned because their type has weight 0.");
        segment_updates_ = ctx.counter("recommend_segment_updates_total",
                                       "Records without an item that set a user's segment.");
        pairs_ = ctx.gauge("recommend_pairs",
                           "Distinct co-occurring item pairs (each direction counted).");
        return output_.open(ctx, "recommend");
    }

    void process(const Record& record, Emitter& out) override {
        if (parallelism_ == 1) {
            process_as<false>(record, out);
        } else {
            process_as<true>(record, out);
        }
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        HybridUser* user = users_.find(timer.key);
        if (user == nullptr || !user->recent.pending ||
            timer.time < user->recent.last_emit + output_.emit_every_ms()) {
            return;
        }
        if (parallelism_ == 1) {
            emit<false>(*user, timer.key, timer.time, out);
        } else {
            emit<true>(*user, timer.key, timer.time, out);
        }
    }

    void close(Emitter& out) override {
        HybridModel& model = model_.get();
        pairs_.set(static_cast<int64_t>(model.similarity().pairs()));
        // The last shard to finish reports the final metrics of all shards.
        if (output_.evaluate() && model.counts().close_shard() == parallelism_) {
            output_.emit_metrics(out, last_time_, model.counts());
        }
    }

    bool serves(std::string_view view) const override { return view == "recommendations"; }

    /// `GET /v1/recommendations/{user}?n=&category=&segment=`: the user's top
    /// N now, ranked as an emit would (without changing the user's state); a
    /// user never seen gets the cold-start ranking (popularity). `segment`
    /// ranks as if the user were in that segment (its popularity and boost).
    Status query(const QueryRequest& q, JsonWriter& j) override {
        size_t n = output_.top_n();
        EDDY_RETURN_IF_ERROR(query_top_n(q, n));
        HybridModel& model = model_.get();
        if (model.identity() != identity_) {
            sync(model);
        }
        bool known = lookup_user(users_, q.key, query_stored_, query_user_);
        if (std::string_view segment = q.param("segment"); !segment.empty()) {
            uint32_t g = find_segment(model, segment);
            if (g == kNoItem) {
                return Status::invalid_argument(
                    segment_ == kInvalidField
                        ? "`segment`: this recommend operator has no `segment_field`"
                        : "`segment`: '" + std::string(segment) +
                              "' is unknown to this operator (no event has had it)");
            }
            query_user_.recent.group = g;
        }
        filter_category_ = HybridModel::kNoCategory;
        std::string_view category = q.param("category");
        if (!category.empty()) {
            filter_category_ = model.find_category(category);
        }
        if (category.empty() || filter_category_ != HybridModel::kNoCategory) {
            size_t configured = output_.top_n();
            // At least what is published: the first n of that ranking are
            // the top n, and a whole ranking can be published.
            query_n_ = std::max(n, ranked_n());
            if (parallelism_ == 1) {
                rank<false>(model, query_user_);
            } else {
                rank<true>(model, query_user_);
            }
            query_n_ = configured;
        } else {
            top_.reset(0);  // a category no item has: nothing to recommend
        }
        filter_category_ = HybridModel::kNoCategory;
        ranked_entries();
        // The user's own ranking (no segment or category asked) serves later reads.
        if (known && q.param("segment").empty() && category.empty()) {
            publish(q.key, query_user_.recent.group);
        }
        entries_.resize(std::min(entries_.size(), n));
        write_answer(model, known, query_user_.recent.group, entries_, 0, j);
        clear_similarity();
        return Status::ok();
    }

    void keep_answers() override { published_.want(); }

    /// The user's ranking kept by the last emit or query, when it is at most
    /// `serve_max_age` old and nothing but `n` is asked.
    bool query_published(const QueryRequest& q, JsonWriter& j) const override {
        size_t n = output_.top_n();
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
        write_answer(model_.get(), true, kept.group, kept.entries,
                     std::max<int64_t>(0, now - kept.ranked_ms), j);
        return true;
    }

private:
    /// How many items an emit or a query ranks: what is published.
    size_t ranked_n() const { return published_.wanted() ? published_.kept() : output_.top_n(); }

    /// top_ as published entries, with each item's main source, into entries_.
    void ranked_entries() {
        const std::vector<TopN::Entry>& top = top_.sorted();
        entries_.resize(top.size());
        for (size_t k = 0; k < top.size(); ++k) {
            std::array<double, kSources> c = contributions(top[k].item);
            entries_[k].item = top[k].item;
            entries_[k].score = kept_score(top[k].score);
            entries_[k].source =
                static_cast<uint8_t>(std::max_element(c.begin(), c.end()) - c.begin());
        }
    }

    /// Keeps entries_, the user's ranking now, for query_published().
    void publish(const Value& key, uint32_t group) {
        if (published_.wanted()) {
            published_.publish(fingerprint(key), clock_->now_ms(), group, entries_);
        }
    }

    /// Moves the user to segment `group`; a ranking kept for another is dropped.
    void set_group(UserItems& user, const Value& key, uint32_t group) {
        if (user.group != group && published_.enabled()) {
            published_.erase(fingerprint(key));
        }
        user.group = group;
    }

    UserFingerprint fingerprint(const Value& key) {
        key_scratch_.clear();
        encode_state_key(key, key_scratch_);
        return UserFingerprint::of(key_scratch_);
    }

    /// The members of a recommendations answer: known, segment, items, age_ms.
    static void write_answer(const HybridModel& model, bool known, uint32_t group,
                             std::span<const PublishedRanking::Entry> entries, int64_t age_ms,
                             JsonWriter& j) {
        j.key("known").value(known);
        if (group != kNoItem && group != 0) {
            j.key("segment");
            item_id_to_json(model.popularity().group_id(group), j);
        }
        j.key("items").begin_array();
        for (const PublishedRanking::Entry& e : entries) {
            j.begin_object().key("item");
            item_id_to_json(model.items().id(e.item), j);
            j.key("score");
            write_kept_score(j, e.score);
            j.key("source").value(kSourceNames[e.source]);
            j.end_object();
        }
        j.end_array();
        j.key("age_ms").value(age_ms);
    }

    /// The popularity group of a segment named in a query (a string, or an
    /// integer as kmeans writes them), or kNoItem; adds no group.
    uint32_t find_segment(const HybridModel& model, std::string_view name) {
        if (segment_ == kInvalidField) {
            return kNoItem;
        }
        encode_item_id(Value::string_view(name), group_scratch_);
        uint32_t g = model.popularity().find_group(group_scratch_);
        if (int64_t v = 0; g == kNoItem && parse_int(name, v)) {
            encode_item_id(Value::integer(v), group_scratch_);
            g = model.popularity().find_group(group_scratch_);
        }
        return g == 0 ? kNoItem : g;
    }

    static bool parse_int(std::string_view text, int64_t& v) {
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        return ec == std::errc() && end == text.data() + text.size();
    }

    template <bool kConcurrent>
    void process_as(const Record& record, Emitter& out) {
        HybridModel& model = model_.get();
        if (model.identity() != identity_) {
            sync(model);
        }
        uint32_t group = kNoItem;
        if (!read_segment(record, model, group, out)) {
            return;
        }
        const Value* item = record.get(item_);
        if ((item == nullptr || item->is_null()) && group != kNoItem) {
            // A segment change without an item (e.g. from kmeans or segment).
            set_group(users_.get_or_create(record.key()).recent, record.key(), group);
            segment_updates_.add();
            return;
        }
        double w = weight_of(record);
        if (w <= 0) {
            skipped_.add();
            return;
        }
        if (item == nullptr || !encode_item_id(*item, scratch_)) {
            out.error(record, "the item field `" + output_.item_field() +
                                  "` is missing or neither a string nor an integer");
            return;
        }
        uint32_t category = HybridModel::kNoCategory;
        if (!read_category(record, model, category, out)) {
            return;
        }
        bool created = false;
        uint32_t i = model.intern(scratch_, o_.seed, o_.init_scale, created);
        if (i == ItemIndex::kNone) {
            out.error(record, "the item index is full (67,108,864 items)");
            return;
        }
        if (created) {
            output_.items.set(model.items().size());
        }
        if (category != HybridModel::kNoCategory && model.category(i) != category) {
            model.set_category(i, category);
        }
        const Value& key = record.key();
        HybridUser& user = users_.get_or_create(key);
        if (user.factors.size() != static_cast<size_t>(k_)) {
            init_user(user, key);
        }
        if (group != kNoItem) {
            set_group(user.recent, key, group);
        }
        int64_t t = record.time();
        last_time_ = std::max(last_time_, t);
        if (output_.evaluate() && !created && !user.recent.items.empty()) {
            rank<kConcurrent>(model, user);
            output_.score(top_.sorted(), i, model.counts());
            clear_similarity();
        }
        learn<kConcurrent>(model, user, key, i, w, t);
        bool emit_now =
            output_.emit_enabled() && emits_now(user.recent, t, output_.emit_every_ms());
        if (published_.enabled() && o_.exclude > 0 && !emit_now) {
            // A ranking made now would exclude the item; an emit replaces it all.
            published_.remove(fingerprint(key), i);
        }
        if (output_.emit_enabled()) {
            throttle_emit(user.recent, *timers_, key, t, output_.emit_every_ms(),
                          [&] { emit<kConcurrent>(user, key, t, out); });
        }
        int64_t n = model.counts().count_event();
        if ((n & 1023) == 0) {
            pairs_.set(static_cast<int64_t>(model.similarity().pairs()));
        }
        if (output_.evaluate() && n % output_.metrics_every() == 0) {
            output_.emit_metrics(out, t, model.counts());
        }
    }

    /// The model was configured, restored or cleared: take its shape, drop caches.
    void sync(const HybridModel& model) {
        identity_ = model.identity();
        k_ = model.factors();
        group_boost_.clear();
        boost_category_.assign(o_.boosts.size(), HybridModel::kNoCategory);
        boosts_resolved_ = false;
    }

    double weight_of(const Record& record) const {
        if (const Value* type = record.get(type_); type != nullptr && type->is_string()) {
            std::string_view name = type->as_string();
            for (const auto& [t, tw] : o_.weights) {
                if (t == name) {
                    return tw;
                }
            }
        }
        return o_.default_weight;
    }

    /// The popularity group of the record's segment (kNoItem when it has
    /// none); false after sending the record to `errors`.
    bool read_segment(const Record& record, HybridModel& model, uint32_t& group, Emitter& out) {
        if (segment_ == kInvalidField) {
            return true;
        }
        const Value* s = record.get(segment_);
        if (s == nullptr || s->is_null()) {
            return true;
        }
        if (!encode_item_id(*s, group_scratch_)) {
            out.error(record, "the segment field `" + o_.segment_field +
                                  "` is neither a string nor an integer");
            return false;
        }
        group = model.popularity().group(group_scratch_);
        if (group == kNoItem) {
            out.error(record, "more than 4096 distinct segments in `" + o_.segment_field +
                                  "`; the segment is not ranked");
            return false;
        }
        return true;
    }

    bool read_category(const Record& record, HybridModel& model, uint32_t& category, Emitter& out) {
        if (category_ == kInvalidField) {
            return true;
        }
        const Value* c = record.get(category_);
        if (c == nullptr || c->is_null()) {
            return true;
        }
        if (!as_text(*c, text_scratch_)) {
            out.error(record, "the category field `" + o_.category_field +
                                  "` is neither a string nor an integer");
            return false;
        }
        category = model.category_id(text_scratch_);
        if (category == HybridModel::kNoCategory) {
            out.error(record, "more than 65,536 distinct categories in `" + o_.category_field +
                                  "`; the item keeps its category");
            return false;
        }
        return true;
    }

    void init_user(HybridUser& user, const Value& key) {
        user.factors.assign(static_cast<size_t>(k_), 0);
        key_scratch_.clear();
        encode_state_key(key, key_scratch_);
        mf::gaussian_fill(user.factors, mf::stable_hash(key_scratch_, o_.seed ^ 0x5bd1e995u),
                          o_.init_scale);
    }

    /// Learns one event: co-occurrence with the user's recent items (when
    /// the item is new to the user), popularity, and BPR steps against
    /// sampled negatives; then remembers the item.
    template <bool kConcurrent>
    void learn(HybridModel& model, HybridUser& user, const Value& key, uint32_t i, double w,
               int64_t t) {
        std::vector<uint32_t>& items = user.recent.items;
        bool repeat = std::find(items.begin(), items.end(), i) != items.end();
        if (!repeat) {
            size_t n = std::min(o_.history, items.size());
            recent_.assign(items.end() - static_cast<std::ptrdiff_t>(n), items.end());
            model.similarity().learn(i, recent_, o_.neighbours);
        }
        uint32_t group = user.recent.group == kNoItem ? 0 : user.recent.group;
        model.popularity().add(group, model.popularity_index(i), w, t, o_.half_life_ms);
        if (k_ > 0) {
            model.touch_recent(i);
            key_scratch_.clear();
            encode_state_key(key, key_scratch_);
            uint64_t stream = mf::mix64(mf::stable_hash(key_scratch_, o_.seed) ^
                                        static_cast<uint64_t>(user.events));
            for (int s = 0; s < o_.negatives; ++s) {
                uint32_t c = sample_negative(model, user, i, stream);
                if (c == ItemIndex::kNone) {
                    break;
                }
                mf::bpr_step<kConcurrent>(user.factors.data(), model.item_factors(i),
                                          model.item_bias(i), model.item_factors(c),
                                          model.item_bias(c), k_, static_cast<float>(w), o_.rates);
            }
        }
        ++user.events;
        remember(user.recent, i, std::max(o_.history, o_.exclude));
    }

    /// An item the user did not have: from the recency ring with probability
    /// `recency_share`, else uniformly; kNone after ten failed draws.
    uint32_t sample_negative(const HybridModel& model, const HybridUser& user, uint32_t positive,
                             uint64_t& stream) const {
        uint32_t size = model.items().size();
        if (size < 2) {
            return ItemIndex::kNone;
        }
        constexpr int kTries = 10;
        for (int t = 0; t < kTries; ++t) {
            double u01 = static_cast<double>(mf::mix64(stream++) >> 11) * 0x1.0p-53;
            uint64_t pick = mf::mix64(stream++);
            uint64_t recent = model.recent_count();
            uint32_t c = u01 < o_.recency_share && recent > 0 ? model.recent(pick % recent)
                                                              : static_cast<uint32_t>(pick % size);
            if (c == positive || c >= size || !model.items().ready(c) || seen(user, c)) {
                continue;
            }
            return c;
        }
        return ItemIndex::kNone;
    }

    /// Without an early exit the loop vectorizes.
    static bool seen(const HybridUser& user, uint32_t i) {
        const uint32_t* items = user.recent.items.data();
        size_t n = user.recent.items.size();
        uint32_t found = 0;
        for (size_t j = 0; j < n; ++j) {
            found |= static_cast<uint32_t>(items[j] == i);
        }
        return found != 0;
    }

    /// Accumulates into sim_ the cosine similarity of each neighbour of the
    /// user's `history` latest items to those items (touched_ lists them);
    /// returns the highest sum among items the user may get.
    double similarity_scores(const HybridModel& model, const HybridUser& user, uint32_t size) {
        const SimilarityModel& sim = model.similarity();
        const std::vector<uint32_t>& items = user.recent.items;
        size_t basis = std::min(o_.history, items.size());
        double best = 0;
        for (size_t k = items.size() - basis; k < items.size(); ++k) {
            uint64_t cj = sim.neighbours(items[k], neighbour_scratch_);
            if (cj == 0) {
                continue;
            }
            for (const Neighbour& nb : neighbour_scratch_) {
                uint64_t cx = sim.count(nb.item);
                // Items added since rank() read the size are left for the next ranking.
                if (cx == 0 || nb.item >= size || marks_.marked(nb.item) ||
                    !model.items().ready(nb.item)) {
                    continue;
                }
                if (sim_[nb.item] == 0) {
                    touched_.push_back(nb.item);
                }
                sim_[nb.item] +=
                    nb.co / std::sqrt(static_cast<double>(cj) * static_cast<double>(cx));
                best = std::max(best, sim_[nb.item]);
            }
        }
        return best;
    }

    void clear_similarity() {
        for (uint32_t x : touched_) {
            sim_[x] = 0;
        }
        touched_.clear();
    }

    /// The user's top N into top_ (sim_ keeps the similarity sums until
    /// clear_similarity()). Each source's score is scaled to [0, 1] over the
    /// items the user may get (similarity and popularity by their maximum,
    /// mf from its minimum to its maximum), the learned models are weighted
    /// by the confidence n / (n + `confidence`) in a user with n items, the
    /// weighted sum is multiplied by the user's segment boost for the item's
    /// category, and the best N win.
    template <bool kConcurrent>
    void rank(HybridModel& model, const HybridUser& user) {
        uint32_t size = model.items().size();
        marks_.clear(size);
        const std::vector<uint32_t>& items = user.recent.items;
        size_t excluded = std::min(o_.exclude, items.size());
        for (size_t k = items.size() - excluded; k < items.size(); ++k) {
            marks_.mark(items[k]);
        }
        if (sim_.size() < size) {
            sim_.resize(size + size / 2 + 64, 0);
            mf_.resize(sim_.size(), 0);
            pop_.resize(sim_.size(), 0);
            seg_pop_.resize(sim_.size(), 0);
        }
        auto n = static_cast<double>(items.size());
        double conf = n == 0 ? 0 : n / (n + o_.confidence);
        w_sim_ = o_.blend[kSimilarity] * conf;
        w_mf_ = k_ > 0 ? o_.blend[kMf] * conf : 0;
        w_pop_ = o_.blend[kPopularity];
        seg_ = user.recent.group == kNoItem || user.recent.group == 0 ? 0 : user.recent.group;
        w_seg_ = seg_ != 0 ? o_.blend[kSegmentPopularity] : 0;
        boost_ = boost_rule(model, user.recent.group);
        max_sim_ = w_sim_ > 0 ? similarity_scores(model, user, size) : 0;
        top_.reset(query_n_ != 0 ? query_n_ : output_.top_n());
        if (w_mf_ == 0 && w_pop_ == 0 && w_seg_ == 0) {
            for (uint32_t x : touched_) {
                offer(model, x);
            }
            return;
        }
        // Pass 1: mf scores and the scales; pass 2: blend.
        mf_min_ = INFINITY;
        mf_max_ = -INFINITY;
        pop_max_ = PopularityModel::kNoScore;
        seg_max_ = PopularityModel::kNoScore;
        const PopularityModel& pop = model.popularity();
        if (w_mf_ > 0) {
            mf_scores<kConcurrent>(model, user.factors.data(), size);
        }
        for (uint32_t x = 0; x < size; ++x) {
            if (marks_.marked(x)) {
                continue;
            }
            if (!model.items().ready(x)) {
                marks_.mark(x);  // still being added by another shard: skipped in pass 2
                continue;
            }
            if (w_mf_ > 0) {
                mf_min_ = std::min(mf_min_, mf_[x]);
                mf_max_ = std::max(mf_max_, mf_[x]);
            }
            uint32_t p = model.popularity_index(x);
            if (w_pop_ > 0) {
                pop_[x] = pop.stored(0, p);
                pop_max_ = std::max(pop_max_, pop_[x]);
            }
            if (w_seg_ > 0) {
                seg_pop_[x] = pop.stored(seg_, p);
                seg_max_ = std::max(seg_max_, seg_pop_[x]);
            }
        }
        for (uint32_t x = 0; x < size; ++x) {
            if (!marks_.marked(x)) {
                offer(model, x);
            }
        }
    }

    /// Items no source scores (all zero) are not recommended.
    void offer(const HybridModel& model, uint32_t x) {
        if (filter_category_ != HybridModel::kNoCategory && model.category(x) != filter_category_) {
            return;
        }
        double s = blended(model, x);
        if (s > 0 && top_.admits(s)) {
            top_.offer(s, x);
        }
    }

    /// mf_[x] = bias + p . q_x for every item below `size`, chunk by chunk.
    template <bool kConcurrent>
    void mf_scores(const HybridModel& model, const float* p, uint32_t size) {
        constexpr uint32_t kChunk = ChunkedArray<float>::kChunk;
        for (uint32_t first = 0; first < size; first += kChunk) {
            uint32_t count = std::min(kChunk, size - first);
            if (kConcurrent && !model.has_item_rows(first)) {
                // Items another shard is adding, not ready: skipped in pass 1.
                std::fill_n(mf_.data() + first, count, 0.0f);
                continue;
            }
            const float* q = model.item_factors(first);
            const float* bias = model.item_biases(first);
            if constexpr (kConcurrent) {
                for (uint32_t s = 0; s < count; ++s) {
                    mf_[first + s] =
                        mf::ld<true>(bias[s]) +
                        mf::dot<true>(p, q + static_cast<size_t>(s) * static_cast<size_t>(k_), k_);
                }
            } else {
                mf::score_rows(p, q, bias, count, k_, mf_.data() + first);
            }
        }
    }

    /// Each source's weighted, scaled contribution to item x's score (rank()
    /// filled the per-item arrays of the sources in use).
    std::array<double, kSources> contributions(uint32_t x) const {
        std::array<double, kSources> c{};
        if (w_sim_ > 0 && max_sim_ > 0) {
            c[kSimilarity] = w_sim_ * sim_[x] / max_sim_;
        }
        if (w_mf_ > 0 && mf_max_ > mf_min_) {
            c[kMf] = w_mf_ * (mf_[x] - mf_min_) / (mf_max_ - mf_min_);
        }
        if (w_pop_ > 0) {
            c[kPopularity] = w_pop_ * scaled_popularity(pop_[x], pop_max_);
        }
        if (w_seg_ > 0) {
            c[kSegmentPopularity] = w_seg_ * scaled_popularity(seg_pop_[x], seg_max_);
        }
        return c;
    }

    double blended(const HybridModel& model, uint32_t x) const {
        std::array<double, kSources> c = contributions(x);
        double s = (c[0] + c[1]) + (c[2] + c[3]);
        if (boost_ != nullptr && model.category(x) == boost_category_[boost_ - o_.boosts.data()]) {
            s *= boost_->factor;
        }
        return s;
    }

    /// A stored popularity score relative to the highest: with decay the
    /// scores are log2 of decayed sums, so the ratio is 2^(s - max).
    double scaled_popularity(double stored, double max) const {
        if (stored == PopularityModel::kNoScore || max == PopularityModel::kNoScore) {
            return 0;
        }
        if (o_.half_life_ms > 0) {
            return std::exp2(stored - max);
        }
        return max > 0 ? stored / max : 0;
    }

    /// The boost for users of popularity group g, or nullptr.
    const Boost* boost_rule(HybridModel& model, uint32_t g) {
        if (o_.boosts.empty() || g == kNoItem || g == 0) {
            return nullptr;
        }
        if (!boosts_resolved_) {
            for (size_t b = 0; b < o_.boosts.size(); ++b) {
                boost_category_[b] = model.category_id(o_.boosts[b].category);
            }
            boosts_resolved_ = true;
        }
        if (group_boost_.size() <= g) {
            group_boost_.resize(g + 1, kUnresolved);
        }
        if (group_boost_[g] == kUnresolved) {
            group_boost_[g] = kNoBoost;
            Value id = decode_item_id(model.popularity().group_id(g));
            if (as_text(id, text_scratch_)) {
                for (size_t b = 0; b < o_.boosts.size(); ++b) {
                    if (o_.boosts[b].segment == text_scratch_) {
                        group_boost_[g] = static_cast<int>(b);
                    }
                }
            }
        }
        return group_boost_[g] >= 0 ? &o_.boosts[static_cast<size_t>(group_boost_[g])] : nullptr;
    }

    template <bool kConcurrent>
    void emit(HybridUser& user, const Value& key, int64_t t, Emitter& out) {
        user.recent.last_emit = t;
        user.recent.pending = false;
        HybridModel& model = model_.get();
        if (model.identity() != identity_) {
            sync(model);
        }
        query_n_ = ranked_n();
        rank<kConcurrent>(model, user);
        query_n_ = 0;
        const std::vector<TopN::Entry>& top = top_.sorted();
        Record& r = output_.emit(out, t, key, top, model.items());  // the first top_n
        ranked_entries();
        for (size_t k = 0; k < entries_.size() && k < source_out_.size(); ++k) {
            r.set(source_out_[k], std::string_view(kSourceNames[entries_[k].source]));
        }
        publish(key, user.recent.group);
        if (segment_ != kInvalidField) {
            uint32_t g = user.recent.group;
            if (g == kNoItem || g == 0) {
                r.set_null(segment_);
            } else {
                r.set_value(segment_, decode_item_id(model.popularity().group_id(g)));
            }
        }
        clear_similarity();
    }

    static constexpr int kUnresolved = -2;
    static constexpr int kNoBoost = -1;

    Options o_;
    RecommendationOutput output_;
    // query(): the user decoded from state, its stored bytes, N, the filter.
    HybridUser query_user_;
    std::string query_stored_;
    size_t query_n_ = 0;
    uint32_t filter_category_ = HybridModel::kNoCategory;
    // The rankings kept for query_published(), and the last ranking as entries.
    PublishedRankings published_;
    std::vector<PublishedRanking::Entry> entries_;
    const Clock* clock_ = nullptr;

    KeyedValue<HybridUser> users_{"users"};
    Shared<HybridModel> model_{"model"};
    Timers* timers_ = nullptr;
    FieldId item_ = kInvalidField;
    FieldId type_ = kInvalidField;
    FieldId segment_ = kInvalidField;
    FieldId category_ = kInvalidField;
    std::vector<FieldId> source_out_;
    int parallelism_ = 1;
    Counter skipped_;
    Counter segment_updates_;
    Gauge pairs_;

    const void* identity_ = nullptr;
    int k_ = 0;
    std::vector<int> group_boost_;          // per popularity group: a rule, or kNoBoost
    std::vector<uint32_t> boost_category_;  // per rule: its category id
    bool boosts_resolved_ = false;

    // The ranking in progress (per shard).
    TopN top_;
    ItemMarks marks_;
    std::vector<double> sim_;  // per item, 0 between rankings
    std::vector<uint32_t> touched_;
    std::vector<float> mf_;
    std::vector<double> pop_;      // stored global popularity, per item
    std::vector<double> seg_pop_;  // stored popularity in the user's segment, per item
    double w_sim_ = 0;
    double w_mf_ = 0;
    double w_pop_ = 0;
    double w_seg_ = 0;
    uint32_t seg_ = 0;
    const Boost* boost_ = nullptr;
    double max_sim_ = 0;
    float mf_min_ = 0;
    float mf_max_ = 0;
    double pop_max_ = 0;
    double seg_max_ = 0;

    std::vector<uint32_t> recent_;
    std::vector<Neighbour> neighbour_scratch_;
    std::string scratch_;
    std::string group_scratch_;
    std::string text_scratch_;
    std::string key_scratch_;
    int64_t last_time_ = kNoRecTime;
};

}  // namespace

std::unique_ptr<Operator> make_recommend(const Config& cfg) {
    return std::make_unique<Recommend>(cfg);
}

}  // namespace eddy
