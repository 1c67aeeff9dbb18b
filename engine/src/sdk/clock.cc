// SPDX-License-Identifier: Apache-2.0
#include "eddy/clock.h"

#include <chrono>

namespace eddy {
namespace {

class SystemClock final : public Clock {
public:
    int64_t now_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
};

}  // namespace

Clock& Clock::system() {
    static SystemClock clock;
    return clock;
}

}  // namespace eddy
