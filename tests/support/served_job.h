// SPDX-License-Identifier: Apache-2.0
// A job built from topology YAML, served over HTTP (its `serve:` block) and
// running on a thread of its own: the fixture of the HTTP API's tests.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"
#include "runtime/job.h"
#include "serve/server.h"
#include "topology/validator.h"
#include "topology/yaml_loader.h"

namespace eddy::testing {

class ServedJob {
public:
    ServedJob() = default;
    ServedJob(const ServedJob&) = delete;
    ServedJob& operator=(const ServedJob&) = delete;
    ~ServedJob() { stop(); }

    /// Loads and validates `yaml` (test registry), creates the job with
    /// `parallelism` (and `clock` as its processing time, when given),
    /// starts its HTTP API, then runs it. A failure is a fatal test failure:
    /// callers check HasFatalFailure().
    void start(const std::string& yaml, int parallelism = 1, const Clock* clock = nullptr) {
        Diagnostics diags;
        auto root = load_yaml_text(yaml, "served.yaml", diags);
        ASSERT_TRUE(root);
        auto topology = validate_topology(*root, test_registry(), diags);
        ASSERT_TRUE(topology) << (diags.items().empty() ? "" : diags.items()[0].to_string());
        topology->parallelism = parallelism;
        topology_ = std::make_unique<Topology>(*topology);
        JobOptions options;
        if (clock != nullptr) {
            options.clock = clock;
        }
        auto job = Job::create(*topology_, options);
        ASSERT_TRUE(job.is_ok()) << job.status().message();
        job_ = std::move(job.value());
        auto server = Server::start(*job_, test_registry(), topology_->serve);
        ASSERT_TRUE(server.is_ok()) << server.status().message();
        server_ = std::move(server.value());
        runner_ = std::thread([this] { status_ = job_->run(); });
    }

    /// Asks the job to stop, waits for run() and expects it to have
    /// succeeded. The API keeps answering (the job is no longer running).
    void stop_job() {
        if (job_) {
            job_->request_stop();
        }
        if (runner_.joinable()) {
            runner_.join();
            EXPECT_TRUE(status_.is_ok()) << status_.message();
        }
    }

    /// stop_job(), then the API.
    void stop() {
        stop_job();
        if (server_) {
            server_->stop();
        }
    }

    Job& job() { return *job_; }
    const Job& job() const { return *job_; }
    Server& server() { return *server_; }
    const Topology& topology() const { return *topology_; }

private:
    std::unique_ptr<Topology> topology_;
    std::unique_ptr<Job> job_;
    std::unique_ptr<Server> server_;
    std::thread runner_;
    Status status_;
};

}  // namespace eddy::testing
