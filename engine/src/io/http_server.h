// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>

#include "eddy/status.h"

#include "serve/address.h"

namespace eddy::http {

/// A TaskQueue for httplib::Server::new_task_queue. httplib's ThreadPool
/// starts every thread up front; this one starts them as connections arrive,
/// up to `max_threads`. A connection keeps its thread until it closes
/// (httplib's model), so further ones wait, in order, for a free thread.
/// shutdown() serves what is queued, then joins every thread.
class ConnectionPool final : public httplib::TaskQueue {
public:
    explicit ConnectionPool(size_t max_threads) : max_threads_(max_threads) {}
    ~ConnectionPool() override { shutdown(); }

    void enqueue(std::function<void()> fn) override;
    void shutdown() override;
    /// Connections held: being served or waiting for a thread.
    size_t connections() const { return held_.load(std::memory_order_relaxed); }

private:
    void work();

    const size_t max_threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    size_t idle_ = 0;
    size_t starting_ = 0;
    bool shut_down_ = false;
    std::atomic<size_t> held_{0};
};

/// Reads a bearer token from the environment variable `env` or, when that
/// is empty, from the first line of `file` (at most 4 KiB; trailing
/// whitespace dropped). Returns "" when both are empty. Refuses an unset or
/// empty variable, an unreadable, empty or oversized file, and a token
/// shorter than 16 bytes. `setting` names where the names came from in
/// errors ("serve", "source 'collector'").
Result<std::string> read_bearer_token(const std::string& env, const std::string& file,
                                      std::string_view setting);

/// `{"error": message}`.
std::string error_json(std::string_view message);

/// Answers `json` with `status` and then closes the connection: for requests
/// whose body was not read (or not to its end), which must never be taken
/// for the next request. httplib 0.11 closes a connection when writing the
/// answer fails, so the body provider writes everything, then reports a failure.
void reply_and_close(httplib::Response& res, int status, std::string json);

/// Answers `json` with `status`; closes the connection (reply_and_close)
/// when the request has a body and `body_read` is false.
void reply(const httplib::Request& req, httplib::Response& res, int status, std::string json,
           bool body_read);

/// `text` as a regular expression that matches only itself (httplib routes
/// by regular expression).
std::string regex_escape(std::string_view text);

}  // namespace eddy::http
