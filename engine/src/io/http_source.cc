// SPDX-License-Identifier: Apache-2.0
// The `http` source: a collector. httplib's threads take POSTed events,
// validate them and queue their text, bounded in bytes; the job's thread
// decodes them at poll() (docs/collector.md).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <sys/socket.h>

#include "eddy/fields.h"
#include "eddy/json_writer.h"
#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/units.h"

#include "io/http_body.h"
#include "io/http_server.h"
#include "record/line_decoder.h"
#include "record/utf8.h"

namespace eddy {
namespace {

constexpr size_t kRawErrorBytes = 1024;
constexpr size_t kListedErrors = 100;  // `errors` entries in one answer, at most
constexpr const char* kHealthPath = "/healthz";
constexpr time_t kReadTimeoutSecs = 5;
constexpr size_t kKeepAliveRequests = 100;
constexpr int kRetryAfterSecs = 1;
// A std::string's payload in a queued chunk ends up in one buffer; its items
// and bookkeeping are counted in flight too, so `max_in_flight` bounds memory.
constexpr size_t kChunkOverhead = 128;

using http::error_json;
using http::reply;
using http::reply_and_close;
using httplib::Request;
using httplib::Response;
using Handled = httplib::Server::HandlerResponse;

/// `listen` as host and port; nullopt when it is not HOST:PORT (serve/address.h).
std::optional<ListenAddress> parse_listen(std::string_view text) {
    ListenAddress a;
    if (!parse_listen_address(text, a).empty()) {
        return std::nullopt;
    }
    return a;
}

std::string place(const Config& cfg, std::string_view param) {
    return "parameter '" + std::string(param) + "' (" + cfg.location_of(param).to_string() + ")";
}

/// The cross-field and format rules, shared by the spec (eddy validate) and
/// the factory. Empty when the config is fine.
std::string check_config(const Config& cfg) {
    if (!parse_listen(cfg.string("listen"))) {
        return place(cfg, "listen") + " must be HOST:PORT, e.g. 127.0.0.1:8088 or 0.0.0.0:0 " +
               "(port 0: any free port), got '" + cfg.string("listen") + "'";
    }
    const std::string& path = cfg.string("path");
    if (path.empty() || path.front() != '/' || path.find_first_of("?# ") != std::string::npos) {
        return place(cfg, "path") + " must be a URL path starting with /, like /v1/events, got '" +
               path + "'";
    }
    if (path == kHealthPath) {
        return place(cfg, "path") + " cannot be /healthz, which answers health checks";
    }
    if (cfg.size("max_in_flight") < cfg.size("max_body")) {
        return place(cfg, "max_in_flight") + " (" + format_size_bytes(cfg.size("max_in_flight")) +
               ") must be at least max_body (" + format_size_bytes(cfg.size("max_body")) +
               "), or a request of max_body could never be accepted";
    }
    if (cfg.duration("keep_alive") > std::chrono::minutes(5)) {
        return place(cfg, "keep_alive") + " must be at most 5m: stopping the job waits that " +
               "long for idle connections";
    }
    if (cfg.has("token_env") && cfg.has("token_file")) {
        return "set one of token_env and token_file, not both";
    }
    if (cfg.has("allow_origins")) {
        for (const std::string& o : cfg.strings("allow_origins")) {
            size_t scheme = o.find("://");
            bool ok =
                o == "*" || ((o.starts_with("http://") || o.starts_with("https://")) &&
                             o.find('/', scheme + 3) == std::string::npos && o.size() > scheme + 3);
            if (!ok) {
                return place(cfg, "allow_origins") + " holds '" + o +
                       "', which is not an origin: write scheme://host[:port] with no path "
                       "or trailing slash (https://shop.example.com), or *";
            }
        }
    }
    return {};
}

/// One request's events and rejected inputs, in order, as poll() takes them.
struct Chunk {
    struct Item {
        size_t offset = 0;  // in `text`
        size_t size = 0;
        int64_t position = 0;  // 1-based over every event the source received
        int32_t reason = -1;   // in `reasons`; -1 for an accepted event
    };
    std::string text;
    std::vector<Item> items;
    std::vector<std::string> reasons;
    int64_t received_ms = 0;
    size_t cost = 0;  // bytes counted in flight
};

struct HttpOptions {
    ListenAddress listen;
    std::string path;
    std::string port_file;
    uint64_t max_body = 0;
    uint64_t max_in_flight = 0;
    size_t max_events = 0;
    size_t max_connections = 0;
    time_t keep_alive_secs = 0;
    std::vector<std::string> allow_origins;
    std::string token_env;
    std::string token_file;
    DecoderOptions decoder;
};

class HttpSource final : public Source {
public:
    explicit HttpSource(std::string name, HttpOptions options)
        : name_(std::move(name)), options_(std::move(options)) {}

    ~HttpSource() override { stop_server(); }

    Status open(ComponentContext& ctx) override {
        ctx_ = &ctx;
        clock_ = &ctx.clock();
        decoder_ = std::make_unique<LineDecoder>(options_.decoder, ctx);
        EDDY_RETURN_IF_ERROR(read_token());
        for (int code : {200, 202, 204, 400, 401, 403, 404, 405, 413, 415, 429, 500}) {
            requests_metric_[code] = ctx.counter("http_requests_total", "HTTP requests answered.",
                                                 {{"code", std::to_string(code)}});
        }
        requests_metric_[0] =
            ctx.counter("http_requests_total", "HTTP requests answered.", {{"code", "other"}});
        accepted_metric_ = ctx.counter("http_events_accepted_total",
                                       "Events accepted (answered 202) and queued for the job.");
        rejected_metric_ = ctx.counter("http_events_rejected_total",
                                       "Events rejected and sent to the errors output.");
        in_flight_metric_ = ctx.gauge("http_in_flight_bytes",
                                      "Bytes of events accepted but not yet taken by the job.");
        configure_server();
        EDDY_RETURN_IF_ERROR(bind());
        server_thread_ = std::thread([this] {
            server_->listen_after_bind();
            server_done_ = true;
        });
        // stop() does nothing until the accept loop runs (httplib 0.11), so a
        // close() right after open() would wait on accept() forever.
        while (!server_->is_running() && !server_done_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        if (server_done_) {
            stop_server();
            return Status::io_error(prefix() + "the HTTP server on " + options_.listen.to_string() +
                                    " stopped as it started");
        }
        ctx.log(LogLevel::kInfo, "http source '" + name_ + "' listening on " +
                                     ListenAddress{options_.listen.host, port_}.to_string());
        if (!options_.port_file.empty()) {
            EDDY_RETURN_IF_ERROR(write_port_file());
        }
        return Status::ok();
    }

    /// Never waits: an empty queue is kIdle, and the runtime waits a little.
    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override {
        size_t n = 0;
        while (n < max_records) {
            if (next_item_ == current_.items.size() && !take_chunk()) {
                break;
            }
            const Chunk::Item& item = current_.items[next_item_++];
            std::string_view text(current_.text.data() + item.offset, item.size);
            ++n;
            if (item.reason >= 0) {
                out.error(current_.reasons[static_cast<size_t>(item.reason)], item.position, text);
                continue;
            }
            Record& record = out.append();
            if (Status s = decoder_->decode(text, record); !s.is_ok()) {
                out.discard_last();
                out.error(s.message(), item.position, truncate_utf8(text, kRawErrorBytes));
                continue;
            }
            if (!options_.decoder.event_time) {
                record.set_time(current_.received_ms);  // when it arrived, not when polled
            }
        }
        return n > 0 ? PollStatus::kData : PollStatus::kIdle;
    }

    SourceProgress progress() const override {
        return {static_cast<uint64_t>(accepted_metric_.value()), 0, false};
    }

    Status close() override {
        stop_server();
        size_t dropped = 0;
        {
            std::lock_guard lock(mu_);
            for (const Chunk& c : queue_) {
                dropped += c.items.size();
            }
            queue_.clear();
            in_flight_ = 0;
        }
        dropped += current_.items.size() - next_item_;
        current_ = Chunk();
        next_item_ = 0;
        if (ctx_ != nullptr) {
            ctx_->log(LogLevel::kInfo,
                      "received " + std::to_string(requests_.load()) + " POST request(s): " +
                          std::to_string(accepted_metric_.value()) + " event(s) accepted, " +
                          std::to_string(rejected_metric_.value()) + " rejected");
            if (dropped > 0) {
                ctx_->log(LogLevel::kWarn,
                          std::to_string(dropped) +
                              " accepted event(s) and errors the job had not taken yet were "
                              "dropped at close (at-most-once; docs/collector.md)");
            }
        }
        return Status::ok();
    }

private:
    std::string prefix() const { return "source '" + name_ + "': "; }

    Status read_token() {
        auto token = http::read_bearer_token(options_.token_env, options_.token_file,
                                             "source '" + name_ + "'");
        if (!token.is_ok()) {
            return token.status();
        }
        token_ = std::move(token.value());
        return Status::ok();
    }

    void configure_server() {
        server_ = std::make_unique<httplib::Server>();
        size_t max_connections = options_.max_connections;
        server_->new_task_queue = [max_connections] {
            return new http::ConnectionPool(max_connections);
        };
        // httplib's default also sets SO_REUSEPORT, with which a second job
        // on the same port would silently share its requests.
        server_->set_socket_options([](socket_t sock) {
            int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        server_->set_tcp_nodelay(true);
        server_->set_keep_alive_max_count(kKeepAliveRequests);
        server_->set_keep_alive_timeout(options_.keep_alive_secs);
        server_->set_read_timeout(kReadTimeoutSecs);
        server_->set_write_timeout(kReadTimeoutSecs);
        server_->set_payload_max_length(options_.max_body);
        server_->set_pre_routing_handler(
            [this](const Request& req, Response& res) { return route(req, res); });
        server_->Post(http::regex_escape(options_.path),
                      [this](const Request& req, Response& res,
                             const httplib::ContentReader& reader) { post(req, res, reader); });
        // Errors httplib answers itself (a malformed request line, headers
        // too long) get a JSON body too.
        server_->set_error_handler(
            httplib::Server::HandlerWithResponse([this](const Request& req, Response& res) {
                if (res.body.empty() && !res.content_provider_) {
                    res.set_content(error_json("HTTP " + std::to_string(res.status) +
                                               ": the request is malformed or not supported"),
                                    "application/json");
                }
                add_cors(req, res);
                return Handled::Unhandled;
            }));
        server_->set_logger([this](const Request&, const Response& res) {
            auto it = requests_metric_.find(res.status);
            (it != requests_metric_.end() ? it : requests_metric_.find(0))->second.add();
        });
    }

    Status bind() {
        errno = 0;
        if (options_.listen.port == 0) {
            port_ = server_->bind_to_any_port(options_.listen.host);
        } else {
            port_ = server_->bind_to_port(options_.listen.host, options_.listen.port)
                        ? options_.listen.port
                        : -1;
        }
        if (port_ < 0) {
            int error = errno;
            server_.reset();
            return Status::io_error(
                prefix() + "cannot listen on " + options_.listen.to_string() +
                (error != 0 ? std::string(": ") + std::strerror(error) : std::string()) +
                "; is another process using the port? (port 0 picks a free one)");
        }
        return Status::ok();
    }

    Status write_port_file() {
        // Written aside and renamed, so that a reader never sees half a number.
        std::string tmp = options_.port_file + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << port_ << "\n";
            if (!out) {
                return Status::io_error(prefix() + "cannot write port_file '" + tmp +
                                        "': " + std::strerror(errno));
            }
        }
        std::error_code ec;
        std::filesystem::rename(tmp, options_.port_file, ec);
        if (ec) {
            return Status::io_error(prefix() + "cannot write port_file '" + options_.port_file +
                                    "': " + ec.message());
        }
        return Status::ok();
    }

    void stop_server() {
        if (server_ == nullptr) {
            return;
        }
        server_->stop();
        if (server_thread_.joinable()) {
            server_thread_.join();
        }
        server_.reset();
    }

    /// Moves on to the next queued chunk, releasing the finished one's bytes.
    bool take_chunk() {
        std::lock_guard lock(mu_);
        in_flight_ -= current_.cost;
        in_flight_metric_.add(-static_cast<int64_t>(current_.cost));
        current_ = Chunk();
        next_item_ = 0;
        if (queue_.empty()) {
            return false;
        }
        current_ = std::move(queue_.front());
        queue_.pop_front();
        return true;
    }

    // --- on httplib's threads from here on ---

    /// The Access-Control-Allow-Origin for the request's Origin; empty when
    /// it has none or it is not allowed.
    std::string allowed_origin(const Request& req) const {
        std::string origin = req.get_header_value("Origin");
        if (origin.empty()) {
            return {};
        }
        for (const std::string& o : options_.allow_origins) {
            if (o == "*" || o == origin) {
                return o;
            }
        }
        return {};
    }

    void add_cors(const Request& req, Response& res) const {
        std::string allow = allowed_origin(req);
        if (allow.empty() || res.has_header("Access-Control-Allow-Origin")) {
            return;
        }
        res.set_header("Access-Control-Allow-Origin", allow);
        if (allow != "*") {
            res.set_header("Vary", "Origin");
        }
        res.set_header("Access-Control-Expose-Headers", "Retry-After");
    }

    /// Everything but a POST that is let through to post(), answered before
    /// the body is read.
    Handled route(const Request& req, Response& res) {
        add_cors(req, res);
        if (req.path == kHealthPath) {
            if (req.method != "GET" && req.method != "HEAD") {
                res.set_header("Allow", "GET, HEAD");
                reply(req, res, 405, error_json("use GET on /healthz"), false);
            } else {
                reply(req, res, 200, R"({"status":"ok"})", false);
            }
            return Handled::Handled;
        }
        if (req.path != options_.path) {
            reply(req, res, 404,
                  error_json("no such path: " + req.path + "; POST events to " + options_.path),
                  false);
            return Handled::Handled;
        }
        if (req.method == "OPTIONS") {
            preflight(req, res);
            return Handled::Handled;
        }
        if (req.method != "POST") {
            res.set_header("Allow", "POST, OPTIONS");
            reply(req, res, 405,
                  error_json("method " + req.method + " is not allowed; POST events to " +
                             options_.path),
                  false);
            return Handled::Handled;
        }
        if (std::optional<std::pair<int, std::string>> refusal = refuse_post(req, res)) {
            reply(req, res, refusal->first, error_json(refusal->second), false);
            return Handled::Handled;
        }
        return Handled::Unhandled;
    }

    void preflight(const Request& req, Response& res) {
        std::string origin = req.get_header_value("Origin");
        res.set_header("Allow", "POST, OPTIONS");
        if (origin.empty()) {
            reply(req, res, 204, "", false);
            return;
        }
        if (allowed_origin(req).empty()) {
            reply(req, res, 403,
                  error_json(options_.allow_origins.empty()
                                 ? "cross-origin requests are off: allow_origins is empty"
                                 : "origin " + origin + " is not in allow_origins"),
                  false);
            return;
        }
        res.set_header("Access-Control-Allow-Methods", "POST");
        res.set_header("Access-Control-Allow-Headers",
                       "Content-Type, Content-Encoding, Authorization");
        res.set_header("Access-Control-Max-Age", "600");
        res.status = 204;
    }

    /// Why a POST is refused before its body is read, if it is.
    std::optional<std::pair<int, std::string>> refuse_post(const Request& req, Response& res) {
        if (!options_.allow_origins.empty() && req.has_header("Origin") &&
            allowed_origin(req).empty()) {
            return std::pair{
                403, "origin " + req.get_header_value("Origin") + " is not in allow_origins"};
        }
        if (!token_.empty()) {
            std::string auth = req.get_header_value("Authorization");
            if (auth.size() < 7 || http::media_type(auth.substr(0, 7)) != "bearer" ||
                !http::constant_time_equal(auth.substr(7), token_)) {
                res.set_header("WWW-Authenticate", "Bearer");
                return std::pair{
                    401, std::string(auth.empty() ? "this collector needs an Authorization: "
                                                    "Bearer TOKEN header"
                                                  : "the bearer token is wrong")};
            }
        }
        std::string type = http::media_type(req.get_header_value("Content-Type"));
        if (!type.empty() && type != "application/json" && type != "application/x-ndjson" &&
            type != "text/plain") {
            return std::pair{415, "Content-Type " + type +
                                      " is not accepted; send application/json, "
                                      "application/x-ndjson or text/plain"};
        }
        std::string encoding = http::media_type(req.get_header_value("Content-Encoding"));
        if (!encoding.empty() && encoding != "identity" && encoding != "gzip" &&
            encoding != "deflate" && encoding != "br") {
            return std::pair{415, "Content-Encoding " + encoding +
                                      " is not supported; send gzip, deflate, br or none"};
        }
        uint64_t length =
            std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
        if (length > options_.max_body) {
            return std::pair{413, too_large()};
        }
        std::lock_guard lock(mu_);
        if (in_flight_ >= options_.max_in_flight) {
            res.set_header("Retry-After", std::to_string(kRetryAfterSecs));
            return std::pair{429, busy()};
        }
        return std::nullopt;
    }

    std::string too_large() const {
        return "the body is over max_body (" + format_size_bytes(options_.max_body) +
               ", counted as sent and once decompressed); send fewer events per request";
    }

    std::string busy() const {
        return "the job has not yet taken the " + format_size_bytes(options_.max_in_flight) +
               " of events this collector holds (max_in_flight); retry in " +
               std::to_string(kRetryAfterSecs) + " s";
    }

    void post(const Request& req, Response& res, const httplib::ContentReader& reader) {
        ++requests_;
        std::string body;
        bool over = false;
        bool read = reader([&](const char* data, size_t length) {
            if (body.size() + length > options_.max_body) {
                over = true;
                return false;
            }
            body.append(data, length);
            return true;
        });
        if (!read) {
            // httplib set 413 itself for a Content-Length over max_body, 400 for
            // data that did not decompress or ended early.
            bool too_big = over || res.status == 413;
            reply_and_close(res, too_big ? 413 : 400,
                            error_json(too_big ? too_large()
                                               : "the body could not be read: it ended early, "
                                                 "or is not valid " +
                                                     http::media_type(
                                                         req.get_header_value("Content-Encoding")) +
                                                     " data"));
            return;
        }
        ingest(req, res, body);
    }

    void ingest(const Request& req, Response& res, std::string_view body) {
        simdjson::dom::parser parser;
        std::vector<std::string_view> events;
        if (std::optional<http::BodyError> e =
                http::split_events(body, options_.max_events, parser, events)) {
            reply(req, res, e->status, error_json(e->message), true);
            return;
        }
        // Decoded as poll() will decode them, into a table of this request's
        // own: names senders make up must not grow anything that lasts.
        FieldTable fields;
        LineDecoder decoder(
            options_.decoder, [&fields](std::string_view n) { return fields.intern(n); }, *clock_);
        Batch scratch;
        Chunk chunk;
        chunk.received_ms = clock_->now_ms();
        JsonWriter errors;
        errors.begin_array();
        size_t rejected = 0;
        for (size_t i = 0; i < events.size(); ++i) {
            scratch.clear();
            Status s = decoder.decode(events[i], scratch.append());
            std::string_view text =
                s.is_ok() ? events[i] : truncate_utf8(events[i], kRawErrorBytes);
            chunk.items.push_back({chunk.text.size(), text.size(), 0, -1});
            chunk.text.append(text);
            if (!s.is_ok()) {
                chunk.items.back().reason = static_cast<int32_t>(chunk.reasons.size());
                chunk.reasons.push_back(s.message());
                if (++rejected <= kListedErrors) {
                    errors.begin_object().field("index", i).field("reason", s.message());
                    errors.end_object();
                }
            }
        }
        errors.end_array();
        chunk.cost = chunk.text.size() + chunk.items.size() * sizeof(Chunk::Item) + kChunkOverhead;
        for (const std::string& r : chunk.reasons) {
            chunk.cost += r.size();
        }
        if (!chunk.items.empty()) {
            std::lock_guard lock(mu_);
            if (in_flight_ + chunk.cost > options_.max_in_flight) {
                res.set_header("Retry-After", std::to_string(kRetryAfterSecs));
                reply(req, res, 429, error_json(busy()), true);
                return;
            }
            for (Chunk::Item& item : chunk.items) {
                item.position = ++received_;
            }
            in_flight_ += chunk.cost;
            in_flight_metric_.add(static_cast<int64_t>(chunk.cost));
            queue_.push_back(std::move(chunk));
        }
        size_t accepted = events.size() - rejected;
        accepted_metric_.add(static_cast<int64_t>(accepted));
        rejected_metric_.add(static_cast<int64_t>(rejected));
        JsonWriter answer;
        answer.begin_object().field("accepted", accepted).field("rejected", rejected);
        answer.key("errors").raw(errors.str()).end_object();
        reply(req, res, 202, answer.str(), true);
    }

    std::string name_;
    HttpOptions options_;
    ComponentContext* ctx_ = nullptr;
    const Clock* clock_ = nullptr;
    std::unique_ptr<LineDecoder> decoder_;  // the job's: poll() only
    std::string token_;
    std::unique_ptr<httplib::Server> server_;
    std::thread server_thread_;
    std::atomic<bool> server_done_{false};
    int port_ = -1;

    // Shared with httplib's threads, under mu_.
    std::mutex mu_;
    std::deque<Chunk> queue_;
    uint64_t in_flight_ = 0;
    int64_t received_ = 0;

    // poll()'s chunk, out of the queue but still counted in flight.
    Chunk current_;
    size_t next_item_ = 0;

    std::atomic<uint64_t> requests_{0};
    std::map<int, Counter> requests_metric_;  // by status; 0: any other
    Counter accepted_metric_;
    Counter rejected_metric_;
    Gauge in_flight_metric_;
};

Result<HttpOptions> http_options(const Config& cfg) {
    if (std::string problem = check_config(cfg); !problem.empty()) {
        return Status::invalid_argument("source '" + cfg.component() + "': " + problem);
    }
    Result<DecoderOptions> decoder = decoder_options(cfg);
    if (!decoder.is_ok()) {
        return decoder.status();
    }
    HttpOptions o;
    o.listen = *parse_listen(cfg.string("listen"));
    o.path = cfg.string("path");
    o.port_file = cfg.has("port_file") ? cfg.string("port_file") : "";
    o.max_body = cfg.size("max_body");
    o.max_in_flight = cfg.size("max_in_flight");
    o.max_events = static_cast<size_t>(cfg.integer("max_events_per_request"));
    o.max_connections = static_cast<size_t>(cfg.integer("max_connections"));
    // httplib counts keep-alive in whole seconds.
    o.keep_alive_secs = static_cast<time_t>((cfg.duration("keep_alive").count() + 999) / 1000);
    if (cfg.has("allow_origins")) {
        o.allow_origins = cfg.strings("allow_origins");
    }
    o.token_env = cfg.has("token_env") ? cfg.string("token_env") : "";
    o.token_file = cfg.has("token_file") ? cfg.string("token_file") : "";
    o.decoder = std::move(decoder).value();
    // An event can be as long as a body.
    o.decoder.max_line_bytes = o.max_body;
    return o;
}

/// The `event_time` parameter and its rule, as the other line sources declare them.
void add_event_time_param(SourceSpec& spec) {
    SourceSpec decoder("decoder");
    add_decoder_params(decoder);
    ComponentSpec all = decoder.build();
    for (const Param& p : all.params) {
        if (p.name() == "event_time") {
            spec.param(p);
        }
    }
    // The rules check only the parameters that are set: csv_delimiter never is.
    for (const ConfigRule& r : all.rules) {
        spec.rule(r);
    }
}

}  // namespace
}  // namespace eddy

EDDY_REGISTER_SOURCE(http) {
    using eddy::Param;
    eddy::SourceSpec spec("http");
    spec.summary(
            "Receives JSON events over HTTP POST: a collector for browsers (sendBeacon, fetch), "
            "apps and servers.")
        .description(
            "Listens on `listen` and takes `POST path` bodies holding a JSON array of event "
            "objects, JSON Lines, or one object; Content-Type application/json, "
            "application/x-ndjson or text/plain (what navigator.sendBeacon sends, to avoid a CORS "
            "preflight), optionally gzip, deflate or br Content-Encoding. Each event is decoded "
            "as a `file` source decodes a JSON line and must be an object; the answer is 202 "
            "with `{\"accepted\": N, \"rejected\": M, \"errors\": [{\"index\": i, \"reason\": "
            "...}]}` (at most 100 listed), and rejected events also go to the `errors` output. "
            "A request that cannot be taken gets a 4xx with `{\"error\": ...}`: 400 (not JSON, "
            "empty, bad compression), 401 (token), 403 (origin), 404, 405, 413 (over max_body "
            "or max_events_per_request), 415 (Content-Type or Content-Encoding) and 429 with "
            "Retry-After when the job has not yet taken `max_in_flight` bytes of events. `GET "
            "/healthz` answers 200. Without `event_time`, an event's time is when its request "
            "arrived. Never ends. Not resumable: a 202 means accepted into memory, and events "
            "not yet checkpointed are lost if the process dies (at-most-once); for a durable "
            "collector, write them straight to the `kafka` sink (topologies/collector.yaml). "
            "Metrics: `eddy_http_requests_total{code}`, `eddy_http_events_accepted_total`, "
            "`eddy_http_events_rejected_total`, `eddy_http_in_flight_bytes`. See "
            "docs/collector.md.")
        .param(Param::string("listen")
                   .default_value("127.0.0.1:8088")
                   .doc("HOST:PORT to listen on. Port 0 picks a free port, logged as \"http "
                        "source 'NAME' listening on HOST:PORT\" and written to `port_file`. "
                        "0.0.0.0 listens on every interface.")
                   .example("0.0.0.0:8088"))
        .param(Param::string("path")
                   .default_value("/v1/events")
                   .doc("The URL path events are POSTed to; other paths answer 404 (except "
                        "GET /healthz)."))
        .param(Param::string("port_file")
                   .doc("A file to write the port number to once listening (for port 0).")
                   .example("out/collector.port"))
        .param(Param::size("max_body")
                   .default_value("1MB")
                   .min(1)
                   .doc("Largest request body, as sent and once decompressed; a larger one is "
                        "answered 413 (and so is any single event longer than it)."))
        .param(Param::size("max_in_flight")
                   .default_value("16MB")
                   .min(1)
                   .doc("Bytes of events accepted but not yet taken by the job. A request that "
                        "would go beyond it is answered 429 with Retry-After: 1, so memory stays "
                        "bounded when the job falls behind. At least max_body."))
        .param(Param::integer("max_events_per_request")
                   .default_value(1000)
                   .min(1)
                   .doc("Most events in one request; more is answered 413."))
        .param(Param::integer("max_connections")
                   .default_value(64)
                   .min(1)
                   .max(4096)
                   .doc("Connections served at once, one thread each (started as needed); "
                        "further connections wait until one closes."))
        .param(Param::duration("keep_alive")
                   .default_value("5s")
                   .doc("How long an idle connection stays open for its next request (whole "
                        "seconds; 0s: one request per connection). Stopping the job waits up to "
                        "this long for idle connections to close."))
        .param(Param::list("allow_origins", eddy::ParamType::kString)
                   .doc("Origins allowed to POST from a browser with CORS, as "
                        "scheme://host[:port], or `*` for any. Default: none, and no CORS "
                        "headers. When set, a request from another Origin is answered 403.")
                   .example("[\"https://shop.example.com\"]"))
        .param(Param::string("token_env")
                   .doc("The environment variable holding a bearer token that every POST must "
                        "present (`Authorization: Bearer TOKEN`); the token itself never goes in "
                        "the YAML.")
                   .example("EDDY_COLLECTOR_TOKEN"))
        .param(Param::string("token_file")
                   .doc("A file whose first line is the bearer token; instead of token_env.")
                   .example("/run/secrets/collector_token"));
    eddy::add_event_time_param(spec);
    spec.rule([](const eddy::Config& cfg) { return eddy::check_config(cfg); })
        .example("A collector for a shop's pages, with their own timestamps", R"(sources:
  events:
    type: http
    listen: 0.0.0.0:8088
    allow_origins: ["https://shop.example.com"]
    event_time: {field: ts, unit: ms}
    watermark: {max_out_of_orderness: 10s, idle_timeout: 30s}
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Source>> {
            eddy::Result<eddy::HttpOptions> options = eddy::http_options(cfg);
            if (!options.is_ok()) {
                return options.status();
            }
            return std::unique_ptr<eddy::Source>(
                std::make_unique<eddy::HttpSource>(cfg.component(), std::move(options).value()));
        });
    return spec.build();
}
