// SPDX-License-Identifier: Apache-2.0
#include "eddy/lateness.h"

#include "eddy/config.h"
#include "eddy/spec.h"

namespace eddy {

Lateness Lateness::from(const Config& cfg) {
    Lateness l;
    l.allowed_ms = cfg.duration("allowed_lateness").count();
    const std::string& policy = cfg.string("on_late");
    l.policy = policy == "drop"     ? LatePolicy::kDrop
               : policy == "update" ? LatePolicy::kUpdate
                                    : LatePolicy::kSideOutput;
    return l;
}

void add_lateness(OperatorSpec& spec) {
    spec.param(Param::duration("allowed_lateness")
                   .default_value("0s")
                   .min(0)
                   .doc("How long after the watermark has passed an event's time the event is "
                        "still applied; later events are late."))
        .param(Param::enumeration("on_late", {"side_output", "drop", "update"})
                   .default_value("side_output")
                   .doc("What to do with late events: `side_output` emits them on `late`, `drop` "
                        "counts and drops them, `update` applies them and re-emits corrected "
                        "results. Late events are always counted."))
        .output("late",
                "Events later than `allowed_lateness` (with `on_late: side_output`), "
                "with a `lateness_ms` field.");
}

}  // namespace eddy
