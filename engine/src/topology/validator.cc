// SPDX-License-Identifier: Apache-2.0
#include "topology/validator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include "eddy/units.h"

#include "serve/address.h"
#include "topology/scalar.h"
#include "topology/scale_out_rules.h"
#include "topology/suggest.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

const std::vector<std::string> kTopLevelKeys = {
    "name",        "description", "parallelism", "state",     "plugins", "serve",
    "dead_letter", "log_level",   "sources",     "operators", "sinks",   "tests"};
const std::vector<std::string> kServeKeys = {
    "listen",          "token_env",     "token_file", "max_key_bytes", "max_request_bytes",
    "max_connections", "query_timeout", "views"};
const std::vector<std::string> kServeViews = {"recommendations", "profiles", "segments"};
const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};
const std::vector<std::string> kStateKeys = {"dir", "checkpoint_interval", "memory", "cache"};
const std::vector<std::string> kWatermarkKeys = {"max_out_of_orderness", "idle_timeout"};

std::vector<std::string> reserved_keys(ComponentKind kind) {
    switch (kind) {
        case ComponentKind::kSource:
            return {"type", "description", "watermark"};
        case ComponentKind::kOperator:
            return {"type", "description", "input",     "inputs",
                    "key",  "parallelism", "state_ttl", "renamed_from"};
        case ComponentKind::kSink:
            return {"type", "description", "input", "inputs"};
    }
    return {};
}

std::string kind_word(const ConfigValue& v) {
    if (v.is_null()) {
        return "nothing";
    }
    if (v.is_list()) {
        return "a list";
    }
    if (v.is_map()) {
        return "a map";
    }
    return "`" + v.as_string() + "`";
}

std::string shape_example(ParamType type) {
    switch (type) {
        case ParamType::kString:
            return "a string like `user_id`";
        case ParamType::kInt:
            return "an integer like `100`";
        case ParamType::kDouble:
            return "a number like `0.5`";
        case ParamType::kBool:
            return "`true` or `false`";
        case ParamType::kDuration:
            return "a duration like `30m` (units ms, s, m, h, d, w)";
        case ParamType::kSize:
            return "a size like `64MB`";
        case ParamType::kEnum:
            return "one of the allowed values";
        case ParamType::kList:
            return "a list like `[a, b]`";
        case ParamType::kMap:
            return "a map like `{a: 1}`";
        case ParamType::kAny:
            return "a value";
    }
    return "a value";
}

std::optional<ConfigValue> convert_scalar(ParamType type, const Param& param,
                                          const ConfigValue& raw, const std::string& where,
                                          Diagnostics& diags) {
    const Location& loc = raw.location();
    std::string what = "parameter '" + param.name() + "' of " + where;
    if (!raw.is_scalar() || raw.is_null()) {
        diags.error("invalid_type", loc,
                    what + " must be " + shape_example(type) + ", got " + kind_word(raw));
        return std::nullopt;
    }
    const std::string& text = raw.as_string();
    auto fail = [&](std::string hint = {}) -> std::optional<ConfigValue> {
        diags.error("invalid_type", loc,
                    what + " must be " + shape_example(type) + ", got `" + text + "`",
                    std::move(hint));
        return std::nullopt;
    };
    auto check_range = [&](double v, const std::string& shown) -> bool {
        if ((param.min_value() && v < *param.min_value()) ||
            (param.max_value() && v > *param.max_value())) {
            std::string range;
            auto fmt = [&](double b) {
                if (type == ParamType::kDuration) {
                    return format_duration_ms(static_cast<int64_t>(b));
                }
                if (type == ParamType::kSize) {
                    return format_size_bytes(static_cast<uint64_t>(b));
                }
                ConfigValue n = ConfigValue::number(b);
                return n.as_string();
            };
            if (param.min_value() && param.max_value()) {
                range = "between " + fmt(*param.min_value()) + " and " + fmt(*param.max_value());
            } else if (param.min_value()) {
                range = "at least " + fmt(*param.min_value());
            } else {
                range = "at most " + fmt(*param.max_value());
            }
            diags.error("out_of_range", loc, what + " must be " + range + ", got " + shown);
            return false;
        }
        return true;
    };
    switch (type) {
        case ParamType::kString:
        case ParamType::kAny:
            return ConfigValue::string(text, loc);
        case ParamType::kInt: {
            auto v = parse_yaml_int(text);
            if (!v) {
                return fail();
            }
            if (!check_range(static_cast<double>(*v), text)) {
                return std::nullopt;
            }
            return ConfigValue::integer(*v, loc);
        }
        case ParamType::kDouble: {
            auto v = parse_yaml_double(text);
            if (!v) {
                return fail();
            }
            if (!check_range(*v, text)) {
                return std::nullopt;
            }
            return ConfigValue::number(*v, loc);
        }
        case ParamType::kBool: {
            auto v = parse_yaml_bool(text);
            if (!v) {
                // YAML 1.1 spellings that yaml-cpp and we do not read as booleans.
                static const std::set<std::string> kYamlOneOne = {"yes", "no",  "on", "off", "y",
                                                                  "n",   "Yes", "No", "On",  "Off"};
                return fail(kYamlOneOne.count(text) > 0 ? "write `true` or `false`" : "");
            }
            return ConfigValue::boolean(*v, loc);
        }
        case ParamType::kDuration: {
            auto v = parse_duration_ms(text);
            if (!v) {
                std::string hint;
                if (parse_yaml_int(text)) {
                    hint = "add a unit: `" + text + "s` or `" + text + "ms`";
                }
                return fail(hint);
            }
            if (!check_range(static_cast<double>(*v), text)) {
                return std::nullopt;
            }
            return ConfigValue::integer(*v, loc);
        }
        case ParamType::kSize: {
            auto v = parse_size_bytes(text);
            if (!v) {
                return fail();
            }
            if (!check_range(static_cast<double>(*v), text)) {
                return std::nullopt;
            }
            return ConfigValue::integer(static_cast<int64_t>(*v), loc);
        }
        case ParamType::kEnum: {
            for (const std::string& allowed : param.values()) {
                if (allowed == text) {
                    return ConfigValue::string(text, loc);
                }
            }
            std::string hint = did_you_mean(text, param.values());
            diags.error("invalid_option", loc,
                        what + " must be one of " + join(param.values()) + ", got `" + text + "`",
                        hint);
            return std::nullopt;
        }
        case ParamType::kList:
        case ParamType::kMap:
            break;
    }
    return fail();
}

// Untyped trees keep their scalars as strings; `any` parameters are passed as written.
ConfigValue keep_any(const ConfigValue& raw) {
    return raw;
}

}  // namespace

std::optional<ConfigValue> convert_param(const Param& param, const ConfigValue& raw,
                                         const std::string& where, Diagnostics& diags) {
    const std::string what = "parameter '" + param.name() + "' of " + where;
    switch (param.type()) {
        case ParamType::kAny:
            return keep_any(raw);
        case ParamType::kList: {
            if (!raw.is_list()) {
                diags.error("invalid_type", raw.location(),
                            what + " must be a list like `[a, b]`, got " + kind_word(raw),
                            raw.is_scalar() && !raw.is_null() ? "write [" + raw.as_string() + "]"
                                                              : std::string());
                return std::nullopt;
            }
            std::vector<ConfigValue> items;
            bool ok = true;
            Param item = param;
            for (const ConfigValue& v : raw.items()) {
                std::optional<ConfigValue> c;
                if (param.item_type() == ParamType::kAny) {
                    c = keep_any(v);
                } else if (param.item_type() == ParamType::kMap) {
                    if (!v.is_map()) {
                        diags.error("invalid_type", v.location(),
                                    "items of " + what + " must be maps, got " + kind_word(v));
                        ok = false;
                        continue;
                    }
                    c = v;
                } else {
                    c = convert_scalar(param.item_type(), item, v, where, diags);
                }
                if (!c) {
                    ok = false;
                    continue;
                }
                items.push_back(std::move(*c));
            }
            if (!ok) {
                return std::nullopt;
            }
            return ConfigValue::list(std::move(items), raw.location());
        }
        case ParamType::kMap: {
            if (!raw.is_map()) {
                diags.error("expected_map", raw.location(),
                            what + " must be a map like `{a: 1}`, got " + kind_word(raw));
                return std::nullopt;
            }
            if (param.item_type() == ParamType::kAny) {
                return raw;
            }
            std::vector<ConfigValue::Entry> entries;
            bool ok = true;
            for (const auto& [k, v] : raw.entries()) {
                auto c = convert_scalar(param.item_type(), param, v, where, diags);
                if (!c) {
                    ok = false;
                    continue;
                }
                entries.emplace_back(k, std::move(*c));
            }
            if (!ok) {
                return std::nullopt;
            }
            return ConfigValue::map(std::move(entries), raw.location());
        }
        default:
            return convert_scalar(param.type(), param, raw, where, diags);
    }
}

namespace {

class Validator {
public:
    Validator(const Registry& registry, Diagnostics& diags) : registry_(registry), diags_(diags) {}

    std::optional<Topology> run(const ConfigValue& root) {
        if (!root.is_map()) {
            diags_.error(
                "expected_map", root.location(),
                "a topology must be a YAML map with `sources:`, `operators:` and `sinks:`, got " +
                    kind_word(root),
                "see topologies/demo.yaml for the layout");
            return std::nullopt;
        }
        topo_.file = root.location().file;
        for (const auto& [key, value] : root.entries()) {
            if (key == "name") {
                topo_.name = scalar_text(value, "topology name");
            } else if (key == "description") {
                topo_.description = scalar_text(value, "topology description");
            } else if (key == "parallelism") {
                topo_.parallelism = parallelism(value, "the topology");
            } else if (key == "state") {
                read_state(value);
            } else if (key == "plugins") {
                read_plugins(value);
            } else if (key == "serve") {
                read_serve(value);
            } else if (key == "log_level") {
                read_log_level(value);
            } else if (key == "dead_letter") {
                topo_.dead_letter = scalar_text(value, "dead_letter");
                dead_letter_location_ = value.location();
            } else if (key == "sources") {
                read_section(value, ComponentKind::kSource);
            } else if (key == "operators") {
                read_section(value, ComponentKind::kOperator);
            } else if (key == "sinks") {
                read_section(value, ComponentKind::kSink);
            } else if (key == "tests") {
                // Test cases for `eddy test` (engine/src/testing/); a run ignores them.
            } else {
                diags_.error("unknown_field", value_key_location(root, key),
                             "unknown top-level key '" + key + "'",
                             hint_or(did_you_mean(key, kTopLevelKeys),
                                     "top-level keys are " + join(kTopLevelKeys)));
            }
        }
        if (root.find("sources") == nullptr) {
            diags_.error(
                "missing_field", {topo_.file, 1, 1}, "the topology has no `sources:` section",
                "add a source, for example `sources: {clicks: {type: file, path: clicks.jsonl}}`");
        }
        if (root.find("sinks") == nullptr) {
            diags_.error("missing_field", {topo_.file, 1, 1},
                         "the topology has no `sinks:` section",
                         "add a sink, for example `sinks: {out: {type: stdout, input: clicks}}`");
        }
        order_components();
        add_repartitions();
        warn_repartitions_outside_transactions();
        route_dead_letters();
        check_serve_views();
        check_graph();
        check_renames();
        check_scale_out(topo_, diags_);
        if (diags_.has_errors()) {
            return std::nullopt;
        }
        return std::move(topo_);
    }

private:
    static std::string hint_or(std::string a, std::string b) { return a.empty() ? b : a; }

    // Locations of keys are those of their values; null values carry the key's place.
    static Location value_key_location(const ConfigValue& map, const std::string& key) {
        const ConfigValue* v = map.find(key);
        return v != nullptr ? v->location() : map.location();
    }

    std::string scalar_text(const ConfigValue& v, const std::string& what) {
        if (!v.is_scalar() || v.is_null()) {
            diags_.error("invalid_type", v.location(),
                         what + " must be a string, got " + kind_word(v));
            return {};
        }
        return v.as_string();
    }

    int parallelism(const ConfigValue& v, const std::string& owner) {
        auto n = v.is_scalar() && !v.is_null() ? parse_yaml_int(v.as_string()) : std::nullopt;
        if (!n || *n < 1 || *n > 1024) {
            diags_.error(n ? "out_of_range" : "invalid_type", v.location(),
                         "parallelism of " + owner +
                             " must be an integer between 1 and 1024, got " + kind_word(v));
            return 0;
        }
        return static_cast<int>(*n);
    }

    void read_state(const ConfigValue& v) {
        topo_.state.location = v.location();
        if (!v.is_map()) {
            diags_.error("expected_map", v.location(),
                         "`state` must be a map like `{dir: ./state}`, got " + kind_word(v));
            return;
        }

        for (const auto& [key, value] : v.entries()) {
            if (key == "dir") {
                topo_.state.dir = scalar_text(value, "state.dir");
            } else if (key == "checkpoint_interval") {
                Param p = Param::duration("checkpoint_interval").min(100);
                if (auto c = convert_param(p, value, "`state`", diags_)) {
                    topo_.state.checkpoint_interval_ms = c->as_int();
                }
            } else if (key == "memory") {
                Param p = Param::size("memory").min(1 << 20);
                if (auto c = convert_param(p, value, "`state`", diags_)) {
                    topo_.state.memory_bytes = static_cast<uint64_t>(c->as_int());
                }
            } else if (key == "cache") {
                Param p = Param::size("cache").min(1 << 20);
                if (auto c = convert_param(p, value, "`state`", diags_)) {
                    topo_.state.cache_bytes = static_cast<uint64_t>(c->as_int());
                }
            } else {
                diags_.error(
                    "unknown_field", value.location(), "unknown key '" + key + "' in `state`",
                    hint_or(did_you_mean(key, kStateKeys), "`state` takes " + join(kStateKeys)));
            }
        }
    }

    void read_serve(const ConfigValue& v) {
        ServeDef& serve = topo_.serve;
        serve.location = v.location();
        if (!v.is_map()) {
            diags_.error(
                "expected_map", v.location(),
                "`serve` must be a map like `{listen: 127.0.0.1:8080}`, got " + kind_word(v));
            return;
        }
        for (const auto& [key, value] : v.entries()) {
            // clang 14 cannot capture a structured binding: through a reference.
            const ConfigValue& setting = value;
            auto convert = [&](Param p) { return convert_param(p, setting, "`serve`", diags_); };
            if (key == "listen") {
                serve.listen = scalar_text(value, "serve.listen");
                if (std::string why = check_listen_address(serve.listen); !why.empty()) {
                    diags_.error("invalid_value", value.location(), "`serve.listen`: " + why,
                                 "write host:port, e.g. `127.0.0.1:8080`");
                }
            } else if (key == "token_env") {
                serve.token_env = scalar_text(value, "serve.token_env");
            } else if (key == "token_file") {
                serve.token_file = scalar_text(value, "serve.token_file");
            } else if (key == "max_key_bytes") {
                if (auto c = convert(Param::size("max_key_bytes").min(1).max(64 << 10))) {
                    serve.max_key_bytes = static_cast<uint64_t>(c->as_int());
                }
            } else if (key == "max_request_bytes") {
                if (auto c = convert(Param::size("max_request_bytes").min(1024).max(64 << 20))) {
                    serve.max_request_bytes = static_cast<uint64_t>(c->as_int());
                }
            } else if (key == "max_connections") {
                if (auto c = convert(Param::integer("max_connections").min(1).max(4096))) {
                    serve.max_connections = c->as_int();
                }
            } else if (key == "query_timeout") {
                if (auto c = convert(Param::duration("query_timeout").min(1).max(600'000))) {
                    serve.query_timeout_ms = c->as_int();
                }
            } else if (key == "views") {
                read_serve_views(value);
            } else {
                diags_.error(
                    "unknown_field", value.location(), "unknown key '" + key + "' in `serve`",
                    hint_or(did_you_mean(key, kServeKeys), "`serve` takes " + join(kServeKeys)));
            }
        }
        if (!serve.token_env.empty() && !serve.token_file.empty()) {
            diags_.error("invalid_value", v.location(),
                         "`serve` takes `token_env` or `token_file`, not both");
        }
    }

    void read_serve_views(const ConfigValue& v) {
        if (!v.is_map()) {
            diags_.error("expected_map", v.location(),
                         "`serve.views` must map a view to an operator, like "
                         "`{recommendations: recs}`, got " +
                             kind_word(v));
            return;
        }
        for (const auto& [view, op] : v.entries()) {
            if (std::find(kServeViews.begin(), kServeViews.end(), view) == kServeViews.end()) {
                diags_.error("unknown_field", op.location(),
                             "unknown view '" + view + "' in `serve.views`",
                             hint_or(did_you_mean(view, kServeViews),
                                     "`serve.views` takes " + join(kServeViews)));
                continue;
            }
            topo_.serve.views.emplace_back(view, scalar_text(op, "serve.views." + view));
            serve_view_locations_.push_back(op.location());
        }
    }

    /// Every operator `serve.views` names exists.
    void check_serve_views() {
        for (size_t i = 0; i < topo_.serve.views.size(); ++i) {
            const std::string& op = topo_.serve.views[i].second;
            int c = topo_.find(op);
            if (c < 0 ||
                topo_.components[static_cast<size_t>(c)].kind != ComponentKind::kOperator) {
                std::vector<std::string> operators;
                for (const ComponentDef& d : topo_.components) {
                    if (d.kind == ComponentKind::kOperator) {
                        operators.push_back(d.name);
                    }
                }
                diags_.error("unknown_component", serve_view_locations_[i],
                             "`serve.views." + topo_.serve.views[i].first +
                                 "` must name an operator of this topology, got '" + op + "'",
                             hint_or(did_you_mean(op, operators), "operators: " + join(operators)));
            }
        }
    }

    void read_log_level(const ConfigValue& v) {
        std::string level = scalar_text(v, "log_level");
        if (std::find(kLogLevels.begin(), kLogLevels.end(), level) == kLogLevels.end()) {
            diags_.error("invalid_value", v.location(),
                         "`log_level` must be one of " + join(kLogLevels) + ", got '" + level + "'",
                         did_you_mean(level, kLogLevels));
            return;
        }
        topo_.log_level = level;
        topo_.log_level_location = v.location();
    }

    void read_plugins(const ConfigValue& v) {
        if (!v.is_list()) {
            diags_.error(
                "invalid_type", v.location(),
                "`plugins` must be a list of paths like `[build/plugins/libfoo.so]`, got " +
                    kind_word(v));
            return;
        }
        // load_topology_plugins() loaded them into the registry before validation.
        for (const ConfigValue& item : v.items()) {
            topo_.plugins.push_back(scalar_text(item, "a plugin path"));
        }
    }

    void read_section(const ConfigValue& section, ComponentKind kind) {
        if (section.is_null()) {
            return;
        }
        if (!section.is_map()) {
            diags_.error(
                "expected_map", section.location(),
                std::string("`") + section_name(kind) +
                    "` must be a map from component names to their settings, got " +
                    kind_word(section),
                "write `" + std::string(section_name(kind)) + ":\\n  my_name: {type: ...}`");
            return;
        }
        for (const auto& [name, body] : section.entries()) {
            read_component(kind, name, body);
        }
    }

    void read_component(ComponentKind kind, const std::string& name, const ConfigValue& body) {
        const char* kind_text = component_kind_name(kind);
        std::string where = std::string(kind_text) + " '" + name + "'";
        // A broken component stays a graph node (without spec) so that its readers
        // are not also told that it does not exist.
        auto keep_as_node = [&] {
            if (names_.emplace(name, body.location()).second) {
                ComponentDef def;
                def.kind = kind;
                def.name = name;
                def.location = body.location();
                if (body.is_map()) {
                    read_inputs_only(def, body);
                }
                components_.push_back(std::move(def));
            }
        };
        if (!body.is_map()) {
            diags_.error("expected_map", body.location(),
                         where + " must be a map with a `type`, got " + kind_word(body),
                         "write `" + name + ": {type: ...}`");
            keep_as_node();
            return;
        }
        if (name.find('.') != std::string::npos || name.empty()) {
            diags_.error("invalid_name", body.location(),
                         "component name '" + name + "' must not be empty or contain '.'",
                         "'.' separates a component from its output, as in `clean.bots`");
        }
        if (auto prev = names_.find(name); prev != names_.end()) {
            diags_.error(
                "duplicate_component", body.location(),
                "component name '" + name + "' is already used at " + prev->second.to_string(),
                "names are shared by sources, operators and sinks; rename one");
            return;
        }
        const ConfigValue* type = body.find("type");
        bool null_type = type != nullptr && type->is_null() && type->as_string() == "null";
        if (type == nullptr || (type->is_null() && !null_type) || !type->is_scalar()) {
            diags_.error(
                "missing_field", body.location(), where + " has no `type`",
                "available " + std::string(kind_text) + " types: " + join(registry_.names(kind)));
            keep_as_node();
            return;
        }
        names_.emplace(name, body.location());
        size_t errors_before = diags_.error_count();

        ComponentDef def;
        def.kind = kind;
        def.name = name;
        def.location = body.location();
        def.type = type->as_string();
        def.spec = registry_.find(kind, def.type);
        if (def.spec == nullptr) {
            std::string hint = did_you_mean(def.type, registry_.names(kind));
            std::vector<std::string> kinds;
            std::vector<std::string> sections;
            for (ComponentKind other :
                 {ComponentKind::kSource, ComponentKind::kOperator, ComponentKind::kSink}) {
                if (other != kind && registry_.find(other, def.type) != nullptr) {
                    kinds.push_back(std::string("a ") + component_kind_name(other));
                    sections.push_back(std::string("`") + section_name(other) + ":`");
                }
            }
            if (!kinds.empty()) {
                // `file` is both a source and a sink.
                hint = "'" + def.type + "' is " + join(kinds, " and ") + "; move it under " +
                       join(sections, " or ");
            }
            if (hint.empty()) {
                hint = "available " + std::string(kind_text) +
                       " types: " + join(registry_.names(kind)) + " (see `eddy operators`)";
            }
            diags_.error(
                "unknown_component", type->location(),
                "unknown " + std::string(kind_text) + " type '" + def.type + "' for '" + name + "'",
                hint);
            read_inputs_only(def, body);
            components_.push_back(std::move(def));  // still checked as a graph node
            return;
        }
        where = std::string(kind_text) + " '" + name + "' (" + def.type + ")";

        std::vector<std::string> allowed;
        for (const std::string& k : reserved_keys(kind)) {
            bool unkeyed = def.spec->key == KeyMode::kNone;
            if (k != "type" && !(unkeyed && (k == "key" || k == "state_ttl"))) {
                allowed.push_back(k);
            }
        }
        for (const Param& p : def.spec->params) {
            allowed.push_back(p.name());
        }
        std::set<std::string> suggested;  // Missing parameters an unknown key is a typo of.
        std::vector<ConfigValue::Entry> typed;
        for (const auto& [key, value] : body.entries()) {
            if (key == "type") {
                continue;
            }
            if (key == "description") {
                def.description = scalar_text(value, "description of " + where);
            } else if (kind != ComponentKind::kSource && (key == "input" || key == "inputs")) {
                declares_input_.insert(name);
                read_inputs(def, key, value, body);
            } else if (kind == ComponentKind::kOperator && key == "key") {
                def.key = scalar_text(value, "`key` of " + where);
                def.key_location = value.location();
            } else if (kind == ComponentKind::kOperator && key == "parallelism") {
                def.parallelism = parallelism(value, where);
            } else if (kind == ComponentKind::kOperator && key == "state_ttl") {
                if (auto c =
                        convert_param(Param::duration("state_ttl").min(1), value, where, diags_)) {
                    def.state_ttl_ms = c->as_int();
                    def.state_ttl_location = value.location();
                }
            } else if (kind == ComponentKind::kOperator && key == "renamed_from") {
                def.renamed_from = scalar_text(value, "`renamed_from` of " + where);
                def.renamed_from_location = value.location();
            } else if (kind == ComponentKind::kSource && key == "watermark") {
                read_watermark(def, value, where);
            } else if (const Param* p = def.spec->find_param(key)) {
                if (auto c = convert_param(*p, value, where, diags_)) {
                    typed.emplace_back(key, std::move(*c));
                }
            } else {
                std::string match = closest_match(key, allowed);
                std::string hint = did_you_mean(key, allowed);
                if (hint.empty()) {
                    hint = "parameters of " + def.type + ": " + join(allowed) +
                           " (see `eddy operators " + def.type + "`)";
                } else {
                    suggested.insert(match);
                }
                diags_.error("unknown_field", value.location(),
                             "unknown parameter '" + key + "' for " + where, hint);
            }
        }
        bool complete = true;
        for (const Param& p : def.spec->params) {
            if (body.find(p.name()) != nullptr) {
                continue;
            }
            if (p.is_required()) {
                complete = false;
                if (suggested.count(p.name()) > 0) {
                    continue;  // "unknown parameter 'feild' ... did you mean 'field'?" says it all.
                }
                std::string hint = p.example_text().empty()
                                       ? p.doc_text()
                                       : "for example `" + p.name() + ": " + p.example_text() + "`";
                diags_.error("missing_field", body.location(),
                             where + " is missing required parameter '" + p.name() + "'", hint);
            } else if (p.default_text()) {
                ConfigValue raw = ConfigValue::string(*p.default_text(), body.location());
                if (p.type() == ParamType::kList || p.type() == ParamType::kMap) {
                    Diagnostics scratch;
                    auto parsed = load_yaml_text(*p.default_text(), "<default>", scratch);
                    raw = parsed ? *parsed : ConfigValue();
                    raw.set_location(body.location());
                }
                auto c = convert_param(p, raw, where + " (built-in default)", diags_);
                if (c) {
                    typed.emplace_back(p.name(), std::move(*c));
                }
            }
        }
        check_key(def, where);
        def.config = Config(name, def.type, ConfigValue::map(std::move(typed), body.location()),
                            body.location());
        if (complete && diags_.error_count() == errors_before) {
            for (const ConfigRule& rule : def.spec->rules) {
                std::string message = rule(def.config);
                if (!message.empty()) {
                    diags_.error("invalid_option", body.location(), where + ": " + message);
                }
            }
        }
        components_.push_back(std::move(def));
    }

    // Of a component whose parameters cannot be checked, so that the graph is still complete.
    void read_inputs_only(ComponentDef& def, const ConfigValue& body) {
        if (def.kind == ComponentKind::kSource) {
            return;
        }
        for (const auto& [key, value] : body.entries()) {
            if (key == "input" || key == "inputs") {
                declares_input_.insert(def.name);
                read_inputs(def, key, value, body);
            }
        }
    }

    void check_key(const ComponentDef& def, const std::string& where) {
        if (def.kind != ComponentKind::kOperator) {
            return;
        }
        if (def.spec->key == KeyMode::kRequired && def.key.empty()) {
            diags_.error("missing_field", def.location, where + " needs a `key`",
                         "add `key: user_id` (the field whose value partitions its state)");
        }
        if (def.spec->key == KeyMode::kNone && !def.key.empty()) {
            diags_.error("unknown_field", def.key_location,
                         where + " is not keyed and does not take a `key`", "remove `key:`");
        }
        if (def.parallelism > 1 && def.key.empty() && !def.spec->states.empty()) {
            diags_.error("invalid_option", def.location,
                         where +
                             " keeps state without a `key`, so one instance must see every "
                             "record; it cannot have `parallelism: " +
                             std::to_string(def.parallelism) + "`",
                         "add `key:` to split its state, or remove `parallelism:` (it then runs "
                         "as one instance whatever the topology's parallelism)");
        }
        if (def.state_ttl_ms && def.key.empty()) {
            diags_.error("invalid_option", def.state_ttl_location,
                         "`state_ttl` of " + where + " applies to keyed state, and it has no `key`",
                         "add `key:` or remove `state_ttl:`");
        }
    }

    void read_inputs(ComponentDef& def, const std::string& key, const ConfigValue& value,
                     const ConfigValue& body) {
        if (key == "input" && body.find("inputs") != nullptr) {
            diags_.error("invalid_option", value.location(),
                         "component '" + def.name + "' has both `input` and `inputs`",
                         "use `input: a` for one upstream or `inputs: [a, b]` for several");
            return;
        }
        auto add = [&](const ConfigValue& v) {
            if (!v.is_scalar() || v.is_null()) {
                diags_.error("invalid_type", v.location(),
                             "an input of '" + def.name +
                                 "' must be a component name like `clicks` or " +
                                 "`clean.bots`, got " + kind_word(v));
                return;
            }
            const std::string& text = v.as_string();
            InputRef ref;
            size_t dot = text.find('.');
            ref.component = text.substr(0, dot);
            ref.output = dot == std::string::npos ? "" : text.substr(dot + 1);
            ref.location = v.location();
            def.inputs.push_back(std::move(ref));
        };
        if (key == "input") {
            if (value.is_list()) {
                diags_.error(
                    "invalid_type", value.location(),
                    "`input` of '" + def.name + "' takes one name; use `inputs:` for a list");
                return;
            }
            add(value);
        } else if (!value.is_list()) {
            diags_.error("invalid_type", value.location(),
                         "`inputs` of '" + def.name + "' must be a list like `[a, b]`, got " +
                             kind_word(value),
                         "or write `input: " + (value.is_scalar() ? value.as_string() : "a") + "`");
        } else {
            for (const ConfigValue& v : value.items()) {
                add(v);
            }
        }
    }

    void read_watermark(ComponentDef& def, const ConfigValue& v, const std::string& where) {
        if (!v.is_map()) {
            diags_.error("expected_map", v.location(),
                         "`watermark` of " + where +
                             " must be a map like `{max_out_of_orderness: 5s}`, got " +
                             kind_word(v));
            return;
        }
        for (const auto& [key, value] : v.entries()) {
            if (key == "max_out_of_orderness") {
                if (auto c = convert_param(Param::duration(key), value, where, diags_)) {
                    def.watermark.max_out_of_orderness_ms = c->as_int();
                }
            } else if (key == "idle_timeout") {
                if (auto c = convert_param(Param::duration(key).min(1), value, where, diags_)) {
                    def.watermark.idle_timeout_ms = c->as_int();
                }
            } else {
                diags_.error("unknown_field", value.location(),
                             "unknown key '" + key + "' in `watermark`",
                             hint_or(did_you_mean(key, kWatermarkKeys),
                                     "`watermark` takes " + join(kWatermarkKeys)));
            }
        }
    }

    void order_components() {
        for (ComponentKind kind :
             {ComponentKind::kSource, ComponentKind::kOperator, ComponentKind::kSink}) {
            for (ComponentDef& def : components_) {
                if (def.kind == kind) {
                    topo_.components.push_back(std::move(def));
                }
            }
        }
        components_.clear();
    }

    /// scale_out: each operator keyed by another field than the partitioning
    /// of the source its inputs come from reads them through a repartition
    /// topic (docs/scale-out.md, "Repartition"): a kafka sink writes them to
    /// `<topology>-<op>-repartition` keyed by the operator's key, and a
    /// kafka source with scale_out, in a group of its own, reads that topic for
    /// the operator. Operators upstream of others first, so that a chain
    /// (by item, then by user again) gets a topic per change of key.
    void add_repartitions() {
        for (size_t round = 0; round <= topo_.components.size(); ++round) {
            std::optional<RepartitionPlan> plan = plan_repartition(topo_);
            if (!plan) {
                return;
            }
            const ComponentDef op = topo_.components[plan->op];
            const ComponentDef upstream = topo_.components[plan->upstream];
            if (upstream.config.has("until_end") && upstream.config.boolean("until_end")) {
                diags_.error("invalid_option", op.key_location,
                             "operator '" + op.name + "' keys by '" + op.key +
                                 "', so it reads its input through a repartition topic, which "
                                 "is read until the job stops; source '" +
                                 upstream.name + "' has until_end: true, which cannot end it",
                             "remove until_end from '" + upstream.name + "', or key '" + op.name +
                                 "' by '" + upstream.config.string("key_field") + "'");
            }
            RepartitionDef r;
            r.op = op.name;
            r.upstream = upstream.name;
            r.source = op.name + "-repartition";
            r.sink = op.name + "-repartition-writer";
            r.topic = topo_.job_name() + "-" + op.name + "-repartition";
            size_t errors = diags_.error_count();
            read_component(ComponentKind::kSink, r.sink,
                           repartition_sink_body(op, upstream, r.topic));
            read_component(ComponentKind::kSource, r.source,
                           repartition_source_body(op, upstream, r.topic));
            // In their groups: the source after the sources, the sink last.
            for (ComponentDef& def : components_) {
                if (def.kind == ComponentKind::kSource) {
                    def.watermark = upstream.watermark;
                    auto last_source = std::find_if(
                        topo_.components.begin(), topo_.components.end(),
                        [](const ComponentDef& c) { return c.kind != ComponentKind::kSource; });
                    topo_.components.insert(last_source, std::move(def));
                } else {
                    topo_.components.push_back(std::move(def));
                }
            }
            components_.clear();
            if (diags_.error_count() > errors) {
                return;  // a name taken, say: reported at the operator's key
            }
            ComponentDef& reader = topo_.components[static_cast<size_t>(topo_.find(op.name))];
            reader.inputs = {InputRef{r.source, "", op.key_location}};
            topo_.repartitions.push_back(std::move(r));
        }
    }

    /// A transactional sink takes the writers of repartition topics into its
    /// transactions (docs/scale-out.md, "Repartition"), unless they write to
    /// another cluster: say so where it matters.
    void warn_repartitions_outside_transactions() {
        if (topo_.repartitions.empty()) {
            return;
        }
        auto brokers = [](const ComponentDef& c) {
            return c.config.has("brokers") ? c.config.string("brokers") : std::string();
        };
        for (const ComponentDef& c : topo_.components) {
            if (c.kind != ComponentKind::kSink || c.type != "kafka" || c.spec == nullptr ||
                !c.config.has("transactional") || !c.config.boolean("transactional")) {
                continue;
            }
            for (const RepartitionDef& r : topo_.repartitions) {
                const ComponentDef& writer =
                    topo_.components[static_cast<size_t>(topo_.find(r.sink))];
                if (brokers(writer) == brokers(c)) {
                    continue;
                }
                int op = topo_.find(r.op);
                diags_.warning("repartition_not_transactional",
                               topo_.components[static_cast<size_t>(op)].key_location,
                               "operator '" + r.op + "' reads through repartition topic '" +
                                   r.topic + "' on brokers '" + brokers(writer) +
                                   "', and the transactions of sink '" + c.name +
                                   "' are on brokers '" + brokers(c) +
                                   "' (a transaction spans one cluster): after a crash its "
                                   "state may count some events twice",
                               "give sink '" + c.name + "' the brokers of '" + r.upstream +
                                   "', or key '" + r.op +
                                   "' by its input's key_field (docs/scale-out.md, "
                                   "\"Repartition\")");
            }
        }
    }

    /// `dead_letter: NAME`: every `errors` output that nothing reads becomes
    /// an input of the sink NAME, so no rejected record is only counted.
    void route_dead_letters() {
        if (topo_.dead_letter.empty()) {
            return;
        }
        int d = topo_.find(topo_.dead_letter);
        std::vector<std::string> sinks;
        for (const ComponentDef& c : topo_.components) {
            if (c.kind == ComponentKind::kSink) {
                sinks.push_back(c.name);
            }
        }
        if (d < 0 || topo_.components[static_cast<size_t>(d)].kind != ComponentKind::kSink) {
            diags_.error("unknown_component", dead_letter_location_,
                         "`dead_letter` must name a sink of this topology, got '" +
                             topo_.dead_letter + "'" +
                             (d < 0 ? std::string()
                                    : " (a " +
                                          std::string(component_kind_name(
                                              topo_.components[static_cast<size_t>(d)].kind)) +
                                          ")"),
                         hint_or(did_you_mean(topo_.dead_letter, sinks),
                                 "add a sink without `input`, e.g. `sinks: {dead_letters: {type: "
                                 "file, path: out/dead_letters.jsonl}}`, and name it"));
            return;
        }
        std::vector<InputRef> routed;
        for (size_t i = 0; i < topo_.components.size(); ++i) {
            const ComponentDef& c = topo_.components[i];
            if (static_cast<int>(i) != d &&
                topo_.consumers(static_cast<int>(i), "errors").empty()) {
                routed.push_back(InputRef{c.name, "errors", dead_letter_location_});
            }
        }
        ComponentDef& sink = topo_.components[static_cast<size_t>(d)];
        if (routed.empty() && sink.inputs.empty()) {
            diags_.error("missing_field", dead_letter_location_,
                         "`dead_letter` sink '" + sink.name +
                             "' would read nothing: every `errors` output is already read",
                         "remove `dead_letter`, or give the sink an `input`");
            declares_input_.insert(sink.name);  // reported here, not as a missing input
            return;
        }
        sink.inputs.insert(sink.inputs.end(), routed.begin(), routed.end());
    }

    void check_graph() {
        std::vector<std::string> upstream_names;
        for (const ComponentDef& c : topo_.components) {
            if (c.kind != ComponentKind::kSink) {
                upstream_names.push_back(c.name);
            }
        }
        for (const ComponentDef& c : topo_.components) {
            // A malformed `input` was reported where it is written.
            if (c.kind != ComponentKind::kSource && c.inputs.empty() && c.spec != nullptr &&
                declares_input_.count(c.name) == 0) {
                diags_.error(
                    "missing_field", c.location,
                    std::string(component_kind_name(c.kind)) + " '" + c.name + "' has no `input`",
                    "add `input: <name>` naming a source or operator");
            }
            for (const InputRef& in : c.inputs) {
                check_input(c, in, upstream_names);
            }
        }
        check_cycles();
        warn_unused();
    }

    // `renamed_from:` names the operator's old name, under which the state dir
    // holds its state: one claim per old name, and not a name still in use.
    void check_renames() {
        std::map<std::string, const ComponentDef*> claims;
        for (const ComponentDef& c : topo_.components) {
            if (c.kind != ComponentKind::kOperator || c.renamed_from.empty()) {
                continue;
            }
            int j = topo_.find(c.renamed_from);
            if (j >= 0 &&
                topo_.components[static_cast<size_t>(j)].kind == ComponentKind::kOperator) {
                diags_.error("invalid_option", c.renamed_from_location,
                             "`renamed_from: " + c.renamed_from + "` of operator '" + c.name +
                                 "' names an operator that is still in the topology",
                             "renamed_from takes the operator's name before the rename; remove "
                             "it once the renamed job has run");
                continue;
            }
            auto [prev, added] = claims.emplace(c.renamed_from, &c);
            if (!added) {
                diags_.error(
                    "invalid_option", c.renamed_from_location,
                    "operators '" + prev->second->name + "' and '" + c.name +
                        "' both say `renamed_from: " + c.renamed_from +
                        "`; one operator's state cannot move to two",
                    "keep renamed_from on the operator that continues '" + c.renamed_from + "'");
            }
        }
    }

    void check_input(const ComponentDef& c, const InputRef& in,
                     const std::vector<std::string>& names) {
        int j = topo_.find(in.component);
        if (j < 0) {
            diags_.error("unknown_input", in.location,
                         "input '" + in.to_string() + "' of '" + c.name + "' names no component",
                         hint_or(did_you_mean(in.component, names), "components: " + join(names)));
            return;
        }
        const ComponentDef& up = topo_.components[static_cast<size_t>(j)];
        if (up.kind == ComponentKind::kSink && in.output != "errors") {
            diags_.error(
                "invalid_input", in.location,
                "input '" + in.to_string() + "' of '" + c.name +
                    "' is a sink, whose only output is `errors` (the records it "
                    "could not write)",
                "read from the component that feeds the sink, or from `" + up.name + ".errors`");
            return;
        }
        if (in.component == c.name) {
            return;  // reported as a cycle
        }
        if (up.spec == nullptr || in.output.empty() || up.spec->has_output(in.output)) {
            return;
        }
        std::vector<std::string> outputs = {"errors"};
        for (const OutputSpec& o : up.spec->outputs) {
            outputs.push_back(o.name);
        }
        diags_.error("unknown_output", in.location,
                     "input '" + in.to_string() + "' of '" + c.name + "': '" + up.name + "' (" +
                         up.type + ") has no output '" + in.output + "'",
                     hint_or(did_you_mean(in.output, outputs), "outputs of '" + up.name +
                                                                   "': main (write `" + up.name +
                                                                   "`), " + join(outputs, ", ")));
    }

    void check_cycles() {
        size_t n = topo_.components.size();
        std::vector<int> state(n, 0);
        std::vector<int> path;
        std::set<std::string> reported;
        std::function<void(int)> visit = [&](int i) {
            state[static_cast<size_t>(i)] = 1;
            path.push_back(i);
            for (const InputRef& in : topo_.components[static_cast<size_t>(i)].inputs) {
                int j = topo_.find(in.component);
                if (j < 0) {
                    continue;
                }
                if (state[static_cast<size_t>(j)] == 1) {
                    // The path runs against the data (each step reads the next); reversed,
                    // it follows the records. Start at the first component in the file.
                    std::vector<int> members(std::find(path.begin(), path.end(), j), path.end());
                    std::reverse(members.begin(), members.end());
                    std::rotate(members.begin(), std::min_element(members.begin(), members.end()),
                                members.end());
                    std::vector<std::string> cycle;
                    for (int m : members) {
                        cycle.push_back(topo_.components[static_cast<size_t>(m)].name);
                    }
                    cycle.push_back(cycle.front());
                    std::string text = join(cycle, " -> ");
                    std::set<std::string> names(cycle.begin(), cycle.end());
                    std::string id = join(std::vector<std::string>(names.begin(), names.end()));
                    if (reported.insert(id).second) {
                        diags_.error("cycle", in.location, "the topology has a cycle: " + text,
                                     "stream topologies must be acyclic; feed back through a sink "
                                     "and source");
                    }
                } else if (state[static_cast<size_t>(j)] == 0) {
                    visit(j);
                }
            }
            path.pop_back();
            state[static_cast<size_t>(i)] = 2;
        };
        for (size_t i = 0; i < n; ++i) {
            if (state[i] == 0) {
                visit(static_cast<int>(i));
            }
        }
    }

    void warn_unused() {
        for (size_t i = 0; i < topo_.components.size(); ++i) {
            const ComponentDef& c = topo_.components[i];
            if (c.kind == ComponentKind::kSink || c.spec == nullptr) {
                continue;
            }
            if (topo_.consumers(static_cast<int>(i), "").empty()) {
                diags_.warning("unused_output", c.location,
                               "the output of " + std::string(component_kind_name(c.kind)) + " '" +
                                   c.name + "' is not read by any operator or sink",
                               "add a sink with `input: " + c.name + "` or remove it");
            }
            for (const OutputSpec& o : c.spec->outputs) {
                if (topo_.consumers(static_cast<int>(i), o.name).empty()) {
                    diags_.warning(
                        "unused_output", c.location,
                        "output '" + c.name + "." + o.name +
                            "' is not read; its records are counted and dropped",
                        "add a sink with `input: " + c.name + "." + o.name + "` to keep them");
                }
            }
        }
    }

    const Registry& registry_;
    Diagnostics& diags_;
    Topology topo_;
    std::vector<ComponentDef> components_;
    std::map<std::string, Location> names_;
    std::set<std::string> declares_input_;
    std::vector<Location> serve_view_locations_;
    Location dead_letter_location_;  ///< Components with an `input` or `inputs` key.
};

}  // namespace

std::optional<Topology> validate_topology(const ConfigValue& root, const Registry& registry,
                                          Diagnostics& diags) {
    Validator v(registry, diags);
    return v.run(root);
}

std::optional<Topology> load_topology(const std::string& path, const Registry& registry,
                                      Diagnostics& diags) {
    auto root = load_yaml_file(path, diags);
    if (!root) {
        return std::nullopt;
    }
    return validate_topology(*root, registry, diags);
}

}  // namespace eddy
