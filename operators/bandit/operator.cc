// SPDX-License-Identifier: Apache-2.0
// The `bandit` operator: decisions, rewards, window closing and estimates.
#include "eddy/operator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/config.h"
#include "eddy/state.h"

#include "bandit/bandit.h"
#include "common/local_counter.h"

namespace eddy {
namespace {

/// The key as text for decision ids: strings as they are, numbers in decimal.
void append_key_text(const Value& key, std::string& out) {
    char buf[32];
    if (key.is_string()) {
        out.append(key.as_string());
    } else if (key.is_int()) {
        out.append(buf, std::to_chars(buf, buf + sizeof buf, key.as_int()).ptr);
    } else if (key.is_double()) {
        out.append(buf, std::to_chars(buf, buf + sizeof buf, key.as_double()).ptr);
    } else {
        out.append(key.is_bool() ? (key.as_bool() ? "true" : "false") : "null");
    }
}

uint64_t key_hash(const Value& key) {
    if (key.is_string()) {
        return std::hash<std::string_view>{}(key.as_string());
    }
    return mix64(static_cast<uint64_t>(key.is_int() ? key.as_int() : 0));
}

class Bandit final : public Operator {
public:
    explicit Bandit(const Config& cfg)
        : policy_(static_cast<BanditPolicy>(
              std::find(kPolicyNames.begin(), kPolicyNames.end(), cfg.string("policy")) -
              kPolicyNames.begin())),
          arm_names_(cfg.strings("arms")),
          decide_on_(cfg.strings("decide_on")),
          window_ms_(cfg.duration("reward_window").count()),
          seed_(static_cast<uint64_t>(cfg.integer("seed"))),
          estimates_every_(cfg.integer("estimates_every")),
          max_pending_(static_cast<size_t>(cfg.integer("max_pending"))),
          last_touch_(cfg.string("attribution") == "last_decision"),
          type_name_(cfg.string("type_field")),
          id_name_(cfg.string("decision_id_field")),
          key_name_(cfg.string("key_field")),
          segment_name_(cfg.has("segment_field") ? cfg.string("segment_field") : "") {
        const std::string& agg = cfg.string("reward_aggregation");
        aggregation_ = agg == "sum"   ? RewardAggregation::kSum
                       : agg == "max" ? RewardAggregation::kMax
                                      : RewardAggregation::kEarliest;
        params_.epsilon = cfg.number("epsilon");
        params_.epsilon_decay = cfg.number("epsilon_decay");
        params_.min_epsilon = cfg.number("min_epsilon");
        params_.ucb_c = cfg.number("ucb_exploration");
        params_.prior_alpha = cfg.number("prior_alpha");
        params_.prior_beta = cfg.number("prior_beta");
        params_.thompson_samples = static_cast<int>(cfg.integer("thompson_samples"));
        for (const auto& [type, r] : cfg.value("rewards").entries()) {
            rewards_.emplace_back(type, r.as_double());
        }
        arms_.resize(arm_names_.size());
        for (auto& p : probabilities_) {
            p.resize(arm_names_.size());
        }
    }

    Status open(OpenContext& ctx) override {
        timers_ = &ctx.timers();
        ctx.register_state(users_);
        ctx.register_state(model_);
        ctx.register_state(shard_);
        parallelism_ = ctx.parallelism();
        estimates_ = ctx.output("estimates");
        model_.get().segment("", arms_.size());  // the global bandit is segment 0
        type_ = ctx.field(type_name_);
        id_ = ctx.field(id_name_);
        key_ = ctx.field(key_name_);
        segment_ = segment_name_.empty() ? kInvalidField : ctx.field(segment_name_);
        ts_ = ctx.field("ts");
        arm_ = ctx.field("arm");
        propensity_ = ctx.field("propensity");
        policy_field_ = ctx.field("policy");
        kind_ = ctx.field("kind");
        pulls_ = ctx.field("pulls");
        resolved_ = ctx.field("resolved");
        reward_sum_ = ctx.field("rewards");
        mean_ = ctx.field("mean");
        ucb_ = ctx.field("ucb");
        alpha_ = ctx.field("alpha");
        beta_ = ctx.field("beta");
        p_best_ = ctx.field("p_best");
        logging_ = ctx.field("logging");
        decisions_field_ = ctx.field("decisions");
        ips_ = ctx.field("ips");
        snips_ = ctx.field("snips");
        epsilon_field_ = ctx.field("epsilon");
        decisions_.counter = ctx.counter("bandit_decisions_total", "Decisions made.");
        rewarded_.counter = ctx.counter("bandit_rewards_total",
                                        "Reward events attributed to a decision in its window.");
        expired_.counter =
            ctx.counter("bandit_unrewarded_total",
                        "Decisions whose window closed without a reward (reward 0).");
        late_ = ctx.counter("bandit_late_rewards_total",
                            "Rewards that came after their decision's reward window.");
        unattributed_ = ctx.counter("bandit_unattributed_rewards_total",
                                    "Reward events without a decision id (ignored).");
        evicted_ = ctx.counter("bandit_evicted_total",
                               "Decisions resolved early because a user had max_pending open.");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        int64_t& last_time = shard_.get().last_time;
        last_time = std::max(last_time, record.time());
        const Value* type = record.get(type_);
        if (type == nullptr || !type->is_string()) {
            return;
        }
        std::string_view name = type->as_string();
        for (const auto& [t, r] : rewards_) {
            if (t == name) {
                reward(record, r, out);
                return;
            }
        }
        for (const std::string& t : decide_on_) {
            if (t == name) {
                decide(record, out);
                return;
            }
        }
    }

    void process_batch(const Batch& batch, Emitter& out) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            process(batch[i], out);
        }
        flush_counters();
    }

    void on_timer(const Timer& timer, Emitter& out) override {
        (void)out;
        UserDecisions* user = users_.find(timer.key);
        if (user == nullptr) {
            return;
        }
        auto closed = [&](const PendingDecision& d) {
            return d.time + window_ms_ - 1 <= timer.time;
        };
        for (PendingDecision& d : user->pending) {
            if (closed(d)) {
                finish(d);
            }
        }
        std::erase_if(user->pending, closed);
        flush_counters();
    }

    void close(Emitter& out) override {
        flush_counters();
        if (model_.get().close_shard() == parallelism_) {
            emit_estimates(out);
        }
    }

private:
    void decide(const Record& record, Emitter& out) {
        BanditModel& model = model_.get();
        const Value* seg_value = nullptr;
        uint32_t seg = 0;
        if (segment_ != kInvalidField) {
            seg_value = record.get(segment_);
            if (seg_value != nullptr && !seg_value->is_null()) {
                if (!encode_item_id(*seg_value, scratch_)) {
                    out.error(record, "the segment field `" + segment_name_ +
                                          "` is neither a string nor an integer");
                    return;
                }
                seg = segment_index(scratch_);
                if (seg == BanditModel::kNoSegment) {
                    out.error(record, "more than 4096 distinct segments in `" + segment_name_ +
                                          "`; the decision is not made");
                    return;
                }
            } else {
                seg_value = nullptr;
            }
        }
        SegmentStats* stats = model.stats(seg);
        if (stats == nullptr || stats->arms.size() != arms_.size()) {
            out.error(record,
                      "the restored model has a different number of arms than `arms`; "
                      "start from a fresh state after changing the arms");
            return;
        }
        const Value& key = record.key();
        if (key.is_null()) {
            out.error(record, "the decision request has no key (the user field is missing)");
            return;
        }
        UserDecisions& user = users_.get_or_create(key);
        int64_t seq = user.next_seq++;
        probabilities(*stats, seg, true);
        const std::vector<double>& chosen_by = probabilities_[static_cast<size_t>(policy_)];
        double u = unit_double(mix64(seed_ ^ mix64(key_hash(key) ^ mix64(seq))));
        size_t arm = draw(chosen_by, u);
        PendingDecision& d = user.pending.emplace_back();
        d.seq = seq;
        d.time = record.time();
        d.segment = seg;
        d.arm = static_cast<uint32_t>(arm);
        d.propensity = chosen_by[arm];
        for (size_t p = 0; p < kPolicies; ++p) {
            d.targets[p] = probabilities_[p][arm];
        }
        BanditModel::count_decision(*stats, arm);
        timers_->set(TimeDomain::kEventTime, key, d.time + window_ms_ - 1);

        Record& r = out.append();
        r.set_time(record.time());
        r.set(ts_, record.time());
        r.set_value(key_, key);
        id_text_.clear();
        append_key_text(key, id_text_);
        append_number(id_text_, d.time);
        append_number(id_text_, seq);
        r.set(id_, std::string_view(id_text_));
        r.set(arm_, std::string_view(arm_names_[arm]));
        r.set(propensity_, d.propensity);
        r.set(policy_field_, kPolicyNames[static_cast<size_t>(policy_)]);
        if (segment_ != kInvalidField) {
            if (seg_value != nullptr) {
                r.set_value(segment_, *seg_value);
            } else {
                r.set_null(segment_);
            }
        }
        if (user.pending.size() > max_pending_) {
            finish(user.pending.front());
            user.pending.erase(user.pending.begin());
            evicted_.add();
        }
        decisions_.add();
        if (int64_t n = model.add_decision(); estimates_every_ > 0 && n % estimates_every_ == 0) {
            emit_estimates(out);
        }
    }

    /// The model's index of an encoded segment id, through a per-shard cache
    /// so that a decision reads no shared map (and takes no bucket lock).
    uint32_t segment_index(const std::string& id) {
        if (auto it = segments_.find(std::string_view(id)); it != segments_.end()) {
            return it->second;
        }
        uint32_t seg = model_.get().segment(id, arms_.size());
        if (seg != BanditModel::kNoSegment) {
            segments_.emplace(id, seg);
        }
        return seg;
    }

    void reward(const Record& record, double value, Emitter& out) {
        const Value* id = record.get(id_);
        if (id == nullptr || id->is_null()) {
            if (PendingDecision* d = last_touch_ ? latest_open(record) : nullptr) {
                rewarded_.add();
                add_reward(*d, value);
            } else {
                unattributed_.add();
            }
            return;
        }
        if (!id->is_string()) {
            out.error(record, "the decision id field `" + id_name_ + "` must be a string");
            return;
        }
        // "<key>:<decision time>:<seq>", parsed from the right: keys may hold ':'.
        std::string_view text = id->as_string();
        int64_t seq = -1;
        int64_t time = 0;
        size_t colon = text.rfind(':');
        bool ok = colon != std::string_view::npos && parse_number(text.substr(colon + 1), seq);
        if (ok) {
            text = text.substr(0, colon);
            colon = text.rfind(':');
            ok = colon != std::string_view::npos && parse_number(text.substr(colon + 1), time);
        }
        if (ok) {
            id_text_.clear();
            append_key_text(record.key(), id_text_);
            ok = text.substr(0, colon) == id_text_;
        }
        UserDecisions* user = ok ? users_.find(record.key()) : nullptr;
        if (user == nullptr || seq < 0 || seq >= user->next_seq) {
            out.error(record, "the decision id `" + std::string(id->as_string()) +
                                  "` names no decision of this user");
            return;
        }
        auto it = std::find_if(user->pending.begin(), user->pending.end(),
                               [seq](const PendingDecision& d) { return d.seq == seq; });
        if (it == user->pending.end() || record.time() >= it->time + window_ms_) {
            late_.add();  // its window closed (or is closing): it counted with what it had
            return;
        }
        if (it->time != time) {
            out.error(record, "the decision id `" + std::string(id->as_string()) +
                                  "` names no decision of this user");
            return;
        }
        rewarded_.add();
        add_reward(*it, value);
    }

    /// The user's latest decision whose reward window holds the record's
    /// event time (last-touch attribution), or null.
    PendingDecision* latest_open(const Record& record) {
        UserDecisions* user = users_.find(record.key());
        if (user == nullptr) {
            return nullptr;
        }
        for (auto it = user->pending.rbegin(); it != user->pending.rend(); ++it) {
            if (it->time <= record.time() && record.time() < it->time + window_ms_) {
                return &*it;
            }
        }
        return nullptr;
    }

    void add_reward(PendingDecision& d, double value) {
        if (aggregation_ == RewardAggregation::kEarliest) {
            if (!d.rewarded) {
                d.rewarded = true;
                d.reward = value;
                finish(d);
            }
            return;
        }
        d.reward = !d.rewarded                               ? value
                   : aggregation_ == RewardAggregation::kSum ? d.reward + value
                                                             : std::max(d.reward, value);
        d.rewarded = true;
    }

    /// Makes the decision's reward final (0 without a reward) and learns it, once.
    void finish(PendingDecision& d) {
        if (d.applied) {
            return;
        }
        d.applied = true;
        if (!d.rewarded) {
            expired_.add();
        }
        if (SegmentStats* s = model_.get().stats(d.segment);
            s != nullptr && d.arm < s->arms.size()) {
            BanditModel::resolve(*s, d.arm, d.rewarded ? d.reward : 0.0, d.propensity, d.targets);
        }
    }

    /// Every policy's probability of every arm in `stats` into probabilities_.
    /// With `keep`, a recomputed Thompson estimate replaces the cached one
    /// (decisions); without, state is left alone (estimates may be emitted
    /// while a job stops, after its checkpoint was taken).
    void probabilities(const SegmentStats& stats, uint32_t seg, bool keep) {
        BanditModel::view(stats, arms_);
        int64_t resolved = 0;
        for (const ArmView& a : arms_) {
            resolved += a.resolved;
        }
        const size_t k = arms_.size();
        auto& eg = probabilities_[static_cast<size_t>(BanditPolicy::kEpsilonGreedy)];
        epsilon_ = decayed_epsilon(params_, relaxed_load(stats.decisions));
        std::fill(eg.begin(), eg.end(), epsilon_ / static_cast<double>(k));
        eg[greedy_arm(arms_)] += 1 - epsilon_;
        auto& ucb = probabilities_[static_cast<size_t>(BanditPolicy::kUcb1)];
        std::fill(ucb.begin(), ucb.end(), 0.0);
        ucb[ucb1_arm(arms_, params_.ucb_c)] = 1;
        std::vector<ThompsonCache>& caches = shard_.get().thompson;
        if (caches.size() <= seg) {
            if (!keep) {
                caches_scratch_.resolved = -1;
                refresh_thompson(caches_scratch_, seg, resolved);
                return;
            }
            caches.resize(seg + 1);
        }
        ThompsonCache& cache = caches[seg];
        // Recomputed when the posterior has 5% more evidence (every new reward
        // for the first 20): geometric batches, so that a decision costs no
        // sampling in the steady state (docs/bandit.md).
        if (cache.resolved < 0 ||
            (resolved != cache.resolved &&
             resolved - cache.resolved >= std::max<int64_t>(1, cache.resolved / 20))) {
            if (keep) {
                refresh_thompson(cache, seg, resolved);
            } else {
                refresh_thompson(caches_scratch_, seg, resolved);
            }
            return;
        }
        probabilities_[static_cast<size_t>(BanditPolicy::kThompson)] = cache.probabilities;
    }

    /// Recomputes Thompson probabilities from arms_ (a pure function of the
    /// evidence and the seed, so a restored job computes the same).
    void refresh_thompson(ThompsonCache& cache, uint32_t seg, int64_t resolved) {
        cache.probabilities.resize(arms_.size());
        uint64_t s = mix64(
            seed_ ^ mix64((static_cast<uint64_t>(seg) << 40) ^ static_cast<uint64_t>(resolved)));
        thompson_probabilities(arms_, params_, s, cache.probabilities);
        cache.resolved = resolved;
        probabilities_[static_cast<size_t>(BanditPolicy::kThompson)] = cache.probabilities;
    }

    /// The arm whose cumulative probability first exceeds u.
    static size_t draw(const std::vector<double>& p, double u) {
        double sum = 0;
        size_t last = 0;
        for (size_t a = 0; a < p.size(); ++a) {
            if (p[a] <= 0) {
                continue;
            }
            last = a;
            sum += p[a];
            if (u < sum) {
                return a;
            }
        }
        return last;  // rounding left u above the sum
    }

    void emit_estimates(Emitter& out) {
        BanditModel& model = model_.get();
        for (uint32_t g = 0; g < model.segments(); ++g) {
            const SegmentStats* s = model.stats(g);
            if (s == nullptr || s->arms.size() != arms_.size()) {
                continue;
            }
            probabilities(*s, g, false);
            int64_t resolved = 0;
            for (const ArmView& a : arms_) {
                resolved += a.resolved;
            }
            const auto& tp = probabilities_[static_cast<size_t>(BanditPolicy::kThompson)];
            for (size_t a = 0; a < arms_.size(); ++a) {
                const ArmView& v = arms_[a];
                Record& r = start_estimate(out, g, "arm");
                r.set(arm_, std::string_view(arm_names_[a]));
                r.set(pulls_, v.pulls);
                r.set(resolved_, v.resolved);
                r.set(reward_sum_, v.mean * static_cast<double>(v.resolved));
                r.set(mean_, v.mean);
                if (v.resolved > 0) {
                    r.set(ucb_, v.mean + std::sqrt(params_.ucb_c *
                                                   std::log(static_cast<double>(resolved)) /
                                                   static_cast<double>(v.resolved)));
                } else {
                    r.set_null(ucb_);
                }
                r.set(alpha_, params_.prior_alpha + v.successes);
                r.set(beta_, params_.prior_beta + static_cast<double>(v.resolved) - v.successes);
                r.set(p_best_, tp[a]);
            }
            for (size_t p = 0; p < kPolicies; ++p) {
                PolicyValue v{relaxed_load(s->values[p].weighted_rewards),
                              relaxed_load(s->values[p].weights),
                              relaxed_load(s->values[p].decisions)};
                Record& r = start_estimate(out, g, "policy");
                r.set(policy_field_, kPolicyNames[p]);
                r.set(logging_, p == static_cast<size_t>(policy_));
                r.set(decisions_field_, v.decisions);
                if (v.decisions > 0) {
                    r.set(ips_, v.weighted_rewards / static_cast<double>(v.decisions));
                } else {
                    r.set_null(ips_);
                }
                if (v.weights > 0) {
                    r.set(snips_, v.weighted_rewards / v.weights);
                } else {
                    r.set_null(snips_);
                }
                if (p == static_cast<size_t>(BanditPolicy::kEpsilonGreedy)) {
                    r.set(epsilon_field_, epsilon_);
                }
            }
        }
    }

    Record& start_estimate(Emitter& out, uint32_t g, const char* kind) {
        Record& r = out.append(estimates_);
        int64_t last_time = shard_.get().last_time;
        r.set_time(last_time == kNoWatermark ? 0 : last_time);
        r.set(ts_, r.time());
        r.set(kind_, kind);
        if (segment_ != kInvalidField) {
            if (g == 0) {
                r.set_null(segment_);
            } else {
                r.set_value(segment_, decode_item_id(model_.get().segment_id(g)));
            }
        }
        return r;
    }

    static void append_number(std::string& out, int64_t v) {
        char buf[24];
        out.push_back(':');
        out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
    }

    static bool parse_number(std::string_view s, int64_t& v) {
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        return ec == std::errc() && end == s.data() + s.size() && !s.empty();
    }

    void flush_counters() {
        decisions_.flush();
        rewarded_.flush();
        expired_.flush();
    }

    BanditPolicy policy_;
    std::vector<std::string> arm_names_;
    std::vector<std::string> decide_on_;
    std::vector<std::pair<std::string, double>> rewards_;
    RewardAggregation aggregation_ = RewardAggregation::kEarliest;
    PolicyParams params_;
    int64_t window_ms_;
    uint64_t seed_;
    int64_t estimates_every_;
    size_t max_pending_;
    bool last_touch_;
    std::string type_name_, id_name_, key_name_, segment_name_;

    KeyedValue<UserDecisions> users_{"decisions"};
    Shared<BanditModel> model_{"arms"};
    Global<BanditShard> shard_{"shard"};
    Timers* timers_ = nullptr;
    int parallelism_ = 1;
    OutputId estimates_ = kMainOutput;
    FieldId ts_{}, type_{}, id_{}, key_{},
        segment_ = kInvalidField, arm_{}, propensity_{}, policy_field_{}, kind_{}, pulls_{},
        resolved_{}, reward_sum_{}, mean_{}, ucb_{}, alpha_{}, beta_{}, p_best_{}, logging_{},
        decisions_field_{}, ips_{}, snips_{}, epsilon_field_{};
    LocalCounter decisions_, rewarded_, expired_;
    Counter late_, unattributed_, evicted_;

    std::vector<ArmView> arms_;
    std::array<std::vector<double>, kPolicies> probabilities_;
    double epsilon_ = 0;
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> segments_;
    ThompsonCache caches_scratch_;
    std::string scratch_;
    std::string id_text_;
};

}  // namespace

std::unique_ptr<Operator> make_bandit(const Config& cfg) {
    return std::make_unique<Bandit>(cfg);
}

}  // namespace eddy
