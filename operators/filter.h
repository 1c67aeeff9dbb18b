// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "eddy/spec.h"

namespace eddy {

/// The `filter` operator's spec: keeps records whose field satisfies a condition.
ComponentSpec filter_spec();

}  // namespace eddy
