// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include "runtime/job.h"

namespace eddy::serve {

/// GET /v1/time's answer (docs/serving.md, "Why hasn't my window fired?"):
/// the report as JSON, with for each instance the inputs that hold its
/// watermark back and the event time its next timer waits for.
std::string time_report_json(const TimeReport& report);

}  // namespace eddy::serve
