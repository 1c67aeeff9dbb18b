// SPDX-License-Identifier: Apache-2.0
// The `redis` sink: each record becomes a Redis key (a JSON string, a hash or
// a capped list) named by a key template, with an optional TTL, written in
// pipelines over hiredis, with reconnects and exponential backoff
// (docs/redis.md).
#include "io/redis_sink.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/units.h"

#include "record/json.h"

namespace eddy {
namespace {

// A window of commands is sent before its replies are read; beyond this many
// bytes of commands a window ends early, whatever `pipeline` says.
constexpr size_t kMaxWindowBytes = 4 << 20;

/// Appends commands in the Redis protocol (RESP arrays of bulk strings).
class Resp {
public:
    explicit Resp(std::string& out) : out_(out) {}
    Resp& begin(size_t args) {
        out_ += '*';
        number(args);
        return *this;
    }
    Resp& arg(std::string_view s) {
        out_ += '$';
        number(s.size());
        out_.append(s);
        out_ += "\r\n";
        return *this;
    }

private:
    void number(size_t n) {
        char digits[24];
        char* end = std::to_chars(digits, digits + sizeof digits, n).ptr;
        out_.append(digits, end);
        out_ += "\r\n";
    }
    std::string& out_;
};

/// A field's value as text: strings as they are, numbers in decimal
/// (doubles in shortest round-trip form), booleans as true/false, vectors as
/// JSON arrays. Not for nulls.
void append_text(const Value& v, std::string& out) {
    switch (v.type()) {
        case ValueType::kString:
            out.append(v.as_string());
            break;
        case ValueType::kInt: {
            char digits[24];
            char* end = std::to_chars(digits, digits + sizeof digits, v.as_int()).ptr;
            out.append(digits, end);
            break;
        }
        case ValueType::kBool:
            out.append(v.as_bool() ? "true" : "false");
            break;
        default:
            append_json_value(v, out);
    }
}

/// Replies that mean "not now" rather than "not this command": the command
/// is sent again after a backoff, like one whose connection was lost.
bool transient_reply(std::string_view text) {
    // NOSCRIPT: the scripts were flushed; a new connection loads them again.
    for (std::string_view word :
         {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "NOSCRIPT"}) {
        if (text.starts_with(word) && (text.size() == word.size() || text[word.size()] == ' ')) {
            return true;
        }
    }
    return false;
}

// A record that needs several commands (hash or list with a TTL, a capped
// list) runs them as one script, so that they apply together or not at all:
// HSET or RPUSH failing (WRONGTYPE) raises before PEXPIRE could give a key
// the sink did not write an expiry. KEYS[1]: the key; ARGV[1]: the TTL in ms
// or ""; then the hash's field-value pairs, or the list's length cap (0:
// none) and value.
constexpr const char* kHashScript =
    "local n = redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";
constexpr const char* kListScript =
    "local n = redis.call('RPUSH', KEYS[1], ARGV[3]) "
    "if ARGV[2] ~= '0' then redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1) end "
    "if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

timeval to_timeval(int64_t ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    return tv;
}

class RedisSink final : public Sink {
public:
    explicit RedisSink(RedisSinkOptions options) : o_(std::move(options)) {}
    ~RedisSink() override { disconnect(); }

    Status open(SinkContext& ctx) override {
        ctx_ = &ctx;
        encoder_ = std::make_unique<JsonEncoder>([&ctx](FieldId id) { return ctx.field_name(id); });
        for (const KeyPart& p : o_.key) {
            key_parts_.push_back({p.text, p.field ? ctx.field(p.text) : kInvalidField});
        }
        for (const std::string& f : o_.fields) {
            std::string json_name;
            append_json_string(f, json_name);
            selected_.push_back({ctx.field(f), f, json_name + ':'});
        }
        if (!o_.value_field.empty()) {
            value_field_ = ctx.field(o_.value_field);
        }
        ttl_text_ = o_.ttl_ms > 0 ? std::to_string(o_.ttl_ms) : "";
        cap_text_ = std::to_string(o_.max_length);
        switch (o_.mode) {
            case RedisMode::kString:
                command_name_ = "SET";
                break;
            case RedisMode::kHash:
                command_name_ = "HSET";
                script_ = o_.ttl_ms > 0 ? kHashScript : nullptr;
                break;
            case RedisMode::kList:
                command_name_ = "RPUSH";
                script_ = o_.ttl_ms > 0 || o_.max_length > 0 ? kListScript : nullptr;
                break;
        }
        records_per_window_ = std::max<size_t>(1, o_.pipeline);
        open_metrics(ctx);
        Result<std::string> password = read_redis_password(o_);
        if (!password.is_ok()) {
            return Status::invalid_argument(password.status().message());
        }
        password_ = std::move(password).value();
        // Redis may be restarting: the retry budget applies here too, except
        // to a refused AUTH or SELECT, which no retry mends.
        std::string error;
        for (int attempt = 0;; ++attempt) {
            if (connect(error)) {
                return Status::ok();
            }
            if (handshake_refused_) {
                return Status::invalid_argument(error);
            }
            if (attempt == o_.max_retries) {
                return Status::io_error("cannot connect to redis at " + o_.address_text +
                                        " after " + retries_text() + ": " + error);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(attempt + 1)));
        }
    }

    /// Sends the batch in windows of `pipeline` commands and reads every
    /// reply before returning: when write() returns, each record of the batch
    /// is acknowledged by Redis or on the `errors` output.
    Status write(const Batch& batch) override {
        gave_up_ = false;
        size_t i = 0;
        while (i < batch.size()) {
            window_.clear();
            entries_.clear();
            for (; i < batch.size() && entries_.size() < records_per_window_ &&
                   window_.size() < kMaxWindowBytes;
                 ++i) {
                append_record(static_cast<uint32_t>(i), batch[i]);
            }
            if (!entries_.empty()) {
                EDDY_RETURN_IF_ERROR(send_window(batch));
            }
        }
        if (refusals_ > 0) {
            return Status::io_error(std::to_string(refusals_) +
                                    " record(s) refused by redis (first: " + first_refusal_ +
                                    "); set on_error: errors to send them to the sink's "
                                    "`errors` output and go on");
        }
        return Status::ok();
    }

    /// Nothing is ever left unacknowledged after write(): see write().
    Status flush() override { return Status::ok(); }

    Status close() override {
        if (ctx_ != nullptr) {
            ctx_->log(LogLevel::kInfo, "wrote " + std::to_string(written_) +
                                           " record(s) to redis at " + o_.address_text + ", " +
                                           std::to_string(rejected_) + " to errors, " +
                                           std::to_string(reconnects_) + " reconnect(s)");
        }
        disconnect();
        return Status::ok();
    }

private:
    /// A record of the batch in the window: where its commands start.
    struct Entry {
        uint32_t record;
        size_t offset;
    };
    struct SelectedField {
        FieldId id;
        std::string name;
        std::string json_name;  // `"name":`
    };

    void open_metrics(SinkContext& ctx) {
        written_metric_ =
            ctx.counter("redis_written_total", "Records whose every command Redis acknowledged.");
        commands_metric_ = ctx.counter("redis_commands_total",
                                       "Commands Redis answered (error replies included).");
        const char* errors_help =
            "Records sent to the sink's errors output: a key or value the record cannot make "
            "(record), a command Redis refused (reply), Redis unreachable after the retries "
            "(unreachable).";
        record_errors_metric_ =
            ctx.counter("redis_write_errors_total", errors_help, {{"reason", "record"}});
        reply_errors_metric_ =
            ctx.counter("redis_write_errors_total", errors_help, {{"reason", "reply"}});
        unreachable_metric_ =
            ctx.counter("redis_write_errors_total", errors_help, {{"reason", "unreachable"}});
        reconnects_metric_ = ctx.counter("redis_reconnects_total",
                                         "Connections made again after one was lost or refused.");
        connection_errors_metric_ =
            ctx.counter("redis_connection_errors_total",
                        "Connections that failed, were lost, or timed out, each retried after "
                        "a backoff.");
        pipelines_metric_ =
            ctx.counter("redis_pipelines_total", "Windows of commands sent and answered in full.");
        pipeline_us_metric_ = ctx.counter(
            "redis_pipeline_microseconds_total",
            "Time from sending a window of commands to its last reply, summed; divided by "
            "redis_pipelines_total, the mean round trip.");
        connected_metric_ =
            ctx.gauge("redis_connected", "1 while the sink holds a connection to Redis, else 0.");
    }

    std::string retries_text() const {
        return std::to_string(o_.max_retries) + (o_.max_retries == 1 ? " retry" : " retries");
    }

    int64_t backoff_ms(int attempt) const {
        int64_t ms = o_.retry_backoff_ms;
        for (int i = 1; i < attempt && ms < o_.max_backoff_ms; ++i) {
            ms *= 2;
        }
        return std::min(ms, o_.max_backoff_ms);
    }

    void disconnect() {
        if (rc_ != nullptr) {
            redisFree(rc_);
            rc_ = nullptr;
            connected_metric_.set(0);
        }
    }

    /// A lost connection: the replies still due are gone with it.
    void lost(const std::string& error) {
        disconnect();
        connection_errors_metric_.add();
        if (!outage_) {
            outage_ = true;
            ctx_->log(LogLevel::kWarn, "lost the connection to redis at " + o_.address_text + ": " +
                                           error + "; reconnecting with backoff");
        }
    }

    /// The error of the connection's last failed call, in words.
    std::string io_error_text() const {
        if (rc_->err == REDIS_ERR_IO && std::strcmp(rc_->errstr, std::strerror(EAGAIN)) == 0) {
            return "no answer within command_timeout (" +
                   format_duration_ms(o_.command_timeout_ms) + ")";
        }
        return rc_->errstr[0] != '\0' ? std::string(rc_->errstr) : "connection error";
    }

    /// Sends `data` on the connection; MSG_NOSIGNAL: a closed socket is an
    /// error here, never a SIGPIPE for the whole process.
    bool send_all(std::string_view data, std::string& error) {
        while (!data.empty()) {
            ssize_t n = ::send(rc_->fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                error = errno == EAGAIN || errno == EWOULDBLOCK
                            ? "could not send within command_timeout (" +
                                  format_duration_ms(o_.command_timeout_ms) + ")"
                            : std::string(std::strerror(errno));
                return false;
            }
            data.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }

    /// Connects, authenticates, selects the database and pings. On failure
    /// `error` says why; handshake_refused_ when Redis answered AUTH, SELECT
    /// or PING with an error that no retry mends (a wrong password).
    bool connect(std::string& error) {
        handshake_refused_ = false;
        redisContext* c = o_.address.unix_path.empty()
                              ? redisConnectWithTimeout(o_.address.host.c_str(), o_.address.port,
                                                        to_timeval(o_.connect_timeout_ms))
                              : redisConnectUnixWithTimeout(o_.address.unix_path.c_str(),
                                                            to_timeval(o_.connect_timeout_ms));
        if (c == nullptr || c->err != 0) {
            error = c == nullptr ? "cannot allocate a hiredis context" : std::string(c->errstr);
            if (c != nullptr) {
                redisFree(c);
            }
            connection_errors_metric_.add();
            return false;
        }
        rc_ = c;
        redisSetTimeout(rc_, to_timeval(o_.command_timeout_ms));
        if (o_.address.unix_path.empty()) {
            redisEnableKeepAlive(rc_);
        }
        std::string hello;
        Resp resp(hello);
        std::vector<const char*> names;
        if (!password_.empty()) {
            if (o_.username.empty()) {
                resp.begin(2).arg("AUTH").arg(password_);
            } else {
                resp.begin(3).arg("AUTH").arg(o_.username).arg(password_);
            }
            names.push_back("AUTH");
        }
        if (o_.database != 0) {
            resp.begin(2).arg("SELECT").arg(std::to_string(o_.database));
            names.push_back("SELECT");
        }
        if (script_ != nullptr) {
            resp.begin(3).arg("SCRIPT").arg("LOAD").arg(script_);
            names.push_back("SCRIPT LOAD");
        }
        resp.begin(1).arg("PING");
        names.push_back("PING");
        bool ok = send_all(hello, error);
        for (size_t i = 0; ok && i < names.size(); ++i) {
            void* raw = nullptr;
            if (redisGetReply(rc_, &raw) != REDIS_OK) {
                error = io_error_text();
                ok = false;
                break;
            }
            auto* reply = static_cast<redisReply*>(raw);
            if (reply->type == REDIS_REPLY_ERROR) {
                std::string_view text(reply->str, reply->len);
                error = "redis refused " + std::string(names[i]) + ": " + std::string(text);
                handshake_refused_ = !transient_reply(text);
                ok = false;
            } else if (std::string_view(names[i]) == "SCRIPT LOAD") {
                script_sha_.assign(reply->str != nullptr ? reply->str : "", reply->len);
            }
            freeReplyObject(reply);
        }
        if (!ok) {
            disconnect();
            connection_errors_metric_.add();
            return false;
        }
        connected_metric_.set(1);
        if (connected_before_) {
            ++reconnects_;
            reconnects_metric_.add();
            ctx_->log(LogLevel::kInfo, "reconnected to redis at " + o_.address_text);
        }
        connected_before_ = true;
        outage_ = false;
        return true;
    }

    /// Builds the key of `r` into key_; false with `reason` when a field of
    /// the template is missing, null, empty or a vector.
    bool make_key(const Record& r, std::string& reason) {
        key_.clear();
        for (const auto& [text, id] : key_parts_) {
            if (id == kInvalidField) {
                key_ += text;
                continue;
            }
            const Value* v = r.get(id);
            const char* what = v == nullptr                               ? "is missing"
                               : v->is_null()                             ? "is null"
                               : v->is_vector()                           ? "is a vector"
                               : v->is_string() && v->as_string().empty() ? "is empty"
                                                                          : nullptr;
            if (what != nullptr) {
                reason = "the field `" + text + "` of the key template `" + o_.key_text + "` " +
                         what + "; a key needs a non-empty string, number or boolean";
                return false;
            }
            append_text(*v, key_);
        }
        return true;
    }

    /// Builds the value of a string or list write into value_.
    bool make_value(const Record& r, std::string& reason) {
        value_.clear();
        if (value_field_ != kInvalidField) {
            const Value* v = r.get(value_field_);
            if (v == nullptr || v->is_null()) {
                reason = "the value_field `" + o_.value_field + "` is " +
                         (v == nullptr ? "missing" : "null");
                return false;
            }
            append_text(*v, value_);
            return true;
        }
        if (selected_.empty()) {
            encoder_->append(r, value_);
            return true;
        }
        value_ += '{';
        for (const SelectedField& f : selected_) {
            if (const Value* v = r.get(f.id); v != nullptr) {
                if (value_.size() > 1) {
                    value_ += ',';
                }
                value_ += f.json_name;
                append_json_value(*v, value_);
            }
        }
        value_ += '}';
        if (value_.size() == 2) {
            reason = "the record has none of the fields to write (`fields`)";
            return false;
        }
        return true;
    }

    /// The commands of one hash write: HSET with every non-null field (or
    /// the chosen ones), then PEXPIRE.
    bool append_hash(const Record& r, std::string& reason) {
        Resp resp(window_);
        size_t pairs = 0;
        if (selected_.empty()) {
            for (const Field& f : r.fields()) {
                pairs += f.value.is_null() ? 0 : 1;
            }
        } else {
            for (const SelectedField& f : selected_) {
                const Value* v = r.get(f.id);
                pairs += v == nullptr || v->is_null() ? 0 : 1;
            }
        }
        if (pairs == 0) {
            reason = selected_.empty() ? "the record has no non-null field to write"
                                       : "the record has none of the fields to write (`fields`)";
            return false;
        }
        if (script_ != nullptr) {
            resp.begin(5 + 2 * pairs)
                .arg("EVALSHA")
                .arg(script_sha_)
                .arg("1")
                .arg(key_)
                .arg(ttl_text_);
        } else {
            resp.begin(2 + 2 * pairs).arg("HSET").arg(key_);
        }
        auto pair = [&](std::string_view name, const Value& v) {
            text_.clear();
            append_text(v, text_);
            resp.arg(name).arg(text_);
        };
        if (selected_.empty()) {
            for (const Field& f : r.fields()) {
                if (!f.value.is_null()) {
                    pair(ctx_->field_name(f.id), f.value);
                }
            }
        } else {
            for (const SelectedField& f : selected_) {
                if (const Value* v = r.get(f.id); v != nullptr && !v->is_null()) {
                    pair(f.name, *v);
                }
            }
        }
        return true;
    }

    /// Appends the record's commands to the window, or sends the record to
    /// `errors` when its key or value cannot be made.
    void append_record(uint32_t index, const Record& r) {
        size_t offset = window_.size();
        std::string reason;
        bool ok = make_key(r, reason);
        if (ok && o_.mode == RedisMode::kHash) {
            ok = append_hash(r, reason);
        } else if (ok) {
            ok = make_value(r, reason);
        }
        if (!ok) {
            window_.resize(offset);
            reject(r, reason, record_errors_metric_);
            return;
        }
        Resp resp(window_);
        if (o_.mode == RedisMode::kString) {
            resp.begin(o_.ttl_ms > 0 ? 5 : 3).arg("SET").arg(key_).arg(value_);
            if (o_.ttl_ms > 0) {
                resp.arg("PX").arg(ttl_text_);
            }
        } else if (o_.mode == RedisMode::kList && script_ != nullptr) {
            resp.begin(7)
                .arg("EVALSHA")
                .arg(script_sha_)
                .arg("1")
                .arg(key_)
                .arg(ttl_text_)
                .arg(cap_text_)
                .arg(value_);
        } else if (o_.mode == RedisMode::kList) {
            resp.begin(3).arg("RPUSH").arg(key_).arg(value_);
        }
        entries_.push_back({index, offset});
    }

    void reject(const Record& r, const std::string& reason, const Counter& metric) {
        ++rejected_;
        metric.add();
        ctx_->reject(r, reason);
    }

    /// Sends the window from entries_[first] and reads the replies, moving
    /// `first` past each record whose replies all came. False when the
    /// connection was lost (or Redis said "not now") before the last one.
    bool exchange(const Batch& batch, size_t& first, std::string& error) {
        auto start = std::chrono::steady_clock::now();
        std::string_view pending(window_);
        pending.remove_prefix(entries_[first].offset);
        if (!send_all(pending, error)) {
            lost(error);
            return false;
        }
        for (; first < entries_.size(); ++first) {
            bool refused = false;
            std::string refusal;
            {
                void* raw = nullptr;
                if (redisGetReply(rc_, &raw) != REDIS_OK) {
                    error = io_error_text();
                    lost(error);
                    return false;
                }
                commands_metric_.add();
                auto* reply = static_cast<redisReply*>(raw);
                if (reply->type == REDIS_REPLY_ERROR) {
                    std::string_view text(reply->str, reply->len);
                    if (transient_reply(text)) {
                        error = "redis answered " + std::string(text);
                        freeReplyObject(reply);
                        lost(error);  // the replies still due are dropped with the connection
                        return false;
                    }
                    refused = true;
                    refusal.assign(text);
                }
                freeReplyObject(reply);
            }
            const Record& r = batch[entries_[first].record];
            if (refused) {
                std::string reason;
                make_key(r, reason);
                reason = "redis refused " + std::string(command_name_) + " of key '" + key_ +
                         "': " + refusal;
                if (o_.fail_on_error) {
                    if (refusals_++ == 0) {
                        first_refusal_ = reason;
                    }
                } else {
                    reject(r, reason, reply_errors_metric_);
                }
            } else {
                ++written_;
                written_metric_.add();
            }
        }
        pipelines_metric_.add();
        pipeline_us_metric_.add(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - start)
                                    .count());
        return true;
    }

    /// Sends the window until every record in it is acknowledged or refused,
    /// reconnecting with backoff; after the retry budget the rest goes to
    /// `errors` (or fails the job with on_error: fail).
    Status send_window(const Batch& batch) {
        size_t first = 0;
        int failures = 0;
        std::string error;
        while (first < entries_.size()) {
            if (gave_up_) {
                error = give_up_reason_;
                break;
            }
            size_t before = first;
            if ((rc_ != nullptr || connect(error)) && exchange(batch, first, error)) {
                return Status::ok();
            }
            if (first > before) {
                failures = 0;  // progress: the budget starts again
            }
            if (failures == o_.max_retries) {
                gave_up_ = true;
                give_up_reason_ = "redis at " + o_.address_text + " could not be reached after " +
                                  retries_text() + ": " + error;
                ctx_->log(LogLevel::kError, give_up_reason_);
                error = give_up_reason_;
                break;
            }
            ++failures;
            std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(failures)));
        }
        if (o_.fail_on_error) {
            return Status::io_error(error +
                                    "; set on_error: errors to send such records to the sink's "
                                    "`errors` output and go on");
        }
        for (; first < entries_.size(); ++first) {
            reject(batch[entries_[first].record], error, unreachable_metric_);
        }
        return Status::ok();
    }

    RedisSinkOptions o_;
    SinkContext* ctx_ = nullptr;
    redisContext* rc_ = nullptr;
    std::string password_;
    std::unique_ptr<JsonEncoder> encoder_;
    std::vector<std::pair<std::string, FieldId>> key_parts_;  // literal, or field
    std::vector<SelectedField> selected_;
    FieldId value_field_ = kInvalidField;
    const char* command_name_ = "SET";  // what a record's one reply answers
    const char* script_ = nullptr;      // kHashScript or kListScript, when a record needs it
    std::string script_sha_;            // from SCRIPT LOAD on the current connection
    std::string cap_text_;
    size_t records_per_window_ = 1;
    std::string ttl_text_;

    std::string window_;  // the commands of the window, in RESP
    std::vector<Entry> entries_;
    std::string key_;
    std::string value_;
    std::string text_;

    bool handshake_refused_ = false;
    bool connected_before_ = false;
    bool outage_ = false;
    bool gave_up_ = false;  // in this write(): the rest is rejected without retries
    std::string give_up_reason_;
    uint64_t refusals_ = 0;  // with on_error: fail, refused records: the job stops
    std::string first_refusal_;
    uint64_t written_ = 0;
    uint64_t rejected_ = 0;
    uint64_t reconnects_ = 0;

    Counter written_metric_;
    Counter commands_metric_;
    Counter record_errors_metric_;
    Counter reply_errors_metric_;
    Counter unreachable_metric_;
    Counter reconnects_metric_;
    Counter connection_errors_metric_;
    Counter pipelines_metric_;
    Counter pipeline_us_metric_;
    Gauge connected_metric_;
};

Result<std::unique_ptr<Sink>> make_redis_sink(const Config& cfg) {
    if (std::string e = check_redis_config(cfg); !e.empty()) {
        return Status::invalid_argument(e);
    }
    return std::unique_ptr<Sink>(std::make_unique<RedisSink>(redis_sink_options(cfg)));
}

}  // namespace
}  // namespace eddy

EDDY_REGISTER_SINK(redis) {
    using eddy::Param;
    return eddy::SinkSpec("redis")
        .summary(
            "Writes each record to a Redis key named by a template, as JSON, a hash or a "
            "list entry, with an optional TTL.")
        .description(
            "The key comes from a template such as `recs:{user_id}`; a record missing a field "
            "it names (or whose value there is null, empty or a vector) goes to the sink's "
            "`errors` output with the reason. mode: string writes SET key <JSON> [PX ttl]; "
            "hash writes HSET key with the record's fields (merged into what the hash holds), "
            "then PEXPIRE; list writes RPUSH, LTRIM to max_length, then PEXPIRE. Commands are "
            "pipelined, `pipeline` at a time, and write() returns when Redis has answered "
            "them all, so each checkpoint covers only acknowledged records (at-least-once; "
            "SET and HSET are idempotent, so a repeat after a restart rewrites the same "
            "value). A command Redis refuses (WRONGTYPE, OOM) sends just its record to "
            "`errors`. A lost connection is made again with exponential backoff "
            "(retry_backoff doubling up to max_backoff, max_retries times) and the "
            "unacknowledged commands are sent again; after that budget the records go to "
            "`errors` (or, with on_error: fail, the job stops). See docs/redis.md.")
        .param(Param::string("address")
                   .default_value("127.0.0.1:6379")
                   .doc("Where Redis listens: HOST:PORT ([::1]:6379 for IPv6), or "
                        "unix:/path/to/redis.sock.")
                   .example("redis.internal:6379"))
        .param(Param::string("key")
                   .required()
                   .doc("The key template: {field} is the field's value as text (strings as "
                        "they are, numbers in decimal), `{{` and `}}` are literal braces.")
                   .example("\"recs:{user_id}\""))
        .param(Param::enumeration("mode", {"string", "hash", "list"})
                   .default_value("string")
                   .doc("string: SET the record as JSON (or value_field's value); hash: HSET "
                        "each field (strings as they are, numbers in decimal, vectors as JSON); "
                        "list: RPUSH the JSON, capped at max_length."))
        .param(Param::list("fields")
                   .doc("Write only these fields (as a JSON object in string and list mode, as "
                        "hash fields in hash mode). Default: every field.")
                   .example("[item_1, item_2, item_3]"))
        .param(Param::string("value_field")
                   .doc("In string and list mode: write this one field's value as it is "
                        "instead of the record as JSON."))
        .param(Param::duration("ttl")
                   .min(1)
                   .doc("How long a key lives after each write (SET ... PX, PEXPIRE). Default: "
                        "no expiry.")
                   .example("24h"))
        .param(Param::integer("max_length")
                   .min(1)
                   .doc("In list mode: keep only the latest this many entries (LTRIM)."))
        .param(Param::integer("database")
                   .default_value(0)
                   .min(0)
                   .doc("The database number (SELECT) on every connection."))
        .param(Param::string("username")
                   .doc("The ACL user to authenticate as (Redis 6 and later); needs a password."))
        .param(Param::string("password_env")
                   .doc("The environment variable holding the password (AUTH); the password "
                        "itself never goes in the YAML.")
                   .example("REDIS_PASSWORD"))
        .param(Param::string("password_file")
                   .doc("A file whose first line is the password; instead of password_env.")
                   .example("/run/secrets/redis_password"))
        .param(Param::integer("pipeline")
                   .default_value(1000)
                   .min(1)
                   .max(100000)
                   .doc("Commands sent before their replies are read (a record takes 1 to 3 "
                        "commands; at most 4 MiB of commands at once)."))
        .param(Param::duration("connect_timeout")
                   .default_value("5s")
                   .min(1)
                   .doc("How long a connection attempt may take."))
        .param(Param::duration("command_timeout")
                   .default_value("5s")
                   .min(1)
                   .doc("How long Redis may take to take or answer a window of commands; "
                        "beyond it the connection counts as lost and is made again."))
        .param(Param::integer("max_retries")
                   .default_value(8)
                   .min(0)
                   .max(100)
                   .doc("Reconnects in a row without progress before the unacknowledged "
                        "records go to `errors` (with the defaults, about 16 s)."))
        .param(Param::duration("retry_backoff")
                   .default_value("100ms")
                   .min(1)
                   .doc("The wait before the first retry; doubled for each further one."))
        .param(Param::duration("max_backoff")
                   .default_value("5s")
                   .min(1)
                   .doc("The longest wait between retries."))
        .param(Param::enumeration("on_error", {"errors", "fail"})
                   .default_value("errors")
                   .doc("Records Redis refused or could not be reached for after the retries: "
                        "errors sends them to the sink's `errors` output (read it as "
                        "`NAME.errors`) and goes on; fail stops the job (a restart writes "
                        "them again from the last checkpoint). Records whose key or value "
                        "cannot be made always go to `errors`."))
        .rule([](const eddy::Config& cfg) { return eddy::check_redis_config(cfg); })
        .example("Each user's top 10 as JSON under recs:{user_id} for a day", R"(operators:
  recs: {type: recommend, input: clicks, key: user_id, top_n: 10}
sinks:
  recs_out:
    type: redis
    input: recs
    address: ${REDIS_ADDRESS:-127.0.0.1:6379}
    key: "recs:{user_id}"
    ttl: 24h
)")
        .example("Profiles as hashes, with a password from the environment", R"(sinks:
  profiles:
    type: redis
    input: clicks
    key: "profile:{user_id}"
    mode: hash
    fields: [device, country, category]
    ttl: 30d
    password_env: REDIS_PASSWORD
)")
        .factory(&eddy::make_redis_sink);
}
