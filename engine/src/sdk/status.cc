// SPDX-License-Identifier: Apache-2.0
#include "eddy/status.h"

namespace eddy {

const char* status_code_text(StatusCode code) {
    switch (code) {
        case StatusCode::kOk:
            return "ok";
        case StatusCode::kInvalidArgument:
            return "invalid_argument";
        case StatusCode::kNotFound:
            return "not_found";
        case StatusCode::kIoError:
            return "io_error";
        case StatusCode::kParseError:
            return "parse_error";
        case StatusCode::kUnsupported:
            return "unsupported";
        case StatusCode::kInternal:
            return "internal";
        case StatusCode::kAborted:
            return "aborted";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (is_ok()) {
        return "ok";
    }
    return std::string(status_code_text(code_)) + ": " + message_;
}

}  // namespace eddy
