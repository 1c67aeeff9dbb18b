// SPDX-License-Identifier: Apache-2.0
// The bot_filter operator: verdicts per event from user-agent patterns,
// address ranges and per-key behaviour; see docs/bot_filter.md.
#include "eddy/operator.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "eddy/registry.h"

#include "bot_filter/behaviour.h"
#include "bot_filter/bot_filter.h"
#include "bot_filter/ip_rules.h"
#include "bot_filter/ua_patterns.h"

namespace eddy {
namespace {

using bot_filter::BehaviourLimits;
using bot_filter::BehaviourRule;
using bot_filter::BotState;
using bot_filter::CidrList;
using bot_filter::IpAddress;
using bot_filter::Observation;
using bot_filter::UaMatcher;
using bot_filter::UaPattern;

constexpr int64_t kMinute = 60 * 1000;

/// Built-in patterns (when enabled) followed by the file's, uncompiled.
Result<std::vector<UaPattern>> configured_patterns(const Config& cfg) {
    std::vector<UaPattern> patterns;
    if (cfg.boolean("use_builtin_patterns")) {
        patterns = bot_filter::builtin_ua_patterns();
    }
    if (cfg.has("patterns_file")) {
        auto loaded = bot_filter::load_ua_patterns(cfg.string("patterns_file"));
        if (!loaded.is_ok()) {
            return loaded.status();
        }
        for (UaPattern& p : loaded.value()) {
            patterns.push_back(std::move(p));
        }
    }
    return patterns;
}

/// Parses a CIDR list parameter; the error names the parameter and the entry.
Status parse_cidrs(const Config& cfg, const char* name, CidrList& out) {
    if (!cfg.has(name)) {
        return Status::ok();
    }
    for (const std::string& text : cfg.strings(name)) {
        std::string error;
        auto c = bot_filter::parse_cidr(text, error);
        if (!c) {
            return Status::invalid_argument(std::string("`") + name + "`: " + error);
        }
        out.add(std::move(*c));
    }
    return Status::ok();
}

class BotFilter final : public Operator {
public:
    /// Loads and compiles every rule; fails with the sentence of the first bad one.
    static Result<std::unique_ptr<Operator>> create(const Config& cfg) {
        std::unique_ptr<BotFilter> op(new BotFilter(cfg));
        auto patterns = configured_patterns(cfg);
        if (!patterns.is_ok()) {
            return patterns.status();
        }
        if (!patterns.value().empty()) {
            auto matcher = UaMatcher::compile(std::move(patterns.value()));
            if (!matcher.is_ok()) {
                return matcher.status();
            }
            op->matcher_ = std::move(matcher.value());
        }
        EDDY_RETURN_IF_ERROR(parse_cidrs(cfg, "allow_cidrs", op->allow_));
        EDDY_RETURN_IF_ERROR(parse_cidrs(cfg, "deny_cidrs", op->deny_));
        op->prepare_labels();
        return std::unique_ptr<Operator>(std::move(op));
    }

    Status open(OpenContext& ctx) override {
        ua_ = ctx.field(ua_name_);
        ip_ = ctx.field(ip_name_);
        page_ = ctx.field(page_name_);
        rule_field_ = ctx.field("bot_rule");
        reason_field_ = ctx.field("bot_reason");
        bots_ = ctx.output("bots");
        timers_ = &ctx.timers();
        ctx.register_state(state_);
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        IpAddress ip{};
        bool has_ip = false;
        if (!allow_.empty() || !deny_.empty()) {
            if (const Value* v = record.get(ip_); v != nullptr && v->is_string()) {
                auto parsed = bot_filter::parse_ip(v->as_string());
                has_ip = parsed.has_value();
                ip = parsed.value_or(IpAddress{});
            }
        }
        if (has_ip && allow_.find(ip) >= 0) {
            out.emit(record);
            return;
        }
        const int64_t t = record.time();
        const int64_t wm = timers_->watermark();
        if (wm != kNoWatermark && t <= wm - lateness_.allowed_ms) {
            out.late(record, wm - t, lateness_.policy);
            if (lateness_.policy != LatePolicy::kUpdate) {
                return;
            }
        }

        BotState& s = state_.get_or_create(record.key());
        bool flagged = t < s.flagged_until;
        const std::string* label = nullptr;
        const std::string* reason = nullptr;
        if (matcher_) {
            if (const Value* v = record.get(ua_); v != nullptr && v->is_string()) {
                int i = cache_.verdict(*matcher_, v->as_string());
                if (i >= 0) {
                    label = &ua_labels_[static_cast<size_t>(i)];
                    reason = &ua_reasons_[static_cast<size_t>(i)];
                }
            }
        }
        if (label == nullptr && has_ip) {
            if (int i = deny_.find(ip); i >= 0) {
                label = &deny_labels_[static_cast<size_t>(i)];
                reason = &deny_reasons_[static_cast<size_t>(i)];
            }
        }
        const Value* page = record.get(page_);
        const bool has_page = page != nullptr && page->is_string();
        Observation seen = bot_filter::observe(
            s, limits_, t, has_page, has_page ? bot_filter::stable_hash(page->as_string()) : 0);
        if (label != nullptr || seen.rule != BehaviourRule::kNone) {
            if (!flagged) {
                if (label != nullptr) {
                    s.rule = *label;
                    s.reason = *reason;
                } else {
                    describe(seen, s.rule, s.reason);
                }
                flagged = true;
            }
            s.flagged_until = std::max(s.flagged_until, t + ttl_ms_);
        }
        if (s.cleanup_at == 0) {
            s.cleanup_at = expiry(s);
            timers_->set(TimeDomain::kEventTime, record.key(), s.cleanup_at);
        }
        if (!flagged) {
            out.emit(record);
            return;
        }
        Record& r = out.append(bots_);
        r.assign(record);
        r.set(rule_field_, std::string_view(s.rule));
        r.set(reason_field_, std::string_view(s.reason));
    }

    void on_timer(const Timer& timer, Emitter&) override {
        BotState* s = state_.find(timer.key);
        if (s == nullptr) {
            return;
        }
        const int64_t at = expiry(*s);
        if (at <= timer.time || at <= timers_->watermark()) {
            state_.erase(timer.key);
            return;
        }
        s->cleanup_at = at;
        timers_->set(TimeDomain::kEventTime, timer.key, at);
    }

private:
    explicit BotFilter(const Config& cfg)
        : ua_name_(cfg.string("ua")),
          ip_name_(cfg.string("ip")),
          page_name_(cfg.string("page")),
          ttl_ms_(cfg.duration("flag_ttl").count()),
          lateness_(Lateness::from(cfg)),
          cache_(static_cast<size_t>(cfg.integer("ua_cache_size"))) {
        limits_.max_events_per_minute = cfg.integer("max_events_per_minute");
        limits_.max_pages_per_second = cfg.integer("max_pages_per_second");
        limits_.min_gap_cv = cfg.number("min_gap_cv");
        limits_.min_events_for_regularity = cfg.integer("min_events_for_regularity");
        limits_.session_gap_ms = cfg.duration("session_gap").count();
    }

    /// `bot_rule` and `bot_reason` of every pattern and range, built once.
    void prepare_labels() {
        for (size_t i = 0; matcher_ && i < matcher_->size(); ++i) {
            const UaPattern& p = matcher_->pattern(static_cast<int>(i));
            ua_labels_.push_back("ua:" + p.name);
            ua_reasons_.push_back(
                p.origin == "built-in"
                    ? "The user agent matches the built-in pattern `" + p.name + "`."
                    : "The user agent matches the pattern `" + p.regex + "` (" + p.origin + ").");
        }
        for (size_t i = 0; i < deny_.size(); ++i) {
            const std::string& range = deny_.at(i).text;
            deny_labels_.push_back("ip:deny " + range);
            deny_reasons_.push_back("The address is in the denied range " + range + ".");
        }
    }

    /// The rule label and a sentence for a behaviour rule that fired (cold path:
    /// once per flag).
    void describe(const Observation& o, std::string& rule, std::string& reason) const {
        char buf[256];
        switch (o.rule) {
            case BehaviourRule::kRate:
                rule = "rate:>" + std::to_string(limits_.max_events_per_minute) + "/min";
                std::snprintf(buf, sizeof buf,
                              "%lld events within one minute, more than the limit of %lld.",
                              static_cast<long long>(o.count),
                              static_cast<long long>(limits_.max_events_per_minute));
                break;
            case BehaviourRule::kPageRate:
                rule = "page_rate";
                std::snprintf(buf, sizeof buf,
                              "%lld distinct pages within one second, more than the limit of %lld.",
                              static_cast<long long>(o.count),
                              static_cast<long long>(limits_.max_pages_per_second));
                break;
            default:
                rule = "regular_gaps";
                std::snprintf(buf, sizeof buf,
                              "%lld events %.0f ms apart on average with a coefficient of "
                              "variation of %.2f, below %.2f: too regular for a person.",
                              static_cast<long long>(o.count), o.mean_gap_ms, o.gap_cv,
                              limits_.min_gap_cv);
                break;
        }
        reason = buf;
    }

    /// When the key's state may go: its flag has expired and it has been idle
    /// longer than every behaviour window, plus the allowed lateness.
    int64_t expiry(const BotState& s) const {
        const int64_t idle = std::max(limits_.session_gap_ms, kMinute);
        return std::max(s.last_time + idle, s.flagged_until) + lateness_.allowed_ms;
    }

    std::string ua_name_, ip_name_, page_name_;
    int64_t ttl_ms_;
    Lateness lateness_;
    BehaviourLimits limits_;
    std::unique_ptr<UaMatcher> matcher_;
    bot_filter::UaVerdictCache cache_;
    CidrList allow_, deny_;
    std::vector<std::string> ua_labels_, ua_reasons_, deny_labels_, deny_reasons_;

    FieldId ua_ = kInvalidField, ip_ = kInvalidField, page_ = kInvalidField;
    FieldId rule_field_ = kInvalidField, reason_field_ = kInvalidField;
    OutputId bots_ = kMainOutput;
    Timers* timers_ = nullptr;
    KeyedValue<BotState> state_{"verdicts"};
};

/// Validation-time checks: the pattern file loads and compiles, ranges parse,
/// and at least one rule is on.
std::string check_config(const Config& cfg) {
    auto patterns = configured_patterns(cfg);
    if (!patterns.is_ok()) {
        return patterns.status().message();
    }
    if (!patterns.value().empty()) {
        auto matcher = UaMatcher::compile(std::move(patterns.value()));
        if (!matcher.is_ok()) {
            return matcher.status().message();
        }
    }
    CidrList ranges;
    for (const char* name : {"allow_cidrs", "deny_cidrs"}) {
        if (Status s = parse_cidrs(cfg, name, ranges); !s.is_ok()) {
            return s.message();
        }
    }
    const bool any = cfg.boolean("use_builtin_patterns") || cfg.has("patterns_file") ||
                     (cfg.has("deny_cidrs") && !cfg.list("deny_cidrs").empty()) ||
                     cfg.integer("max_events_per_minute") > 0 ||
                     cfg.integer("max_pages_per_second") > 0 || cfg.number("min_gap_cv") > 0;
    return any ? "" : "every rule is off, so bot_filter would flag nothing; enable a rule";
}

}  // namespace

ComponentSpec bot_filter_spec() {
    OperatorSpec spec("bot_filter");
    spec.summary(
            "Sends events of bots to `bots` and people's events on: user-agent patterns, "
            "address ranges and inhuman behaviour per key.")
        .description(
            "Each event is checked, in this order: an address in `allow_cidrs` passes as human "
            "whatever else holds; a user agent matching a pattern (built-in list and/or "
            "`patterns_file`, compiled into one RE2 set, verdicts cached per agent) flags the "
            "key; an address in `deny_cidrs` flags the key; then the key's behaviour in event "
            "time: more than `max_events_per_minute` events in the last 60 one-second buckets, "
            "more than `max_pages_per_second` distinct pages in one second, or gaps between "
            "events so regular (coefficient of variation below `min_gap_cv` over at least "
            "`min_events_for_regularity` events of a run) that no person makes them. A flagged "
            "key stays flagged for `flag_ttl` of event time after the last rule that fired, and "
            "all its events in that time go to `bots` with `bot_rule` and `bot_reason`. Events "
            "a key sent before a behaviour rule fired have already gone on as human. Events "
            "later than `allowed_lateness` behind the watermark go to `late` (or as `on_late` "
            "says) without touching the key's state. See docs/bot_filter.md.")
        .keyed(KeyMode::kRequired)
        .param(Param::string("ua").default_value("ua").doc("The user-agent field."))
        .param(Param::string("ip").default_value("ip").doc(
            "The client address field (IPv4 or IPv6 text)."))
        .param(Param::string("page").default_value("url").doc(
            "The field naming the page, for `max_pages_per_second`."))
        .param(Param::string("patterns_file")
                   .doc("Extra user-agent patterns: a text file with one RE2 regular expression "
                        "per line (`#` comments), or a JSON list of {\"pattern\": ...} objects "
                        "(the crawler-user-agents format). A pattern that does not compile is "
                        "an error naming file:line and the pattern.")
                   .example("conf/bots.txt"))
        .param(Param::boolean("use_builtin_patterns")
                   .default_value(true)
                   .doc("Match the built-in list of crawler, headless-browser and HTTP-tool "
                        "tokens (listed in docs/bot_filter.md)."))
        .param(Param::list("allow_cidrs")
                   .doc("Address ranges that are always human: they override every other "
                        "rule and do not touch state.")
                   .example("[10.0.0.0/8, \"2001:db8::/32\"]"))
        .param(Param::list("deny_cidrs")
                   .doc("Address ranges whose events flag their key as a bot.")
                   .example("[198.51.100.0/24]"))
        .param(Param::integer("max_events_per_minute")
                   .default_value(60)
                   .min(0)
                   .max(1e9)
                   .doc("More events than this in one key's last 60 one-second buckets of event "
                        "time flags it (`rate:>N/min`). 0 turns the rule off."))
        .param(Param::integer("max_pages_per_second")
                   .default_value(5)
                   .min(0)
                   .max(1e6)
                   .doc("More distinct pages than this within one second of event time flags "
                        "the key (`page_rate`). 0 turns the rule off."))
        .param(Param::number("min_gap_cv")
                   .default_value(0.35)
                   .min(0)
                   .max(10)
                   .doc("Gaps between a key's events whose coefficient of variation (standard "
                        "deviation / mean) is below this flag it (`regular_gaps`). People are "
                        "above 0.45; scripts that sleep a fixed or uniform time are below. 0 "
                        "turns the rule off."))
        .param(Param::integer("min_events_for_regularity")
                   .default_value(20)
                   .min(3)
                   .max(1e6)
                   .doc("Events of a run needed before `min_gap_cv` is checked."))
        .param(Param::duration("session_gap")
                   .default_value("30m")
                   .min(1000)
                   .doc("A gap longer than this ends a run: the gap statistics start over."))
        .param(Param::duration("flag_ttl")
                   .default_value("24h")
                   .min(1)
                   .doc("How long, in event time after the last rule fired, a key stays "
                        "flagged."))
        .param(Param::integer("ua_cache_size")
                   .default_value(100000)
                   .min(1)
                   .max(1e8)
                   .doc("Distinct user agents whose verdict is cached; the cache starts over "
                        "when full."))
        .output("bots",
                "Events of flagged keys, with `bot_rule` (the rule, e.g. `ua:googlebot`, "
                "`ip:deny 10.0.0.0/8`, `rate:>60/min`, `page_rate`, `regular_gaps`) and "
                "`bot_reason` (a sentence).")
        .keyed_state<BotState>(
            "verdicts",
            "Per key: the flag (until when, rule, reason), event counts per second of the last "
            "minute, the distinct pages of the current second, and the mean and variance of the "
            "gaps of the current run (about 330 bytes). A key's state is dropped once its flag "
            "expired and it was idle for max(session_gap, 1m).")
        .rule(check_config)
        .example("Split people from bots per user", R"(operators:
  clean:
    type: bot_filter
    input: clicks
    key: user_id
)")
        .example("Trust the office network, block a range, allow 30s lateness", R"(operators:
  clean:
    type: bot_filter
    input: clicks
    key: user_id
    allow_cidrs: [10.0.0.0/8]
    deny_cidrs: [198.51.100.0/24, "2001:db8:bad::/48"]
    max_events_per_minute: 120
    flag_ttl: 6h
    allowed_lateness: 30s
)");
    add_lateness(spec);
    spec.factory(&BotFilter::create);
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(bot_filter) {
    return eddy::bot_filter_spec();
}
