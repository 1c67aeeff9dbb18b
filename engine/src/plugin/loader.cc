// SPDX-License-Identifier: Apache-2.0
#include "plugin/loader.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <dlfcn.h>
#include <elf.h>

#include "eddy/plugin.h"
#include "eddy/version.h"

#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;

using AbiVersionFn = int (*)();
using BuildInfoFn = const PluginBuildInfo* (*)();
using RegisterFn = void (*)(PluginRegistry&);

constexpr const char* kRebuildHint =
    "rebuild the plugin against this engine's SDK (find_package(Eddy) with CMAKE_PREFIX_PATH "
    "set to the prefix this eddy was installed to; docs/plugins.md)";

/// A plugin file that loaded and registered: its components, kept for the
/// life of the process (the handle is never closed).
struct LoadedPlugin {
    std::vector<ComponentSpec> specs;
};

std::mutex& cache_mutex() {
    static std::mutex m;
    return m;
}

std::map<std::string, LoadedPlugin>& cache() {
    static std::map<std::string, LoadedPlugin> plugins;
    return plugins;
}

std::string plugin_named(const std::string& path) {
    return "plugin '" + path + "'";
}

std::string version_text(int major, int minor, int patch) {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

/// What dlopen's message means for a user, or empty.
std::string dlopen_hint(const std::string& error) {
    if (error.find("undefined symbol") != std::string::npos) {
        return ": it needs a symbol this engine's SDK lacks, so it was probably built against "
               "another Eddy; " +
               std::string(kRebuildHint);
    }
    if (error.find("wrong ELF class") != std::string::npos ||
        error.find("ELF file's phentsize") != std::string::npos) {
        return ": it was built for another architecture; build it on this one";
    }
    return {};
}

/// Checks that `path` starts with the ELF header of a shared object, so that
/// a text file or an executable gets a plain message instead of dlerror's.
Status check_shared_object(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Status::io_error(plugin_named(path) + " cannot be read: " + std::strerror(errno));
    }
    Elf64_Ehdr header{};
    in.read(reinterpret_cast<char*>(&header), sizeof header);
    auto got = static_cast<size_t>(in.gcount());
    if (got < EI_NIDENT || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
        return Status::invalid_argument(
            plugin_named(path) +
            " is not a shared library (the file does not start with an ELF header); a plugin is "
            "the lib<name>.so that eddy_add_plugin() builds");
    }
    // e_type sits at the same offset in 32- and 64-bit headers.
    if (got >= offsetof(Elf64_Ehdr, e_type) + sizeof header.e_type && header.e_type != ET_DYN) {
        return Status::invalid_argument(
            plugin_named(path) + " is an ELF " +
            (header.e_type == ET_EXEC ? "executable" : "object file") +
            ", not a shared library; a plugin is the lib<name>.so that eddy_add_plugin() builds");
    }
    return Status::ok();
}

/// Compares the plugin's build with the engine's; empty when compatible.
std::string build_mismatch(const std::string& path, const PluginBuildInfo& plugin) {
    const PluginBuildInfo engine = plugin_build_info();
    std::string plugin_sdk = version_text(plugin.sdk_major, plugin.sdk_minor, plugin.sdk_patch);
    if (std::make_pair(plugin.sdk_major, plugin.sdk_minor) >
        std::make_pair(engine.sdk_major, engine.sdk_minor)) {
        return plugin_named(path) + " was built against Eddy SDK " + plugin_sdk +
               ", newer than this engine (Eddy " + kVersion + "): upgrade eddy to " +
               std::to_string(plugin.sdk_major) + "." + std::to_string(plugin.sdk_minor) +
               " or later, or " + kRebuildHint;
    }
    if (std::strcmp(plugin.standard_library, engine.standard_library) != 0) {
        return plugin_named(path) + " was built with " + plugin.standard_library + " (" +
               plugin.compiler + "), but this engine uses " + engine.standard_library + " (" +
               engine.compiler + "): the SDK passes std::string and std::vector, so " +
               kRebuildHint + " with the same standard library";
    }
    for (size_t i = 0; i < std::size(engine.layout); ++i) {
        if (plugin.layout[i] != engine.layout[i]) {
            return plugin_named(path) + " sees " + kPluginLayoutNames[i] + " as " +
                   std::to_string(plugin.layout[i]) + " bytes, this engine as " +
                   std::to_string(engine.layout[i]) + " (plugin built with " + plugin.compiler +
                   " against SDK " + plugin_sdk +
                   "): it was compiled with other headers or "
                   "flags (such as _GLIBCXX_DEBUG); " +
                   kRebuildHint;
        }
    }
    return {};
}

/// dlopens `path`, checks it and runs its registration.
Result<LoadedPlugin> open_plugin(const std::string& path) {
    if (Status s = check_shared_object(path); !s.is_ok()) {
        return s;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        std::string error = dlerror();
        return Status::invalid_argument(plugin_named(path) + " cannot be loaded: " + error +
                                        dlopen_hint(error));
    }
    auto fail = [handle](std::string message) {
        dlclose(handle);
        return Status::invalid_argument(std::move(message));
    };
    auto missing = [&path](const char* symbol) {
        return plugin_named(path) + " does not export " + symbol +
               "(): it is not an Eddy plugin, or it was built without EDDY_PLUGIN(...) from "
               "eddy/plugin.h (docs/plugins.md)";
    };
    // The ABI version comes first: the layout of PluginBuildInfo itself
    // belongs to an ABI version.
    auto abi_version = reinterpret_cast<AbiVersionFn>(dlsym(handle, "eddy_plugin_abi_version"));
    if (abi_version == nullptr) {
        return fail(missing("eddy_plugin_abi_version"));
    }
    int abi = abi_version();
    if (abi != EDDY_PLUGIN_ABI_VERSION) {
        std::string what = abi > EDDY_PLUGIN_ABI_VERSION
                               ? "upgrade eddy to a release with plugin ABI " +
                                     std::to_string(abi) + ", or " + kRebuildHint
                               : std::string(kRebuildHint);
        return fail(plugin_named(path) + " was built for plugin ABI version " +
                    std::to_string(abi) + ", but this engine (Eddy " + kVersion +
                    ") has plugin ABI version " + std::to_string(EDDY_PLUGIN_ABI_VERSION) + ": " +
                    what);
    }
    auto build_info = reinterpret_cast<BuildInfoFn>(dlsym(handle, "eddy_plugin_build_info"));
    if (build_info == nullptr) {
        return fail(missing("eddy_plugin_build_info"));
    }
    const PluginBuildInfo* info = build_info();
    if (info == nullptr) {
        return fail(plugin_named(path) +
                    " returned no build information from eddy_plugin_build_info()");
    }
    if (std::string mismatch = build_mismatch(path, *info); !mismatch.empty()) {
        return fail(std::move(mismatch));
    }
    auto register_fn = reinterpret_cast<RegisterFn>(dlsym(handle, "eddy_plugin_register"));
    if (register_fn == nullptr) {
        return fail(missing("eddy_plugin_register"));
    }
    PluginRegistry registered;
    try {
        register_fn(registered);
    } catch (const std::exception& e) {
        return fail(plugin_named(path) + " failed while registering its components: " + e.what());
    } catch (...) {
        return fail(plugin_named(path) + " failed while registering its components (an exception)");
    }
    if (registered.specs().empty()) {
        return fail(plugin_named(path) +
                    " registered no component; add specs in EDDY_PLUGIN(registry)");
    }
    // Its own names must be unique and each spec needs a factory.
    Registry own;
    for (const ComponentSpec& spec : registered.specs()) {
        if (Status s = own.add(spec, "plugin " + path); !s.is_ok()) {
            return fail(s.message());
        }
    }
    return LoadedPlugin{std::move(registered.specs())};
}

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::string absolute_text(const fs::path& p) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(fs::absolute(p, ec), ec);
    return ec ? p.string() : c.string();
}

}  // namespace

std::vector<std::string> plugin_search_path() {
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("EDDY_PLUGIN_PATH")) {
        std::string_view rest(env);
        while (!rest.empty()) {
            size_t colon = rest.find(':');
            std::string_view dir = rest.substr(0, colon);
            if (!dir.empty()) {
                dirs.emplace_back(dir);
            }
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
        }
    }
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        dirs.push_back((exe.parent_path() / "plugins").string());
        dirs.push_back(
            (exe.parent_path() / EDDY_INSTALLED_PLUGINS_REL).lexically_normal().string());
    }
    return dirs;
}

Result<std::string> resolve_plugin(std::string_view request, std::string_view base_dir) {
    if (request.empty()) {
        return Status::invalid_argument("a plugin path is empty");
    }
    std::vector<fs::path> tried;
    fs::path req{std::string(request)};
    if (request.find('/') != std::string_view::npos) {
        tried.push_back(req);
        if (req.is_relative() && !base_dir.empty()) {
            tried.push_back(fs::path(std::string(base_dir)) / req);
        }
    } else {
        std::string name(request);
        bool has_suffix = name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0;
        for (const std::string& dir : plugin_search_path()) {
            if (has_suffix) {
                tried.push_back(fs::path(dir) / name);
            } else {
                tried.push_back(fs::path(dir) / ("lib" + name + ".so"));
                tried.push_back(fs::path(dir) / (name + ".so"));
            }
        }
    }
    for (const fs::path& p : tried) {
        if (is_file(p)) {
            return absolute_text(p);
        }
    }
    std::string places;
    for (const fs::path& p : tried) {
        places += (places.empty() ? "" : ", ") + p.string();
    }
    std::string how = request.find('/') != std::string_view::npos
                          ? ""
                          : "; set EDDY_PLUGIN_PATH to the directory that holds it, or give a path";
    return Status::not_found("plugin '" + std::string(request) + "' not found (looked for " +
                             places + ")" + how);
}

Status load_plugin(const std::string& path, Registry& registry) {
    std::string file = absolute_text(path);
    std::string origin = "plugin " + file;
    const std::vector<ComponentSpec>* specs = nullptr;
    {
        std::lock_guard lock(cache_mutex());
        auto it = cache().find(file);
        if (it == cache().end()) {
            auto loaded = open_plugin(file);
            if (!loaded.is_ok()) {
                return loaded.status();
            }
            it = cache().emplace(file, std::move(loaded.value())).first;
        }
        specs = &it->second.specs;  // entries are never erased
    }
    // All or nothing: check every name before adding any. A name this very
    // plugin already added (named twice) is skipped.
    std::vector<const ComponentSpec*> to_add;
    for (const ComponentSpec& spec : *specs) {
        const ComponentSpec* existing = registry.find(spec.kind, spec.name);
        if (existing == nullptr) {
            to_add.push_back(&spec);
        } else if (existing->origin != origin) {
            return Status::invalid_argument(
                plugin_named(file) + " registers " + component_kind_name(spec.kind) + " type '" +
                spec.name + "', which " + existing->origin + " already registers: rename the " +
                "plugin's component (names are unique per kind) or load only one of them");
        }
    }
    for (const ComponentSpec* spec : to_add) {
        if (Status s = registry.add(*spec, origin); !s.is_ok()) {
            return s;
        }
    }
    return Status::ok();
}

bool load_topology_plugins(const ConfigValue& root, const std::vector<std::string>& extra,
                           Registry& registry, Diagnostics& diags) {
    bool ok = true;
    auto load = [&](const std::string& request, std::string_view base, const Location& loc) {
        auto file = resolve_plugin(request, base);
        Status s = file.is_ok() ? load_plugin(file.value(), registry) : file.status();
        if (!s.is_ok()) {
            diags.error("plugin", loc, s.message());
            ok = false;
        }
    };
    const ConfigValue* list = root.is_map() ? root.find("plugins") : nullptr;
    if (list != nullptr && list->is_list()) {
        std::string base = fs::path(root.location().file).parent_path().string();
        for (const ConfigValue& item : list->items()) {
            if (item.is_scalar() && !item.is_null()) {  // else the validator says what is wrong
                load(item.as_string(), base, item.location());
            }
        }
    }
    for (const std::string& request : extra) {
        load(request, "", Location{"--plugin " + request, 0, 0});
    }
    return ok;
}

std::optional<Topology> load_topology_with_plugins(const std::string& path,
                                                   const std::vector<std::string>& extra,
                                                   Registry& registry, Diagnostics& diags) {
    auto root = load_yaml_file(path, diags);
    if (!root || !load_topology_plugins(*root, extra, registry, diags)) {
        return std::nullopt;
    }
    return validate_topology(*root, registry, diags);
}

}  // namespace eddy
