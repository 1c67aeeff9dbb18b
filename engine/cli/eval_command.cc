// SPDX-License-Identifier: Apache-2.0
// `eddy eval`: runs a topology with every recommender in prequential
// evaluation mode (predict, score, then learn each event) and prints the
// figures each one published. The protocol is in docs/evaluation.md.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "eddy/json_writer.h"

#include "commands.h"
#include "metrics/metrics.h"
#include "plugin/loader.h"
#include "runtime/builtins.h"
#include "runtime/job.h"
#include "topology/suggest.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"
#include "topology_loading.h"

namespace eddy::cli {
namespace {

std::atomic<Job*> g_eval_job{nullptr};

extern "C" void on_eval_stop_signal(int sig) {
    if (Job* job = g_eval_job.load()) {
        job->request_stop();
    }
    std::signal(sig, SIG_DFL);
}

struct EvalOptions {
    std::string file;
    std::string input;
    std::vector<std::string> sets;
    std::vector<std::string> plugins;
    bool emit = false;
    bool json = false;
    bool no_progress = false;
    int parallelism = 0;
};

/// An operator run in evaluation mode.
struct Evaluated {
    std::string name;
    std::string type;
};

/// A problem with the command line or the topology: printed, exit code 2.
struct Refusal {
    std::string message;
};

ConfigValue* find_entry(ConfigValue& map, std::string_view key) {
    for (auto& [k, v] : map.mutable_entries()) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

void put_entry(ConfigValue& map, const std::string& key, ConfigValue value) {
    if (ConfigValue* old = find_entry(map, key)) {
        *old = std::move(value);
    } else {
        map.mutable_entries().emplace_back(key, std::move(value));
    }
}

constexpr const char* kSections[] = {"sources", "operators", "sinks"};

/// The component maps of the topology tree, as (section, name, body).
struct ComponentRef {
    std::string section;
    std::string name;
    ConfigValue* body;
};
std::vector<ComponentRef> components_of(ConfigValue& root) {
    std::vector<ComponentRef> out;
    for (const char* section : kSections) {
        ConfigValue* s = find_entry(root, section);
        if (s == nullptr || !s->is_map()) {
            continue;
        }
        for (auto& [name, body] : s->mutable_entries()) {
            out.push_back({section, name, &body});
        }
    }
    return out;
}

std::string type_of(const ConfigValue& body) {
    const ConfigValue* t = body.is_map() ? body.find("type") : nullptr;
    return t != nullptr && t->is_scalar() ? t->as_string() : "";
}

/// Applies `--set PATH=VALUE`: PATH is `component.param[.key...]` or a
/// top-level key (`parallelism`, `sources.clicks.path`); VALUE is YAML.
std::optional<Refusal> apply_set(ConfigValue& root, const std::string& arg, Diagnostics& diags,
                                 std::vector<std::string>& touched) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
        return Refusal{"--set '" + arg +
                       "' must be PATH=VALUE, such as recs.top_n=20 (a component's parameter) "
                       "or parallelism=2 (a top-level key)"};
    }
    std::string path = arg.substr(0, eq);
    std::string text = arg.substr(eq + 1);
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
        size_t dot = path.find('.', start);
        parts.push_back(path.substr(start, dot - start));
        if (dot == std::string::npos) {
            break;
        }
        start = dot + 1;
    }
    for (const std::string& p : parts) {
        if (p.empty()) {
            return Refusal{fmt::format("--set '{}': the path '{}' has an empty part", arg, path)};
        }
    }
    static constexpr const char* kTopLevel[] = {"name",    "description", "parallelism",
                                                "state",   "plugins",     "dead_letter",
                                                "sources", "operators",   "sinks"};
    bool top_level = parts.size() == 1;
    for (const char* key : kTopLevel) {
        top_level = top_level || parts[0] == key;
    }
    if (!top_level) {
        std::vector<ComponentRef> hits;
        std::vector<std::string> names;
        for (const ComponentRef& c : components_of(root)) {
            names.push_back(c.name);
            if (c.name == parts[0]) {
                hits.push_back(c);
            }
        }
        if (hits.empty()) {
            std::string hint = did_you_mean(parts[0], names);
            return Refusal{"--set '" + arg + "': the topology has no component '" + parts[0] + "'" +
                           (hint.empty() ? "" : "; " + hint) + " (its components: " + join(names) +
                           ")"};
        }
        if (hits.size() > 1) {
            return Refusal{"--set '" + arg + "': '" + parts[0] +
                           "' names a component in more than one section; write " +
                           hits[0].section + "." + path + " or " + hits[1].section + "." + path};
        }
        parts.insert(parts.begin(), hits[0].section);
    }
    ConfigValue value = ConfigValue::string("", Location{"--set " + path, 0, 0});
    if (!text.empty()) {
        auto parsed = load_yaml_text(text, "--set " + path, diags);
        if (!parsed) {
            return Refusal{"--set '" + arg + "': the value is not valid YAML"};
        }
        value = std::move(*parsed);
    }
    ConfigValue* node = &root;
    for (size_t i = 0;; ++i) {
        if (!node->is_map()) {
            std::vector<std::string> above(parts.begin(), parts.begin() + static_cast<long>(i));
            return Refusal{"--set '" + arg + "': '" + join(above, ".") + "' (" +
                           node->location().to_string() + ") is not a map"};
        }
        if (i + 1 == parts.size()) {
            break;
        }
        ConfigValue* next = find_entry(*node, parts[i]);
        if (next == nullptr) {
            put_entry(*node, parts[i], ConfigValue::map({}, Location{"--set " + path, 0, 0}));
            next = find_entry(*node, parts[i]);
        }
        node = next;
    }
    put_entry(*node, parts.back(), std::move(value));
    touched.push_back(join(parts, "."));
    return std::nullopt;
}

bool was_set(const std::vector<std::string>& touched, const std::string& path) {
    return std::find(touched.begin(), touched.end(), path) != touched.end();
}

/// Whether another operator reads `name`'s main output.
bool main_output_read(ConfigValue& root, const std::string& name) {
    ConfigValue* ops = find_entry(root, "operators");
    if (ops == nullptr || !ops->is_map()) {
        return false;
    }
    for (const auto& [other, body] : ops->entries()) {
        if (!body.is_map()) {
            continue;
        }
        for (const char* key : {"input", "inputs"}) {
            const ConfigValue* in = body.find(key);
            if (in == nullptr) {
                continue;
            }
            if (in->is_scalar() && in->as_string() == name) {
                return true;
            }
            for (const ConfigValue& item : in->items()) {
                if (item.is_scalar() && item.as_string() == name) {
                    return true;
                }
            }
        }
    }
    return false;
}

/// Turns on `evaluate` in every operator whose spec has it, and turns off
/// `emit` where it exists, is not read by another operator and was not set
/// with --set (unless --emit).
std::optional<Refusal> force_evaluation(ConfigValue& root, const EvalOptions& o,
                                        const std::vector<std::string>& touched,
                                        const Registry& registry,
                                        std::vector<Evaluated>& evaluated) {
    for (const ComponentRef& c : components_of(root)) {
        if (c.section != "operators" || !c.body->is_map()) {
            continue;
        }
        std::string type = type_of(*c.body);
        const ComponentSpec* spec = registry.find(ComponentKind::kOperator, type);
        const Param* evaluate = spec != nullptr ? spec->find_param("evaluate") : nullptr;
        if (evaluate == nullptr || evaluate->type() != ParamType::kBool) {
            continue;
        }
        evaluated.push_back({c.name, type});
        if (!was_set(touched, "operators." + c.name + ".evaluate")) {
            put_entry(*c.body, "evaluate", ConfigValue::string("true", c.body->location()));
        }
        const Param* emit = spec->find_param("emit");
        if (o.emit || emit == nullptr || emit->type() != ParamType::kBool ||
            was_set(touched, "operators." + c.name + ".emit")) {
            continue;
        }
        if (main_output_read(root, c.name)) {
            spdlog::info("operator '{}' keeps its recommendations on: another operator reads them",
                         c.name);
            continue;
        }
        put_entry(*c.body, "emit", ConfigValue::string("false", c.body->location()));
    }
    if (evaluated.empty()) {
        std::vector<std::string> types;
        for (const ComponentSpec* spec : registry.all(ComponentKind::kOperator)) {
            const Param* p = spec->find_param("evaluate");
            if (p != nullptr && p->type() == ParamType::kBool) {
                types.push_back(spec->name);
            }
        }
        return Refusal{"'" + o.file +
                       "' has no operator with prequential evaluation (an `evaluate` "
                       "parameter), so there is nothing to measure; operator types that have it: " +
                       join(types)};
    }
    return std::nullopt;
}

/// Points the topology's one file source at --input.
std::optional<Refusal> replace_input(ConfigValue& root, const EvalOptions& o) {
    std::vector<ComponentRef> files;
    std::vector<std::string> sources;
    for (const ComponentRef& c : components_of(root)) {
        if (c.section == "sources") {
            std::string type = type_of(*c.body);
            sources.push_back(c.name + " (" + (type.empty() ? "no type" : type) + ")");
            if (type == "file") {
                files.push_back(c);
            }
        }
    }
    if (files.empty()) {
        return Refusal{"--input needs a source of type `file` in '" + o.file +
                       "' to read it; its sources are: " +
                       (sources.empty() ? std::string("none") : join(sources))};
    }
    if (files.size() > 1) {
        std::vector<std::string> where;
        where.reserve(files.size());
        for (const ComponentRef& c : files) {
            where.push_back(c.name + " (" + c.body->location().to_string() + ")");
        }
        return Refusal{"--input is ambiguous: '" + o.file + "' has " +
                       std::to_string(files.size()) + " file sources: " + join(where) +
                       "; set one of their paths instead, e.g. --set " + files[0].name +
                       ".path=FILE"};
    }
    if (!files[0].body->is_map()) {
        return Refusal{"source '" + files[0].name + "' (" + files[0].body->location().to_string() +
                       ") must be a map"};
    }
    put_entry(*files[0].body, "path", ConfigValue::string(o.input, Location{"--input", 0, 0}));
    return std::nullopt;
}

/// Every file source's path must exist before the job starts.
std::optional<Refusal> check_inputs(const Topology& t, const EvalOptions& o) {
    for (const ComponentDef& c : t.components) {
        if (c.kind != ComponentKind::kSource || c.type != "file") {
            continue;
        }
        const std::string& path = c.config.string("path");
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) {
            std::string from = o.input.empty()
                                   ? "source '" + c.name + "' (" +
                                         c.config.location_of("path").to_string() + ") reads"
                                   : "--input names";
            return Refusal{fmt::format(
                "{} '{}', which {}", from, path,
                std::filesystem::exists(path, ec) ? "is not a regular file" : "does not exist")};
        }
    }
    return std::nullopt;
}

/// The figures of one evaluated operator, read from the job's metrics.
struct Figures {
    const Evaluated* op = nullptr;
    uint64_t events = 0;
    uint64_t errors = 0;
    int64_t scored = -1;  // -1: it published no figure
    int top_n = 0;
    std::vector<std::pair<std::string, const ComponentEvaluation*>> metrics;  // label, figure
};

std::vector<Figures> collect(const JobMetrics& m, const std::vector<Evaluated>& evaluated) {
    std::vector<Figures> out;
    for (const Evaluated& e : evaluated) {
        Figures& f = out.emplace_back();
        f.op = &e;
        for (const auto& c : m.components()) {
            if (c->kind == ComponentKind::kOperator && c->name == e.name) {
                f.events = c->records_in.load();
                f.errors = c->errors.load();
            }
        }
        m.for_each_evaluation([&](const ComponentEvaluation& v) {
            if (v.component != e.name) {
                return;
            }
            f.metrics.emplace_back(evaluation_label(v.metric, v.top_n), &v);
            f.scored = std::max(f.scored, v.cell.scored.load());
            if (f.top_n == 0) {
                f.top_n = v.top_n;
            }
        });
    }
    return out;
}

std::string format_value(const ComponentEvaluation& v) {
    return v.cell.scored.load() > 0 ? fmt::format("{:.4f}", v.cell.value.load()) : "-";
}

std::string table(const std::vector<Figures>& figures) {
    std::vector<std::string> columns;  // metric labels, in first-seen order
    size_t name_width = 8;
    size_t type_width = 4;
    for (const Figures& f : figures) {
        name_width = std::max(name_width, f.op->name.size());
        type_width = std::max(type_width, f.op->type.size());
        for (const auto& [label, v] : f.metrics) {
            if (std::find(columns.begin(), columns.end(), label) == columns.end()) {
                columns.push_back(label);
            }
        }
    }
    auto cell = [](const std::string& s, size_t w) { return fmt::format(" {:>{}}", s, w); };
    std::string out = fmt::format("{:<{}} {:<{}} {:>10} {:>10}", "operator", name_width, "type",
                                  type_width, "events", "scored");
    for (const std::string& c : columns) {
        out += cell(c, std::max<size_t>(c.size(), 8));
    }
    out += "\n";
    for (const Figures& f : figures) {
        out += fmt::format("{:<{}} {:<{}} {:>10} {:>10}", f.op->name, name_width, f.op->type,
                           type_width, f.events, f.scored < 0 ? "-" : std::to_string(f.scored));
        for (const std::string& c : columns) {
            std::string value = "-";
            for (const auto& [label, v] : f.metrics) {
                if (label == c) {
                    value = format_value(*v);
                }
            }
            out += cell(value, std::max<size_t>(c.size(), 8));
        }
        out += "\n";
    }
    return out;
}

std::string json(const std::vector<Figures>& figures, const Topology& t, const Job& job,
                 const std::string& status) {
    JsonWriter j;
    j.begin_object()
        .field("topology", t.name)
        .field("file", t.file)
        .field("status", status)
        .field("seconds", job.elapsed_seconds())
        .field("events_read", job.metrics().source_records())
        .key("operators")
        .begin_array();
    for (const Figures& f : figures) {
        j.begin_object()
            .field("name", f.op->name)
            .field("type", f.op->type)
            .field("events", f.events)
            .field("errors", f.errors)
            .key("scored");
        if (f.scored < 0) {
            j.value(nullptr);
        } else {
            j.value(f.scored);
        }
        if (f.top_n > 0) {
            j.field("top_n", f.top_n);
        }
        j.key("metrics").begin_object();
        std::vector<std::string> keys;
        for (const auto& [label, v] : f.metrics) {
            std::string key = v->metric;
            if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
                key = label;  // the same metric at another cutoff
            }
            keys.push_back(key);
            j.key(key);
            if (v->cell.scored.load() > 0) {
                j.value(v->cell.value.load());
            } else {
                j.value(nullptr);
            }
        }
        j.end_object().end_object();
    }
    j.end_array().end_object();
    return j.str() + "\n";
}

void print_progress(const JobProgress& p) {
    double rate = p.seconds > 0 ? static_cast<double>(p.records) / p.seconds : 0;
    if (p.total > 0) {
        double frac = std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total));
        std::fprintf(stderr, "\r%5.1f%%  %llu events  %.0f events/s   ", frac * 100,
                     static_cast<unsigned long long>(p.records), rate);
    } else {
        std::fprintf(stderr, "\r%llu events  %.0f events/s   ",
                     static_cast<unsigned long long>(p.records), rate);
    }
    std::fflush(stderr);
}

/// Loads the topology with the evaluation settings applied; nullopt after
/// printing why not.
std::optional<Topology> prepare(const EvalOptions& o, Registry& registry,
                                std::vector<Evaluated>& evaluated) {
    Diagnostics diags;
    bool reported = false;
    auto report = [&] {  // once: every exit path below reports what was found so far
        if (reported) {
            return;
        }
        reported = true;
        for (const Diagnostic& d : diags.sorted()) {
            std::fprintf(stderr, "%s\n", d.to_string().c_str());
        }
    };
    auto refuse = [&](const Refusal& r) {
        report();
        std::fprintf(stderr, "eddy eval: %s\n", r.message.c_str());
    };
    auto root = load_yaml_file(o.file, diags);
    if (!root || diags.has_errors()) {
        report();
        return std::nullopt;
    }
    std::vector<std::string> touched;
    for (const std::string& s : o.sets) {
        if (auto r = apply_set(*root, s, diags, touched)) {
            refuse(*r);
            return std::nullopt;
        }
    }
    if (!o.input.empty()) {
        if (auto r = replace_input(*root, o)) {
            refuse(*r);
            return std::nullopt;
        }
    }
    if (!load_topology_plugins(*root, o.plugins, registry, diags)) {
        report();
        return std::nullopt;
    }
    std::optional<Refusal> none = force_evaluation(*root, o, touched, registry, evaluated);
    auto topology = validate_topology(*root, registry, diags);
    report();
    if (!topology || diags.has_errors()) {
        return std::nullopt;  // an unknown type is reported before "no recommender"
    }
    if (none) {
        std::fprintf(stderr, "eddy eval: %s\n", none->message.c_str());
        return std::nullopt;
    }
    if (auto r = check_inputs(*topology, o)) {
        refuse(*r);
        return std::nullopt;
    }
    // Evaluation starts from nothing: no restore, no checkpoints.
    topology->state.dir.clear();
    if (o.parallelism > 0) {
        topology->parallelism = o.parallelism;
    }
    return topology;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<EvalOptions>();
    CLI::App* cmd = app.add_subcommand(
        "eval",
        "Run a topology with its recommenders in prequential evaluation mode (predict, score, "
        "then learn every event) and print MAE, RMSE, HR@N and NDCG@N.");
    cmd->add_option("file", opts->file, "Topology YAML file")->required();
    cmd->add_option("--input", opts->input,
                    "Read this file instead of the path of the topology's file source (it must "
                    "have exactly one)");
    cmd->add_option("--set", opts->sets,
                    "Set a parameter before validation: COMPONENT.PARAM=VALUE (recs.top_n=20) or "
                    "a top-level KEY=VALUE (parallelism=2); VALUE is YAML. Repeatable")
        ->allow_extra_args(false);
    add_plugin_option(cmd, opts->plugins);
    cmd->add_flag("--emit", opts->emit,
                  "Keep the recommenders' recommendations on (by default `emit: false` where "
                  "the operator has it and no operator reads them)");
    cmd->add_flag("--json", opts->json, "Print the figures as one JSON object");
    cmd->add_option("--parallelism", opts->parallelism,
                    "Run with this parallelism instead of the topology's")
        ->check(CLI::Range(1, 256));
    cmd->add_flag("--no-progress", opts->no_progress,
                  "Do not show the progress line on a terminal");
    cmd->footer(
        "Every operator with an `evaluate` parameter (mf, popularity, item_similarity, "
        "recommend) runs with `evaluate: true`; state is kept in memory only (no restore, no "
        "checkpoints); sinks write as in `eddy run`. Figures: docs/evaluation.md.");
    cmd->callback([opts, &exit_code] {
        std::vector<Evaluated> evaluated;
        Registry registry = builtin_registry();  // outlives the job: specs live here
        auto topology = prepare(*opts, registry, evaluated);
        if (!topology) {
            exit_code = kExitUsage;
            return;
        }
        JobOptions options;
        bool progress = !opts->no_progress && ::isatty(STDERR_FILENO) == 1;
        if (progress) {
            options.on_progress = print_progress;
        }
        auto job = Job::create(*topology, options);
        if (!job.is_ok()) {
            std::fprintf(stderr, "eddy eval: cannot start '%s': %s\n", opts->file.c_str(),
                         job.status().message().c_str());
            StatusCode code = job.status().code();
            exit_code = code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument
                            ? kExitUsage
                            : kExitRuntimeFailure;
            return;
        }
        std::vector<std::string> names;
        names.reserve(evaluated.size());
        for (const Evaluated& e : evaluated) {
            names.push_back(e.name + " (" + e.type + ")");
        }
        spdlog::info("evaluating {} in '{}'", join(names),
                     topology->name.empty() ? opts->file : topology->name);
        g_eval_job.store(job.value().get());
        std::signal(SIGINT, on_eval_stop_signal);
        std::signal(SIGTERM, on_eval_stop_signal);
        Status status = job.value()->run();
        g_eval_job.store(nullptr);
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        if (progress) {
            std::fputs("\r\033[K", stderr);
        }
        if (!status.is_ok()) {
            std::fprintf(stderr, "eddy eval: the job failed, no figures: %s\n",
                         status.message().c_str());
            exit_code = kExitRuntimeFailure;
            return;
        }
        const Job& j = *job.value();
        std::string state = j.stopped_early() ? "stopped" : "input drained";
        std::vector<Figures> figures = collect(j.metrics(), evaluated);
        std::string text = opts->json ? json(figures, *topology, j, state) : table(figures);
        std::fputs(text.c_str(), stdout);
        std::fflush(stdout);
        std::fprintf(stderr, "eddy eval: %s, %llu events read in %.3f s\n", state.c_str(),
                     static_cast<unsigned long long>(j.metrics().source_records()),
                     j.elapsed_seconds());
        for (const Figures& f : figures) {
            if (f.errors > 0) {
                std::fprintf(stderr,
                             "eddy eval: operator '%s' sent %llu records to `errors`; they were "
                             "not scored\n",
                             f.op->name.c_str(), static_cast<unsigned long long>(f.errors));
            }
        }
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
