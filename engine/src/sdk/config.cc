// SPDX-License-Identifier: Apache-2.0
#include "eddy/config.h"

#include <cstdio>
#include <cstdlib>

namespace eddy {

std::string Location::to_string() const {
    if (line <= 0) {
        return file;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

ConfigValue ConfigValue::null_literal(std::string literal, Location loc) {
    ConfigValue v;
    v.s_ = std::move(literal);
    v.loc_ = std::move(loc);
    return v;
}

ConfigValue ConfigValue::boolean(bool b, Location loc) {
    ConfigValue v;
    v.kind_ = Kind::kBool;
    v.b_ = b;
    v.s_ = b ? "true" : "false";
    v.loc_ = std::move(loc);
    return v;
}

ConfigValue ConfigValue::integer(int64_t i, Location loc) {
    ConfigValue v;
    v.kind_ = Kind::kInt;
    v.i_ = i;
    v.s_ = std::to_string(i);
    v.loc_ = std::move(loc);
    return v;
}

ConfigValue ConfigValue::number(double d, Location loc) {
    ConfigValue v;
    v.kind_ = Kind::kDouble;
    v.d_ = d;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", d);
    v.s_ = buf;
    v.loc_ = std::move(loc);
    return v;
}

ConfigValue ConfigValue::string(std::string s, Location loc) {
    ConfigValue v;
    v.kind_ = Kind::kString;
    v.s_ = std::move(s);
    v.loc_ = std::move(loc);
    return v;
}

ConfigValue ConfigValue::list(std::vector<ConfigValue> items, Location loc) {
    ConfigValue v;
    v.kind_ = Kind::kList;
    v.items_ = std::move(items);
    v.loc_ = std::move(loc);
    return v;
}

ConfigValue ConfigValue::map(std::vector<Entry> entries, Location loc) {
    ConfigValue v;
    v.kind_ = Kind::kMap;
    v.entries_ = std::move(entries);
    v.loc_ = std::move(loc);
    return v;
}

const ConfigValue* ConfigValue::find(std::string_view key) const {
    for (const Entry& e : entries_) {
        if (e.first == key) {
            return &e.second;
        }
    }
    return nullptr;
}

std::string ConfigValue::to_string() const {
    switch (kind_) {
        case Kind::kNull:
            return "null";
        case Kind::kList: {
            std::string out = "[";
            for (size_t i = 0; i < items_.size(); ++i) {
                out += (i ? ", " : "") + items_[i].to_string();
            }
            return out + "]";
        }
        case Kind::kMap: {
            std::string out = "{";
            for (size_t i = 0; i < entries_.size(); ++i) {
                out += (i ? ", " : "") + entries_[i].first + ": " + entries_[i].second.to_string();
            }
            return out + "}";
        }
        default:
            return s_;
    }
}

const ConfigValue& Config::get(std::string_view name) const {
    const ConfigValue* v = params_.find(name);
    if (v == nullptr) {
        std::fprintf(stderr,
                     "eddy: internal error: component '%s' (%s) reads parameter '%.*s', "
                     "which is absent; declare it in the spec with a default or check has()\n",
                     component_.c_str(), type_.c_str(), static_cast<int>(name.size()), name.data());
        std::abort();
    }
    return *v;
}

bool Config::has(std::string_view name) const {
    const ConfigValue* v = params_.find(name);
    return v != nullptr && !v->is_null();
}
const std::string& Config::string(std::string_view name) const {
    return get(name).as_string();
}
int64_t Config::integer(std::string_view name) const {
    return get(name).as_int();
}
double Config::number(std::string_view name) const {
    return get(name).as_double();
}
bool Config::boolean(std::string_view name) const {
    return get(name).as_bool();
}
std::chrono::milliseconds Config::duration(std::string_view name) const {
    return std::chrono::milliseconds(get(name).as_int());
}
uint64_t Config::size(std::string_view name) const {
    return static_cast<uint64_t>(get(name).as_int());
}
const std::vector<ConfigValue>& Config::list(std::string_view name) const {
    return get(name).items();
}
std::vector<std::string> Config::strings(std::string_view name) const {
    std::vector<std::string> out;
    for (const ConfigValue& v : get(name).items()) {
        out.push_back(v.as_string());
    }
    return out;
}
const ConfigValue& Config::value(std::string_view name) const {
    return get(name);
}
Location Config::location_of(std::string_view name) const {
    const ConfigValue* v = params_.find(name);
    return v != nullptr && v->location().line > 0 ? v->location() : loc_;
}

}  // namespace eddy
