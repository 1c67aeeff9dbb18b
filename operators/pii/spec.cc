// SPDX-License-Identifier: Apache-2.0
// The `pii` operator's spec, the parsing and checking of `fields`, and the
// secret.
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/registry.h"

#include "pii/pii.h"

extern char** environ;

namespace eddy::pii {
namespace {

struct ActionName {
    std::string_view name;
    Action action;
    std::string_view options;  ///< Comma-separated options the action takes.
};

constexpr std::array<ActionName, 8> kActions = {{
    {"keep", Action::kKeep, ""},
    {"drop", Action::kDrop, ""},
    {"hash", Action::kHash, "length, prefix"},
    {"tokenize", Action::kTokenize, "length, prefix"},
    {"truncate_ip", Action::kTruncateIp, "ipv4_prefix, ipv6_prefix"},
    {"truncate_time", Action::kTruncateTime, "to, unit"},
    {"round", Action::kRound, "decimals"},
    {"geohash", Action::kGeohash, "precision"},
}};

constexpr std::array<std::pair<std::string_view, TimeUnit>, 7> kUnits = {{
    {"second", TimeUnit::kSecond},
    {"minute", TimeUnit::kMinute},
    {"hour", TimeUnit::kHour},
    {"day", TimeUnit::kDay},
    {"week", TimeUnit::kWeek},
    {"month", TimeUnit::kMonth},
    {"year", TimeUnit::kYear},
}};

// Option names that mean someone is about to write a secret into the YAML.
constexpr std::array<std::string_view, 6> kSecretWords = {"secret", "key",      "salt",
                                                          "pepper", "password", "hmac_key"};

std::string action_list() {
    std::string s;
    for (const ActionName& a : kActions) {
        s += (s.empty() ? "" : ", ") + std::string(a.name);
    }
    return s;
}

/// The text of an untyped scalar (values inside `fields` have no schema).
std::string text_of(const ConfigValue& v) {
    if (v.kind() == ConfigValue::Kind::kString || v.is_null()) {
        return v.as_string();
    }
    return v.is_scalar() ? v.to_string() : std::string();
}

bool int_of(const ConfigValue& v, int64_t& out) {
    if (v.kind() == ConfigValue::Kind::kInt) {
        out = v.as_int();
        return true;
    }
    if (!v.is_scalar() || v.is_null()) {
        return false;
    }
    std::string t = text_of(v);
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return !t.empty() && ec == std::errc() && end == t.data() + t.size();
}

/// `fields.ip` (topology.yaml:12:9): the place of a field's rule in messages.
std::string where(const std::string& field, const ConfigValue& v) {
    std::string w = "`fields." + field + "`";
    std::string loc = v.location().to_string();
    return loc.empty() ? w : w + " (" + loc + ")";
}

/// Reads one integer option into `out`, checking [lo, hi]; sets `error` otherwise.
bool int_option(const std::string& field, const std::string& name, const ConfigValue& v, int64_t lo,
                int64_t hi, int& out, std::string& error) {
    int64_t n = 0;
    if (!int_of(v, n) || n < lo || n > hi) {
        error = where(field, v) + ": `" + name + "` must be an integer from " + std::to_string(lo) +
                " to " + std::to_string(hi) + ", got `" + v.to_string() + "`";
        return false;
    }
    out = static_cast<int>(n);
    return true;
}

bool parse_option(FieldRule& rule, const std::string& name, const ConfigValue& v,
                  std::string& error) {
    const std::string& f = rule.field;
    switch (rule.action) {
        case Action::kHash:
        case Action::kTokenize:
            if (name == "length") {
                return int_option(f, name, v, 1, 64, rule.length, error);
            }
            if (name == "prefix") {
                if (!v.is_scalar()) {
                    error = where(f, v) + ": `prefix` must be a string like `u_`";
                    return false;
                }
                rule.prefix = text_of(v);
                return true;
            }
            break;
        case Action::kTruncateIp:
            if (name == "ipv4_prefix") {
                return int_option(f, name, v, 0, 32, rule.ipv4_prefix, error);
            }
            if (name == "ipv6_prefix") {
                return int_option(f, name, v, 0, 128, rule.ipv6_prefix, error);
            }
            break;
        case Action::kTruncateTime:
            if (name == "to") {
                std::string t = text_of(v);
                for (const auto& [unit_name, unit] : kUnits) {
                    if (t == unit_name) {
                        rule.to = unit;
                        return true;
                    }
                }
                error =
                    where(f, v) +
                    ": `to` must be one of second, minute, hour, day, week, month, year, got `" +
                    v.to_string() + "`";
                return false;
            }
            if (name == "unit") {
                std::string t = text_of(v);
                if (t != "ms" && t != "s") {
                    error = where(f, v) + ": `unit` (of numeric times) must be `ms` or `s`, got `" +
                            v.to_string() + "`";
                    return false;
                }
                rule.seconds = t == "s";
                return true;
            }
            break;
        case Action::kRound:
            if (name == "decimals") {
                return int_option(f, name, v, -6, 10, rule.decimals, error);
            }
            break;
        case Action::kGeohash:
            if (name == "precision") {
                return int_option(f, name, v, 1, 12, rule.precision, error);
            }
            break;
        default:
            break;
    }
    for (std::string_view word : kSecretWords) {
        if (name == word) {
            error = where(f, v) + ": a secret must never be written in the topology; give the " +
                    "operator `secret_env: EDDY_PII_KEY` (an environment variable) or " +
                    "`secret_file: /run/secrets/pii` instead";
            return false;
        }
    }
    std::string_view options;
    std::string_view action;
    for (const ActionName& a : kActions) {
        if (a.action == rule.action) {
            options = a.options;
            action = a.name;
        }
    }
    error = where(f, v) + ": unknown option `" + name + "` for `" + std::string(action) + "`; " +
            (options.empty() ? "it takes none" : "it takes " + std::string(options));
    return false;
}

bool parse_rule(const std::string& field, const ConfigValue& v, FieldRule& rule,
                std::string& error) {
    rule.field = field;
    const ConfigValue* action = &v;
    if (v.is_map()) {
        action = v.find("action");
        if (action == nullptr) {
            error = where(field, v) +
                    ": the map needs an `action`, e.g. `{action: hash, length: " + "16}`";
            return false;
        }
    } else if (!v.is_scalar() || v.is_null()) {
        error = where(field, v) + ": give an action (" + action_list() +
                ") or a map like `{action: hash, length: 16}`";
        return false;
    }
    std::string name = text_of(*action);
    bool known = false;
    for (const ActionName& a : kActions) {
        if (name == a.name) {
            rule.action = a.action;
            known = true;
        }
    }
    if (!known) {
        error = where(field, *action) + ": unknown action `" + name + "`; the actions are " +
                action_list();
        return false;
    }
    if (rule.action == Action::kTokenize) {
        rule.prefix = "tok_";
        rule.length = 24;
    }
    if (v.is_map()) {
        for (const auto& [option, value] : v.entries()) {
            if (option != "action" && !parse_option(rule, option, value, error)) {
                return false;
            }
        }
    }
    return true;
}

bool valid_env_name(const std::string& s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (char c : s) {
        bool ok =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/// The name of an environment variable whose value is `text`, or "": a
/// `secret_env: ${EDDY_PII_KEY}` expands to the secret itself.
std::string variable_holding(const std::string& text) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        size_t eq = entry.find('=');
        if (eq != std::string_view::npos && entry.substr(eq + 1) == text &&
            entry.substr(0, eq) != text) {
            return std::string(entry.substr(0, eq));
        }
    }
    return "";
}

bool check_secret_env(const std::string& name, std::string& error) {
    constexpr const char* kFix =
        "; write the variable's name (`secret_env: EDDY_PII_KEY`), not its value "
        "(`${EDDY_PII_KEY}`)";
    if (!valid_env_name(name)) {
        // Never echo the text: it may be the secret.
        error = "`secret_env` must be the name of an environment variable" + std::string(kFix);
        return false;
    }
    if (std::getenv(name.c_str()) == nullptr) {
        if (std::string holder = variable_holding(name); !holder.empty()) {
            error = "`secret_env` holds the value of the environment variable `" + holder +
                    "` rather than a name" + kFix;
            return false;
        }
    }
    return true;
}

}  // namespace

bool Options::needs_secret() const {
    for (const FieldRule& r : rules) {
        if (r.action == Action::kHash || r.action == Action::kTokenize) {
            return true;
        }
    }
    return false;
}

std::optional<Options> Options::from(const Config& cfg, std::string& error) {
    Options o;
    const ConfigValue& fields = cfg.value("fields");
    if (fields.entries().empty()) {
        error = "`fields` is empty; map each personal field to an action, e.g. `{user_id: hash}`";
        return std::nullopt;
    }
    for (const auto& [field, v] : fields.entries()) {
        for (const FieldRule& seen : o.rules) {
            if (seen.field == field) {
                error = where(field, v) + ": the field is listed twice";
                return std::nullopt;
            }
        }
        FieldRule rule;
        if (!parse_rule(field, v, rule, error)) {
            return std::nullopt;
        }
        o.rules.push_back(std::move(rule));
    }
    if (cfg.has("secret_env")) {
        o.secret_env = cfg.string("secret_env");
        if (!check_secret_env(o.secret_env, error)) {
            return std::nullopt;
        }
    }
    if (cfg.has("secret_file")) {
        o.secret_file = cfg.string("secret_file");
        if (o.secret_file.empty()) {
            error = "`secret_file` is empty; give the path of the file that holds the secret";
            return std::nullopt;
        }
    }
    bool has_env = cfg.has("secret_env");
    bool has_file = cfg.has("secret_file");
    if (has_env && has_file) {
        error = "give either `secret_env` or `secret_file`, not both";
        return std::nullopt;
    }
    if (o.needs_secret() && !has_env && !has_file) {
        error =
            "`hash` and `tokenize` need a secret: give `secret_env: EDDY_PII_KEY` (an "
            "environment variable) or `secret_file: /run/secrets/pii`; never the secret itself";
        return std::nullopt;
    }
    if (!o.needs_secret() && (has_env || has_file)) {
        error = std::string("`") + (has_env ? "secret_env" : "secret_file") +
                "` is set but no field is hashed or tokenized; remove it";
        return std::nullopt;
    }
    const std::string& invalid = cfg.string("on_invalid");
    o.on_invalid = invalid == "drop_field"    ? OnInvalid::kDropField
                   : invalid == "set_null"    ? OnInvalid::kNull
                   : invalid == "drop_record" ? OnInvalid::kDropRecord
                                              : OnInvalid::kError;
    o.drop_unlisted = cfg.string("unlisted") == "drop";
    return o;
}

Result<std::string> read_secret(const Options& options) {
    const std::string missing = "the secret of `hash` and `tokenize` is missing: ";
    std::string secret;
    std::string from;
    if (!options.secret_env.empty()) {
        from = "environment variable `" + options.secret_env + "`";
        const char* v = std::getenv(options.secret_env.c_str());
        if (v == nullptr || *v == '\0') {
            return Status::invalid_argument(
                missing + from + " is " + (v == nullptr ? "not set" : "empty") +
                "; set it to a random value of at least 16 bytes (e.g. `export " +
                options.secret_env +
                "=$(openssl rand -hex 32)`) and keep it: the same secret must be used wherever "
                "hashed values are joined");
        }
        secret = v;
    } else {
        from = "secret_file `" + options.secret_file + "`";
        std::ifstream in(options.secret_file, std::ios::binary);
        if (!in) {
            return Status::invalid_argument(missing + "cannot read " + from + ": " +
                                            std::strerror(errno));
        }
        // A secret is a few dozen bytes; a large file is the wrong file (a key
        // store, a log), and is refused rather than read whole into memory.
        constexpr std::streamsize kMaxSecretBytes = 4096;
        secret.resize(kMaxSecretBytes + 1);
        in.read(secret.data(), kMaxSecretBytes + 1);
        secret.resize(static_cast<size_t>(in.gcount()));
        if (secret.size() > static_cast<size_t>(kMaxSecretBytes)) {
            return Status::invalid_argument(
                missing + from +
                " is larger than 4096 bytes; it should hold only the secret "
                "(e.g. the output of `openssl rand -hex 32`)");
        }
        while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
            secret.pop_back();
        }
        if (secret.empty()) {
            return Status::invalid_argument(missing + from +
                                            " is empty; write a random value of at least 16 "
                                            "bytes into it (e.g. `openssl rand -hex 32`)");
        }
    }
    if (secret.size() < 16) {
        return Status::invalid_argument(
            "the secret in " + from + " is " + std::to_string(secret.size()) +
            " bytes; use at least 16 random bytes (e.g. `openssl rand -hex 32`) so that hashed "
            "values cannot be reversed by trying every likely input");
    }
    return secret;
}

}  // namespace eddy::pii

namespace eddy {

ComponentSpec pii_spec() {
    return OperatorSpec("pii")
        .summary(
            "Removes or transforms personal fields: drop, keyed hash (HMAC-SHA256), tokens, IP "
            "truncation, coarser times and places.")
        .description(
            "Each entry of `fields` maps a field to an action, written as its name (`ip: "
            "truncate_ip`) or as a map with options (`ip: {action: truncate_ip, ipv4_prefix: "
            "16}`):\n\n"
            "- `drop`: the field is removed. `keep`: it passes unchanged (with `unlisted: drop`, "
            "an allowlist).\n"
            "- `hash`: the lower-case hex HMAC-SHA256 of the value under the secret, cut to "
            "`length` hex characters (default 64) after an optional `prefix`. Strings are hashed "
            "as their bytes, integers in decimal (so 42 and \"42\" hash alike), doubles in "
            "shortest round-trip form, booleans as true/false.\n"
            "- `tokenize`: the same with `prefix` `tok_` and `length` 24 (96 bits) by default: a "
            "short, recognizable pseudonym. Tokens are deterministic, not a lookup table: no "
            "state is kept, every machine and restart gives the same token, and only someone "
            "with the secret can test whether a token belongs to a given value.\n"
            "- `truncate_ip`: IPv4 addresses keep their first `ipv4_prefix` bits (default 24), "
            "IPv6 their first `ipv6_prefix` (default 48); IPv4-mapped IPv6 (`::ffff:a.b.c.d`) "
            "counts as IPv4. The result is the network address (`203.0.113.0`, `2001:db8:1::`).\n"
            "- `truncate_time`: a time becomes the start of its `to` (second, minute, hour, "
            "day (default), week from Monday, month or year; UTC). Numbers are epoch "
            "milliseconds (`unit: s`: seconds) and stay numbers; strings are ISO-8601 and "
            "become `YYYY-MM-DDThh:mm:ssZ`. The record's event time is not changed.\n"
            "- `round`: a number rounded to `decimals` places (default 2, about 1.1 km for "
            "latitude; negative values round to tens, hundreds, ...).\n"
            "- `geohash`: a geohash string cut to `precision` characters (default 5, about "
            "4.9 km x 4.9 km), lower-cased.\n\n"
            "Hashes and tokens are keyed by a secret read at startup from the environment "
            "variable named by `secret_env` or from the file at `secret_file` (trailing "
            "newlines removed); a secret written in the YAML is refused, and a missing, empty "
            "or shorter than 16 bytes secret stops the job at startup with a message naming "
            "the variable or file. The same secret gives the same values on every machine and "
            "after every restart, so joins on hashed ids keep working; a new secret gives new "
            "values (docs/privacy.md, key rotation).\n\n"
            "Put `pii` before keyed operators and hash their key field (`user_id: hash`) so "
            "that no later operator, state or output holds the raw identifier. Nulls stay "
            "null; missing fields are skipped. A value an action cannot read (an `ip` that is "
            "not an address, a string to `round`, a vector to hash) follows `on_invalid`: "
            "`error` sends the record to `errors` with a reason naming the field, after every "
            "other action was applied and with the invalid field removed, so the dead-letter "
            "output holds no raw personal data either; `drop_field` removes the field, `set_null` "
            "sets it to null, and both pass the record on; `drop_record` drops it. Metrics: "
            "`eddy_pii_invalid_total{field}` and `eddy_pii_dropped_records_total`.")
        .param(Param::map("fields")
                   .required()
                   .doc("Field name to action: `drop`, `keep`, `hash`, `tokenize`, "
                        "`truncate_ip`, `truncate_time`, `round` or `geohash`, or a map with "
                        "`action` and its options (`length`, `prefix`; `ipv4_prefix`, "
                        "`ipv6_prefix`; `to`, `unit`; `decimals`; `precision`).")
                   .example("{user_id: hash, ip: truncate_ip, ua: drop, ts: {action: "
                            "truncate_time, to: hour}}"))
        .param(Param::string("secret_env")
                   .doc("The name of the environment variable that holds the secret of `hash` "
                        "and `tokenize` (at least 16 bytes).")
                   .example("EDDY_PII_KEY"))
        .param(Param::string("secret_file")
                   .doc("A file that holds the secret of `hash` and `tokenize`, instead of "
                        "`secret_env`; trailing newlines are removed.")
                   .example("/run/secrets/pii"))
        .param(Param::enumeration("on_invalid", {"error", "drop_field", "set_null", "drop_record"})
                   .default_value("error")
                   .doc("What happens to a record with a value an action cannot read: `error` "
                        "(to `errors`, that field removed), `drop_field`, `set_null` (the record "
                        "passes without it or with null), or `drop_record`."))
        .param(Param::enumeration("unlisted", {"keep", "drop"})
                   .default_value("keep")
                   .doc("Fields not in `fields`: `keep` passes them unchanged, `drop` removes "
                        "them (an allowlist: a field added upstream later never leaks)."))
        .rule([](const Config& cfg) {
            std::string error;
            return pii::Options::from(cfg, error) ? std::string() : error;
        })
        .example("Pseudonymize ids and coarsen IPs before keyed operators", R"(operators:
  private:
    type: pii
    input: clicks
    secret_env: EDDY_PII_KEY        # the variable that holds the secret, never the secret
    fields:
      user_id: hash
      ip: truncate_ip
      ua: drop
  sessions: {type: sessionizer, input: private, key: user_id}
)")
        .example("An allowlist of generalized fields, without a secret", R"(operators:
  coarse:
    type: pii
    input: clicks
    unlisted: drop
    on_invalid: set_null
    fields:
      ts: {action: truncate_time, to: hour}
      ip: {action: truncate_ip, ipv4_prefix: 16, ipv6_prefix: 32}
      type: keep
      item_id: keep
      country: keep
)")
        .factory([](const Config& cfg) -> Result<std::unique_ptr<Operator>> {
            std::string error;
            auto options = pii::Options::from(cfg, error);
            if (!options) {
                return Status::invalid_argument(error);
            }
            return pii::make_operator(std::move(*options));
        });
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(pii) {
    return eddy::pii_spec();
}
