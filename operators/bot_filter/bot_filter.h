// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "eddy/spec.h"

namespace eddy {

/// The `bot_filter` operator's spec: splits events into people (main output)
/// and bots (`bots`), by user-agent patterns, address ranges and behaviour.
/// See docs/bot_filter.md.
ComponentSpec bot_filter_spec();

}  // namespace eddy
