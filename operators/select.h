// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "eddy/spec.h"

namespace eddy {

/// The `select` operator's spec: keeps, drops and renames fields.
ComponentSpec select_spec();

}  // namespace eddy
