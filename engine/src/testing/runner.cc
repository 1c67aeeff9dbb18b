// SPDX-License-Identifier: Apache-2.0
#include "testing/runner.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <functional>
#include <map>
#include <set>

#include "eddy/clock.h"
#include "eddy/json_writer.h"
#include "eddy/state.h"

#include "record/line_decoder.h"
#include "runtime/job.h"
#include "runtime/tap.h"
#include "state/inspect.h"
#include "testing/matcher.h"
#include "testing/memory_io.h"

namespace eddy::topology_tests {
namespace {

/// Rounds of polling before a source that keeps producing is given up on.
constexpr int kMaxRounds = 1'000'000;
/// advance_time moves the clock in strides of at most 1 s, at most this many.
constexpr int64_t kMaxTimeStrides = 10'000;
/// Records listed under a failure, and characters of each.
constexpr size_t kShownRecords = 5;
constexpr size_t kShownChars = 400;

std::string clip(std::string text) {
    if (text.size() > kShownChars) {
        text.resize(kShownChars);
        text += "...";
    }
    return text;
}

std::string plural(size_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

/// The event time of records injected at an operator: that of the first
/// source upstream of it that reads one (records keep their source's time).
std::optional<EventTimeOptions> upstream_event_time(const Topology& topology,
                                                    const std::string& op) {
    std::vector<std::string> todo{op};
    std::set<std::string> seen;
    while (!todo.empty()) {
        std::string name = todo.back();
        todo.pop_back();
        int i = topology.find(name);
        if (i < 0 || !seen.insert(name).second) {
            continue;
        }
        const ComponentDef& def = topology.components[static_cast<size_t>(i)];
        if (def.kind == ComponentKind::kSource) {
            Result<DecoderOptions> options = decoder_options(def.config);
            if (options.is_ok() && options.value().event_time) {
                return options.value().event_time;
            }
            continue;
        }
        for (auto it = def.inputs.rbegin(); it != def.inputs.rend(); ++it) {
            todo.push_back(it->component);
        }
    }
    return std::nullopt;
}

/// What a state expectation reads: the keyed states of an operator for one key.
struct StateRead {
    bool ran = false;
    std::string type;
    std::vector<StoredState> handles;
};

class CaseRun {
public:
    CaseRun(const Topology& topology, const Registry& registry, const TestCase& test)
        : topology_(topology), registry_(registry), test_(test), clock_(test.clock_ms) {
        result_.name = test.name;
        result_.location = test.location;
    }

    CaseResult run() {
        isolated_ = isolate(topology_);
        queues_ = isolated_.queues;
        JobOptions options;
        options.clock = &clock_;
        auto made = Job::create(isolated_.topology, options);
        if (!made.is_ok()) {
            fail(test_.location, "the job could not start: " + made.status().message());
            return std::move(result_);
        }
        job_ = std::move(made.value());
        if (!open_taps() || !check(test_.location, job_->start_steps())) {
            return std::move(result_);
        }
        bool ok = true;
        for (const Step& step : test_.steps) {
            if (!(ok = run_step(step))) {
                break;
            }
        }
        std::map<const Expectation*, std::optional<JsonValue>> states;
        if (ok) {
            for (const Expectation& x : test_.expect) {
                if (x.kind == Expectation::Kind::kState) {
                    states[&x] = read_state(x);
                }
            }
        }
        if (!test_.ends_input()) {
            drain();  // before close(), which a stopped run would call too
        }
        Status finished = job_->finish_steps();
        if (test_.ends_input()) {
            drain();  // what the end of the run passed on
        }
        if (ok && !finished.is_ok()) {
            fail(test_.location, "the job failed: " + finished.message());
            ok = false;
        }
        if (ok) {
            for (const Expectation& x : test_.expect) {
                if (x.kind == Expectation::Kind::kOutput) {
                    check_output(x);
                } else {
                    check_state(x, states[&x]);
                }
            }
        }
        return std::move(result_);
    }

private:
    void fail(const Location& loc, std::string message, std::vector<std::string> details = {}) {
        result_.failures.push_back({loc, std::move(message), std::move(details)});
    }

    bool check(const Location& loc, const Status& s) {
        if (!s.is_ok()) {
            fail(loc, "the job failed: " + s.message());
        }
        return s.is_ok();
    }

    bool open_taps() {
        for (const Expectation& x : test_.expect) {
            if (x.kind != Expectation::Kind::kOutput || taps_.count(x.target) > 0) {
                continue;
            }
            TapRequest request;
            request.component = x.component;
            request.output = x.output;
            request.capacity = SIZE_MAX;
            request.capacity_bytes = SIZE_MAX;
            auto tap = job_->open_tap(std::move(request));
            if (!tap.is_ok()) {
                fail(x.location, "cannot read output " + x.target + ": " + tap.status().message());
                return false;
            }
            taps_[x.target] = tap.value();
            outputs_[x.target];
        }
        return true;
    }

    void drain() {
        for (auto& [target, tap] : taps_) {
            std::vector<TapEvent> events;
            tap->take(events, std::chrono::milliseconds(0));
            for (const TapEvent& e : events) {
                if (e.kind != TapEvent::Kind::kRecord) {
                    continue;
                }
                if (auto v = parse_json(e.json)) {
                    outputs_[target].push_back(std::move(*v));
                }
            }
        }
    }

    /// Polls the sources until none has anything left.
    bool pump(const Location& loc) {
        for (int round = 0; round < kMaxRounds; ++round) {
            auto outcome = job_->step();
            if (!outcome.is_ok()) {
                return check(loc, outcome.status());
            }
            if (!outcome.value().had_data) {
                return true;
            }
        }
        fail(loc,
             "the sources kept producing records after " + std::to_string(kMaxRounds) + " polls");
        return false;
    }

    bool run_step(const Step& step) {
        switch (step.kind) {
            case Step::Kind::kInput:
                return input(step);
            case Step::Kind::kAdvanceWatermark: {
                int64_t base = std::max(job_->sources_watermark(), operator_time_);
                return check(step.location,
                             job_->advance_watermark((base == kNoWatermark ? 0 : base) + step.ms));
            }
            case Step::Kind::kWatermark:
                return check(step.location, job_->advance_watermark(step.ms));
            case Step::Kind::kAdvanceTime:
                return advance_time(step.location, clock_.now_ms() + step.ms);
            case Step::Kind::kTime:
                if (step.ms < clock_.now_ms()) {
                    fail(step.location, "`time` goes back: the clock is at " +
                                            std::to_string(clock_.now_ms()) + ", the step says " +
                                            std::to_string(step.ms));
                    return false;
                }
                return advance_time(step.location, step.ms);
            case Step::Kind::kEndOfInput:
                for (auto& [name, queue] : queues_) {
                    queue->ended = true;
                }
                for (int round = 0; round < kMaxRounds; ++round) {
                    auto outcome = job_->step();
                    if (!outcome.is_ok()) {
                        return check(step.location, outcome.status());
                    }
                    if (outcome.value().ended) {
                        return true;
                    }
                }
                fail(step.location, "the sources did not end");
                return false;
        }
        return true;
    }

    /// Moves the clock to `target` in strides, firing the processing-time
    /// timers due after each, as a running job's loop would.
    bool advance_time(const Location& loc, int64_t target) {
        int64_t stride = std::max<int64_t>(1000, (target - clock_.now_ms()) / kMaxTimeStrides);
        do {
            clock_.set(std::min(target, clock_.now_ms() + stride));
            if (!pump(loc)) {
                return false;
            }
        } while (clock_.now_ms() < target);
        return true;
    }

    bool input(const Step& step) {
        auto queue = queues_.find(step.to);
        if (queue != queues_.end()) {
            for (const InputLine& line : step.lines) {
                queue->second->lines.push_back(line);
            }
            return pump(step.location);
        }
        // An operator: the records as its input would have passed them on.
        DecoderOptions options;
        options.event_time = upstream_event_time(topology_, step.to);
        LineDecoder decoder(
            options, [this](std::string_view name) { return job_->field(name); }, clock_);
        Batch batch;
        for (const InputLine& line : step.lines) {
            Record& r = batch.append();
            if (Status s = decoder.decode(line.text, r); !s.is_ok()) {
                fail(line.location, "input record " + std::to_string(line.position) + " for '" +
                                        step.to + "' cannot be read: " + s.message());
                return false;
            }
            operator_time_ = std::max(operator_time_, r.time());
        }
        return check(step.location, job_->inject(step.to, batch)) && pump(step.location);
    }

    std::optional<JsonValue> read_state(const Expectation& x) {
        Value key;
        int64_t number = 0;
        const std::string& text = x.key.text;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (!x.key.quoted && ec == std::errc() && end == text.data() + text.size()) {
            key = Value::integer(number);
        } else {
            key = Value::string_view(text);
        }
        std::string encoded;
        encode_state_key(key, encoded);
        auto read = std::make_shared<StateRead>();
        Status posted = job_->run_on_owner(
            x.op, &key, [read, encoded, only = x.state_name](const OwnerView* v) {
                if (v != nullptr) {
                    read->ran = true;
                    read->type = v->def->type;
                    read_stored_states(*v->states, encoded, only, read->handles);
                }
            });
        if (!posted.is_ok()) {
            fail(x.location, "cannot read the state of '" + x.op + "': " + posted.message());
            return std::nullopt;
        }
        if (auto stepped = job_->step(); !stepped.is_ok() || !read->ran) {
            fail(x.location, "cannot read the state of '" + x.op + "': " +
                                 (!stepped.is_ok() ? stepped.status().message()
                                                   : std::string("the job has stopped")));
            return std::nullopt;
        }
        // As GET /v1/state: {state name: value} of the handles holding the key.
        state::OperatorMeta meta;
        meta.type = read->type;
        for (const StoredState& h : read->handles) {
            meta.handles.push_back({h.name, true, h.version});
        }
        JsonValue all;
        all.kind = JsonValue::Kind::kObject;
        for (size_t i = 0; i < read->handles.size(); ++i) {
            if (!read->handles[i].found) {
                continue;
            }
            JsonWriter j;
            j.begin_object();
            state::append_state_value(registry_, meta, i, read->handles[i].stored, j);
            j.end_object();
            std::optional<JsonValue> rendered = parse_json(j.str());
            const JsonValue* value = rendered ? rendered->find("value") : nullptr;
            all.members.emplace_back(read->handles[i].name,
                                     value != nullptr ? *value : rendered.value_or(JsonValue{}));
        }
        if (all.members.empty()) {
            return JsonValue{};  // null: no state for the key
        }
        // One keyed state (or one asked for by name): its value itself.
        if (read->handles.size() == 1) {
            return all.members[0].second;
        }
        return all;
    }

    void check_state(const Expectation& x, const std::optional<JsonValue>& value) {
        if (!value) {
            return;  // reading it failed, and said so
        }
        std::string what = "state of '" + x.op + "' for key " + x.key.to_string() + ": ";
        bool found = value->kind != JsonValue::Kind::kNull;
        if (x.exists && *x.exists != found) {
            fail(x.location, what + (found ? "expected none, got " + clip(value->to_string())
                                           : "expected some, got none"));
            return;
        }
        if (!x.state_fields) {
            return;
        }
        if (!found) {
            fail(x.location, what + "expected fields " + x.state_fields->text + ", got no state");
            return;
        }
        std::vector<std::string> why = match_record(*x.state_fields, *value, false);
        for (const std::string& w : why) {
            fail(x.state_fields->location, what + w, {"actual: " + clip(value->to_string())});
        }
    }

    static std::string count_text(const Expectation& x) {
        if (x.count_min == x.count_max) {
            return *x.count_max == 0 ? "no records" : "count " + std::to_string(*x.count_max);
        }
        if (x.count_min && x.count_max) {
            return "between " + std::to_string(*x.count_min) + " and " +
                   std::to_string(*x.count_max) + " records";
        }
        return x.count_min ? "at least " + plural(static_cast<size_t>(*x.count_min), "record")
                           : "at most " + plural(static_cast<size_t>(*x.count_max), "record");
    }

    /// The records of an output as detail lines, numbered from 1.
    static std::vector<std::string> listing(const std::vector<JsonValue>& records) {
        std::vector<std::string> lines;
        for (size_t i = 0; i < records.size() && i < kShownRecords; ++i) {
            lines.push_back("record " + std::to_string(i + 1) + ": " +
                            clip(records[i].to_string()));
        }
        if (records.size() > kShownRecords) {
            lines.push_back("... and " + plural(records.size() - kShownRecords, "more record"));
        }
        return lines;
    }

    void check_output(const Expectation& x) {
        const std::vector<JsonValue>& records = outputs_[x.target];
        const std::string what = "output " + x.target + ": ";
        const auto n = static_cast<int64_t>(records.size());
        if ((x.count_min && n < *x.count_min) || (x.count_max && n > *x.count_max)) {
            fail(x.count_location,
                 what + "expected " + count_text(x) + ", got " + std::to_string(n),
                 listing(records));
        }
        if (x.records) {
            check_exact(x, records, what);
        }
        if (x.contains) {
            check_contains(x, records, what);
        }
        if (x.where) {
            if (records.empty()) {
                fail(x.where->location, what + "`where` expected records to check, got none");
            }
            size_t failed = 0;
            for (size_t i = 0; i < records.size(); ++i) {
                std::vector<std::string> why = match_record(*x.where, records[i], false);
                if (why.empty()) {
                    continue;
                }
                if (++failed <= kShownRecords) {
                    fail(x.where->location, what + "record " + std::to_string(i + 1) + " " + why[0],
                         {"actual: " + clip(records[i].to_string())});
                }
            }
            if (failed > kShownRecords) {
                fail(x.where->location, what + "and " +
                                            plural(failed - kShownRecords, "more record") +
                                            " fail `where`");
            }
        }
    }

    void check_exact(const Expectation& x, const std::vector<JsonValue>& records,
                     const std::string& what) {
        const std::vector<RecordPattern>& want = *x.records;
        if (want.size() != records.size()) {
            fail(x.records_location,
                 what + "expected " + plural(want.size(), "record") + ", got " +
                     std::to_string(records.size()),
                 listing(records));
        }
        for (size_t i = 0; i < want.size() && i < records.size(); ++i) {
            std::vector<std::string> why = match_record(want[i], records[i], true);
            for (const std::string& w : why) {
                fail(want[i].location, what + "record " + std::to_string(i + 1) + " " + w,
                     {"expected: " + want[i].text, "actual: " + clip(records[i].to_string())});
            }
        }
    }

    void check_contains(const Expectation& x, const std::vector<JsonValue>& records,
                        const std::string& what) {
        // Each pattern needs a record of its own, in any order: a maximum
        // bipartite matching (Kuhn's augmenting paths; the sizes are small),
        // so that a pattern never takes the one record another needs.
        const std::vector<RecordPattern>& patterns = *x.contains;
        std::vector<std::vector<bool>> fits(patterns.size(), std::vector<bool>(records.size()));
        for (size_t p = 0; p < patterns.size(); ++p) {
            for (size_t i = 0; i < records.size(); ++i) {
                fits[p][i] = match_record(patterns[p], records[i], false).empty();
            }
        }
        std::vector<size_t> owner(records.size(), SIZE_MAX);  // record -> pattern
        std::vector<bool> seen;
        std::function<bool(size_t)> augment = [&](size_t p) {
            for (size_t i = 0; i < records.size(); ++i) {
                if (fits[p][i] && !seen[i]) {
                    seen[i] = true;
                    if (owner[i] == SIZE_MAX || augment(owner[i])) {
                        owner[i] = p;
                        return true;
                    }
                }
            }
            return false;
        };
        std::vector<bool> matched(patterns.size(), false);
        for (size_t p = 0; p < patterns.size(); ++p) {
            seen.assign(records.size(), false);
            matched[p] = augment(p);
        }
        for (size_t p = 0; p < patterns.size(); ++p) {
            if (!matched[p]) {
                report_unmatched(patterns[p], p, fits, records, what);
            }
        }
    }

    void report_unmatched(const RecordPattern& pattern, size_t p,
                          const std::vector<std::vector<bool>>& fits,
                          const std::vector<JsonValue>& records, const std::string& what) {
        std::vector<std::string> details;
        size_t fitting = 0;
        for (size_t i = 0; i < records.size(); ++i) {
            fitting += fits[p][i] ? 1 : 0;
        }
        if (records.empty()) {
            details.push_back("the output is empty");
        } else if (fitting > 0) {
            details.push_back((fitting == 1 ? std::string("1 record matches it, but another "
                                                          "pattern needs it")
                                            : plural(fitting, "record") +
                                                  " match it, but other patterns need every "
                                                  "one of them") +
                              ": the output has fewer matching records than `contains` asks "
                              "for");
        } else {
            size_t best = 0;
            std::vector<std::string> best_why;
            for (size_t i = 0; i < records.size(); ++i) {
                std::vector<std::string> why = match_record(pattern, records[i], false);
                if (i == 0 || why.size() < best_why.size()) {
                    best = i;
                    best_why = std::move(why);
                }
            }
            details.push_back("nearest: record " + std::to_string(best + 1) + ": " +
                              clip(records[best].to_string()));
            for (const std::string& w : best_why) {
                details.push_back("  " + w);
            }
        }
        fail(pattern.location,
             what + "expected a record matching " + pattern.text + ", got none of " +
                 plural(records.size(), "record"),
             std::move(details));
    }

    const Topology& topology_;
    const Registry& registry_;
    const TestCase& test_;
    ManualClock clock_;
    IsolatedTopology isolated_;  // its specs outlive the job
    std::unique_ptr<Job> job_;
    std::map<std::string, std::shared_ptr<InputQueue>> queues_;
    std::map<std::string, std::shared_ptr<Tap>> taps_;
    std::map<std::string, std::vector<JsonValue>> outputs_;
    int64_t operator_time_ = kNoWatermark;
    CaseResult result_;
};

}  // namespace

CaseResult run_case(const Topology& topology, const Registry& registry, const TestCase& test) {
    return CaseRun(topology, registry, test).run();
}

std::string render(const CaseResult& result) {
    if (result.passed()) {
        return "  PASS " + result.name + "\n";
    }
    std::string out = "  FAIL " + result.name + " (" + result.location.to_string() + ")\n";
    for (const Failure& f : result.failures) {
        out += "    " + f.location.to_string() + ": " + f.message + "\n";
        for (const std::string& d : f.details) {
            out += "        " + d + "\n";
        }
    }
    return out;
}

}  // namespace eddy::topology_tests
