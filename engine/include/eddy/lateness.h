// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>

namespace eddy {

class Config;
class OperatorSpec;

/// What an operator does with an event that is later than its allowed lateness.
enum class LatePolicy {
    kSideOutput,  ///< Emit it on the `late` output (and count it).
    kDrop,        ///< Count it and drop it.
    kUpdate,      ///< Count it and apply it anyway, re-emitting corrected results.
};

/// An operator's lateness settings, read from the parameters add_lateness() declares.
struct Lateness {
    int64_t allowed_ms = 0;
    LatePolicy policy = LatePolicy::kSideOutput;

    static Lateness from(const Config& cfg);
};

/// Declares `allowed_lateness` (duration, default 0s), `on_late`
/// (side_output | drop | update, default side_output) and the `late` output.
void add_lateness(OperatorSpec& spec);

}  // namespace eddy
