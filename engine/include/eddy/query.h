// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "eddy/json_writer.h"
#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy {

/// One read of a queryable operator through the HTTP API, for example
/// `GET /v1/recommendations/u42?n=5&category=shoes` (docs/serving.md).
struct QueryRequest {
    /// What is asked for: "recommendations", or another view the operator
    /// names in Queryable::serves().
    std::string_view view;
    /// The key the read is about (the user), typed like the operator's key.
    Value key;
    /// The query string's parameters, decoded, in the order given.
    std::vector<std::pair<std::string_view, std::string_view>> params;

    /// The parameter's value, or `fallback` when it is absent.
    std::string_view param(std::string_view name, std::string_view fallback = {}) const {
        for (const auto& [k, v] : params) {
            if (k == name) {
                return v;
            }
        }
        return fallback;
    }
};

/// An interface an operator may implement, besides Operator, to answer
/// reads from the HTTP API. The runtime calls query() on the thread that
/// owns the key's shard, between two batches (never during a checkpoint), so
/// it sees state exactly as process() left it and needs no lock; it must be
/// quick (a few hundred microseconds) because the shard waits for it, and
/// must not change state. Operators that only keep keyed state need not
/// implement it: `GET /v1/state/{operator}/{key}` reads any keyed state
/// through its codec.
class Queryable {
public:
    virtual ~Queryable() = default;

    /// Whether this operator answers `view` (e.g. "recommendations").
    virtual bool serves(std::string_view view) const = 0;

    /// Writes the answer's members into the JSON object open in `out` (the
    /// runtime adds the key, the watermark and the checkpoint id). A key the
    /// operator has never seen gets its cold-start answer, not an error. An
    /// error status (a bad parameter: invalid argument) becomes a 4xx answer.
    virtual Status query(const QueryRequest& request, JsonWriter& out) = 0;
};

/// An interface a Queryable operator may implement too, to answer some
/// reads on the caller's thread, without waiting for the shard, from
/// answers it keeps for that (recommend and mf keep their latest rankings:
/// docs/serving.md, "Answers without the shard").
class PublishedQueryable {
public:
    virtual ~PublishedQueryable() = default;

    /// The HTTP API will ask this operator: start keeping answers. Called
    /// once per instance, from another thread, at any time (before the job
    /// runs or while it does), so it may only set something atomic that the
    /// instance's own thread acts on. An operator nobody asks keeps nothing.
    virtual void keep_answers() = 0;

    /// Writes the answer's members as Queryable::query() would, plus
    /// `"age_ms"` (how long ago the answer was computed), when a kept answer
    /// is fresh enough; returns false otherwise, and what it wrote is dropped
    /// and query() answers on the shard. Called from HTTP threads on the
    /// instance that owns the key while process() runs: it may read only
    /// what its own thread publishes for that (atomics, memory published with
    /// release stores) and what never changes once open() returned, and
    /// shared models only where they are built for concurrent readers.
    virtual bool query_published(const QueryRequest& request, JsonWriter& out) const = 0;
};

}  // namespace eddy
