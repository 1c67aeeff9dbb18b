// SPDX-License-Identifier: Apache-2.0
#include "topology/reference.h"

#include <fmt/format.h>

namespace eddy {
namespace {

const ComponentKind kKinds[] = {ComponentKind::kSource, ComponentKind::kOperator,
                                ComponentKind::kSink};

std::string key_text(KeyMode mode) {
    switch (mode) {
        case KeyMode::kNone:
            return "not keyed";
        case KeyMode::kOptional:
            return "optional `key`";
        case KeyMode::kRequired:
            return "requires `key`";
    }
    return "";
}

std::string default_text(const Param& p) {
    if (p.is_required()) {
        return "required";
    }
    if (p.default_text()) {
        return "default " + *p.default_text();
    }
    return "optional";
}

std::string range_text(const Param& p) {
    auto fmt_bound = [](double v) { return fmt::format("{:g}", v); };
    if (p.min_value() && p.max_value()) {
        return fmt::format(", {}..{}", fmt_bound(*p.min_value()), fmt_bound(*p.max_value()));
    }
    if (p.min_value()) {
        return ", >= " + fmt_bound(*p.min_value());
    }
    if (p.max_value()) {
        return ", <= " + fmt_bound(*p.max_value());
    }
    return "";
}

std::string scope_text(const StateSpec& st) {
    return st.keyed ? "keyed" : st.shared ? "shared by all shards" : "global, per shard";
}

std::string escape_cell(std::string s) {
    std::string out;
    for (char c : s) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string spec_text(const ComponentSpec& spec) {
    std::string out =
        fmt::format("{} ({})\n  {}\n", spec.name, component_kind_name(spec.kind), spec.summary);
    if (!spec.description.empty()) {
        out += "\n  " + spec.description + "\n";
    }
    if (!spec.origin.empty() && spec.origin != "built-in") {
        out += "\n  from: " + spec.origin + "\n";
    }
    if (spec.kind == ComponentKind::kOperator) {
        out += "\n  key: " + key_text(spec.key) + "\n";
    }
    if (!spec.states.empty()) {
        out += "\nstate (`eddy state get` shows it as JSON):\n";
        for (const StateSpec& st : spec.states) {
            out += fmt::format("  {} ({})\n      {}\n", st.name, scope_text(st), st.doc);
        }
    }
    out += "\nparameters:\n";
    if (spec.params.empty()) {
        out += "  (none)\n";
    }
    for (const Param& p : spec.params) {
        out += fmt::format("  {} ({}; {}{})\n      {}\n", p.name(), p.type_text(), default_text(p),
                           range_text(p), p.doc_text());
        if (!p.example_text().empty()) {
            out += "      example: " + p.name() + ": " + p.example_text() + "\n";
        }
    }
    out += "\noutputs:\n  (main)  the component's result\n";
    for (const OutputSpec& o : spec.outputs) {
        out += fmt::format("  {}  {}\n", o.name, o.doc);
    }
    out += "  errors  records that could not be processed, with an `error` field saying why\n";
    for (const ExampleSpec& e : spec.examples) {
        out += "\nexample: " + e.title + "\n" + e.yaml;
        if (!e.yaml.empty() && e.yaml.back() != '\n') {
            out += "\n";
        }
    }
    return out;
}

std::string registry_listing(const Registry& registry, bool plugins_only) {
    std::string out;
    for (ComponentKind kind : kKinds) {
        out += fmt::format("{}s:\n", component_kind_name(kind));
        for (const ComponentSpec* spec : registry.all(kind)) {
            if (plugins_only && spec->origin == "built-in") {
                continue;
            }
            out += fmt::format("  {:<14} {}", spec->name, spec->summary);
            if (spec->origin != "built-in") {
                out += fmt::format("  [{}]", spec->origin);
            }
            out += "\n";
        }
    }
    out += "\n`eddy operators NAME` shows one type in full; types without [origin] are built in.\n";
    return out;
}

std::string registry_markdown(const Registry& registry, bool plugins_only) {
    std::string out =
        plugins_only
            ? "# Plugin component reference\n\n"
              "Generated from the plugins' component specs by `eddy operators --plugin PLUGIN "
              "--markdown --plugins-only`;\ndo not edit by hand.\n\n"
              "Every component also has an `errors` output: records or input lines it could not "
              "handle,\nwith an `error` field that says why. Read it as `NAME.errors`.\n"
            : "# Component reference\n\n"
              "Generated from the component specs by `eddy operators --markdown`; do not edit by "
              "hand.\nA test fails when this file and the specs disagree.\n\n"
              "Every component also has an `errors` output: records or input lines it could not "
              "handle,\nwith an `error` field that says why. Read it as `NAME.errors`.\n";
    for (ComponentKind kind : kKinds) {
        std::vector<const ComponentSpec*> specs;
        for (const ComponentSpec* spec : registry.all(kind)) {
            if (!plugins_only || spec->origin != "built-in") {
                specs.push_back(spec);
            }
        }
        if (specs.empty() && plugins_only) {
            continue;
        }
        out += fmt::format("\n## {}s\n", component_kind_name(kind));
        for (const ComponentSpec* spec : specs) {
            out += fmt::format("\n### `{}`\n\n{}\n", spec->name, spec->summary);
            if (!spec->description.empty()) {
                out += "\n" + spec->description + "\n";
            }
            if (kind == ComponentKind::kOperator) {
                out += "\n- key: " + key_text(spec->key) + "\n";
            }
            if (!spec->states.empty()) {
                out += "\n| state | scope | description |\n|---|---|---|\n";
                for (const StateSpec& st : spec->states) {
                    out += fmt::format("| `{}` | {} | {} |\n", st.name, scope_text(st),
                                       escape_cell(st.doc));
                }
            }
            if (!spec->params.empty()) {
                out += "\n| parameter | type | default | description |\n|---|---|---|---|\n";
                for (const Param& p : spec->params) {
                    std::string doc = p.doc_text();
                    if (!p.example_text().empty()) {
                        doc += " Example: `" + p.example_text() + "`.";
                    }
                    out += fmt::format("| `{}` | {}{} | {} | {} |\n", p.name(),
                                       escape_cell(p.type_text()), range_text(p),
                                       escape_cell(default_text(p)), escape_cell(doc));
                }
            }
            if (!spec->outputs.empty()) {
                out += "\n| output | description |\n|---|---|\n";
                for (const OutputSpec& o : spec->outputs) {
                    out += fmt::format("| `{}` | {} |\n", o.name, escape_cell(o.doc));
                }
            }
            for (const ExampleSpec& e : spec->examples) {
                out += "\nExample: " + e.title + "\n\n```yaml\n" + e.yaml;
                if (!e.yaml.empty() && e.yaml.back() != '\n') {
                    out += "\n";
                }
                out += "```\n";
            }
        }
    }
    return out;
}

}  // namespace eddy
