// SPDX-License-Identifier: Apache-2.0
#include "common/recommend.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <string>

#include "eddy/config.h"
#include "eddy/record.h"

namespace eddy {

Status query_top_n(const QueryRequest& q, size_t& n) {
    std::string_view text = q.param("n");
    if (text.empty()) {
        return Status::ok();
    }
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > 1000) {
        return Status::invalid_argument("`n` must be a whole number from 1 to 1000, got '" +
                                        std::string(text) + "'");
    }
    n = static_cast<size_t>(v);
    return Status::ok();
}

void Codec<UserItems>::encode(const UserItems& u, StateWriter& w) {
    w.varint(u.items.size());
    for (uint32_t i : u.items) {
        w.varint(i);
    }
    w.i64(u.last_emit);
    w.u8(u.pending ? 1 : 0);
    w.varint(u.group);
}

bool Codec<UserItems>::decode(StateReader& r, uint8_t, UserItems& u) {
    uint64_t n = 0;
    if (!r.varint(n) || n > (1u << 20)) {
        return false;
    }
    u.items.resize(n);
    for (uint32_t& i : u.items) {
        uint64_t v = 0;
        r.varint(v);
        i = static_cast<uint32_t>(v);
    }
    uint8_t pending = 0;
    uint64_t group = 0;
    r.i64(u.last_emit);
    r.u8(pending);
    r.varint(group);
    u.pending = pending != 0;
    u.group = static_cast<uint32_t>(group);
    return r.ok();
}

void Codec<UserItems>::to_json(const UserItems& u, JsonWriter& j) {
    j.begin_object().key("items").begin_array();
    for (uint32_t i : u.items) {
        j.value(static_cast<int64_t>(i));
    }
    j.end_array().key("last_emit");
    if (u.last_emit == kNoRecTime) {
        j.value(nullptr);
    } else {
        j.value(u.last_emit);
    }
    j.field("pending", u.pending);
    j.key("group");
    if (u.group == kNoItem) {
        j.value(nullptr);
    } else {
        j.value(static_cast<int64_t>(u.group));
    }
    j.end_object();
}

void remember(UserItems& user, uint32_t item, size_t capacity) {
    std::vector<uint32_t>& v = user.items;
    auto it = std::find(v.begin(), v.end(), item);
    if (it != v.end()) {
        std::rotate(it, it + 1, v.end());  // move to the most recent place
        return;
    }
    if (capacity == 0) {
        return;
    }
    if (v.size() >= capacity) {
        v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() - capacity + 1));
    }
    v.push_back(item);
}

const std::vector<TopN::Entry>& TopN::sorted() {
    std::sort(entries_.begin(), entries_.end(), better);
    worst_ = entries_.empty() ? 0 : entries_.size() - 1;
    return entries_;
}

void PrequentialCounts::score(int rank) {
    std::atomic_ref<int64_t>(evaluated).fetch_add(1, std::memory_order_relaxed);
    if (rank >= 0) {
        std::atomic_ref<int64_t>(hits).fetch_add(1, std::memory_order_relaxed);
        auto gain = static_cast<int64_t>(std::llround(1e9 / std::log2(rank + 2.0)));
        std::atomic_ref<int64_t>(ndcg_nano).fetch_add(gain, std::memory_order_relaxed);
    }
}

void PrequentialCounts::encode(StateWriter& w) const {
    w.i64(events);
    w.i64(evaluated);
    w.i64(hits);
    w.i64(ndcg_nano);
}

bool PrequentialCounts::decode(StateReader& r) {
    r.i64(events);
    r.i64(evaluated);
    r.i64(hits);
    return r.i64(ndcg_nano);
}

void add_recommender_params(OperatorSpec& spec) {
    spec.keyed(KeyMode::kRequired)
        .param(Param::string("item_field")
                   .default_value("item_id")
                   .doc("The field with the item id (a string or an integer). A record without "
                        "it goes to `errors`."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Name of the output field that holds the key (the user)."))
        .param(Param::integer("top_n").default_value(10).min(1).max(1000).doc(
            "How many items to recommend (`item_1..item_N`, `score_1..score_N`), and "
            "the N of HR@N and NDCG@N."))
        .param(Param::integer("exclude_recent")
                   .default_value(1000)
                   .min(0)
                   .max(100000)
                   .doc("How many of the user's most recent distinct items are remembered and "
                        "never recommended to the user (0: recommend seen items too)."))
        .param(Param::boolean("emit").default_value(true).doc(
            "Emit recommendations on the main output; `false` with `evaluate: true` only "
            "measures."))
        .param(Param::duration("emit_every")
                   .default_value("0s")
                   .min(0)
                   .doc("At most one recommendation per user per this much event time; the "
                        "latest is emitted when the interval ends (an event-time timer). 0s: "
                        "after every event."))
        .param(Param::boolean("evaluate")
                   .default_value(false)
                   .doc("Prequential evaluation: for every event, first predict the user's top N, "
                        "score "
                        "it against the event's item (HR@N, NDCG@N), then learn. Results go to "
                        "`metrics`."))
        .param(Param::integer("metrics_every")
                   .default_value(1000)
                   .min(1)
                   .doc("With `evaluate`, emit the running metrics on `metrics` every this many "
                        "events (counted over all shards), and once at the end."))
        .output("metrics",
                "With `evaluate: true`: running `{ts, events, evaluated, hits, hit_rate, ndcg, "
                "top_n}` over all shards.");
}

void RecommendationOutput::configure(const Config& cfg, const RankingNames& names) {
    names_ = names;
    top_n_ = static_cast<size_t>(cfg.integer(names.size));
    emit_ = cfg.boolean("emit");
    emit_every_ms_ = cfg.has("emit_every") ? cfg.duration("emit_every").count() : 0;
    evaluate_ = cfg.boolean("evaluate");
    metrics_every_ = cfg.integer("metrics_every");
    key_name_ = cfg.string("key_field");
    item_name_ = cfg.string(names.item_param);
}

Status RecommendationOutput::open(OpenContext& ctx, std::string_view prefix) {
    time_out_ = ctx.field("ts");
    key_out_ = ctx.field(key_name_);
    item_out_.clear();
    score_out_.clear();
    std::string item(names_.item);
    std::string score(names_.score);
    for (size_t i = 1; i <= top_n_; ++i) {
        item_out_.push_back(ctx.field(item + "_" + std::to_string(i)));
        score_out_.push_back(ctx.field(score + "_" + std::to_string(i)));
    }
    metrics_ = ctx.output("metrics");
    events_out_ = ctx.field("events");
    evaluated_out_ = ctx.field("evaluated");
    hits_out_ = ctx.field("hits");
    hit_rate_out_ = ctx.field("hit_rate");
    ndcg_out_ = ctx.field("ndcg");
    top_n_out_ = ctx.field(names_.size);
    std::string p(prefix);
    evaluated = ctx.counter(p + "_evaluated_total",
                            "Events scored by the prequential evaluation (evaluate: true).");
    hits = ctx.counter(p + "_hits_total",
                       "Scored events whose " + item + " was among the top N predicted before it.");
    items = ctx.gauge(p + "_" + item + "s", "Distinct " + item + "s the model knows.");
    if (evaluate_) {
        hit_rate = ctx.evaluation("hit_rate", static_cast<int>(top_n_));
        ndcg = ctx.evaluation("ndcg", static_cast<int>(top_n_));
    }
    return Status::ok();
}

Record& RecommendationOutput::emit(Emitter& out, int64_t time, const Value& key,
                                   const std::vector<TopN::Entry>& top, const ItemIndex& index) {
    Record& r = out.append();
    r.set_time(time);
    r.set(time_out_, time);
    r.set_value(key_out_, key);
    for (size_t i = 0; i < top.size() && i < top_n_; ++i) {
        r.set_value(item_out_[i], decode_item_id(index.id(top[i].item)));
        r.set(score_out_[i], top[i].score);
    }
    return r;
}

void RecommendationOutput::score(const std::vector<TopN::Entry>& top, uint32_t item,
                                 PrequentialCounts& counts) {
    int hit = rank_of(top, item);
    counts.score(hit);
    evaluated.add();
    if (hit >= 0) {
        hits.add();
    }
}

void RecommendationOutput::emit_metrics(Emitter& out, int64_t time,
                                        const PrequentialCounts& counts) {
    auto load = [](const int64_t& v) {
        return std::atomic_ref<int64_t>(const_cast<int64_t&>(v)).load(std::memory_order_relaxed);
    };
    int64_t evaluated_n = load(counts.evaluated);
    int64_t hits_n = load(counts.hits);
    double ndcg_sum = static_cast<double>(load(counts.ndcg_nano)) * 1e-9;
    Record& r = out.append(metrics_);
    r.set_time(time);
    r.set(time_out_, time);
    r.set(events_out_, load(counts.events));
    r.set(evaluated_out_, evaluated_n);
    r.set(hits_out_, hits_n);
    double n = static_cast<double>(std::max<int64_t>(evaluated_n, 1));
    double hr = static_cast<double>(hits_n) / n;
    r.set(hit_rate_out_, hr);
    r.set(ndcg_out_, ndcg_sum / n);
    r.set(top_n_out_, static_cast<int64_t>(top_n_));
    hit_rate.set(hr, evaluated_n);
    ndcg.set(ndcg_sum / n, evaluated_n);
}

void item_id_to_json(std::string_view id, JsonWriter& j) {
    Value v = decode_item_id(id);
    if (v.is_int()) {
        j.value(v.as_int());
    } else {
        j.value(v.as_string());
    }
}

void counts_to_json(const PrequentialCounts& c, JsonWriter& j) {
    j.field("events", c.events)
        .field("evaluated", c.evaluated)
        .field("hits", c.hits)
        .field("ndcg_sum", static_cast<double>(c.ndcg_nano) * 1e-9);
}

std::string check_recommender_names(const Config& cfg) {
    return check_ranking_names(cfg, RankingNames{}, {});
}

std::string check_ranking_names(const Config& cfg, const RankingNames& names,
                                std::initializer_list<const char*> more) {
    const std::string& key = cfg.string("key_field");
    static constexpr const char* kFixed[] = {"ts",   "events", "evaluated",
                                             "hits", "ndcg",   "hit_rate"};
    auto clash = [&key](const char* f) { return key == f; };
    if (std::any_of(std::begin(kFixed), std::end(kFixed), clash) || key == names.size ||
        std::any_of(more.begin(), more.end(), clash)) {
        return "`key_field` `" + key +
               "` is also the name of an output field; choose another name such as `user_id`";
    }
    auto numbered = [&key](std::string_view prefix) {
        return key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
               key.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
    };
    std::string item = std::string(names.item) + "_";
    std::string score = std::string(names.score) + "_";
    if (numbered(item) || numbered(score)) {
        return "`key_field` `" + key + "` may clash with the `" + item + "<i>` and `" + score +
               "<i>` output fields; choose another name such as `user_id`";
    }
    return "";
}

}  // namespace eddy
