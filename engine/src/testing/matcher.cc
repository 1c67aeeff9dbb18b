// SPDX-License-Identifier: Apache-2.0
#include "testing/matcher.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace eddy::topology_tests {
namespace {

std::string number_text(double d) {
    std::ostringstream out;
    out.precision(15);
    out << d;
    return out.str();
}

std::string shown(const JsonValue* v) {
    return v == nullptr ? "nothing (no such field)" : v->to_string();
}

}  // namespace

bool literal_equals(const Literal& expected, const JsonValue& actual) {
    switch (expected.kind) {
        case Literal::Kind::kNull:
            return actual.kind == JsonValue::Kind::kNull;
        case Literal::Kind::kList:
            if (actual.kind != JsonValue::Kind::kArray ||
                actual.items.size() != expected.items.size()) {
                return false;
            }
            for (size_t i = 0; i < expected.items.size(); ++i) {
                if (!literal_equals(expected.items[i], actual.items[i])) {
                    return false;
                }
            }
            return true;
        case Literal::Kind::kMap:
            if (actual.kind != JsonValue::Kind::kObject ||
                actual.members.size() != expected.members.size()) {
                return false;
            }
            for (const auto& [key, member] : expected.members) {
                const JsonValue* a = actual.find(key);
                if (a == nullptr || !literal_equals(member, *a)) {
                    return false;
                }
            }
            return true;
        case Literal::Kind::kScalar:
            break;
    }
    // The literal's own JSON says how it reads (quoted: a string).
    std::optional<JsonValue> typed = parse_json(expected.to_json());
    if (!typed) {
        return false;
    }
    if (typed->is_number()) {
        if (!actual.is_number()) {
            return false;
        }
        if (typed->kind == JsonValue::Kind::kInt && actual.kind == JsonValue::Kind::kInt) {
            return typed->i == actual.i;
        }
        return typed->number() == actual.number();
    }
    if (typed->kind == JsonValue::Kind::kBool) {
        return actual.kind == JsonValue::Kind::kBool && actual.b == typed->b;
    }
    return actual.kind == JsonValue::Kind::kString && actual.s == typed->s;
}

std::string check_field(const FieldCheck& check, const JsonValue* actual) {
    const std::string field = "field " + check.field + ": ";
    bool present = actual != nullptr && actual->kind != JsonValue::Kind::kNull;
    if (check.exists) {
        if (*check.exists && !present) {
            return field + "expected a value, got " + shown(actual);
        }
        if (!*check.exists && present) {
            return field + "expected no value, got " + actual->to_string();
        }
    }
    if (check.equals) {
        if (actual == nullptr || !literal_equals(*check.equals, *actual)) {
            return field + "expected " + check.equals->to_json() + ", got " + shown(actual);
        }
    }
    if (check.approx) {
        if (actual == nullptr || !actual->is_number() ||
            std::abs(actual->number() - *check.approx) > check.tolerance) {
            return field + "expected " + number_text(*check.approx) + " ± " +
                   number_text(check.tolerance) + ", got " + shown(actual);
        }
    }
    if (check.min) {
        if (actual == nullptr || !actual->is_number() || actual->number() < *check.min) {
            return field + "expected at least " + number_text(*check.min) + ", got " +
                   shown(actual);
        }
    }
    if (check.max) {
        if (actual == nullptr || !actual->is_number() || actual->number() > *check.max) {
            return field + "expected at most " + number_text(*check.max) + ", got " + shown(actual);
        }
    }
    return {};
}

std::vector<std::string> match_record(const RecordPattern& pattern, const JsonValue& record,
                                      bool exact) {
    std::vector<std::string> failures;
    for (const FieldCheck& check : pattern.fields) {
        std::string why = check_field(check, record.find_path(check.field));
        if (!why.empty()) {
            failures.push_back(std::move(why));
        }
    }
    if (exact) {
        for (const auto& [name, value] : record.members) {
            bool named = false;
            for (const FieldCheck& check : pattern.fields) {
                named |= check.field == name;
            }
            if (!named) {
                failures.push_back("field " + name + ": not expected, got " + value.to_string());
            }
        }
    }
    return failures;
}

}  // namespace eddy::topology_tests
