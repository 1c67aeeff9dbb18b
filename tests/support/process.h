// SPDX-License-Identifier: Apache-2.0
// Test support: running the `eddy` binary (EDDY_BINARY) as a child process.
#pragma once

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
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

/// What a finished program did.
struct ProgramOutcome {
    int exit_code = -1;  ///< -1 when it did not exit normally.
    int signal = 0;
    std::string out;
    std::string err;
    /// stdout and stderr, for failure messages.
    std::string both() const { return out + err; }
};

/// Runs `argv` (argv[0] a path) in `cwd` (empty: this one) with stdin from
/// /dev/null and `env` ("NAME=value") added to the environment, capturing
/// stdout and stderr. The child gets `timeout_s` seconds before SIGALRM ends it.
inline ProgramOutcome run_program(std::vector<std::string> argv,
                                  const std::vector<std::string>& env = {},
                                  const std::string& cwd = "", unsigned timeout_s = 300) {
    namespace fs = std::filesystem;
    static int runs = 0;
    fs::path dir = fs::temp_directory_path() /
                   ("eddy_program_" + std::to_string(::getpid()) + "_" + std::to_string(runs++));
    fs::create_directories(dir);
    fs::path out_path = dir / "stdout";
    fs::path err_path = dir / "stderr";
    std::vector<char*> cargv;
    for (std::string& a : argv) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int in = ::open("/dev/null", O_RDONLY);
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 ||
            ::dup2(err, 2) < 0 || (!cwd.empty() && ::chdir(cwd.c_str()) != 0)) {
            ::_exit(127);
        }
        for (const std::string& e : env) {
            ::putenv(const_cast<char*>(e.c_str()));
        }
        ::alarm(timeout_s);  // survives exec: a hung program cannot hang the test
        ::execvp(cargv[0], cargv.data());
        ::_exit(127);
    }
    ProgramOutcome o;
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
        return o;
    }
    if (WIFEXITED(status)) {
        o.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        o.signal = WTERMSIG(status);
    }
    auto read_all = [](const fs::path& path) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    };
    o.out = read_all(out_path);
    o.err = read_all(err_path);
    fs::remove_all(dir);
    return o;
}

}  // namespace eddy::testing
