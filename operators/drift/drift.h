// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "eddy/spec.h"

namespace eddy {

/// The `drift` operator's spec: ADWIN change detection on a numeric field.
ComponentSpec drift_spec();

}  // namespace eddy
