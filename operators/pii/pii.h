// SPDX-License-Identifier: Apache-2.0
// The `pii` operator: per-field drop, keyed hash (HMAC-SHA256), tokens, IP
// truncation and generalization of times and places. Stateless: the same
// secret gives the same output on every machine and after every restart.
// Design notes: docs/privacy.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/spec.h"
#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy {

/// The `pii` operator's spec (spec.cc).
ComponentSpec pii_spec();

namespace pii {

enum class Action : uint8_t {
    kKeep,          ///< Pass unchanged (for `unlisted: drop` allowlists).
    kDrop,          ///< Remove the field.
    kHash,          ///< HMAC-SHA256 of the value's text, hex, optionally truncated and prefixed.
    kTokenize,      ///< As kHash with token defaults (`tok_`, 24 hex characters).
    kTruncateIp,    ///< Zero the host bits of an IPv4 or IPv6 address.
    kTruncateTime,  ///< Round a time down to the start of its minute, hour, day, ...
    kRound,         ///< Round a number to `decimals` decimal places.
    kGeohash,       ///< Shorten a geohash to `precision` characters.
};

/// Calendar units a time is truncated to (UTC; weeks start on Monday).
enum class TimeUnit : uint8_t { kSecond, kMinute, kHour, kDay, kWeek, kMonth, kYear };

/// What to do with a value the action cannot read (an IP that is not an IP).
enum class OnInvalid : uint8_t { kError, kDropField, kNull, kDropRecord };

/// One entry of `fields`, parsed and checked.
struct FieldRule {
    std::string field;
    Action action = Action::kDrop;
    std::string prefix;  ///< hash, tokenize
    int length = 64;     ///< hash, tokenize: hex characters kept, 1-64
    int ipv4_prefix = 24;
    int ipv6_prefix = 48;
    TimeUnit to = TimeUnit::kDay;
    bool seconds = false;  ///< truncate_time: numeric values are epoch seconds, not ms
    int decimals = 2;      ///< round
    int precision = 5;     ///< geohash
};

/// The operator's validated parameters.
struct Options {
    std::vector<FieldRule> rules;
    std::string secret_env;   ///< Empty when not given.
    std::string secret_file;  ///< Empty when not given.
    OnInvalid on_invalid = OnInvalid::kError;
    bool drop_unlisted = false;

    /// Whether some rule needs the secret.
    bool needs_secret() const;
    /// Parses and checks the parameters; on failure returns nullopt and sets
    /// `error` to a sentence naming the field and its place in the YAML.
    static std::optional<Options> from(const Config& cfg, std::string& error);
};

/// Reads the secret that `options` names (an environment variable or a
/// file, trailing newlines removed). Errors name the variable or file and
/// never show any part of the secret.
Result<std::string> read_secret(const Options& options);

/// Makes the operator (operator.cc).
std::unique_ptr<Operator> make_operator(Options options);

// Transforms, allocation-free; each returns false when the input is not
// valid for it. Exposed for tests.

/// Masks `text` (IPv4, IPv6 or IPv4-mapped IPv6) to its /v4 or /v6 network
/// and writes the address in canonical form to `out` (at least 46 bytes);
/// returns the length written, or 0 when `text` is not an address.
size_t truncate_ip(std::string_view text, int v4_prefix, int v6_prefix, char* out);

/// The start of the `unit` that contains `ms` (epoch milliseconds, UTC).
int64_t truncate_time_ms(int64_t ms, TimeUnit unit);

/// Parses ISO-8601 `YYYY-MM-DD[(T| )hh:mm[:ss[.fff...]]][Z|±hh[:]mm]` into
/// epoch milliseconds; nullopt when it is not such a time.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

/// Writes `ms` as `YYYY-MM-DDThh:mm:ssZ` (20 bytes) to `out`; false outside
/// the years 0000-9999.
bool format_iso8601(int64_t ms, char* out);

/// The canonical bytes hashed for a value: strings as they are, integers in
/// decimal, doubles in shortest round-trip form, booleans as true/false.
/// Writes into `buf` (at least 32 bytes) when it needs to; false for null
/// and vectors.
bool hash_input(const Value& v, char* buf, std::string_view& out);

/// Whether `text` is a geohash (base32 `0-9b-hjkmnp-z`, either case).
bool is_geohash(std::string_view text);

}  // namespace pii
}  // namespace eddy
