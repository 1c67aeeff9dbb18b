// SPDX-License-Identifier: Apache-2.0
#include "io/http_server.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
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
    held_.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(mu_);
        jobs_.push_back([this, fn = std::move(fn)] {
            fn();
            held_.fetch_sub(1, std::memory_order_relaxed);
        });
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

Result<std::string> read_bearer_token(const std::string& env, const std::string& file,
                                      std::string_view setting) {
    std::string where(setting);
    std::string token;
    if (!env.empty()) {
        const char* v = std::getenv(env.c_str());
        if (v == nullptr || *v == '\0') {
            return Status::invalid_argument(where + ": token_env names the environment variable `" +
                                            env + "`, which is " +
                                            (v == nullptr ? "not set" : "empty") +
                                            "; set it to the bearer token, or remove token_env");
        }
        token = v;
    } else if (!file.empty()) {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            return Status::invalid_argument(where + ": cannot read token_file `" + file +
                                            "`: " + std::strerror(errno));
        }
        constexpr std::streamsize kMax = 4096;
        token.resize(kMax + 1);
        in.read(token.data(), kMax + 1);
        token.resize(static_cast<size_t>(in.gcount()));
        if (token.size() > static_cast<size_t>(kMax)) {
            return Status::invalid_argument(where + ": token_file `" + file +
                                            "` is larger than 4096 bytes; it should hold only "
                                            "the token");
        }
        token = token.substr(0, token.find('\n'));
        while (!token.empty() &&
               (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
            token.pop_back();
        }
        if (token.empty()) {
            return Status::invalid_argument(where + ": token_file `" + file +
                                            "` is empty; write the bearer token on its first line");
        }
    }
    if (!token.empty() && token.size() < 16) {
        return Status::invalid_argument(
            where + ": the bearer token is " + std::to_string(token.size()) +
            " bytes; use at least 16 random bytes (e.g. `openssl rand -hex 32`)");
    }
    return token;
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
