// SPDX-License-Identifier: Apache-2.0
// What reloading a running job's topology file may change in place
// (`eddy run --watch`, SIGHUP; docs/upgrading.md "Upgrading a running job").
#pragma once

#include <string>
#include <vector>

#include "topology/topology.h"

namespace eddy {

/// The difference between the topology a job runs and the one its file now
/// holds, sorted into what a running job can take (parameters of operators
/// that keep no state, new sinks, the log level) and what needs a restart.
struct ReloadPlan {
    /// Operators of the new topology whose parameters changed; neither the
    /// old nor the new form keeps state.
    std::vector<const ComponentDef*> reconfigured;
    /// Sinks of the new topology that the running one does not have.
    std::vector<const ComponentDef*> added_sinks;
    /// A running sink that reads a new sink's `errors` (`dead_letter:`).
    struct ErrorLink {
        std::string sink;    ///< The new sink.
        std::string reader;  ///< The running sink that reads its errors.
    };
    std::vector<ErrorLink> error_links;
    /// `log_level:` changed (to `log_level`, "" meaning the command line's).
    bool log_level_changed = false;
    std::string log_level;
    /// One sentence per change, for the log.
    std::vector<std::string> changes;
    /// One sentence per change a running job cannot take: each needs a
    /// restart. Any of them refuses the whole reload.
    std::vector<std::string> refusals;

    bool refused() const { return !refusals.empty(); }
    bool unchanged() const { return changes.empty() && refusals.empty(); }
};

/// Compares the running topology with the new one (both validated, with the
/// same command-line overrides applied). Operators whose parameters changed
/// are probed (created and opened with a recording context, as `eddy plan`
/// does) to learn whether they keep state.
ReloadPlan plan_reload(const Topology& running, const Topology& next);

}  // namespace eddy
