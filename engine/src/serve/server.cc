// SPDX-License-Identifier: Apache-2.0
#include "serve/server.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "eddy/json_writer.h"
#include "eddy/query.h"
#include "eddy/state.h"

#include "io/http_body.h"
#include "io/http_server.h"
#include "metrics/metrics.h"
#include "serve/time_report.h"
#include "state/inspect.h"
#include "state/operator_meta.h"

namespace eddy {
namespace {

constexpr const char* kJson = "application/json";

void send_json(httplib::Response& res, int status, std::string body) {
    res.status = status;
    res.set_content(std::move(body), kJson);
}

void send_error(httplib::Response& res, int status, std::string_view message) {
    JsonWriter j;
    j.begin_object().key("error").value(message).end_object();
    send_json(res, status, j.str());
}

/// The HTTP status of a failed read.
int http_status(const Status& s) {
    switch (s.code()) {
        case StatusCode::kInvalidArgument:
        case StatusCode::kParseError:
            return 400;
        case StatusCode::kNotFound:
            return 404;
        case StatusCode::kUnsupported:
            return 501;
        case StatusCode::kAborted:
            return 503;
        default:
            return 500;
    }
}

/// One answer awaited from a shard's thread. Shared with the task, which
/// may run after the request gave up waiting.
template <class T>
struct Awaited {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool ran = false;  // false: the job ended before the task ran
    T value;
};

/// What a state read copies out of a shard: the stored bytes of each keyed
/// handle, decoded to JSON later on the HTTP thread.
struct StateRead {
    std::string type;
    int shard = 0;
    int64_t watermark = kNoWatermark;
    uint64_t checkpoint_id = 0;
    bool keyed = true;
    std::vector<StoredState> handles;
};

struct QueryAnswer {
    int shard = 0;
    int64_t watermark = kNoWatermark;
    uint64_t checkpoint_id = 0;
    bool queryable = true;
    Status status;
    std::string members;  // the operator's JSON object members
};

void write_watermark(JsonWriter& j, int64_t watermark) {
    j.key("watermark");
    if (watermark == kNoWatermark) {
        j.value(nullptr);
    } else {
        j.value(watermark);
    }
}

void write_key(JsonWriter& j, const Value& key) {
    if (key.is_int()) {
        j.value(key.as_int());
    } else {
        j.value(key.as_string());
    }
}

}  // namespace

class Server::Impl {
public:
    Impl(Job& job, const Registry& registry, const ServeDef& settings, std::string token)
        : job_(job), registry_(registry), settings_(settings), token_(std::move(token)) {}

    ~Impl() { stop(); }

    Status start() {
        if (std::string why = parse_listen_address(settings_.listen, address_); !why.empty()) {
            return Status::invalid_argument("serve.listen: " + why);
        }
        if (!address_.loopback() && token_.empty()) {
            return Status::invalid_argument(
                "serve.listen: refusing to serve on " + settings_.listen +
                " (not loopback) without a bearer token: set `serve.token_env` or "
                "`serve.token_file`");
        }
        resolve_views();
        // Threads beyond the limit, so that a connection over it gets its 503
        // at once instead of waiting for one that a stream (a tap) holds.
        auto threads =
            static_cast<size_t>(std::clamp<int64_t>(settings_.max_connections, 2, 256) + 2);
        http_.new_task_queue = [this, threads] {
            pool_ = new http::ConnectionPool(threads);
            return pool_;
        };
        http_.set_payload_max_length(settings_.max_request_bytes);
        http_.set_keep_alive_max_count(1000);
        http_.set_tcp_nodelay(true);  // or Nagle and delayed ACKs cost 40 ms per answer
        http_.set_read_timeout(5);
        http_.set_write_timeout(5);
        http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            return admit(req, res);
        });
        http_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
            if (res.body.empty()) {
                send_error(res, res.status,
                           res.status == 404   ? "no such endpoint; see docs/serving.md"
                           : res.status == 413 ? "request too large"
                                               : "bad request");
            }
        });
        http_.set_exception_handler(
            [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
                std::string what = "internal error";
                try {
                    std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what += std::string(": ") + e.what();
                } catch (...) {
                }
                send_error(res, 500, what);
            });
        routes();
        int port = address_.port == 0
                       ? http_.bind_to_any_port(address_.host)
                       : (http_.bind_to_port(address_.host, address_.port) ? address_.port : -1);
        if (port < 0) {
            return Status::io_error("serve.listen: cannot listen on " + settings_.listen +
                                    " (in use, or not an address of this machine)");
        }
        port_ = port;
        thread_ = std::thread([this] { http_.listen_after_bind(); });
        spdlog::info("HTTP API on {}", url());
        return Status::ok();
    }

    void stop() {
        if (thread_.joinable()) {
            http_.stop();
            thread_.join();
        }
    }

    int port() const { return port_; }
    std::string url() const {
        bool v6 = address_.host.find(':') != std::string::npos;
        return "http://" + (v6 ? "[" + address_.host + "]" : address_.host) + ":" +
               std::to_string(port_);
    }

private:
    /// Limits and the bearer token, before any route.
    httplib::Server::HandlerResponse admit(const httplib::Request& req, httplib::Response& res) {
        using R = httplib::Server::HandlerResponse;
        if (pool_ != nullptr &&
            pool_->connections() > static_cast<size_t>(settings_.max_connections)) {
            res.set_header("Retry-After", "1");
            send_error(res, 503, "too many connections; retry later");
            return R::Handled;
        }
        if (req.path.size() > settings_.max_key_bytes + 64) {
            send_error(res, 414, "the path is longer than the key limit (serve.max_key_bytes)");
            return R::Handled;
        }
        if (!token_.empty() && req.path != "/healthz") {
            const std::string& auth = req.get_header_value("Authorization");
            constexpr std::string_view kBearer = "Bearer ";
            bool ok =
                auth.starts_with(kBearer) &&
                http::constant_time_equal(std::string_view(auth).substr(kBearer.size()), token_);
            if (!ok) {
                res.set_header("WWW-Authenticate", "Bearer");
                send_error(res, 401, "a bearer token is required (Authorization: Bearer <token>)");
                return R::Handled;
            }
        }
        constexpr std::string_view kRecommendations = "/v1/recommendations/";
        if (req.method == "GET" && req.path.size() > kRecommendations.size() &&
            req.path.starts_with(kRecommendations)) {
            get_recommendations(req, std::string_view(req.path).substr(kRecommendations.size()),
                                res);
            return R::Handled;
        }
        return R::Unhandled;
    }

    void routes() {
        http_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
            send_json(res, 200, R"({"status":"ok"})");
        });
        http_.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
            bool ready = job_.running() && job_.ready();
            JsonWriter j;
            j.begin_object().key("ready").value(ready).key("running").value(job_.running());
            j.key("restored").value(job_.restored()).key("checkpoints").value(job_.checkpoints());
            if (!ready) {
                j.key("reason").value(!job_.running() ? "the job is not processing"
                                                      : "a source has not caught up yet");
            }
            j.end_object();
            send_json(res, ready ? 200 : 503, j.str());
        });
        http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(render_prometheus(job_.metrics()), "text/plain; version=0.0.4");
        });
        http_.Get("/v1/topology", [this](const httplib::Request&, httplib::Response& res) {
            send_json(res, 200, topology_json());
        });
        http_.Get("/v1/time", [this](const httplib::Request&, httplib::Response& res) {
            send_json(res, 200,
                      serve::time_report_json(job_.explain_time(settings_.query_timeout_ms)));
        });
        http_.Get(
            R"(/v1/state/([^/]+)/(.+))",
            [this](const httplib::Request& req, httplib::Response& res) { get_state(req, res); });
        http_.Get(R"(/v1/tap/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            get_tap(req, res);
        });
        // Also dispatched before routing (admit()), which spares the hot
        // endpoint the router's regular expressions.
        http_.Get(R"(/v1/recommendations/(.+))",
                  [this](const httplib::Request& req, httplib::Response& res) {
                      get_recommendations(req, std::string(req.matches[1]), res);
                  });
        http_.Get(R"(/v1/profiles/(.+))",
                  [this](const httplib::Request& req, httplib::Response& res) {
                      get_view_state(req, res, "profiles", "profile");
                  });
        http_.Get(R"(/v1/segments/(.+))",
                  [this](const httplib::Request& req, httplib::Response& res) {
                      get_view_state(req, res, "segments", "segment");
                  });
    }

    /// Which operators answer each view: `serve.views`, else by type.
    void resolve_views() {
        const Topology& topo = job_.topology();
        auto of_types = [&](std::initializer_list<std::string_view> types) {
            std::vector<std::string> names;
            for (const ComponentDef& c : topo.components) {
                if (c.kind == ComponentKind::kOperator &&
                    std::find(types.begin(), types.end(), c.type) != types.end()) {
                    names.push_back(c.name);
                }
            }
            return names;
        };
        // `recommend` operators first, then `mf`; the first one answers.
        recommenders_ = of_types({"recommend"});
        for (std::string& name : of_types({"mf"})) {
            recommenders_.push_back(std::move(name));
        }
        profiles_ = of_types({"profile"});
        segments_ = of_types({"segment", "kmeans"});
        for (const auto& [view, op] : settings_.views) {
            (view == "recommendations" ? recommenders_
             : view == "profiles"      ? profiles_
                                       : segments_) = {op};
        }
        if (!recommenders_.empty()) {
            constexpr std::string_view kHelp =
                "Recommendations the HTTP API answered, from a ranking the operator kept "
                "(answered_by=kept) or ranked on its shard (answered_by=shard).";
            auto cell = [&](const char* by) {
                return &job_.metrics()
                            .component_metric(recommenders_.front(), "api_recommendations_total",
                                              kHelp, MetricKind::kCounter, {{"answered_by", by}})
                            ->value;
            };
            answered_kept_ = cell("kept");
            answered_shard_ = cell("shard");
            // The answering operator keeps its rankings from now on.
            (void)job_.for_each_instance(recommenders_.front(), [](Operator& op) {
                if (auto* kept = dynamic_cast<PublishedQueryable*>(&op)) {
                    kept->keep_answers();
                }
            });
        }
    }

    /// The type of the component named `name` ("" when there is none).
    std::string type_of(const std::string& name) const {
        for (const ComponentDef& c : job_.topology().components) {
            if (c.name == name) {
                return c.type;
            }
        }
        return "";
    }

    /// The key in the path, typed by `key_type` (string by default, or int).
    /// Under scale-out, a key whose partition of operator `op`'s input
    /// another process owns is answered with a redirect to that process
    /// (docs/scale-out.md).
    bool read_key(const httplib::Request& req, std::string_view op, std::string_view text,
                  Value& key, std::string& storage, httplib::Response& res) const {
        if (!parse_key(req, text, key, storage, res)) {
            return false;
        }
        Job::KeyPlace place = job_.place_of(op, key);
        if (place.where == Job::KeyPlace::Where::kElsewhere) {
            res.set_header("Location", "http://" + place.address + req.target);
            JsonWriter j;
            j.begin_object()
                .field("error", "partition " + std::to_string(place.partition) +
                                    " of the input, which holds this key, is owned by the "
                                    "process at " +
                                    place.address)
                .field("owner", place.address)
                .field("partition", static_cast<int64_t>(place.partition))
                .end_object();
            send_json(res, 307, j.str());
            return false;
        }
        if (place.where == Job::KeyPlace::Where::kUnknown) {
            res.set_header("Retry-After", "1");
            send_error(res, 503,
                       "partition " + std::to_string(place.partition) +
                           " of the input, which holds this key, has no known owner yet (a "
                           "rebalance is in progress, or its owner has not published its "
                           "address): retry");
            return false;
        }
        return true;
    }

    bool parse_key(const httplib::Request& req, std::string_view text, Value& key,
                   std::string& storage, httplib::Response& res) const {
        if (text.empty()) {
            send_error(res, 400, "the key is empty");
            return false;
        }
        if (text.size() > settings_.max_key_bytes) {
            send_error(res, 414,
                       "the key is " + std::to_string(text.size()) + " bytes; the limit is " +
                           std::to_string(settings_.max_key_bytes) + " (serve.max_key_bytes)");
            return false;
        }
        std::string type = req.get_param_value("key_type");
        if (type.empty() || type == "string") {
            storage.assign(text);
            key = Value::string_view(storage);
            return true;
        }
        if (type == "int") {
            int64_t i = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
            if (ec != std::errc() || end != text.data() + text.size()) {
                send_error(
                    res, 400,
                    "key_type=int but the key '" + std::string(text) + "' is not a whole number");
                return false;
            }
            key = Value::integer(i);
            return true;
        }
        send_error(res, 400, "key_type must be `string` or `int`, got '" + type + "'");
        return false;
    }

    /// Posts `fill` to the shard of `op` that owns `key` and waits for it.
    template <class T, class Fill>
    Status ask(const std::string& op, const Value& key, Fill fill, T& out) {
        auto awaited = std::make_shared<Awaited<T>>();
        Status posted = job_.run_on_owner(op, &key, [awaited, fill](const OwnerView* view) mutable {
            T value;
            if (view != nullptr) {
                fill(*view, value);
            }
            std::lock_guard lock(awaited->mu);
            awaited->value = std::move(value);
            awaited->ran = view != nullptr;
            awaited->done = true;
            awaited->cv.notify_all();
        });
        if (!posted.is_ok()) {
            return posted;
        }
        std::unique_lock lock(awaited->mu);
        if (!awaited->cv.wait_for(lock, std::chrono::milliseconds(settings_.query_timeout_ms),
                                  [&] { return awaited->done; })) {
            return Status::aborted("operator '" + op + "' did not answer within " +
                                   std::to_string(settings_.query_timeout_ms) +
                                   " ms (serve.query_timeout); the job may be overloaded");
        }
        if (!awaited->ran) {
            return Status::aborted("the job has stopped");
        }
        out = std::move(awaited->value);
        return Status::ok();
    }

    Status read_state(const std::string& op, const Value& key, std::string_view only,
                      StateRead& out) {
        std::string encoded;
        encode_state_key(key, encoded);
        return ask(
            op, key,
            [encoded, only = std::string(only)](const OwnerView& v, StateRead& r) {
                r.type = v.def->type;
                r.shard = v.shard;
                r.watermark = v.watermark;
                r.checkpoint_id = v.checkpoint_id;
                r.keyed = !v.def->key.empty();
                read_stored_states(*v.states, encoded, only, r.handles);
            },
            out);
    }

    /// The value of one of the keyed `states` of an operator of `type` as
    /// JSON (or {"hex","error"} when its codec cannot render it).
    std::string state_value_json(const std::string& type, const std::vector<StoredState>& states,
                                 size_t handle) const {
        state::OperatorMeta meta;
        meta.type = type;
        for (const StoredState& h : states) {
            meta.handles.push_back({h.name, true, h.version});
        }
        JsonWriter one;
        one.begin_object();
        state::append_state_value(registry_, meta, handle, states[handle].stored, one);
        one.end_object();
        // append_state_value writes "value" (or "hex" and "error"): unwrap "value".
        std::string text = one.str();
        constexpr std::string_view kPrefix = R"({"value":)";
        if (text.starts_with(kPrefix) && text.ends_with('}')) {
            return text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
        }
        return text;
    }

    /// Writes the handles that hold the key as {"state name": value}, or,
    /// with `single` and only one keyed state, that state's value alone.
    /// Writes null and returns false when no handle holds the key.
    bool write_state_values(const StateRead& read, bool single, JsonWriter& j) const {
        bool any = std::any_of(read.handles.begin(), read.handles.end(),
                               [](const StoredState& h) { return h.found; });
        if (!any) {
            j.value(nullptr);
            return false;
        }
        if (single && read.handles.size() == 1) {
            j.raw(state_value_json(read.type, read.handles, 0));
            return true;
        }
        j.begin_object();
        for (size_t i = 0; i < read.handles.size(); ++i) {
            if (read.handles[i].found) {
                j.key(read.handles[i].name).raw(state_value_json(read.type, read.handles, i));
            }
        }
        j.end_object();
        return true;
    }

    void get_state(const httplib::Request& req, httplib::Response& res) {
        std::string op = req.matches[1];
        const Topology& topo = job_.topology();
        int c = topo.find(op);
        if (c < 0 || topo.components[static_cast<size_t>(c)].kind != ComponentKind::kOperator) {
            send_error(res, 404, "no operator named '" + op + "'");
            return;
        }
        if (topo.components[static_cast<size_t>(c)].key.empty()) {
            send_error(res, 400,
                       "operator '" + op +
                           "' is not keyed: its state is operator-wide (see `eddy state dump`)");
            return;
        }
        Value key;
        std::string storage;
        if (!read_key(req, op, std::string(req.matches[2]), key, storage, res)) {
            return;
        }
        StateRead read;
        std::string only = req.get_param_value("state");
        if (Status s = read_state(op, key, only, read); !s.is_ok()) {
            send_error(res, http_status(s), s.message());
            return;
        }
        if (!only.empty() && read.handles.empty()) {
            send_error(res, 404, "operator '" + op + "' has no keyed state named '" + only + "'");
            return;
        }
        JsonWriter j;
        j.begin_object().key("operator").value(op).key("key");
        write_key(j, key);
        j.key("shard").value(read.shard);
        write_watermark(j, read.watermark);
        j.key("checkpoint_id").value(read.checkpoint_id);
        j.key("state");
        bool found = write_state_values(read, false, j);
        j.key("found").value(found).end_object();
        send_json(res, found ? 200 : 404, j.str());
    }

    /// /v1/tap/{component}[.{output}]?key=&limit=&sample=: live records as
    /// JSON Lines until the limit, the end of the job or the reader leaves.
    void get_tap(const httplib::Request& req, httplib::Response& res) {
        std::string target = req.matches[1];
        TapRequest request;
        size_t dot = target.find('.');
        request.component = target.substr(0, dot);
        request.output = dot == std::string::npos ? "" : target.substr(dot + 1);
        if (request.output == "main") {
            request.output.clear();
        }
        if (req.has_param("key")) {
            request.key = req.get_param_value("key");
            if (request.key->size() > settings_.max_key_bytes) {
                send_error(res, 414,
                           "the key is longer than " + std::to_string(settings_.max_key_bytes) +
                               " bytes (serve.max_key_bytes)");
                return;
            }
        }
        if (req.has_param("limit")) {
            std::string text = req.get_param_value("limit");
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), request.limit);
            if (ec != std::errc() || end != text.data() + text.size()) {
                send_error(res, 400, "limit must be a whole number of records, got '" + text + "'");
                return;
            }
        }
        if (req.has_param("sample")) {
            std::string text = req.get_param_value("sample");
            char* end = nullptr;
            request.sample = std::strtod(text.c_str(), &end);
            if (text.empty() || end != text.c_str() + text.size()) {
                send_error(res, 400, "sample must be a number in (0, 1], got '" + text + "'");
                return;
            }
        }
        auto opened = job_.open_tap(std::move(request));
        if (!opened.is_ok()) {
            send_error(res, http_status(opened.status()), opened.status().message());
            return;
        }
        std::shared_ptr<Tap> tap = std::move(opened.value());
        res.set_header("Cache-Control", "no-store");
        res.set_chunked_content_provider(
            "application/x-ndjson",
            [this, tap](size_t, httplib::DataSink& sink) {
                std::vector<TapEvent> events;
                bool more = tap->take(events, std::chrono::milliseconds(1000));
                std::string out;
                for (const TapEvent& e : events) {
                    out += tap_event_json(e);
                    out += '\n';
                }
                if (uint64_t dropped = tap->take_dropped(); dropped > 0) {
                    out += R"({"event":"dropped","count":)" + std::to_string(dropped) +
                           R"(,"reason":"the reader fell behind"})" + "\n";
                }
                if (!more) {
                    JsonWriter j;
                    j.begin_object().key("event").value("end");
                    j.key("reason").value(tap->end_reason()).end_object();
                    out += j.str() + "\n";
                    bool written = sink.write(out.data(), out.size());
                    sink.done();
                    return written;
                }
                if (out.empty()) {
                    out = "\n";  // a keep-alive: finds a reader that has gone
                }
                return sink.write(out.data(), out.size());
            },
            [this, tap](bool) { job_.close_tap(tap); });
    }

    /// One tap event as a JSON object.
    std::string tap_event_json(const TapEvent& e) const {
        JsonWriter j;
        j.begin_object();
        j.key("event").value(e.kind == TapEvent::Kind::kRecord ? "record" : "state");
        j.key("component").value(e.component);
        if (e.kind == TapEvent::Kind::kRecord) {
            if (!e.output.empty()) {
                j.key("output").value(e.output);
            }
            j.key("shard").value(e.shard).key("time").value(e.time).key("record").raw(e.json);
            j.end_object();
            return j.str();
        }
        j.key("type").value(e.type).key("shard").value(e.shard).key("key").value(e.key);
        if (e.timer) {
            j.key("timer").begin_object();
            j.key("domain").value(e.timer_domain == TimeDomain::kEventTime ? "event_time"
                                                                           : "processing_time");
            j.key("time").value(e.timer_time).end_object();
        }
        j.key("inputs").begin_array();
        for (const std::string& in : e.inputs) {
            j.raw(in);
        }
        j.end_array();
        for (const auto& [name, states] : {std::pair{"before", &e.before}, {"after", &e.after}}) {
            j.key(name).begin_object();
            for (size_t i = 0; i < states->size(); ++i) {
                j.key((*states)[i].name);
                if ((*states)[i].found) {
                    j.raw(state_value_json(e.type, *states, i));
                } else {
                    j.value(nullptr);
                }
            }
            j.end_object();
        }
        j.end_object();
        return j.str();
    }

    /// /v1/profiles/{user} and /v1/segments/{user}: the keyed state of each
    /// operator that answers the view; a user none knows gets `known: false`.
    void get_view_state(const httplib::Request& req, httplib::Response& res, const char* view,
                        const char* type) {
        const std::vector<std::string>& ops =
            view == std::string_view("profiles") ? profiles_ : segments_;
        if (ops.empty()) {
            send_error(res, 404,
                       std::string("this topology has no operator of type `") + type +
                           "` to answer /v1/" + view + " (or name one in `serve.views`)");
            return;
        }
        Value key;
        std::string storage;
        if (!read_key(req, ops.front(), std::string(req.matches[1]), key, storage, res)) {
            return;
        }
        JsonWriter j;
        j.begin_object().key("user");
        write_key(j, key);
        j.key(view).begin_object();
        bool known = false;
        int64_t watermark = kNoWatermark;
        uint64_t checkpoint = 0;
        for (const std::string& op : ops) {
            StateRead read;
            if (Status s = read_state(op, key, {}, read); !s.is_ok()) {
                send_error(res, http_status(s), s.message());
                return;
            }
            watermark = std::max(watermark, read.watermark);
            checkpoint = read.checkpoint_id;
            j.key(op);
            known |= write_state_values(read, true, j);
        }
        j.end_object().key("known").value(known);
        write_watermark(j, watermark);
        j.key("checkpoint_id").value(checkpoint).end_object();
        send_json(res, 200, j.str());
    }

    void get_recommendations(const httplib::Request& req, std::string_view key_text,
                             httplib::Response& res) {
        if (recommenders_.empty()) {
            send_error(res, 404,
                       "this topology has no `recommend` or `mf` operator to answer "
                       "/v1/recommendations (or name one in `serve.views`)");
            return;
        }
        Value key;
        std::string storage;
        const std::string& op = recommenders_.front();
        if (!read_key(req, op, key_text, key, storage, res)) {
            return;
        }
        std::string fresh = req.get_param_value("fresh");
        if (fresh != "" && fresh != "true" && fresh != "false") {
            send_error(res, 400, "`fresh` must be `true` or `false`, got '" + fresh + "'");
            return;
        }
        if (fresh != "true" && answer_published(req, op, key, res)) {
            answered_kept_->fetch_add(1, std::memory_order_relaxed);
            return;
        }
        // The request's parameters, owned here while the shard reads them.
        std::vector<std::pair<std::string, std::string>> params(req.params.begin(),
                                                                req.params.end());
        QueryAnswer answer;
        // The task owns what it reads: it may run after this request gave up.
        bool int_key = key.is_int();
        int64_t int_value = int_key ? key.as_int() : 0;
        Status s = ask(
            op, key,
            [params = std::move(params), storage, int_key, int_value](const OwnerView& v,
                                                                      QueryAnswer& a) {
                Value key = int_key ? Value::integer(int_value) : Value::string_view(storage);
                a.shard = v.shard;
                a.watermark = v.watermark;
                a.checkpoint_id = v.checkpoint_id;
                auto* q = dynamic_cast<Queryable*>(v.op);
                if (q == nullptr || !q->serves("recommendations")) {
                    a.queryable = false;
                    return;
                }
                QueryRequest request;
                request.view = "recommendations";
                request.key = key;
                for (const auto& [k, value] : params) {
                    request.params.emplace_back(k, value);
                }
                JsonWriter j(a.members);
                j.begin_object();
                a.status = q->query(request, j);
                j.end_object();
            },
            answer);
        if (!s.is_ok()) {
            send_error(res, http_status(s), s.message());
            return;
        }
        if (!answer.queryable) {
            send_error(res, 404,
                       "operator '" + op + "' (type `" + type_of(op) +
                           "`) does not answer /v1/recommendations; name a `recommend` or `mf` "
                           "operator in `serve.views.recommendations`");
            return;
        }
        if (!answer.status.is_ok()) {
            send_error(res, http_status(answer.status), answer.status.message());
            return;
        }
        send_recommendations(res, op, key, answer.members, answer.watermark, answer.checkpoint_id);
        answered_shard_->fetch_add(1, std::memory_order_relaxed);
    }

    /// Answers from the ranking the owner of `key` keeps, on this thread
    /// (PublishedQueryable); false when it keeps none fresh enough.
    bool answer_published(const httplib::Request& req, const std::string& op, const Value& key,
                          httplib::Response& res) {
        SharedOwner owner;
        if (!job_.running() || !job_.find_owner(op, &key, owner).is_ok()) {
            return false;
        }
        const auto* q = dynamic_cast<const Queryable*>(owner.op);
        const auto* kept = dynamic_cast<const PublishedQueryable*>(owner.op);
        if (q == nullptr || kept == nullptr || !q->serves("recommendations")) {
            return false;
        }
        QueryRequest request;
        request.view = "recommendations";
        request.key = key;
        for (const auto& [k, value] : req.params) {
            request.params.emplace_back(k, value);
        }
        std::string members;
        JsonWriter j(members);
        j.begin_object();
        if (!kept->query_published(request, j)) {
            return false;
        }
        j.end_object();
        send_recommendations(res, op, key, members, owner.watermark, owner.checkpoint_id);
        return true;
    }

    /// {"user", "operator", the operator's `members`, "watermark", "checkpoint_id"}.
    static void send_recommendations(httplib::Response& res, const std::string& op,
                                     const Value& key, std::string_view members, int64_t watermark,
                                     uint64_t checkpoint_id) {
        JsonWriter j;
        j.begin_object().key("user");
        write_key(j, key);
        j.key("operator").value(op);
        std::string out = j.str();
        // The operator's members, without the braces of their object.
        if (members.size() > 2) {
            out += ',';
            out.append(members.substr(1, members.size() - 2));
        }
        JsonWriter tail;
        tail.begin_object();
        write_watermark(tail, watermark);
        tail.key("checkpoint_id").value(checkpoint_id).end_object();
        out += ',';
        out += std::string_view(tail.str()).substr(1);  // without its '{'
        send_json(res, 200, std::move(out));
    }

    std::string topology_json() const {
        const Topology& topo = job_.topology();
        const PhysicalPlan& plan = job_.plan();
        JsonWriter j;
        j.begin_object().key("name").value(topo.name);
        j.key("parallelism").value(topo.parallelism);
        j.key("components").begin_array();
        for (size_t i = 0; i < topo.components.size(); ++i) {
            const ComponentDef& c = topo.components[i];
            j.begin_object().key("name").value(c.name);
            j.key("kind").value(component_kind_name(c.kind)).key("type").value(c.type);
            if (!c.inputs.empty()) {
                j.key("inputs").begin_array();
                for (const InputRef& in : c.inputs) {
                    j.value(in.to_string());
                }
                j.end_array();
            }
            if (!c.key.empty()) {
                j.key("key").value(c.key);
            }
            int node = plan.node_of_component[i];
            if (node >= 0) {
                j.key("node").value(node);
                j.key("parallelism").value(plan.nodes[static_cast<size_t>(node)].parallelism);
            }
            j.end_object();
        }
        j.end_array();
        j.key("plan").begin_array();
        for (const PlanNode& n : plan.nodes) {
            j.begin_object().key("id").value(n.id);
            j.key("kind").value(n.kind == PlanNodeKind::kChain      ? "chain"
                                : n.kind == PlanNodeKind::kExchange ? "exchange"
                                : n.kind == PlanNodeKind::kSource   ? "source"
                                                                    : "sink");
            j.key("components").begin_array();
            for (int c : n.components) {
                j.value(topo.components[static_cast<size_t>(c)].name);
            }
            j.end_array();
            if (!n.key.empty()) {
                j.key("key").value(n.key);
            }
            j.key("parallelism").value(n.parallelism).end_object();
        }
        j.end_array();
        j.key("views").begin_object();
        auto list = [&](const char* name, const std::vector<std::string>& ops) {
            j.key(name).begin_array();
            for (const std::string& op : ops) {
                j.value(op);
            }
            j.end_array();
        };
        list("recommendations", recommenders_);
        list("profiles", profiles_);
        list("segments", segments_);
        j.end_object().end_object();
        return j.str();
    }

    Job& job_;
    const Registry& registry_;
    ServeDef settings_;
    std::string token_;
    ListenAddress address_;
    httplib::Server http_;
    http::ConnectionPool* pool_ = nullptr;  // owned by http_
    std::thread thread_;
    int port_ = 0;
    std::vector<std::string> recommenders_;
    // eddy_api_recommendations_total of the answering recommender.
    std::atomic<int64_t>* answered_kept_ = nullptr;
    std::atomic<int64_t>* answered_shard_ = nullptr;
    std::vector<std::string> profiles_;
    std::vector<std::string> segments_;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::start(Job& job, const Registry& registry,
                                              const ServeDef& settings) {
    auto token = http::read_bearer_token(settings.token_env, settings.token_file, "serve");
    if (!token.is_ok()) {
        return token.status();
    }
    auto impl = std::make_unique<Impl>(job, registry, settings, std::move(token.value()));
    EDDY_RETURN_IF_ERROR(impl->start());
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const {
    return impl_->port();
}

std::string Server::url() const {
    return impl_->url();
}

void Server::stop() {
    impl_->stop();
}

}  // namespace eddy
