// SPDX-License-Identifier: Apache-2.0
// Finding the test cases a command-line argument names (runner.h).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing/runner.h"
#include "topology/suggest.h"
#include "topology/yaml_loader.h"

namespace eddy::topology_tests {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTestSuffix = "_test";

struct Loaded {
    std::string text;
    std::optional<ConfigValue> root;
};

Loaded load(const std::string& path, Diagnostics& diags) {
    Loaded l;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        diags.error("missing_file", {path, 0, 0}, "cannot read " + path,
                    "give a topology file or a *_test.yaml file");
        return l;
    }
    std::ostringstream text;
    text << in.rdbuf();
    l.text = text.str();
    l.root = load_yaml_text(l.text, path, diags);
    return l;
}

std::string dir_of(const std::string& path) {
    std::string dir = fs::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
}

std::string join_path(const std::string& dir, const std::string& name) {
    return (fs::path(dir) / name).lexically_normal().string();
}

/// A `*_test.yaml` file: `topology:` and `tests:`.
std::optional<Suite> read_test_file(const std::string& path, const Loaded& l, Diagnostics& diags) {
    const ConfigValue& root = *l.root;
    Suite suite;
    suite.tests_path = path;
    std::string dir = dir_of(path);
    for (const auto& [key, v] : root.entries()) {
        if (key != "topology" && key != "tests") {
            diags.error("unknown_field", v.location(), "unknown key '" + key + "' in a test file",
                        "a test file has `topology:` (optional) and `tests:`");
        }
    }
    if (const ConfigValue* t = root.find("topology")) {
        if (!t->is_scalar() || t->is_null()) {
            diags.error("invalid_test", t->location(),
                        "`topology` must be the path of the topology file, relative to this one");
            return std::nullopt;
        }
        suite.topology_path = join_path(dir, t->as_string());
    } else {
        // behaviour_test.yaml tests behaviour.yaml beside it, or one folder up.
        std::string stem = fs::path(path).stem().string();
        stem = stem.substr(0, stem.size() - kTestSuffix.size());
        for (const std::string& candidate :
             {join_path(dir, stem + ".yaml"), join_path(dir, "../" + stem + ".yaml")}) {
            if (fs::exists(candidate)) {
                suite.topology_path = candidate;
                break;
            }
        }
        if (suite.topology_path.empty()) {
            diags.error("missing_field", {path, 1, 1},
                        "cannot tell which topology " + path + " tests",
                        "add `topology: <path of the topology, relative to this file>`");
            return std::nullopt;
        }
    }
    const ConfigValue* tests = root.find("tests");
    if (tests == nullptr) {
        diags.error("missing_field", {path, 1, 1}, path + " has no `tests:` list");
        return std::nullopt;
    }
    suite.cases = read_tests(*tests, l.text, dir, diags);
    return suite;
}

bool is_test_file(const std::string& path, const ConfigValue& root) {
    if (root.find("topology") != nullptr) {
        return true;
    }
    std::string stem = fs::path(path).stem().string();
    return root.find("sources") == nullptr && stem.ends_with(kTestSuffix);
}

}  // namespace

std::vector<Suite> find_suites(const std::string& path, Diagnostics& diags) {
    std::vector<Suite> suites;
    Loaded l = load(path, diags);
    if (!l.root) {
        return suites;
    }
    if (!l.root->is_map()) {
        diags.error("expected_map", l.root->location(),
                    path + " is neither a topology nor a test file (not a YAML map)");
        return suites;
    }
    if (is_test_file(path, *l.root)) {
        if (auto suite = read_test_file(path, l, diags)) {
            suites.push_back(std::move(*suite));
        }
        return suites;
    }
    std::string dir = dir_of(path);
    if (const ConfigValue* tests = l.root->find("tests")) {
        Suite suite;
        suite.topology_path = path;
        suite.tests_path = path;
        suite.cases = read_tests(*tests, l.text, dir, diags);
        suites.push_back(std::move(suite));
    }
    std::string stem = fs::path(path).stem().string();
    for (const std::string& candidate :
         {join_path(dir, stem + "_test.yaml"), join_path(dir, "tests/" + stem + "_test.yaml")}) {
        if (!fs::exists(candidate)) {
            continue;
        }
        Loaded t = load(candidate, diags);
        if (t.root && t.root->is_map()) {
            if (auto suite = read_test_file(candidate, t, diags)) {
                suites.push_back(std::move(*suite));
            }
        }
    }
    if (suites.empty()) {
        diags.error("no_tests", {path, 1, 1}, path + " has no tests",
                    "add a `tests:` block, or " + stem +
                        "_test.yaml beside it (see "
                        "docs/testing.md)");
    }
    return suites;
}

}  // namespace eddy::topology_tests
