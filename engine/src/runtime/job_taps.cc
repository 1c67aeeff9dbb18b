// SPDX-License-Identifier: Apache-2.0
// Taps of a running job (runtime/tap.h): opened from the HTTP API's
// threads, fed on the threads that own the tapped components.
#include <algorithm>

#include "runtime/job_impl.h"

namespace eddy {

namespace {

/// The outputs a tap may name on `def`: "" (main, or a sink's input), its
/// declared outputs and "errors".
std::vector<std::string> tap_outputs(const ComponentDef& def) {
    std::vector<std::string> names{""};
    if (def.kind == ComponentKind::kOperator) {
        for (const auto& o : def.spec->outputs) {
            names.push_back(o.name);
        }
    }
    names.push_back("errors");
    return names;
}

}  // namespace

Result<std::shared_ptr<Tap>> Job::Impl::open_tap(TapRequest request) {
    const Topology& topo = job_.topology_;
    if (!(request.sample > 0 && request.sample <= 1)) {
        return Status::invalid_argument("sample must be in (0, 1], the fraction of records kept");
    }
    if (request.key && request.key->empty()) {
        return Status::invalid_argument("key must not be empty");
    }
    size_t component = SIZE_MAX;
    if (request.component != "*") {
        int c = topo.find(request.component);
        if (c < 0) {
            return Status::not_found("no component named '" + request.component + "'");
        }
        component = static_cast<size_t>(c);
        if (request.output != "*") {
            std::vector<std::string> outputs = tap_outputs(topo.components[component]);
            if (std::find(outputs.begin(), outputs.end(), request.output) == outputs.end()) {
                std::string known;
                for (const std::string& o : outputs) {
                    known += (known.empty() ? "" : ", ") + (o.empty() ? "(main)" : o);
                }
                return Status::not_found("component '" + request.component + "' has no output '" +
                                         request.output + "' (it has: " + known + ")");
            }
        }
    } else if (request.output.empty()) {
        request.output = "*";  // following records everywhere includes side outputs
    } else if (request.output != "*" && request.output != "errors") {
        return Status::invalid_argument(
            "with every component (*), the output must be errors or * (every output)");
    }
    auto tap = std::make_shared<Tap>(std::move(request), component, fields_);
    std::lock_guard lock(taps_mu_);
    if (!taps_ended_.empty()) {
        tap->end(taps_ended_);  // the job has ended: nothing will feed it
        return tap;
    }
    taps_.push_back(tap);
    count_taps();
    return tap;
}

void Job::Impl::close_tap(const std::shared_ptr<Tap>& tap) {
    tap->end("closed by the reader");
    std::lock_guard lock(taps_mu_);
    std::erase(taps_, tap);
    count_taps();
}

void Job::Impl::end_taps(const std::string& reason) {
    std::lock_guard lock(taps_mu_);
    taps_ended_ = reason;
    for (const auto& tap : taps_) {
        tap->end(reason);
    }
    taps_.clear();
    count_taps();
}

void Job::Impl::count_taps() {
    size_t n = job_.topology_.components.size();
    std::vector<uint32_t> counts(n, 0);
    for (const auto& tap : taps_) {
        for (size_t c = 0; c < n; ++c) {
            counts[c] += tap->reads_component(c) ? 1 : 0;
        }
    }
    for (size_t c = 0; c < n; ++c) {
        tap_counts_[c].store(counts[c], std::memory_order_relaxed);
    }
}

void Job::Impl::tap_records(const ComponentDef& def, size_t component, std::string_view output,
                            int shard, const Batch& batch) {
    std::lock_guard lock(taps_mu_);
    bool ended = false;
    for (const auto& tap : taps_) {
        if (tap->reads(component, output)) {
            tap->offer(def.name, output, shard, batch, tap_key_fields_);
            ended |= tap->ended();
        }
    }
    if (ended) {
        std::erase_if(taps_, [](const auto& tap) { return tap->ended(); });
        count_taps();
    }
}

void Job::Impl::begin_traces(OperatorRuntime& op, int shard, const Batch& input,
                             std::vector<Trace>& traces) {
    std::lock_guard lock(taps_mu_);
    for (const auto& tap : taps_) {
        if (!tap->request().key || tap->ended() ||
            (tap->request().component != "*" && tap->request().component != op.def_.name)) {
            continue;
        }
        Trace* trace = nullptr;
        for (size_t i = 0; i < input.size(); ++i) {
            if (!tap->is_key(input[i].key())) {
                continue;
            }
            if (trace == nullptr) {
                trace = &traces.emplace_back();
                start_trace(tap, op, shard, input[i].key(), *trace);
            }
            trace->event.inputs.push_back(tap->encode(input[i]));
        }
    }
}

void Job::Impl::begin_timer_traces(OperatorRuntime& op, int shard, const Timer& timer,
                                   std::vector<Trace>& traces) {
    std::lock_guard lock(taps_mu_);
    for (const auto& tap : taps_) {
        if (!tap->request().key || tap->ended() ||
            (tap->request().component != "*" && tap->request().component != op.def_.name) ||
            !tap->is_key(timer.key)) {
            continue;
        }
        Trace& trace = traces.emplace_back();
        start_trace(tap, op, shard, timer.key, trace);
        trace.event.timer = true;
        trace.event.timer_domain = timer.domain;
        trace.event.timer_time = timer.time;
    }
}

void Job::Impl::start_trace(const std::shared_ptr<Tap>& tap, OperatorRuntime& op, int shard,
                            const Value& key, Trace& trace) {
    trace.tap = tap;
    encode_state_key(key, trace.encoded_key);
    trace.event.kind = TapEvent::Kind::kState;
    trace.event.component = op.def_.name;
    trace.event.type = op.def_.type;
    trace.event.shard = shard;
    trace.event.key = *tap->request().key;
    read_stored_states(op.states_, trace.encoded_key, {}, trace.event.before);
}

void Job::Impl::fire_timer(NodeInstance& inst, size_t k, const Timer& timer) {
    OperatorRuntime& op = *inst.ops[k];
    std::vector<Trace> traces;  // allocates only when the timer's key is traced
    if (op.key_ != kInvalidField && tapped(op.index_)) {
        begin_timer_traces(op, inst.shard, timer, traces);
    }
    op.op_->on_timer(timer, op);
    if (!traces.empty()) {
        end_traces(op, traces);
    }
    after_timer(inst, k);
}

void Job::Impl::end_traces(OperatorRuntime& op, std::vector<Trace>& traces) {
    for (Trace& t : traces) {
        read_stored_states(op.states_, t.encoded_key, {}, t.event.after);
    }
    std::lock_guard lock(taps_mu_);
    for (Trace& t : traces) {
        if (!t.tap->ended()) {
            t.tap->deliver(std::move(t.event));
        }
    }
    if (std::any_of(taps_.begin(), taps_.end(), [](const auto& tap) { return tap->ended(); })) {
        std::erase_if(taps_, [](const auto& tap) { return tap->ended(); });
        count_taps();
    }
}

}  // namespace eddy
