// SPDX-License-Identifier: Apache-2.0
// `eddy tap URL COMPONENT[.OUTPUT]`: live records of a running job, from
// its HTTP API (GET /v1/tap), one JSON object per line. docs/serving.md.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <httplib.h>
#include <simdjson.h>

#include "commands.h"
#include "io/http_server.h"

namespace eddy::cli {
namespace {

struct TapArgs {
    std::string url;
    std::string target;
    std::string key;
    uint64_t limit = 0;
    double sample = 1;
    std::string token_env;
    std::string token_file;
};

/// Prints one line of the stream: events to standard output, notices (a
/// drop, the end) to standard error. Returns false on the end event.
bool print_line(std::string_view line, simdjson::dom::parser& parser, std::string& end_reason) {
    if (line.empty()) {
        return true;  // a keep-alive
    }
    simdjson::dom::element doc;
    std::string_view event;
    if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS ||
        doc["event"].get(event) != simdjson::SUCCESS) {
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        return true;
    }
    if (event == "dropped") {
        uint64_t count = 0;
        if (doc["count"].get(count) != simdjson::SUCCESS) {
            count = 0;
        }
        std::fprintf(stderr, "eddy tap: %llu events dropped: this reader fell behind the job\n",
                     static_cast<unsigned long long>(count));
        return true;
    }
    if (event == "end") {
        std::string_view reason = "the server ended the stream";
        if (doc["reason"].get(reason) != simdjson::SUCCESS) {
            reason = "the server ended the stream";
        }
        end_reason = reason;
        return false;
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    return true;
}

int run_tap(const TapArgs& a) {
    std::string base = a.url;
    if (base.starts_with("https://")) {
        std::fprintf(stderr,
                     "eddy tap: %s: https is not supported; the API serves plain HTTP (put a TLS "
                     "proxy in front, and tap it from the job's machine)\n",
                     a.url.c_str());
        return kExitUsage;
    }
    if (!base.starts_with("http://")) {
        base = "http://" + base;
    }
    while (base.ends_with('/')) {
        base.pop_back();
    }
    auto token = http::read_bearer_token(a.token_env, a.token_file, "eddy tap");
    if (!token.is_ok()) {
        std::fprintf(stderr, "eddy tap: %s\n", token.status().message().c_str());
        return kExitUsage;
    }
    httplib::Client client(base);
    if (!client.is_valid()) {
        std::fprintf(stderr, "eddy tap: '%s' is not an http://host:port address\n", a.url.c_str());
        return kExitUsage;
    }
    client.set_connection_timeout(5);
    client.set_read_timeout(30);  // the server writes a keep-alive every second
    httplib::Headers headers;
    if (!token.value().empty()) {
        headers.emplace("Authorization", "Bearer " + token.value());
    }
    httplib::Params params;
    if (!a.key.empty()) {
        params.emplace("key", a.key);
    }
    if (a.limit > 0) {
        params.emplace("limit", std::to_string(a.limit));
    }
    if (a.sample != 1) {
        params.emplace("sample", std::to_string(a.sample));
    }

    int status = 0;
    std::string error_body;
    std::string pending;
    std::string end_reason;
    bool ended = false;
    simdjson::dom::parser parser;
    auto result = client.Get(
        "/v1/tap/" + a.target, params, headers,
        [&](const httplib::Response& res) {
            status = res.status;
            return true;
        },
        [&](const char* data, size_t size) {
            if (status != 200) {
                if (error_body.size() < 4096) {
                    error_body.append(data, size);
                }
                return true;
            }
            pending.append(data, size);
            size_t start = 0;
            for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
                if (!print_line(std::string_view(pending).substr(start, nl - start), parser,
                                end_reason)) {
                    ended = true;
                    return false;
                }
            }
            pending.erase(0, start);
            return true;
        });
    if (ended) {
        std::fprintf(stderr, "eddy tap: ended: %s\n", end_reason.c_str());
        return kExitOk;
    }
    if (status != 0 && status != 200) {
        std::string message = error_body;
        simdjson::dom::element doc;
        std::string_view text;
        if (parser.parse(error_body).get(doc) == simdjson::SUCCESS &&
            doc["error"].get(text) == simdjson::SUCCESS) {
            message = text;
        }
        std::fprintf(stderr, "eddy tap: %s answered %d: %s\n", base.c_str(), status,
                     message.c_str());
        return kExitRuntimeFailure;
    }
    std::fprintf(stderr, "eddy tap: %s: %s\n", base.c_str(),
                 status == 0 ? httplib::to_string(result.error()).c_str()
                             : "the stream ended before its end event (the job went away)");
    return kExitRuntimeFailure;
}

}  // namespace

void add_tap_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<TapArgs>();
    CLI::App* cmd = app.add_subcommand(
        "tap",
        "Stream live records of a running job (its HTTP API: `serve:` or `eddy run --http`).");
    cmd->add_option("url", args->url, "The job's API, e.g. http://127.0.0.1:8080")->required();
    cmd->add_option("component", args->target,
                    "COMPONENT (its main output; a sink: what it receives), COMPONENT.OUTPUT "
                    "(errors, late, ...), COMPONENT.* (every output), or * (everything; with "
                    "--key)")
        ->required();
    cmd->add_option("--key", args->key,
                    "Only records of this key; keyed operators also show their state for it "
                    "before and after each batch");
    cmd->add_option("--limit", args->limit,
                    "Stop after this many events (records and state traces; 0: never)");
    cmd->add_option("--sample", args->sample, "The fraction of records to show, in (0, 1]")
        ->check(CLI::Range(0.0, 1.0));
    auto* env = cmd->add_option("--token-env", args->token_env,
                                "An environment variable holding the API's bearer token");
    cmd->add_option("--token-file", args->token_file, "A file holding the bearer token")
        ->excludes(env);
    cmd->callback([args, &exit_code] { exit_code = run_tap(*args); });
}

}  // namespace eddy::cli
