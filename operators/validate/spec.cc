// SPDX-License-Identifier: Apache-2.0
// validate: the spec.
#include <string>
#include <vector>

#include "eddy/registry.h"

#include "validate/validate.h"

namespace eddy {
namespace {

std::string check_validate(const Config& cfg) {
    std::vector<validate::FieldRule> rules;
    return join_problems(validate::parse_schema(cfg, rules));
}

}  // namespace

ComponentSpec validate_spec() {
    return OperatorSpec("validate")
        .summary(
            "Checks each record against a schema of field rules; records that break any rule "
            "go to `errors` with every reason, the others pass on, coerced where asked.")
        .description(
            "`fields` maps a field name to its rules: `type` (string, int, number, bool, vector "
            "or any; `integer`, `double` and `boolean` are accepted too), `required`, `enum` "
            "(the allowed values), `min` and `max` (inclusive, for int and number), "
            "`min_length` and `max_length` (characters of a string, items of a vector), "
            "`pattern` (an RE2 regular expression that must match somewhere in a string; "
            "anchor it with ^ and $ to match the whole), `coerce` and `description` (ignored). "
            "A bare type name is shorthand: `user_id: string`.\n\n"
            "A field that is absent or null is missing: it breaks only `required`; otherwise "
            "no other rule applies to it. `number` accepts ints and doubles; `int` accepts "
            "ints and integral doubles (3.0 passes on as 3).\n\n"
            "Coercion (`coerce: true` on a field, or for every field at the top level) turns "
            "a value of another type into the field's type when that loses nothing, as Ajv's "
            "coerceTypes does: to int, a string holding an integer (\"42\", \"4.2e1\") or a "
            "bool (1, 0); to number, a string holding a finite decimal number (ints stay ints) "
            "or a bool; to bool, the strings \"true\" and \"false\" and the numbers 1 and 0; "
            "to string, a number or a bool (shortest round-trip text). Strings must hold the "
            "number exactly, without spaces or a `+`. Other rules check the coerced value, and "
            "the record passes on with it.\n\n"
            "Every rule of every field is checked: a record that breaks any goes to `errors` "
            "unchanged, with `error` holding every reason, joined by `; `, each starting with "
            "the field's name, e.g. \"`user_id` is required but missing; `dwell_ms` must be at "
            "least 0, got -5\". Fields not in `fields` are kept (`unknown_fields: allow`, as "
            "JSON Schema's additionalProperties), removed (`drop`), or each a reason (`reject`: "
            "\"`x` is not in the schema\").\n\n"
            "Metrics: `eddy_validate_violations_total{field}` (values that broke a rule; a "
            "record can count under several fields), `eddy_validate_coerced_total{field}` and "
            "`eddy_validate_unknown_fields_total`. docs/cleaning.md has the details.")
        .param(Param::map("fields")
                   .required()
                   .doc("Field name to rules: a map with `type`, `required`, `enum`, `min`, "
                        "`max`, `min_length`, `max_length`, `pattern`, `coerce`, "
                        "`description`, or a bare type name.")
                   .example("{user_id: {type: string, required: true, pattern: \"^u[0-9]+$\"}, "
                            "dwell_ms: {type: int, min: 0}, device: {enum: [desktop, mobile, "
                            "tablet]}}"))
        .param(Param::boolean("coerce").default_value(false).doc(
            "Coerce values to their field's type wherever possible; a field's own `coerce` "
            "overrides it."))
        .param(Param::enumeration("unknown_fields", {"allow", "drop", "reject"})
                   .default_value("allow")
                   .doc("Fields not in `fields`: kept (allow), removed from the record (drop), "
                        "or a reason to send the record to `errors` (reject)."))
        .rule(check_validate)
        .example("Check clickstream events", R"(operators:
  valid:
    type: validate
    input: clicks
    fields:
      ts: {type: int, required: true}
      user_id: {type: string, required: true, pattern: "^u[0-9]+$"}
      type:
        type: string
        required: true
        enum: [page_view, click, add_to_cart, purchase, video_play, search, scroll, signup]
      dwell_ms: {type: int, min: 0, max: 86400000, coerce: true}
      scroll_pct: {type: number, min: 0, max: 1}
      device: {type: string, enum: [desktop, mobile, tablet]}
      url: {type: string, max_length: 2048}
)")
        .example("Coerce everything and keep only known fields", R"(operators:
  typed:
    type: validate
    input: clicks
    coerce: true
    unknown_fields: drop
    fields:
      ts: int
      user_id: string
      type: string
      item_id: string
      price: {type: number, min: 0}
)")
        .factory(validate::make_operator);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(validate) {
    return eddy::validate_spec();
}
