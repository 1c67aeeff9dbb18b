// SPDX-License-Identifier: Apache-2.0
// `eddy plan`: what an upgrade of a topology does to each operator's state.
#include "runtime/upgrade_plan.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/json_writer.h"
#include "eddy/operator.h"
#include "eddy/record.h"
#include "eddy/units.h"

#include "state/layout.h"
#include "state/operator_meta.h"
#include "state/store.h"

namespace eddy {
namespace {

/// Answers an operator's open() harmlessly and records its state handles.
class ProbeTimers final : public Timers {
public:
    void set(TimeDomain, const Value&, int64_t) override {}
    void cancel(TimeDomain, const Value&, int64_t) override {}
    int64_t watermark() const override { return kNoWatermark; }
};

class ProbeContext final : public OpenContext {
public:
    ProbeContext(const ComponentDef& def, int parallelism) : def_(def), parallelism_(parallelism) {}
    std::string_view name() const override { return def_.name; }
    FieldId field(std::string_view name) override { return fields_.intern(name); }
    std::string_view field_name(FieldId id) const override { return fields_.name(id); }
    const Clock& clock() const override { return clock_; }
    void log(LogLevel, std::string_view) override {}
    OutputId output(std::string_view name) override {
        if (name == "errors") {
            return 1;
        }
        for (size_t i = 0; i < def_.spec->outputs.size(); ++i) {
            if (def_.spec->outputs[i].name == name) {
                return static_cast<OutputId>(i + 2);
            }
        }
        return kMainOutput;
    }
    int parallelism() const override { return parallelism_; }
    Timers& timers() override { return timers_; }
    void register_state(StateHandle& handle) override {
        handles_.push_back(
            {handle.name(), handle.keyed(), handle.shared(), handle.format_version()});
    }

    std::vector<state::LiveHandle> handles_;

private:
    const ComponentDef& def_;
    int parallelism_;
    FieldTable fields_;
    ManualClock clock_{0};
    ProbeTimers timers_;
};

/// As runtime/plan.cc decides it: an operator with state and no key runs as one instance.
int operator_parallelism(const Topology& t, const ComponentDef& c) {
    if (c.key.empty() && c.spec != nullptr && !c.spec->states.empty()) {
        return 1;
    }
    return c.parallelism > 0 ? c.parallelism : std::max(1, t.parallelism);
}

const ComponentDef* find_component(const Topology& t, const std::string& name, ComponentKind kind) {
    int i = t.find(name);
    if (i < 0 || t.components[static_cast<size_t>(i)].kind != kind) {
        return nullptr;
    }
    return &t.components[static_cast<size_t>(i)];
}

/// What the state dir holds for one operator name.
struct Stored {
    bool readable = false;
    state::OperatorMeta meta;
};

/// The stored state of a stopped job, read without writing anything.
struct StoredState {
    std::string topology;
    std::map<std::string, Stored> operators;
    std::map<std::string, bool> positions;  ///< Sources with a stored position.
};

bool has_entries(state::StateStore& store, const std::string& family) {
    rocksdb::ColumnFamilyHandle* cf = store.find_family(family);
    if (cf == nullptr) {
        return false;
    }
    std::unique_ptr<rocksdb::Iterator> it(store.db().NewIterator(rocksdb::ReadOptions(), cf));
    it->SeekToFirst();
    return it->Valid() || !it->status().ok();
}

Result<StoredState> read_stored(const std::string& dir, const Topology& topology) {
    if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT")) {
        return Status::not_found("'" + dir + "' is not a state dir (no RocksDB files there)");
    }
    auto opened = state::StateStore::open(dir, 64ull << 20);
    if (!opened.is_ok()) {
        return opened.status();
    }
    state::StateStore& store = *opened.value();
    StoredState out;
    out.topology = store.get_meta("topology").value_or("");
    for (const std::string& family : store.family_names()) {
        if (!family.starts_with("op:") && !family.starts_with("timers:")) {
            continue;
        }
        std::string op = family.substr(family.find(':') + 1);
        if (out.operators.count(op) > 0) {
            continue;
        }
        auto meta = store.get_meta("op/" + op);
        if (!meta && !has_entries(store, state::operator_family(op)) &&
            !has_entries(store, state::timer_family(op))) {
            continue;  // never checkpointed: `eddy run` drops these families
        }
        Stored s;
        s.readable = meta && state::decode_operator_meta(*meta, s.meta);
        out.operators.emplace(op, std::move(s));
    }
    for (const ComponentDef& c : topology.components) {
        if (c.kind == ComponentKind::kSource) {
            out.positions[c.name] = store.get_meta("source/" + c.name).has_value();
        }
    }
    return out;
}

std::string handle_kind(const state::LiveHandle& h) {
    return h.shared ? "shared" : h.keyed ? "keyed" : "operator-wide";
}

/// What a restore at another parallelism does to each state (see Job::Impl::restore()).
void explain_resplit(ComponentPlan& p, const std::vector<state::LiveHandle>& handles) {
    int from = p.old_parallelism;
    int to = p.new_parallelism;
    p.reasons.push_back("parallelism changes from " + std::to_string(from) + " to " +
                        std::to_string(to));
    for (const state::LiveHandle& h : handles) {
        if (h.shared) {
            p.reasons.push_back("shared state '" + h.name +
                                "' (one value for all shards) is kept as is");
        } else if (h.keyed) {
            p.reasons.push_back("keyed state '" + h.name +
                                "' is re-split by key group over the new shards");
        } else if (to < from) {
            p.reasons.push_back("operator-wide state '" + h.name + "' is per shard: shards " +
                                std::to_string(to) + ".." + std::to_string(from - 1) +
                                " no longer exist and theirs is dropped (with a warning)");
        } else {
            p.reasons.push_back("operator-wide state '" + h.name + "' is per shard: shards " +
                                std::to_string(from) + ".." + std::to_string(to - 1) +
                                " are new and start with it empty");
        }
    }
    p.reasons.push_back("timers are re-routed by key group to the shard that owns their key");
}

/// What a new operator (or one without stored state) starts from.
void explain_start(ComponentPlan& p, const std::vector<state::LiveHandle>& handles) {
    bool model = false;
    for (const state::LiveHandle& h : handles) {
        model |= h.shared;
    }
    std::string names;
    for (const state::LiveHandle& h : handles) {
        names += (names.empty() ? "'" : ", '") + h.name + "' (" + handle_kind(h) + ")";
    }
    p.reasons.push_back(std::string(model ? "starts from an untrained model" : "starts empty") +
                        (names.empty() ? "" : ": " + names));
}

class Planner {
public:
    Planner(const Topology& old_t, const Topology& new_t, const StoredState* stored,
            const std::vector<std::string>& allowed)
        : old_(old_t), new_(new_t), stored_(stored), allowed_(allowed) {}

    UpgradePlan run() {
        plan_.old_file = old_.file;
        plan_.new_file = new_.file;
        std::string name = new_.name.empty() ? new_.file : new_.name;
        if (stored_ != nullptr && !stored_->topology.empty() && stored_->topology != name) {
            plan_.problems.push_back("the state dir belongs to topology '" + stored_->topology +
                                     "', not '" + name +
                                     "'; `eddy run` refuses it (use another state.dir)");
        }
        for (const ComponentDef& c : new_.components) {
            if (c.kind == ComponentKind::kOperator) {
                plan_operator(c);
            } else {
                plan_io(c);
            }
        }
        plan_removed();
        return std::move(plan_);
    }

private:
    bool allowed(const std::string& op) const {
        return std::find(allowed_.begin(), allowed_.end(), op) != allowed_.end();
    }

    /// The name whose state `c` continues: its own, or its renamed_from.
    std::string source_name(const ComponentDef& c) {
        if (c.renamed_from.empty()) {
            return c.name;
        }
        if (stored_ != nullptr) {
            if (stored_->operators.count(c.name) > 0) {
                return c.name;  // already moved by an earlier start
            }
            if (stored_->operators.count(c.renamed_from) > 0) {
                return c.renamed_from;
            }
        }
        if (find_component(old_, c.renamed_from, ComponentKind::kOperator) != nullptr) {
            return c.renamed_from;
        }
        return c.name;
    }

    void plan_operator(const ComponentDef& c) {
        ComponentPlan p;
        p.name = c.name;
        p.kind = c.kind;
        p.new_type = c.type;
        p.new_parallelism = operator_parallelism(new_, c);
        std::string from = source_name(c);
        claimed_.insert(from);
        claimed_.insert(c.name);
        if (from != c.name) {
            p.renamed_from = from;
        } else if (!c.renamed_from.empty()) {
            p.reasons.push_back("renamed_from '" + c.renamed_from + "' names no operator " +
                                (stored_ != nullptr ? "with state" : "of the old topology") +
                                (stored_ != nullptr && stored_->operators.count(c.name) > 0
                                     ? " (its state was moved already)"
                                     : ""));
        }
        const ComponentDef* old_def = find_component(old_, from, ComponentKind::kOperator);
        if (old_def != nullptr) {
            p.old_type = old_def->type;
            p.old_parallelism = operator_parallelism(old_, *old_def);
        }
        auto probed = probe_state_handles(c, p.new_parallelism);
        const std::vector<state::LiveHandle>* handles = probed.is_ok() ? &probed.value() : nullptr;

        // What the state to continue holds: the state dir's record, or the
        // old topology's operator as it would have stored it.
        std::optional<state::OperatorMeta> before;
        if (stored_ != nullptr) {
            auto it = stored_->operators.find(from);
            if (it != stored_->operators.end() && !it->second.readable) {
                p.verdict = StateVerdict::kIncompatible;
                p.reasons.push_back("operator '" + c.name +
                                    "': its state has no readable description");
                finish(p);
                return;
            }
            if (it != stored_->operators.end()) {
                before = it->second.meta;
                p.old_type = before->type;
                p.old_parallelism = static_cast<int>(before->parallelism);
            }
        } else if (old_def != nullptr) {
            state::OperatorMeta m;
            m.type = old_def->type;
            m.key_field = old_def->key;
            m.has_key_field = true;
            m.parallelism = static_cast<uint64_t>(p.old_parallelism);
            auto old_handles = probe_state_handles(*old_def, p.old_parallelism);
            if (old_handles.is_ok()) {
                for (const state::LiveHandle& h : old_handles.value()) {
                    m.handles.push_back({h.name, h.keyed, h.version});
                }
                if (!m.handles.empty()) {
                    before = std::move(m);  // a stateless operator stored nothing
                }
            } else {
                p.reasons.push_back(
                    "could not inspect the old operator, so only its type and "
                    "key are compared: " +
                    old_handles.status().message());
                before = std::move(m);
            }
        }

        if (!before) {
            if (handles == nullptr) {
                p.verdict = StateVerdict::kUnknown;
                p.reasons.push_back("could not inspect: " + probed.status().message());
            } else if (handles->empty()) {
                p.verdict = StateVerdict::kStateless;
                p.reasons.push_back("keeps no state: nothing to keep");
            } else {
                p.verdict = StateVerdict::kNew;
                if (old_def != nullptr) {
                    p.reasons.push_back(stored_ != nullptr ? "nothing stored for it yet"
                                                           : "it kept no state before");
                }
                explain_start(p, *handles);
            }
            finish(p);
            return;
        }
        std::vector<std::string> conflicts =
            state::state_conflicts(c.name, *before, {c.type, c.key, handles});
        if (!conflicts.empty()) {
            p.verdict = StateVerdict::kIncompatible;
            p.refused = !allowed(c.name);
            p.reasons = std::move(conflicts);
            if (!p.refused) {
                p.reasons.push_back("--allow-state-drop " + c.name +
                                    ": its state is dropped and it starts empty");
            }
            finish(p);
            return;
        }
        if (handles == nullptr) {
            p.verdict = StateVerdict::kUnknown;
            p.reasons.push_back(
                "type and key fit, but its state handles could not be "
                "inspected: " +
                probed.status().message());
            finish(p);
            return;
        }
        if (!p.renamed_from.empty()) {
            p.reasons.push_back("its state moves from '" + p.renamed_from + "' to '" + c.name +
                                "' when the job starts");
        }
        if (old_def != nullptr && !handles->empty()) {
            explain_ttl_change(p, old_def->state_ttl_ms, c.state_ttl_ms);
        }
        for (const state::LiveHandle& h : *handles) {
            bool was_stored = std::any_of(before->handles.begin(), before->handles.end(),
                                          [&](const auto& s) { return s.name == h.name; });
            if (!was_stored) {
                p.reasons.push_back("state '" + h.name + "' is new and starts empty");
            }
        }
        if (p.old_parallelism != p.new_parallelism && p.old_parallelism > 0) {
            p.verdict = StateVerdict::kResplit;
            explain_resplit(p, *handles);
        } else {
            p.verdict = StateVerdict::kKept;
            if (p.reasons.empty()) {
                p.reasons.push_back(handles->empty() ? "its timers are restored"
                                                     : "its state is restored as it is");
            }
        }
        finish(p);
    }

    /// A changed `state_ttl` keeps the state; it changes which keys the
    /// next expiry pass drops.
    static void explain_ttl_change(ComponentPlan& p, std::optional<int64_t> before,
                                   std::optional<int64_t> after) {
        if (before == after) {
            return;
        }
        if (!after) {
            p.reasons.push_back("state_ttl removed (was " + format_duration_ms(*before) +
                                "): its keys no longer expire");
        } else if (!before) {
            p.reasons.push_back("state_ttl " + format_duration_ms(*after) +
                                " added: keys untouched for that long in event time are dropped "
                                "(on access and at each checkpoint), restored keys included");
        } else {
            p.reasons.push_back(
                "state_ttl " + format_duration_ms(*before) + " -> " + format_duration_ms(*after) +
                (*after < *before ? ": keys untouched for " + format_duration_ms(*after) +
                                        " are dropped on access and at the next checkpoint"
                                  : ": keys are kept longer; those already dropped stay dropped"));
        }
    }

    void plan_io(const ComponentDef& c) {
        ComponentPlan p;
        p.name = c.name;
        p.kind = c.kind;
        p.new_type = c.type;
        const ComponentDef* old_def = find_component(old_, c.name, c.kind);
        claimed_.insert(c.name);
        if (old_def != nullptr) {
            p.old_type = old_def->type;
        }
        if (c.kind == ComponentKind::kSink) {
            p.verdict = old_def != nullptr ? StateVerdict::kStateless : StateVerdict::kNew;
            p.reasons.push_back("sinks keep no state");
        } else {
            bool position = stored_ != nullptr && stored_->positions.count(c.name) > 0 &&
                            stored_->positions.at(c.name);
            p.verdict = old_def != nullptr || position ? StateVerdict::kKept : StateVerdict::kNew;
            if (stored_ != nullptr) {
                p.reasons.push_back(position ? "resumes from its stored position"
                                             : "no stored position: starts where its settings say");
            } else {
                p.reasons.push_back(old_def != nullptr ? "its position is kept by name"
                                                       : "new: starts where its settings say");
            }
            if (old_def != nullptr && old_def->type != c.type) {
                p.reasons.push_back("its type changes from " + old_def->type + " to " + c.type +
                                    ": the stored position of a " + old_def->type +
                                    " source is handed to a " + c.type +
                                    " source, which may refuse it");
            }
        }
        plan_.components.push_back(std::move(p));
    }

    /// Components of the old topology, and state in the dir, that nothing continues.
    void plan_removed() {
        for (const ComponentDef& c : old_.components) {
            if (claimed_.count(c.name) > 0) {
                continue;
            }
            claimed_.insert(c.name);
            ComponentPlan p;
            p.name = c.name;
            p.kind = c.kind;
            p.old_type = c.type;
            p.verdict = StateVerdict::kDropped;
            if (c.kind != ComponentKind::kOperator) {
                p.reasons.push_back("removed");
                plan_.components.push_back(std::move(p));
                continue;
            }
            p.old_parallelism = operator_parallelism(old_, c);
            bool has_state = false;
            if (stored_ != nullptr) {
                has_state = stored_->operators.count(c.name) > 0;
            } else {
                auto handles = probe_state_handles(c, p.old_parallelism);
                has_state = !handles.is_ok() || !handles.value().empty();
            }
            if (has_state) {
                dropped_with_state(p, c.type);
            } else {
                p.reasons.push_back(stored_ != nullptr ? "removed; nothing stored for it"
                                                       : "removed; it keeps no state");
            }
            plan_.components.push_back(std::move(p));
        }
        if (stored_ == nullptr) {
            return;
        }
        for (const auto& [op, s] : stored_->operators) {
            if (claimed_.count(op) > 0) {
                continue;
            }
            ComponentPlan p;
            p.name = op;
            p.old_type = s.readable ? s.meta.type : "?";
            p.verdict = StateVerdict::kDropped;
            dropped_with_state(p, p.old_type);
            plan_.components.push_back(std::move(p));
        }
    }

    void dropped_with_state(ComponentPlan& p, const std::string& type) {
        p.reasons.push_back(state::removed_operator_problem(p.name, type));
        p.refused = !allowed(p.name);
        p.reasons.push_back(p.refused ? "`eddy run` refuses to start until you accept the loss "
                                        "with --allow-state-drop " +
                                            p.name
                                      : "--allow-state-drop " + p.name + ": accepted");
    }

    void finish(ComponentPlan& p) { plan_.components.push_back(std::move(p)); }

    const Topology& old_;
    const Topology& new_;
    const StoredState* stored_;
    const std::vector<std::string>& allowed_;
    std::set<std::string> claimed_;
    UpgradePlan plan_;
};

}  // namespace

const char* state_verdict_name(StateVerdict verdict) {
    switch (verdict) {
        case StateVerdict::kKept:
            return "kept";
        case StateVerdict::kResplit:
            return "kept, re-split";
        case StateVerdict::kDropped:
            return "dropped";
        case StateVerdict::kNew:
            return "new";
        case StateVerdict::kStateless:
            return "stateless";
        case StateVerdict::kIncompatible:
            return "incompatible";
        case StateVerdict::kUnknown:
            return "unknown";
    }
    return "?";
}

bool UpgradePlan::blocked() const {
    if (!problems.empty()) {
        return true;
    }
    return std::any_of(components.begin(), components.end(), [](const ComponentPlan& c) {
        return c.refused || c.verdict == StateVerdict::kUnknown;
    });
}

Result<std::vector<state::LiveHandle>> probe_state_handles(const ComponentDef& def,
                                                           int parallelism) {
    if (def.spec == nullptr || !def.spec->make_operator) {
        return Status::invalid_argument("operator type '" + def.type + "' has no factory");
    }
    auto made = def.spec->make_operator(def.config);
    if (!made.is_ok()) {
        return made.status();
    }
    ProbeContext ctx(def, parallelism);
    Status s = Status::ok();
    try {
        s = made.value()->open(ctx);
    } catch (const std::exception& e) {
        s = Status::internal(std::string("open() threw: ") + e.what());
    }
    if (!s.is_ok()) {
        return s;
    }
    return std::move(ctx.handles_);
}

Result<UpgradePlan> plan_upgrade(const Topology& old_topology, const Topology& new_topology,
                                 const std::string& state_dir,
                                 const std::vector<std::string>& allow_state_drop) {
    std::optional<StoredState> stored;
    if (!state_dir.empty()) {
        auto read = read_stored(state_dir, new_topology);
        if (!read.is_ok()) {
            return read.status();
        }
        stored = std::move(read.value());
    }
    UpgradePlan plan =
        Planner(old_topology, new_topology, stored ? &*stored : nullptr, allow_state_drop).run();
    plan.state_dir = state_dir;
    return plan;
}

namespace {

std::string type_text(const ComponentPlan& c) {
    if (c.old_type.empty()) {
        return c.new_type;
    }
    if (c.new_type.empty() || c.new_type == c.old_type) {
        return c.old_type;
    }
    return c.old_type + " -> " + c.new_type;
}

}  // namespace

std::string render_plan_text(const UpgradePlan& plan) {
    std::string out = "plan: " + plan.old_file + " -> " + plan.new_file;
    out += plan.state_dir.empty()
               ? " (from the topologies alone; add --state DIR to check the stored state)\n"
               : ", state in " + plan.state_dir + "\n";
    for (const std::string& p : plan.problems) {
        out += "error: " + p + "\n";
    }
    for (ComponentKind kind :
         {ComponentKind::kOperator, ComponentKind::kSource, ComponentKind::kSink}) {
        bool heading = false;
        for (const ComponentPlan& c : plan.components) {
            if (c.kind != kind) {
                continue;
            }
            if (!heading) {
                out += std::string("\n") + section_name(kind) + ":\n";
                heading = true;
            }
            std::string verdict = state_verdict_name(c.verdict);
            if (!c.renamed_from.empty() &&
                (c.verdict == StateVerdict::kKept || c.verdict == StateVerdict::kResplit)) {
                verdict += " (renamed from " + c.renamed_from + ")";
            }
            char line[256];
            std::snprintf(line, sizeof line, "  %-20s %-32s %s\n", c.name.c_str(), verdict.c_str(),
                          type_text(c).c_str());
            out += line;
            for (const std::string& r : c.reasons) {
                out += "      " + r + "\n";
            }
        }
    }
    std::map<std::string, int> counts;
    std::vector<std::string> refused;
    for (const ComponentPlan& c : plan.components) {
        if (c.kind == ComponentKind::kOperator) {
            ++counts[state_verdict_name(c.verdict)];
        }
        if (c.refused) {
            refused.push_back(c.name);
        }
    }
    out += "\noperators:";
    bool first = true;
    for (const auto& [verdict, n] : counts) {
        out += std::string(first ? " " : "; ") + std::to_string(n) + " " + verdict;
        first = false;
    }
    out += "\n";
    if (!refused.empty()) {
        std::string names;
        for (const std::string& n : refused) {
            names += (names.empty() ? "" : ", ") + n;
        }
        out += "`eddy run` would refuse to start: state of " + names +
               " does not fit; fix the topology or accept the loss with --allow-state-drop\n";
    } else if (plan.blocked()) {
        out +=
            "`eddy run` would refuse to start (see above), or an operator could not be "
            "inspected\n";
    } else {
        out += "safe to start: no stored state is lost or misread\n";
    }
    return out;
}

std::string render_plan_json(const UpgradePlan& plan) {
    JsonWriter j;
    j.begin_object();
    j.field("old", plan.old_file).field("new", plan.new_file);
    j.key("state_dir");
    if (plan.state_dir.empty()) {
        j.value(nullptr);
    } else {
        j.value(plan.state_dir);
    }
    j.field("ok", !plan.blocked());
    j.key("problems").begin_array();
    for (const std::string& p : plan.problems) {
        j.value(p);
    }
    j.end_array();
    j.key("components").begin_array();
    for (const ComponentPlan& c : plan.components) {
        j.begin_object();
        j.field("name", c.name).field("kind", component_kind_name(c.kind));
        j.field("verdict", state_verdict_name(c.verdict));
        j.field("old_type", c.old_type).field("new_type", c.new_type);
        if (!c.renamed_from.empty()) {
            j.field("renamed_from", c.renamed_from);
        }
        if (c.kind == ComponentKind::kOperator) {
            j.field("old_parallelism", c.old_parallelism);
            j.field("new_parallelism", c.new_parallelism);
        }
        j.field("refused", c.refused);
        j.key("reasons").begin_array();
        for (const std::string& r : c.reasons) {
            j.value(r);
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
    return j.str();
}

}  // namespace eddy
