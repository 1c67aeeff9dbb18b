// SPDX-License-Identifier: Apache-2.0
#include "testing/test_file.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "eddy/json_writer.h"
#include "eddy/units.h"

#include "record/event_time.h"
#include "topology/scalar.h"
#include "topology/suggest.h"

namespace eddy::topology_tests {
namespace {

const std::vector<std::string> kCaseKeys = {"name", "clock", "steps", "expect"};
const std::vector<std::string> kStepKinds = {
    "input", "advance_watermark", "watermark", "advance_time", "time", "end_of_input"};
const std::vector<std::string> kInputKeys = {"to", "records", "lines", "file"};
const std::vector<std::string> kOutputKeys = {"output",  "count",    "empty",
                                              "records", "contains", "where"};
const std::vector<std::string> kStateKeys = {"operator", "key", "name", "exists", "fields"};
const std::vector<std::string> kConditionKeys = {"equals", "approx", "tolerance",
                                                 "exists", "min",    "max"};

std::string hint_keys(const std::string& key, const std::vector<std::string>& allowed,
                      const std::string& what) {
    std::string guess = did_you_mean(key, allowed);
    return guess.empty() ? what + " takes " + join(allowed) : guess;
}

/// Reads a file's YAML text back to tell quoted scalars from plain ones,
/// which the loaded tree no longer does.
class QuoteReader {
public:
    explicit QuoteReader(const std::string& text) : text_(text) {
        starts_.push_back(0);
        for (size_t i = 0; i < text_.size(); ++i) {
            if (text_[i] == '\n') {
                starts_.push_back(i + 1);
            }
        }
    }

    /// Whether the scalar at `loc` (a list item's own place, or with
    /// `at_key` its map key's place) is quoted.
    bool quoted(const Location& loc, bool at_key) const {
        if (loc.line <= 0 || static_cast<size_t>(loc.line) > starts_.size()) {
            return false;
        }
        size_t i = starts_[static_cast<size_t>(loc.line - 1)] + static_cast<size_t>(loc.column - 1);
        if (i >= text_.size()) {
            return false;
        }
        if (at_key) {
            if (text_[i] == '"' || text_[i] == '\'') {
                char q = text_[i];
                ++i;
                while (i < text_.size() && text_[i] != q) {
                    i += text_[i] == '\\' && q == '"' ? 2 : 1;
                }
                ++i;
            }
            while (i < text_.size() && text_[i] != ':' && text_[i] != '\n') {
                ++i;
            }
            if (i < text_.size() && text_[i] == ':') {
                ++i;
            }
            while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t')) {
                ++i;
            }
        }
        return i < text_.size() && (text_[i] == '"' || text_[i] == '\'');
    }

private:
    const std::string& text_;
    std::vector<size_t> starts_;
};

void write_literal_json(const Literal& l, JsonWriter& j) {
    switch (l.kind) {
        case Literal::Kind::kNull:
            j.value(nullptr);
            return;
        case Literal::Kind::kList:
            j.begin_array();
            for (const Literal& item : l.items) {
                write_literal_json(item, j);
            }
            j.end_array();
            return;
        case Literal::Kind::kMap:
            j.begin_object();
            for (const auto& [key, member] : l.members) {
                j.key(key);
                write_literal_json(member, j);
            }
            j.end_object();
            return;
        case Literal::Kind::kScalar:
            break;
    }
    if (!l.quoted) {
        if (auto b = parse_yaml_bool(l.text)) {
            j.value(*b);
            return;
        }
        if (auto i = parse_yaml_int(l.text)) {
            j.value(*i);
            return;
        }
        if (auto d = parse_yaml_double(l.text)) {
            j.value(*d);
            return;
        }
    }
    j.value(l.text);
}

class Reader {
public:
    Reader(const std::string& text, std::string base_dir, Diagnostics& diags)
        : quotes_(text), base_dir_(std::move(base_dir)), diags_(diags) {}

    std::vector<TestCase> read(const ConfigValue& tests) {
        std::vector<TestCase> cases;
        if (!tests.is_list()) {
            error(tests.location(), "`tests` must be a list of cases, got " + shape(tests),
                  "write `tests:` then `- name: ...` items with `steps:` and `expect:`");
            return cases;
        }
        for (const ConfigValue& item : tests.items()) {
            size_t before = diags_.error_count();
            TestCase c = read_case(item);
            if (diags_.error_count() == before) {
                cases.push_back(std::move(c));
            }
        }
        return cases;
    }

private:
    void error(const Location& loc, std::string message, std::string hint = {}) {
        diags_.error("invalid_test", loc, std::move(message), std::move(hint));
    }

    static std::string shape(const ConfigValue& v) {
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

    Literal literal(const ConfigValue& v, bool at_key) const {
        Literal l;
        l.location = v.location();
        if (v.is_null()) {
            l.kind = Literal::Kind::kNull;
        } else if (v.is_list()) {
            l.kind = Literal::Kind::kList;
            for (const ConfigValue& item : v.items()) {
                l.items.push_back(literal(item, false));
            }
        } else if (v.is_map()) {
            l.kind = Literal::Kind::kMap;
            for (const auto& [key, member] : v.entries()) {
                l.members.emplace_back(key, literal(member, true));
            }
        } else {
            l.kind = Literal::Kind::kScalar;
            l.text = v.as_string();
            l.quoted = quotes_.quoted(v.location(), at_key);
        }
        return l;
    }

    std::optional<std::string> text(const ConfigValue& v, const std::string& what) {
        if (!v.is_scalar() || v.is_null() || v.as_string().empty()) {
            error(v.location(), what + " must be a non-empty string, got " + shape(v));
            return std::nullopt;
        }
        return v.as_string();
    }

    std::optional<double> number(const ConfigValue& v, const std::string& what) {
        std::optional<double> d = v.is_scalar() ? parse_yaml_double(v.as_string()) : std::nullopt;
        if (!d) {
            error(v.location(), what + " must be a number, got " + shape(v));
        }
        return d;
    }

    std::optional<bool> boolean(const ConfigValue& v, const std::string& what) {
        std::optional<bool> b = v.is_scalar() ? parse_yaml_bool(v.as_string()) : std::nullopt;
        if (!b) {
            error(v.location(), what + " must be `true` or `false`, got " + shape(v));
        }
        return b;
    }

    std::optional<int64_t> duration(const ConfigValue& v, const std::string& what) {
        std::optional<int64_t> ms =
            v.is_scalar() && !v.is_null() ? parse_duration_ms(v.as_string()) : std::nullopt;
        if (!ms || *ms < 0) {
            error(v.location(), what + " must be a duration like `10m`, got " + shape(v),
                  "units are ms, s, m, h, d, w");
            return std::nullopt;
        }
        return ms;
    }

    /// Epoch milliseconds, or an ISO-8601 time.
    std::optional<int64_t> time(const ConfigValue& v, const std::string& what) {
        if (v.is_scalar() && !v.is_null()) {
            if (auto ms = parse_yaml_int(v.as_string())) {
                return ms;
            }
            if (auto ms = parse_iso8601_ms(v.as_string())) {
                return ms;
            }
        }
        error(v.location(),
              what + " must be a time in epoch milliseconds or ISO-8601, got " + shape(v),
              "for example `1735689600000` or `2025-01-01T00:00:00Z`");
        return std::nullopt;
    }

    TestCase read_case(const ConfigValue& item) {
        TestCase c;
        c.location = item.location();
        if (!item.is_map()) {
            error(item.location(), "a test case must be a map, got " + shape(item),
                  "write `- name: ...` with `steps:` and `expect:`");
            return c;
        }
        for (const auto& [key, v] : item.entries()) {
            if (key == "name") {
                if (auto t = text(v, "a case's `name`")) {
                    c.name = *t;
                }
            } else if (key == "clock") {
                if (auto ms = time(v, "`clock`")) {
                    c.clock_ms = *ms;
                }
            } else if (key == "steps") {
                if (!v.is_list()) {
                    error(v.location(), "`steps` must be a list, got " + shape(v));
                    continue;
                }
                for (const ConfigValue& s : v.items()) {
                    read_step(s, c);
                }
            } else if (key == "expect") {
                if (!v.is_list()) {
                    error(v.location(), "`expect` must be a list, got " + shape(v));
                    continue;
                }
                for (const ConfigValue& e : v.items()) {
                    read_expectation(e, c);
                }
            } else {
                error(v.location(), "unknown key '" + key + "' in a test case",
                      hint_keys(key, kCaseKeys, "a test case"));
            }
        }
        if (item.find("name") == nullptr) {
            error(item.location(), "a test case needs a `name`",
                  "name it after the behaviour it checks");
        }
        if (c.expect.empty() && item.find("expect") != nullptr) {
            error(item.find("expect")->location(), "`expect` is empty: the case checks nothing");
        } else if (item.find("expect") == nullptr) {
            error(item.location(), "test case '" + c.name + "' has no `expect:` list",
                  "add `expect:` with `- output: ...` or `- state: ...`");
        }
        for (size_t i = 0; i + 1 < c.steps.size(); ++i) {
            if (c.steps[i].kind == Step::Kind::kEndOfInput) {
                error(c.steps[i].location, "`end_of_input` must be the last step",
                      "nothing can happen after the input has ended");
            }
        }
        return c;
    }

    void read_step(const ConfigValue& s, TestCase& c) {
        Step step;
        step.location = s.location();
        if (s.is_scalar() && !s.is_null() && s.as_string() == "end_of_input") {
            step.kind = Step::Kind::kEndOfInput;
            c.steps.push_back(std::move(step));
            return;
        }
        if (!s.is_map() || s.entries().size() != 1) {
            error(
                s.location(), "a step must be one of " + join(kStepKinds) + ", got " + shape(s),
                "write e.g. `- input: {to: clicks, records: [...]}` or `- advance_watermark: 10m`");
            return;
        }
        const auto& [kind, v] = s.entries()[0];
        step.location = v.location();
        if (kind == "input") {
            step.kind = Step::Kind::kInput;
            read_input(v, step);
        } else if (kind == "advance_watermark" || kind == "advance_time") {
            step.kind =
                kind == "advance_time" ? Step::Kind::kAdvanceTime : Step::Kind::kAdvanceWatermark;
            if (auto ms = duration(v, "`" + kind + "`")) {
                step.ms = *ms;
            }
        } else if (kind == "watermark" || kind == "time") {
            step.kind = kind == "time" ? Step::Kind::kTime : Step::Kind::kWatermark;
            if (auto ms = time(v, "`" + kind + "`")) {
                step.ms = *ms;
            }
        } else if (kind == "end_of_input") {
            step.kind = Step::Kind::kEndOfInput;
            if (auto b = boolean(v, "`end_of_input`"); b && !*b) {
                error(v.location(), "`end_of_input: false` is not a step",
                      "leave the step out: without it the input stays open");
            }
        } else {
            error(s.location(), "unknown step '" + kind + "'",
                  hint_keys(kind, kStepKinds, "a step"));
            return;
        }
        c.steps.push_back(std::move(step));
    }

    void read_input(const ConfigValue& v, Step& step) {
        if (!v.is_map()) {
            error(v.location(),
                  "`input` must be a map like {to: clicks, records: [...]}, got " + shape(v));
            return;
        }
        int bodies = 0;
        for (const auto& [key, value] : v.entries()) {
            if (key == "to") {
                if (auto t = text(value, "`to`")) {
                    step.to = *t;
                }
            } else if (key == "records") {
                ++bodies;
                read_records(value, step);
            } else if (key == "lines") {
                ++bodies;
                read_lines(value, step);
            } else if (key == "file") {
                ++bodies;
                read_fixture(value, step);
            } else {
                error(value.location(), "unknown key '" + key + "' in `input`",
                      hint_keys(key, kInputKeys, "`input`"));
            }
        }
        if (v.find("to") == nullptr) {
            error(v.location(), "`input` needs `to`: the source or operator that receives it");
        }
        if (bodies != 1) {
            error(v.location(), "`input` needs exactly one of `records`, `lines` or `file`");
        }
    }

    void read_records(const ConfigValue& v, Step& step) {
        if (!v.is_list()) {
            error(v.location(), "`records` must be a list of maps, got " + shape(v));
            return;
        }
        int64_t n = 0;
        for (const ConfigValue& r : v.items()) {
            ++n;
            if (!r.is_map()) {
                error(r.location(),
                      "a record must be a map like {ts: 0, user_id: u1}, got " + shape(r),
                      "to send text as the source would read it, use `lines:`");
                continue;
            }
            step.lines.push_back({literal(r, false).to_json(), true, n, r.location()});
        }
    }

    void read_lines(const ConfigValue& v, Step& step) {
        if (!v.is_list()) {
            error(v.location(), "`lines` must be a list of strings, got " + shape(v));
            return;
        }
        int64_t n = 0;
        for (const ConfigValue& l : v.items()) {
            ++n;
            if (!l.is_scalar()) {
                error(l.location(), "a line must be a string, got " + shape(l),
                      "quote it: '{\"ts\": 0}'");
                continue;
            }
            step.lines.push_back({l.as_string(), false, n, l.location()});
        }
    }

    void read_fixture(const ConfigValue& v, Step& step) {
        auto name = text(v, "`file`");
        if (!name) {
            return;
        }
        std::filesystem::path path(*name);
        if (path.is_relative()) {
            path = std::filesystem::path(base_dir_) / path;
        }
        std::ifstream in(path);
        if (!in) {
            error(v.location(), "cannot read fixture file " + path.string(),
                  "`file` is relative to the test file's directory");
            return;
        }
        std::string line;
        int64_t n = 0;
        while (std::getline(in, line)) {
            ++n;
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            if (line.find_first_not_of(" \t") == std::string::npos) {
                continue;
            }
            step.lines.push_back({line, false, n, v.location()});
        }
    }

    void read_expectation(const ConfigValue& e, TestCase& c) {
        if (!e.is_map()) {
            error(e.location(),
                  "an expectation must be a map with `output:` or `state:`, got " + shape(e));
            return;
        }
        Expectation x;
        x.location = e.location();
        if (e.find("state") != nullptr) {
            if (e.entries().size() != 1) {
                error(e.location(), "a `state` expectation takes no other keys",
                      "write `- state: {operator: sessions, key: u1, fields: {...}}`");
                return;
            }
            x.kind = Expectation::Kind::kState;
            read_state(*e.find("state"), x);
        } else if (e.find("output") != nullptr) {
            read_output(e, x);
        } else {
            error(e.location(), "an expectation needs `output:` or `state:`",
                  "write `- output: sessions` with `count`, `records`, `contains`, `where` or "
                  "`empty`, or `- state: {operator: ..., key: ...}`");
            return;
        }
        c.expect.push_back(std::move(x));
    }

    void read_output(const ConfigValue& e, Expectation& x) {
        x.kind = Expectation::Kind::kOutput;
        bool checks = false;
        for (const auto& [key, v] : e.entries()) {
            if (key == "output") {
                if (auto t = text(v, "`output`")) {
                    x.target = *t;
                    size_t dot = t->find('.');
                    x.component = t->substr(0, dot);
                    x.output = dot == std::string::npos ? "" : t->substr(dot + 1);
                }
                continue;
            }
            checks = true;
            if (key == "count") {
                x.count_location = v.location();
                if (v.is_map()) {
                    for (const auto& [bound, b] : v.entries()) {
                        auto n = b.is_scalar() ? parse_yaml_int(b.as_string()) : std::nullopt;
                        if (!n || *n < 0 || (bound != "min" && bound != "max")) {
                            error(b.location(), "`count` takes a whole number or {min, max}");
                            continue;
                        }
                        (bound == "min" ? x.count_min : x.count_max) = *n;
                    }
                } else if (auto n = v.is_scalar() ? parse_yaml_int(v.as_string()) : std::nullopt;
                           n && *n >= 0) {
                    x.count_min = x.count_max = *n;
                } else {
                    error(v.location(),
                          "`count` must be a whole number or {min, max}, got " + shape(v));
                }
            } else if (key == "empty") {
                x.count_location = v.location();
                if (auto b = boolean(v, "`empty`")) {
                    x.count_min = *b ? 0 : 1;
                    if (*b) {
                        x.count_max = 0;
                    }
                }
            } else if (key == "records" || key == "contains") {
                (key == "records" ? x.records_location : x.contains_location) = v.location();
                std::vector<RecordPattern> patterns;
                if (!v.is_list()) {
                    error(v.location(), "`" + key + "` must be a list of records, got " + shape(v));
                    continue;
                }
                for (const ConfigValue& r : v.items()) {
                    patterns.push_back(pattern(r));
                }
                (key == "records" ? x.records : x.contains) = std::move(patterns);
            } else if (key == "where") {
                x.where = pattern(v);
            } else {
                error(v.location(), "unknown key '" + key + "' in an output expectation",
                      hint_keys(key, kOutputKeys, "an output expectation"));
            }
        }
        if (!checks) {
            error(e.location(), "expectation on `" + x.target + "` checks nothing",
                  "add `count`, `records`, `contains`, `where` or `empty`");
        }
    }

    void read_state(const ConfigValue& v, Expectation& x) {
        if (!v.is_map()) {
            error(v.location(),
                  "`state` must be a map like {operator: sessions, key: u1}, got " + shape(v));
            return;
        }
        for (const auto& [key, value] : v.entries()) {
            if (key == "operator") {
                if (auto t = text(value, "`operator`")) {
                    x.op = *t;
                }
            } else if (key == "key") {
                if (!value.is_scalar() || value.is_null() || value.as_string().empty()) {
                    error(value.location(),
                          "`key` must be a string or a whole number, got " + shape(value));
                    continue;
                }
                x.key = literal(value, true);
            } else if (key == "name") {
                if (auto t = text(value, "`name`")) {
                    x.state_name = *t;
                }
            } else if (key == "exists") {
                x.exists = boolean(value, "`exists`");
            } else if (key == "fields") {
                x.state_fields = pattern(value);
            } else {
                error(value.location(), "unknown key '" + key + "' in `state`",
                      hint_keys(key, kStateKeys, "`state`"));
            }
        }
        if (v.find("operator") == nullptr || v.find("key") == nullptr) {
            error(v.location(), "`state` needs `operator` and `key`");
        }
        if (v.find("fields") == nullptr && v.find("exists") == nullptr) {
            error(v.location(), "`state` checks nothing",
                  "add `fields: {...}` or `exists: true|false`");
        }
    }

    RecordPattern pattern(const ConfigValue& v) {
        RecordPattern p;
        p.location = v.location();
        p.text = v.to_string();
        if (!v.is_map()) {
            error(v.location(), "a record must be a map of fields, got " + shape(v));
            return p;
        }
        p.text = literal(v, false).to_string();
        for (const auto& [field, value] : v.entries()) {
            p.fields.push_back(check(field, value));
        }
        return p;
    }

    FieldCheck check(const std::string& field, const ConfigValue& v) {
        FieldCheck f;
        f.field = field;
        f.location = v.location();
        if (!v.is_map()) {
            f.equals = literal(v, true);
            return f;
        }
        std::string what = "condition on `" + field + "`";
        for (const auto& [key, c] : v.entries()) {
            if (key == "equals") {
                f.equals = literal(c, true);
            } else if (key == "approx") {
                f.approx = number(c, "`approx` of " + what);
            } else if (key == "tolerance") {
                if (auto t = number(c, "`tolerance` of " + what)) {
                    f.tolerance = std::abs(*t);
                }
            } else if (key == "exists") {
                f.exists = boolean(c, "`exists` of " + what);
            } else if (key == "min") {
                f.min = number(c, "`min` of " + what);
            } else if (key == "max") {
                f.max = number(c, "`max` of " + what);
            } else {
                error(c.location(), "unknown condition '" + key + "' on field `" + field + "`",
                      hint_keys(key, kConditionKeys, "a field condition") +
                          "; for a field of a nested value, write its dotted path");
            }
        }
        if (v.find("tolerance") != nullptr && v.find("approx") == nullptr) {
            error(v.find("tolerance")->location(), "`tolerance` needs `approx` beside it");
        }
        if (v.entries().empty()) {
            error(v.location(), "the condition on `" + field + "` is empty");
        }
        return f;
    }

    QuoteReader quotes_;
    std::string base_dir_;
    Diagnostics& diags_;
};

}  // namespace

std::string Literal::to_string() const {
    switch (kind) {
        case Kind::kNull:
            return "null";
        case Kind::kScalar:
            return quoted ? "\"" + text + "\"" : text;
        case Kind::kList: {
            std::string out = "[";
            for (size_t i = 0; i < items.size(); ++i) {
                out += (i > 0 ? ", " : "") + items[i].to_string();
            }
            return out + "]";
        }
        case Kind::kMap: {
            std::string out = "{";
            for (size_t i = 0; i < members.size(); ++i) {
                out +=
                    (i > 0 ? ", " : "") + members[i].first + ": " + members[i].second.to_string();
            }
            return out + "}";
        }
    }
    return text;
}

std::string Literal::to_json() const {
    JsonWriter j;
    write_literal_json(*this, j);
    return j.str();
}

std::vector<TestCase> read_tests(const ConfigValue& tests, const std::string& text,
                                 const std::string& base_dir, Diagnostics& diags) {
    return Reader(text, base_dir, diags).read(tests);
}

void check_names(const std::vector<TestCase>& cases, const Topology& topology, Diagnostics& diags) {
    std::vector<std::string> names;
    for (const ComponentDef& c : topology.components) {
        names.push_back(c.name);
    }
    auto find = [&](const std::string& name, const Location& loc) -> const ComponentDef* {
        int i = topology.find(name);
        if (i < 0) {
            std::string guess = did_you_mean(name, names);
            diags.error("unknown_component", loc,
                        "the topology has no component named '" + name + "'",
                        guess.empty() ? "its components are " + join(names) : guess);
            return nullptr;
        }
        return &topology.components[static_cast<size_t>(i)];
    };
    for (const TestCase& c : cases) {
        for (const Step& s : c.steps) {
            if (s.kind != Step::Kind::kInput) {
                continue;
            }
            const ComponentDef* def = find(s.to, s.location);
            if (def != nullptr && def->kind == ComponentKind::kSink) {
                diags.error("invalid_test", s.location,
                            "input goes to a source or an operator; '" + s.to + "' is a sink",
                            "send it to the component the sink reads");
            }
        }
        for (const Expectation& x : c.expect) {
            if (x.kind == Expectation::Kind::kOutput) {
                const ComponentDef* def = find(x.component, x.location);
                if (def == nullptr || x.output.empty() || x.output == "errors") {
                    continue;
                }
                std::vector<std::string> outputs;
                if (def->kind == ComponentKind::kOperator) {
                    for (const auto& o : def->spec->outputs) {
                        outputs.push_back(o.name);
                    }
                }
                if (std::find(outputs.begin(), outputs.end(), x.output) == outputs.end()) {
                    outputs.push_back("errors");
                    diags.error("unknown_output", x.location,
                                "component '" + x.component + "' has no output '" + x.output + "'",
                                "its outputs are the main one (`" + x.component + "`) and " +
                                    join(outputs));
                }
                continue;
            }
            const ComponentDef* def = find(x.op, x.location);
            if (def == nullptr) {
                continue;
            }
            if (def->kind != ComponentKind::kOperator || def->key.empty()) {
                diags.error("invalid_test", x.location,
                            "'" + x.op + "' is not a keyed operator: it has no state per key",
                            "read the state of an operator with a `key:`");
                continue;
            }
            if (!x.state_name.empty()) {
                const StateSpec* st = def->spec->find_state(x.state_name);
                if (st == nullptr || !st->keyed) {
                    std::vector<std::string> keyed;
                    for (const StateSpec& s : def->spec->states) {
                        if (s.keyed) {
                            keyed.push_back(s.name);
                        }
                    }
                    diags.error("invalid_test", x.location,
                                "operator '" + x.op + "' (" + def->type +
                                    ") keeps no keyed state named '" + x.state_name + "'",
                                keyed.empty() ? "it keeps no keyed state"
                                              : "its keyed states are " + join(keyed));
                }
            }
        }
    }
}

}  // namespace eddy::topology_tests
