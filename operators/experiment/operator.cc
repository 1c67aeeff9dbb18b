// SPDX-License-Identifier: Apache-2.0
// The `experiment` operator: counts users, conversions, impressions and
// clicks per variant and window, and emits each window's results once the
// watermark has passed it.
#include "eddy/operator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "eddy/config.h"
#include "eddy/lateness.h"
#include "eddy/state.h"

#include "common/local_counter.h"
#include "common/time_math.h"
#include "experiment/experiment.h"

namespace eddy::experiment {
namespace {

/// What an event type counts as (a type may be several).
enum Role : uint8_t { kExposure = 1, kConversion = 2, kImpression = 4, kClick = 8 };

/// The output fields of one proportion (conversion or CTR) of one scope
/// (the window or since the start).
struct ProportionFields {
    FieldId trials, successes, rate, ci_low, ci_high, diff, diff_ci_low, diff_ci_high, lift, z,
        p_value, significant, p_beat;

    /// `trials`/`successes` are the count fields (`users`, `converters`);
    /// `name` prefixes the others (`conversion` -> `conversion_rate`, ...).
    static ProportionFields resolve(OpenContext& ctx, const std::string& prefix, const char* trials,
                                    const char* successes, const std::string& name,
                                    const char* rate) {
        auto f = [&](const std::string& n) { return ctx.field(prefix + n); };
        return {f(trials),
                f(successes),
                f(rate),
                f(name + "_ci_low"),
                f(name + "_ci_high"),
                f(name + "_diff"),
                f(name + "_diff_ci_low"),
                f(name + "_diff_ci_high"),
                f(name + "_lift"),
                f(name + "_z"),
                f(name + "_p_value"),
                f(name + "_significant"),
                f(name + "_p_beat_control")};
    }
};

class Experiment final : public Operator {
public:
    explicit Experiment(const Config& cfg)
        : window_ms_(cfg.duration("window").count()),
          control_(cfg.string("control")),
          declared_(cfg.has("variants") ? cfg.strings("variants") : std::vector<std::string>{}),
          experiment_name_(cfg.has("experiment") ? cfg.string("experiment") : ""),
          confidence_(cfg.number("confidence")),
          bayesian_(cfg.string("test") == "bayesian"),
          cumulative_(cfg.boolean("cumulative")),
          exposures_all_(!cfg.has("exposures")),
          max_variants_(static_cast<size_t>(cfg.integer("max_variants"))),
          max_users_(cfg.integer("max_users")),
          lateness_(Lateness::from(cfg)),
          variant_name_(cfg.string("variant_field")),
          user_name_(cfg.string("user_field")),
          type_name_(cfg.string("type_field")) {
        z_crit_ = normal_quantile(1 - (1 - confidence_) / 2);
        auto add_role = [&](const char* param, Role role) {
            if (!cfg.has(param)) {
                return;
            }
            for (const std::string& t : cfg.strings(param)) {
                auto it = std::find_if(roles_.begin(), roles_.end(),
                                       [&](const auto& r) { return r.first == t; });
                if (it == roles_.end()) {
                    roles_.emplace_back(t, role);
                } else {
                    it->second = static_cast<uint8_t>(it->second | role);
                }
            }
        };
        add_role("exposures", kExposure);
        add_role("conversions", kConversion);
        add_role("impressions", kImpression);
        add_role("clicks", kClick);
    }

    Status open(OpenContext& ctx) override {
        ctx_ = &ctx;
        timers_ = &ctx.timers();
        ctx.register_state(users_);
        ctx.register_state(totals_);
        variant_ = ctx.field(variant_name_);
        user_ = ctx.field(user_name_);
        type_ = ctx.field(type_name_);
        window_start_ = ctx.field("window_start");
        window_end_ = ctx.field("window_end");
        experiment_ = ctx.field("experiment");
        out_variant_ = ctx.field("variant");
        is_control_ = ctx.field("is_control");
        for (int scope = 0; scope < 2; ++scope) {
            std::string prefix = scope == 0 ? "" : "cum_";
            conversion_[scope] = ProportionFields::resolve(ctx, prefix, "users", "converters",
                                                           "conversion", "conversion_rate");
            ctr_[scope] =
                ProportionFields::resolve(ctx, prefix, "impressions", "clicks", "ctr", "ctr");
        }
        switches_ = ctx.counter("experiment_variant_switches_total",
                                "Events of a user in another variant than the user's first "
                                "(sent to errors, not counted).");
        over_limit_ = ctx.counter("experiment_users_over_limit_total",
                                  "Events of new users refused because max_users users are "
                                  "tracked (sent to errors).");
        windows_ = ctx.counter("experiment_windows_total", "Windows whose results were emitted.");
        synced_ = false;
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        if (!synced_) {
            sync();
        }
        const Value* variant = record.get(variant_);
        if (variant == nullptr || variant->is_null()) {
            out.error(record, "the record has no variant (field `" + variant_name_ +
                                  "`); assign variants upstream, e.g. with ab_assign");
            return;
        }
        if (!variant->is_string()) {
            out.error(record, "field `" + variant_name_ + "` must be a string, got " +
                                  value_type_name(variant->type()));
            return;
        }
        const uint32_t v = variant_index(variant->as_string());
        if (v == UINT32_MAX) {
            out.error(record, unknown_variant(variant->as_string()));
            return;
        }
        const Value* user = record.get(user_);
        if (user == nullptr || user->is_null()) {
            out.error(record, "the record has no user (field `" + user_name_ + "`)");
            return;
        }
        if (!(user->is_string() || user->is_int()) ||
            (user->is_string() && user->as_string().empty())) {
            out.error(record, "field `" + user_name_ +
                                  "` must be a non-empty string or an integer, got " +
                                  (user->is_string() ? std::string("an empty string")
                                                     : value_type_name(user->type())));
            return;
        }
        uint8_t roles = exposures_all_ ? kExposure : 0;
        if (const Value* type = record.get(type_); type != nullptr && !type->is_null()) {
            if (!type->is_string()) {
                out.error(record, "field `" + type_name_ + "` must be a string, got " +
                                      value_type_name(type->type()));
                return;
            }
            roles = static_cast<uint8_t>(roles | role_of(type->as_string()));
        }
        const int64_t t = record.time();
        const int64_t start = floor_div(t, window_ms_) * window_ms_;
        const int64_t wm = timers_->watermark();
        if (wm != kNoWatermark && closed(start, wm)) {
            out.late(record, wm > t ? sat_add(wm, -t) : 0, lateness_.policy);
            return;
        }
        Totals& totals = totals_.get();
        UserState* us = users_.find(*user);
        if (us == nullptr) {
            if (totals.users >= max_users_) {
                over_limit_.add();
                out.error(record, "the experiment already tracks max_users (" +
                                      std::to_string(max_users_) +
                                      ") users; this new user is not counted: raise max_users");
                return;
            }
            us = &users_.get_or_create(*user);
            us->variant = v;
            ++totals.users;
            new_users_[v].add();
        } else if (us->variant != v) {
            switches_.add();
            out.error(record, "the user was first seen in variant `" +
                                  totals.variants[us->variant] +
                                  "` and is counted there only, not in `" +
                                  std::string(variant->as_string()) + "`");
            return;
        }
        events_[v].add();
        count(*us, v, start, roles, wm);
    }

    void process_batch(const Batch& batch, Emitter& out) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            process(batch[i], out);
        }
        flush_counters();
    }

    void on_watermark(int64_t watermark, Emitter& out) override {
        if (!synced_) {
            sync();
        }
        flush_counters();
        std::vector<OpenWindow>& windows = totals_.get().windows;
        size_t done = 0;
        while (done < windows.size() && closed(windows[done].start, watermark)) {
            emit_window(windows[done], out);
            ++done;
        }
        if (done > 0) {
            windows.erase(windows.begin(), windows.begin() + static_cast<std::ptrdiff_t>(done));
            windows_.add(static_cast<int64_t>(done));
        }
    }

    void close(Emitter& out) override {
        (void)out;
        flush_counters();
    }

private:
    /// Whether the window starting at `start` has been emitted at watermark `wm`.
    bool closed(int64_t start, int64_t wm) const {
        return sat_add(sat_add(start, window_ms_ - 1), lateness_.allowed_ms) <= wm;
    }

    uint8_t role_of(std::string_view type) const {
        for (const auto& [name, role] : roles_) {
            if (name == type) {
                return role;
            }
        }
        return 0;
    }

    /// The variant's index in Totals::variants; a new one is added unless
    /// `variants` is declared or max_variants are known. UINT32_MAX: refused.
    uint32_t variant_index(std::string_view name) {
        for (const auto& [known, index] : lookup_) {
            if (known == name) {
                return index;
            }
        }
        if (!declared_.empty() || totals_.get().variants.size() >= max_variants_) {
            return UINT32_MAX;
        }
        return add_variant(std::string(name));
    }

    std::string unknown_variant(std::string_view name) const {
        if (declared_.empty()) {
            return "variant `" + std::string(name) + "` would be variant number " +
                   std::to_string(max_variants_ + 1) + "; at most max_variants (" +
                   std::to_string(max_variants_) + ") are analysed";
        }
        std::string list;
        for (const std::string& d : declared_) {
            list += (list.empty() ? "" : ", ") + d;
        }
        return "variant `" + std::string(name) + "` is not one of `variants` (" + list + ")";
    }

    /// Adds a variant to the totals (every open window and the cumulative
    /// figures get its counts) and to the lookup. Cold: once per variant.
    uint32_t add_variant(const std::string& name) {
        Totals& totals = totals_.get();
        auto index =
            static_cast<uint32_t>(std::find(totals.variants.begin(), totals.variants.end(), name) -
                                  totals.variants.begin());
        if (index == totals.variants.size()) {
            totals.variants.push_back(name);
            totals.cumulative.resize(totals.variants.size());
            for (OpenWindow& w : totals.windows) {
                w.counts.resize(totals.variants.size());
            }
        }
        lookup_.emplace_back(name, index);
        if (events_.size() <= index) {
            events_.resize(index + 1);
            new_users_.resize(index + 1);
        }
        MetricLabels labels = {{"variant", name}};
        events_[index].counter =
            ctx_->counter("experiment_events_total",
                          "Events counted per variant (late and bad ones aside).", labels);
        new_users_[index].counter = ctx_->counter(
            "experiment_users_total", "Distinct users per variant since the start.", labels);
        return index;
    }

    /// Builds the variant lookup from the (possibly restored) totals: the
    /// control first, then the declared variants. Runs before the first
    /// record or watermark, after a restore.
    void sync() {
        synced_ = true;
        lookup_.clear();
        Totals& totals = totals_.get();
        totals.cumulative.resize(totals.variants.size());
        for (OpenWindow& w : totals.windows) {
            w.counts.resize(totals.variants.size());
        }
        control_index_ = add_variant(control_);
        for (const std::string& d : declared_) {
            if (d != control_) {
                add_variant(d);
            }
        }
        if (declared_.empty()) {
            for (const std::string& known : std::vector<std::string>(totals.variants)) {
                if (known != control_) {
                    add_variant(known);
                }
            }
        }
    }

    OpenWindow& window_at(int64_t start) {
        std::vector<OpenWindow>& windows = totals_.get().windows;
        if (!windows.empty() && windows.back().start == start) {
            return windows.back();  // in order: the fast path
        }
        auto it = std::lower_bound(windows.begin(), windows.end(), start,
                                   [](const OpenWindow& w, int64_t s) { return w.start < s; });
        if (it == windows.end() || it->start != start) {
            OpenWindow w;
            w.start = start;
            w.counts.resize(totals_.get().variants.size());
            it = windows.insert(it, std::move(w));
        }
        return *it;
    }

    /// Counts one event of a user of variant v in the window at `start`.
    void count(UserState& us, uint32_t v, int64_t start, uint8_t roles, int64_t wm) {
        VariantCounts& c = window_at(start).counts[v];  // the only insertion into windows
        if (wm != kNoWatermark) {
            std::erase_if(us.windows, [&](const UserWindow& uw) { return closed(uw.start, wm); });
        }
        auto it = std::lower_bound(us.windows.begin(), us.windows.end(), start,
                                   [](const UserWindow& uw, int64_t s) { return uw.start < s; });
        if (it == us.windows.end() || it->start != start) {
            it = us.windows.insert(it, UserWindow{start, false, false});
        }
        UserWindow& uw = *it;
        const bool exposure = (roles & kExposure) != 0;
        const bool conversion = (roles & kConversion) != 0;
        if (exposure && !uw.exposed) {
            uw.exposed = true;
            ++c.users;
            if (uw.converted) {
                ++c.converters;
            }
        }
        if (conversion && !uw.converted) {
            uw.converted = true;
            if (uw.exposed) {
                ++c.converters;
            }
        }
        if ((roles & kImpression) != 0) {
            ++c.impressions;
        }
        if ((roles & kClick) != 0) {
            ++c.clicks;
        }
        if (!exposure && !conversion) {
            return;
        }
        // Since the start: a user counts from the window of their earliest
        // exposure, as a converter from the later of that and their earliest
        // conversion. An earlier event moves the credit to an earlier window;
        // both windows are open (the later one is after this event's).
        const int64_t old_user = us.first_exposed;
        const int64_t old_converter = converter_window(us);
        if (exposure) {
            us.first_exposed = std::min(us.first_exposed, start);
        }
        if (conversion) {
            us.first_converted = std::min(us.first_converted, start);
        }
        move_credit(old_user, us.first_exposed, v, &VariantCounts::new_users);
        move_credit(old_converter, converter_window(us), v, &VariantCounts::new_converters);
    }

    static int64_t converter_window(const UserState& us) {
        if (us.first_exposed == kNoWindow || us.first_converted == kNoWindow) {
            return kNoWindow;
        }
        return std::max(us.first_exposed, us.first_converted);
    }

    void move_credit(int64_t from, int64_t to, uint32_t v, int64_t VariantCounts::*field) {
        if (from == to) {
            return;
        }
        if (from != kNoWindow) {
            --(window_at(from).counts[v].*field);
        }
        ++(window_at(to).counts[v].*field);
    }

    void emit_window(const OpenWindow& w, Emitter& out) {
        Totals& totals = totals_.get();
        for (size_t v = 0; v < w.counts.size(); ++v) {
            const VariantCounts& c = w.counts[v];
            VariantCounts& cum = totals.cumulative[v];
            cum.users += c.new_users;
            cum.converters += c.new_converters;
            cum.impressions += c.impressions;
            cum.clicks += c.clicks;
        }
        const int64_t end = sat_add(w.start, window_ms_);
        emit_variant(w, control_index_, end, out);
        for (const auto& [name, v] : lookup_) {
            if (v != control_index_) {
                emit_variant(w, v, end, out);
            }
        }
    }

    void emit_variant(const OpenWindow& w, uint32_t v, int64_t end, Emitter& out) {
        const Totals& totals = totals_.get();
        Record& r = out.append();
        r.set_time(end - 1);
        r.set(window_start_, w.start);
        r.set(window_end_, end);
        if (!experiment_name_.empty()) {
            r.set(experiment_, std::string_view(experiment_name_));
        }
        r.set(out_variant_, std::string_view(totals.variants[v]));
        const bool control = v == control_index_;
        r.set(is_control_, control);
        const VariantCounts& c = w.counts[v];
        const VariantCounts& cc = w.counts[control_index_];
        write(r, conversion_[0], c.converters, c.users, cc.converters, cc.users, control);
        write(r, ctr_[0], c.clicks, c.impressions, cc.clicks, cc.impressions, control);
        if (cumulative_) {
            const VariantCounts& t = totals.cumulative[v];
            const VariantCounts& tc = totals.cumulative[control_index_];
            write(r, conversion_[1], t.converters, t.users, tc.converters, tc.users, control);
            write(r, ctr_[1], t.clicks, t.impressions, tc.clicks, tc.impressions, control);
        }
    }

    /// One proportion s/n of a variant and, for a treatment, its comparison
    /// with the control's sc/nc. Figures that are undefined are null: rates
    /// without trials, intervals and tests of more successes than trials
    /// (clicks without impressions), tests without control trials.
    void write(Record& r, const ProportionFields& f, int64_t s, int64_t n, int64_t sc, int64_t nc,
               bool control) const {
        r.set(f.trials, n);
        r.set(f.successes, s);
        const bool proportion = n > 0 && s <= n;
        if (n > 0) {
            r.set(f.rate, static_cast<double>(s) / static_cast<double>(n));
        } else {
            r.set_null(f.rate);
        }
        if (proportion) {
            Interval ci = wilson_interval(static_cast<double>(s), static_cast<double>(n), z_crit_);
            r.set(f.ci_low, ci.low);
            r.set(f.ci_high, ci.high);
        } else {
            r.set_null(f.ci_low);
            r.set_null(f.ci_high);
        }
        if (control || !proportion || nc <= 0 || sc > nc) {
            for (FieldId id : {f.diff, f.diff_ci_low, f.diff_ci_high, f.lift, f.z, f.p_value,
                               f.significant, f.p_beat}) {
                r.set_null(id);
            }
            return;
        }
        Comparison cmp = compare(s, n, sc, nc, z_crit_);
        r.set(f.diff, cmp.diff);
        r.set(f.diff_ci_low, cmp.diff_ci.low);
        r.set(f.diff_ci_high, cmp.diff_ci.high);
        if (std::isfinite(cmp.lift)) {
            r.set(f.lift, cmp.lift);
        } else {
            r.set_null(f.lift);
        }
        r.set(f.z, cmp.z);
        r.set(f.p_value, cmp.p_value);
        r.set(f.p_beat, cmp.p_beat);
        bool significant = bayesian_ ? cmp.p_beat >= confidence_ || cmp.p_beat <= 1 - confidence_
                                     : cmp.p_value < 1 - confidence_;
        r.set(f.significant, significant);
    }

    void flush_counters() {
        for (LocalCounter& c : events_) {
            c.flush();
        }
        for (LocalCounter& c : new_users_) {
            c.flush();
        }
    }

    const int64_t window_ms_;
    const std::string control_;
    const std::vector<std::string> declared_;
    const std::string experiment_name_;
    const double confidence_;
    const bool bayesian_;
    const bool cumulative_;
    const bool exposures_all_;
    const size_t max_variants_;
    const int64_t max_users_;
    const Lateness lateness_;
    const std::string variant_name_, user_name_, type_name_;
    double z_crit_ = 0;
    std::vector<std::pair<std::string, uint8_t>> roles_;

    KeyedValue<UserState> users_{"users"};
    Global<Totals> totals_{"totals"};
    OpenContext* ctx_ = nullptr;
    Timers* timers_ = nullptr;
    bool synced_ = false;
    uint32_t control_index_ = 0;
    std::vector<std::pair<std::string, uint32_t>> lookup_;  ///< Accepted variants, control first.

    FieldId variant_ = kInvalidField, user_ = kInvalidField, type_ = kInvalidField;
    FieldId window_start_{}, window_end_{}, experiment_{}, out_variant_{}, is_control_{};
    ProportionFields conversion_[2]{}, ctr_[2]{};   ///< [0]: the window, [1]: since the start.
    std::vector<LocalCounter> events_, new_users_;  ///< By variant index.
    Counter switches_, over_limit_, windows_;
};

}  // namespace
}  // namespace eddy::experiment

namespace eddy {

std::unique_ptr<Operator> make_experiment(const Config& cfg) {
    return std::make_unique<experiment::Experiment>(cfg);
}

}  // namespace eddy
