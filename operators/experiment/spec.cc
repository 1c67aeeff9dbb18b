// SPDX-License-Identifier: Apache-2.0
// The `experiment` operator's spec and configuration rules.
#include <algorithm>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/lateness.h"
#include "eddy/registry.h"
#include "eddy/state.h"

#include "experiment/experiment.h"

namespace eddy {
namespace {

std::string check_experiment(const Config& cfg) {
    const std::string& control = cfg.string("control");
    if (control.empty()) {
        return "`control` must name the control variant, e.g. `control: control`";
    }
    if (cfg.has("variants")) {
        std::vector<std::string> variants = cfg.strings("variants");
        if (variants.size() < 2) {
            return "`variants` must list at least 2 variants (the control and a treatment), got " +
                   std::to_string(variants.size());
        }
        if (variants.size() > static_cast<size_t>(cfg.integer("max_variants"))) {
            return "`variants` lists " + std::to_string(variants.size()) +
                   " variants, more than `max_variants` (" +
                   std::to_string(cfg.integer("max_variants")) + ")";
        }
        for (size_t i = 0; i < variants.size(); ++i) {
            auto first = std::find(variants.begin(), variants.end(), variants[i]);
            if (first != variants.begin() + static_cast<std::ptrdiff_t>(i)) {
                return "`variants` lists `" + variants[i] + "` twice; name every variant once";
            }
        }
        if (std::find(variants.begin(), variants.end(), control) == variants.end()) {
            return "the control `" + control + "` is not one of `variants`; add it to the list";
        }
    }
    if (cfg.strings("conversions").empty()) {
        return "`conversions` must name at least one event type, e.g. `[purchase]`";
    }
    if (cfg.has("exposures") && cfg.strings("exposures").empty()) {
        return "`exposures` is empty, so no user would be exposed; remove it to count every "
               "event as an exposure";
    }
    for (const std::string& t : cfg.strings("impressions")) {
        std::vector<std::string> clicks = cfg.strings("clicks");
        if (std::find(clicks.begin(), clicks.end(), t) != clicks.end()) {
            return "`" + t +
                   "` is both in `impressions` and in `clicks`; a click-through rate divides "
                   "clicks by other events";
        }
    }
    const std::string fields[] = {cfg.string("variant_field"), cfg.string("user_field"),
                                  cfg.string("type_field")};
    if (fields[0] == fields[1] || fields[0] == fields[2] || fields[1] == fields[2]) {
        return "`variant_field`, `user_field` and `type_field` must name three different fields";
    }
    if (cfg.string("on_late") == "update") {
        return "`on_late: update` is not supported: the experiment emits each window once; use "
               "`allowed_lateness` to wait for late events, or `side_output` or `drop`";
    }
    return "";
}

}  // namespace

ComponentSpec experiment_spec() {
    OperatorSpec spec("experiment");
    spec.summary(
            "Analyses an A/B test per tumbling event-time window: per variant, the conversion "
            "rate of distinct users and the click-through rate with Wilson intervals, and per "
            "treatment a two-proportion z-test and the Bayesian probability to beat the "
            "control, for the window and since the start.")
        .description(
            "Reads events that carry a variant (from `ab_assign`), a user and a type. In each "
            "`window` (tumbling, aligned to the epoch) and per variant it counts the distinct "
            "exposed users (users with an event whose type is in `exposures`, by default any "
            "event), the converters among them (exposed users with an event whose type is in "
            "`conversions` in the same window), and the events whose type is in `impressions` "
            "and in `clicks`. Conversion rate = converters / users; click-through rate (CTR) "
            "= clicks / impressions. Users are counted exactly: the operator keeps per user "
            "their variant and the windows they were counted in. With `cumulative: true` "
            "every record also has the same figures since the start of the experiment, "
            "prefixed `cum_` (a user counts once, from the window of their earliest "
            "exposure).\n\n"
            "When the watermark reaches window_end - 1 + `allowed_lateness`, it emits one "
            "record per variant (the control first), with event time window_end - 1: "
            "`window_start`, `window_end`, `experiment` (when set), `variant`, `is_control`, "
            "`users`, `converters`, `conversion_rate`, `conversion_ci_low`/`_high` (Wilson "
            "score interval at `confidence`), and for treatments the comparison with the "
            "control: `conversion_diff` (treatment - control) with `conversion_diff_ci_low`/"
            "`_high` (unpooled), `conversion_lift` (diff / control rate), `conversion_z` "
            "(pooled two-proportion z), `conversion_p_value` (two-sided), "
            "`conversion_p_beat_control` (P(treatment rate > control rate) under Beta(1 + s, 1 "
            "+ n - s) posteriors, computed exactly) and `conversion_significant` (p_value < 1 "
            "- confidence with `test: two_proportion`; p_beat_control >= confidence or <= 1 - "
            "confidence with `test: bayesian`). The same for CTR: `impressions`, `clicks`, "
            "`ctr`, `ctr_ci_low`, ..., `ctr_p_beat_control`. Figures that are undefined (no "
            "users, a control without users, more clicks than impressions) are null, as are "
            "the comparison fields of the control. Windows without events emit nothing.\n\n"
            "Unkeyed: one instance sees every event (the plan runs it at parallelism 1), so "
            "that treatments and control are compared at the same watermark; the operators "
            "before it may run in parallel. Records without a variant or user, with a variant "
            "that is not a string or a user that is neither a string nor an integer, a type "
            "that is not a string, a variant not in `variants` (or beyond `max_variants`), a "
            "user seen before in another variant (counted in the first only), or a new user "
            "beyond `max_users` go to `errors` with a reason. Events of a window already "
            "emitted are late. Metrics: `eddy_experiment_events_total{variant}`, "
            "`eddy_experiment_users_total{variant}`, "
            "`eddy_experiment_variant_switches_total`, "
            "`eddy_experiment_users_over_limit_total`, `eddy_experiment_windows_total`.")
        .keyed(KeyMode::kNone)
        .param(Param::string("control")
                   .required()
                   .doc("The control variant's name: every other variant is compared with it.")
                   .example("control"))
        .param(Param::duration("window").default_value("1d").min(1).doc(
            "Length of the tumbling event-time windows, aligned to the epoch (UTC "
            "days for `1d`)."))
        .param(Param::list("variants")
                   .doc("The variants to analyse, the control among them; events of other "
                        "variants go to `errors`. Default: every variant that appears, in order "
                        "of appearance, up to `max_variants`.")
                   .example("[control, one_click]"))
        .param(Param::string("experiment")
                   .doc("The experiment's name, written into every result record as "
                        "`experiment`; not written when unset.")
                   .example("checkout_button"))
        .param(Param::list("conversions")
                   .default_value("[purchase]")
                   .doc("Event types that convert a user."))
        .param(Param::list("exposures")
                   .doc("Event types that expose a user (the conversion rate's denominator). "
                        "Default: every event with a variant.")
                   .example("[page_view]"))
        .param(Param::list("impressions")
                   .default_value("[page_view]")
                   .doc("Event types counted as impressions (the CTR's denominator)."))
        .param(Param::list("clicks").default_value("[click]").doc(
            "Event types counted as clicks (the CTR's numerator)."))
        .param(Param::number("confidence")
                   .default_value(0.95)
                   .min(0.5)
                   .max(0.9999)
                   .doc("Confidence level of the intervals; 1 - confidence is the significance "
                        "level of the tests."))
        .param(Param::enumeration("test", {"two_proportion", "bayesian"})
                   .default_value("two_proportion")
                   .doc("The test behind `*_significant`: the two-sided two-proportion z-test, "
                        "or the probability to beat the control (beyond `confidence` either "
                        "way). Both figures are in every record."))
        .param(Param::boolean("cumulative")
                   .default_value(true)
                   .doc("Also write the figures since the start of the experiment (fields "
                        "prefixed `cum_`)."))
        .param(Param::string("variant_field")
                   .default_value("variant")
                   .doc("The field with the variant (a string)."))
        .param(Param::string("user_field")
                   .default_value("user_id")
                   .doc("The field with the user (a string or an integer)."))
        .param(Param::string("type_field").default_value("type").doc("The event type field."))
        .param(Param::integer("max_variants")
                   .default_value(20)
                   .min(2)
                   .max(1000)
                   .doc("Most variants analysed when `variants` is not set; events of further "
                        "variants go to `errors`."))
        .param(Param::integer("max_users")
                   .default_value(10000000)
                   .min(1)
                   .doc("Most users tracked since the start (about 100 bytes each in the state "
                        "cache, spilled to RocksDB beyond it); events of further new users go "
                        "to `errors` and count in eddy_experiment_users_over_limit_total."));
    add_lateness(spec);
    spec.keyed_state<experiment::UserState>(
            "users",
            "Per user: the variant, the first window with an exposure and with a conversion, "
            "and for each open window whether the user was exposed and converted in it.")
        .global_state<experiment::Totals>(
            "totals",
            "The variants, per open window and variant the users, converters, impressions, "
            "clicks and users first counted in it, and the figures since the start of every "
            "emitted window.")
        .rule(check_experiment)
        .example("Daily conversion and CTR of a checkout test", R"(operators:
  results:
    type: experiment
    input: clicks
    experiment: checkout_button
    control: control
    variants: [control, one_click]
    window: 1d
    conversions: [purchase]
    impressions: [page_view]
    clicks: [click]
    confidence: 0.95
)")
        .example("Hourly, Bayesian, exposure on product pages only", R"(operators:
  results:
    type: experiment
    input: clicks
    control: control
    window: 1h
    exposures: [page_view, click]
    conversions: [add_to_cart, purchase]
    test: bayesian
    allowed_lateness: 5m
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            return make_experiment(cfg);
        });
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(experiment) {
    return eddy::experiment_spec();
}
