// SPDX-License-Identifier: Apache-2.0
#include "record/line_decoder.h"

#include "eddy/units.h"

#include "record/csv.h"
#include "record/json_decoder.h"
#include "record/utf8.h"

namespace eddy {
namespace {

// Messages below name the parameter and its place but not the component:
// validation rules get the component prefixed by the validator, and
// decoder_options() prefixes it itself.

// "parameter 'event_time' (topology.yaml:7:5)", placed at `v` when it has a
// place (a key inside a map parameter), else at the parameter.
std::string param_place(const Config& cfg, std::string_view param, const ConfigValue* v = nullptr) {
    std::string where = v != nullptr && v->location().line > 0 ? v->location().to_string()
                                                               : cfg.location_of(param).to_string();
    std::string out = "parameter '" + std::string(param) + "'";
    return where.empty() ? out : out + " (" + where + ")";
}

Result<EventTimeOptions> event_time_options(const Config& cfg) {
    const ConfigValue& value = cfg.value("event_time");
    std::string prefix = param_place(cfg, "event_time");
    if (!value.is_map()) {
        return Status::invalid_argument(prefix + " must be a map like {field: ts, unit: ms}, got " +
                                        value.to_string());
    }
    EventTimeOptions options;
    for (const ConfigValue::Entry& entry : value.entries()) {
        const std::string& key = entry.first;
        const ConfigValue& v = entry.second;
        if (key == "field") {
            if (!v.is_scalar() || v.is_null() || v.as_string().empty()) {
                return Status::invalid_argument(param_place(cfg, "event_time", &v) +
                                                " has a 'field' that is not a field name");
            }
            options.field = v.as_string();
        } else if (key == "unit") {
            std::optional<TimeUnit> unit =
                v.is_scalar() ? parse_time_unit(v.as_string()) : std::nullopt;
            if (!unit) {
                return Status::invalid_argument(
                    param_place(cfg, "event_time", &v) + " has unit '" + v.to_string() +
                    "', which is not one of: " + std::string(kTimeUnitNames));
            }
            options.unit = *unit;
        } else {
            return Status::invalid_argument(param_place(cfg, "event_time", &v) +
                                            " has unknown key '" + key +
                                            "'; allowed keys: field, unit");
        }
    }
    if (options.field.empty()) {
        return Status::invalid_argument(prefix +
                                        " needs a 'field' key naming the event-time field, "
                                        "e.g. {field: ts, unit: ms}");
    }
    return options;
}

Result<char> csv_delimiter(const Config& cfg) {
    std::string text = cfg.string("csv_delimiter");
    // Tolerate a default passed through as YAML text with its quotes.
    if (text.size() == 3 && (text[0] == '"' || text[0] == '\'') && text[2] == text[0]) {
        text = text.substr(1, 1);
    }
    if (text == "\\t" || text == "tab") {
        return '\t';
    }
    if (text.size() != 1 || text[0] == '"' || text[0] == '\n' || text[0] == '\r') {
        return Status::invalid_argument(param_place(cfg, "csv_delimiter") +
                                        " must be one character other than a quote or a line "
                                        "break (\"\\t\" for tab), got '" +
                                        text + "'");
    }
    return text[0];
}

Result<DecoderOptions> read_options(const Config& cfg) {
    DecoderOptions options;
    if (cfg.has("format")) {
        const std::string& format = cfg.string("format");
        if (format == "json") {
            options.format = LineFormat::kJson;
        } else if (format == "csv") {
            options.format = LineFormat::kCsv;
        } else if (format == "raw") {
            options.format = LineFormat::kRaw;
        } else {
            return Status::invalid_argument(param_place(cfg, "format") + " is '" + format +
                                            "', which is not one of: json, csv, raw");
        }
    }
    if (cfg.has("event_time")) {
        Result<EventTimeOptions> event_time = event_time_options(cfg);
        if (!event_time.is_ok()) {
            return event_time.status();
        }
        options.event_time = std::move(event_time).value();
    }
    if (cfg.has("max_line_bytes")) {
        options.max_line_bytes = cfg.size("max_line_bytes");
        if (options.max_line_bytes == 0) {
            return Status::invalid_argument(param_place(cfg, "max_line_bytes") +
                                            " must be at least 1 byte");
        }
    }
    if (cfg.has("csv_delimiter")) {
        Result<char> delimiter = csv_delimiter(cfg);
        if (!delimiter.is_ok()) {
            return delimiter.status();
        }
        options.csv_delimiter = *delimiter;
    }
    if (cfg.has("csv_columns")) {
        options.csv_columns = cfg.strings("csv_columns");
    }
    return options;
}

}  // namespace

const char* line_format_name(LineFormat format) {
    switch (format) {
        case LineFormat::kJson:
            return "json";
        case LineFormat::kCsv:
            return "csv";
        case LineFormat::kRaw:
            return "raw";
    }
    return "json";
}

void add_decoder_params(SourceSpec& spec) {
    spec.param(Param::enumeration("format", {"json", "csv", "raw"})
                   .default_value("json")
                   .doc("How each line is decoded: `json` (one object per line; nested objects "
                        "become dotted field names), `csv` (a header row names the fields; cells "
                        "are typed as int, double, bool or string) or `raw` (the whole line as "
                        "the string field `message`)."))
        .param(Param::map("event_time")
                   .doc("The field holding the event time, and its unit: `ms`, `s`, `us`, `ns`, "
                        "`iso8601` or `auto` (default: numbers >= 1e11 are epoch ms, smaller "
                        "ones epoch seconds, strings ISO-8601). Without it, records get the "
                        "ingestion time.")
                   .example("{field: ts, unit: ms}"))
        .param(Param::size("max_line_bytes")
                   .default_value("1MB")
                   .min(1)
                   .doc("Longest accepted line; a longer one goes to `errors` and is skipped "
                        "without being buffered whole."))
        .param(Param::string("csv_delimiter")
                   .default_value(",")
                   .doc("The one-character cell delimiter of `csv` input, e.g. `;` or "
                        "`\"\\t\"`."))
        .param(Param::list("csv_columns", ParamType::kString)
                   .doc("Field names for `csv` input that has no header row; when set, the "
                        "first line is data.")
                   .example("[ts, user_id, type]"))
        .rule([](const Config& cfg) {
            return cfg.has("event_time") ? event_time_options(cfg).status().message()
                                         : std::string();
        })
        .rule([](const Config& cfg) {
            return cfg.has("csv_delimiter") ? csv_delimiter(cfg).status().message() : std::string();
        });
}

Result<DecoderOptions> decoder_options(const Config& cfg) {
    Result<DecoderOptions> options = read_options(cfg);
    if (!options.is_ok()) {
        return Status::invalid_argument("source '" + cfg.component() +
                                        "': " + options.status().message());
    }
    return options;
}

LineDecoder::LineDecoder(DecoderOptions options, FieldResolver resolve, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
    switch (options_.format) {
        case LineFormat::kJson:
            json_ = std::make_unique<JsonDecoder>(resolve);
            break;
        case LineFormat::kCsv:
            csv_ = std::make_unique<CsvDecoder>(options_.csv_delimiter, resolve);
            if (!options_.csv_columns.empty()) {
                csv_->set_columns(options_.csv_columns);
            }
            break;
        case LineFormat::kRaw:
            message_ = resolve("message");
            break;
    }
    if (options_.event_time) {
        time_field_ = resolve(options_.event_time->field);
    }
}

LineDecoder::LineDecoder(DecoderOptions options, ComponentContext& ctx)
    : LineDecoder(
          std::move(options), [&ctx](std::string_view name) { return ctx.field(name); },
          ctx.clock()) {}

LineDecoder::~LineDecoder() = default;

bool LineDecoder::needs_header() const {
    return csv_ != nullptr && !csv_->has_header();
}

Status LineDecoder::read_header(std::string_view line) {
    if (csv_ == nullptr) {
        return Status::ok();
    }
    return csv_->read_header(line);
}

Status LineDecoder::decode(std::string_view line, Record& out) {
    if (line.size() > options_.max_line_bytes) {
        return Status::parse_error("line is " + std::to_string(line.size()) +
                                   " bytes, over max_line_bytes " +
                                   format_size_bytes(options_.max_line_bytes));
    }
    switch (options_.format) {
        case LineFormat::kJson:
            EDDY_RETURN_IF_ERROR(json_->decode(line, out));
            break;
        case LineFormat::kCsv:
            EDDY_RETURN_IF_ERROR(csv_->decode(line, out));
            break;
        case LineFormat::kRaw:
            if (!is_valid_utf8(line)) {
                return Status::parse_error("invalid UTF-8 at byte offset " +
                                           std::to_string(find_invalid_utf8(line)));
            }
            out.set(message_, line);
            break;
    }
    if (!options_.event_time) {
        out.set_time(clock_.now_ms());
        return Status::ok();
    }
    int64_t ms = 0;
    EDDY_RETURN_IF_ERROR(event_time_ms(out.get(time_field_), options_.event_time->unit,
                                       options_.event_time->field, ms));
    out.set_time(ms);
    return Status::ok();
}

}  // namespace eddy
