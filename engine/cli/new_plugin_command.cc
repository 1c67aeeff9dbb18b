// SPDX-License-Identifier: Apache-2.0
// `eddy new-plugin NAME`: scaffolds an out-of-tree plugin project that builds
// against an installed Eddy (find_package(Eddy)) and tests itself by running
// a topology with `eddy run`.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/version.h"

#include "commands.h"

namespace eddy::cli {
namespace {

namespace fs = std::filesystem;

// Templates: @name@ is the plugin's snake_case name, @Name@ its CamelCase
// class name and @version@ this Eddy's version.

constexpr std::string_view kCMakeLists = R"(cmake_minimum_required(VERSION 3.25)
project(@name@ LANGUAGES CXX)
find_package(Eddy @version@ REQUIRED)
eddy_add_plugin(@name@ SOURCES @name@.cc)

if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)  # an optimized plugin unless told otherwise
endif()

# `ctest` runs topology.yaml on test/events.jsonl with this plugin and
# compares the output with test/expected.jsonl.
enable_testing()
eddy_add_topology_test(@name@_topology
  PLUGIN @name@
  TOPOLOGY ${CMAKE_CURRENT_SOURCE_DIR}/topology.yaml
  INPUT ${CMAKE_CURRENT_SOURCE_DIR}/test/events.jsonl
  EXPECTED ${CMAKE_CURRENT_SOURCE_DIR}/test/expected.jsonl)
)";

constexpr std::string_view kSource =
    R"(// @name@: an Eddy operator plugin, scaffolded by `eddy new-plugin @name@`.
// The guide (docs/plugins.md in Eddy) explains each part; the public SDK
// headers are in <prefix>/include/eddy/.
#include <cstdint>
#include <string>

#include "eddy/operator.h"
#include "eddy/plugin.h"
#include "eddy/state.h"

namespace {

/// Counts each key's events and adds the running count to every record; each
/// time a key's count reaches a multiple of `every`, the record also goes to
/// the `milestones` output.
class @Name@ final : public eddy::Operator {
public:
    // Parameters arrive validated and typed, defaults filled in.
    explicit @Name@(const eddy::Config& cfg)
        : field_name_(cfg.string("field")), every_(cfg.integer("every")) {}

    // Setup happens once: field ids, outputs, state and metrics are resolved
    // here so that process() does no string lookups.
    eddy::Status open(eddy::OpenContext& ctx) override {
        field_ = ctx.field(field_name_);
        milestones_ = ctx.output("milestones");
        ctx.register_state(counts_);  // checkpointed, restored, shown by `eddy state`
        milestones_total_ = ctx.counter("@name@_milestones_total", "Milestone records emitted");
        ctx.log(eddy::LogLevel::kDebug, "counting events per key into '" + field_name_ + "'");
        return eddy::Status::ok();
    }

    // Called for every record of this shard; record.key() is the `key:` field.
    void process(const eddy::Record& record, eddy::Emitter& out) override {
        int64_t& count = counts_.get_or_create(record.key());
        ++count;
        eddy::Record& r = out.append();
        r.assign(record);
        r.set(field_, count);
        if (every_ > 0 && count % every_ == 0) {
            out.emit(r, milestones_);
            milestones_total_.add();
        }
    }

private:
    std::string field_name_;
    int64_t every_;
    eddy::FieldId field_ = eddy::kInvalidField;
    eddy::OutputId milestones_ = eddy::kMainOutput;
    eddy::KeyedValue<int64_t> counts_{"counts"};
    eddy::Counter milestones_total_;
};

// The spec is the single source of validation, `eddy operators @name@` and
// the generated reference (`eddy operators --plugin @name@ --markdown --plugins-only`).
eddy::ComponentSpec @name@_spec() {
    return eddy::OperatorSpec("@name@")
        .summary("Counts events per key and adds the running count to each record.")
        .description(
            "Keeps one count per key (state `counts`). Each record passes on with the count so "
            "far in `field`; every `every`-th record of a key also goes to `milestones`.")
        .keyed(eddy::KeyMode::kRequired)
        .param(eddy::Param::string("field")
                   .default_value("count")
                   .doc("The field that receives the running count."))
        .param(eddy::Param::integer("every")
                   .default_value(int64_t{100})
                   .min(0)
                   .doc("Send every N-th record of a key to `milestones`; 0 never does."))
        .output("milestones", "Records whose count is a multiple of `every`.")
        .keyed_state<int64_t>("counts", "Events seen per key.")
        .example("Number each user's events", R"y(operators:
  numbered:
    type: @name@
    input: clicks
    key: user_id
    every: 10
)y")
        .factory(eddy::make_component<eddy::Operator, @Name@>);
}

}  // namespace

// The plugin's entry points: ABI checks, then this registration.
EDDY_PLUGIN(registry) { registry.add(@name@_spec()); }
)";

constexpr std::string_view kTopology =
    R"(# @name@: numbers each user's events and keeps every second one apart.
#   EDDY_PLUGIN_PATH=build EDDY_INPUT=test/events.jsonl EDDY_OUTPUT=out.jsonl eddy run topology.yaml
name: @name@-example
plugins: [@name@]
sources:
  events:
    type: file
    path: ${EDDY_INPUT:-test/events.jsonl}
    format: json
    event_time: {field: ts, unit: ms}
operators:
  numbered:
    type: @name@
    input: events
    key: user_id
    every: 2
sinks:
  out:
    type: file
    input: numbered
    path: ${EDDY_OUTPUT:-out/@name@.jsonl}
  milestones:
    type: file
    input: numbered.milestones
    path: ${EDDY_OUTPUT:-out/@name@.jsonl}.milestones
)";

constexpr std::string_view kEvents =
    R"({"ts":1735689600000,"user_id":"u1","type":"page_view"}
{"ts":1735689601000,"user_id":"u2","type":"page_view"}
{"ts":1735689602000,"user_id":"u1","type":"click"}
{"ts":1735689603000,"user_id":"u1","type":"purchase"}
{"ts":1735689604000,"user_id":"u2","type":"click"}
)";

constexpr std::string_view kExpected =
    R"({"ts":1735689600000,"user_id":"u1","type":"page_view","count":1}
{"ts":1735689601000,"user_id":"u2","type":"page_view","count":1}
{"ts":1735689602000,"user_id":"u1","type":"click","count":2}
{"ts":1735689603000,"user_id":"u1","type":"purchase","count":3}
{"ts":1735689604000,"user_id":"u2","type":"click","count":2}
)";

constexpr std::string_view kReadme = R"(# @name@

An operator plugin for [Eddy](https://github.com/) @version@, scaffolded by
`eddy new-plugin @name@`.

Build and test against an installed Eddy (the prefix `cmake --install` put it in):

    cmake -S . -B build -DCMAKE_PREFIX_PATH=/path/to/eddy/prefix
    cmake --build build
    ctest --test-dir build --output-on-failure

Run the example topology:

    EDDY_PLUGIN_PATH=build eddy run topology.yaml

`cmake --install build --prefix /path/to/eddy/prefix` puts lib@name@.so in
`<prefix>/lib/eddy/plugins`, where that prefix's eddy finds `plugins: [@name@]`
without EDDY_PLUGIN_PATH. `eddy operators --plugin build/lib@name@.so @name@`
shows the operator's reference.
)";

constexpr std::string_view kGitignore = "build/\nout/\n";

std::string camel_case(std::string_view name) {
    std::string out;
    bool upper = true;
    for (char c : name) {
        if (c == '_') {
            upper = true;
            continue;
        }
        out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        upper = false;
    }
    return out;
}

std::string fill(std::string_view text, const std::string& name) {
    std::string out(text);
    auto replace_all = [&out](std::string_view from, const std::string& to) {
        for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at)) {
            out.replace(at, from.size(), to);
            at += to.size();
        }
    };
    replace_all("@name@", name);
    replace_all("@Name@", camel_case(name));
    replace_all("@version@", kVersion);
    return out;
}

/// Empty when `name` is a lower snake_case identifier, else what is wrong.
std::string check_name(std::string_view name) {
    if (name.empty() || name.size() > 64) {
        return "must have 1 to 64 characters";
    }
    if (name.front() < 'a' || name.front() > 'z') {
        return "must start with a lower-case letter";
    }
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return "may hold only lower-case letters, digits and '_' (it names the operator "
                   "type, the library and the C++ identifiers)";
        }
    }
    return "";
}

int scaffold(const std::string& name, const std::string& parent) {
    if (std::string problem = check_name(name); !problem.empty()) {
        std::fprintf(stderr, "eddy new-plugin: the name '%s' %s, like my_operator\n", name.c_str(),
                     problem.c_str());
        return kExitUsage;
    }
    fs::path dir = fs::path(parent) / name;
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        std::fprintf(stderr,
                     "eddy new-plugin: '%s' already exists; choose another name or --dir, or "
                     "remove it\n",
                     dir.c_str());
        return kExitUsage;
    }
    fs::create_directories(dir / "test", ec);
    if (ec) {
        std::fprintf(stderr, "eddy new-plugin: cannot create '%s': %s\n", dir.c_str(),
                     ec.message().c_str());
        return kExitRuntimeFailure;
    }
    struct File {
        const char* path;
        std::string_view text;
    };
    const std::vector<File> files = {
        {"CMakeLists.txt", kCMakeLists},    {"@name@.cc", kSource},
        {"topology.yaml", kTopology},       {"test/events.jsonl", kEvents},
        {"test/expected.jsonl", kExpected}, {"README.md", kReadme},
        {".gitignore", kGitignore},
    };
    for (const File& f : files) {
        fs::path path = dir / fill(f.path, name);
        std::ofstream out(path, std::ios::binary);
        out << fill(f.text, name);
        if (!out.flush()) {
            std::fprintf(stderr, "eddy new-plugin: cannot write '%s'\n", path.c_str());
            return kExitRuntimeFailure;
        }
    }
    std::printf(
        "created %s: an operator '%s' with its spec, a topology and a test\n"
        "next:\n"
        "  cmake -S %s -B %s/build -DCMAKE_PREFIX_PATH=<the prefix Eddy is installed in>\n"
        "  cmake --build %s/build && ctest --test-dir %s/build\n",
        dir.c_str(), name.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str());
    return kExitOk;
}

}  // namespace

void add_new_plugin_command(CLI::App& app, int& exit_code) {
    struct Options {
        std::string name;
        std::string dir = ".";
    };
    auto opts = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "new-plugin",
        "Create an operator plugin project: CMakeLists.txt (find_package(Eddy)), one keyed "
        "operator with its spec and state, a topology using it and a test.");
    cmd->add_option("name", opts->name, "The operator type and plugin name, like my_operator")
        ->required();
    cmd->add_option("--dir", opts->dir, "Create the project in DIR/NAME (default: ./NAME)");
    cmd->footer("Guide: docs/plugins.md.");
    cmd->callback([opts, &exit_code] { exit_code = scaffold(opts->name, opts->dir); });
}

}  // namespace eddy::cli
