// SPDX-License-Identifier: Apache-2.0
#include "record/csv.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "record/utf8.h"

namespace eddy {
namespace {

bool equals_ignore_case(std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
        if (c != lower[i]) {
            return false;
        }
    }
    return true;
}

Status invalid_utf8(std::string_view line) {
    return Status::parse_error("invalid UTF-8 at byte offset " +
                               std::to_string(find_invalid_utf8(line)));
}

}  // namespace

Status split_csv_row(std::string_view line, char delimiter, std::vector<std::string_view>& cells,
                     std::string& scratch) {
    cells.clear();
    scratch.clear();
    // Unescaped text is never longer than the line, so scratch never reallocates
    // and the views into it stay valid.
    scratch.reserve(line.size());
    size_t pos = 0;
    while (true) {
        if (pos < line.size() && line[pos] == '"') {
            size_t start = scratch.size();
            ++pos;
            while (true) {
                size_t quote = line.find('"', pos);
                if (quote == std::string_view::npos) {
                    return Status::parse_error("cell " + std::to_string(cells.size() + 1) +
                                               " has an unterminated quote (quoted cells "
                                               "cannot span lines)");
                }
                scratch.append(line.data() + pos, quote - pos);
                if (quote + 1 < line.size() && line[quote + 1] == '"') {
                    scratch += '"';
                    pos = quote + 2;
                    continue;
                }
                pos = quote + 1;
                break;
            }
            cells.emplace_back(scratch.data() + start, scratch.size() - start);
            if (pos == line.size()) {
                return Status::ok();
            }
            if (line[pos] != delimiter) {
                return Status::parse_error("cell " + std::to_string(cells.size()) +
                                           " has text after its closing quote");
            }
            ++pos;
            continue;
        }
        size_t end = line.find(delimiter, pos);
        if (end == std::string_view::npos) {
            cells.push_back(line.substr(pos));
            return Status::ok();
        }
        cells.push_back(line.substr(pos, end - pos));
        pos = end + 1;
    }
}

void set_typed_cell(Record& out, FieldId id, std::string_view text) {
    if (text.empty()) {
        return;
    }
    char first = text[0];
    if ((first >= '0' && first <= '9') || first == '-' || first == '.') {
        const char* end = text.data() + text.size();
        int64_t i = 0;
        auto [iend, iec] = std::from_chars(text.data(), end, i);
        if (iec == std::errc() && iend == end) {
            out.set(id, i);
            return;
        }
        double d = 0;
        auto [dend, dec] = std::from_chars(text.data(), end, d);
        if (dec == std::errc() && dend == end && std::isfinite(d)) {
            out.set(id, d);
            return;
        }
    } else if (equals_ignore_case(text, "true")) {
        out.set(id, true);
        return;
    } else if (equals_ignore_case(text, "false")) {
        out.set(id, false);
        return;
    }
    out.set(id, text);
}

CsvDecoder::CsvDecoder(char delimiter, FieldResolver resolve)
    : delimiter_(delimiter), fields_(std::move(resolve)) {}

Status CsvDecoder::read_header(std::string_view line) {
    if (line.starts_with("\xEF\xBB\xBF")) {
        line.remove_prefix(3);
    }
    if (!is_valid_utf8(line)) {
        return invalid_utf8(line);
    }
    EDDY_RETURN_IF_ERROR(split_csv_row(line, delimiter_, cells_, scratch_));
    columns_.clear();
    for (size_t i = 0; i < cells_.size(); ++i) {
        columns_.push_back(cells_[i].empty() ? fields_.get("column_" + std::to_string(i + 1))
                                             : fields_.get(cells_[i]));
    }
    return Status::ok();
}

void CsvDecoder::set_columns(const std::vector<std::string>& names) {
    columns_.clear();
    for (const std::string& name : names) {
        columns_.push_back(fields_.get(name));
    }
}

Status CsvDecoder::decode(std::string_view line, Record& out) {
    if (!is_valid_utf8(line)) {
        return invalid_utf8(line);
    }
    EDDY_RETURN_IF_ERROR(split_csv_row(line, delimiter_, cells_, scratch_));
    if (cells_.size() != columns_.size()) {
        return Status::parse_error("row has " + std::to_string(cells_.size()) +
                                   " cells but the header has " + std::to_string(columns_.size()));
    }
    for (size_t i = 0; i < cells_.size(); ++i) {
        set_typed_cell(out, columns_[i], cells_[i]);
    }
    return Status::ok();
}

}  // namespace eddy
