// SPDX-License-Identifier: Apache-2.0
// Benchmark (b) of `make bench`: the work of a topology such as
// topologies/behaviour.yaml done by a hand-written, single-threaded loop
// instead of the runtime. It reads the topology only for its settings (the
// source's file and watermark, each operator's validated config, the sinks'
// paths) and then runs without plan, chains, exchanges, contexts per shard,
// metrics, checkpoints or state backends: lines are parsed with simdjson
// On-Demand straight into eddy::Record batches, the built-in operators'
// own code is called directly, each with a minimal timer queue, and each
// sink writes JSON lines. Its outputs equal Eddy's because it makes the same
// decisions as the runtime (see docs/benchmarks.md):
// - the source reads batches of Batch::kDefaultCapacity lines and the
//   watermark, max event time - max_out_of_orderness - 1, advances after
//   each batch and becomes kEndOfTime after the last;
// - each operator sees its input records in upstream emission order, and a
//   watermark after everything its upstream emitted while advancing to it;
// - timers fire in (time, key) order and a (key, time) pair set twice fires once.
// It supports what behaviour.yaml needs: one `file` source of JSON Lines
// without nested values, operators with one input each and no state_ttl,
// `file` and `null` sinks; anything else is refused.
//
//   hand_loop TOPOLOGY
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "eddy/fields.h"
#include "eddy/operator.h"
#include "eddy/record.h"

#include "line_chunks.h"
#include "record/event_time.h"
#include "record/json.h"
#include "record/utf8.h"
#include "runtime/builtins.h"
#include "topology/validator.h"

namespace eddy::bench {
namespace {

namespace od = simdjson::ondemand;

/// Lines per source poll in the runtime: the watermark advances after each.
constexpr size_t kPoll = Batch::kDefaultCapacity;
constexpr size_t kRawErrorBytes = 1024;
constexpr size_t kSinkBufferBytes = 1 << 20;

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "hand_loop: %s\n", message.c_str());
    std::exit(1);
}

/// One operator's event-time timers, fired in (time, key) order.
class TimerQueue final : public Timers {
public:
    void set(TimeDomain domain, const Value& key, int64_t time) override {
        queue_.insert(entry(domain, key, time));
    }
    void cancel(TimeDomain domain, const Value& key, int64_t time) override {
        queue_.erase(entry(domain, key, time));
    }
    int64_t watermark() const override { return watermark_; }

    /// Sets the watermark and fires each timer due at it, also ones set while firing.
    template <class F>
    void advance(int64_t watermark, F&& fire) {
        watermark_ = watermark;
        while (!queue_.empty() && queue_.begin()->time <= watermark) {
            auto node = queue_.extract(queue_.begin());
            fire(Timer{TimeDomain::kEventTime, node.value().time, node.value().key()});
        }
    }

private:
    struct Entry {
        int64_t time;
        ValueType type;
        int64_t number;
        std::string text;
        bool operator<(const Entry& o) const {
            return std::tie(time, type, number, text) < std::tie(o.time, o.type, o.number, o.text);
        }
        Value key() const {
            switch (type) {
                case ValueType::kString:
                    return Value::string_view(text);
                case ValueType::kInt:
                    return Value::integer(number);
                case ValueType::kBool:
                    return Value::boolean(number != 0);
                default:
                    return Value::null();
            }
        }
    };
    static Entry entry(TimeDomain domain, const Value& key, int64_t time) {
        if (domain != TimeDomain::kEventTime) {
            die("processing-time timers are not implemented");
        }
        Entry e{time, key.type(), 0, {}};
        switch (key.type()) {
            case ValueType::kString:
                e.text.assign(key.as_string());
                break;
            case ValueType::kInt:
                e.number = key.as_int();
                break;
            case ValueType::kBool:
                e.number = key.as_bool() ? 1 : 0;
                break;
            case ValueType::kNull:
                break;
            default:
                die(std::string("timer keys of type ") + value_type_name(key.type()) +
                    " are not implemented");
        }
        return e;
    }

    std::set<Entry> queue_;
    int64_t watermark_ = kNoWatermark;
};

/// A `file` sink (JSON lines, truncating) or, without a path, a `null` sink.
class FileSink {
public:
    FileSink(const std::string& path, const FieldTable& fields)
        : encoder_([&fields](FieldId id) { return fields.name(id); }) {
        if (path.empty()) {
            return;
        }
        std::filesystem::path parent = std::filesystem::path(path).parent_path();
        if (!parent.empty()) {
            std::filesystem::create_directories(parent);
        }
        file_ = std::fopen(path.c_str(), "wb");
        if (file_ == nullptr) {
            die("cannot open '" + path + "' for writing");
        }
    }
    ~FileSink() { close(); }
    FileSink(const FileSink&) = delete;
    FileSink& operator=(const FileSink&) = delete;

    void write(const Batch& batch) {
        if (file_ == nullptr) {
            return;
        }
        for (size_t i = 0; i < batch.size(); ++i) {
            encoder_.append(batch[i], buffer_);
            buffer_ += '\n';
        }
        if (buffer_.size() >= kSinkBufferBytes) {
            flush();
        }
    }
    void close() {
        if (file_ != nullptr) {
            flush();
            std::fclose(file_);
            file_ = nullptr;
        }
    }

private:
    void flush() {
        if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
            die("writing a sink failed");
        }
        buffer_.clear();
    }

    JsonEncoder encoder_;
    std::string buffer_;
    std::FILE* file_ = nullptr;
};

class Stage;

/// Where the records of one output go: an operator or a sink.
struct Route {
    Stage* stage = nullptr;
    FileSink* sink = nullptr;
};

void deliver(const std::vector<Route>& routes, Batch& batch);

/// One operator instance, called directly: it is its own context and emitter.
class Stage final : public OpenContext, public Emitter {
public:
    Stage(const ComponentDef& def, FieldTable& fields) : def_(def), fields_(fields) {
        auto made = def.spec->make_operator(def.config);
        if (!made.is_ok()) {
            die("operator '" + def.name + "': " + made.status().message());
        }
        op_ = std::move(made).value();
        outputs_.resize(def.spec->outputs.size() + 2);
        routes_.resize(outputs_.size());
        if (!def.key.empty()) {
            key_ = fields.intern(def.key);
        }
        lateness_ = fields.intern("lateness_ms");
        error_ = fields.intern("error");
        error_at_ = fields.intern("error_component");
        if (def.spec->has_output("late")) {
            late_ = output("late");
        }
        if (Status s = op_->open(*this); !s.is_ok()) {
            die("operator '" + def.name + "': " + s.message());
        }
    }

    void connect(std::string_view output_name, Route route) {
        routes_[output(output_name.empty() ? "main" : output_name)].push_back(route);
    }

    std::string_view name() const override { return def_.name; }
    FieldId field(std::string_view n) override { return fields_.intern(n); }
    std::string_view field_name(FieldId id) const override { return fields_.name(id); }
    const Clock& clock() const override { return Clock::system(); }
    void log(LogLevel, std::string_view message) override {
        std::fprintf(stderr, "[%s] %.*s\n", def_.name.c_str(), static_cast<int>(message.size()),
                     message.data());
    }
    OutputId output(std::string_view n) override {
        if (n == "main") {
            return kMainOutput;
        }
        if (n == "errors") {
            return static_cast<OutputId>(outputs_.size() - 1);
        }
        for (size_t i = 0; i < def_.spec->outputs.size(); ++i) {
            if (def_.spec->outputs[i].name == n) {
                return static_cast<OutputId>(i + 1);
            }
        }
        die("operator '" + def_.name + "' has no output '" + std::string(n) + "'");
    }
    Timers& timers() override { return timers_; }
    // State lives in memory only: nothing to snapshot, spill or expire.
    void register_state(StateHandle&) override {}

    Record& append(OutputId out) override { return outputs_[out].append(); }
    void emit(const Record& record, OutputId out) override { outputs_[out].append_copy(record); }
    void error(const Record& record, std::string_view reason) override {
        Record& r = outputs_.back().append_copy(record);
        r.set(error_, reason);
        r.set(error_at_, std::string_view(def_.name));
    }
    void late(const Record& record, int64_t lateness_ms, LatePolicy policy) override {
        if (policy == LatePolicy::kSideOutput && late_ != kMainOutput) {
            outputs_[late_].append_copy(record).set(lateness_, lateness_ms);
        }
    }

    /// Records from upstream: keyed by this operator's key (records without
    /// one are errors), processed in order, outputs passed on.
    void process(Batch& input) {
        for (size_t i = 0; i < input.size(); ++i) {
            Record& r = input[i];
            if (key_ != kInvalidField) {
                const Value* key = r.get(key_);
                if (key == nullptr || key->is_null()) {
                    error(r, "key field '" + def_.key + "' is missing");
                    continue;
                }
                r.set_key(*key);
            } else {
                r.set_key(Value());
            }
            op_->process(r, *this);
        }
        flush();
    }

    /// The input's watermark advanced: fires due timers, passes the outputs
    /// on, then the watermark to every downstream operator.
    void advance(int64_t watermark) {
        timers_.advance(watermark, [this](const Timer& timer) {
            op_->on_timer(timer, *this);
            if (pending() >= kPoll) {
                flush();  // bounds memory when the end of input fires every timer
            }
        });
        op_->on_watermark(watermark, *this);
        flush();
        for (const auto& routes : routes_) {
            for (const Route& r : routes) {
                if (r.stage != nullptr) {
                    r.stage->advance(watermark);
                }
            }
        }
    }

    void close() {
        op_->close(*this);
        flush();
    }

private:
    size_t pending() const {
        size_t n = 0;
        for (const Batch& b : outputs_) {
            n += b.size();
        }
        return n;
    }
    void flush() {
        for (size_t o = 0; o < outputs_.size(); ++o) {
            if (!outputs_[o].empty()) {
                deliver(routes_[o], outputs_[o]);
                outputs_[o].clear();
            }
        }
    }

    const ComponentDef& def_;
    FieldTable& fields_;
    std::unique_ptr<Operator> op_;
    TimerQueue timers_;
    std::vector<Batch> outputs_;              // by output id; the last is `errors`
    std::vector<std::vector<Route>> routes_;  // by output id
    FieldId key_ = kInvalidField;
    FieldId lateness_ = kInvalidField;
    FieldId error_ = kInvalidField, error_at_ = kInvalidField;
    OutputId late_ = kMainOutput;  // none
};

void deliver(const std::vector<Route>& routes, Batch& batch) {
    for (const Route& r : routes) {
        if (r.stage != nullptr) {
            r.stage->process(batch);
        } else {
            r.sink->write(batch);
        }
    }
}

/// The `file` source with `format: json`: lines parsed by simdjson
/// On-Demand into records, typed as the engine's JSON decoder types them.
class JsonSource {
public:
    JsonSource(const ComponentDef& def, FieldTable& fields)
        : def_(def), fields_(fields), lines_(def.config.string("path")) {
        if (!lines_.ok()) {
            die("source '" + def.name + "': " + lines_.error());
        }
        if (def.config.has("format") && def.config.string("format") != "json") {
            die("source '" + def.name + "': only `format: json` is implemented");
        }
        if (!def.config.has("event_time")) {
            die("source '" + def.name + "': an `event_time` is needed");
        }
        for (const auto& [key, value] : def.config.value("event_time").entries()) {
            if (key == "field") {
                time_name_ = value.as_string();
            } else if (key == "unit") {
                unit_ = parse_time_unit(value.as_string()).value_or(TimeUnit::kAuto);
            }
        }
        time_field_ = fields.intern(time_name_);
        max_line_bytes_ = def.config.size("max_line_bytes");
        error_ = fields.intern("error");
        error_at_ = fields.intern("error_component");
        position_ = fields.intern("error_position");
        raw_ = fields.intern("raw");
    }

    /// Reads up to kPoll lines into `main` and `errors`; false at the end.
    bool poll(Batch& main, Batch& errors) {
        size_t taken = 0;
        std::string_view line;
        size_t readable = 0;
        while (taken < kPoll && lines_.next(line, readable)) {
            ++line_number_;
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            if (line.find_first_not_of(" \t") == std::string_view::npos) {
                continue;  // blank lines are skipped, as by the runtime's reader
            }
            ++taken;
            if (line.size() > max_line_bytes_) {
                reject(errors, "line is longer than max_line_bytes", line);
                continue;
            }
            Record& r = main.append();
            if (std::string why = decode(line, readable, r); !why.empty()) {
                main.pop_back();
                reject(errors, why, line);
            }
        }
        if (!lines_.ok()) {
            die("source '" + def_.name + "': " + lines_.error());
        }
        return taken > 0;
    }

private:
    // Empty, or why the line is not a record.
    std::string decode(std::string_view line, size_t readable, Record& out) {
        od::document doc;
        od::object object;
        if (auto e = parser_.iterate(line.data(), line.size(), readable).get(doc); e) {
            return std::string("invalid JSON: ") + simdjson::error_message(e);
        }
        if (auto e = doc.get_object().get(object); e) {
            return std::string("invalid JSON or not an object: ") + simdjson::error_message(e);
        }
        size_t position = 0;
        for (auto member : object) {
            std::string_view name;
            od::value value;
            od::json_type type;
            if (auto e = member.unescaped_key().get(name); e) {
                return std::string("invalid JSON: ") + simdjson::error_message(e);
            }
            if (auto e = member.value().get(value); e) {
                return std::string("invalid JSON: ") + simdjson::error_message(e);
            }
            if (auto e = value.type().get(type); e) {
                return std::string("invalid JSON: ") + simdjson::error_message(e);
            }
            FieldId id = field_at(position++, name);
            simdjson::error_code e = simdjson::SUCCESS;
            switch (type) {
                case od::json_type::string: {
                    std::string_view s;
                    if (!(e = value.get_string().get(s))) {
                        out.set(id, s);
                    }
                    break;
                }
                case od::json_type::number: {
                    od::number n;
                    if (!(e = value.get_number().get(n))) {
                        if (n.is_int64()) {
                            out.set(id, n.get_int64());
                        } else if (n.is_uint64()) {
                            out.set(id, static_cast<double>(n.get_uint64()));
                        } else {
                            out.set(id, n.get_double());
                        }
                    }
                    break;
                }
                case od::json_type::boolean: {
                    bool b = false;
                    if (!(e = value.get_bool().get(b))) {
                        out.set(id, b);
                    }
                    break;
                }
                case od::json_type::null: {
                    bool null = false;
                    if (!(e = value.is_null().get(null)) && null) {
                        out.set_null(id);
                    } else if (!e) {
                        e = simdjson::INCORRECT_TYPE;
                    }
                    break;
                }
                default:
                    return "field `" + std::string(name) +
                           "` is an array or object, which hand_loop does not decode";
            }
            if (e) {
                return std::string("invalid JSON: ") + simdjson::error_message(e);
            }
        }
        if (const char* rest = nullptr;
            doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) {
            return "invalid JSON: content after the object";
        }
        int64_t ms = 0;
        if (Status s = event_time_ms(out.get(time_field_), unit_, time_name_, ms); !s.is_ok()) {
            return s.message();
        }
        out.set_time(ms);
        return {};
    }

    // Lines of one stream repeat their keys in the same order: a compare
    // with the previous line's name at this position replaces a lookup.
    FieldId field_at(size_t position, std::string_view name) {
        if (position < by_position_.size() && by_position_[position].first == name) {
            return by_position_[position].second;
        }
        FieldId id = fields_.intern(name);
        if (position < by_position_.size()) {
            by_position_[position] = {std::string(name), id};
        } else {
            by_position_.emplace_back(std::string(name), id);
        }
        return id;
    }

    void reject(Batch& errors, std::string_view why, std::string_view line) {
        Record& r = errors.append();
        r.set_time(Clock::system().now_ms());
        r.set(error_, why);
        r.set(error_at_, std::string_view(def_.name));
        r.set(position_, line_number_);
        r.set(raw_, truncate_utf8(line, kRawErrorBytes));
    }

    const ComponentDef& def_;
    FieldTable& fields_;
    LineChunks lines_;
    od::parser parser_;
    std::vector<std::pair<std::string, FieldId>> by_position_;
    std::string time_name_;
    TimeUnit unit_ = TimeUnit::kAuto;
    FieldId time_field_ = kInvalidField;
    uint64_t max_line_bytes_ = 0;
    int64_t line_number_ = 0;
    FieldId error_ = kInvalidField, error_at_ = kInvalidField;
    FieldId position_ = kInvalidField, raw_ = kInvalidField;
};

/// The topology's components, made and wired.
struct Graph {
    std::unique_ptr<JsonSource> source;
    const ComponentDef* source_def = nullptr;
    std::vector<Route> source_main, source_errors;
    std::map<std::string, std::unique_ptr<Stage>> stages;
    std::vector<Stage*> order;  // operators, inputs first
    std::vector<std::unique_ptr<FileSink>> sinks;
};

Graph build(const Topology& topology, FieldTable& fields) {
    Graph g;
    for (const ComponentDef& c : topology.components) {
        if (c.kind != ComponentKind::kSource) {
            continue;
        }
        if (g.source_def != nullptr || c.type != "file") {
            die("only topologies with one `file` source are implemented");
        }
        g.source_def = &c;
    }
    if (g.source_def == nullptr) {
        die("the topology has no source");
    }
    auto connect = [&](const InputRef& in, Route route) {
        if (in.component == g.source_def->name) {
            (in.output.empty() ? g.source_main : g.source_errors).push_back(route);
        } else {
            g.stages.at(in.component)->connect(in.output, route);
        }
    };
    for (int i : topology.topological_order()) {
        const ComponentDef& c = topology.components[static_cast<size_t>(i)];
        if (c.kind == ComponentKind::kOperator) {
            if (c.inputs.size() != 1) {
                die("operator '" + c.name + "' has several inputs, which is not implemented");
            }
            if (c.state_ttl_ms) {
                die("operator '" + c.name + "' has a state_ttl, which is not implemented");
            }
            auto stage = std::make_unique<Stage>(c, fields);
            connect(c.inputs[0], Route{stage.get(), nullptr});
            g.order.push_back(stage.get());
            g.stages[c.name] = std::move(stage);
        } else if (c.kind == ComponentKind::kSink) {
            if (c.type != "file" && c.type != "null") {
                die("sink '" + c.name + "' is of type " + c.type + ", which is not implemented");
            }
            if (c.type == "file" && c.config.has("append") && c.config.boolean("append")) {
                die("sink '" + c.name + "' appends, which is not implemented");
            }
            g.sinks.push_back(std::make_unique<FileSink>(
                c.type == "file" ? c.config.string("path") : "", fields));
            for (const InputRef& in : c.inputs) {
                connect(in, Route{nullptr, g.sinks.back().get()});
            }
        }
    }
    g.source = std::make_unique<JsonSource>(*g.source_def, fields);
    return g;
}

void advance_all(const Graph& g, int64_t watermark) {
    for (const std::vector<Route>* routes : {&g.source_main, &g.source_errors}) {
        for (const Route& r : *routes) {
            if (r.stage != nullptr) {
                r.stage->advance(watermark);
            }
        }
    }
}

int run(const std::string& path) {
    auto start = std::chrono::steady_clock::now();
    Diagnostics diags;
    std::optional<Topology> topology = load_topology(path, builtin_registry(), diags);
    if (!topology) {
        for (const Diagnostic& d : diags.sorted()) {
            std::fprintf(stderr, "%s\n", d.to_string().c_str());
        }
        return 2;
    }
    FieldTable fields;
    Graph g = build(*topology, fields);
    const int64_t delay = g.source_def->watermark.max_out_of_orderness_ms;

    Batch main;
    Batch errors;
    uint64_t events = 0;
    int64_t max_seen = kNoWatermark;
    int64_t sent = kNoWatermark;
    while (g.source->poll(main, errors)) {
        for (size_t i = 0; i < main.size(); ++i) {
            max_seen = std::max(max_seen, main[i].time());
        }
        events += main.size();
        if (!main.empty()) {
            deliver(g.source_main, main);
        }
        if (!errors.empty()) {
            deliver(g.source_errors, errors);
        }
        main.clear();
        errors.clear();
        int64_t watermark = max_seen == kNoWatermark ? kNoWatermark : max_seen - delay - 1;
        if (watermark > sent) {
            sent = watermark;
            advance_all(g, watermark);
        }
    }
    advance_all(g, kEndOfTime);
    for (Stage* stage : g.order) {
        stage->close();
    }
    for (auto& sink : g.sinks) {
        sink->close();
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "hand_loop: %llu events, %.3f s, %.0f events/s (simdjson %s kernel)\n",
                 static_cast<unsigned long long>(events), seconds,
                 static_cast<double>(events) / seconds, simd_kernel());
    return 0;
}

}  // namespace
}  // namespace eddy::bench

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: hand_loop TOPOLOGY\n");
        return 2;
    }
    if (!eddy::bench::simd_kernel_runs("hand_loop")) {
        return 1;
    }
    return eddy::bench::run(argv[1]);
}
