// SPDX-License-Identifier: Apache-2.0
#include "eddy/param.h"

#include <cstdio>

namespace eddy {

const char* param_type_name(ParamType type) {
    switch (type) {
        case ParamType::kString:
            return "string";
        case ParamType::kInt:
            return "int";
        case ParamType::kDouble:
            return "double";
        case ParamType::kBool:
            return "bool";
        case ParamType::kDuration:
            return "duration";
        case ParamType::kSize:
            return "size";
        case ParamType::kEnum:
            return "enum";
        case ParamType::kList:
            return "list";
        case ParamType::kMap:
            return "map";
        case ParamType::kAny:
            return "any";
    }
    return "unknown";
}

Param& Param::default_value(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return default_value(std::string(buf));
}

std::string Param::type_text() const {
    switch (type_) {
        case ParamType::kEnum: {
            std::string out = "one of: ";
            for (size_t i = 0; i < values_.size(); ++i) {
                out += (i ? ", " : "") + values_[i];
            }
            return out;
        }
        case ParamType::kList:
            return item_ == ParamType::kAny ? "list"
                                            : std::string("list of ") + param_type_name(item_);
        case ParamType::kMap:
            return item_ == ParamType::kAny ? "map"
                                            : std::string("map of ") + param_type_name(item_);
        default:
            return param_type_name(type_);
    }
}

}  // namespace eddy
