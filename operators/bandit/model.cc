// SPDX-License-Identifier: Apache-2.0
// The bandit's shared arm statistics, the policies' arithmetic and the codecs.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bandit/bandit.h"
#include "common/recommend.h"

namespace eddy {

struct BanditModel::Impl {
    ItemIndex segments;  // segment 0 is "" (no `segment_field`)
    std::array<std::atomic<SegmentStats*>, kMaxSegments> stats{};
    int64_t decisions = 0;  // atomic_ref
    std::atomic<int> closed{0};
    // By segment: what the last merge added from other processes (their own
    // parts); null where it added nothing. Only while no shard runs.
    std::vector<std::unique_ptr<SegmentStats>> merged;

    ~Impl() {
        for (auto& s : stats) {
            delete s.load(std::memory_order_relaxed);
        }
    }
};

BanditModel::BanditModel() : impl_(std::make_unique<Impl>()) {}
BanditModel::~BanditModel() = default;
BanditModel::BanditModel(BanditModel&& other) noexcept : impl_(std::move(other.impl_)) {
    other.impl_ = std::make_unique<Impl>();
}
BanditModel& BanditModel::operator=(BanditModel&& other) noexcept {
    std::swap(impl_, other.impl_);
    return *this;
}

uint32_t BanditModel::segment(std::string_view id, size_t arms) {
    if (uint32_t s = impl_->segments.find(id); s != ItemIndex::kNone) {
        return s < kMaxSegments ? s : kNoSegment;
    }
    if (impl_->segments.size() >= kMaxSegments) {
        return kNoSegment;
    }
    bool created = false;
    uint32_t s = impl_->segments.intern(id, created, [this, arms](uint32_t i) {
        if (i < kMaxSegments) {
            impl_->stats[i].store(new SegmentStats(arms), std::memory_order_release);
        }
    });
    return s < kMaxSegments ? s : kNoSegment;
}

SegmentStats* BanditModel::stats(uint32_t s) const {
    return s < kMaxSegments ? impl_->stats[s].load(std::memory_order_acquire) : nullptr;
}

uint32_t BanditModel::segments() const {
    return std::min(impl_->segments.size(), kMaxSegments);
}

std::string_view BanditModel::segment_id(uint32_t s) const {
    return impl_->segments.id(s);
}

namespace {

template <class T>
void add(T& v, T x) {
    std::atomic_ref<T>(v).fetch_add(x, std::memory_order_relaxed);
}

}  // namespace

void BanditModel::view(const SegmentStats& s, std::span<ArmView> out) {
    for (size_t a = 0; a < out.size(); ++a) {
        const ArmStats& arm = s.arms[a];
        int64_t resolved = relaxed_load(arm.resolved);
        double rewards = relaxed_load(arm.rewards);
        out[a] = {relaxed_load(arm.pulls), resolved,
                  resolved > 0 ? rewards / static_cast<double>(resolved) : 0.0,
                  std::min(relaxed_load(arm.successes), static_cast<double>(resolved))};
    }
}

void BanditModel::count_decision(SegmentStats& s, size_t arm) {
    add<int64_t>(s.arms[arm].pulls, 1);
    add<int64_t>(s.decisions, 1);
}

void BanditModel::resolve(SegmentStats& s, size_t arm, double reward, double propensity,
                          const std::array<double, kPolicies>& targets) {
    ArmStats& a = s.arms[arm];
    add(a.rewards, reward);
    add(a.successes, std::clamp(reward, 0.0, 1.0));
    add<int64_t>(a.resolved, 1);
    add<int64_t>(s.resolved, 1);
    for (size_t p = 0; p < kPolicies; ++p) {
        double w = targets[p] / propensity;
        add(s.values[p].weighted_rewards, w * reward);
        add(s.values[p].weights, w);
        add<int64_t>(s.values[p].decisions, 1);
    }
}

int64_t BanditModel::add_decision() {
    return std::atomic_ref<int64_t>(impl_->decisions).fetch_add(1, std::memory_order_relaxed) + 1;
}

int BanditModel::close_shard() {
    return impl_->closed.fetch_add(1, std::memory_order_acq_rel) + 1;
}

namespace {

void write_stats(const SegmentStats& s, StateWriter& w) {
    w.varint(s.arms.size());
    w.i64(s.decisions);
    w.i64(s.resolved);
    for (const ArmStats& a : s.arms) {
        w.i64(a.pulls);
        w.i64(a.resolved);
        w.f64(a.rewards);
        w.f64(a.successes);
    }
    for (const PolicyValue& v : s.values) {
        w.f64(v.weighted_rewards);
        w.f64(v.weights);
        w.i64(v.decisions);
    }
}

std::unique_ptr<SegmentStats> read_stats(StateReader& r) {
    uint64_t arms = 0;
    if (!r.varint(arms) || arms > 1024) {
        return nullptr;
    }
    auto s = std::make_unique<SegmentStats>(arms);
    r.i64(s->decisions);
    r.i64(s->resolved);
    for (ArmStats& a : s->arms) {
        r.i64(a.pulls);
        r.i64(a.resolved);
        r.f64(a.rewards);
        r.f64(a.successes);
    }
    for (PolicyValue& v : s->values) {
        r.f64(v.weighted_rewards);
        r.f64(v.weights);
        r.i64(v.decisions);
    }
    return r.ok() ? std::move(s) : nullptr;
}

/// to += sign * from, arm by arm (same arm count); while no shard runs.
void accumulate(SegmentStats& to, const SegmentStats& from, int sign) {
    to.decisions += sign * from.decisions;
    to.resolved += sign * from.resolved;
    for (size_t a = 0; a < to.arms.size(); ++a) {
        to.arms[a].pulls += sign * from.arms[a].pulls;
        to.arms[a].resolved += sign * from.arms[a].resolved;
        to.arms[a].rewards += sign * from.arms[a].rewards;
        to.arms[a].successes += sign * from.arms[a].successes;
    }
    for (size_t p = 0; p < kPolicies; ++p) {
        to.values[p].weighted_rewards += sign * from.values[p].weighted_rewards;
        to.values[p].weights += sign * from.values[p].weights;
        to.values[p].decisions += sign * from.values[p].decisions;
    }
}

}  // namespace

// Layout: decisions, segment ids, then per segment its arm count, counts,
// arms and policy sums; since version 2, the merged parts: their count,
// then each one's segment and statistics.
void BanditModel::encode(StateWriter& w) const {
    w.i64(impl_->decisions);
    impl_->segments.encode(w);
    for (uint32_t g = 0; g < segments(); ++g) {
        write_stats(*stats(g), w);
    }
    uint64_t merged = 0;
    for (const auto& m : impl_->merged) {
        merged += m != nullptr ? 1 : 0;
    }
    w.varint(merged);
    for (uint32_t g = 0; g < impl_->merged.size(); ++g) {
        if (impl_->merged[g] != nullptr) {
            w.varint(g);
            write_stats(*impl_->merged[g], w);
        }
    }
}

bool BanditModel::decode(StateReader& r, uint8_t version) {
    auto fresh = std::make_unique<Impl>();
    r.i64(fresh->decisions);
    uint64_t n = 0;
    if (!r.varint(n) || n == 0 || n > kMaxSegments) {
        return false;
    }
    std::string id;
    for (uint64_t g = 0; g < n; ++g) {
        if (!r.str(id) || fresh->segments.find(id) != ItemIndex::kNone) {
            return false;
        }
        fresh->segments.add_restored(id);
    }
    for (uint64_t g = 0; g < n; ++g) {
        std::unique_ptr<SegmentStats> s = read_stats(r);
        if (s == nullptr) {
            return false;
        }
        fresh->stats[g].store(s.release(), std::memory_order_relaxed);
    }
    if (version >= 2) {
        uint64_t merged = 0;
        if (!r.varint(merged) || merged > n) {
            return false;
        }
        fresh->merged.resize(n);
        for (uint64_t i = 0; i < merged; ++i) {
            uint64_t g = 0;
            if (!r.varint(g) || g >= n) {
                return false;
            }
            fresh->merged[g] = read_stats(r);
            if (fresh->merged[g] == nullptr ||
                fresh->merged[g]->arms.size() != fresh->stats[g].load()->arms.size()) {
                return false;
            }
        }
    }
    impl_ = std::move(fresh);
    return r.ok();
}

void Merge<BanditModel>::merge(BanditModel& own, std::span<const BanditModel* const> peers) {
    BanditModel::Impl& impl = *own.impl_;
    // Out with what the last merge added; in with the peers' own parts.
    for (uint32_t g = 0; g < impl.merged.size(); ++g) {
        if (impl.merged[g] != nullptr) {
            accumulate(*own.stats(g), *impl.merged[g], -1);
        }
    }
    impl.merged.clear();
    // Segment 0 always exists, with the configured arms.
    const size_t arms = own.stats(0)->arms.size();
    for (const BanditModel* peer : peers) {
        for (uint32_t h = 0; h < peer->segments(); ++h) {
            const SegmentStats* theirs = peer->stats(h);
            if (theirs == nullptr || theirs->arms.size() != arms) {
                continue;  // another `arms` list
            }
            uint32_t g = own.segment(peer->segment_id(h), arms);
            SegmentStats* mine = own.stats(g);
            if (g == BanditModel::kNoSegment || mine == nullptr || mine->arms.size() != arms) {
                continue;
            }
            SegmentStats part = *theirs;
            const auto& theirs_merged = peer->impl_->merged;
            if (h < theirs_merged.size() && theirs_merged[h] != nullptr) {
                accumulate(part, *theirs_merged[h], -1);
            }
            if (impl.merged.size() <= g) {
                impl.merged.resize(g + 1);
            }
            if (impl.merged[g] == nullptr) {
                impl.merged[g] = std::make_unique<SegmentStats>(arms);
            }
            accumulate(*impl.merged[g], part, 1);
            accumulate(*mine, part, 1);
        }
    }
}

void BanditModel::to_json(JsonWriter& j) const {
    j.begin_object().field("decisions", impl_->decisions).key("segments").begin_array();
    for (uint32_t g = 0; g < segments(); ++g) {
        const SegmentStats& s = *stats(g);
        j.begin_object().key("segment");
        if (g == 0) {
            j.value(nullptr);
        } else {
            item_id_to_json(segment_id(g), j);
        }
        j.field("decisions", s.decisions).field("resolved", s.resolved).key("arms").begin_array();
        for (const ArmStats& a : s.arms) {
            j.begin_object()
                .field("pulls", a.pulls)
                .field("resolved", a.resolved)
                .field("rewards", a.rewards)
                .field("successes", a.successes)
                .end_object();
        }
        j.end_array().key("policies").begin_array();
        for (size_t p = 0; p < kPolicies; ++p) {
            const PolicyValue& v = s.values[p];
            j.begin_object()
                .field("policy", kPolicyNames[p])
                .field("weighted_rewards", v.weighted_rewards)
                .field("weights", v.weights)
                .field("decisions", v.decisions)
                .end_object();
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

void Codec<UserDecisions>::encode(const UserDecisions& u, StateWriter& w) {
    w.i64(u.next_seq);
    w.varint(u.pending.size());
    for (const PendingDecision& d : u.pending) {
        w.i64(d.seq);
        w.i64(d.time);
        w.varint(d.segment);
        w.varint(d.arm);
        w.f64(d.propensity);
        for (double t : d.targets) {
            w.f64(t);
        }
        w.f64(d.reward);
        w.u8(static_cast<uint8_t>((d.rewarded ? 1 : 0) | (d.applied ? 2 : 0)));
    }
}

bool Codec<UserDecisions>::decode(StateReader& r, uint8_t, UserDecisions& u) {
    uint64_t n = 0;
    if (!r.i64(u.next_seq) || !r.varint(n) || n > (1u << 20)) {
        return false;
    }
    u.pending.assign(n, PendingDecision{});
    for (PendingDecision& d : u.pending) {
        uint64_t segment = 0;
        uint64_t arm = 0;
        uint8_t flags = 0;
        r.i64(d.seq);
        r.i64(d.time);
        r.varint(segment);
        r.varint(arm);
        r.f64(d.propensity);
        for (double& t : d.targets) {
            r.f64(t);
        }
        r.f64(d.reward);
        r.u8(flags);
        d.segment = static_cast<uint32_t>(segment);
        d.arm = static_cast<uint32_t>(arm);
        d.rewarded = (flags & 1) != 0;
        d.applied = (flags & 2) != 0;
    }
    return r.ok();
}

void Codec<UserDecisions>::to_json(const UserDecisions& u, JsonWriter& j) {
    j.begin_object().field("next_seq", u.next_seq).key("pending").begin_array();
    for (const PendingDecision& d : u.pending) {
        j.begin_object()
            .field("seq", d.seq)
            .field("time", d.time)
            .field("segment", d.segment)
            .field("arm", d.arm)
            .field("propensity", d.propensity)
            .field("reward", d.reward)
            .field("rewarded", d.rewarded)
            .field("applied", d.applied)
            .end_object();
    }
    j.end_array().end_object();
}

void Codec<BanditShard>::encode(const BanditShard& s, StateWriter& w) {
    w.i64(s.last_time);
    w.varint(s.thompson.size());
    for (const ThompsonCache& c : s.thompson) {
        w.i64(c.resolved);
        w.varint(c.probabilities.size());
        for (double p : c.probabilities) {
            w.f64(p);
        }
    }
}

bool Codec<BanditShard>::decode(StateReader& r, uint8_t, BanditShard& s) {
    uint64_t n = 0;
    if (!r.i64(s.last_time) || !r.varint(n) || n > BanditModel::kMaxSegments) {
        return false;
    }
    s.thompson.assign(n, ThompsonCache{});
    for (ThompsonCache& c : s.thompson) {
        uint64_t k = 0;
        if (!r.i64(c.resolved) || !r.varint(k) || k > 1024) {
            return false;
        }
        c.probabilities.assign(k, 0.0);
        for (double& p : c.probabilities) {
            r.f64(p);
        }
    }
    return r.ok();
}

void Codec<BanditShard>::to_json(const BanditShard& s, JsonWriter& j) {
    j.begin_object().key("last_time");
    if (s.last_time == INT64_MIN) {
        j.value(nullptr);
    } else {
        j.value(s.last_time);
    }
    j.key("thompson").begin_array();
    for (const ThompsonCache& c : s.thompson) {
        j.begin_object().field("resolved", c.resolved).key("probabilities").begin_array();
        for (double p : c.probabilities) {
            j.value(p);
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
}

double decayed_epsilon(const PolicyParams& p, int64_t decisions) {
    double e = p.epsilon / (1 + p.epsilon_decay * static_cast<double>(decisions));
    return std::clamp(std::max(e, p.min_epsilon), 0.0, 1.0);
}

namespace {

/// An arm without resolved decisions (the fewest pulls first), or arms.size().
size_t untried_arm(std::span<const ArmView> arms) {
    size_t best = arms.size();
    for (size_t a = 0; a < arms.size(); ++a) {
        if (arms[a].resolved == 0 && (best == arms.size() || arms[a].pulls < arms[best].pulls)) {
            best = a;
        }
    }
    return best;
}

/// Uniform and standard normal draws from a counter hashed by mix64.
class Sampler {
public:
    explicit Sampler(uint64_t seed) : state_(seed) {}
    double uniform() { return unit_double(mix64(state_++)); }
    /// Marsaglia's polar method: two normals per accepted pair, no cos.
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        for (;;) {
            double u = 2 * uniform() - 1;
            double v = 2 * uniform() - 1;
            double s = u * u + v * v;
            if (s > 0 && s < 1) {
                double f = std::sqrt(-2 * std::log(s) / s);
                spare_ = v * f;
                has_spare_ = true;
                return u * f;
            }
        }
    }
    /// A Gamma(shape, 1) draw (Marsaglia and Tsang; shape < 1 by boosting).
    double gamma(double shape) {
        double boost = 1;
        if (shape < 1) {
            boost = std::pow(std::max(uniform(), 1e-300), 1 / shape);
            shape += 1;
        }
        const double d = shape - 1.0 / 3;
        const double c = 1 / std::sqrt(9 * d);
        for (;;) {
            double x = normal();
            double v = 1 + c * x;
            if (v <= 0) {
                continue;
            }
            v = v * v * v;
            double u = uniform();
            if (u < 1 - 0.0331 * x * x * x * x ||
                std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + std::log(v))) {
                return d * v * boost;
            }
        }
    }

private:
    uint64_t state_;
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace

size_t greedy_arm(std::span<const ArmView> arms) {
    if (size_t a = untried_arm(arms); a < arms.size()) {
        return a;
    }
    size_t best = 0;
    for (size_t a = 1; a < arms.size(); ++a) {
        if (arms[a].mean > arms[best].mean) {
            best = a;
        }
    }
    return best;
}

size_t ucb1_arm(std::span<const ArmView> arms, double c) {
    if (size_t a = untried_arm(arms); a < arms.size()) {
        return a;
    }
    int64_t n = 0;
    for (const ArmView& a : arms) {
        n += a.resolved;
    }
    const double log_n = std::log(static_cast<double>(n));
    size_t best = 0;
    double best_index = -std::numeric_limits<double>::infinity();
    for (size_t a = 0; a < arms.size(); ++a) {
        double index = arms[a].mean + std::sqrt(c * log_n / static_cast<double>(arms[a].resolved));
        if (index > best_index) {
            best_index = index;
            best = a;
        }
    }
    return best;
}

void thompson_probabilities(std::span<const ArmView> arms, const PolicyParams& p, uint64_t seed,
                            std::span<double> out) {
    std::fill(out.begin(), out.end(), 0.0);
    Sampler sampler(seed);
    for (int m = 0; m < p.thompson_samples; ++m) {
        size_t best = 0;
        double best_x = -1;
        for (size_t a = 0; a < arms.size(); ++a) {
            double s = arms[a].successes;
            double f = static_cast<double>(arms[a].resolved) - s;
            double x = sampler.gamma(p.prior_alpha + s);
            double y = sampler.gamma(p.prior_beta + f);
            double beta = x / (x + y);
            if (beta > best_x) {
                best_x = beta;
                best = a;
            }
        }
        out[best] += 1;
    }
    for (double& q : out) {
        q /= p.thompson_samples;
    }
}

}  // namespace eddy
