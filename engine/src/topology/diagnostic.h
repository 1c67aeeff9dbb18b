// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include "eddy/config.h"

namespace eddy {

enum class Severity { kError, kWarning };

/// One finding of topology loading or validation, with the place and a hint.
/// `kind` is a stable snake_case word: unknown_field, missing_field,
/// invalid_type, invalid_option, out_of_range, unknown_component, ...
struct Diagnostic {
    Severity severity = Severity::kError;
    std::string kind;
    Location location;
    std::string message;
    std::string hint;

    /// "topology.yaml:12:5: error: <message> [kind]" plus "  hint: ..." when set.
    std::string to_string() const;
};

/// Collects every diagnostic of one load so that all are reported at once.
class Diagnostics {
public:
    void error(std::string kind, Location loc, std::string message, std::string hint = {});
    void warning(std::string kind, Location loc, std::string message, std::string hint = {});

    bool has_errors() const { return errors_ > 0; }
    size_t error_count() const { return errors_; }
    size_t warning_count() const { return items_.size() - errors_; }
    /// Errors, then warnings, each in order of place in the file (line, then
    /// column), so that the first line printed is the first error.
    std::vector<Diagnostic> sorted() const;
    const std::vector<Diagnostic>& items() const { return items_; }

private:
    std::vector<Diagnostic> items_;
    size_t errors_ = 0;
};

}  // namespace eddy
