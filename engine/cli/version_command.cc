// SPDX-License-Identifier: Apache-2.0
#include <cstdio>

#include "eddy/version.h"

#include "commands.h"

namespace eddy::cli {

void add_version_command(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("version", "Print Eddy's version and build.");
    cmd->callback([&exit_code] {
        std::printf("eddy %s (C++%ld, %s %d.%d, %s)\n", kVersion, __cplusplus / 100 % 100,
#if defined(__clang__)
                    "clang", __clang_major__, __clang_minor__,
#else
                    "gcc", __GNUC__, __GNUC_MINOR__,
#endif
#ifdef NDEBUG
                    "release"
#else
                    "debug"
#endif
        );
        exit_code = kExitOk;
    });
}

}  // namespace eddy::cli
