// SPDX-License-Identifier: Apache-2.0
// What `eddy test` runs instead of a topology's sources and sinks.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eddy/spec.h"

#include "testing/test_file.h"
#include "topology/topology.h"

namespace eddy::topology_tests {

/// The lines input steps queued for one source, taken by its polls.
struct InputQueue {
    std::deque<InputLine> lines;
    bool ended = false;  ///< After the queued lines, the input ends.
};

/// The components a test job runs: its topology with every source reading
/// from an InputQueue and every sink keeping nothing, and the specs that
/// make them (which must outlive the job).
struct IsolatedTopology {
    Topology topology;
    std::map<std::string, std::shared_ptr<InputQueue>> queues;  ///< By source name.
    std::vector<std::unique_ptr<ComponentSpec>> specs;
};

/// A copy of `topology` that touches nothing outside the process: each
/// source decodes the lines of its queue as its own spec would (its
/// `format` and `event_time`; `records:` always as JSON), each sink
/// discards what it receives (tests read it through taps), keyed state
/// stays in memory (no `state.dir`), and every parallelism is 1 so that a
/// run is deterministic. The `serve:` block is kept but never started.
/// Repartition topics are left out: their operators read their inputs
/// directly.
IsolatedTopology isolate(const Topology& topology);

}  // namespace eddy::topology_tests
