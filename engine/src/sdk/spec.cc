// SPDX-License-Identifier: Apache-2.0
#include "eddy/spec.h"

namespace eddy {

const char* component_kind_name(ComponentKind kind) {
    switch (kind) {
        case ComponentKind::kSource:
            return "source";
        case ComponentKind::kOperator:
            return "operator";
        case ComponentKind::kSink:
            return "sink";
    }
    return "component";
}

const Param* ComponentSpec::find_param(std::string_view param_name) const {
    for (const Param& p : params) {
        if (p.name() == param_name) {
            return &p;
        }
    }
    return nullptr;
}

bool ComponentSpec::has_output(std::string_view output_name) const {
    if (output_name == "errors") {
        return true;
    }
    for (const OutputSpec& o : outputs) {
        if (o.name == output_name) {
            return true;
        }
    }
    return false;
}

const StateSpec* ComponentSpec::find_state(std::string_view state_name) const {
    for (const StateSpec& st : states) {
        if (st.name == state_name) {
            return &st;
        }
    }
    return nullptr;
}

}  // namespace eddy
