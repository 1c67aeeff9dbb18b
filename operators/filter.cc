// SPDX-License-Identifier: Apache-2.0
#include "filter.h"

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "eddy/operator.h"
#include "eddy/registry.h"

namespace eddy {
namespace {

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn, kExists, kMissing };

Op parse_op(const std::string& s) {
    if (s == "eq")
        return Op::kEq;
    if (s == "ne")
        return Op::kNe;
    if (s == "lt")
        return Op::kLt;
    if (s == "le")
        return Op::kLe;
    if (s == "gt")
        return Op::kGt;
    if (s == "ge")
        return Op::kGe;
    if (s == "in")
        return Op::kIn;
    if (s == "not_in")
        return Op::kNotIn;
    if (s == "exists")
        return Op::kExists;
    return Op::kMissing;
}

/// A configured operand, pre-parsed in every form a field may need.
struct Operand {
    std::string text;
    std::optional<double> number;
    std::optional<bool> boolean;

    explicit Operand(std::string t) : text(std::move(t)) {
        char* end = nullptr;
        double d = std::strtod(text.c_str(), &end);
        if (!text.empty() && end == text.c_str() + text.size()) {
            number = d;
        }
        if (text == "true" || text == "false") {
            boolean = text == "true";
        }
    }

    /// <0, 0, >0 like strcmp, or nullopt when the types cannot be compared.
    std::optional<int> compare(const Value& v) const {
        switch (v.type()) {
            case ValueType::kInt:
            case ValueType::kDouble:
                if (!number) {
                    return std::nullopt;
                }
                return v.as_double() < *number ? -1 : (v.as_double() > *number ? 1 : 0);
            case ValueType::kString: {
                int c = v.as_string().compare(text);
                return c < 0 ? -1 : (c > 0 ? 1 : 0);
            }
            case ValueType::kBool:
                if (!boolean) {
                    return std::nullopt;
                }
                return static_cast<int>(v.as_bool()) - static_cast<int>(*boolean);
            default:
                return std::nullopt;
        }
    }
};

class Filter final : public Operator {
public:
    explicit Filter(const Config& cfg)
        : field_name_(cfg.string("field")), op_(parse_op(cfg.string("op"))) {
        if (cfg.has("value")) {
            const ConfigValue& v = cfg.value("value");
            if (v.is_list()) {
                for (const ConfigValue& item : v.items()) {
                    operands_.emplace_back(item.as_string());
                }
            } else {
                operands_.emplace_back(v.as_string());
            }
        }
    }

    Status open(OpenContext& ctx) override {
        field_ = ctx.field(field_name_);
        rejected_ = ctx.output("rejected");
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        out.emit(record, matches(record.get(field_)) ? kMainOutput : rejected_);
    }

private:
    bool matches(const Value* v) const {
        if (op_ == Op::kExists) {
            return v != nullptr && !v->is_null();
        }
        if (op_ == Op::kMissing) {
            return v == nullptr || v->is_null();
        }
        if (v == nullptr || v->is_null()) {
            return op_ == Op::kNe || op_ == Op::kNotIn;
        }
        if (op_ == Op::kIn || op_ == Op::kNotIn) {
            bool found = false;
            for (const Operand& o : operands_) {
                if (o.compare(*v) == 0) {
                    found = true;
                    break;
                }
            }
            return found == (op_ == Op::kIn);
        }
        std::optional<int> c = operands_[0].compare(*v);
        if (!c) {
            return op_ == Op::kNe;
        }
        switch (op_) {
            case Op::kEq:
                return *c == 0;
            case Op::kNe:
                return *c != 0;
            case Op::kLt:
                return *c < 0;
            case Op::kLe:
                return *c <= 0;
            case Op::kGt:
                return *c > 0;
            case Op::kGe:
                return *c >= 0;
            default:
                return false;
        }
    }

    std::string field_name_;
    Op op_;
    std::vector<Operand> operands_;
    FieldId field_ = kInvalidField;
    OutputId rejected_ = kMainOutput;
};

std::string check_value(const Config& cfg) {
    const std::string& op = cfg.string("op");
    bool needs_value = op != "exists" && op != "missing";
    if (!needs_value) {
        return cfg.has("value") ? "`value` has no meaning with op `" + op + "`; remove it" : "";
    }
    if (!cfg.has("value")) {
        return "op `" + op + "` needs a `value`";
    }
    const ConfigValue& v = cfg.value("value");
    bool list_op = op == "in" || op == "not_in";
    if (list_op && (!v.is_list() || v.items().empty())) {
        return "op `" + op +
               "` needs `value` to be a non-empty list like `[purchase, add_to_cart]`";
    }
    if (!list_op && !v.is_scalar()) {
        return "op `" + op + "` needs `value` to be a single value; use `in` for a list";
    }
    if (v.is_list()) {
        for (const ConfigValue& item : v.items()) {
            if (!item.is_scalar() || item.is_null()) {
                return "every item of `value` must be a plain value";
            }
        }
    }
    return "";
}

}  // namespace

ComponentSpec filter_spec() {
    return OperatorSpec("filter")
        .summary("Keeps records whose field satisfies a condition; the others go to `rejected`.")
        .description(
            "Compares one field with a value. Numbers compare numerically, strings by bytes, "
            "booleans as true/false. A record without the field matches only `missing`, `ne` "
            "and `not_in`. Chain several filters for several conditions: they run fused, "
            "without a queue between them.")
        .param(Param::string("field").required().doc("The field to test.").example("type"))
        .param(Param::enumeration(
                   "op", {"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "exists", "missing"})
                   .default_value("eq")
                   .doc("The comparison: eq, ne, lt, le, gt, ge against `value`; in and not_in "
                        "against a list; exists and missing take no value."))
        .param(Param::any("value")
                   .doc("The value to compare with (a list for `in` and `not_in`).")
                   .example("[purchase, add_to_cart]"))
        .output("rejected", "Records that do not satisfy the condition.")
        .rule(check_value)
        .example("Keep purchases and carts", R"(operators:
  buys:
    type: filter
    input: clicks
    field: type
    op: in
    value: [purchase, add_to_cart]
)")
        .factory(make_component<Operator, Filter>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(filter) {
    return eddy::filter_spec();
}
