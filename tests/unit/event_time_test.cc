// SPDX-License-Identifier: Apache-2.0
// Event time (units, ISO-8601, errors), LineDecoder and the shared decoder params.
#include "record/event_time.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/clock.h"
#include "eddy/config.h"
#include "eddy/fields.h"
#include "eddy/record.h"
#include "eddy/spec.h"
#include "eddy/units.h"

#include "record/line_decoder.h"

namespace eddy {
namespace {

constexpr int64_t kTen = 1764324000000;  // 2025-11-28T10:00:00Z

std::optional<int64_t> iso(std::string_view s) {
    return parse_iso8601_ms(s);
}

TEST(Iso8601Test, AcceptedForms) {
    EXPECT_EQ(iso("2025-11-28T10:00:00Z"), kTen);
    EXPECT_EQ(iso("2025-11-28T10:00:00.123+01:00"), 1764320400123);
    EXPECT_EQ(iso("2025-11-28 10:00:00"), kTen);
    EXPECT_EQ(iso("2025-11-28t10:00:00z"), kTen);
    EXPECT_EQ(iso("2025-11-28T10:00Z"), kTen);
    EXPECT_EQ(iso("2025-11-28T10:00:00+0000"), kTen);
    EXPECT_EQ(iso("2025-11-28T11:00:00+01"), kTen);
    EXPECT_EQ(iso("2025-11-28T05:00:00-05:00"), kTen);
    EXPECT_EQ(iso("2000-01-01T00:00:00+05:30"), 946665000000);
    EXPECT_EQ(iso("2025-11-28"), kTen - 10 * 3'600'000);
    EXPECT_EQ(iso("2025-11-28T10:00:00.5Z"), kTen + 500);
    EXPECT_EQ(iso("2025-11-28T10:00:00,25Z"), kTen + 250);
    EXPECT_EQ(iso("2025-11-28T10:00:00.123456789Z"), kTen + 123);  // truncated to ms
    EXPECT_EQ(iso("2024-02-29T23:59:59.999Z"), 1709251199999);
    EXPECT_EQ(iso("1969-12-31T23:59:59Z"), -1000);
    EXPECT_EQ(iso("1900-03-01T00:00:00Z"), -2203891200000);
    EXPECT_EQ(iso("1970-01-01T00:00:00Z"), 0);
}

TEST(Iso8601Test, RejectedForms) {
    for (std::string_view bad :
         {"", "2025", "2025-11", "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-11-31",
          "2025-11-28T24:00:00Z", "2025-11-28T10:60:00Z", "2025-11-28T10:00:00.Z",
          "2025-11-28T10:00:00Q", "2025-11-28T10:00:00+25:00", "2025-11-28T10", "yesterday",
          "2025-11-28T10:00:00Z trailing", "25-11-28", "2025/11/28"}) {
        EXPECT_FALSE(iso(bad)) << bad;
    }
}

TEST(TimeUnitTest, Names) {
    for (TimeUnit u : {TimeUnit::kAuto, TimeUnit::kMs, TimeUnit::kS, TimeUnit::kUs, TimeUnit::kNs,
                       TimeUnit::kIso8601}) {
        EXPECT_EQ(parse_time_unit(time_unit_name(u)), u);
    }
    EXPECT_FALSE(parse_time_unit("min"));
    EXPECT_FALSE(parse_time_unit("MS"));
}

int64_t to_ms(const Value& v, TimeUnit unit) {
    int64_t ms = -1;
    Status s = event_time_ms(&v, unit, "ts", ms);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return ms;
}

std::string error_of(const Value* v, TimeUnit unit) {
    int64_t ms = 0;
    Status s = event_time_ms(v, unit, "ts", ms);
    EXPECT_EQ(s.code(), StatusCode::kParseError);
    return s.message();
}

TEST(EventTimeTest, ExplicitUnits) {
    EXPECT_EQ(to_ms(Value::integer(kTen), TimeUnit::kMs), kTen);
    EXPECT_EQ(to_ms(Value::integer(kTen / 1000), TimeUnit::kS), kTen);
    EXPECT_EQ(to_ms(Value::number(1764324000.123), TimeUnit::kS), kTen + 123);
    EXPECT_EQ(to_ms(Value::integer(kTen * 1000 + 999), TimeUnit::kUs), kTen);
    EXPECT_EQ(to_ms(Value::integer(kTen * 1'000'000 + 999'999), TimeUnit::kNs), kTen);
    EXPECT_EQ(to_ms(Value::integer(kTen * 1'000'000 - 1), TimeUnit::kNs), kTen - 1);  // floor
    EXPECT_EQ(to_ms(Value::number(1764324000000.4), TimeUnit::kMs), kTen);
    EXPECT_EQ(to_ms(Value::string_view("2025-11-28T10:00:00Z"), TimeUnit::kIso8601), kTen);
}

TEST(EventTimeTest, AutoUnit) {
    EXPECT_EQ(to_ms(Value::integer(kTen), TimeUnit::kAuto), kTen);  // ms
    EXPECT_EQ(to_ms(Value::integer(100'000'000'000), TimeUnit::kAuto), 100'000'000'000);
    EXPECT_EQ(to_ms(Value::integer(4'102'444'800), TimeUnit::kAuto), 4'102'444'800'000);  // s, 2100
    EXPECT_EQ(to_ms(Value::integer(1764324000), TimeUnit::kAuto), kTen);                  // seconds
    EXPECT_EQ(to_ms(Value::number(1764324000.25), TimeUnit::kAuto), kTen + 250);  // fractions
    EXPECT_EQ(to_ms(Value::number(1.764324e12), TimeUnit::kAuto), kTen);
    EXPECT_EQ(to_ms(Value::string_view("2025-11-28T10:00:00.123+01:00"), TimeUnit::kAuto),
              1764320400123);
    EXPECT_EQ(to_ms(Value::string_view("2025-11-28 10:00:00"), TimeUnit::kAuto), kTen);
    EXPECT_EQ(to_ms(Value::string_view("1764324000"), TimeUnit::kAuto), kTen);  // numeric text
}

TEST(EventTimeTest, NumericTextInNumericUnits) {
    EXPECT_EQ(to_ms(Value::string_view("1764324000000"), TimeUnit::kMs), kTen);
    EXPECT_EQ(to_ms(Value::string_view("1764324000.5"), TimeUnit::kS), kTen + 500);
    EXPECT_EQ(to_ms(Value::string_view("1764324000000000123"), TimeUnit::kNs), kTen);
}

TEST(EventTimeTest, Errors) {
    EXPECT_EQ(error_of(nullptr, TimeUnit::kMs), "event-time field 'ts' is missing");
    Value b = Value::boolean(true);
    EXPECT_EQ(error_of(&b, TimeUnit::kAuto),
              "event-time field 'ts' must be epoch ms or an ISO-8601 string, got bool");
    Value n = Value::null();
    EXPECT_EQ(error_of(&n, TimeUnit::kAuto),
              "event-time field 'ts' must be epoch ms or an ISO-8601 string, got null");
    Value s = Value::string_view("soon");
    EXPECT_EQ(error_of(&s, TimeUnit::kMs),
              "event-time field 'ts' must be a number of epoch milliseconds (unit ms), got "
              "string 'soon'");
    EXPECT_EQ(error_of(&s, TimeUnit::kAuto),
              "event-time field 'ts' is not an ISO-8601 time like 2025-11-28T10:00:00Z, got "
              "'soon'");
    Value i = Value::integer(5);
    EXPECT_EQ(error_of(&i, TimeUnit::kIso8601),
              "event-time field 'ts' must be an ISO-8601 string (unit iso8601), got int");
    Value numeric_text = Value::string_view("12345");
    EXPECT_NE(error_of(&numeric_text, TimeUnit::kIso8601).find("not an ISO-8601"),
              std::string::npos);
    std::vector<float> f = {1};
    Value v = Value::vector_view(f);
    EXPECT_EQ(error_of(&v, TimeUnit::kS),
              "event-time field 'ts' must be a number of epoch seconds (unit s), got vector");
}

TEST(EventTimeTest, OutOfRange) {
    Value huge = Value::integer(INT64_MAX / 10);
    EXPECT_EQ(error_of(&huge, TimeUnit::kS),
              "event-time field 'ts' is out of range: 922337203685477580");
    Value inf = Value::number(1e300);
    EXPECT_NE(error_of(&inf, TimeUnit::kMs).find("out of range"), std::string::npos);
}

// LineDecoder: formats combined with event time.

class LineDecoderTest : public ::testing::Test {
protected:
    LineDecoder make(DecoderOptions options) {
        return LineDecoder(
            std::move(options), [this](std::string_view n) { return table_.intern(n); }, clock_);
    }
    const Value* get(const Record& r, std::string_view name) {
        FieldId id = table_.find(name);
        return id == kInvalidField ? nullptr : r.get(id);
    }

    FieldTable table_;
    ManualClock clock_{5000};
    Batch batch_;
};

TEST_F(LineDecoderTest, JsonWithEventTime) {
    DecoderOptions o;
    o.event_time = EventTimeOptions{"ts", TimeUnit::kMs};
    LineDecoder d = make(o);
    Record& r = batch_.append();
    ASSERT_TRUE(d.decode(R"({"ts":1764324000000,"user_id":"u1"})", r).is_ok());
    EXPECT_EQ(r.time(), kTen);
    EXPECT_EQ(get(r, "ts")->as_int(), kTen);  // the field stays
    EXPECT_EQ(get(r, "user_id")->as_string(), "u1");
}

TEST_F(LineDecoderTest, NestedEventTimeField) {
    DecoderOptions o;
    o.event_time = EventTimeOptions{"meta.time", TimeUnit::kIso8601};
    LineDecoder d = make(o);
    Record& r = batch_.append();
    ASSERT_TRUE(d.decode(R"({"meta":{"time":"2025-11-28T10:00:00Z"}})", r).is_ok());
    EXPECT_EQ(r.time(), kTen);
}

TEST_F(LineDecoderTest, IngestionTimeWithoutEventTime) {
    LineDecoder d = make({});
    Record& r = batch_.append();
    ASSERT_TRUE(d.decode(R"({"a":1})", r).is_ok());
    EXPECT_EQ(r.time(), 5000);
    clock_.advance(10);
    Record& r2 = batch_.append();
    ASSERT_TRUE(d.decode(R"({"a":2})", r2).is_ok());
    EXPECT_EQ(r2.time(), 5010);
}

TEST_F(LineDecoderTest, EventTimeErrors) {
    DecoderOptions o;
    o.event_time = EventTimeOptions{"ts", TimeUnit::kAuto};
    LineDecoder d = make(o);
    Record& r = batch_.append();
    EXPECT_EQ(d.decode(R"({"user":"u1"})", r).message(), "event-time field 'ts' is missing");
    r.clear();
    EXPECT_EQ(d.decode(R"({"ts":true})", r).message(),
              "event-time field 'ts' must be epoch ms or an ISO-8601 string, got bool");
}

TEST_F(LineDecoderTest, CsvWithHeaderAndEventTime) {
    DecoderOptions o;
    o.format = LineFormat::kCsv;
    o.event_time = EventTimeOptions{"ts", TimeUnit::kS};
    LineDecoder d = make(o);
    EXPECT_TRUE(d.needs_header());
    ASSERT_TRUE(d.read_header("ts,type").is_ok());
    EXPECT_FALSE(d.needs_header());
    Record& r = batch_.append();
    ASSERT_TRUE(d.decode("1764324000,click", r).is_ok());
    EXPECT_EQ(r.time(), kTen);
    EXPECT_EQ(get(r, "type")->as_string(), "click");
}

TEST_F(LineDecoderTest, CsvColumnsAndDelimiter) {
    DecoderOptions o;
    o.format = LineFormat::kCsv;
    o.csv_delimiter = '|';
    o.csv_columns = {"a", "b"};
    LineDecoder d = make(o);
    EXPECT_FALSE(d.needs_header());
    Record& r = batch_.append();
    ASSERT_TRUE(d.decode("1|x,y", r).is_ok());
    EXPECT_EQ(get(r, "b")->as_string(), "x,y");
}

TEST_F(LineDecoderTest, RawLines) {
    DecoderOptions o;
    o.format = LineFormat::kRaw;
    LineDecoder d = make(o);
    EXPECT_FALSE(d.needs_header());
    Record& r = batch_.append();
    ASSERT_TRUE(d.decode(R"(127.0.0.1 - - "GET / HTTP/1.1" 200)", r).is_ok());
    ASSERT_EQ(r.field_count(), 1u);
    EXPECT_EQ(get(r, "message")->as_string(), R"(127.0.0.1 - - "GET / HTTP/1.1" 200)");
    EXPECT_EQ(r.time(), 5000);
    r.clear();
    EXPECT_EQ(d.decode("bad \xC3(", r).message(), "invalid UTF-8 at byte offset 4");
}

TEST_F(LineDecoderTest, LinesOverTheLimit) {
    DecoderOptions o;
    o.format = LineFormat::kRaw;
    o.max_line_bytes = 8;
    LineDecoder d = make(o);
    Record& r = batch_.append();
    EXPECT_TRUE(d.decode("12345678", r).is_ok());
    r.clear();
    EXPECT_EQ(d.decode("123456789", r).message(), "line is 9 bytes, over max_line_bytes 8");
}

// decoder_options() and add_decoder_params(), through the spec.

ComponentSpec decoder_spec() {
    SourceSpec spec("test");
    spec.summary("A test source.");
    add_decoder_params(spec);
    return spec.build();
}

// A Config as the validator would build it: given values plus the spec's defaults.
Config config(std::vector<ConfigValue::Entry> given) {
    ComponentSpec spec = decoder_spec();
    for (const Param& p : spec.params) {
        bool present = false;
        for (const auto& e : given) {
            present = present || e.first == p.name();
        }
        if (present || !p.default_text()) {
            continue;
        }
        const std::string& text = *p.default_text();
        switch (p.type()) {
            case ParamType::kSize:
                given.emplace_back(
                    p.name(),
                    ConfigValue::integer(static_cast<int64_t>(parse_size_bytes(text).value_or(0))));
                break;
            default:
                given.emplace_back(p.name(), ConfigValue::string(text));
                break;
        }
    }
    return Config("clicks", "test", ConfigValue::map(std::move(given)),
                  Location{"topology.yaml", 3, 5});
}

ConfigValue event_time(std::vector<ConfigValue::Entry> entries) {
    return ConfigValue::map(std::move(entries), Location{"topology.yaml", 7, 17});
}

TEST(DecoderOptionsTest, Defaults) {
    Result<DecoderOptions> o = decoder_options(config({}));
    ASSERT_TRUE(o.is_ok()) << o.status().to_string();
    EXPECT_EQ(o->format, LineFormat::kJson);
    EXPECT_FALSE(o->event_time);
    EXPECT_EQ(o->max_line_bytes, 1u << 20);
    EXPECT_EQ(o->csv_delimiter, ',');
    EXPECT_TRUE(o->csv_columns.empty());
}

TEST(DecoderOptionsTest, AllSet) {
    Result<DecoderOptions> o = decoder_options(config({
        {"format", ConfigValue::string("csv")},
        {"event_time", event_time({{"field", ConfigValue::string("ts")},
                                   {"unit", ConfigValue::string("iso8601")}})},
        {"max_line_bytes", ConfigValue::integer(4096)},
        {"csv_delimiter", ConfigValue::string("\\t")},
        {"csv_columns", ConfigValue::list({ConfigValue::string("a"), ConfigValue::string("b")})},
    }));
    ASSERT_TRUE(o.is_ok()) << o.status().to_string();
    EXPECT_EQ(o->format, LineFormat::kCsv);
    ASSERT_TRUE(o->event_time);
    EXPECT_EQ(o->event_time->field, "ts");
    EXPECT_EQ(o->event_time->unit, TimeUnit::kIso8601);
    EXPECT_EQ(o->max_line_bytes, 4096u);
    EXPECT_EQ(o->csv_delimiter, '\t');
    EXPECT_EQ(o->csv_columns, (std::vector<std::string>{"a", "b"}));
}

TEST(DecoderOptionsTest, EventTimeUnitDefaultsToAuto) {
    Result<DecoderOptions> o = decoder_options(
        config({{"event_time", event_time({{"field", ConfigValue::string("ts")}})}}));
    ASSERT_TRUE(o.is_ok());
    EXPECT_EQ(o->event_time->unit, TimeUnit::kAuto);
}

std::string options_error(std::vector<ConfigValue::Entry> given) {
    Result<DecoderOptions> o = decoder_options(config(std::move(given)));
    EXPECT_FALSE(o.is_ok());
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
    return o.status().message();
}

TEST(DecoderOptionsTest, Errors) {
    EXPECT_EQ(options_error({{"event_time", event_time({{"field", ConfigValue::string("ts")},
                                                        {"unit", ConfigValue::string("min")}})}}),
              "source 'clicks': parameter 'event_time' (topology.yaml:7:17) has unit 'min', "
              "which is not one of: ms, s, us, ns, iso8601, auto");
    EXPECT_EQ(options_error({{"event_time", event_time({{"field", ConfigValue::string("ts")},
                                                        {"zone", ConfigValue::string("UTC")}})}}),
              "source 'clicks': parameter 'event_time' (topology.yaml:7:17) has unknown key "
              "'zone'; allowed keys: field, unit");
    EXPECT_EQ(options_error({{"event_time", event_time({{"unit", ConfigValue::string("ms")}})}}),
              "source 'clicks': parameter 'event_time' (topology.yaml:7:17) needs a 'field' "
              "key naming the event-time field, e.g. {field: ts, unit: ms}");
    EXPECT_NE(options_error({{"csv_delimiter", ConfigValue::string(";;")}}).find("one character"),
              std::string::npos);
    EXPECT_NE(options_error({{"csv_delimiter", ConfigValue::string("\"")}}).find("one character"),
              std::string::npos);
}

TEST(DecoderOptionsTest, PlacesAreThoseOfTheKeysWhenKnown) {
    ConfigValue unit = ConfigValue::string("min", Location{"topology.yaml", 8, 9});
    EXPECT_EQ(options_error({{"event_time",
                              event_time({{"field", ConfigValue::string("ts")}, {"unit", unit}})}}),
              "source 'clicks': parameter 'event_time' (topology.yaml:8:9) has unit 'min', "
              "which is not one of: ms, s, us, ns, iso8601, auto");
}

TEST(DecoderParamsTest, EveryParamIsDocumentedAndTheRulesReportEveryError) {
    ComponentSpec spec = decoder_spec();
    std::vector<std::string> names;
    for (const Param& p : spec.params) {
        names.push_back(p.name());
        EXPECT_FALSE(p.doc_text().empty()) << p.name();
    }
    EXPECT_EQ(names, (std::vector<std::string>{"format", "event_time", "max_line_bytes",
                                               "csv_delimiter", "csv_columns"}));
    EXPECT_EQ(spec.find_param("format")->values(),
              (std::vector<std::string>{"json", "csv", "raw"}));
    EXPECT_EQ(*spec.find_param("format")->default_text(), "json");
    EXPECT_EQ(*spec.find_param("max_line_bytes")->default_text(), "1MB");
    EXPECT_EQ(*spec.find_param("csv_delimiter")->default_text(), ",");

    auto messages = [&](const Config& cfg) {
        std::vector<std::string> out;
        for (const ConfigRule& rule : spec.rules) {
            std::string m = rule(cfg);
            if (!m.empty()) {
                out.push_back(m);
            }
        }
        return out;
    };
    EXPECT_TRUE(messages(config({})).empty());
    // Both problems at once; the validator prefixes the component.
    std::vector<std::string> both =
        messages(config({{"event_time", event_time({{"unit", ConfigValue::string("h")}})},
                         {"csv_delimiter", ConfigValue::string("ab")}}));
    ASSERT_EQ(both.size(), 2u);
    EXPECT_EQ(both[0],
              "parameter 'event_time' (topology.yaml:7:17) has unit 'h', which is not one of: "
              "ms, s, us, ns, iso8601, auto");
    EXPECT_EQ(both[1],
              "parameter 'csv_delimiter' (topology.yaml:3:5) must be one character other than a "
              "quote or a line break (\"\\t\" for tab), got 'ab'");
}

TEST(EventTimeRangeTest, NegativeAndAbsurdTimesAreErrors) {
    int64_t ms = 0;
    Value negative = Value::integer(-5);
    Status s = event_time_ms(&negative, TimeUnit::kMs, "ts", ms);
    EXPECT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(),
              "event-time field 'ts' is -5 ms, outside 1970-01-01 to 2200-01-01; check its unit");
    // Microseconds read as milliseconds land in the year 57000.
    Value micros = Value::integer(1'735'689'600'000'000);
    EXPECT_FALSE(event_time_ms(&micros, TimeUnit::kMs, "ts", ms).is_ok());
    Value last = Value::integer(kMaxEventTimeMs - 1);
    EXPECT_TRUE(event_time_ms(&last, TimeUnit::kMs, "ts", ms).is_ok());
    Value first = Value::integer(kMaxEventTimeMs);
    EXPECT_FALSE(event_time_ms(&first, TimeUnit::kMs, "ts", ms).is_ok());
    Value epoch = Value::integer(0);
    EXPECT_TRUE(event_time_ms(&epoch, TimeUnit::kMs, "ts", ms).is_ok());
    Value text = Value::string_view("1969-12-31T23:59:59Z");
    EXPECT_FALSE(event_time_ms(&text, TimeUnit::kIso8601, "ts", ms).is_ok());
}

}  // namespace
}  // namespace eddy
