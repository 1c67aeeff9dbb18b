// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

#include "eddy/metrics.h"

namespace eddy {

/// A counter updated per record through a local count, so that shards do
/// not contend on the shared cell. The owner calls flush() after each batch
/// and on close, so that the metric lags by at most one batch.
struct LocalCounter {
    static constexpr int64_t kFlushEvery = 1024;  ///< local counts before they go to `counter`

    Counter counter;
    int64_t pending = 0;

    void add() {
        if (++pending >= kFlushEvery) {
            flush();
        }
    }
    void flush() {
        if (pending > 0) {
            counter.add(pending);
            pending = 0;
        }
    }
};

}  // namespace eddy
