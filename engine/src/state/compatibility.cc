// SPDX-License-Identifier: Apache-2.0
#include "state/compatibility.h"

namespace eddy::state {
namespace {

std::string key_text(const std::string& key) {
    return key.empty() ? "unkeyed" : "keyed by '" + key + "'";
}

}  // namespace

std::vector<std::string> state_conflicts(const std::string& op, const OperatorMeta& stored,
                                         const OperatorShape& now) {
    if (stored.type != now.type) {
        // Nothing else is comparable across types.
        return {"operator '" + op + "' was a " + stored.type + " and is now a " + now.type +
                "; its state would be misread"};
    }
    std::vector<std::string> out;
    bool keyed_data = stored.handles.empty();  // only timers, which are per key
    for (const OperatorMeta::Handle& h : stored.handles) {
        keyed_data |= h.keyed;
    }
    // State written before key fields were recorded cannot be checked.
    if (stored.has_key_field && stored.key_field != now.key && keyed_data) {
        out.push_back("operator '" + op + "' was " + key_text(stored.key_field) + " and is now " +
                      key_text(now.key) +
                      "; its keyed state and timers would be looked up under other keys");
    }
    if (now.handles == nullptr) {
        return out;
    }
    for (size_t i = 0; i < stored.handles.size(); ++i) {
        const OperatorMeta::Handle& h = stored.handles[i];
        size_t j = 0;
        while (j < now.handles->size() && (*now.handles)[j].name != h.name) {
            ++j;
        }
        if (j == now.handles->size()) {
            out.push_back("operator '" + op + "' no longer keeps state '" + h.name +
                          "'; it would be lost");
            continue;
        }
        const LiveHandle& live = (*now.handles)[j];
        if (live.keyed != h.keyed) {
            out.push_back("operator '" + op + "' state '" + h.name + "' was " +
                          (h.keyed ? "keyed" : "operator-wide") + " and is now " +
                          (live.keyed ? "keyed" : "operator-wide") + "; it would be misread");
        } else if (h.version > live.version) {
            out.push_back("operator '" + op + "' state '" + h.name + "' has format version " +
                          std::to_string(h.version) + ", newer than this Eddy's " +
                          std::to_string(live.version));
        } else if (h.keyed && i != j) {
            // Keyed entries carry their handle's position (state/layout.h).
            out.push_back("operator '" + op + "' state '" + h.name + "' moved from position " +
                          std::to_string(i) + " to " + std::to_string(j) +
                          " among its states; its entries would be read as another state's");
        }
    }
    return out;
}

std::string removed_operator_problem(const std::string& op, const std::string& type) {
    return "operator '" + op + "' (" + type +
           ") has state but is no longer in the topology; its state would be lost";
}

}  // namespace eddy::state
