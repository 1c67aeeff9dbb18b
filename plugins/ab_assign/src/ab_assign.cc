// SPDX-License-Identifier: Apache-2.0
// The `ab_assign` operator: stable, salted assignment of keys to experiment
// variants. docs/plugins/ab_assign.md defines the hash and the layout exactly.
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/operator.h"
#include "eddy/plugin.h"
#include "eddy/sha256.h"
#include "eddy/spec.h"

namespace eddy {
namespace {

struct Variant {
    std::string name;
    double weight;
};

/// A double in its shortest exact text ("0.25"), for messages.
std::string number_text(double d) {
    std::array<char, 32> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
    (void)ec;  // 32 bytes always fit the shortest form of a double
    return {buf.data(), end};
}

/// " (file:line:column)" where `v` was written, or "" when unknown.
std::string at(const ConfigValue& v) {
    return v.location().line > 0 ? " (" + v.location().to_string() + ")" : "";
}

/// Where each variant sits in [0, 1). Variant i owns the block [start_i,
/// start_i + share_i), share_i = weight_i / sum of weights, blocks in the
/// order written; its keys are in the experiment when u < start_i + share_i *
/// exposure, the rest of the block is excluded. So raising `exposure` only
/// adds keys: nobody changes variant. The doubles are computed in the same
/// order as the JavaScript in docs/plugins/ab_assign.md, so both agree bit
/// for bit (CMakeLists.txt turns off FMA contraction for that).
struct Layout {
    std::vector<double> in_end;     ///< u below this (and above the previous block): variant i.
    std::vector<double> block_end;  ///< u below this, not below in_end: excluded.
    bool full = true;               ///< exposure == 1: rounding leftovers go to the last variant.

    Layout(const std::vector<Variant>& variants, double exposure) : full(exposure == 1.0) {
        double total = 0;
        for (const Variant& v : variants) {
            total += v.weight;
        }
        double start = 0;
        for (const Variant& v : variants) {
            double share = v.weight / total;
            in_end.push_back(start + share * exposure);
            start += share;
            block_end.push_back(start);
        }
    }

    /// The variant of `u`, or -1 when its key is outside the exposure.
    int pick(double u) const {
        for (size_t i = 0; i < in_end.size(); ++i) {
            if (u < in_end[i]) {
                return static_cast<int>(i);
            }
            if (u < block_end[i]) {
                return -1;
            }
        }
        // The shares may sum to a hair below 1.
        return full ? static_cast<int>(in_end.size()) - 1 : -1;
    }
};

std::vector<Variant> read_variants(const Config& cfg) {
    std::vector<Variant> out;
    for (const auto& [name, weight] : cfg.value("variants").entries()) {
        out.push_back({name, weight.as_double()});
    }
    return out;
}

class AbAssign final : public Operator {
public:
    explicit AbAssign(const Config& cfg)
        : experiment_(cfg.string("experiment")),
          prefix_((cfg.has("salt") ? cfg.string("salt") : experiment_) + "."),
          key_name_(cfg.string("key_field")),
          field_name_(cfg.string("field")),
          bucket_name_(cfg.has("bucket_field") ? cfg.string("bucket_field") : ""),
          variants_(read_variants(cfg)),
          layout_(variants_, cfg.number("exposure")) {}

    Status open(OpenContext& ctx) override {
        key_field_ = ctx.field(key_name_);
        field_ = ctx.field(field_name_);
        bucket_field_ = bucket_name_.empty() ? kInvalidField : ctx.field(bucket_name_);
        excluded_ = ctx.output("excluded");
        for (const Variant& v : variants_) {
            assigned_.push_back(ctx.counter("ab_assign_assignments_total",
                                            "Records assigned to a variant, by variant.",
                                            {{"experiment", experiment_}, {"variant", v.name}}));
        }
        excluded_count_ = ctx.counter("ab_assign_excluded_total",
                                      "Records whose key is outside the experiment's exposure.",
                                      {{"experiment", experiment_}});
        std::string where = "field `" + key_name_ + "`";
        missing_reason_ = "the record has no " + where + ", the key that ab_assign hashes";
        empty_reason_ = where + " is an empty string; ab_assign needs a key to hash";
        for (size_t t = 0; t < type_reasons_.size(); ++t) {
            auto type = static_cast<ValueType>(t);
            type_reasons_[t] =
                where + " holds " +
                (type == ValueType::kNull ? "null" : "a " + std::string(value_type_name(type))) +
                ", not a string or an integer; ab_assign hashes only those";
        }
        if (ctx.shard() == 0) {
            ctx.log(LogLevel::kInfo, describe());
        }
        return Status::ok();
    }

    void process(const Record& record, Emitter& out) override {
        const Value* key = record.get(key_field_);
        if (key == nullptr) {
            out.error(record, missing_reason_);
            return;
        }
        std::array<char, 24> digits;  // an int64 has at most 20 characters
        std::string_view text;
        if (key->is_string()) {
            text = key->as_string();
            if (text.empty()) {
                out.error(record, empty_reason_);
                return;
            }
        } else if (key->is_int()) {
            auto [end, ec] =
                std::to_chars(digits.data(), digits.data() + digits.size(), key->as_int());
            (void)ec;  // always fits
            text = std::string_view(digits.data(), static_cast<size_t>(end - digits.data()));
        } else {
            out.error(record, type_reasons_[static_cast<size_t>(key->type())]);
            return;
        }
        uint64_t h = hash(text);
        // The top 53 bits of h over 2^53: exact in a double, in [0, 1).
        double u = static_cast<double>(h >> 11) * 0x1p-53;
        int v = layout_.pick(u);
        if (v < 0) {
            excluded_count_.add();
            out.emit(record, excluded_);
            return;
        }
        assigned_[static_cast<size_t>(v)].add();
        Record& r = out.append();
        r.assign(record);
        r.set(field_, std::string_view(variants_[static_cast<size_t>(v)].name));
        if (bucket_field_ != kInvalidField) {
            r.set(bucket_field_, u);
        }
    }

private:
    /// The first 8 bytes of SHA-256(salt + "." + key), big-endian.
    uint64_t hash(std::string_view key) {
        hasher_.reset();
        hasher_.update(prefix_);
        hasher_.update(key);
        Sha256::Digest digest = hasher_.finish();
        uint64_t h = 0;
        for (size_t i = 0; i < 8; ++i) {
            h = (h << 8) | digest[i];
        }
        return h;
    }

    /// "experiment `x` hashes `user_id` with salt `x`: control [0, 0.45),
    /// one_click [0.5, 0.95); other keys go to `excluded`", for the log.
    std::string describe() const {
        std::string out = "experiment `" + experiment_ + "` hashes `" + key_name_ +
                          "` with salt `" + prefix_.substr(0, prefix_.size() - 1) + "`:";
        double start = 0;
        for (size_t i = 0; i < variants_.size(); ++i) {
            out +=
                (i == 0 ? " " : ", ") + variants_[i].name + " [" + number_text(start) + ", " +
                number_text(layout_.full && i + 1 == variants_.size() ? 1.0 : layout_.in_end[i]) +
                ")";
            start = layout_.block_end[i];
        }
        return out + (layout_.full ? "" : "; other keys go to `excluded`");
    }

    std::string experiment_;
    std::string prefix_;  ///< salt + ".", hashed before each key.
    std::string key_name_;
    std::string field_name_;
    std::string bucket_name_;
    std::vector<Variant> variants_;
    Layout layout_;

    Sha256 hasher_;
    FieldId key_field_ = kInvalidField;
    FieldId field_ = kInvalidField;
    FieldId bucket_field_ = kInvalidField;
    OutputId excluded_ = kMainOutput;
    std::vector<Counter> assigned_;
    Counter excluded_count_;
    std::string missing_reason_;
    std::string empty_reason_;
    std::array<std::string, 6> type_reasons_;  ///< By ValueType.
};

std::string check_ab_assign(const Config& cfg) {
    if (cfg.string("experiment").empty()) {
        return "`experiment` must not be empty: it names the experiment and is the default salt";
    }
    if (cfg.has("salt") && cfg.string("salt").empty()) {
        return "`salt` must not be empty; leave it out to use the experiment name";
    }
    const ConfigValue& variants = cfg.value("variants");
    if (variants.entries().empty()) {
        return "`variants`" + at(variants) +
               " needs at least one variant with its weight, e.g. `{control: 50, treatment: 50}`";
    }
    // Duplicate names never get here: the YAML loader refuses duplicate keys.
    double total = 0;
    for (const auto& [name, weight] : variants.entries()) {
        if (name.empty()) {
            return "a variant in `variants`" + at(weight) + " has an empty name; name it";
        }
        double w = weight.as_double();
        if (!std::isfinite(w) || w <= 0) {
            return "the weight of variant `" + name + "` in `variants`" + at(weight) +
                   " must be a number > 0, got `" + weight.to_string() +
                   "`; to stop assigning a variant, remove it (this reassigns keys: see "
                   "docs/plugins/ab_assign.md)";
        }
        total += w;
    }
    if (!std::isfinite(total)) {
        return "the weights in `variants`" + at(variants) +
               " add up to more than a double holds; scale them down";
    }
    double exposure = cfg.number("exposure");
    if (!(exposure > 0 && exposure <= 1)) {
        return "`exposure`" + at(cfg.value("exposure")) +
               " must be more than 0 and at most 1 (the share of keys in the experiment), got " +
               number_text(exposure);
    }
    const std::string& key = cfg.string("key_field");
    const std::string& field = cfg.string("field");
    if (field == key) {
        return "`field` and `key_field` are both `" + key +
               "`: the variant would replace the key; choose another `field`";
    }
    if (cfg.has("bucket_field")) {
        const std::string& bucket = cfg.string("bucket_field");
        if (bucket == key || bucket == field) {
            return "`bucket_field` is `" + bucket + "`, which is also `" +
                   (bucket == key ? "key_field" : "field") + "`; choose another name";
        }
    }
    return "";
}

}  // namespace

ComponentSpec ab_assign_spec() {
    return OperatorSpec("ab_assign")
        .summary(
            "Assigns each key a variant of an A/B test by a salted SHA-256 hash, stable across "
            "restarts, shards and machines, and reproducible in a browser.")
        .description(
            "Hashes the key: h = the first 8 bytes of SHA-256(salt + \".\" + key), big-endian; a "
            "string key is hashed as its UTF-8 bytes, an integer key as its decimal text (`42`, "
            "`-7`). u = (h >> 11) / 2^53 is in [0, 1). The variants cover [0, 1) in the order "
            "written, each a block as wide as its share of the weights; with `exposure` e < 1 "
            "only the first e of each block is in the experiment. A key in variant V's part is "
            "emitted with `field` = V (and `bucket_field` = u); a key in the rest of a block is "
            "outside the experiment and its record goes to `excluded`, unchanged. The same key, "
            "salt, weights and exposure always give the same variant; raising `exposure` only "
            "adds keys, while changing the weights or their order moves keys between variants. "
            "docs/plugins/ab_assign.md has the layout in full and JavaScript that gives the same "
            "answer. "
            "A record without the key field, or whose key is not a string or an integer (or is "
            "empty), goes to `errors`. Stateless and unkeyed: it runs at any parallelism. "
            "Metrics: `eddy_ab_assign_assignments_total{experiment, variant}` and "
            "`eddy_ab_assign_excluded_total{experiment}`.")
        .param(Param::string("experiment")
                   .required()
                   .doc("The experiment's name: the default salt and the `experiment` label of "
                        "the metrics.")
                   .example("checkout_button"))
        .param(Param::map("variants", ParamType::kDouble)
                   .required()
                   .doc("Variant name -> weight > 0, in order: each variant gets weight / sum of "
                        "weights of the keys. Changing the weights or the order reassigns keys.")
                   .example("{control: 50, one_click: 50}"))
        .param(Param::string("salt").doc(
            "Hashed before the key (salt + \".\" + key). Default: `experiment`. Experiments "
            "with different salts assign independently; give a new salt to reshuffle every "
            "key, keep it to keep assignments when renaming the experiment."))
        .param(Param::string("key_field")
                   .default_value("user_id")
                   .doc("The field whose value is assigned: a string or an integer."))
        .param(Param::string("field").default_value("variant").doc(
            "Output field with the variant's name."))
        .param(Param::number("exposure")
                   .default_value(1.0)
                   .doc("Share of keys in the experiment, in (0, 1]; the others go to "
                        "`excluded`. Raising it only adds keys."))
        .param(Param::string("bucket_field")
                   .doc("Optional output field with the key's hash position u in [0, 1), to "
                        "check an assignment or split a variant further.")
                   .example("ab_bucket"))
        .output("excluded",
                "Records of keys outside `exposure`, unchanged: not in the experiment (show them "
                "the default and leave them out of the analysis).")
        .rule(check_ab_assign)
        .example("A 50/50 test of a one-click checkout", R"(operators:
  assign:
    type: ab_assign
    input: clicks
    experiment: checkout_button
    variants: {control: 50, one_click: 50}
)")
        .example("Three variants on 20% of users, with the hash position", R"(operators:
  assign:
    type: ab_assign
    input: clicks
    experiment: ranking_v2
    salt: ranking_v2_2025_06
    key_field: user_id
    variants: {control: 2, popular_first: 1, personal_first: 1}
    exposure: 0.2
    field: ranking
    bucket_field: ranking_bucket
)")
        .factory(make_component<Operator, AbAssign>);
}

}  // namespace eddy

EDDY_PLUGIN(registry) {
    registry.add(eddy::ab_assign_spec());
}
