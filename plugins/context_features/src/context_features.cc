// SPDX-License-Identifier: Apache-2.0
// The context_features operator: the spec, its rules, the operator and the
// plugin's entry point. See docs/plugins/context_features.md.
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "eddy/operator.h"
#include "eddy/plugin.h"
#include "eddy/spec.h"

#include "encoding.h"
#include "local_time.h"
#include "user_agent.h"

namespace eddy::context_features {
namespace {

constexpr double kTwoPi = 2 * std::numbers::pi;
constexpr double kDaySeconds = 86400;
// ValueType's enumerators, for the messages of values of the wrong type.
constexpr size_t kValueTypes = 6;
static_assert(static_cast<size_t>(ValueType::kVector) + 1 == kValueTypes,
              "ValueType changed: update kValueTypes");

/// v's type as an index into per-type messages (the last for a type added later).
size_t type_index(const Value& v) {
    return std::min(static_cast<size_t>(v.type()), kValueTypes - 1);
}

constexpr const char* kTimeNames[] = {"hour_sin",    "hour_cos",   "weekday_sin",
                                      "weekday_cos", "local_hour", "local_weekday"};
constexpr const char* kAgentNames[] = {"device_class", "browser_family", "os_family"};

/// "an int", "a string": a value type with its article, for messages.
std::string a_type(size_t type) {
    const std::string n = value_type_name(static_cast<ValueType>(type));
    return (n == "int" ? "an " : "a ") + n;
}

std::string prefix_of(const Config& cfg) {
    return cfg.has("prefix") ? cfg.string("prefix") : std::string();
}

bool wants(const Config& cfg, std::string_view group) {
    for (const std::string& f : cfg.strings("features")) {
        if (f == group) {
            return true;
        }
    }
    return false;
}

/// The feature fields the configuration writes, prefixed, in output order.
std::vector<std::string> feature_names(const Config& cfg) {
    std::vector<std::string> out;
    const std::string prefix = prefix_of(cfg);
    if (wants(cfg, "time")) {
        for (const char* n : kTimeNames) {
            out.push_back(prefix + n);
        }
    }
    if (wants(cfg, "user_agent")) {
        for (const char* n : kAgentNames) {
            out.push_back(prefix + n);
        }
    }
    return out;
}

/// "europe/berlin" -> "Europe/Berlin" when that loads: the usual slip.
std::string suggest_zone(const std::string& name) {
    std::string s = name;
    bool start = true;
    for (char& c : s) {
        const unsigned char u = static_cast<unsigned char>(c);
        c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
        start = c == '/' || c == '_' || c == '-';
    }
    absl::TimeZone tz;
    return s != name && load_time_zone(s, tz) ? s : "";
}

std::string zone_error(const Config& cfg) {
    const std::string& name = cfg.string("time_zone");
    std::string msg = "`time_zone` `" + name + "` (" + cfg.location_of("time_zone").to_string() +
                      ") is not a time zone this machine knows";
    if (std::string s = suggest_zone(name); !s.empty()) {
        return msg + "; did you mean `" + s + "`?";
    }
    return msg +
           ": write an IANA name such as Europe/Berlin or America/New_York (the names under "
           "/usr/share/zoneinfo; abbreviations like CEST or PST are not zones), UTC, or a fixed "
           "offset such as +05:30";
}

std::string check_time_zone(const Config& cfg) {
    absl::TimeZone tz;
    return load_time_zone(cfg.string("time_zone"), tz) ? "" : zone_error(cfg);
}

std::string check_features(const Config& cfg) {
    std::set<std::string> seen;
    for (const ConfigValue& item : cfg.list("features")) {
        const std::string& f = item.as_string();
        if (f != "time" && f != "user_agent") {
            return "`features` lists `" + f + "` (" + item.location().to_string() +
                   "); the feature groups are `time` and `user_agent`";
        }
        if (!seen.insert(f).second) {
            return "`features` lists `" + f + "` twice; list each group once";
        }
    }
    if (seen.empty() && !cfg.has("encode")) {
        return "`features` is empty and there is no `encode`, so context_features would add "
               "nothing; list `time` and/or `user_agent`, or give `encode`";
    }
    return "";
}

std::string check_encode(const Config& cfg) {
    if (!cfg.has("encode")) {
        return "";
    }
    Result<std::vector<EncodeRule>> rules = parse_encode(cfg.value("encode"));
    if (!rules.is_ok()) {
        return rules.status().message();
    }
    // Every field is written once, and no rule reads what another one writes.
    std::map<std::string, std::string> written;
    for (const std::string& n : feature_names(cfg)) {
        written.emplace(n, "a feature");
    }
    for (const EncodeRule& rule : rules.value()) {
        const std::string what = "an encoding of `" + rule.field + "`";
        for (const std::string& out : rule.outputs()) {
            auto [it, added] = written.emplace(out, what);
            if (!added) {
                return "`encode` would write the field `" + out + "` twice, as " + it->second +
                       " and as " + what + "; change a value, or set a `prefix` for the features";
            }
        }
    }
    for (const EncodeRule& rule : rules.value()) {
        auto it = written.find(rule.field);
        if (it != written.end() && it->second != "a feature") {
            return "`encode` reads `" + rule.field + "`, which " + it->second +
                   " writes; encode fields of the input or the features only";
        }
    }
    return "";
}

class ContextFeatures final : public Operator {
public:
    static Result<std::unique_ptr<Operator>> create(const Config& cfg) {
        absl::TimeZone tz;
        if (!load_time_zone(cfg.string("time_zone"), tz)) {
            return Status::invalid_argument(zone_error(cfg));
        }
        std::vector<EncodeRule> rules;
        if (cfg.has("encode")) {
            Result<std::vector<EncodeRule>> parsed = parse_encode(cfg.value("encode"));
            if (!parsed.is_ok()) {
                return parsed.status();
            }
            rules = std::move(parsed.value());
        }
        return std::unique_ptr<Operator>(new ContextFeatures(cfg, tz, std::move(rules)));
    }

    Status open(OpenContext& ctx) override {
        const auto resolve = [&](const char* n) { return ctx.field(prefix_ + n); };
        if (time_) {
            hour_sin_ = resolve("hour_sin");
            hour_cos_ = resolve("hour_cos");
            weekday_sin_ = resolve("weekday_sin");
            weekday_cos_ = resolve("weekday_cos");
            local_hour_ = resolve("local_hour");
            local_weekday_ = resolve("local_weekday");
        }
        std::set<std::string> features;
        if (agent_) {
            ua_ = ctx.field(ua_name_);
            device_ = resolve("device_class");
            browser_ = resolve("browser_family");
            os_ = resolve("os_family");
            for (const char* n : kAgentNames) {
                features.insert(prefix_ + n);
            }
            for (size_t t = 0; t < kValueTypes; ++t) {
                ua_reasons_[t] =
                    "the user-agent field `" + ua_name_ + "` holds " + a_type(t) + ", not a string";
            }
        }
        for (Encoder& e : encoders_) {
            e.source = ctx.field(e.rule.field);
            for (const std::string& n : e.rule.outputs()) {
                e.outputs.push_back(ctx.field(n));
            }
            // The features are strings by construction; only input fields are checked.
            e.from_feature = features.count(e.rule.field) > 0;
            for (size_t t = 0; t < kValueTypes; ++t) {
                e.reasons[t] = "the field `" + e.rule.field + "` to encode holds " + a_type(t) +
                               "; encode matches strings, integers and booleans";
            }
        }
        invalid_ = ctx.counter("context_features_invalid_values_total",
                               "User agents that are not strings, and encoded fields that are "
                               "doubles or vectors.");
        return Status::ok();
    }

    void process(const Record& in, Emitter& out) override {
        UserAgentInfo agent;
        if (agent_) {
            const Value* ua = in.get(ua_);
            if (ua != nullptr && ua->is_string()) {
                agent = cache_.classify(ua->as_string());
            } else if (ua != nullptr && !ua->is_null() &&
                       reject(in, ua_reasons_[type_index(*ua)], out)) {
                return;
            }
        }
        for (const Encoder& e : encoders_) {
            const Value* v = e.from_feature ? nullptr : in.get(e.source);
            if (v != nullptr && !v->is_null() && !ValueMatcher::matchable(*v) &&
                reject(in, e.reasons[type_index(*v)], out)) {
                return;
            }
        }

        Record& r = out.append();
        r.assign(in);
        if (time_) {
            const LocalTime local = clock_.at(in.time());
            const double day_fraction = static_cast<double>(local.ms_of_day) / 1000 / kDaySeconds;
            const double hour_angle = kTwoPi * day_fraction;
            const double weekday_angle = kTwoPi * (local.weekday + day_fraction) / 7;
            r.set(hour_sin_, std::sin(hour_angle));
            r.set(hour_cos_, std::cos(hour_angle));
            r.set(weekday_sin_, std::sin(weekday_angle));
            r.set(weekday_cos_, std::cos(weekday_angle));
            r.set(local_hour_, static_cast<int64_t>(local.ms_of_day / 3'600'000));
            r.set(local_weekday_, static_cast<int64_t>(local.weekday));
        }
        if (agent_) {
            r.set(device_, name(agent.device));
            r.set(browser_, name(agent.browser));
            r.set(os_, name(agent.os));
        }
        for (const Encoder& e : encoders_) {
            int position = e.matcher.match(r.get(e.source));
            if (position == ValueMatcher::kNotListed) {
                position = e.other;
            }
            if (e.rule.as == EncodeAs::kIndex) {
                r.set(e.outputs[0], static_cast<int64_t>(position));  // kMissing is -1
                continue;
            }
            for (size_t i = 0; i < e.outputs.size(); ++i) {
                r.set(e.outputs[i], static_cast<int64_t>(static_cast<int>(i) == position));
            }
        }
    }

private:
    struct Encoder {
        explicit Encoder(EncodeRule r)
            : rule(std::move(r)),
              matcher(rule.values),
              other(rule.listed_other() >= 0 ? rule.listed_other()
                                             : static_cast<int>(rule.values.size())) {}
        EncodeRule rule;
        ValueMatcher matcher;
        int other;  ///< The position of values not listed.
        FieldId source = kInvalidField;
        std::vector<FieldId> outputs;
        bool from_feature = false;
        std::array<std::string, kValueTypes> reasons;
    };

    ContextFeatures(const Config& cfg, absl::TimeZone tz, std::vector<EncodeRule> rules)
        : time_(wants(cfg, "time")),
          agent_(wants(cfg, "user_agent")),
          error_on_invalid_(cfg.string("on_invalid") == "error"),
          prefix_(prefix_of(cfg)),
          ua_name_(cfg.string("ua_field")),
          clock_(tz),
          cache_(static_cast<size_t>(cfg.integer("ua_cache_size"))) {
        for (EncodeRule& rule : rules) {
            encoders_.emplace_back(std::move(rule));
        }
    }

    /// Counts a value of the wrong type; true when the record went to `errors`.
    bool reject(const Record& in, std::string_view reason, Emitter& out) {
        invalid_.add();
        if (error_on_invalid_) {
            out.error(in, reason);
        }
        return error_on_invalid_;
    }

    const bool time_;
    const bool agent_;
    const bool error_on_invalid_;
    const std::string prefix_;
    const std::string ua_name_;
    LocalClock clock_;
    UserAgentCache cache_;
    std::vector<Encoder> encoders_;
    std::array<std::string, kValueTypes> ua_reasons_;
    Counter invalid_;

    FieldId hour_sin_ = kInvalidField, hour_cos_ = kInvalidField;
    FieldId weekday_sin_ = kInvalidField, weekday_cos_ = kInvalidField;
    FieldId local_hour_ = kInvalidField, local_weekday_ = kInvalidField;
    FieldId ua_ = kInvalidField, device_ = kInvalidField, browser_ = kInvalidField,
            os_ = kInvalidField;
};

}  // namespace

ComponentSpec context_features_spec() {
    OperatorSpec spec("context_features");
    spec.summary(
            "Adds context features to every event: cyclical local time of day and day of week, "
            "device class, browser and OS family from the user agent, and one-hot or index "
            "encodings of categorical fields.")
        .description(
            "Stateless; each record goes on with fields added (docs/plugins/context_features.md "
            "has every definition). Time, from the record's event time in `time_zone`: with "
            "s = seconds since local midnight (wall clock, so a 25-hour DST day repeats an "
            "hour) and d = the local weekday (Monday 0 ... Sunday 6), `hour_sin`, `hour_cos` = "
            "sin, cos of 2 pi s / 86400; `weekday_sin`, `weekday_cos` = sin, cos of "
            "2 pi (d + s / 86400) / 7; `local_hour` = floor(s / 3600) (0-23) and "
            "`local_weekday` = d.\n\n"
            "User agent, from `ua_field`, by ordered substring rules (no regex): "
            "`device_class` is the first of bot, tv, console, tablet, mobile, desktop that "
            "matches, else unknown; `browser_family` is edge, opera, samsung_internet, firefox, "
            "chrome, ie, safari or other (Edge before Opera before Samsung Internet before "
            "other Chromium and WebKit rebrands and in-app views, which are other, before "
            "Firefox, Chrome, IE and Safari); `os_family` is ios, android, windows, chrome_os, "
            "macos, linux or other. A bot's browser and OS are other; an empty, blank, null or "
            "missing agent is unknown on all three. The features replace input fields of the "
            "same name.\n\n"
            "`encode` then encodes fields of the input or the features: one_hot writes "
            "`<field>_<value>` = 1 or 0 per listed value and `<field>_other` = 1 for a value "
            "not listed; index writes `<field>_index` = the value's position from 0, the "
            "number of values for a value not listed, -1 for a missing or null field (which "
            "has all one-hot columns 0). A listed value `other` takes the values not listed. "
            "Integers and booleans match their text (`7`, `true`).\n\n"
            "A user agent that is not a string, or an encoded field that is a double or "
            "vector, counts in `eddy_context_features_invalid_values_total` and is unknown / "
            "not listed; with `on_invalid: error` the record goes to `errors` instead.")
        .param(Param::string("time_zone")
                   .default_value("UTC")
                   .doc("The zone whose wall clock the time features describe: an IANA name "
                        "(Europe/Berlin; DST applies), UTC, or a fixed offset (+05:30, -08:00, "
                        "UTC+01).")
                   .example("Europe/Berlin"))
        .param(Param::string("ua_field")
                   .default_value("ua")
                   .doc("The field with the user-agent string (`eddy gen` writes `ua`)."))
        .param(Param::list("features")
                   .default_value("[time, user_agent]")
                   .doc("Which feature groups to add: `time` (hour_*, weekday_*, local_hour, "
                        "local_weekday) and `user_agent` (device_class, browser_family, "
                        "os_family)."))
        .param(Param::string("prefix")
                   .doc("Prepended to the name of every feature (not to the `encode` columns, "
                        "which are named after the field they encode). Default: none.")
                   .example("ctx_"))
        .param(Param::map("encode")
                   .doc("Field name -> `{values: [...], as: one_hot | index}` (as defaults to "
                        "one_hot). A field may be one of the features, e.g. `device_class`.")
                   .example("{device_class: {values: [desktop, mobile, tablet]}, country: "
                            "{values: [DE, FR, US], as: index}}"))
        .param(Param::enumeration("on_invalid", {"keep", "error"})
                   .default_value("keep")
                   .doc("A user agent that is not a string, or an encoded field that is a "
                        "double or vector: `keep` the record (unknown, not listed) or send it to "
                        "`errors`."))
        .param(Param::integer("ua_cache_size")
                   .default_value(4096)
                   .min(0)
                   .max(1000000)
                   .doc("Slots of the per-shard cache of user-agent verdicts (rounded up to a "
                        "power of two); 0 turns it off."))
        .rule(check_time_zone)
        .rule(check_features)
        .rule(check_encode)
        .example("Local time in Berlin, device and browser, one-hot devices", R"(operators:
  context:
    type: context_features
    input: clicks
    time_zone: Europe/Berlin
    encode:
      device_class: {values: [desktop, mobile, tablet], as: one_hot}
      country: {values: [DE, FR, US], as: index}
)")
        .example("Only the time features, prefixed", R"(operators:
  when:
    type: context_features
    input: clicks
    features: [time]
    time_zone: "+05:30"
    prefix: ctx_
)")
        .factory(&ContextFeatures::create);
    return spec;
}

}  // namespace eddy::context_features

EDDY_PLUGIN(registry) {
    registry.add(eddy::context_features::context_features_spec());
}
