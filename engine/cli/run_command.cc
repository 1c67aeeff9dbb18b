// SPDX-License-Identifier: Apache-2.0
#include <atomic>
#include <csignal>
#include <cstdio>
#include <list>
#include <memory>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "eddy/units.h"

#include "commands.h"
#include "metrics/metrics.h"
#include "reloader.h"
#include "runtime/job.h"
#include "serve/server.h"
#include "topology_loading.h"

namespace eddy::cli {
namespace {

std::atomic<Job*> g_job{nullptr};
std::atomic<bool> g_reload_signalled{false};

extern "C" void on_reload_signal(int) {
    g_reload_signalled.store(true);
}

extern "C" void on_stop_signal(int sig) {
    if (Job* job = g_job.load()) {
        job->request_stop();
    }
    // A second signal ends the process the default way.
    std::signal(sig, SIG_DFL);
}

std::string human_bytes(double b) {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%s", b, units[u]);
    return buf;
}

void print_progress(const JobProgress& p) {
    double rate = p.seconds > 0 ? static_cast<double>(p.records) / p.seconds : 0;
    char line[160];
    if (p.total > 0) {
        double frac = std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total));
        double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
        std::string done =
            p.bytes ? human_bytes(static_cast<double>(p.done)) : std::to_string(p.done);
        std::string total =
            p.bytes ? human_bytes(static_cast<double>(p.total)) : std::to_string(p.total);
        std::snprintf(line, sizeof line, "\r%5.1f%%  %s of %s  %.0f events/s  ETA %.0fs   ",
                      frac * 100, done.c_str(), total.c_str(), rate, eta);
    } else {
        std::snprintf(line, sizeof line, "\r%llu events  %.0f events/s   ",
                      static_cast<unsigned long long>(p.records), rate);
    }
    std::fputs(line, stderr);
    std::fflush(stderr);
}

bool is_config_error(const Status& s) {
    return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument;
}

struct RunOptions {
    std::string file;
    std::vector<std::string> plugins;
    bool no_progress = false;
    bool fresh = false;
    bool force = false;
    std::string from_savepoint;
    std::vector<std::string> allow_state_drop;
    int parallelism = 0;
    std::string state_dir;
    std::string state_cache;
    std::string checkpoint_interval;
    bool no_state = false;
    bool watch = false;
    std::string metrics_file;
    std::string metrics_interval;
    std::string http;
    std::string http_port_file;
    std::string instance_id;
    std::string advertise;
};

/// `cfg` with librdkafka property `name` set to `value` in its `properties`.
Config with_kafka_property(const Config& cfg, const std::string& name, const std::string& value) {
    ConfigValue params = cfg.params();
    ConfigValue* properties = nullptr;
    for (auto& [key, v] : params.mutable_entries()) {
        if (key == "properties" && v.is_map()) {
            properties = &v;
        }
    }
    if (properties == nullptr) {
        params.mutable_entries().emplace_back("properties", ConfigValue::map({}));
        properties = &params.mutable_entries().back().second;
    }
    auto& entries = properties->mutable_entries();
    std::erase_if(entries, [&](const ConfigValue::Entry& e) { return e.first == name; });
    entries.emplace_back(name, ConfigValue::string(value));
    return Config(cfg.component(), cfg.type(), std::move(params), cfg.location());
}

/// --advertise, else the API's own address (this host's name for a wildcard).
std::string advertised_address(const std::string& given, const Server& server) {
    if (!given.empty()) {
        return given;
    }
    std::string url = server.url();
    std::string address = url.substr(url.find("://") + 3);
    size_t colon = address.rfind(':');
    std::string host = address.substr(0, colon);
    if (host == "0.0.0.0" || host == "[::]" || host == "::") {
        char name[256] = {};
        if (::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') {
            return std::string(name) + address.substr(colon);
        }
    }
    return address;
}

/// Applies the command line's settings over the topology's; "" or what is wrong.
std::string apply_overrides(const RunOptions& o, Topology& t) {
    if (o.parallelism > 0) {
        t.parallelism = o.parallelism;
    }
    if (!o.http.empty()) {
        if (std::string why = check_listen_address(o.http); !why.empty()) {
            return "--http: " + why;
        }
        t.serve.listen = o.http;
    }
    if (!o.instance_id.empty()) {
        // Static membership: a process that restarts within the session
        // timeout gets its partitions back without a rebalance.
        bool found = false;
        for (ComponentDef& def : t.components) {
            if (def.kind == ComponentKind::kSource && def.type == "kafka" &&
                def.config.has("scale_out") && def.config.string("scale_out") == "kafka") {
                def.config = with_kafka_property(def.config, "group.instance.id", o.instance_id);
                found = true;
            }
        }
        if (!found) {
            return "--instance-id needs a kafka source with scale_out: kafka";
        }
    }
    if (!o.advertise.empty() && (o.http.empty() && t.serve.listen.empty())) {
        return "--advertise needs the HTTP API: give --http or `serve: {listen: ...}`";
    }
    if (!o.http_port_file.empty() && t.serve.listen.empty()) {
        return "--http-port-file needs the HTTP API: give --http or `serve: {listen: ...}`";
    }
    if (o.no_state) {
        if (!o.state_dir.empty() || !o.state_cache.empty() || !o.checkpoint_interval.empty()) {
            return "--no-state cannot be combined with --state-dir, --state-cache or "
                   "--checkpoint-interval";
        }
        t.state.dir.clear();
    }
    if (!o.state_dir.empty()) {
        t.state.dir = o.state_dir;
    }
    if (!o.state_cache.empty()) {
        auto bytes = parse_size_bytes(o.state_cache);
        if (!bytes || *bytes < (1u << 20)) {
            return "--state-cache must be a size of at least 1MB like 256MB, got '" +
                   o.state_cache + "'";
        }
        t.state.cache_bytes = *bytes;
    }
    if (!o.checkpoint_interval.empty()) {
        auto ms = parse_duration_ms(o.checkpoint_interval);
        if (!ms || *ms < 100) {
            return "--checkpoint-interval must be a duration of at least 100ms like 10s, got '" +
                   o.checkpoint_interval + "'";
        }
        t.state.checkpoint_interval_ms = *ms;
    }
    if ((!o.state_cache.empty() || !o.checkpoint_interval.empty()) && t.state.dir.empty()) {
        return "--state-cache and --checkpoint-interval need a state.dir (in the topology or "
               "--state-dir)";
    }
    return "";
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<RunOptions>();
    CLI::App* cmd =
        app.add_subcommand("run", "Run a topology until its input ends or it is stopped.");
    cmd->add_option("file", opts->file, "Topology YAML file")->required();
    add_plugin_option(cmd, opts->plugins);
    cmd->add_flag("--no-progress", opts->no_progress,
                  "Do not show the progress line on a terminal");
    cmd->add_flag(
        "--fresh", opts->fresh,
        "Delete the state in state.dir and start from the beginning instead of restoring");
    cmd->add_flag("--force", opts->force,
                  "With --fresh: delete the state even if it belongs to another topology. With "
                  "--from-savepoint: accept a savepoint of another topology");
    cmd->add_option(
        "--from-savepoint", opts->from_savepoint,
        "Start from a savepoint (eddy savepoint create): state.dir becomes a copy of it and "
        "the job restores it, sources resuming at the savepoint's positions. Refused when "
        "state.dir already holds a checkpoint (add --fresh to replace it). The parallelism "
        "may differ from the savepoint's: keyed state is re-split by key group on restore");
    cmd->add_option("--allow-state-drop", opts->allow_state_drop,
                    "Accept losing the stored state of this operator when it no longer fits "
                    "(repeatable)");
    cmd->add_option("--parallelism", opts->parallelism,
                    "Run with this parallelism instead of the topology's (operators that set "
                    "their own keep it)")
        ->check(CLI::Range(1, 256));
    cmd->add_option("--state-dir", opts->state_dir, "Use this state.dir instead of the topology's");
    cmd->add_option("--state-cache", opts->state_cache,
                    "Set state.cache, the keyed state kept in memory (e.g. 256MB)");
    cmd->add_option("--checkpoint-interval", opts->checkpoint_interval,
                    "Set state.checkpoint_interval (e.g. 10s)");
    cmd->add_option("--metrics-file", opts->metrics_file,
                    "Write the job's metrics in the Prometheus text format to this file at "
                    "start, every --metrics-interval and at the end (for node_exporter's "
                    "textfile collector, or to read by hand)");
    cmd->add_option("--metrics-interval", opts->metrics_interval,
                    "How often --metrics-file is rewritten (default 10s)");
    cmd->add_option("--http", opts->http,
                    "Serve the HTTP API (state, recommendations, /metrics, /healthz) on HOST:PORT, "
                    "e.g. 127.0.0.1:8080; overrides `serve.listen` (docs/serving.md)");
    cmd->add_option("--http-port-file", opts->http_port_file,
                    "Write the HTTP API's port to this file once it listens (with port 0)");
    cmd->add_option("--instance-id", opts->instance_id,
                    "With scale_out: kafka, this process's stable id in the consumer group "
                    "(static membership: restarted within the session timeout, it gets its "
                    "partitions back without a rebalance); one per process");
    cmd->add_option("--advertise", opts->advertise,
                    "With scale_out: kafka and the HTTP API, the HOST:PORT at which the other "
                    "processes' clients reach this one's API: a query for a key another process "
                    "owns is redirected there (default: the address the API listens on, with "
                    "this host's name for 0.0.0.0)");
    cmd->add_flag("--no-state", opts->no_state,
                  "Ignore the topology's state block: keep state in memory only, no checkpoints");
    cmd->add_flag("--watch", opts->watch,
                  "Reload the topology file when it changes, as SIGHUP does");
    cmd->footer(
        "SIGINT or SIGTERM stops the job in order: a last checkpoint is taken (with state.dir), "
        "sinks are flushed and the summary printed. With state.dir the job restores its last "
        "checkpoint and resumes its sources where it stopped; see docs/state.md. SIGHUP (and "
        "with --watch, a change of the file) reloads the topology: new parameters of operators "
        "that keep no state, new sinks and `log_level:` are applied without a stop; any other "
        "change is refused with its plan logged, and the job runs on; see docs/upgrading.md.");
    CLI::App* root = &app;
    cmd->callback([opts, root, &exit_code] {
        // SIGHUP reloads once the job runs; until then it is ignored, not fatal.
        auto previous_hup = std::signal(SIGHUP, SIG_IGN);
        Reloader::FileStamp stamp = Reloader::stamp_of(opts->file);
        auto loaded = load_and_report(opts->file, opts->plugins);
        if (!loaded) {
            exit_code = kExitUsage;
            return;
        }
        Topology* topology = &loaded->topology;
        if (std::string problem = apply_overrides(*opts, *topology); !problem.empty()) {
            std::fprintf(stderr, "eddy: %s\n", problem.c_str());
            exit_code = kExitUsage;
            return;
        }
        std::string cli_log_level = root->get_option("--log-level")->as<std::string>();
        bool log_level_given = root->get_option("--log-level")->count() > 0;
        if (!topology->log_level.empty() && !log_level_given) {
            spdlog::set_level(spdlog::level::from_str(topology->log_level));
        }
        JobOptions options;
        options.fresh = opts->fresh;
        options.force = opts->force;
        options.from_savepoint = opts->from_savepoint;
        if (!options.from_savepoint.empty() && topology->state.dir.empty()) {
            std::fprintf(stderr,
                         "eddy: --from-savepoint needs a state.dir in '%s' to copy the "
                         "savepoint into\n",
                         opts->file.c_str());
            exit_code = kExitUsage;
            return;
        }
        options.allow_state_drop = opts->allow_state_drop;
        options.metrics_file = opts->metrics_file;
        if (!opts->metrics_interval.empty()) {
            auto ms = parse_duration_ms(opts->metrics_interval);
            if (!ms || *ms < 100 || opts->metrics_file.empty()) {
                std::fprintf(stderr,
                             "eddy: --metrics-interval needs --metrics-file and a duration of at "
                             "least 100ms like 10s, got '%s'\n",
                             opts->metrics_interval.c_str());
                exit_code = kExitUsage;
                return;
            }
            options.metrics_interval_ms = *ms;
        }
        bool progress = !opts->no_progress && ::isatty(STDERR_FILENO) == 1;
        if (progress) {
            options.on_progress = print_progress;
        }
        // The files reloads apply stay loaded as long as the job: the
        // components they add or change keep specs of their registries.
        std::list<LoadedTopology> reloaded;
        auto job = Job::create(*topology, options);
        if (!job.is_ok()) {
            std::fprintf(stderr, "eddy: cannot start '%s': %s\n", opts->file.c_str(),
                         job.status().message().c_str());
            exit_code = is_config_error(job.status()) ? kExitUsage : kExitRuntimeFailure;
            return;
        }
        std::unique_ptr<Server> server;
        if (!topology->serve.listen.empty()) {
            auto started = Server::start(*job.value(), *loaded->registry, topology->serve);
            if (!started.is_ok()) {
                std::fprintf(stderr, "eddy: cannot start the HTTP API: %s\n",
                             started.status().message().c_str());
                exit_code = is_config_error(started.status()) ? kExitUsage : kExitRuntimeFailure;
                return;
            }
            server = std::move(started.value());
            std::fprintf(stderr, "eddy: HTTP API on %s\n", server->url().c_str());
            job.value()->set_advertised_address(advertised_address(opts->advertise, *server));
            if (!opts->http_port_file.empty()) {
                Status s = write_file_atomically(opts->http_port_file,
                                                 std::to_string(server->port()) + "\n");
                if (!s.is_ok()) {
                    std::fprintf(stderr, "eddy: --http-port-file: %s\n", s.message().c_str());
                    exit_code = kExitRuntimeFailure;
                    return;
                }
            }
        }
        g_job.store(job.value().get());
        std::signal(SIGINT, on_stop_signal);
        std::signal(SIGTERM, on_stop_signal);
        spdlog::info("running '{}' ({} components)",
                     topology->name.empty() ? opts->file : topology->name,
                     topology->components.size());
        Reloader::Options reload_options;
        reload_options.file = opts->file;
        reload_options.plugins = opts->plugins;
        reload_options.overrides = [opts](Topology& t) { return apply_overrides(*opts, t); };
        // Without --log-level, a file that drops `log_level:` goes back to the default.
        reload_options.command_line_log_level = log_level_given ? cli_log_level : "info";
        reload_options.log_level_given = log_level_given;
        reload_options.watch = opts->watch;
        reload_options.loaded = stamp;
        Reloader reloader(std::move(reload_options), *job.value(), *topology, reloaded,
                          g_reload_signalled);
        g_reload_signalled.store(false);
        std::signal(SIGHUP, on_reload_signal);
        reloader.start();
        Status status = job.value()->run();
        reloader.stop();
        std::signal(SIGHUP, previous_hup);
        if (server) {
            server->stop();
        }
        g_job.store(nullptr);
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        if (progress) {
            std::fputs("\r\033[K", stderr);
        }
        std::string state = !status.is_ok()                ? "failed"
                            : job.value()->stopped_early() ? "stopped"
                                                           : "input drained";
        std::fputs(
            format_summary(job.value()->metrics(), job.value()->elapsed_seconds(), state).c_str(),
            stderr);
        if (!topology->state.dir.empty()) {
            const Job& j = *job.value();
            std::fprintf(
                stderr, "  state: %llu checkpoint(s) to %s%s; the last wrote %.1f MB in %.0f ms\n",
                static_cast<unsigned long long>(j.checkpoints()), topology->state.dir.c_str(),
                j.restored() ? " (resumed from an earlier checkpoint)" : "",
                static_cast<double>(j.last_checkpoint_bytes()) / 1e6, j.last_checkpoint_ms());
        }
        if (!status.is_ok()) {
            std::fprintf(stderr, "eddy: job failed: %s\n", status.message().c_str());
            exit_code = kExitRuntimeFailure;
            return;
        }
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
