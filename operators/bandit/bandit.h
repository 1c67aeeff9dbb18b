// SPDX-License-Identifier: Apache-2.0
// The `bandit` operator: per-decision arm choice by epsilon-greedy, UCB1 or
// Thompson sampling, delayed rewards within an event-time window, and
// inverse-propensity estimates of each policy's value. Design: docs/bandit.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"

#include "common/item_index.h"

namespace eddy {

/// The `bandit` operator's spec (spec.cc).
ComponentSpec bandit_spec();
/// Makes the operator from validated parameters (operator.cc).
std::unique_ptr<Operator> make_bandit(const Config& cfg);

/// The policies, in the order of `policy` values and of PolicyValue arrays.
enum class BanditPolicy : uint8_t { kEpsilonGreedy = 0, kUcb1 = 1, kThompson = 2 };
inline constexpr size_t kPolicies = 3;
inline constexpr std::array<const char*, kPolicies> kPolicyNames = {"epsilon_greedy", "ucb1",
                                                                    "thompson"};

/// A deterministic 64-bit mix (SplitMix64's finalizer): the operator's only
/// source of randomness, so that a seed, a key and a decision number give the
/// same draw at any parallelism and after a restore.
inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
/// A uniform double in [0, 1) from 64 random bits.
inline double unit_double(uint64_t bits) {
    return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

/// A relaxed atomic read of a number that shards update concurrently.
template <class T>
T relaxed_load(const T& v) {
    return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_relaxed);
}

/// One arm of one segment. Updated with relaxed atomics (std::atomic_ref).
struct ArmStats {
    int64_t pulls = 0;     ///< Decisions that chose the arm.
    int64_t resolved = 0;  ///< Of those, decisions whose reward is final.
    double rewards = 0;    ///< Sum of final rewards.
    double successes = 0;  ///< Sum of final rewards clamped to [0, 1] (Beta posterior).
};

/// Running sums of the inverse-propensity estimate of one policy:
/// IPS = sum(r * pi(a) / p) / n, SNIPS = sum(r * pi(a) / p) / sum(pi(a) / p).
struct PolicyValue {
    double weighted_rewards = 0;
    double weights = 0;
    int64_t decisions = 0;
};

/// One bandit: the arms of one segment (segment 0 when `segment_field` is unset).
struct SegmentStats {
    explicit SegmentStats(size_t arms) : arms(arms) {}
    std::vector<ArmStats> arms;  ///< Sized once, at creation.
    int64_t decisions = 0;
    int64_t resolved = 0;
    std::array<PolicyValue, kPolicies> values{};
};

/// What a policy needs from one arm at decision time (a consistent-enough
/// copy of ArmStats read with relaxed loads).
struct ArmView {
    int64_t pulls;
    int64_t resolved;
    double mean;
    double successes;
};

/// Arm statistics of every segment, shared by every shard (Shared<BanditModel>).
/// Segments are interned in an ItemIndex (encoded ids, segment 0 = ""), and
/// each has a SegmentStats allocated once and never moved, so shards update
/// numbers with relaxed atomics and no lock. Thread-safe except encode,
/// decode and moves, which the runtime calls while no shard runs.
class BanditModel {
public:
    static constexpr uint32_t kMaxSegments = 4096;
    static constexpr uint32_t kNoSegment = UINT32_MAX;

    BanditModel();
    ~BanditModel();
    BanditModel(BanditModel&& other) noexcept;
    BanditModel& operator=(BanditModel&& other) noexcept;

    /// The segment of encoded id `id`, adding it with `arms` arms when new;
    /// kNoSegment when kMaxSegments segments exist.
    uint32_t segment(std::string_view id, size_t arms);
    /// Segment s (< segments()); nullptr while another shard is creating it.
    SegmentStats* stats(uint32_t s) const;
    uint32_t segments() const;
    std::string_view segment_id(uint32_t s) const;

    /// Reads the arms of `s` into `out` (resized by the caller to the arm count).
    static void view(const SegmentStats& s, std::span<ArmView> out);
    /// Counts a decision for `arm`.
    static void count_decision(SegmentStats& s, size_t arm);
    /// Makes a decision's reward final: the arm's statistics and the IPS sums
    /// of every policy, with `targets[p]` the probability policy p gave the arm.
    static void resolve(SegmentStats& s, size_t arm, double reward, double propensity,
                        const std::array<double, kPolicies>& targets);

    /// Decisions over all segments and shards; returns the new count.
    int64_t add_decision();
    /// A shard finished; returns how many have (the last one reports).
    int close_shard();

    void encode(StateWriter& w) const;
    bool decode(StateReader& r, uint8_t version);
    void to_json(JsonWriter& j) const;

private:
    friend struct Merge<BanditModel>;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Scale-out (docs/scale-out.md, "Models"): a bandit's statistics are sums
/// over decisions and rewards, so the processes' models add up, as
/// popularity's do. Each model keeps apart, per segment, what the last
/// merge added (the other processes' own parts), and a merge replaces that
/// part with the others' current own parts instead of adding them again: a
/// decision or reward counts once however many merges pass. Segments meet
/// by id; a peer's segment with another number of arms (another `arms`
/// list) is left out. The last model of a process that stopped publishing
/// stays in: its decisions happened.
template <>
struct Merge<BanditModel> {
    static constexpr bool kKeepDeparted = true;
    static void merge(BanditModel& own, std::span<const BanditModel* const> peers);
};

template <>
struct Codec<BanditModel> {
    static constexpr uint8_t kVersion = 2;  // 2: the merged part (scale-out) follows the segments
    static void encode(const BanditModel& m, StateWriter& w) { m.encode(w); }
    static bool decode(StateReader& r, uint8_t version, BanditModel& m) {
        return m.decode(r, version);
    }
    static void to_json(const BanditModel& m, JsonWriter& j) { m.to_json(j); }
};

/// A decision whose reward window is open.
struct PendingDecision {
    int64_t seq = 0;   ///< The user's decision number (in the decision id).
    int64_t time = 0;  ///< Event time of the decision.
    uint32_t segment = 0;
    uint32_t arm = 0;
    double propensity = 1;                    ///< Probability the logging policy gave the arm.
    std::array<double, kPolicies> targets{};  ///< Probability each policy gave the arm.
    double reward = 0;                        ///< Aggregated so far.
    bool rewarded = false;                    ///< A reward arrived.
    bool applied = false;                     ///< The reward is final and learned (`earliest`).
};

/// Per user: the next decision number and the decisions awaiting rewards.
struct UserDecisions {
    int64_t next_seq = 0;
    std::vector<PendingDecision> pending;  ///< In decision order.
};

template <>
struct Codec<UserDecisions> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const UserDecisions& u, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, UserDecisions& u);
    static void to_json(const UserDecisions& u, JsonWriter& j);
    static size_t heap_bytes(const UserDecisions& u) { return heap_bytes_of(u.pending); }
};

/// Thompson probabilities of one segment, recomputed as its posterior moves.
struct ThompsonCache {
    int64_t resolved = -1;  ///< The segment's resolved decisions when computed; -1: never.
    std::vector<double> probabilities;
};

/// What one operator instance keeps besides keyed state (Global<BanditShard>),
/// so that a restored job draws exactly what an uninterrupted one would.
struct BanditShard {
    int64_t last_time = INT64_MIN;        ///< The latest event time seen (estimates' ts).
    std::vector<ThompsonCache> thompson;  ///< By segment.
};

template <>
struct Codec<BanditShard> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const BanditShard& s, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, BanditShard& s);
    static void to_json(const BanditShard& s, JsonWriter& j);
};

/// How rewards of one decision combine.
enum class RewardAggregation : uint8_t { kEarliest, kSum, kMax };

/// The policies' parameters, and their probabilities for one decision.
struct PolicyParams {
    double epsilon = 0.1;
    double epsilon_decay = 0;
    double min_epsilon = 0;
    double ucb_c = 2;  ///< UCB1's exploration constant: index = mean + sqrt(c ln n / n_a).
    double prior_alpha = 1;
    double prior_beta = 1;
    int thompson_samples = 1000;
};

/// The epsilon of epsilon-greedy after `decisions` decisions of a segment.
double decayed_epsilon(const PolicyParams& p, int64_t decisions);
/// The greedy arm: an arm without resolved decisions first (the fewest
/// pulls, then the lowest index), else the highest mean (lowest index on ties).
size_t greedy_arm(std::span<const ArmView> arms);
/// UCB1's arm: an arm without resolved decisions first (as greedy_arm), else
/// the highest mean + sqrt(c ln n / n_a), n the segment's resolved decisions.
size_t ucb1_arm(std::span<const ArmView> arms, double c);
/// Thompson sampling's probabilities that each arm is the best under the Beta
/// posteriors, estimated from `samples` joint draws seeded by `seed`.
void thompson_probabilities(std::span<const ArmView> arms, const PolicyParams& p, uint64_t seed,
                            std::span<double> out);

}  // namespace eddy
