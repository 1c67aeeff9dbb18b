// SPDX-License-Identifier: Apache-2.0
// The HTTP API of a running job: queryable state, recommendations, profiles
// and segments, Prometheus metrics, health, readiness and the plan. See
// docs/serving.md.
#pragma once

#include <memory>
#include <string>

#include "eddy/registry.h"
#include "eddy/status.h"

#include "runtime/job.h"
#include "serve/address.h"
#include "topology/topology.h"

namespace eddy {

/// Serves a job over HTTP on threads of its own. Reads reach the shards
/// through Job::run_on_owner(), so the shards' hot path takes no lock.
class Server {
public:
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds `settings.listen` and starts serving `job`, whose components'
    /// specs (state codecs) are in `registry`. Refuses an address that is not
    /// loopback unless a bearer token is configured, and a token that cannot
    /// be read. `job` and `registry` must outlive the server.
    static Result<std::unique_ptr<Server>> start(Job& job, const Registry& registry,
                                                 const ServeDef& settings);

    /// The bound port (the chosen one when `listen` asked for port 0).
    int port() const;
    /// http://host:port
    std::string url() const;
    /// Stops accepting, waits for the requests being answered. Idempotent.
    void stop();

private:
    class Impl;
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace eddy
