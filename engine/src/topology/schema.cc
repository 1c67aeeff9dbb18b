// SPDX-License-Identifier: Apache-2.0
#include "topology/schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <regex>
#include <set>

#include "eddy/json_writer.h"
#include "eddy/units.h"

#include "topology/diagnostic.h"
#include "topology/scalar.h"
#include "topology/topology.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

// The loader expands `${NAME}` and `${NAME:-default}` in every scalar (`$${`
// is a literal `${`), so any scalar holding one may stand for any type.
constexpr const char* kEnvPattern = "(^|[^$])\\$\\{[^}]+\\}";
constexpr const char* kEnvRef = "#/definitions/env";
// parse_duration_ms(): one or more number+unit pairs, surrounding blanks trimmed.
constexpr const char* kDurationPattern = "^\\s*([0-9]+(ms|s|m|h|d|w))+\\s*$";
// parse_size_bytes(): a number, then optionally a unit.
constexpr const char* kSizePattern = "^\\s*[0-9]+\\s*(KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|B)?\\s*$";

std::string or_env(const char* pattern) {
    return std::string("(") + pattern + ")|(" + kEnvPattern + ")";
}

/// Writes a bound: exact integers as integers, others as doubles.
void write_number(JsonWriter& j, double v) {
    if (std::trunc(v) == v && std::fabs(v) < 9.0e15) {
        j.value(static_cast<int64_t>(v));
    } else {
        j.value(v);
    }
}

/// A plain YAML scalar as a YAML 1.2 core-schema editor reads it (null, bool,
/// int, float, else string): how an untyped default is shown.
void write_core_scalar(JsonWriter& j, const std::string& text) {
    static const std::set<std::string> kNulls = {"", "~", "null", "Null", "NULL"};
    static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
    if (kNulls.count(text) > 0) {
        j.value(nullptr);
    } else if (text == "true" || text == "True" || text == "TRUE") {
        j.value(true);
    } else if (text == "false" || text == "False" || text == "FALSE") {
        j.value(false);
    } else if (auto i = parse_yaml_int(text[0] == '+' ? text.substr(1) : text)) {
        j.value(*i);
    } else if (auto d = std::regex_match(text, kFloat) ? parse_yaml_double(text) : std::nullopt) {
        j.value(*d);
    } else {
        j.value(text);
    }
}

/// What a word eddy accepts, like `true` or `10`, is to YAML 1.2 when written
/// plainly (eddy reads it back as the word), as JSON; nullopt for a string. A
/// plain `null` is no value to a parameter, but the validator reads it as the
/// type name of the `null` sink (`with_null`).
std::optional<std::string> other_spelling(const std::string& text, bool with_null) {
    JsonWriter typed;
    write_core_scalar(typed, text);
    if (typed.str()[0] == '"' || (!with_null && typed.str() == "null")) {
        return std::nullopt;
    }
    return typed.str();
}

/// The values an editor sees for the word `text` of eddy's: the string and its other spelling.
void write_spellings(JsonWriter& j, const std::string& text, bool with_null) {
    j.value(text);
    if (auto other = other_spelling(text, with_null)) {
        j.raw(*other);
    }
}

/// A scalar written as YAML text, typed as parameters of `type` read it.
void write_typed_scalar(JsonWriter& j, ParamType type, const std::string& text) {
    switch (type) {
        case ParamType::kInt:
            if (auto v = parse_yaml_int(text)) {
                j.value(*v);
                return;
            }
            break;
        case ParamType::kDouble:
            if (auto v = parse_yaml_double(text)) {
                j.value(*v);
                return;
            }
            break;
        case ParamType::kBool:
            if (text == "true" || text == "false") {
                j.value(text == "true");
                return;
            }
            break;
        case ParamType::kSize:
            if (auto v = parse_yaml_int(text)) {
                j.value(*v);
                return;
            }
            break;
        case ParamType::kAny:
            write_core_scalar(j, text);
            return;
        default:
            break;
    }
    j.value(text);
}

/// A parsed YAML tree whose scalars are typed by `item` (the parameter's item type).
void write_tree(JsonWriter& j, const ConfigValue& v, ParamType item) {
    if (v.is_list()) {
        j.begin_array();
        for (const ConfigValue& x : v.items()) {
            write_tree(j, x, item);
        }
        j.end_array();
    } else if (v.is_map()) {
        j.begin_object();
        for (const auto& [k, x] : v.entries()) {
            j.key(k);
            write_tree(j, x, item);
        }
        j.end_object();
    } else if (v.is_null()) {
        j.value(nullptr);
    } else {
        write_typed_scalar(j, item == ParamType::kMap ? ParamType::kAny : item, v.as_string());
    }
}

/// A default or example value (YAML text) as the JSON an editor would show.
void write_yaml_value(JsonWriter& j, const Param& p, const std::string& text) {
    bool quoted = !text.empty() && (text[0] == '"' || text[0] == '\'');
    if (p.type() != ParamType::kList && p.type() != ParamType::kMap &&
        p.type() != ParamType::kAny && !quoted) {
        write_typed_scalar(j, p.type(), text);
        return;
    }
    Diagnostics scratch;
    auto tree = text.empty() ? std::nullopt : load_yaml_text(text, "<default>", scratch);
    if (!tree || scratch.has_errors()) {
        j.value(text);
        return;
    }
    if (tree->is_scalar() && !tree->is_null()) {
        bool container = p.type() == ParamType::kList || p.type() == ParamType::kMap;
        write_typed_scalar(j, container ? ParamType::kAny : p.type(), tree->as_string());
    } else if (p.type() == ParamType::kAny || tree->is_scalar()) {
        write_tree(j, *tree, ParamType::kAny);
    } else {
        write_tree(j, *tree, p.item_type());
    }
}

std::string range_text(const Param& p, ParamType type) {
    auto fmt = [&](double b) {
        return type == ParamType::kDuration ? format_duration_ms(static_cast<int64_t>(b))
                                            : format_size_bytes(static_cast<uint64_t>(b));
    };
    if (p.min_value() && p.max_value()) {
        return ", between " + fmt(*p.min_value()) + " and " + fmt(*p.max_value());
    }
    if (p.min_value()) {
        return ", at least " + fmt(*p.min_value());
    }
    if (p.max_value()) {
        return ", at most " + fmt(*p.max_value());
    }
    return "";
}

/// Writes the keywords (into an open object) that check a value of `type`;
/// `p` gives the range and enum values.
void write_type_keywords(JsonWriter& j, ParamType type, const Param& p) {
    auto bounded = [&](const char* json_type, double lowest) {
        j.key("anyOf").begin_array().begin_object().field("type", json_type);
        if (p.min_value() || lowest > -INFINITY) {
            j.key("minimum");
            write_number(j, std::max(p.min_value().value_or(lowest), lowest));
        }
        if (p.max_value()) {
            j.key("maximum");
            write_number(j, *p.max_value());
        }
        j.end_object();
    };
    switch (type) {
        case ParamType::kString:
            // The validator reads any scalar as text: `topic: 42` is the topic "42".
            j.key("type").begin_array().value("string").value("number").value("boolean");
            j.end_array();
            return;
        case ParamType::kInt:
            bounded("integer", -INFINITY);
            j.begin_object().field("$ref", kEnvRef).end_object().end_array();
            return;
        case ParamType::kDouble:
            bounded("number", -INFINITY);
            j.begin_object().field("$ref", kEnvRef).end_object().end_array();
            return;
        case ParamType::kBool:
            j.key("anyOf").begin_array();
            j.begin_object().field("type", "boolean").end_object();
            j.begin_object().field("$ref", kEnvRef).end_object().end_array();
            return;
        case ParamType::kDuration:
            j.field("type", "string").field("pattern", or_env(kDurationPattern));
            return;
        case ParamType::kSize:
            bounded("integer", 0);
            j.begin_object().field("type", "string").field("pattern", or_env(kSizePattern));
            j.end_object().end_array();
            return;
        case ParamType::kEnum: {
            j.key("anyOf").begin_array().begin_object().key("enum").begin_array();
            for (const std::string& v : p.values()) {
                write_spellings(j, v, false);
            }
            j.end_array().end_object();
            j.begin_object().field("$ref", kEnvRef).end_object().end_array();
            return;
        }
        case ParamType::kList:
            j.field("type", "array").key("items").begin_object();
            if (p.item_type() == ParamType::kMap) {
                j.field("type", "object");
            } else if (p.item_type() != ParamType::kAny) {
                write_type_keywords(j, p.item_type(), p);
            }
            j.end_object();
            return;
        case ParamType::kMap:
            j.field("type", "object").key("additionalProperties").begin_object();
            if (p.item_type() != ParamType::kAny) {
                write_type_keywords(j, p.item_type(), p);
            }
            j.end_object();
            return;
        case ParamType::kAny:
            return;
    }
}

std::string param_description(const Param& p) {
    std::string text = p.doc_text();
    ParamType shown =
        p.type() == ParamType::kList || p.type() == ParamType::kMap ? p.item_type() : p.type();
    if (shown == ParamType::kDuration) {
        text += " A duration like `30s` (units ms, s, m, h, d, w)" + range_text(p, shown) + ".";
    } else if (shown == ParamType::kSize) {
        text += " A size like `64MB` (KB, MB, GB: powers of 1024)" + range_text(p, shown) + ".";
    }
    return text;
}

void write_param(JsonWriter& j, const Param& p) {
    j.key(p.name()).begin_object();
    j.field("description", param_description(p));
    write_type_keywords(j, p.type(), p);
    if (p.default_text()) {
        j.key("default");
        write_yaml_value(j, p, *p.default_text());
    }
    if (!p.example_text().empty()) {
        j.key("examples").begin_array();
        write_yaml_value(j, p, p.example_text());
        j.end_array();
    }
    j.end_object();
}

/// A key whose value is checked like a parameter of `p`'s type.
void write_typed_key(JsonWriter& j, const Param& p, std::string_view description) {
    j.key(p.name()).begin_object().field("description", description);
    write_type_keywords(j, p.type(), p);
    j.end_object();
}

void write_text_key(JsonWriter& j, std::string_view name, std::string_view description) {
    write_typed_key(j, Param::string(std::string(name)), description);
}

void write_parallelism(JsonWriter& j, std::string_view description) {
    write_typed_key(j, Param::integer("parallelism").min(1).max(1024), description);
}

/// The keys every component of `kind` may have besides its parameters, as
/// the validator's reserved_keys() (`type` is written by the caller).
void write_reserved_keys(JsonWriter& j, const ComponentSpec& spec) {
    write_text_key(j, "description", "What this component is for (shown in the plan).");
    if (spec.kind == ComponentKind::kSource) {
        j.key("watermark").begin_object();
        j.field("description",
                "How far behind its largest event time this source's watermark stays, and "
                "when a source without data stops holding it back.");
        j.field("type", "object").key("properties").begin_object();
        write_typed_key(j, Param::duration("max_out_of_orderness"),
                        "How late records may be: the watermark is the largest event time "
                        "minus this, minus 1 ms. Default 0s. A duration like `5s`.");
        write_typed_key(j, Param::duration("idle_timeout").min(1),
                        "After this long without data the source stops holding back the "
                        "watermark downstream. A duration like `30s`.");
        j.end_object().field("additionalProperties", false).end_object();
        return;
    }
    j.key("input").begin_object();
    j.field("description",
            "The upstream component: a source or operator name, or `name.output` for a named "
            "output (every component has `errors`).");
    j.key("type").begin_array().value("string").value("number").value("boolean").end_array();
    j.end_object();
    j.key("inputs").begin_object();
    j.field("description", "Several upstream components (instead of `input`).");
    j.field("type", "array").key("items").begin_object().key("type").begin_array();
    j.value("string").value("number").value("boolean").end_array().end_object().end_object();
    if (spec.kind != ComponentKind::kOperator) {
        return;
    }
    if (spec.key != KeyMode::kNone) {
        write_text_key(j, "key",
                       spec.key == KeyMode::kRequired
                           ? "The field whose value partitions this operator's state. Required."
                           : "The field whose value partitions this operator's state.");
        write_typed_key(j, Param::duration("state_ttl").min(1),
                        "Drop the state of keys untouched this long in event time. A duration "
                        "like `30d`.");
    }
    write_parallelism(j, "Shards for this operator; default: the topology's `parallelism`.");
    write_text_key(j, "renamed_from",
                   "The operator's name before a rename: on start, the state stored under that "
                   "name moves to this one (docs/upgrading.md).");
}

std::string component_description(const ComponentSpec& spec) {
    std::string text = spec.summary;
    if (!spec.origin.empty() && spec.origin != "built-in") {
        text += " (" + spec.origin + ")";
    }
    return text;
}

/// Whether the validator reads `key` of a component of `kind` as a reserved
/// key rather than as a parameter (a parameter of that name is never read).
bool is_reserved(ComponentKind kind, std::string_view key) {
    if (key == "type" || key == "description") {
        return true;
    }
    switch (kind) {
        case ComponentKind::kSource:
            return key == "watermark";
        case ComponentKind::kOperator:
            return key == "input" || key == "inputs" || key == "key" || key == "parallelism" ||
                   key == "state_ttl" || key == "renamed_from";
        case ComponentKind::kSink:
            return key == "input" || key == "inputs";
    }
    return false;
}

/// `if type == X then {X's keys}` for one component type.
void write_component_case(JsonWriter& j, const ComponentSpec& spec) {
    j.begin_object();
    j.key("if").begin_object().key("properties").begin_object();
    j.key("type").begin_object().key("enum").begin_array();
    write_spellings(j, spec.name, true);
    j.end_array().end_object();
    j.end_object().key("required").begin_array().value("type").end_array().end_object();

    j.key("then").begin_object();
    j.field("description", component_description(spec));
    j.key("properties").begin_object();
    j.key("type").begin_object().key("enum").begin_array();
    write_spellings(j, spec.name, true);
    j.end_array().end_object();
    write_reserved_keys(j, spec);
    for (const Param& p : spec.params) {
        if (!is_reserved(spec.kind, p.name())) {
            write_param(j, p);
        }
    }
    j.end_object();
    j.key("required").begin_array().value("type");
    if (spec.kind == ComponentKind::kOperator && spec.key == KeyMode::kRequired) {
        j.value("key");
    }
    for (const Param& p : spec.params) {
        if (p.is_required()) {
            j.value(p.name());
        }
    }
    j.end_array();
    if (spec.kind == ComponentKind::kOperator && spec.key != KeyMode::kNone) {
        // `state_ttl` applies to keyed state.
        j.key("dependencies").begin_object().key("state_ttl").begin_array().value("key");
        j.end_array().end_object();
    }
    j.field("additionalProperties", false);
    j.end_object();
    j.end_object();
}

void write_component_definition(JsonWriter& j, const Registry& registry, ComponentKind kind) {
    std::vector<const ComponentSpec*> specs = registry.all(kind);
    const char* kind_text = component_kind_name(kind);
    j.key(kind_text).begin_object();
    j.field("description", std::string("A ") + kind_text + ": `type` and its parameters.");
    j.field("type", "object");
    j.key("required").begin_array().value("type").end_array();
    j.key("properties").begin_object().key("type").begin_object();
    j.field("description",
            std::string("The ") + kind_text + " type; `eddy operators TYPE` shows its parameters.");
    j.key("enum").begin_array();
    for (const ComponentSpec* s : specs) {
        write_spellings(j, s->name, true);
    }
    j.end_array();
    // VS Code's JSON and YAML services show these next to each completion.
    j.key("enumDescriptions").begin_array();
    for (const ComponentSpec* s : specs) {
        j.value(component_description(*s));
        if (other_spelling(s->name, true)) {
            j.value(component_description(*s));
        }
    }
    j.end_array();
    j.end_object().end_object();
    if (kind != ComponentKind::kSource) {
        j.key("not").begin_object().key("required").begin_array().value("input").value("inputs");
        j.end_array().end_object();
    }
    j.key("allOf").begin_array();
    for (const ComponentSpec* s : specs) {
        write_component_case(j, *s);
    }
    j.end_array();
    j.end_object();
}

void write_section(JsonWriter& j, ComponentKind kind, std::string_view description) {
    j.key(section_name(kind)).begin_object();
    j.field("description", description);
    j.key("type").begin_array().value("object").value("null").end_array();
    j.key("propertyNames").begin_object();
    j.field("description", "A component name: unique across sections, without '.'.");
    j.field("pattern", "^[^.]+$").end_object();
    j.key("additionalProperties").begin_object();
    j.field("$ref", std::string("#/definitions/") + component_kind_name(kind)).end_object();
    j.end_object();
}

void write_state(JsonWriter& j) {
    j.key("state").begin_object();
    j.field("description",
            "Checkpoints to RocksDB and restore on start (docs/state.md); `dir` turns them on.");
    j.field("type", "object").key("properties").begin_object();
    write_text_key(j, "dir", "The RocksDB directory of this job's state.");
    write_typed_key(j, Param::duration("checkpoint_interval").min(100),
                    "Time between checkpoints; default 10s. A duration like `10s`, at least "
                    "100ms.");
    write_typed_key(j, Param::size("memory").min(1 << 20),
                    "RocksDB block cache and memtables; default 256MB. A size like `256MB`, at "
                    "least 1MB.");
    write_typed_key(j, Param::size("cache").min(1 << 20),
                    "Keyed state kept in memory before it spills to RocksDB; default 1GB. A "
                    "size like `1GB`, at least 1MB.");
    j.end_object().field("additionalProperties", false).end_object();
}

void write_serve(JsonWriter& j) {
    j.key("serve").begin_object();
    j.field("description",
            "The HTTP API of the running job: queryable state, recommendations, profiles, "
            "segments, /metrics (docs/serving.md).");
    j.field("type", "object").key("properties").begin_object();
    write_text_key(j, "listen",
                   "host:port to listen on, e.g. `127.0.0.1:8080`; `eddy run --http` "
                   "overrides it.");
    write_text_key(j, "token_env",
                   "The environment variable holding the bearer token (required unless "
                   "`listen` is a loopback address).");
    write_text_key(j, "token_file", "A file holding the bearer token (instead of `token_env`).");
    write_typed_key(j, Param::size("max_key_bytes").min(1).max(64 << 10),
                    "The longest key a query may name; default 256. A size, at most 64KB.");
    write_typed_key(j, Param::size("max_request_bytes").min(1024).max(64 << 20),
                    "The largest request; default 16KB. A size between 1KB and 64MB.");
    write_typed_key(j, Param::integer("max_connections").min(1).max(4096),
                    "Concurrent connections; default 64.");
    write_typed_key(j, Param::duration("query_timeout").min(1).max(600'000),
                    "Time a query may take; default 2s. A duration, at most 10m.");
    j.key("views").begin_object();
    j.field("description",
            "Which operator answers each view; by default the operators of types `recommend`, "
            "`profile`, and `segment` or `kmeans`.");
    j.field("type", "object").key("properties").begin_object();
    for (const char* view : {"recommendations", "profiles", "segments"}) {
        write_text_key(j, view, std::string("The operator that answers `") + view + "`.");
    }
    j.end_object().field("additionalProperties", false).end_object();
    j.end_object().field("additionalProperties", false);
    j.key("not").begin_object().key("required").begin_array().value("token_env");
    j.value("token_file").end_array().end_object();
    j.end_object();
}

}  // namespace

std::string topology_schema(const Registry& registry) {
    JsonWriter j;
    j.begin_object();
    j.field("$schema", "http://json-schema.org/draft-07/schema#");
    j.field("title", "Eddy topology");
    j.field("description",
            "A topology file for `eddy run` (docs/yaml.md), generated by `eddy schema` from the "
            "component specs.");
    j.field("type", "object");
    j.key("required").begin_array().value("sources").value("sinks").end_array();
    j.key("properties").begin_object();
    write_text_key(j, "name", "The job's name, shown in logs and the plan.");
    write_text_key(j, "description", "What the job is for.");
    write_parallelism(j, "Shards per keyed operator; default 1.");
    write_state(j);
    j.key("plugins").begin_object();
    j.field("description",
            "Operator plugins to load before validation: a path (relative to the working "
            "directory, then to this file) or a bare name searched in EDDY_PLUGIN_PATH.");
    j.field("type", "array").key("items").begin_object().key("type").begin_array();
    j.value("string").value("number").value("boolean").end_array().end_object().end_object();
    write_serve(j);
    write_text_key(j, "dead_letter",
                   "A sink that receives every `errors` output no other component reads.");
    write_typed_key(
        j, Param::enumeration("log_level", {"trace", "debug", "info", "warn", "error", "off"}),
        "The log level of `eddy run` unless `--log-level` is given; a reload "
        "(`eddy run --watch`, SIGHUP) applies a change live.");
    write_section(j, ComponentKind::kSource, "Sources by name: where records come from.");
    write_section(j, ComponentKind::kOperator,
                  "Operators by name: each reads `input` or `inputs` and emits records.");
    write_section(j, ComponentKind::kSink, "Sinks by name: where records go.");
    // `eddy test` cases; their format is checked by `eddy test`, not here.
    j.key("tests").begin_object();
    j.field("description", "Test cases run by `eddy test` (not checked by this schema).");
    j.key("type").begin_array().value("array").value("object").end_array().end_object();
    j.end_object();
    j.field("additionalProperties", false);

    j.key("definitions").begin_object();
    j.key("env").begin_object();
    j.field("description",
            "An environment variable, `${NAME}` or `${NAME:-default}`, replaced when the file "
            "is loaded.");
    j.field("type", "string").field("pattern", kEnvPattern).end_object();
    for (ComponentKind kind :
         {ComponentKind::kSource, ComponentKind::kOperator, ComponentKind::kSink}) {
        write_component_definition(j, registry, kind);
    }
    j.end_object();
    j.end_object();
    return indent_json(j.str());
}

namespace {

/// The end of the array opening at `json[open]` when it holds only scalars
/// (written on one line), else npos.
size_t flat_array_end(std::string_view json, size_t open) {
    bool in_string = false;
    for (size_t i = open + 1; i < json.size(); ++i) {
        char c = json[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            return std::string_view::npos;
        } else if (c == ']') {
            return i;
        }
    }
    return std::string_view::npos;
}

}  // namespace

std::string indent_json(std::string_view json) {
    std::string out;
    out.reserve(json.size() * 2);
    int depth = 0;
    bool in_string = false;
    size_t flat_end = std::string_view::npos;  // inside a one-line array until here
    auto newline = [&] {
        out += '\n';
        out.append(static_cast<size_t>(depth) * 2, ' ');
    };
    for (size_t i = 0; i < json.size(); ++i) {
        char c = json[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < json.size()) {
                out += json[++i];
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                out += c;
                break;
            case '[':
                if (flat_end = flat_array_end(json, i); flat_end != std::string_view::npos) {
                    out += c;
                    break;
                }
                [[fallthrough]];
            case '{':
                out += c;
                if (i + 1 < json.size() && (json[i + 1] == '}' || json[i + 1] == ']')) {
                    out += json[++i];
                } else {
                    ++depth;
                    newline();
                }
                break;
            case ']':
                if (i == flat_end) {
                    flat_end = std::string_view::npos;
                    out += c;
                    break;
                }
                [[fallthrough]];
            case '}':
                --depth;
                newline();
                out += c;
                break;
            case ',':
                out += c;
                if (flat_end != std::string_view::npos) {
                    out += ' ';
                } else {
                    newline();
                }
                break;
            case ':':
                out += ": ";
                break;
            default:
                out += c;
        }
    }
    out += '\n';
    return out;
}

}  // namespace eddy
