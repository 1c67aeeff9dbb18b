// SPDX-License-Identifier: Apache-2.0
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "eddy/registry.h"
#include "eddy/state.h"

#include "common/time_math.h"
#include "kmeans/kmeans.h"

namespace eddy {
namespace {

using kmeans::load;
using kmeans::Phase;
using kmeans::store;

class Kmeans final : public Operator {
public:
    explicit Kmeans(const Config& cfg)
        : k_(static_cast<int32_t>(cfg.integer("k"))),
          seed_points_(cfg.integer("seed_points")),
          learning_{cfg.number("decay"), static_cast<int>(cfg.integer("seed_inits")),
                    cfg.boolean("standardize")},
          seed_(static_cast<uint64_t>(cfg.integer("seed"))),
          key_name_(cfg.string("key_field")),
          every_ms_(cfg.duration("snapshot_every").count()),
          sample_size_(cfg.integer("sample_size")),
          reseed_(cfg.boolean("reseed_on_drift")) {
        if (cfg.has("field")) {
            field_name_ = cfg.string("field");
        }
        if (cfg.has("fields")) {
            field_names_ = cfg.strings("fields");
            dims_ = static_cast<int32_t>(field_names_.size());
        }
        if (cfg.has("dimensions")) {
            dims_ = static_cast<int32_t>(cfg.integer("dimensions"));
        }
        adwin_.delta = cfg.number("drift_delta");
        adwin_.check_every = cfg.integer("drift_check_every");
        if (cfg.has("max_centroid_shift")) {
            max_shift_ = cfg.number("max_centroid_shift");
        }
        if (cfg.has("min_silhouette")) {
            min_silhouette_ = cfg.number("min_silhouette");
        }
    }

    Status open(OpenContext& ctx) override {
        ctx.register_state(segments_);
        ctx.register_state(model_);
        ctx.register_state(monitor_);
        shard_ = ctx.shard();
        if (field_names_.empty()) {
            field_ = ctx.field(field_name_);
        } else {
            for (const std::string& f : field_names_) {
                field_ids_.push_back(ctx.field(f));
            }
            x_.assign(field_names_.size(), 0);
        }
        ts_out_ = ctx.field("ts");
        key_out_ = ctx.field(key_name_);
        segment_out_ = ctx.field("segment");
        previous_out_ = ctx.field("previous_segment");
        distance_out_ = ctx.field("distance");
        centroid_out_ = ctx.field("centroid");
        size_out_ = ctx.field("size");
        sse_out_ = ctx.field("sse");
        points_out_ = ctx.field("points");
        inertia_out_ = ctx.field("inertia");
        silhouette_out_ = ctx.field("silhouette");
        shift_out_ = ctx.field("shift");
        generation_out_ = ctx.field("generation");
        statistic_out_ = ctx.field("statistic");
        value_out_ = ctx.field("value");
        threshold_out_ = ctx.field("threshold");
        before_out_ = ctx.field("before");
        after_out_ = ctx.field("after");
        reseeded_out_ = ctx.field("reseeded");
        model_output_ = ctx.output("model");
        drift_output_ = ctx.output("drift");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        std::span<const float> x;
        if (!read(record, out, x)) {
            return;
        }
        KmeansModel& m = model_.get();
        const auto d = static_cast<int32_t>(x.size());
        if (m.current_phase() < Phase::kBuffering) {
            if (!kmeans::prepare(m, k_, d, seed_points_, seed_)) {
                mismatch(record, m, out);
                return;
            }
        } else if (m.dims != d || m.k != k_) {
            mismatch(record, m, out);
            return;
        }
        if (w_.size() != x.size()) {
            w_.assign(x.size(), 1.0);
        }
        note_time(m, record.time());
        const std::optional<kmeans::Assignment> a = kmeans::add(m, x, w_.data(), learning_);
        if (!a) {
            return;  // buffered for the seeding
        }
        const double distance = std::sqrt(a->distance2);
        watch(m, record.time(), distance, x, out);
        emit_change(record, a->segment, distance, out);
    }

    void on_watermark(int64_t watermark, Emitter& out) override {
        if (shard_ != 0 || watermark == kEndOfTime || watermark == kNoWatermark) {
            return;
        }
        KmeansModel& m = model_.get();
        if (m.current_phase() != Phase::kReady) {
            return;
        }
        const int64_t boundary = floor_div(watermark, every_ms_) * every_ms_;
        if (m.last_snapshot != kmeans::kNoTime && boundary <= m.last_snapshot) {
            return;
        }
        snapshot(m, boundary, true, out);
    }

    // The closing snapshot changes no state, so that a stopped and resumed
    // job ends with the same model as one that ran through.
    void close(Emitter& out) override {
        KmeansModel& m = model_.get();
        const int64_t time = load(m.max_time);
        if (shard_ != 0 || m.current_phase() != Phase::kReady || time == kmeans::kNoTime) {
            return;
        }
        snapshot(m, std::max(time, m.last_snapshot), false, out);
    }

private:
    /// The point as floats in `x`; false (after an error record) when the
    /// record has no usable point.
    bool read(const Record& record, Emitter& out, std::span<const float>& x) {
        if (field_ids_.empty()) {
            const Value* v = record.get(field_);
            if (v == nullptr || v->is_null()) {
                out.error(record, "the field `" + field_name_ + "` is missing");
                return false;
            }
            if (!v->is_vector()) {
                out.error(record, "the field `" + field_name_ + "` is a " +
                                      value_type_name(v->type()) +
                                      ", not a vector of numbers such as [0.5, 1, 2]");
                return false;
            }
            x = v->as_vector();
        } else {
            for (size_t i = 0; i < field_ids_.size(); ++i) {
                const Value* v = record.get(field_ids_[i]);
                if (v == nullptr || v->is_null()) {
                    out.error(record, "the field `" + field_names_[i] + "` is missing");
                    return false;
                }
                if (!v->is_number()) {
                    out.error(record, "the field `" + field_names_[i] + "` is a " +
                                          value_type_name(v->type()) + ", not a number");
                    return false;
                }
                x_[i] = static_cast<float>(v->as_double());
            }
            x = x_;
        }
        if (x.empty() || (dims_ > 0 && x.size() != static_cast<size_t>(dims_))) {
            out.error(record, "the field `" + field_name_ + "` has " + std::to_string(x.size()) +
                                  " numbers; `dimensions` is " + std::to_string(dims_));
            return false;
        }
        for (size_t i = 0; i < x.size(); ++i) {
            if (!std::isfinite(x[i])) {
                out.error(record, where(i) + " is " + (std::isnan(x[i]) ? "NaN" : "infinite") +
                                      " (or too large for a float); k-means needs finite numbers");
                return false;
            }
        }
        return true;
    }

    std::string where(size_t i) const {
        return field_ids_.empty() ? "entry " + std::to_string(i) + " of `" + field_name_ + "`"
                                  : "the field `" + field_names_[i] + "`";
    }

    void mismatch(const Record& record, const KmeansModel& m, Emitter& out) {
        if (m.k != k_) {
            out.error(record, "the restored model has k = " + std::to_string(m.k) +
                                  " but the operator has k = " + std::to_string(k_) +
                                  "; start from a fresh state directory to change k");
            return;
        }
        out.error(record, "the point has " + std::to_string(record_dims(record)) +
                              " numbers but the model has " + std::to_string(m.dims) +
                              " dimensions (fixed by the first point); every `" + field_name_ +
                              "` vector must have the same length");
    }

    size_t record_dims(const Record& record) const {
        if (!field_ids_.empty()) {
            return field_ids_.size();
        }
        const Value* v = record.get(field_);
        return v != nullptr && v->is_vector() ? v->as_vector().size() : 0;
    }

    static void note_time(KmeansModel& m, int64_t time) {
        std::atomic_ref<int64_t> latest(m.max_time);
        int64_t seen = latest.load(std::memory_order_relaxed);
        while (time > seen &&
               !latest.compare_exchange_weak(seen, time, std::memory_order_relaxed)) {
        }
    }

    /// ADWIN on the distance, and shard 0's reservoir of points.
    void watch(KmeansModel& m, int64_t time, double distance, std::span<const float> x,
               Emitter& out) {
        KmeansMonitor& mon = monitor_.get();
        const int64_t generation = load(m.generation);
        if (mon.generation != generation) {
            mon.adwin.reset();
            mon.generation = generation;
            mon.seen = 0;
            mon.sample.clear();
            mon.dims = static_cast<int32_t>(x.size());
            if (mon.rng == 0) {
                mon.rng = seed_ + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(shard_ + 1);
            }
            mon.sample.reserve(static_cast<size_t>(sample_size_) * x.size());
        }
        AdwinChange change;
        if (mon.adwin.add(distance, adwin_, change) && change.after > change.before) {
            bool reseeded = reseed_ && kmeans::restart(m);
            alert(time, "distance_mean", change.difference, change.threshold, change.before,
                  change.after, reseeded, out);
        }
        if (shard_ == 0 && sample_size_ > 0) {
            sample(mon, x);
        }
    }

    void sample(KmeansMonitor& mon, std::span<const float> x) {
        const auto cap = static_cast<size_t>(sample_size_);
        const size_t rows = mon.sample.size() / x.size();
        ++mon.seen;
        if (rows < cap) {
            mon.sample.insert(mon.sample.end(), x.begin(), x.end());
            return;
        }
        kmeans::Rng rng{mon.rng};
        const uint64_t j = rng.below(static_cast<uint64_t>(mon.seen));
        mon.rng = rng.state;
        if (j < cap) {
            std::copy(x.begin(), x.end(), mon.sample.begin() + static_cast<long>(j * x.size()));
        }
    }

    void emit_change(const Record& record, int32_t segment, double distance, Emitter& out) {
        const Value& key = record.key();
        int64_t* previous = segments_.find(key);
        if (previous != nullptr && *previous == segment) {
            return;
        }
        Record& r = out.append();
        r.set_time(record.time());
        r.set(ts_out_, record.time());
        r.set_value(key_out_, key);
        r.set(segment_out_, static_cast<int64_t>(segment));
        if (previous != nullptr) {
            r.set(previous_out_, *previous);
            *previous = segment;
        } else {
            r.set_null(previous_out_);
            segments_.get_or_create(key) = segment;
        }
        r.set(distance_out_, distance);
    }

    /// One `model` record per centroid at `time`; with `commit`, the snapshot
    /// becomes the base of the next shift and the reservoir starts again.
    void snapshot(KmeansModel& m, int64_t time, bool commit, Emitter& out) {
        const auto d = static_cast<size_t>(m.dims);
        const auto k = static_cast<size_t>(m.k);
        w_.assign(d, 1.0);
        if (learning_.standardize) {
            kmeans::weights(m, w_.data());
        }
        centroids_.resize(k * d);
        for (size_t i = 0; i < k * d; ++i) {
            centroids_[i] = load(m.centroids[i]);
        }
        const int64_t generation = load(m.generation);
        KmeansMonitor& mon = monitor_.get();
        std::optional<double> silhouette;
        const size_t rows =
            mon.dims == static_cast<int32_t>(d) && d > 0 ? mon.sample.size() / d : 0;
        if (rows >= 2 && mon.generation == generation) {
            kmeans::Points pts{mon.sample.data(), rows, d, w_.data()};
            kmeans::Clustering c = kmeans::assign(pts, k, centroids_);
            silhouette = kmeans::silhouette(pts, c.labels, k);
        }
        const bool has_previous = m.previous_generation == generation;
        double inertia = 0;
        for (size_t j = 0; j < k; ++j) {
            inertia += load(m.sse[j]);
        }
        const int64_t points = load(m.points);
        double max_shift = 0;
        size_t moved = 0;
        for (size_t j = 0; j < k; ++j) {
            const float* c = &centroids_[j * d];
            std::optional<double> shift;
            if (has_previous) {
                shift = std::sqrt(kmeans::distance2(c, &m.previous[j * d], w_.data(), d));
                if (*shift > max_shift) {
                    max_shift = *shift;
                    moved = j;
                }
            }
            Record& r = out.append(model_output_);
            r.set_time(time);
            r.set(ts_out_, time);
            r.set(segment_out_, static_cast<int64_t>(j));
            r.set(centroid_out_, std::span<const float>(c, d));
            r.set(size_out_, load(m.counts[j]));
            r.set(sse_out_, load(m.sse[j]));
            r.set(points_out_, points);
            r.set(inertia_out_, inertia);
            if (silhouette) {
                r.set(silhouette_out_, *silhouette);
            } else {
                r.set_null(silhouette_out_);
            }
            if (shift) {
                r.set(shift_out_, *shift);
            } else {
                r.set_null(shift_out_);
            }
            r.set(generation_out_, generation);
        }
        if (!commit) {
            return;
        }
        for (size_t i = 0; i < k * d; ++i) {
            m.previous[i] = centroids_[i];
        }
        m.previous_generation = generation;
        m.last_snapshot = time;
        mon.sample.clear();
        mon.seen = 0;
        if (max_shift_ && has_previous && max_shift > *max_shift_) {
            bool reseeded = reseed_ && kmeans::restart(m);
            alert(time, "centroid_shift", max_shift, *max_shift_, std::nullopt, std::nullopt,
                  reseeded, out, static_cast<int64_t>(moved));
        }
        if (min_silhouette_ && silhouette && *silhouette < *min_silhouette_) {
            bool reseeded = reseed_ && kmeans::restart(m);
            alert(time, "silhouette", *silhouette, *min_silhouette_, std::nullopt, std::nullopt,
                  reseeded, out);
        }
    }

    void alert(int64_t time, const char* statistic, double value, double threshold,
               std::optional<double> before, std::optional<double> after, bool reseeded,
               Emitter& out, std::optional<int64_t> segment = std::nullopt) {
        Record& r = out.append(drift_output_);
        r.set_time(time);
        r.set(ts_out_, time);
        r.set(statistic_out_, statistic);
        r.set(value_out_, value);
        r.set(threshold_out_, threshold);
        if (before) {
            r.set(before_out_, *before);
            r.set(after_out_, *after);
        }
        if (segment) {
            r.set(segment_out_, *segment);
        }
        r.set(reseeded_out_, reseeded);
        r.set(generation_out_, load(model_.get().generation));
    }

    // Configuration.
    int32_t k_;
    int64_t seed_points_;
    kmeans::Learning learning_;
    uint64_t seed_;
    std::string key_name_;
    int64_t every_ms_;
    int64_t sample_size_;
    bool reseed_;
    std::string field_name_;
    std::vector<std::string> field_names_;
    int32_t dims_ = 0;
    AdwinParams adwin_;
    std::optional<double> max_shift_;
    std::optional<double> min_silhouette_;

    KeyedValue<int64_t> segments_{"segments"};
    Shared<KmeansModel> model_{"model"};
    Global<KmeansMonitor> monitor_{"monitor"};
    int shard_ = 0;

    FieldId field_ = kInvalidField;
    std::vector<FieldId> field_ids_;
    FieldId ts_out_ = kInvalidField;
    FieldId key_out_ = kInvalidField;
    FieldId segment_out_ = kInvalidField;
    FieldId previous_out_ = kInvalidField;
    FieldId distance_out_ = kInvalidField;
    FieldId centroid_out_ = kInvalidField;
    FieldId size_out_ = kInvalidField;
    FieldId sse_out_ = kInvalidField;
    FieldId points_out_ = kInvalidField;
    FieldId inertia_out_ = kInvalidField;
    FieldId silhouette_out_ = kInvalidField;
    FieldId shift_out_ = kInvalidField;
    FieldId generation_out_ = kInvalidField;
    FieldId statistic_out_ = kInvalidField;
    FieldId value_out_ = kInvalidField;
    FieldId threshold_out_ = kInvalidField;
    FieldId before_out_ = kInvalidField;
    FieldId after_out_ = kInvalidField;
    FieldId reseeded_out_ = kInvalidField;
    OutputId model_output_ = kMainOutput;
    OutputId drift_output_ = kMainOutput;

    std::vector<float> x_;          // scratch: the point read from `fields`
    std::vector<double> w_;         // scratch: distance weight per dimension
    std::vector<float> centroids_;  // scratch: a snapshot's centroids
};

std::string check_config(const Config& cfg) {
    if (cfg.has("field") == cfg.has("fields")) {
        return "set exactly one of `field` (a vector field such as the profile's `features`) "
               "and `fields` (a list of numeric fields)";
    }
    if (cfg.has("fields")) {
        std::vector<std::string> fields = cfg.strings("fields");
        if (fields.empty()) {
            return "`fields` is empty; list at least one numeric field";
        }
        std::vector<std::string> sorted = fields;
        std::sort(sorted.begin(), sorted.end());
        if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
            return "`fields` lists `" + *dup + "` twice; list each field once";
        }
        if (cfg.has("dimensions") &&
            cfg.integer("dimensions") != static_cast<int64_t>(fields.size())) {
            return "`dimensions` is " + std::to_string(cfg.integer("dimensions")) +
                   " but `fields` "
                   "lists " +
                   std::to_string(fields.size()) + " fields; drop `dimensions`";
        }
    }
    if (cfg.integer("seed_points") < cfg.integer("k")) {
        return "`seed_points` (" + std::to_string(cfg.integer("seed_points")) +
               ") must be at least `k` (" + std::to_string(cfg.integer("k")) +
               "): seeding picks the k centroids among the first seed_points points";
    }
    if (cfg.number("decay") <= 0) {
        return "`decay` must be above 0 (1 keeps every point's weight; 0.999 forgets)";
    }
    if (cfg.number("drift_delta") <= 0 || cfg.number("drift_delta") >= 1) {
        return "`drift_delta` must be between 0 and 1 (exclusive), such as 0.0001";
    }
    return "";
}

}  // namespace

ComponentSpec kmeans_spec() {
    return OperatorSpec("kmeans")
        .summary(
            "Online k-means over a numeric vector: one model shared by every shard, segment "
            "changes per key, periodic model snapshots and drift alerts.")
        .description(
            "Learns k centroids from a stream of points: the vector field `field` (such as the "
            "`profile` operator's `features`) or the numeric fields `fields`. One model serves "
            "the whole operator (shared state): every shard assigns and learns into it at once "
            "through relaxed atomics, without locks (Hogwild!-style); with parallelism 1 a run "
            "is deterministic for a given `seed`.\n\n"
            "Seeding: the first `seed_points` points are buffered, then k-means++ with Lloyd "
            "iterations runs `seed_inits` times on the buffer and the best run (lowest "
            "inertia) gives the centroids and their sizes. Buffered points emit nothing.\n\n"
            "Learning: each later point goes to the nearest centroid c, whose decayed count "
            "becomes n = decay * n + 1 and which moves by (x - c) / n (MacQueen's rule; with "
            "`decay` below 1 the step never falls under 1 - decay, so the model follows "
            "behaviour that changes). With `standardize`, distances weigh each dimension by "
            "1 / its running variance, which is the Euclidean distance between standardized "
            "points; centroids stay in input units.\n\n"
            "Main output: `{ts, <key_field>, segment, previous_segment, distance}` when a key's "
            "nearest centroid changes (its first assignment included), with `distance` the "
            "standardized distance to the centroid before it moved.\n\n"
            "`model` output: every `snapshot_every` of event time (on the watermark, shard 0) "
            "and once at the end, one record per centroid: `{ts, segment, centroid, size, sse, "
            "points, inertia, silhouette, shift, generation}`; `size` and `sse` are the "
            "decayed count and decayed sum of squared distances of the centroid's points, "
            "`inertia` their sum over centroids, `silhouette` the mean silhouette of a "
            "reservoir sample (`sample_size`) of the points since the last snapshot, `shift` "
            "the standardized distance the centroid moved since the last snapshot.\n\n"
            "`drift` output: `{ts, statistic, value, threshold, ...}` when ADWIN finds that the "
            "mean distance to the assigned centroid rose (`distance_mean`, with `before` and "
            "`after` means), a centroid moved more than `max_centroid_shift` in one interval "
            "(`centroid_shift`), or the silhouette fell below `min_silhouette` "
            "(`silhouette`). With `reseed_on_drift` the alert also starts a new seeding "
            "(`reseeded: true`). A point that is missing, not numeric, of the wrong length or "
            "not finite goes to `errors` with the reason.")
        .keyed(KeyMode::kRequired)
        .param(Param::string("field")
                   .doc("The vector field to cluster (a list of numbers in JSON). Set this or "
                        "`fields`.")
                   .example("features"))
        .param(Param::list("fields")
                   .doc("Numeric fields that form the point, in order. Set this or `field`.")
                   .example("[dwell_avg, scroll_avg, frequency]"))
        .param(Param::integer("k").default_value(8).min(1).max(4096).doc("Number of clusters."))
        .param(Param::integer("dimensions")
                   .min(1)
                   .max(1 << 20)
                   .doc("The vectors' length; points of another length go to `errors`. Default: "
                        "the length of the first point (or of `fields`)."))
        .param(Param::integer("seed_points")
                   .default_value(256)
                   .min(1)
                   .max(1 << 20)
                   .doc("Points buffered before seeding; at least `k`."))
        .param(Param::integer("seed_inits")
                   .default_value(3)
                   .min(1)
                   .max(100)
                   .doc("k-means++ and Lloyd runs on the seed buffer; the lowest inertia wins."))
        .param(Param::number("decay").default_value(1.0).min(0).max(1).doc(
            "Per point, a centroid's count n becomes decay * n + 1 and the step is "
            "1 / n. 1: plain running means; below 1 old points fade (the step "
            "stays above 1 - decay, about the last 1 / (1 - decay) points of each "
            "centroid count)."))
        .param(Param::boolean("standardize")
                   .default_value(true)
                   .doc("Weigh each dimension by 1 / its running variance (z-scores)."))
        .param(Param::integer("seed").default_value(42).min(0).doc(
            "Seed of k-means++ and the reservoir sample."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("Name of the output field that holds the key."))
        .param(Param::duration("snapshot_every")
                   .default_value("1m")
                   .min(1)
                   .doc("Event time between `model` snapshots (aligned to multiples of it)."))
        .param(Param::integer("sample_size")
                   .default_value(256)
                   .min(0)
                   .max(100000)
                   .doc("Reservoir sample of points per snapshot interval for the silhouette "
                        "(O(sample_size^2) per snapshot); 0 turns it off."))
        .param(Param::number("drift_delta")
                   .default_value(0.0001)
                   .doc("ADWIN confidence for the `distance_mean` alert: smaller means fewer "
                        "false alarms and later detection."))
        .param(Param::integer("drift_check_every")
                   .default_value(4)
                   .min(1)
                   .max(1024)
                   .doc("ADWIN looks for a change after every this many points (per shard)."))
        .param(Param::number("max_centroid_shift")
                   .min(0)
                   .doc("Alert `centroid_shift` when a centroid moves more than this "
                        "(standardized distance) between two snapshots. Default: no alert."))
        .param(Param::number("min_silhouette")
                   .min(-1)
                   .max(1)
                   .doc("Alert `silhouette` when a snapshot's silhouette estimate is below "
                        "this. Default: no alert."))
        .param(Param::boolean("reseed_on_drift")
                   .default_value(false)
                   .doc("On a drift alert, forget the centroids and seed again from the next "
                        "`seed_points` points."))
        .output("model", "One record per centroid every `snapshot_every` and at the end.")
        .output("drift", "Drift alerts: the statistic that fired, its value and threshold.")
        .keyed_state<int64_t>("segments", "Per key: its current segment (centroid index).")
        .shared_state<KmeansModel>(
            "model",
            "The centroids, their decayed counts and squared distances, the running mean and "
            "variance, the seed buffer and the seeding generator: one for all shards.")
        .global_state<KmeansMonitor>(
            "monitor", "Per instance: the ADWIN window of distances and the reservoir sample.")
        .rule(check_config)
        .example("Segments from behavioural profiles", R"(operators:
  profiles: {type: profile, input: clicks, key: user_id, emit_every: 10m}
  segments:
    type: kmeans
    input: profiles
    key: user_id
    field: features
    k: 4
    snapshot_every: 1h
)")
        .example("Re-seed when behaviour drifts", R"(operators:
  profiles: {type: profile, input: clicks, key: user_id}
  segments:
    type: kmeans
    input: profiles
    key: user_id
    fields: [dwell_avg, scroll_avg, frequency]
    k: 3
    decay: 0.999
    max_centroid_shift: 1.5
    reseed_on_drift: true
)")
        .factory(make_component<Operator, Kmeans>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(kmeans) {
    return eddy::kmeans_spec();
}
