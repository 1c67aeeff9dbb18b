// SPDX-License-Identifier: Apache-2.0
#include "io/http_server.h"

#include <cstdlib>
#include <memory>
#include <utility>

#include "eddy/json_writer.h"

namespace eddy::http {
namespace {

bool has_body(const httplib::Request& req) {
    return req.has_header("Transfer-Encoding") ||
           std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > 0;
}

}  // namespace

void ConnectionPool::enqueue(std::function<void()> fn) {
    {
        std::lock_guard lock(mu_);
        jobs_.push_back(std::move(fn));
        if (idle_ + starting_ < jobs_.size() && threads_.size() < max_threads_ && !shut_down_) {
            ++starting_;
            threads_.emplace_back([this] { work(); });
        }
    }
    cv_.notify_one();
}

void ConnectionPool::shutdown() {
    {
        std::lock_guard lock(mu_);
        if (shut_down_) {
            return;
        }
        shut_down_ = true;
    }
    cv_.notify_all();
    // Threads are started only under the lock, and never after shut_down_.
    for (std::thread& t : threads_) {
        t.join();
    }
}

void ConnectionPool::work() {
    std::unique_lock lock(mu_);
    --starting_;
    for (;;) {
        ++idle_;
        cv_.wait(lock, [&] { return !jobs_.empty() || shut_down_; });
        --idle_;
        if (jobs_.empty()) {
            return;  // shut down, and every accepted connection served
        }
        std::function<void()> fn = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        fn();
        lock.lock();
    }
}

std::string error_json(std::string_view message) {
    JsonWriter j;
    j.begin_object().field("error", message).end_object();
    return j.str();
}

void reply_and_close(httplib::Response& res, int status, std::string json) {
    res.status = status;
    res.set_header("Connection", "close");
    auto body = std::make_shared<std::string>(std::move(json));
    res.set_content_provider(body->size(), "application/json",
                             [body](size_t offset, size_t length, httplib::DataSink& sink) {
                                 sink.write(body->data() + offset, length);
                                 return false;
                             });
}

void reply(const httplib::Request& req, httplib::Response& res, int status, std::string json,
           bool body_read) {
    if (!body_read && has_body(req)) {
        reply_and_close(res, status, std::move(json));
        return;
    }
    res.status = status;
    res.set_content(json, "application/json");
}

std::string regex_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) {
            out += '\\';
        }
        out += c;
    }
    return out;
}

}  // namespace eddy::http
