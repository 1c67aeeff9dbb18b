// SPDX-License-Identifier: Apache-2.0
// Test plugin: registers an operator named like the built-in `filter`.
#include "eddy/operator.h"
#include "eddy/plugin.h"

namespace {

class PassThrough final : public eddy::Operator {
public:
    explicit PassThrough(const eddy::Config&) {}
    void process(const eddy::Record& record, eddy::Emitter& out) override { out.emit(record); }
};

}  // namespace

EDDY_PLUGIN(registry) {
    registry.add(eddy::OperatorSpec("filter")
                     .summary("A second filter.")
                     .factory(eddy::make_component<eddy::Operator, PassThrough>));
}
