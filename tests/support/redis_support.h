// SPDX-License-Identifier: Apache-2.0
// Test support: a real redis-server, started by a test on a free loopback
// port (or a Unix socket) and always stopped, and a plain hiredis client to
// read what was written.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace eddy::testing {

namespace fs = std::filesystem;

/// The path of `redis-server` on PATH, or "".
inline std::string find_redis_server() {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/usr/local/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t end = dirs.find(':', start);
        std::string dir = dirs.substr(start, end == std::string::npos ? end : end - start);
        fs::path candidate = fs::path(dir.empty() ? "." : dir) / "redis-server";
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return "";
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return port;
}

/// A reply, copied out of hiredis.
struct Reply {
    int type = REDIS_REPLY_NIL;
    std::string str;
    long long integer = 0;
    std::vector<std::string> elements;
};

/// A plain hiredis client for looking at what the sink wrote.
class Client {
public:
    Client(int port, const std::string& password = "") {
        timeval tv{2, 0};
        c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (c_ != nullptr && c_->err == 0 && !password.empty()) {
            run({"AUTH", password});
        }
    }
    ~Client() {
        if (c_ != nullptr) {
            redisFree(c_);
        }
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool ok() const { return c_ != nullptr && c_->err == 0; }

    Reply run(const std::vector<std::string>& args) {
        Reply out;
        if (!ok()) {
            out.type = REDIS_REPLY_ERROR;
            out.str = c_ != nullptr ? c_->errstr : "no connection";
            return out;
        }
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (const std::string& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
        if (r == nullptr) {
            out.type = REDIS_REPLY_ERROR;
            out.str = c_->errstr;
            return out;
        }
        out.type = r->type;
        if (r->str != nullptr) {
            out.str.assign(r->str, r->len);
        }
        out.integer = r->integer;
        for (size_t i = 0; i < r->elements; ++i) {
            const redisReply* e = r->element[i];
            out.elements.emplace_back(e->str != nullptr ? std::string(e->str, e->len) : "");
        }
        freeReplyObject(r);
        return out;
    }
    std::string get(const std::string& key) { return run({"GET", key}).str; }
    long long pttl(const std::string& key) { return run({"PTTL", key}).integer; }
    std::map<std::string, std::string> hgetall(const std::string& key) {
        Reply r = run({"HGETALL", key});
        std::map<std::string, std::string> out;
        for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
            out[r.elements[i]] = r.elements[i + 1];
        }
        return out;
    }
    long long dbsize() { return run({"DBSIZE"}).integer; }

private:
    redisContext* c_ = nullptr;
};

/// redis-server on 127.0.0.1:port with its files in `dir`, started by the
/// constructor and stopped (SIGKILL, then waited for) by stop() and the
/// destructor, so that no server outlives a test, failed or not.
class RedisServer {
public:
    RedisServer(fs::path dir, std::vector<std::string> extra)
        : binary_(find_redis_server()), dir_(std::move(dir)), extra_(std::move(extra)) {
        port_ = free_port();
        start();
    }
    ~RedisServer() { stop(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    /// Starts the server (again, on the same port and files) and waits until it answers PING.
    bool start() {
        std::vector<std::string> args = {binary_,  "--port",       std::to_string(port_),
                                         "--bind", "127.0.0.1",    "--save",
                                         "",       "--appendonly", "no",
                                         "--dir",  dir_.string(),  "--daemonize",
                                         "no"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_ = ::fork();
        if (pid_ == 0) {
            FILE* out = std::freopen((dir_ / "redis.log").c_str(), "a", stdout);
            FILE* err = std::freopen((dir_ / "redis.log").c_str(), "a", stderr);
            (void)out;
            (void)err;
            std::vector<char*> argv;
            for (std::string& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(binary_.c_str(), argv.data());
            ::_exit(127);
        }
        for (int i = 0; i < 400; ++i) {
            redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{0, 200000});
            bool up = false;
            if (c != nullptr && c->err == 0) {
                auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
                // PONG, or NOAUTH with a password: either way, it answers.
                up = r != nullptr &&
                     !(r->type == REDIS_REPLY_ERROR && std::string(r->str).starts_with("LOADING"));
                if (r != nullptr) {
                    freeReplyObject(r);
                }
            }
            if (c != nullptr) {
                redisFree(c);
            }
            if (up) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        return false;
    }

    /// Kills the server at once, as a crash would, and waits for it.
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

    /// Stops the server answering without closing its connections (SIGSTOP), or lets it go on.
    void pause(bool paused) {
        if (pid_ > 0) {
            ::kill(pid_, paused ? SIGSTOP : SIGCONT);
        }
    }

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    std::string binary_;
    fs::path dir_;
    std::vector<std::string> extra_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace eddy::testing
