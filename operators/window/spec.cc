// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/registry.h"
#include "eddy/units.h"

#include "window/aggregates.h"
#include "window/window.h"

namespace eddy {
namespace window {
namespace {

constexpr int64_t kMaxPanesPerWindow = 10000;

struct OpName {
    std::string_view name;
    AggOp op;
};

constexpr OpName kOps[] = {
    {"count", AggOp::kCount},       {"sum", AggOp::kSum},           {"avg", AggOp::kAvg},
    {"min", AggOp::kMin},           {"max", AggOp::kMax},           {"stddev", AggOp::kStddev},
    {"distinct", AggOp::kDistinct}, {"quantile", AggOp::kQuantile}, {"first", AggOp::kFirst},
    {"last", AggOp::kLast},
};

constexpr std::string_view kReservedOutputs[] = {"window_start", "window_end", "key", "revision"};

std::string op_list() {
    std::string s;
    for (const OpName& o : kOps) {
        s += (s.empty() ? "" : ", ") + std::string(o.name);
    }
    return s;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), size_t{0});
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

/// "; did you mean `avg`?" for a likely typo among `candidates`, else "".
template <class Range>
std::string suggestion(std::string_view word, const Range& candidates) {
    std::string best;
    size_t best_distance = std::max<size_t>(2, word.size() / 2) + 1;
    for (std::string_view c : candidates) {
        size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(c);
        }
    }
    return best.empty() ? "" : "; did you mean `" + best + "`?";
}

std::string unknown_op(const std::string& name, const std::string& op) {
    std::string where = "aggregation `" + name + "` has unknown op `" + op + "`";
    bool percentile =
        op == "median" || op == "percentile" ||
        (op.size() >= 2 && op[0] == 'p' &&
         std::all_of(op.begin() + 1, op.end(), [](char c) { return c >= '0' && c <= '9'; }));
    if (percentile) {
        return where + "; write `{op: quantile, field: ..., q: 0.9}` for a percentile";
    }
    // Names other systems use for the same thing.
    constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
        {"average", "avg"},          {"mean", "avg"},        {"std", "stddev"},
        {"stdev", "stddev"},         {"unique", "distinct"}, {"count_distinct", "distinct"},
        {"cardinality", "distinct"}, {"total", "sum"},       {"earliest", "first"},
        {"latest", "last"},
    };
    for (const auto& [alias, name] : kAliases) {
        if (op == alias) {
            return where + "; did you mean `" + std::string(name) + "`?";
        }
    }
    std::vector<std::string_view> names;
    for (const OpName& o : kOps) {
        names.push_back(o.name);
    }
    std::string hint = suggestion(op, names);
    return where + (hint.empty() ? "; ops are " + op_list() : hint);
}

std::string parse_aggregation(const std::string& name, const ConfigValue& body,
                              AggregationSpec& out) {
    out.name = name;
    std::string where = "aggregation `" + name + "`";
    if (!body.is_map()) {
        return where + " must be a map like `{op: avg, field: dwell_ms}`, got `" +
               body.to_string() + "`";
    }
    for (std::string_view reserved : kReservedOutputs) {
        if (name == reserved) {
            return where + " uses a name the window sets itself (window_start, window_end, " +
                   "key, revision); pick another output name";
        }
    }
    const ConfigValue* op = body.find("op");
    for (const auto& [k, v] : body.entries()) {
        if (k != "op" && k != "field" && k != "q") {
            std::string hint = suggestion(k, std::vector<std::string_view>{"op", "field", "q"});
            return where + " has unknown key `" + k + "`" +
                   (hint.empty() ? "; keys are op, field and q" : hint);
        }
    }
    if (op == nullptr || !op->is_scalar() || op->as_string().empty()) {
        return where + " needs an `op`: one of " + op_list();
    }
    const std::string& op_text = op->as_string();
    auto it = std::find_if(std::begin(kOps), std::end(kOps),
                           [&](const OpName& o) { return o.name == op_text; });
    if (it == std::end(kOps)) {
        return unknown_op(name, op_text);
    }
    out.op = it->op;
    if (const ConfigValue* field = body.find("field")) {
        if (!field->is_scalar() || field->is_null() || field->as_string().empty()) {
            return where + " has an empty `field`; name the input field to aggregate";
        }
        out.field = field->as_string();
    } else if (out.op != AggOp::kCount) {
        return where + " (op `" + op_text + "`) needs a `field`, for example `{op: " + op_text +
               ", field: dwell_ms}`";
    }
    const ConfigValue* q = body.find("q");
    if (out.op != AggOp::kQuantile) {
        return q == nullptr ? "" : where + ": `q` only applies to op `quantile`; remove it";
    }
    if (q == nullptr) {
        return where + " (op `quantile`) needs `q`, the quantile in (0, 1), e.g. `q: 0.9`";
    }
    const std::string& text = q->as_string();
    char* end = nullptr;
    out.q = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(out.q > 0 && out.q < 1)) {
        return where + ": `q` must be a number strictly between 0 and 1 (0.9 for p90), got `" +
               text + "`";
    }
    return "";
}

std::string check(const Config& cfg) {
    WindowConfig unused;
    return parse_config(cfg, unused);
}

}  // namespace

std::string parse_config(const Config& cfg, WindowConfig& out) {
    out.size_ms = cfg.duration("size").count();
    out.slide_ms = cfg.has("slide") ? cfg.duration("slide").count() : out.size_ms;
    out.lateness = Lateness::from(cfg);
    if (out.slide_ms > out.size_ms) {
        return "`slide` (" + format_duration_ms(out.slide_ms) + ") must not exceed `size` (" +
               format_duration_ms(out.size_ms) +
               "): windows would skip the events between them; use slide = size for tumbling "
               "windows";
    }
    out.pane_ms = std::gcd(out.size_ms, out.slide_ms);
    if (out.size_ms / out.pane_ms > kMaxPanesPerWindow) {
        return "a window of " + format_duration_ms(out.size_ms) + " sliding by " +
               format_duration_ms(out.slide_ms) + " needs " +
               std::to_string(out.size_ms / out.pane_ms) + " panes of " +
               format_duration_ms(out.pane_ms) + " (gcd of size and slide); at most " +
               std::to_string(kMaxPanesPerWindow) +
               " are allowed: make `size` a multiple of a larger `slide`";
    }
    const ConfigValue& aggs = cfg.value("aggregations");
    if (aggs.entries().empty()) {
        return "`aggregations` is empty; add at least one, e.g. `events: {op: count}`";
    }
    out.aggregations.clear();
    for (const auto& [name, body] : aggs.entries()) {
        std::string error = parse_aggregation(name, body, out.aggregations.emplace_back());
        if (!error.empty()) {
            return error;
        }
    }
    return "";
}

}  // namespace window

ComponentSpec window_spec() {
    OperatorSpec spec("window");
    spec.summary(
            "Aggregates events into tumbling or sliding event-time windows, per key or global.")
        .description(
            "Windows are [start, end) intervals aligned to the epoch: `size` long, one starting "
            "every `slide` (default: `size`, i.e. tumbling). An event at time t belongs to every "
            "window with start <= t < end, so an event exactly at a window's end belongs to the "
            "next one. With `key`, each key value has its own windows; without it the window is "
            "global (one group) and should run with `parallelism: 1`, since each shard would "
            "otherwise aggregate only its own part of the stream.\n\n"
            "Aggregation is incremental: events update one pane of gcd(size, slide) per key, "
            "and a window's result merges its panes when it fires, so sliding windows never "
            "buffer events. `aggregations` maps each output field to `{op, field, q}`: `count` "
            "(records; with a `field`, records where it is not null), `sum`, `avg`, `min`, "
            "`max`, `stddev` (population) of a numeric field, `distinct` (HyperLogLog estimate, "
            "0.8% standard error), `quantile` with `q` in (0, 1) (KLL sketch, ~1% rank error), "
            "`first` and `last` (the value with the earliest and latest event time). A record "
            "without the field (or with null) is skipped by that aggregation only; an "
            "aggregation with no values is null (distinct is 0). A record whose field holds a "
            "non-number where a number is needed goes to `errors` and is not aggregated. Sums, "
            "mins and maxes of ints stay ints.\n\n"
            "Each output record has `window_start`, `window_end`, `key` (when keyed) and the "
            "aggregations, with event time window_end - 1; windows without events emit nothing. "
            "A window fires when the watermark reaches window_end - 1, i.e. once no event "
            "inside it can still arrive on time.\n\n"
            "Lateness. With `on_late: side_output` or `drop`, each window is emitted exactly "
            "once, when the watermark reaches window_end - 1 + allowed_lateness: events up to "
            "`allowed_lateness` behind the watermark are still included. An event whose "
            "windows have all been emitted is late: it goes to `late` or is dropped. With "
            "`on_late: update`, a window is emitted as soon as the watermark reaches "
            "window_end - 1 with `revision: 0`, and its panes are kept for `allowed_lateness` "
            "more; a late event in that time is applied and each affected window is emitted "
            "again at once with the full corrected result and the next `revision` (1, 2, ...), "
            "which replaces the earlier ones. An event later than that can no longer be "
            "applied (its panes are gone) and goes to `late`. Late events are always counted; "
            "their `lateness_ms` is the watermark minus the event time.")
        .keyed(KeyMode::kOptional)
        .param(Param::duration("size").required().min(1).doc("Window length.").example("1m"))
        .param(Param::duration("slide")
                   .min(1)
                   .doc("How often a window starts; at most `size`. Default: `size` (tumbling "
                        "windows); smaller values give sliding windows.")
                   .example("10s"))
        .param(Param::map("aggregations")
                   .required()
                   .doc("Output field name -> `{op, field, q}`. op is one of count, sum, avg, "
                        "min, max, stddev, distinct, quantile, first, last; `field` is the "
                        "input field (all but count need one); `q` is the quantile for "
                        "`quantile`.")
                   .example("{events: {op: count}, dwell_p90: {op: quantile, field: dwell_ms, "
                            "q: 0.9}}"));
    add_lateness(spec);
    spec.keyed_state<window::KeyWindows>(
            "windows",
            "Per key, the panes (gcd(size, slide) long) that an unfinished or retained window "
            "still needs, each with its record count and one aggregate per field and kind: "
            "count/sum/min/max/Welford moments, a KLL sketch per quantile field, a sparse or "
            "dense HyperLogLog per distinct field, the first/last value with its time. Panes "
            "are dropped once every window containing them is past window_end - 1 + "
            "allowed_lateness.")
        .rule(window::check)
        .example("Per-user minute metrics", R"(operators:
  per_user_minute:
    type: window
    input: clicks
    key: user_id            # optional: without key the window is global (one group)
    size: 1m
    aggregations:
      events: {op: count}
      dwell_avg: {op: avg, field: dwell_ms}
      dwell_p90: {op: quantile, field: dwell_ms, q: 0.9}
      items: {op: distinct, field: item_id}
      first_page: {op: first, field: url}
)")
        .example("Sliding 10-minute site-wide unique users, every minute, with late updates",
                 R"(operators:
  site_uniques:
    type: window
    input: clicks
    parallelism: 1          # a global window is one group
    size: 10m
    slide: 1m
    allowed_lateness: 30s
    on_late: update         # re-emit corrected windows with revision 1, 2, ...
    aggregations:
      users: {op: distinct, field: user_id}
      item_events: {op: count, field: item_id}
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            return window::make_operator(cfg);
        });
    return spec;
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(window) {
    return eddy::window_spec();
}
