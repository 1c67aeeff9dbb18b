// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "item_similarity/item_similarity.h"

namespace eddy {
namespace {

class ItemSimilarity final : public Operator {
public:
    explicit ItemSimilarity(const Config& cfg)
        : history_(static_cast<size_t>(cfg.integer("history"))),
          neighbours_(static_cast<size_t>(cfg.integer("neighbours"))),
          exclude_(static_cast<size_t>(cfg.integer("exclude_recent"))) {
        output_.configure(cfg);
    }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(users_);
        ctx.register_state(model_);
        model_.get().set_neighbours(neighbours_);
        item_ = ctx.field(output_.item_field());
        parallelism_ = ctx.parallelism();
        pairs_ = ctx.gauge("item_similarity_pairs",
                           "Distinct co-occurring item pairs (each direction counted).");
        recent_.reserve(history_);
        return output_.open(ctx, "item_similarity");
    }

    void process(const Record& record, Emitter& out) override {
        const Value* item = record.get(item_);
        if (item == nullptr || !encode_item_id(*item, scratch_)) {
            out.error(record, "the item field `" + output_.item_field() +
                                  "` is missing or neither a string nor an integer");
            return;
        }
        SimilarityModel& model = model_.get();
        bool created = false;
        uint32_t i =
            model.items().intern(scratch_, created, [&model](uint32_t k) { model.add_item(k); });
        if (i == ItemIndex::kNone) {
            out.error(record, "the item index is full (67,108,864 items)");
            return;
        }
        if (created) {
            output_.items.set(model.items().size());
        }
        const Value& key = record.key();
        UserItems& user = users_.get_or_create(key);
        int64_t t = record.time();
        last_time_ = std::max(last_time_, t);
        if (output_.evaluate() && !created && !user.items.empty()) {
            recommend(model, user);
            output_.score(top_.sorted(), i, model.counts());
        }
        // Interactions are binary: an item the user still remembers only moves
        // to the most recent place.
        bool repeat = std::find(user.items.begin(), user.items.end(), i) != user.items.end();
        if (!repeat) {
            size_t n = std::min(history_, user.items.size());
            recent_.assign(user.items.end() - static_cast<std::ptrdiff_t>(n), user.items.end());
            model.learn(i, recent_, neighbours_);
        }
        remember(user, i, std::max(history_, exclude_));
        if (output_.emit_enabled()) {
            throttle_emit(user, *timers_, key, t, output_.emit_every_ms(),
                          [&] { emit(user, key, t, out); });
        }
        int64_t n = model.counts().count_event();
        if ((n & 1023) == 0) {
            pairs_.set(static_cast<int64_t>(model.pairs()));
        }
        if (output_.evaluate() && n % output_.metrics_every() == 0) {
            output_.emit_metrics(out, t, model.counts());
        }
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        UserItems* user = users_.find(timer.key);
        if (user == nullptr || !user->pending ||
            timer.time < user->last_emit + output_.emit_every_ms()) {
            return;
        }
        emit(*user, timer.key, timer.time, out);
    }

    void close(Emitter& out) override {
        SimilarityModel& model = model_.get();
        pairs_.set(static_cast<int64_t>(model.pairs()));
        // The last shard to finish reports the final metrics of all shards.
        if (output_.evaluate() && model.counts().close_shard() == parallelism_) {
            output_.emit_metrics(out, last_time_, model.counts());
        }
    }

private:
    /// The user's top N into top_: candidates are the neighbours of the
    /// user's `history` latest items, scored by the sum of their cosine
    /// similarities to those items; the user's `exclude_recent` latest items
    /// are left out.
    void recommend(const SimilarityModel& model, const UserItems& user) {
        uint32_t size = model.items().size();
        marks_.clear(size);
        size_t excluded = std::min(exclude_, user.items.size());
        for (size_t k = user.items.size() - excluded; k < user.items.size(); ++k) {
            marks_.mark(user.items[k]);
        }
        if (scores_.size() < size) {
            scores_.resize(size + size / 2 + 64, 0);
        }
        touched_.clear();
        size_t basis = std::min(history_, user.items.size());
        for (size_t k = user.items.size() - basis; k < user.items.size(); ++k) {
            uint64_t cj = model.neighbours(user.items[k], neighbour_scratch_);
            if (cj == 0) {
                continue;
            }
            for (const Neighbour& nb : neighbour_scratch_) {
                uint64_t cx = model.count(nb.item);
                if (marks_.marked(nb.item) || cx == 0 || nb.item >= scores_.size()) {
                    continue;
                }
                double s = nb.co / std::sqrt(static_cast<double>(cj) * static_cast<double>(cx));
                if (scores_[nb.item] == 0) {
                    touched_.push_back(nb.item);
                }
                scores_[nb.item] += s;
            }
        }
        top_.reset(output_.top_n());
        for (uint32_t x : touched_) {
            top_.offer(scores_[x], x);
            scores_[x] = 0;
        }
    }

    void emit(UserItems& user, const Value& key, int64_t t, Emitter& out) {
        user.last_emit = t;
        user.pending = false;
        SimilarityModel& model = model_.get();
        recommend(model, user);
        output_.emit(out, t, key, top_.sorted(), model.items());
    }

    size_t history_;
    size_t neighbours_;
    size_t exclude_;
    RecommendationOutput output_;

    KeyedValue<UserItems> users_{"users"};
    Shared<SimilarityModel> model_{"similarity"};
    Timers* timers_ = nullptr;
    FieldId item_ = kInvalidField;
    int parallelism_ = 1;
    Gauge pairs_;

    TopN top_;
    ItemMarks marks_;
    std::vector<double> scores_;  // per item, 0 between calls
    std::vector<uint32_t> touched_;
    std::vector<uint32_t> recent_;
    std::vector<Neighbour> neighbour_scratch_;
    std::string scratch_;
    int64_t last_time_ = kNoRecTime;
};

}  // namespace

ComponentSpec item_similarity_spec() {
    OperatorSpec spec("item_similarity");
    spec.summary(
            "Learns item-item cosine similarity from co-occurrence in users' recent items and "
            "recommends the items most similar to what each user just saw.")
        .description(
            "Keyed by user. Each user's `history` latest distinct items are kept in keyed "
            "state. An event (user, item) counts c(item) += 1 and c(item, j) += 1 for each j "
            "of those items (symmetric), so items co-occur when one user met them within "
            "`history` items of each other; an item the user still remembers (a repeat) only "
            "moves to the most recent place. The similarity is the cosine c(i, j) / sqrt(c(i) "
            "* c(j)). Per item the model keeps all its co-occurrence counts and its "
            "`neighbours` most similar items, maintained incrementally (a pair enters when it "
            "beats the weakest neighbour as last judged) and rebuilt from all counts whenever "
            "the updates of the item's row have doubled; recommendations always compute "
            "similarities from the current counts. The model is one for all shards (shared state): "
            "a concurrent "
            "item index and one row per item in storage that never moves, each changed under "
            "its own spinlock for one event's updates (docs/recommenders.md).\\n\\n"
            "After each event the operator emits the user's top N (per `emit`, "
            "`emit_every`): `{ts, <key_field>, item_1..item_N, score_1..score_N}`, best "
            "first, where a candidate's score is the sum of its similarities to the user's "
            "`history` latest items, over the neighbour lists of those items; ties go to the "
            "item seen first. Items among the user's `exclude_recent` latest distinct items "
            "are never recommended; fewer than N fields are set when fewer items qualify "
            "(none while the user's items have no neighbours: fall back on `popularity`).\\n\\n"
            "With `evaluate: true` each event is first predicted, then learnt (prequential): "
            "an event whose user has history and whose item was seen before is scored as a "
            "hit when its item is among the user's top N computed before the event (HR@N; "
            "NDCG@N adds 1 / log2(rank + 1) for a hit at rank 1..N); the running totals over "
            "all shards go to `metrics`.\\n\\n"
            "Records without a string or integer item go to `errors`. Metrics: "
            "`eddy_item_similarity_items` and `eddy_item_similarity_pairs` (gauges), "
            "`eddy_item_similarity_evaluated_total`, `eddy_item_similarity_hits_total`.")
        .param(Param::integer("history").default_value(10).min(1).max(1000).doc(
            "How many of a user's latest distinct items an event co-occurs with, "
            "and how many items recommendations are computed from."))
        .param(Param::integer("neighbours")
                   .default_value(50)
                   .min(1)
                   .max(1000)
                   .doc("Most similar items kept per item (K of the top-K neighbour lists)."));
    add_recommender_params(spec);
    spec.keyed_state<UserItems>(
            "users",
            "Per user: the latest distinct items (indexes into the item index), oldest first, "
            "at most max(`history`, `exclude_recent`); the throttle's last emission.")
        .shared_state<SimilarityModel>(
            "similarity",
            "For all shards: the item index, per item its count, its co-occurrence counts, "
            "its neighbour list and the list's maintenance schedule, and the prequential "
            "counts.")
        .rule(check_recommender_names)
        .example("Similar items over the last 10 items of each user", R"(operators:
  similar:
    type: item_similarity
    input: clicks
    key: user_id
    item_field: item_id
    history: 10
    neighbours: 50
    top_n: 10
    emit_every: 30s
)")
        .example("Prequential HR@10 without emitting recommendations", R"(operators:
  similar:
    type: item_similarity
    input: clicks
    key: user_id
    evaluate: true
    emit: false
    metrics_every: 10000
)")
        .factory(make_component<Operator, ItemSimilarity>);
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(item_similarity) {
    return eddy::item_similarity_spec();
}
