// SPDX-License-Identifier: Apache-2.0
#include "select.h"

#include <string>
#include <utility>
#include <vector>

#include "eddy/operator.h"
#include "eddy/registry.h"

namespace eddy {
namespace {

class Select final : public Operator {
public:
    explicit Select(const Config& cfg) {
        if (cfg.has("fields")) {
            keep_names_ = cfg.strings("fields");
        }
        if (cfg.has("drop")) {
            drop_names_ = cfg.strings("drop");
        }
        if (cfg.has("rename")) {
            for (const auto& [from, to] : cfg.value("rename").entries()) {
                rename_names_.emplace_back(from, to.as_string());
            }
        }
    }

    Status open(OpenContext& ctx) override {
        for (const std::string& n : keep_names_) {
            keep_.push_back(ctx.field(n));
        }
        for (const std::string& n : drop_names_) {
            drop_.push_back(ctx.field(n));
        }
        for (const auto& [from, to] : rename_names_) {
            rename_.emplace_back(ctx.field(from), ctx.field(to));
        }
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        Record& r = out.append();
        r.set_time(record.time());
        if (!keep_.empty()) {
            // Kept fields come out in the order `fields` lists them.
            for (FieldId id : keep_) {
                if (const Value* v = record.get(id)) {
                    r.set_value(renamed(id), *v);
                }
            }
            return;
        }
        for (const Field& f : record.fields()) {
            if (!dropped(f.id)) {
                r.set_value(renamed(f.id), f.value);
            }
        }
    }

private:
    FieldId renamed(FieldId id) const {
        for (const auto& [from, to] : rename_) {
            if (from == id) {
                return to;
            }
        }
        return id;
    }
    bool dropped(FieldId id) const {
        for (FieldId d : drop_) {
            if (d == id) {
                return true;
            }
        }
        return false;
    }

    std::vector<std::string> keep_names_;
    std::vector<std::string> drop_names_;
    std::vector<std::pair<std::string, std::string>> rename_names_;
    std::vector<FieldId> keep_;
    std::vector<FieldId> drop_;
    std::vector<std::pair<FieldId, FieldId>> rename_;
};

std::string check_select(const Config& cfg) {
    if (cfg.has("fields") && cfg.has("drop")) {
        return "give either `fields` (keep only these) or `drop` (remove these), not both";
    }
    if (!cfg.has("fields") && !cfg.has("drop") && !cfg.has("rename")) {
        return "give `fields`, `drop` or `rename`; otherwise select changes nothing";
    }
    if (cfg.has("rename")) {
        for (const auto& [from, to] : cfg.value("rename").entries()) {
            if (to.as_string().empty()) {
                return "`rename` of '" + from + "' needs a new name";
            }
        }
    }
    return "";
}

}  // namespace

ComponentSpec select_spec() {
    return OperatorSpec("select")
        .summary("Keeps, drops and renames fields.")
        .description(
            "With `fields`, only the listed fields are kept, in that order; with `drop`, the "
            "listed "
            "fields are removed. `rename` applies after either. Missing fields are skipped.")
        .param(Param::list("fields")
                   .doc("Fields to keep, in output order.")
                   .example("[user_id, type, ts]"))
        .param(Param::list("drop").doc("Fields to remove.").example("[ip, ua]"))
        .param(Param::map("rename", ParamType::kString)
                   .doc("Old name to new name.")
                   .example("{user_id: user}"))
        .rule(check_select)
        .example("Strip personal fields", R"(operators:
  anonymous:
    type: select
    input: clicks
    drop: [ip, ua]
)")
        .factory(make_component<Operator, Select>);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(select) {
    return eddy::select_spec();
}
