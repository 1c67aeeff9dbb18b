// SPDX-License-Identifier: Apache-2.0
#include "topology/yaml_loader.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

namespace eddy {
namespace {

// Real topologies nest a few levels; deeper trees, and an alias inside its own
// anchor (`a: &x [*x]`, an endless tree), stop at this depth.
constexpr int kMaxDepth = 100;

class Converter {
public:
    // Without aliases a text cannot hold more values than about one per byte,
    // so only aliases that expand exponentially (a "billion laughs") reach
    // the node budget.
    Converter(std::string file, const std::string& text, Diagnostics& diags)
        : file_(std::move(file)), text_(text), diags_(diags), max_nodes_(2 * text.size() + 1024) {}

    /// Whether a limit was hit: a diagnostic was added and the tree is incomplete.
    bool exceeded() const { return exceeded_; }

    ConfigValue convert(const YAML::Node& node) {
        if (exceeded_) {
            return {};
        }
        if (depth_ >= kMaxDepth || ++nodes_ > max_nodes_) {
            exceeded_ = true;
            diags_.error(
                "too_large", location(node.Mark()),
                depth_ >= kMaxDepth
                    ? "the YAML nests deeper than " + std::to_string(kMaxDepth) + " levels"
                    : "the YAML expands to more than " + std::to_string(max_nodes_) + " values",
                "an alias (`*name`) may repeat itself or other aliases; write the "
                "values out instead");
            return {};
        }
        ++depth_;
        ConfigValue v = convert_node(node);
        --depth_;
        return v;
    }

private:
    ConfigValue convert_node(const YAML::Node& node) {
        Location loc = location(node.Mark());
        switch (node.Type()) {
            case YAML::NodeType::Undefined:
            case YAML::NodeType::Null:
                return ConfigValue::null_literal(null_text(node.Mark()), loc);
            case YAML::NodeType::Scalar:
                return ConfigValue::string(expand(node.Scalar(), loc), loc);
            case YAML::NodeType::Sequence: {
                std::vector<ConfigValue> items;
                for (const YAML::Node& item : node) {
                    items.push_back(convert(item));
                }
                return ConfigValue::list(std::move(items), loc);
            }
            case YAML::NodeType::Map: {
                std::vector<ConfigValue::Entry> entries;
                std::set<std::string> seen;
                for (auto it = node.begin(); it != node.end(); ++it) {
                    Location key_loc = location(it->first.Mark());
                    if (!it->first.IsScalar()) {
                        diags_.error("invalid_type", key_loc, "map keys must be plain words",
                                     "write `name: value`");
                        continue;
                    }
                    std::string key = it->first.Scalar();
                    if (!seen.insert(key).second) {
                        diags_.error("duplicate_key", key_loc, "duplicate key '" + key + "'",
                                     "each key may appear once in a map; remove or rename one");
                        continue;
                    }
                    ConfigValue value = convert(it->second);
                    // A value is placed at its key: null values have no mark of their own,
                    // a block map or list is marked at its first item (a line below its
                    // key), and an unknown or mistyped parameter is best shown at its name.
                    value.set_location(key_loc);
                    entries.emplace_back(std::move(key), std::move(value));
                }
                ConfigValue v = ConfigValue::map(std::move(entries), loc);
                return v;
            }
        }
        return {};
    }

    Location location(const YAML::Mark& mark) const {
        if (mark.is_null()) {
            return {file_, 0, 0};
        }
        return {file_, mark.line + 1, mark.column + 1};
    }

    // yaml-cpp drops the text of nulls; read it back from the source.
    std::string null_text(const YAML::Mark& mark) const {
        if (mark.is_null() || mark.pos < 0 || static_cast<size_t>(mark.pos) >= text_.size()) {
            return {};
        }
        size_t end = text_.find_first_of(" \t\r\n,]}#", static_cast<size_t>(mark.pos));
        std::string token =
            text_.substr(static_cast<size_t>(mark.pos),
                         end == std::string::npos ? std::string::npos : end - mark.pos);
        return token == "null" || token == "Null" || token == "NULL" || token == "~" ? token : "";
    }

    std::string expand(const std::string& text, const Location& loc) {
        if (text.find('$') == std::string::npos) {
            return text;
        }
        std::string out;
        for (size_t i = 0; i < text.size();) {
            if (text.compare(i, 3, "$${") == 0) {
                out += "${";
                i += 3;
                continue;
            }
            if (text.compare(i, 2, "${") != 0) {
                out += text[i++];
                continue;
            }
            size_t end = text.find('}', i + 2);
            if (end == std::string::npos) {
                diags_.error("invalid_variable", loc, "unterminated '${' in '" + text + "'",
                             "write ${NAME} or ${NAME:-default}");
                return text;
            }
            std::string body = text.substr(i + 2, end - i - 2);
            std::string name = body;
            std::optional<std::string> fallback;
            if (size_t dash = body.find(":-"); dash != std::string::npos) {
                name = body.substr(0, dash);
                fallback = body.substr(dash + 2);
            }
            const char* value = std::getenv(name.c_str());
            if (value != nullptr && (*value != '\0' || !fallback)) {
                out += value;
            } else if (fallback) {
                out += *fallback;
            } else {
                diags_.error("unset_variable", loc,
                             "environment variable '" + name + "' is not set",
                             "export " + name + "=... or write ${" + name + ":-default}");
            }
            i = end + 1;
        }
        return out;
    }

    std::string file_;
    const std::string& text_;
    Diagnostics& diags_;
    size_t max_nodes_;
    size_t nodes_ = 0;
    int depth_ = 0;
    bool exceeded_ = false;
};

}  // namespace

std::optional<ConfigValue> load_yaml_text(const std::string& text, const std::string& file,
                                          Diagnostics& diags) {
    // Line 1 rather than "unknown": editors and the CLI's first line then show file:1:1.
    Location start{file, 1, 1};
    auto empty = [&](const char* what) {
        diags.error("empty_file", start, std::string("the topology file ") + what,
                    "a topology needs at least `sources:` and `sinks:`; see topologies/demo.yaml");
        return std::nullopt;
    };
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        return empty("is empty");
    }
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        Location loc{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                     e.mark.is_null() ? 0 : e.mark.column + 1};
        diags.error("yaml_syntax", loc, "invalid YAML: " + e.msg,
                    "check indentation and quoting near this place");
        return std::nullopt;
    }
    if (root.IsNull()) {
        return empty("has no content, only comments");
    }
    Converter converter(file, text, diags);
    ConfigValue tree = converter.convert(root);
    if (converter.exceeded()) {
        return std::nullopt;
    }
    return tree;
}

std::optional<ConfigValue> load_yaml_file(const std::string& path, Diagnostics& diags) {
    Location whole{path, 0, 0};
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        // One line: the location already names the file.
        diags.error("missing_file", whole,
                    std::string("cannot read the topology file: ") + std::strerror(errno));
        return std::nullopt;
    }
    if (S_ISDIR(st.st_mode)) {
        diags.error("missing_file", whole, "the topology path is a directory, not a YAML file");
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        diags.error("unreadable_file", whole,
                    std::string("cannot read the topology file: ") + std::strerror(errno));
        return std::nullopt;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    return load_yaml_text(buffer.str(), path, diags);
}

}  // namespace eddy
