// SPDX-License-Identifier: Apache-2.0
// Test support: a validator's diagnostics as text, or only its errors or warnings.
#pragma once

#include <string>
#include <vector>

#include "topology/diagnostic.h"

namespace eddy::testing {

/// Every diagnostic, one per line, in order; "(no diagnostics)" when none.
inline std::string dump(const Diagnostics& diags) {
    std::string out;
    for (const Diagnostic& d : diags.sorted()) {
        out += d.to_string() + "\n";
    }
    return out.empty() ? "(no diagnostics)\n" : out;
}

/// The diagnostics of one severity, in order.
inline std::vector<Diagnostic> of_severity(const Diagnostics& diags, Severity severity) {
    std::vector<Diagnostic> out;
    for (const Diagnostic& d : diags.sorted()) {
        if (d.severity == severity) {
            out.push_back(d);
        }
    }
    return out;
}

inline std::vector<Diagnostic> errors_of(const Diagnostics& diags) {
    return of_severity(diags, Severity::kError);
}

inline std::vector<Diagnostic> warnings_of(const Diagnostics& diags) {
    return of_severity(diags, Severity::kWarning);
}

}  // namespace eddy::testing
