// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eddy/record.h"
#include "eddy/status.h"

#include "record/field_cache.h"

namespace eddy {

/// Splits one CSV row into `cells` (RFC 4180: cells may be quoted with `"`, a
/// doubled quote inside is one quote, a quoted cell may hold the delimiter).
/// A row is one line: a quoted cell cannot span lines. The text of quoted
/// cells is unescaped into `scratch`, so the views stay valid until `scratch`
/// is next changed. Errors: an unterminated quote, text after a closing quote.
Status split_csv_row(std::string_view line, char delimiter, std::vector<std::string_view>& cells,
                     std::string& scratch);

/// Decodes CSV rows into records, using a header row for the field names.
/// Cell typing: an integer becomes int, another number double, `true`/`false`
/// (any case) bool, an empty cell leaves the field absent, anything else is a
/// string. Not thread-safe: one decoder per thread.
class CsvDecoder {
public:
    CsvDecoder(char delimiter, FieldResolver resolve);

    /// Whether a header was read (or columns were set).
    bool has_header() const { return !columns_.empty(); }
    /// Takes the field names from a header row (a leading UTF-8 BOM is
    /// ignored; an empty name becomes `column_N`, N 1-based).
    Status read_header(std::string_view line);
    /// Sets the field names directly, for inputs without a header row.
    void set_columns(const std::vector<std::string>& names);

    /// Adds the cells of one row to `out`. Errors: invalid UTF-8 (with the byte
    /// offset), bad quoting, a cell count that differs from the header's.
    Status decode(std::string_view line, Record& out);

    /// The id of `name` through this decoder's cache.
    FieldId field(std::string_view name) { return fields_.get(name); }

private:
    char delimiter_;
    FieldCache fields_;
    std::vector<FieldId> columns_;
    std::vector<std::string_view> cells_;
    std::string scratch_;
};

/// Sets `id` on `out` from CSV cell text typed as described at CsvDecoder.
void set_typed_cell(Record& out, FieldId id, std::string_view text);

}  // namespace eddy
