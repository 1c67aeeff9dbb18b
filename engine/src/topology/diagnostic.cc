// SPDX-License-Identifier: Apache-2.0
#include "topology/diagnostic.h"

#include <algorithm>

namespace eddy {

std::string Diagnostic::to_string() const {
    std::string out = location.to_string();
    out += severity == Severity::kError ? ": error: " : ": warning: ";
    out += message;
    out += " [" + kind + "]";
    if (!hint.empty()) {
        out += "\n  hint: " + hint;
    }
    return out;
}

void Diagnostics::error(std::string kind, Location loc, std::string message, std::string hint) {
    items_.push_back(
        {Severity::kError, std::move(kind), std::move(loc), std::move(message), std::move(hint)});
    ++errors_;
}

void Diagnostics::warning(std::string kind, Location loc, std::string message, std::string hint) {
    items_.push_back(
        {Severity::kWarning, std::move(kind), std::move(loc), std::move(message), std::move(hint)});
}

std::vector<Diagnostic> Diagnostics::sorted() const {
    std::vector<Diagnostic> out = items_;
    std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
        if (a.severity != b.severity) {
            return a.severity == Severity::kError;
        }
        if (a.location.line != b.location.line) {
            return a.location.line < b.location.line;
        }
        return a.location.column < b.location.column;
    });
    return out;
}

}  // namespace eddy
