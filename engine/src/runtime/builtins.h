// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "eddy/registry.h"

namespace eddy {

/// Every built-in source, sink and operator, registered once on first use.
const Registry& builtin_registry();

}  // namespace eddy
