// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "state/operator_meta.h"

namespace eddy::state {

/// A state handle as an operator registers it now, in handle-byte order.
struct LiveHandle {
    std::string name;
    bool keyed = true;
    bool shared = false;
    uint8_t version = 0;
};

/// An operator as the topology to start defines it.
struct OperatorShape {
    std::string type;
    std::string key;  ///< Empty when unkeyed.
    /// Its handles; nullptr when unknown (the operator could not be inspected),
    /// so that only its type and key are compared.
    const std::vector<LiveHandle>* handles = nullptr;
};

/// Why `stored`, the state of operator `op` as last checkpointed, cannot be
/// restored into `now`; empty when it can. Each entry is a full sentence
/// naming the operator. This is the one definition of "incompatible": `eddy
/// run` refuses a start over any of them (Job's check_compatibility()) and
/// `eddy plan` reports them, so the two cannot disagree.
std::vector<std::string> state_conflicts(const std::string& op, const OperatorMeta& stored,
                                         const OperatorShape& now);

/// The sentence for an operator with stored state that the topology no longer has.
std::string removed_operator_problem(const std::string& op, const std::string& type);

}  // namespace eddy::state
