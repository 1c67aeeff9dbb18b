// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/units.h"

#include "io/redis_sink.h"

namespace eddy {
namespace {

// A password file holds the password on its first line and nothing much else.
constexpr std::streamsize kMaxPasswordFileBytes = 4096;

std::string place(const Config& cfg, std::string_view param) {
    std::string where = cfg.location_of(param).to_string();
    std::string out = "parameter '" + std::string(param) + "'";
    return where.empty() ? out : out + " (" + where + ")";
}

bool valid_env_name(const std::string& name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

}  // namespace

std::string parse_redis_address(const std::string& text, RedisAddress& out) {
    constexpr const char* kForms =
        "; write HOST:PORT (127.0.0.1:6379, [::1]:6379, redis.internal:6379) or "
        "unix:/path/to/redis.sock";
    if (text.starts_with("unix:") || text.starts_with("/")) {
        out.unix_path = text.starts_with("unix:") ? text.substr(5) : text;
        if (out.unix_path.empty()) {
            return "names no socket path" + std::string(kForms);
        }
        return "";
    }
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
        return "has no port" + std::string(kForms);
    }
    std::string host = text.substr(0, colon);
    if (host.starts_with("[") && host.ends_with("]")) {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
        return "is ambiguous: put an IPv6 address in brackets, like [::1]:6379";
    }
    if (host.empty()) {
        return "has no host" + std::string(kForms);
    }
    std::string_view port(text);
    port.remove_prefix(colon + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
        value > 65535) {
        return "has the port '" + std::string(port) + "', which is not a number from 1 to 65535" +
               kForms;
    }
    out.host = std::move(host);
    out.port = value;
    return "";
}

std::string parse_key_template(const std::string& text, std::vector<KeyPart>& out) {
    out.clear();
    if (text.empty()) {
        return "is empty; write a key such as recs:{user_id}";
    }
    std::string literal;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '}') {
            if (i + 1 < text.size() && text[i + 1] == '}') {
                literal += '}';
                ++i;
                continue;
            }
            return "has a `}` at character " + std::to_string(i + 1) +
                   " that closes no `{`; write `}}` for a literal brace";
        }
        if (c != '{') {
            literal += c;
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '{') {
            literal += '{';
            ++i;
            continue;
        }
        size_t close = text.find_first_of("{}", i + 1);
        if (close == std::string::npos || text[close] == '{') {
            return "has a `{` at character " + std::to_string(i + 1) +
                   " that is never closed; write {field} to use a field's value, or `{{` for a "
                   "literal brace";
        }
        std::string name = text.substr(i + 1, close - i - 1);
        if (name.empty()) {
            return "has an empty placeholder `{}` at character " + std::to_string(i + 1) +
                   "; name a field, as in {user_id}";
        }
        if (!literal.empty()) {
            out.push_back({std::move(literal), false});
            literal.clear();
        }
        out.push_back({std::move(name), true});
        i = close;
    }
    if (!literal.empty()) {
        out.push_back({std::move(literal), false});
    }
    return "";
}

std::string check_redis_config(const Config& cfg) {
    RedisAddress address;
    if (std::string e = parse_redis_address(cfg.string("address"), address); !e.empty()) {
        return place(cfg, "address") + " '" + cfg.string("address") + "' " + e;
    }
    std::vector<KeyPart> key;
    if (std::string e = parse_key_template(cfg.string("key"), key); !e.empty()) {
        return place(cfg, "key") + " '" + cfg.string("key") + "' " + e;
    }
    const std::string& mode = cfg.string("mode");
    if (cfg.has("fields") && cfg.has("value_field")) {
        return place(cfg, "value_field") +
               ": set `fields` (the fields to write) or `value_field` (one field as the value), "
               "not both";
    }
    if (cfg.has("fields") && cfg.list("fields").empty()) {
        return place(cfg, "fields") +
               " is empty; name the fields to write, or leave it out to "
               "write every field";
    }
    if (cfg.has("value_field") && mode == "hash") {
        return place(cfg, "value_field") +
               " does not apply to mode: hash, which writes each field as a hash field; use "
               "`fields` to choose them";
    }
    if (cfg.has("max_length") && mode != "list") {
        return place(cfg, "max_length") + " applies to mode: list only";
    }
    if (cfg.has("password_env") && cfg.has("password_file")) {
        return place(cfg, "password_file") + ": set `password_env` or `password_file`, not both";
    }
    if (cfg.has("password_env") && !valid_env_name(cfg.string("password_env"))) {
        // Never echo the text: it may be the password itself.
        return place(cfg, "password_env") +
               " must be the name of an environment variable (`password_env: REDIS_PASSWORD`), "
               "not its value (`${REDIS_PASSWORD}`)";
    }
    if (cfg.has("password_file") && cfg.string("password_file").empty()) {
        return place(cfg, "password_file") +
               " is empty; give the path of the file that holds "
               "the password";
    }
    if (cfg.has("username") && !cfg.has("password_env") && !cfg.has("password_file")) {
        return place(cfg, "username") +
               " needs a password: set `password_env` or `password_file` as well";
    }
    if (cfg.duration("max_backoff") < cfg.duration("retry_backoff")) {
        return place(cfg, "max_backoff") + " (" +
               format_duration_ms(cfg.duration("max_backoff").count()) +
               ") must be at least retry_backoff (" +
               format_duration_ms(cfg.duration("retry_backoff").count()) + ")";
    }
    return "";
}

Result<std::string> read_redis_password(const RedisSinkOptions& o) {
    if (!o.password_env.empty()) {
        const char* v = std::getenv(o.password_env.c_str());
        if (v == nullptr || *v == '\0') {
            return Status::invalid_argument(
                "password_env names the environment variable `" + o.password_env + "`, which is " +
                (v == nullptr ? "not set" : "empty") + "; set it to the Redis password");
        }
        return std::string(v);
    }
    if (o.password_file.empty()) {
        return std::string();
    }
    std::ifstream in(o.password_file, std::ios::binary);
    if (!in) {
        return Status::invalid_argument("cannot read password_file `" + o.password_file +
                                        "`: " + std::strerror(errno));
    }
    std::string text(kMaxPasswordFileBytes + 1, '\0');
    in.read(text.data(), kMaxPasswordFileBytes + 1);
    text.resize(static_cast<size_t>(in.gcount()));
    if (text.size() > static_cast<size_t>(kMaxPasswordFileBytes)) {
        return Status::invalid_argument("password_file `" + o.password_file +
                                        "` is larger than 4096 bytes; it should hold only the "
                                        "password");
    }
    text = text.substr(0, text.find('\n'));
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
        text.pop_back();
    }
    if (text.empty()) {
        return Status::invalid_argument("password_file `" + o.password_file +
                                        "` is empty; write the password on its first line");
    }
    return text;
}

RedisSinkOptions redis_sink_options(const Config& cfg) {
    RedisSinkOptions o;
    o.address_text = cfg.string("address");
    (void)parse_redis_address(o.address_text, o.address);
    o.key_text = cfg.string("key");
    (void)parse_key_template(o.key_text, o.key);
    const std::string& mode = cfg.string("mode");
    o.mode = mode == "hash"   ? RedisMode::kHash
             : mode == "list" ? RedisMode::kList
                              : RedisMode::kString;
    if (cfg.has("fields")) {
        o.fields = cfg.strings("fields");
    }
    if (cfg.has("value_field")) {
        o.value_field = cfg.string("value_field");
    }
    if (cfg.has("ttl")) {
        o.ttl_ms = cfg.duration("ttl").count();
    }
    if (cfg.has("max_length")) {
        o.max_length = cfg.integer("max_length");
    }
    o.database = cfg.integer("database");
    if (cfg.has("username")) {
        o.username = cfg.string("username");
    }
    if (cfg.has("password_env")) {
        o.password_env = cfg.string("password_env");
    }
    if (cfg.has("password_file")) {
        o.password_file = cfg.string("password_file");
    }
    o.pipeline = static_cast<size_t>(cfg.integer("pipeline"));
    o.connect_timeout_ms = cfg.duration("connect_timeout").count();
    o.command_timeout_ms = cfg.duration("command_timeout").count();
    o.max_retries = static_cast<int>(cfg.integer("max_retries"));
    o.retry_backoff_ms = cfg.duration("retry_backoff").count();
    o.max_backoff_ms = cfg.duration("max_backoff").count();
    o.fail_on_error = cfg.string("on_error") == "fail";
    return o;
}

}  // namespace eddy
