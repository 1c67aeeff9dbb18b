// SPDX-License-Identifier: Apache-2.0
// `eddy run --watch` and SIGHUP: reloads the topology file of a running job
// (docs/upgrading.md "Upgrading a running job").
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include "runtime/job.h"
#include "topology_loading.h"

namespace eddy::cli {

/// Watches for reload requests (a flag a signal handler sets, and with
/// `watch` the topology file changing) on a thread of its own. Each reload
/// loads and validates the file, applies the command line's overrides,
/// compares it with what the job runs (plan_reload()), and either applies
/// what a running job can take (Job::reload(), the log level) or refuses
/// it, logging why and the `eddy plan` of the change: the job then keeps
/// running what it ran. Every outcome is logged and counted in the job's
/// metrics (eddy_reloads_total{outcome}).
class Reloader {
public:
    /// What a file looked like: its existence, inode, size and mtime.
    struct FileStamp {
        bool exists = false;
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = 0;
        int64_t mtime_ns = 0;
        bool operator==(const FileStamp&) const = default;
    };
    static FileStamp stamp_of(const std::string& path);

    struct Options {
        std::string file;
        std::vector<std::string> plugins;
        /// The command line's settings, applied over each new topology as
        /// over the first; returns what is wrong, or "".
        std::function<std::string(Topology&)> overrides;
        /// The level of `--log-level` (used when the file sets none), and
        /// whether it was given: then it wins over the file's `log_level:`.
        std::string command_line_log_level;
        bool log_level_given = false;
        bool watch = false;
        /// The file as it was when the running topology was read from it
        /// (stamp_of() before loading): a change made since is reloaded.
        FileStamp loaded;
        int poll_ms = 250;
    };

    /// `running` is what `job` was created from; its registry must outlive
    /// the job. The files reloads apply are kept in `applied`, which must
    /// outlive the job too.
    Reloader(Options options, Job& job, const Topology& running, std::list<LoadedTopology>& applied,
             std::atomic<bool>& signalled);
    ~Reloader();
    Reloader(const Reloader&) = delete;
    Reloader& operator=(const Reloader&) = delete;

    void start();
    /// Stops watching; waits for a reload under way (the job must have stopped
    /// or be running, so that Job::reload() returns).
    void stop();

private:
    void loop();
    void reload_once(const char* why);
    bool file_changed();
    void count(bool ok, std::atomic<uint64_t>& outcome);

    Options options_;
    Job& job_;
    Topology running_;  // what the job runs now
    // The files reloads applied: they stay loaded, since the components a
    // reload added or changed keep the specs of their registries.
    std::list<LoadedTopology>& loaded_;
    std::atomic<bool>& signalled_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
    FileStamp applied_;  // the stamp of the file last reloaded (or started from)
    FileStamp seen_;     // the last stamp seen, for waiting until writes settle
};

}  // namespace eddy::cli
