// SPDX-License-Identifier: Apache-2.0
#include "reloader.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "runtime/reload.h"
#include "runtime/upgrade_plan.h"

namespace eddy::cli {

Reloader::Reloader(Options options, Job& job, const Topology& running,
                   std::list<LoadedTopology>& applied, std::atomic<bool>& signalled)
    : options_(std::move(options)),
      job_(job),
      running_(running),
      loaded_(applied),
      signalled_(signalled) {
    applied_ = options_.loaded;
    seen_ = applied_;
    job_.metrics().reloads().enabled.store(true);
}

Reloader::~Reloader() {
    stop();
}

void Reloader::start() {
    thread_ = std::thread([this] { loop(); });
}

void Reloader::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Reloader::FileStamp Reloader::stamp_of(const std::string& path) {
    FileStamp s;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return s;
    }
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    return s;
}

bool Reloader::file_changed() {
    FileStamp now = stamp_of(options_.file);
    // Editors write in steps (truncate, write; or write a copy, rename):
    // reload once the file has stayed the same for a whole poll.
    bool settled = now == seen_;
    seen_ = now;
    return settled && now.exists && !(now == applied_);
}

void Reloader::loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms));
        if (stopping_) {
            break;
        }
        const char* why = nullptr;
        if (signalled_.exchange(false)) {
            why = "SIGHUP";
        } else if (options_.watch && file_changed()) {
            why = "the file changed";
        }
        if (why != nullptr) {
            lock.unlock();
            reload_once(why);
            lock.lock();
        }
    }
}

void Reloader::count(bool ok, std::atomic<uint64_t>& outcome) {
    ReloadMetrics& m = job_.metrics().reloads();
    outcome.fetch_add(1);
    m.last_ok.store(ok);
    m.last_timestamp_ms.store(job_.metrics().clock().now_ms());
}

void Reloader::reload_once(const char* why) {
    ReloadMetrics& metrics = job_.metrics().reloads();
    applied_ = stamp_of(options_.file);
    seen_ = applied_;
    spdlog::info("reloading '{}' ({})", options_.file, why);
    // The warnings were shown at the start; a reload shows what stops it.
    auto next = load_and_report(options_.file, options_.plugins, /*errors_only=*/true);
    if (!next) {
        spdlog::error(
            "reload of '{}' failed: the file is invalid (see above); the job keeps "
            "running what it ran",
            options_.file);
        count(false, metrics.failed);
        return;
    }
    if (std::string problem = options_.overrides(next->topology); !problem.empty()) {
        spdlog::error("reload of '{}' failed: {}; the job keeps running what it ran", options_.file,
                      problem);
        count(false, metrics.failed);
        return;
    }
    const Topology& running = running_;
    ReloadPlan plan = plan_reload(running, next->topology);
    if (plan.unchanged()) {
        spdlog::info("reload of '{}': nothing the job runs changed", options_.file);
        count(true, metrics.unchanged);
        return;
    }
    if (plan.refused()) {
        std::string text;
        for (const std::string& r : plan.refusals) {
            text += "\n  - " + r;
        }
        spdlog::error(
            "reload of '{}' refused: the job keeps running what it ran. A running job takes "
            "new parameters of operators that keep no state, new sinks and the log level; "
            "this change also has:{}",
            options_.file, text);
        auto upgrade = plan_upgrade(running, next->topology, "", {});
        if (upgrade.is_ok()) {
            upgrade.value().old_file = "the running topology";
            spdlog::error("what a restart with the new file would do to the state (eddy plan):\n{}",
                          render_plan_text(upgrade.value()));
        }
        count(false, metrics.refused);
        return;
    }
    if (!plan.reconfigured.empty() || !plan.added_sinks.empty()) {
        Status s = job_.reload(plan);
        if (!s.is_ok()) {
            spdlog::error("reload of '{}' failed: {}; the job keeps running what it ran",
                          options_.file, s.message());
            count(false, metrics.failed);
            return;
        }
    }
    if (plan.log_level_changed && !options_.log_level_given) {
        spdlog::set_level(spdlog::level::from_str(
            plan.log_level.empty() ? options_.command_line_log_level : plan.log_level));
    }
    std::string text;
    for (const std::string& c : plan.changes) {
        text += "\n  - " + c;
        if (c.starts_with("log level:") && options_.log_level_given) {
            text += " (not applied: --log-level " + options_.command_line_log_level + " wins)";
        }
    }
    spdlog::warn("reload of '{}' applied:{}", options_.file, text);
    running_ = next->topology;
    loaded_.push_back(std::move(*next));
    count(true, metrics.applied);
}

}  // namespace eddy::cli
