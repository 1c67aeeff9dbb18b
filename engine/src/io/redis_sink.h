// SPDX-License-Identifier: Apache-2.0
// The `redis` sink's parameters: parsing and checking them (redis_config.cc),
// apart from the sink itself (redis_sink.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "eddy/config.h"
#include "eddy/status.h"

namespace eddy {

enum class RedisMode { kString, kHash, kList };

/// Where Redis listens: host and port, or a unix socket path.
struct RedisAddress {
    std::string host;
    int port = 0;
    std::string unix_path;  ///< Set for unix sockets.
};

/// One piece of a key template: literal text, or a field's value.
struct KeyPart {
    std::string text;  ///< The literal, or the field name.
    bool field = false;
};

/// The sink's parameters, checked and typed; durations in milliseconds.
struct RedisSinkOptions {
    std::string address_text;
    RedisAddress address;
    std::string key_text;
    std::vector<KeyPart> key;
    RedisMode mode = RedisMode::kString;
    std::vector<std::string> fields;
    std::string value_field;
    int64_t ttl_ms = 0;  ///< 0: no expiry.
    int64_t max_length = 0;
    int64_t database = 0;
    std::string username;
    std::string password_env;
    std::string password_file;
    size_t pipeline = 1000;
    int64_t connect_timeout_ms = 5000;
    int64_t command_timeout_ms = 5000;
    int max_retries = 8;
    int64_t retry_backoff_ms = 100;
    int64_t max_backoff_ms = 5000;
    bool fail_on_error = false;
};

/// Parses `address` (HOST:PORT, [IPv6]:PORT, unix:/path or /path); returns
/// an error sentence to follow the parameter's name, or "".
std::string parse_redis_address(const std::string& text, RedisAddress& out);

/// Parses a key template such as `recs:{user_id}`: `{name}` is the value of
/// the field `name`, `{{` and `}}` are literal braces. Returns an error
/// sentence to follow the parameter's name, or "".
std::string parse_key_template(const std::string& text, std::vector<KeyPart>& out);

/// The cross-parameter rules (the spec's rule, so `eddy validate` reports
/// them, and the factory's check): a full sentence naming the parameter and
/// its place, or "" when the config is fine.
std::string check_redis_config(const Config& cfg);

/// The options of a config that check_redis_config() accepted.
RedisSinkOptions redis_sink_options(const Config& cfg);

/// The password from `password_env` or `password_file` (its first line),
/// read at open(); "" when neither is set. Errors never hold the password.
Result<std::string> read_redis_password(const RedisSinkOptions& options);

}  // namespace eddy
