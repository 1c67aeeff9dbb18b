// SPDX-License-Identifier: Apache-2.0
// Test support: running the `eddy` binary (EDDY_BINARY) as a child process.
#pragma once

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace eddy::testing {

/// Starts `eddy run --no-progress [args] topology` with stderr appended to
/// `log`; returns its pid. With `max_file_bytes`, files it writes cannot grow
/// beyond that size (a write fails; the process is not killed).
inline pid_t start_eddy_run(const std::filesystem::path& topology, const std::filesystem::path& log,
                            std::vector<std::string> args = {}, rlim_t max_file_bytes = 0) {
    pid_t pid = ::fork();
    if (pid == 0) {
        FILE* f = std::freopen(log.c_str(), "a", stderr);
        (void)f;
        if (max_file_bytes > 0) {
            std::signal(SIGXFSZ, SIG_IGN);
            rlimit limit{max_file_bytes, max_file_bytes};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
        std::vector<std::string> argv = {"eddy", "run", "--no-progress"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(topology.string());
        std::vector<char*> cargv;
        for (std::string& a : argv) {
            cargv.push_back(a.data());
        }
        cargv.push_back(nullptr);
        ::execv(EDDY_BINARY, cargv.data());
        ::_exit(127);
    }
    return pid;
}

/// The child's exit code, or -1 when it died of a signal.
inline int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace eddy::testing
