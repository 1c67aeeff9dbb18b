// SPDX-License-Identifier: Apache-2.0
// `eddy explain-time URL`: why a window has not fired. Asks a running job's
// HTTP API (GET /v1/time) where event time stands and prints, per source
// and per operator instance, the watermark, the inputs that hold it back,
// the idle ones, and the next timer with the event time still to go.
// docs/serving.md, "Why hasn't my window fired?".
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include <httplib.h>
#include <simdjson.h>

#include "eddy/units.h"

#include "commands.h"
#include "io/http_server.h"

namespace eddy::cli {
namespace {

struct ExplainArgs {
    std::string url;
    std::string component;
    std::string token_env;
    std::string token_file;
};

/// An event time as ISO 8601 UTC with milliseconds, "none yet" for null and
/// "the end (input finished)" for "end".
std::string event_time(simdjson::dom::element v) {
    if (v.is_null()) {
        return "none yet";
    }
    if (v.is_string()) {
        return "the end (input finished)";
    }
    int64_t ms = 0;
    if (v.get(ms) != simdjson::SUCCESS) {
        return "?";
    }
    std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms - static_cast<int64_t>(secs) * 1000));
    return buf;
}

std::string names(simdjson::dom::array list) {
    std::string out;
    for (simdjson::dom::element e : list) {
        out += out.empty() ? "" : ", ";
        out += std::string_view(e.get_string().value_unsafe());
    }
    return out;
}

void print_sources(simdjson::dom::array sources) {
    std::printf("sources\n");
    for (simdjson::dom::element s : sources) {
        std::string_view name = s["name"].get_string().value_unsafe();
        std::printf("  %-20.*s watermark %s, latest event %s", static_cast<int>(name.size()),
                    name.data(), event_time(s["watermark"]).c_str(),
                    event_time(s["max_event_time"]).c_str());
        int64_t ooo = s["max_out_of_orderness_ms"].get_int64().value_unsafe();
        std::printf(", out-of-orderness %s", format_duration_ms(ooo).c_str());
        bool ended = s["ended"].get_bool().value_unsafe();
        bool idle = s["idle"].get_bool().value_unsafe();
        std::printf(", %s\n", ended ? "ended" : idle ? "idle" : "active");
    }
}

void print_instance(simdjson::dom::element in) {
    std::string components = names(in["components"].get_array().value_unsafe());
    int64_t shard = in["shard"].get_int64().value_unsafe();
    int64_t parallelism = in["parallelism"].get_int64().value_unsafe();
    std::string_view kind = in["kind"].get_string().value_unsafe();
    std::printf("  %s%s", components.c_str(), kind == "sink" ? " (sink)" : "");
    if (parallelism > 1) {
        std::printf(" [shard %lld of %lld]", static_cast<long long>(shard),
                    static_cast<long long>(parallelism));
    }
    if (!in["answered"].get_bool().value_unsafe()) {
        std::string_view reason;
        if (in["reason"].get(reason) != simdjson::SUCCESS) {
            reason = "did not answer";
        }
        std::printf(": %.*s\n", static_cast<int>(reason.size()), reason.data());
        return;
    }
    std::printf(": watermark %s\n", event_time(in["watermark"]).c_str());
    simdjson::dom::array held = in["held_back_by"].get_array().value_unsafe();
    simdjson::dom::array idle = in["idle_inputs"].get_array().value_unsafe();
    if (in["all_inputs_idle"].get_bool().value_unsafe()) {
        std::printf("      every input is idle: the watermark waits for data\n");
    } else if (held.size() > 0) {
        std::printf("      held back by %s\n", names(held).c_str());
    }
    if (idle.size() > 0) {
        std::printf("      idle inputs (not waited for): %s\n", names(idle).c_str());
    }
    simdjson::dom::array operators = in["operators"].get_array().value_unsafe();
    for (simdjson::dom::element op : operators) {
        std::string_view name = op["name"].get_string().value_unsafe();
        simdjson::dom::element next = op["next_event_timer"].value_unsafe();
        simdjson::dom::element processing = op["next_processing_timer"].value_unsafe();
        int64_t pending = op["pending_timers"].get_int64().value_unsafe();
        if (next.is_null() && processing.is_null()) {
            std::printf("      %.*s: no timer\n", static_cast<int>(name.size()), name.data());
            continue;
        }
        std::printf("      %.*s: %lld timer(s)", static_cast<int>(name.size()), name.data(),
                    static_cast<long long>(pending));
        if (!next.is_null()) {
            std::printf("; next event-time timer %s", event_time(next).c_str());
            int64_t to_go = 0;
            if (op["event_time_to_go_ms"].get(to_go) == simdjson::SUCCESS) {
                std::printf(to_go > 0 ? " (%s of event time to go)" : " (due%s)",
                            to_go > 0 ? format_duration_ms(to_go).c_str() : "");
            }
        }
        if (!processing.is_null()) {
            std::printf("; next processing-time timer %s", event_time(processing).c_str());
        }
        std::printf("\n");
    }
}

int run_explain(const ExplainArgs& a) {
    std::string base = a.url;
    if (!base.starts_with("http://")) {
        base = "http://" + base;
    }
    while (base.ends_with('/')) {
        base.pop_back();
    }
    auto token = http::read_bearer_token(a.token_env, a.token_file, "eddy explain-time");
    if (!token.is_ok()) {
        std::fprintf(stderr, "eddy explain-time: %s\n", token.status().message().c_str());
        return kExitUsage;
    }
    httplib::Client client(base);
    if (!client.is_valid()) {
        std::fprintf(stderr, "eddy explain-time: '%s' is not an http://host:port address\n",
                     a.url.c_str());
        return kExitUsage;
    }
    client.set_connection_timeout(5);
    client.set_read_timeout(30);
    httplib::Headers headers;
    if (!token.value().empty()) {
        headers.emplace("Authorization", "Bearer " + token.value());
    }
    auto res = client.Get("/v1/time", headers);
    if (!res) {
        std::fprintf(stderr, "eddy explain-time: cannot reach %s: %s\n", base.c_str(),
                     httplib::to_string(res.error()).c_str());
        return kExitRuntimeFailure;
    }
    if (res->status != 200) {
        std::fprintf(stderr, "eddy explain-time: %s/v1/time answered %d: %s\n", base.c_str(),
                     res->status, res->body.c_str());
        return kExitRuntimeFailure;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(res->body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
        std::fprintf(stderr, "eddy explain-time: %s/v1/time did not answer JSON\n", base.c_str());
        return kExitRuntimeFailure;
    }
    std::printf("processing time %s\n", event_time(doc["processing_time"].value_unsafe()).c_str());
    print_sources(doc["sources"].get_array().value_unsafe());
    std::printf(
        "operators and sinks (the watermark: the smallest of the inputs that are not "
        "idle)\n");
    bool shown = false;
    simdjson::dom::array instances = doc["instances"].get_array().value_unsafe();
    for (simdjson::dom::element in : instances) {
        if (!a.component.empty()) {
            bool match = false;
            simdjson::dom::array components = in["components"].get_array().value_unsafe();
            for (simdjson::dom::element c : components) {
                match |= std::string_view(c.get_string().value_unsafe()) == a.component;
            }
            if (!match) {
                continue;
            }
        }
        shown = true;
        print_instance(in);
    }
    if (!a.component.empty() && !shown) {
        std::fprintf(stderr, "eddy explain-time: the job has no operator or sink named '%s'\n",
                     a.component.c_str());
        return kExitUsage;
    }
    return kExitOk;
}

}  // namespace

void add_explain_time_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ExplainArgs>();
    CLI::App* cmd = app.add_subcommand(
        "explain-time",
        "Why hasn't my window fired? Where event time stands in a running job: each source's "
        "watermark, each operator's inputs and the one that holds it back, idle inputs, and "
        "the next timer (GET /v1/time of its HTTP API)");
    cmd->add_option("url", args->url, "The job's API, e.g. http://127.0.0.1:8080")->required();
    cmd->add_option("component", args->component, "Show only this operator or sink");
    auto* env = cmd->add_option("--token-env", args->token_env,
                                "An environment variable holding the API's bearer token");
    cmd->add_option("--token-file", args->token_file, "A file holding the bearer token")
        ->excludes(env);
    cmd->callback([args, &exit_code] { exit_code = run_explain(*args); });
}

}  // namespace eddy::cli
