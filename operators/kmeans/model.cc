// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <tuple>

#include "kmeans/kmeans.h"

namespace eddy {
namespace {

void write_doubles(const std::vector<double>& v, StateWriter& w) {
    w.varint(v.size());
    for (double d : v) {
        w.f64(d);
    }
}

bool read_doubles(StateReader& r, std::vector<double>& v) {
    uint64_t n = 0;
    if (!r.varint(n) || n > (1u << 24)) {
        return false;
    }
    v.assign(n, 0);
    for (double& d : v) {
        r.f64(d);
    }
    return r.ok();
}

const char* phase_name(int32_t phase) {
    switch (static_cast<kmeans::Phase>(phase)) {
        case kmeans::Phase::kEmpty:
            return "empty";
        case kmeans::Phase::kAllocating:
            return "allocating";
        case kmeans::Phase::kBuffering:
            return "buffering";
        case kmeans::Phase::kSeeding:
            return "seeding";
        case kmeans::Phase::kReady:
            return "ready";
    }
    return "unknown";
}

void rows_json(JsonWriter& j, const std::vector<float>& v, size_t d) {
    j.begin_array();
    for (size_t r = 0; d > 0 && r < v.size() / d; ++r) {
        j.begin_array();
        for (size_t i = 0; i < d; ++i) {
            j.value(static_cast<double>(v[r * d + i]));
        }
        j.end_array();
    }
    j.end_array();
}

void doubles_json(JsonWriter& j, const std::vector<double>& v) {
    j.begin_array();
    for (double d : v) {
        j.value(d);
    }
    j.end_array();
}

}  // namespace

void Codec<KmeansModel>::encode(const KmeansModel& m, StateWriter& w) {
    w.i64(m.k);
    w.i64(m.dims);
    w.i64(m.phase);
    w.varint(m.rng);
    for (int64_t v : {m.generation, m.points, m.waited, m.buffered, m.filled, m.last_snapshot,
                      m.max_time, m.previous_generation}) {
        w.i64(v);
    }
    w.f64(m.stats_n);
    write_doubles(m.mean, w);
    write_doubles(m.m2, w);
    w.floats(m.buffer);
    w.floats(m.centroids);
    write_doubles(m.counts, w);
    write_doubles(m.sse, w);
    w.floats(m.previous);
}

bool Codec<KmeansModel>::decode(StateReader& r, uint8_t, KmeansModel& m) {
    int64_t k = 0;
    int64_t dims = 0;
    int64_t phase = 0;
    if (!r.i64(k) || !r.i64(dims) || !r.i64(phase) || !r.varint(m.rng) || k < 0 || k > 100000 ||
        dims < 0 || dims > (1 << 20) || phase < 0 || phase > 4) {
        return false;
    }
    m.k = static_cast<int32_t>(k);
    m.dims = static_cast<int32_t>(dims);
    m.phase = static_cast<int32_t>(phase);
    for (int64_t* v : {&m.generation, &m.points, &m.waited, &m.buffered, &m.filled,
                       &m.last_snapshot, &m.max_time, &m.previous_generation}) {
        r.i64(*v);
    }
    r.f64(m.stats_n);
    if (!read_doubles(r, m.mean) || !read_doubles(r, m.m2) || !r.floats(m.buffer) ||
        !r.floats(m.centroids) || !read_doubles(r, m.counts) || !read_doubles(r, m.sse) ||
        !r.floats(m.previous)) {
        return false;
    }
    const auto d = static_cast<size_t>(m.dims);
    const auto kk = static_cast<size_t>(m.k);
    const auto p = static_cast<kmeans::Phase>(m.phase);
    // A checkpoint is taken while no shard runs: never amid sizing or seeding,
    // and a buffering model has a free slot. A value that says otherwise
    // would make every shard wait for a seeding that no shard runs.
    if (p == kmeans::Phase::kAllocating || p == kmeans::Phase::kSeeding) {
        return false;
    }
    if (p >= kmeans::Phase::kBuffering) {
        const bool shaped = m.mean.size() == d && m.m2.size() == d &&
                            m.centroids.size() == kk * d && m.counts.size() == kk &&
                            m.sse.size() == kk && d > 0 && m.buffer.size() % d == 0 &&
                            m.previous.size() == kk * d;
        return shaped && (p == kmeans::Phase::kReady ||
                          m.buffered < static_cast<int64_t>(m.buffer.size() / d));
    }
    return true;
}

void Codec<KmeansModel>::to_json(const KmeansModel& m, JsonWriter& j) {
    const auto d = static_cast<size_t>(m.dims);
    j.begin_object()
        .field("k", m.k)
        .field("dims", m.dims)
        .field("phase", phase_name(m.phase))
        .field("generation", m.generation)
        .field("points", m.points)
        .field("waited", m.waited)
        .field("buffered", std::min<int64_t>(m.buffered, d > 0 ? m.buffer.size() / d : 0))
        .key("centroids");
    rows_json(j, m.centroids, d);
    j.key("counts");
    doubles_json(j, m.counts);
    j.key("sse");
    doubles_json(j, m.sse);
    j.key("mean");
    doubles_json(j, m.mean);
    std::vector<double> variance(m.m2.size());
    for (size_t i = 0; i < variance.size(); ++i) {
        variance[i] = m.stats_n > 0 ? m.m2[i] / m.stats_n : 0;
    }
    j.key("variance");
    doubles_json(j, variance);
    j.key("last_snapshot");
    if (m.last_snapshot == kmeans::kNoTime) {
        j.value(nullptr);
    } else {
        j.value(m.last_snapshot);
    }
    j.end_object();
}

void Codec<KmeansMonitor>::encode(const KmeansMonitor& m, StateWriter& w) {
    Codec<Adwin>::encode(m.adwin, w);
    w.i64(m.generation);
    w.varint(m.rng);
    w.i64(m.seen);
    w.i64(m.dims);
    w.floats(m.sample);
}

bool Codec<KmeansMonitor>::decode(StateReader& r, uint8_t version, KmeansMonitor& m) {
    int64_t dims = 0;
    if (!Codec<Adwin>::decode(r, version, m.adwin) || !r.i64(m.generation) || !r.varint(m.rng) ||
        !r.i64(m.seen) || !r.i64(dims) || dims < 0 || dims > (1 << 20) || !r.floats(m.sample)) {
        return false;
    }
    m.dims = static_cast<int32_t>(dims);
    return r.ok();
}

void Codec<KmeansMonitor>::to_json(const KmeansMonitor& m, JsonWriter& j) {
    j.begin_object().key("adwin");
    Codec<Adwin>::to_json(m.adwin, j);
    j.field("generation", m.generation)
        .field("seen", m.seen)
        .field("sample", static_cast<int64_t>(m.dims > 0 ? m.sample.size() / m.dims : 0))
        .end_object();
}

namespace kmeans {
namespace {

// Below this population variance a dimension counts as constant (weight 1).
constexpr double kTinyVariance = 1e-12;

// The size of the seed buffer in points (fixed once the model is prepared).
int64_t seed_slots(const KmeansModel& m) {
    return m.dims > 0 ? static_cast<int64_t>(m.buffer.size() / static_cast<size_t>(m.dims)) : 0;
}

void seed(KmeansModel& m, int inits, bool standardized) {
    const auto d = static_cast<size_t>(m.dims);
    const auto k = static_cast<size_t>(m.k);
    const size_t n = m.buffer.size() / d;
    std::vector<double> w(d, 1.0);
    if (standardized) {
        weights(m, w.data());
    }
    Points points{m.buffer.data(), n, d, w.data()};
    Rng rng{m.rng};
    Clustering c = best_of(points, std::min(k, n), inits, rng);
    m.rng = rng.state;
    for (size_t i = 0; i < k * d; ++i) {
        store(m.centroids[i], i < c.centroids.size() ? c.centroids[i] : c.centroids[i % d]);
    }
    for (size_t j = 0; j < k; ++j) {
        store(m.counts[j], j < c.sizes.size() ? c.sizes[j] : 0.0);
        store(m.sse[j], j < c.sse.size() ? c.sse[j] : 0.0);
    }
    store(m.points, static_cast<int64_t>(n));
    store(m.generation, load(m.generation) + 1);
    m.set_phase(Phase::kReady);
}

}  // namespace

bool prepare(KmeansModel& m, int32_t k, int32_t dims, int64_t seed_points, uint64_t seed) {
    int32_t expected = static_cast<int32_t>(Phase::kEmpty);
    if (std::atomic_ref<int32_t>(m.phase).compare_exchange_strong(
            expected, static_cast<int32_t>(Phase::kAllocating), std::memory_order_acq_rel)) {
        const auto d = static_cast<size_t>(dims);
        m.k = k;
        m.dims = dims;
        m.rng = seed;
        m.mean.assign(d, 0);
        m.m2.assign(d, 0);
        m.buffer.assign(static_cast<size_t>(seed_points) * d, 0);
        m.centroids.assign(static_cast<size_t>(k) * d, 0);
        m.counts.assign(static_cast<size_t>(k), 0);
        m.sse.assign(static_cast<size_t>(k), 0);
        m.previous.assign(static_cast<size_t>(k) * d, 0);
        m.previous_generation = -1;
        m.set_phase(Phase::kBuffering);
    }
    while (m.current_phase() == Phase::kAllocating) {
        std::this_thread::yield();
    }
    return m.dims == dims && m.k == k;
}

void standardize(KmeansModel& m, std::span<const float> x, double* w) {
    const double n = load(m.stats_n) + 1;
    store(m.stats_n, n);
    for (size_t i = 0; i < x.size(); ++i) {
        double mean = load(m.mean[i]);
        const double delta = x[i] - mean;
        mean += delta / n;
        store(m.mean[i], mean);
        const double m2 = load(m.m2[i]) + delta * (x[i] - mean);
        store(m.m2[i], m2);
        w[i] = m2 > kTinyVariance * n ? n / m2 : 1.0;
    }
}

void weights(const KmeansModel& m, double* w) {
    const double n = load(m.stats_n);
    for (size_t i = 0; i < m.m2.size(); ++i) {
        const double m2 = load(m.m2[i]);
        w[i] = n > 0 && m2 > kTinyVariance * n ? n / m2 : 1.0;
    }
}

bool buffer(KmeansModel& m, std::span<const float> x, int inits, bool standardized) {
    const auto d = static_cast<size_t>(m.dims);
    const int64_t slots = seed_slots(m);
    const int64_t slot =
        std::atomic_ref<int64_t>(m.buffered).fetch_add(1, std::memory_order_relaxed);
    if (slot >= slots) {
        return false;
    }
    float* row = m.buffer.data() + static_cast<size_t>(slot) * d;
    for (size_t i = 0; i < d; ++i) {
        store(row[i], x[i]);
    }
    // The shard that writes the last slot seeds: every other write is done.
    if (std::atomic_ref<int64_t>(m.filled).fetch_add(1, std::memory_order_acq_rel) + 1 == slots) {
        m.set_phase(Phase::kSeeding);
        seed(m, inits, standardized);
    }
    return true;
}

std::optional<Assignment> add(KmeansModel& m, std::span<const float> x, double* w,
                              const Learning& how) {
    if (how.standardize) {
        standardize(m, x, w);
    }
    bool waiting = false;
    for (;;) {
        const Phase phase = m.current_phase();
        if (phase == Phase::kReady) {
            return learn(m, x, w, how.decay);
        }
        if (phase == Phase::kEmpty) {
            return std::nullopt;  // prepare() was not called: no model to learn into
        }
        // While the buffer has free slots, buffer; once it is full, the shards
        // that hold its last slots are writing them and one of them seeds
        // (kSeeding), within their current call: wait for the seeds.
        if (phase == Phase::kBuffering && load(m.buffered) < seed_slots(m)) {
            if (buffer(m, x, how.inits, how.standardize)) {
                return std::nullopt;
            }
            continue;
        }
        if (!waiting) {
            waiting = true;
            std::atomic_ref<int64_t>(m.waited).fetch_add(1, std::memory_order_relaxed);
        }
        std::this_thread::yield();
    }
}

Assignment nearest(const KmeansModel& m, std::span<const float> x, const double* w) {
    const size_t d = x.size();
    const auto k = static_cast<size_t>(m.k);
    const float* c = m.centroids.data();
    Assignment best{0, std::numeric_limits<double>::infinity()};
    for (size_t j = 0; j < k; ++j, c += d) {
        double s = 0;
        for (size_t i = 0; i < d; ++i) {
            const double diff = static_cast<double>(x[i]) - load(c[i]);
            s += w[i] * diff * diff;
        }
        if (s < best.distance2) {
            best = {static_cast<int32_t>(j), s};
        }
    }
    return best;
}

Assignment learn(KmeansModel& m, std::span<const float> x, const double* w, double decay) {
    const Assignment a = nearest(m, x, w);
    const auto j = static_cast<size_t>(a.segment);
    const double n = decay * load(m.counts[j]) + 1;
    store(m.counts[j], n);
    store(m.sse[j], decay * load(m.sse[j]) + a.distance2);
    const auto eta = static_cast<float>(1 / n);
    float* c = m.centroids.data() + j * x.size();
    for (size_t i = 0; i < x.size(); ++i) {
        const float v = load(c[i]);
        store(c[i], v + eta * (x[i] - v));
    }
    std::atomic_ref<int64_t>(m.points).fetch_add(1, std::memory_order_relaxed);
    return a;
}

bool restart(KmeansModel& m) {
    int32_t expected = static_cast<int32_t>(Phase::kReady);
    if (!std::atomic_ref<int32_t>(m.phase).compare_exchange_strong(
            expected, static_cast<int32_t>(Phase::kSeeding), std::memory_order_acq_rel)) {
        return false;
    }
    store(m.buffered, int64_t{0});
    store(m.filled, int64_t{0});
    store(m.stats_n, 0.0);
    for (size_t i = 0; i < m.mean.size(); ++i) {
        store(m.mean[i], 0.0);
        store(m.m2[i], 0.0);
    }
    m.set_phase(Phase::kBuffering);
    return true;
}

}  // namespace kmeans

namespace {

/// A model still collecting its seed points takes over `peer` and learns
/// the points it had buffered.
void adopt(KmeansModel& own, const KmeansModel& peer) {
    std::vector<float> pending;
    if (own.current_phase() == kmeans::Phase::kBuffering && own.dims > 0) {
        const auto d = static_cast<size_t>(own.dims);
        const auto rows = static_cast<size_t>(
            std::clamp<int64_t>(own.filled, 0, static_cast<int64_t>(own.buffer.size() / d)));
        pending.assign(own.buffer.begin(), own.buffer.begin() + static_cast<ptrdiff_t>(rows * d));
    }
    const uint64_t rng = own.rng;
    const int64_t last_snapshot = own.last_snapshot;
    const int64_t max_time = own.max_time;
    own = peer;
    own.rng = rng;
    own.last_snapshot = last_snapshot;
    own.max_time = std::max(max_time, peer.max_time);
    own.waited = 0;
    own.previous = own.centroids;
    own.previous_generation = -1;
    const auto d = static_cast<size_t>(own.dims);
    std::vector<double> w(d);
    kmeans::weights(own, w.data());
    for (size_t at = 0; at + d <= pending.size(); at += d) {
        kmeans::learn(own, std::span<const float>(pending.data() + at, d), w.data(), 1.0);
    }
}

}  // namespace

void Merge<KmeansModel>::merge(KmeansModel& own, std::span<const KmeansModel* const> peers) {
    const kmeans::Phase phase = own.current_phase();
    std::vector<const KmeansModel*> ready;
    for (const KmeansModel* p : peers) {
        const bool same_shape =
            (own.k == 0 || p->k == own.k) && (own.dims == 0 || p->dims == own.dims);
        if (p->current_phase() == kmeans::Phase::kReady && p->dims > 0 && same_shape) {
            ready.push_back(p);
        }
    }
    if (ready.empty()) {
        return;
    }
    // A model that never seeded takes a ready one over; one re-seeding after
    // drift seeds from its own points, as it found the old model stale.
    if ((phase == kmeans::Phase::kEmpty || phase == kmeans::Phase::kBuffering) &&
        own.generation == 0) {
        adopt(own, **std::max_element(ready.begin(), ready.end(),
                                      [](const KmeansModel* a, const KmeansModel* b) {
                                          return a->points < b->points;
                                      }));
        return;
    }
    if (phase != kmeans::Phase::kReady) {
        return;
    }
    const auto d = static_cast<size_t>(own.dims);
    const auto k = static_cast<size_t>(own.k);
    std::vector<double> w(d);
    kmeans::weights(own, w.data());
    std::vector<double> sum(k * d);
    std::vector<double> weight(own.counts);
    for (size_t j = 0; j < k; ++j) {
        for (size_t i = 0; i < d; ++i) {
            sum[j * d + i] = own.counts[j] * own.centroids[j * d + i];
        }
    }
    std::vector<std::tuple<double, size_t, size_t>> pairs;
    std::vector<char> own_taken(k);
    std::vector<char> peer_taken(k);
    for (const KmeansModel* p : ready) {
        pairs.clear();
        for (size_t a = 0; a < k; ++a) {
            for (size_t b = 0; b < k; ++b) {
                double s = 0;
                for (size_t i = 0; i < d; ++i) {
                    const double diff = static_cast<double>(own.centroids[a * d + i]) -
                                        static_cast<double>(p->centroids[b * d + i]);
                    s += w[i] * diff * diff;
                }
                pairs.emplace_back(s, a, b);
            }
        }
        std::sort(pairs.begin(), pairs.end());
        std::fill(own_taken.begin(), own_taken.end(), 0);
        std::fill(peer_taken.begin(), peer_taken.end(), 0);
        for (const auto& [distance2, a, b] : pairs) {
            if (own_taken[a] != 0 || peer_taken[b] != 0) {
                continue;
            }
            own_taken[a] = 1;
            peer_taken[b] = 1;
            const double n = p->counts[b];
            weight[a] += n;
            for (size_t i = 0; i < d; ++i) {
                sum[a * d + i] += n * p->centroids[b * d + i];
            }
        }
    }
    for (size_t j = 0; j < k; ++j) {
        if (weight[j] > 0) {
            for (size_t i = 0; i < d; ++i) {
                own.centroids[j * d + i] = static_cast<float>(sum[j * d + i] / weight[j]);
            }
        }
    }
}

}  // namespace eddy
