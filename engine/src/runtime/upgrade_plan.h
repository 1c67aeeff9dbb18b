// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include "eddy/status.h"

#include "state/compatibility.h"
#include "topology/topology.h"

namespace eddy {

/// What an upgrade from one topology to another does to a component's state.
enum class StateVerdict {
    kKept,          ///< Restored as it is (same name or renamed_from, type, key, handles).
    kResplit,       ///< Kept, at another parallelism: re-split by key group on restore.
    kDropped,       ///< The component is gone from the new topology.
    kNew,           ///< Not in the old topology (or nothing stored): starts empty.
    kStateless,     ///< Keeps no state: nothing to keep.
    kIncompatible,  ///< Stored state does not fit; `eddy run` refuses the start.
    kUnknown,       ///< The new operator could not be inspected (open() failed).
};

/// "kept", "kept, re-split", "dropped", "new", "stateless", "incompatible", "unknown".
const char* state_verdict_name(StateVerdict verdict);

/// The plan of one source, operator or sink (named as in the new topology,
/// or the old one when it was removed).
struct ComponentPlan {
    std::string name;
    ComponentKind kind = ComponentKind::kOperator;
    StateVerdict verdict = StateVerdict::kStateless;
    std::string old_type;      ///< Empty when new.
    std::string new_type;      ///< Empty when removed.
    std::string renamed_from;  ///< Set when its state comes from another name.
    int old_parallelism = 0;   ///< Operators; 0 when unknown.
    int new_parallelism = 0;
    /// Full sentences: the causes of an incompatibility, what a re-split
    /// does to each state, what a new operator starts from.
    std::vector<std::string> reasons;
    /// `eddy run` would refuse to start over it without `--allow-state-drop NAME`.
    bool refused = false;
};

/// The plan of an upgrade from `old` to `new`, per component.
struct UpgradePlan {
    std::string old_file;
    std::string new_file;
    std::string state_dir;  ///< Empty when planned from the topologies alone.
    /// Problems of the whole state dir (another topology's state).
    std::vector<std::string> problems;
    std::vector<ComponentPlan> components;

    /// Whether `eddy run NEW` (with the same --allow-state-drop) would refuse
    /// to start, or a component could not be inspected.
    bool blocked() const;
};

/// Compares two validated topologies, and with `state_dir` the state a
/// stopped job of `old` left there (opened read-only in effect: nothing is
/// written). The new topology's operators are instantiated and opened with a
/// probing context to learn the state handles they register; their
/// conflicts with the stored (or old) state are state::state_conflicts(), as
/// `eddy run` checks them. `allow_state_drop` marks conflicts accepted, as
/// `eddy run --allow-state-drop` does. Fails only when the state dir cannot
/// be read.
Result<UpgradePlan> plan_upgrade(const Topology& old_topology, const Topology& new_topology,
                                 const std::string& state_dir,
                                 const std::vector<std::string>& allow_state_drop);

/// The state handles `def`'s operator registers in open(), learnt by
/// creating it through its spec and opening it with a probing context. An
/// error (the factory or open() failed) says why.
Result<std::vector<state::LiveHandle>> probe_state_handles(const ComponentDef& def,
                                                           int parallelism);

/// The plan as text for a terminal.
std::string render_plan_text(const UpgradePlan& plan);
/// The plan as one JSON object.
std::string render_plan_json(const UpgradePlan& plan);

}  // namespace eddy
