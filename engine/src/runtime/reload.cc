// SPDX-License-Identifier: Apache-2.0
#include "runtime/reload.h"

#include <algorithm>

#include "runtime/upgrade_plan.h"

namespace eddy {
namespace {

/// Equal values, wherever they were written.
bool same_value(const ConfigValue& a, const ConfigValue& b) {
    if (a.kind() != b.kind()) {
        return false;
    }
    switch (a.kind()) {
        case ConfigValue::Kind::kNull:
        case ConfigValue::Kind::kString:
            return a.as_string() == b.as_string();
        case ConfigValue::Kind::kBool:
            return a.as_bool() == b.as_bool();
        case ConfigValue::Kind::kInt:
            return a.as_int() == b.as_int();
        case ConfigValue::Kind::kDouble:
            return a.as_double() == b.as_double();
        case ConfigValue::Kind::kList: {
            if (a.items().size() != b.items().size()) {
                return false;
            }
            for (size_t i = 0; i < a.items().size(); ++i) {
                if (!same_value(a.items()[i], b.items()[i])) {
                    return false;
                }
            }
            return true;
        }
        case ConfigValue::Kind::kMap: {
            if (a.entries().size() != b.entries().size()) {
                return false;
            }
            for (const auto& [key, value] : a.entries()) {
                const ConfigValue* other = b.find(key);
                if (other == nullptr || !same_value(value, *other)) {
                    return false;
                }
            }
            return true;
        }
    }
    return false;
}

bool same_inputs(const ComponentDef& a, const ComponentDef& b) {
    if (a.inputs.size() != b.inputs.size()) {
        return false;
    }
    for (size_t i = 0; i < a.inputs.size(); ++i) {
        if (a.inputs[i].to_string() != b.inputs[i].to_string()) {
            return false;
        }
    }
    return true;
}

/// Whether `def`, a running sink, differs from `old_def` only by reading
/// the `errors` of sinks new in this reload (as the `dead_letter:` sink
/// does); if so, those links are added to the plan.
bool only_new_errors(const Topology& running, const ComponentDef& old_def, const ComponentDef& def,
                     ReloadPlan& plan) {
    std::vector<std::string> before;
    for (const InputRef& in : old_def.inputs) {
        before.push_back(in.to_string());
    }
    std::vector<ReloadPlan::ErrorLink> links;
    size_t kept = 0;
    for (const InputRef& in : def.inputs) {
        if (std::find(before.begin(), before.end(), in.to_string()) != before.end()) {
            ++kept;
        } else if (in.output == "errors" && running.find(in.component) < 0) {
            links.push_back({in.component, def.name});
        } else {
            return false;
        }
    }
    if (kept != before.size()) {
        return false;
    }
    plan.error_links.insert(plan.error_links.end(), links.begin(), links.end());
    return true;
}

/// Puts a new sink that reads the `errors` of another new sink after it,
/// so that each is wired in after what it reads.
void order_added_sinks(std::vector<const ComponentDef*>& sinks) {
    std::vector<const ComponentDef*> ordered;
    while (!sinks.empty()) {
        size_t before = sinks.size();
        for (auto it = sinks.begin(); it != sinks.end();) {
            bool waits =
                std::any_of((*it)->inputs.begin(), (*it)->inputs.end(), [&](const auto& in) {
                    return std::any_of(sinks.begin(), sinks.end(), [&](const ComponentDef* s) {
                        return s->name == in.component;
                    });
                });
            if (waits) {
                ++it;
            } else {
                ordered.push_back(*it);
                it = sinks.erase(it);
            }
        }
        if (sinks.size() == before) {  // a cycle, which the validator refuses
            ordered.insert(ordered.end(), sinks.begin(), sinks.end());
            break;
        }
    }
    sinks = std::move(ordered);
}

std::string describe(const ComponentDef& c) {
    std::string kind = c.kind == ComponentKind::kSource     ? "source"
                       : c.kind == ComponentKind::kOperator ? "operator"
                                                            : "sink";
    return kind + " '" + c.name + "' (" + c.type + ")";
}

/// The settings outside the components that a running job cannot change.
void compare_settings(const Topology& a, const Topology& b, std::vector<std::string>& refusals) {
    auto needs_restart = [&](bool differs, const std::string& what) {
        if (differs) {
            refusals.push_back(what + " changed: that needs a restart");
        }
    };
    needs_restart(a.name != b.name, "the topology's `name:`");
    needs_restart(a.parallelism != b.parallelism, "`parallelism:`");
    needs_restart(a.state.dir != b.state.dir || a.state.memory_bytes != b.state.memory_bytes ||
                      a.state.cache_bytes != b.state.cache_bytes ||
                      a.state.checkpoint_interval_ms != b.state.checkpoint_interval_ms,
                  "the `state:` block");
    needs_restart(a.plugins != b.plugins, "`plugins:`");
    needs_restart(a.dead_letter != b.dead_letter, "`dead_letter:`");
    const ServeDef& s = a.serve;
    const ServeDef& t = b.serve;
    needs_restart(s.listen != t.listen || s.token_env != t.token_env ||
                      s.token_file != t.token_file || s.max_key_bytes != t.max_key_bytes ||
                      s.max_request_bytes != t.max_request_bytes ||
                      s.max_connections != t.max_connections ||
                      s.query_timeout_ms != t.query_timeout_ms || s.views != t.views,
                  "the `serve:` block");
}

/// Whether `def`'s operator keeps state; an error when it cannot be inspected.
Result<bool> keeps_state(const ComponentDef& def, int parallelism) {
    auto handles = probe_state_handles(def, parallelism);
    if (!handles.is_ok()) {
        return handles.status();
    }
    return !handles.value().empty();
}

void compare_operator(const Topology& running, const ComponentDef& old_def, const ComponentDef& def,
                      ReloadPlan& plan) {
    std::string what = describe(def);
    auto refuse = [&](const std::string& change) {
        plan.refusals.push_back(what + ": " + change + "; that needs a restart");
    };
    if (!same_inputs(old_def, def)) {
        refuse("its inputs changed");
    }
    if (old_def.key != def.key) {
        refuse("its key changed");
    }
    if (old_def.parallelism != def.parallelism) {
        refuse("its parallelism changed");
    }
    if (old_def.state_ttl_ms != def.state_ttl_ms) {
        refuse("its state_ttl changed");
    }
    if (old_def.renamed_from != def.renamed_from) {
        refuse("its renamed_from changed");
    }
    if (same_value(old_def.config.params(), def.config.params())) {
        return;
    }
    int parallelism = def.parallelism > 0 ? def.parallelism : running.parallelism;
    for (const ComponentDef* d : {&old_def, &def}) {
        auto stateful = keeps_state(*d, parallelism);
        if (!stateful.is_ok()) {
            refuse(std::string(d == &def ? "the new" : "the running") +
                   " parameters cannot be opened (" + stateful.status().message() + ")");
            return;
        }
        if (stateful.value()) {
            refuse(std::string("its parameters changed and it keeps state") +
                   (d == &def ? " with the new ones" : "") +
                   " (`eddy plan` says whether a restart keeps it)");
            return;
        }
    }
    plan.reconfigured.push_back(&def);
    plan.changes.push_back(what + ": new parameters " + def.config.params().to_string());
}

}  // namespace

ReloadPlan plan_reload(const Topology& running, const Topology& next) {
    ReloadPlan plan;
    compare_settings(running, next, plan.refusals);
    if (running.log_level != next.log_level) {
        plan.log_level_changed = true;
        plan.log_level = next.log_level;
        plan.changes.push_back("log level: " +
                               (next.log_level.empty() ? "the command line's" : next.log_level));
    }
    for (const ComponentDef& old_def : running.components) {
        if (next.find(old_def.name) < 0) {
            plan.refusals.push_back(describe(old_def) +
                                    ": removed; removing a component needs a restart");
        }
    }
    for (const ComponentDef& def : next.components) {
        int at = running.find(def.name);
        if (at < 0) {
            if (def.kind == ComponentKind::kSink) {
                plan.added_sinks.push_back(&def);
                plan.changes.push_back(describe(def) + ": new, reading " +
                                       def.inputs.front().to_string() +
                                       (def.inputs.size() > 1 ? " and more" : ""));
            } else {
                plan.refusals.push_back(describe(def) +
                                        ": new; adding a source or an operator needs a restart");
            }
            continue;
        }
        const ComponentDef& old_def = running.components[static_cast<size_t>(at)];
        if (old_def.kind != def.kind || old_def.type != def.type) {
            plan.refusals.push_back(describe(def) + ": was " + describe(old_def) +
                                    "; that needs a restart");
            continue;
        }
        if (def.kind == ComponentKind::kOperator) {
            compare_operator(running, old_def, def, plan);
            continue;
        }
        bool changed = !same_value(old_def.config.params(), def.config.params());
        if (def.kind == ComponentKind::kSink && !same_inputs(old_def, def)) {
            changed |= !only_new_errors(running, old_def, def, plan);
        } else {
            changed |= !same_inputs(old_def, def);
        }
        if (def.kind == ComponentKind::kSource) {
            changed |= old_def.watermark.max_out_of_orderness_ms !=
                           def.watermark.max_out_of_orderness_ms ||
                       old_def.watermark.idle_timeout_ms != def.watermark.idle_timeout_ms;
        }
        if (changed && def.name == next.dead_letter &&
            same_value(old_def.config.params(), def.config.params())) {
            // The validator gives the dead-letter sink the errors nothing
            // else reads: a new sink that reads some takes them from it.
            for (const InputRef& in : old_def.inputs) {
                for (const ComponentDef& added : next.components) {
                    if (added.kind != ComponentKind::kSink || running.find(added.name) >= 0) {
                        continue;
                    }
                    for (const InputRef& a : added.inputs) {
                        if (a.to_string() == in.to_string()) {
                            plan.refusals.push_back(
                                describe(added) + ": reads '" + in.to_string() +
                                "', which the dead-letter sink '" + def.name +
                                "' reads now; taking it from the dead-letter sink needs a "
                                "restart");
                            changed = false;
                        }
                    }
                }
            }
        }
        if (changed) {
            plan.refusals.push_back(describe(def) +
                                    ": changed; changing a source or a sink needs a restart "
                                    "(a new sink under another name can be added live)");
        }
    }
    order_added_sinks(plan.added_sinks);
    return plan;
}

}  // namespace eddy
