// SPDX-License-Identifier: Apache-2.0
#include "runtime/job.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <pthread.h>

#include "record/utf8.h"
#include "runtime/job_impl.h"

namespace eddy {

Status Job::Impl::build() {
    const Topology& topo = job_.topology_;
    const PhysicalPlan& plan = job_.plan_;
    error_field_ = fields_.intern("error");
    // Room for the sinks reloads may add (their taps, their instances).
    tap_counts_ =
        std::make_unique<std::atomic<uint32_t>[]>(topo.components.size() + kMaxAddedSinks);
    for (const ComponentDef& c : topo.components) {
        if (!c.key.empty()) {
            tap_key_fields_.push_back(fields_.intern(c.key));
        }
    }
    for (const PlanNode& node : plan.nodes) {
        if (node.kind == PlanNodeKind::kExchange) {
            tap_key_fields_.push_back(fields_.intern(node.key));
        }
    }
    std::sort(tap_key_fields_.begin(), tap_key_fields_.end());
    tap_key_fields_.erase(std::unique(tap_key_fields_.begin(), tap_key_fields_.end()),
                          tap_key_fields_.end());
    error_at_field_ = fields_.intern("error_component");
    position_field_ = fields_.intern("error_position");
    raw_field_ = fields_.intern("raw");
    lateness_field_ = fields_.intern("lateness_ms");

    std::vector<ComponentMetrics*> metrics(topo.components.size());
    for (size_t i = 0; i < topo.components.size(); ++i) {
        const ComponentDef& c = topo.components[i];
        metrics[i] = &job_.metrics_.add(c.name, c.type, c.kind);
    }
    job_.metrics_.set_clock(*job_.options_.clock);
    for (const PlanNode& node : plan.nodes) {
        for (int ci : node.components) {
            if (node.kind == PlanNodeKind::kChain) {
                metrics[static_cast<size_t>(ci)]->set_shards(static_cast<size_t>(node.parallelism));
            }
        }
    }

    instances_.reserve(plan.nodes.size() + kMaxAddedSinks);
    instances_.resize(plan.nodes.size());
    for (const PlanNode& node : plan.nodes) {
        auto& shards = instances_[static_cast<size_t>(node.id)];
        int parallelism = node.kind == PlanNodeKind::kChain ? node.parallelism : 1;
        for (int s = 0; s < parallelism; ++s) {
            auto inst = std::make_unique<NodeInstance>();
            inst->node = &node;
            inst->shard = s;
            if (node.kind == PlanNodeKind::kChain) {
                for (int ci : node.components) {
                    const ComponentDef& c = topo.components[static_cast<size_t>(ci)];
                    auto rt = std::make_unique<OperatorRuntime>(*this, c, s, parallelism);
                    rt->index_ = static_cast<size_t>(ci);
                    rt->metrics_ = metrics[static_cast<size_t>(ci)];
                    auto made = c.spec->make_operator(c.config);
                    if (!made.is_ok()) {
                        return Status(made.status().code(), "operator '" + c.name + "' (" + c.type +
                                                                "): " + made.status().message());
                    }
                    rt->op_ = std::move(made.value());
                    rt->outputs_.resize(rt->output_count());
                    if (c.spec->has_output("late")) {
                        rt->late_output_ = rt->output("late");
                    }
                    rt->routes_.assign(rt->output_count(), nullptr);
                    if (!c.key.empty()) {
                        rt->key_ = fields_.intern(c.key);
                    }
                    operator_at_[c.name] = {node.id, inst->ops.size()};
                    inst->ops.push_back(std::move(rt));
                }
            } else if (node.kind == PlanNodeKind::kSink) {
                const ComponentDef& c = topo.components[static_cast<size_t>(node.components[0])];
                auto rt = std::make_unique<SinkRuntime>(*this, c, 0, 1);
                rt->index_ = static_cast<size_t>(node.components[0]);
                rt->metrics_ = metrics[static_cast<size_t>(node.components[0])];
                detail::set_destination(*rt->metrics_, c);
                auto made = c.spec->make_sink(c.config);
                if (!made.is_ok()) {
                    return Status(made.status().code(), "sink '" + c.name + "' (" + c.type +
                                                            "): " + made.status().message());
                }
                rt->sink_ = std::move(made.value());
                inst->sink = rt.get();
                sinks_.push_back(std::move(rt));
            } else if (node.kind == PlanNodeKind::kSource) {
                const ComponentDef& c = topo.components[static_cast<size_t>(node.components[0])];
                auto rt = std::make_unique<SourceRuntime>(*this, c);
                rt->index_ = static_cast<size_t>(node.components[0]);
                rt->metrics_ = metrics[static_cast<size_t>(node.components[0])];
                rt->node_ = node.id;
                auto made = c.spec->make_source(c.config);
                if (!made.is_ok()) {
                    return Status(made.status().code(), "source '" + c.name + "' (" + c.type +
                                                            "): " + made.status().message());
                }
                rt->source_ = std::move(made.value());
                sources_.push_back(std::move(rt));
            }
            shards.push_back(std::move(inst));
        }
    }
    EDDY_RETURN_IF_ERROR(build_routes());
    // With parallelism, every chain and sink instance gets a mailbox and,
    // in run(), a thread. Made here, so that they never change while the
    // HTTP API posts tasks (post_task() reads them from other threads).
    for (const PlanNode& node : plan.nodes) {
        parallel_ |= node.kind == PlanNodeKind::kChain && node.parallelism > 1;
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (parallel_ && (!inst->ops.empty() || inst->sink != nullptr)) {
                inst->mailbox = std::make_unique<Mailbox>(kMailboxCapacity);
                inst->queue_metrics =
                    inst->sink != nullptr ? inst->sink->metrics_ : inst->ops[0]->metrics_;
                inst->queue_metrics->queue_capacity += kMailboxCapacity;
            }
        }
    }
    if (!job_.topology_.state.dir.empty()) {
        EDDY_RETURN_IF_ERROR(open_state());
    }

    EDDY_RETURN_IF_ERROR(create_repartition_topics());
    EDDY_RETURN_IF_ERROR(open_transaction());
    // Open sinks first, then operators, then sources, so that nothing reads
    // before everything downstream is ready. A transactional sink that
    // others write through comes before them.
    std::vector<SinkRuntime*> opening;
    if (txn_owner_ != nullptr) {
        opening.push_back(txn_owner_);
    }
    for (auto& sink : sinks_) {
        if (sink.get() != txn_owner_) {
            opening.push_back(sink.get());
        }
    }
    for (SinkRuntime* sink : opening) {
        Status s = sink->sink_->open(*sink);
        if (!s.is_ok()) {
            return Status(s.code(), "sink '" + sink->def_.name + "': " + s.message());
        }
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (auto& op : inst->ops) {
                Status s = Status::ok();
                guarded(op->def_, "open()", [&] { s = op->op_->open(*op); });
                EDDY_RETURN_IF_ERROR(failure_);
                if (!s.is_ok()) {
                    return Status(s.code(), "operator '" + op->def_.name + "': " + s.message());
                }
            }
        }
    }
    for (auto& src : sources_) {
        Status s = src->source_->open(*src);
        if (!s.is_ok()) {
            return Status(s.code(), "source '" + src->def_.name + "': " + s.message());
        }
    }
    if (resuming_) {
        EDDY_RETURN_IF_ERROR(restore());
    }
    EDDY_RETURN_IF_ERROR(open_scale_out());
    if (store_) {
        EDDY_RETURN_IF_ERROR(bind_state());
        job_.metrics_.checkpoints().enabled.store(true);
        job_.metrics_.checkpoints().last_id.store(checkpoint_id_);
    }
    // State handles are known once operators are open.
    for (const auto& shards : instances_) {
        for (const auto& op : shards.front()->ops) {
            std::vector<std::string> names;
            for (const StateHandle* h : op->states_) {
                names.push_back(h->name());
            }
            op->metrics_->set_state_names(names);
        }
    }
    sample_metrics();
    // A metrics file that cannot be written is an error now, not a warning later.
    return write_metrics();
}

Status Job::Impl::write_metrics() {
    const std::string& path = job_.options_.metrics_file;
    if (path.empty()) {
        return Status::ok();
    }
    Status s = write_file_atomically(path, render_prometheus(job_.metrics_));
    if (!s.is_ok()) {
        return Status(s.code(), "metrics file: " + s.message());
    }
    return s;
}

void Job::Impl::sample_metrics() {
    for (auto& src : sources_) {
        SourceProgress p = src->source_->progress();
        if (p.total > 0) {
            src->metrics_->source_remaining_bytes.store(p.bytes, std::memory_order_relaxed);
            src->metrics_->source_remaining.store(
                static_cast<int64_t>(p.total > p.done ? p.total - p.done : 0),
                std::memory_order_relaxed);
        }
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->mailbox) {
                std::atomic<uint64_t>& peak = inst->queue_metrics->queue_peak;
                peak.store(std::max<uint64_t>(peak.load(), inst->mailbox->peak()));
            }
            bool stateful = false;
            for (const auto& op : inst->ops) {
                stateful |= !op->states_.empty();
            }
            if (!stateful) {
                continue;
            }
            if (!threaded_) {
                sample_state(*inst);
                continue;
            }
            // A worker that has not run the last sample yet (backpressure) gets no second.
            if (inst->sampling.exchange(true)) {
                continue;
            }
            NodeInstance* i = inst.get();
            if (inst->tasks.post([this, i](bool run) {
                    if (run) {
                        sample_state(*i);
                    }
                    i->sampling.store(false);
                })) {
                inst->mailbox->interrupt();
            }
        }
    }
}

void Job::Impl::sample_state(NodeInstance& inst) {
    auto shard = static_cast<size_t>(inst.shard);
    for (auto& op : inst.ops) {
        ComponentMetrics& m = *op->metrics_;
        for (size_t h = 0; h < op->states_.size() && h < m.states.size(); ++h) {
            const StateHandle& handle = *op->states_[h];
            if (!handle.shared() || shard == 0) {  // shared: one value, counted once
                m.set_state_size(h, shard, handle.size(), handle.memory_bytes());
            }
        }
        m.states_sampled.store(true, std::memory_order_relaxed);
    }
}

Status Job::Impl::build_routes() {
    const Topology& topo = job_.topology_;
    const PhysicalPlan& plan = job_.plan_;
    routes_.resize(topo.components.size());
    for (size_t ci = 0; ci < topo.components.size(); ++ci) {
        const ComponentDef& c = topo.components[ci];
        size_t outputs = c.spec->outputs.size() + 2;
        for (size_t o = 0; o < outputs; ++o) {
            routes_[ci].push_back(std::make_unique<Routes>());
        }
    }
    // The validator checked every output named: none is unknown.
    auto output_id = [](const ComponentDef& c, const std::string& output) {
        return static_cast<size_t>(detail::output_id(c, output));
    };

    for (const PlanEdge& e : plan.edges) {
        if (e.component < 0) {
            continue;  // exchange -> chain: resolved below through the exchange
        }
        const PlanNode& to = plan.nodes[static_cast<size_t>(e.to)];
        Destination d;
        if (to.kind == PlanNodeKind::kExchange) {
            d.hash = true;
            d.key_name = to.key;
            d.key = fields_.intern(to.key);
            for (const PlanEdge* out : plan.outputs_of(to.id)) {
                d.node = out->to;
            }
        } else {
            d.node = to.id;
        }
        const PlanNode& dest = plan.nodes[static_cast<size_t>(d.node)];
        const PlanNode& from = plan.nodes[static_cast<size_t>(e.from)];
        int from_shards = from.kind == PlanNodeKind::kChain ? from.parallelism : 1;
        int dest_shards = dest.kind == PlanNodeKind::kChain ? dest.parallelism : 1;
        const ComponentDef& up = topo.components[static_cast<size_t>(e.component)];
        std::string from_name = e.output.empty() ? up.name : up.name + "." + e.output;
        for (int s = 0; s < from_shards; ++s) {
            size_t channel = 0;
            for (int t = 0; t < dest_shards; ++t) {
                NodeInstance& inst = instance(d.node, t);
                channel = inst.combiner.add_channel();
                inst.input_names.push_back(
                    from_shards > 1 ? from_name + " shard " + std::to_string(s) : from_name);
            }
            d.channel_of_shard.push_back(channel);
        }
        d.dest_shards = static_cast<size_t>(dest_shards);
        d.staging.resize(static_cast<size_t>(from_shards * dest_shards));
        d.next.assign(static_cast<size_t>(from_shards), 0);
        routes_[static_cast<size_t>(e.component)][output_id(up, e.output)]->push_back(std::move(d));
    }

    // Point each runtime at its routes, and at the operators of its chain
    // that read its outputs (those have no plan edge: they are fused).
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (size_t k = 0; k < inst->ops.size(); ++k) {
                OperatorRuntime& op = *inst->ops[k];
                int ci = job_.topology_.find(op.def_.name);
                op.internal_.assign(op.output_count(), {});
                for (size_t o = 0; o < op.output_count(); ++o) {
                    Routes* r = routes_[static_cast<size_t>(ci)][o].get();
                    op.routes_[o] = r->empty() ? nullptr : r;
                }
            }
            for (size_t j = 1; j < inst->ops.size(); ++j) {
                const InputRef& in = inst->ops[j]->def_.inputs[0];
                for (size_t k = 0; k < j; ++k) {
                    OperatorRuntime& up = *inst->ops[k];
                    if (up.def_.name == in.component) {
                        up.internal_[output_id(up.def_, in.output)].push_back(j);
                    }
                }
            }
        }
    }
    for (auto& src : sources_) {
        int ci = job_.topology_.find(src->def_.name);
        src->routes_main_ = std::move(*routes_[static_cast<size_t>(ci)][0]);
        src->routes_errors_ = std::move(*routes_[static_cast<size_t>(ci)][1]);
    }
    for (auto& sink : sinks_) {
        int ci = job_.topology_.find(sink->def_.name);
        Routes* r = routes_[static_cast<size_t>(ci)][sink->errors_output()].get();
        sink->routes_errors_ = r->empty() ? nullptr : r;
    }
    return Status::ok();
}

void Job::Impl::deliver(NodeInstance& inst, size_t channel, Batch& batch) {
    if (failed()) {
        return;
    }
    if (inst.sink != nullptr) {
        SinkRuntime& sink = *inst.sink;
        if (!batch.empty()) {
            sink.metrics_->add_in(batch.size());
            if (tapped(sink.index_)) {
                tap_records(sink.def_, sink.index_, "", 0, batch);
            }
            Status s = sink.sink_->write(batch);
            sink.metrics_->observe_end_to_end(batch, job_.options_.clock->now_ms());
            pass_rejected(sink);
            if (!s.is_ok()) {
                fail(Status(s.code(), "sink '" + sink.def_.name + "': " + s.message()));
            }
        }
        // What reads the sink's `errors` follows the sink's input watermark.
        if (batch.watermark() != kNoWatermark && inst.combiner.update(channel, batch.watermark())) {
            sink.metrics_->set_watermark(0, inst.combiner.current());
            if (sink.routes_errors_ != nullptr) {
                broadcast_watermark(*sink.routes_errors_, 0, inst.combiner.current());
            }
        }
        return;
    }
    if (!batch.empty()) {
        process_into(inst, 0, batch);
    }
    if (batch.watermark() != kNoWatermark && inst.combiner.update(channel, batch.watermark())) {
        advance(inst, inst.combiner.current());
    }
}

void Job::Impl::deliver_idle(NodeInstance& inst, size_t channel, bool idle) {
    if (!inst.combiner.set_idle(channel, idle)) {
        return;
    }
    if (inst.sink == nullptr) {
        advance(inst, inst.combiner.current());
        return;
    }
    inst.sink->metrics_->set_watermark(0, inst.combiner.current());
    if (inst.sink->routes_errors_ != nullptr) {
        broadcast_watermark(*inst.sink->routes_errors_, 0, inst.combiner.current());
    }
}

void Job::Impl::pass_rejected(SinkRuntime& sink) {
    if (sink.errors_.empty()) {
        return;
    }
    sink.metrics_->add_errors(sink.errors_.size());
    if (tapped(sink.index_)) {
        tap_records(sink.def_, sink.index_, "errors", 0, sink.errors_);
    }
    if (sink.routes_errors_ != nullptr) {
        route(*sink.routes_errors_, 0, sink.errors_);
    }
    sink.errors_.clear();
}

Status Job::Impl::flush_sinks() {
    // Workers are quiet (a checkpoint) or stopped (the end): deliver what a
    // flush rejects on this thread, so that it is written before the next
    // sink flushes. sinks_ is in plan order, upstream first.
    bool threaded = threaded_;
    threaded_ = false;
    Status result = Status::ok();
    for (auto& sink : sinks_) {
        Status s = sink->sink_->flush();
        pass_rejected(*sink);
        if (!s.is_ok()) {
            result = Status(s.code(), "sink '" + sink->def_.name + "': " + s.message());
            break;
        }
    }
    threaded_ = threaded;
    return result;
}

void Job::Impl::process_into(NodeInstance& inst, size_t k, Batch& batch) {
    OperatorRuntime& op = *inst.ops[k];
    op.metrics_->add_in(batch.size());
    const Batch* input = &batch;
    if (op.key_ != kInvalidField) {
        bool all_keyed = true;
        for (size_t i = 0; i < batch.size(); ++i) {
            const Value* key = batch[i].get(op.key_);
            if (key == nullptr || key->is_null()) {
                all_keyed = false;
                break;
            }
            batch[i].set_key(*key);
        }
        if (!all_keyed) {
            op.keyed_.clear();
            for (size_t i = 0; i < batch.size(); ++i) {
                const Value* key = batch[i].get(op.key_);
                if (key == nullptr || key->is_null()) {
                    op.error(batch[i], "key field '" + op.def_.key + "' is missing");
                    continue;
                }
                Record& r = op.keyed_.append_copy(batch[i]);
                r.set_key(*r.get(op.key_));
            }
            input = &op.keyed_;
        }
    } else {
        // Records keep the key of the operator that emitted them; an unkeyed
        // operator must see none (the SDK promises a null key).
        for (size_t i = 0; i < batch.size(); ++i) {
            batch[i].set_key(Value());
        }
    }
    std::vector<Trace> traces;  // allocates only when a key is traced here
    if (op.key_ != kInvalidField && tapped(op.index_)) {
        begin_traces(op, inst.shard, *input, traces);
    }
    auto started = std::chrono::steady_clock::now();
    if (op.def_.state_ttl_ms) {
        // With a TTL, state access is stamped with each record's own time.
        guarded(op.def_, "process()", [&] {
            for (size_t i = 0; i < input->size(); ++i) {
                op.ttl_now_ = std::max(op.ttl_now_, (*input)[i].time());
                op.op_->process((*input)[i], op);
            }
        });
    } else {
        guarded(op.def_, "process()", [&] { op.op_->process_batch(*input, op); });
    }
    op.metrics_->observe_batch(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count(),
                               input->size());
    if (!traces.empty()) {
        end_traces(op, traces);
    }
    maintain_state(op);
    flush_outputs(inst, k);
}

void Job::Impl::flush_outputs(NodeInstance& inst, size_t k) {
    OperatorRuntime& op = *inst.ops[k];
    for (size_t o = 0; o < op.outputs_.size(); ++o) {
        Batch& out = op.outputs_[o];
        if (out.empty()) {
            continue;
        }
        if (o == op.errors_output()) {
            op.metrics_->add_errors(out.size());
        } else if (o == kMainOutput) {
            op.metrics_->add_out(out.size());
        } else {
            op.metrics_->add_side(out.size());
        }
        if (tapped(op.index_)) {
            tap_records(op.def_, op.index_, op.output_name(o), inst.shard, out);
        }
        for (size_t j : op.internal_[o]) {
            process_into(inst, j, out);
        }
        if (op.routes_[o] != nullptr) {
            route(*op.routes_[o], inst.shard, out);
        }
        out.clear();
    }
}

void Job::Impl::route(Routes& routes, int from_shard, Batch& batch) {
    auto from = static_cast<size_t>(from_shard);
    for (size_t r = 0; r < routes.size(); ++r) {
        Destination& d = routes[r];
        auto& shards = instances_[static_cast<size_t>(d.node)];
        size_t channel = d.channel_of_shard[from];
        if (!d.hash || shards.size() == 1) {
            size_t target =
                shards.size() == d.channel_of_shard.size() ? from : d.next[from]++ % shards.size();
            if (!threaded_) {
                deliver(*shards[target], channel, batch);
                continue;
            }
            // The last destination takes the batch itself, the others a copy.
            Message m;
            m.channel = channel;
            m.batch = pool_.acquire();
            if (r + 1 < routes.size()) {
                batch.copy_to(*m.batch);
            } else {
                std::swap(*m.batch, batch);
            }
            send(*shards[target], std::move(m));
            continue;
        }
        Batch* staging = &d.staging[from * d.dest_shards];
        for (size_t i = 0; i < batch.size(); ++i) {
            const Value* key = batch[i].get(d.key);
            uint32_t group = key == nullptr ? 0 : key_group(*key);
            int target = shard_of_key_group(group, static_cast<int>(shards.size()));
            staging[target].append_copy(batch[i]);
        }
        for (size_t t = 0; t < shards.size(); ++t) {
            if (staging[t].empty()) {
                continue;
            }
            if (!threaded_) {
                deliver(*shards[t], channel, staging[t]);
                staging[t].clear();
                continue;
            }
            Message m;
            m.channel = channel;
            m.batch = pool_.acquire();
            std::swap(*m.batch, staging[t]);
            send(*shards[t], std::move(m));
        }
    }
}

void Job::Impl::broadcast_watermark(Routes& routes, int from_shard, int64_t watermark) {
    for (Destination& d : routes) {
        size_t channel = d.channel_of_shard[static_cast<size_t>(from_shard)];
        for (auto& inst : instances_[static_cast<size_t>(d.node)]) {
            if (threaded_) {
                Message m;
                m.kind = Message::Kind::kWatermark;
                m.channel = channel;
                m.watermark = watermark;
                send(*inst, std::move(m));
                continue;
            }
            // Deliveries nest (a watermark fires timers that emit downstream), so
            // each depth has its own empty batch, kept for reuse.
            if (watermark_depth_ == watermark_batches_.size()) {
                watermark_batches_.push_back(std::make_unique<Batch>());
            }
            Batch& empty = *watermark_batches_[watermark_depth_++];
            empty.set_watermark(watermark);
            deliver(*inst, channel, empty);
            --watermark_depth_;
        }
    }
}

void Job::Impl::broadcast_idle(Routes& routes, int from_shard, bool idle) {
    for (Destination& d : routes) {
        size_t channel = d.channel_of_shard[static_cast<size_t>(from_shard)];
        for (auto& inst : instances_[static_cast<size_t>(d.node)]) {
            if (threaded_) {
                Message m;
                m.kind = Message::Kind::kIdle;
                m.channel = channel;
                m.idle = idle;
                send(*inst, std::move(m));
                continue;
            }
            deliver_idle(*inst, channel, idle);
        }
    }
}

void Job::Impl::advance(NodeInstance& inst, int64_t watermark) {
    for (size_t k = 0; k < inst.ops.size(); ++k) {
        OperatorRuntime& op = *inst.ops[k];
        op.timers_.set_watermark(watermark);
        if (watermark != kEndOfTime) {
            op.ttl_now_ = std::max(op.ttl_now_, watermark);
        }
        guarded(op.def_, "on_timer()", [&] {
            op.timers_.fire_due(TimeDomain::kEventTime, watermark,
                                [&](const Timer& t) { fire_timer(inst, k, t); });
        });
        guarded(op.def_, "on_watermark()", [&] { op.op_->on_watermark(watermark, op); });
        maintain_state(op);
        flush_outputs(inst, k);
    }
    inst.output_watermark = watermark;
    for (auto& op : inst.ops) {
        op->metrics_->set_watermark(static_cast<size_t>(inst.shard), watermark);
        for (Routes* r : op->routes_) {
            if (r != nullptr) {
                broadcast_watermark(*r, inst.shard, watermark);
            }
        }
    }
}

bool Job::Impl::poll_source(SourceRuntime& src) {
    src.main_.clear();
    src.errors_.clear();
    src.splits_.clear();
    ParallelDecoder* decoder = src.decoder_.get();
    auto polled = decoder != nullptr
                      ? src.lines_->read_lines(src, src.raw_, decoder->lines_per_read())
                      : src.source_->poll(src, job_.options_.batch_size);
    if (!polled.is_ok()) {
        fail(Status(polled.status().code(),
                    "source '" + src.def_.name + "': " + polled.status().message()));
        return false;
    }
    PollStatus status = polled.value();
    if (!src.caught_up_) {
        // Caught up: a poll returned less than it asked for (for /ready).
        size_t got = decoder != nullptr ? src.raw_.size() : src.main_.size() + src.errors_.size();
        size_t asked = decoder != nullptr ? decoder->lines_per_read() : job_.options_.batch_size;
        src.caught_up_ = got < asked || status == PollStatus::kEnd;
        if (src.caught_up_) {
            note_caught_up();
        }
    }
    bool had_data = !src.errors_.empty();
    if (decoder != nullptr) {
        // Each chunk goes on as a poll of its own would, watermark included.
        had_data |= src.raw_.size() > 0;
        decoder->decode(src.raw_);
        for (size_t c = 0; c < decoder->chunks(); ++c) {
            ParallelDecoder::Chunk& chunk = decoder->chunk(c);
            for (const ParallelDecoder::Error& e : chunk.errors) {
                src.error(e.reason, e.line, truncate_utf8(src.raw_.text(e.index), 1024));
            }
            emit_polled(src, chunk.records);
            send_source_watermark(src);
        }
    } else {
        had_data |= !src.main_.empty();
    }
    emit_polled(src, src.main_);
    if (status == PollStatus::kEnd) {
        src.ended_ = true;
        src.shown_ended_.store(true, std::memory_order_relaxed);
        src.watermarks_.end();
    }
    bool idle = src.watermarks_.update_idle(had_data || src.ended_, job_.options_.clock->now_ms());
    if (idle != src.idle_) {
        src.idle_ = idle;
        src.shown_idle_.store(idle, std::memory_order_relaxed);
        spdlog::debug("[{}] source is {}", src.def_.name, idle ? "idle" : "active again");
        broadcast_idle(src.routes_main_, 0, idle);
    }
    send_source_watermark(src);
    return had_data;
}

void Job::Impl::emit_polled(SourceRuntime& src, Batch& records) {
    if (src.splits_.empty() || &records != &src.main_) {
        for (size_t i = 0; i < records.size(); ++i) {
            src.watermarks_.observe(records[i].time());
        }
    } else {
        size_t next = 0;
        uint32_t split = 0;
        for (size_t i = 0; i < records.size(); ++i) {
            while (next < src.splits_.size() && src.splits_[next].first <= i) {
                split = src.splits_[next++].second;
            }
            src.watermarks_.observe(split, records[i].time());
        }
    }
    if (!records.empty()) {
        src.metrics_->add_out(records.size());
        if (tapped(src.index_)) {
            tap_records(src.def_, src.index_, "", 0, records);
        }
        route(src.routes_main_, 0, records);
    }
    if (!src.errors_.empty()) {
        src.metrics_->add_errors(src.errors_.size());
        if (tapped(src.index_)) {
            tap_records(src.def_, src.index_, "errors", 0, src.errors_);
        }
        route(src.routes_errors_, 0, src.errors_);
        src.errors_.clear();
    }
}

void Job::Impl::send_source_watermark(SourceRuntime& src) {
    src.shown_max_seen_.store(src.watermarks_.max_seen(), std::memory_order_relaxed);
    int64_t wm = src.watermarks_.current();
    if (wm > src.sent_watermark_) {
        src.sent_watermark_ = wm;
        src.metrics_->set_watermark(0, wm);
        broadcast_watermark(src.routes_main_, 0, wm);
        broadcast_watermark(src.routes_errors_, 0, wm);
    }
}

void Job::Impl::start_parallel_decoding(int threads) {
    for (auto& src : sources_) {
        auto* lines = dynamic_cast<LineSource*>(src->source_.get());
        if (lines != nullptr && lines->splittable()) {
            src->lines_ = lines;
            src->decoder_ =
                std::make_unique<ParallelDecoder>(*lines, *src, threads, job_.options_.batch_size);
        }
    }
}

void Job::Impl::fire_processing_timers() {
    int64_t now = job_.options_.clock->now_ms();
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            fire_processing_timers(*inst, now);
        }
    }
}

void Job::Impl::fire_processing_timers(NodeInstance& inst, int64_t now) {
    for (size_t k = 0; k < inst.ops.size(); ++k) {
        OperatorRuntime& op = *inst.ops[k];
        if (op.timers_.next(TimeDomain::kProcessingTime) > now) {
            continue;
        }
        guarded(op.def_, "on_timer()", [&] {
            op.timers_.fire_due(TimeDomain::kProcessingTime, now,
                                [&](const Timer& t) { fire_timer(inst, k, t); });
        });
        maintain_state(op);
        flush_outputs(inst, k);
    }
}

void Job::Impl::start_workers() {
    threaded_ = true;
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->ops.empty() && inst->sink == nullptr) {
                continue;  // sources run on the job's thread
            }
            start_worker(*inst);
        }
    }
}

void Job::Impl::start_worker(NodeInstance& inst) {
    // Named after the first component and the shard, for top -H and perf.
    std::string name =
        (inst.sink != nullptr ? inst.sink->def_.name : inst.ops[0]->def_.name).substr(0, 12) + "/" +
        std::to_string(inst.shard);
    NodeInstance* i = &inst;
    inst.worker = std::thread([this, i, name] {
        pthread_setname_np(pthread_self(), name.c_str());
        work(*i);
    });
}

void Job::Impl::stop_workers() {
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->mailbox) {
                inst->mailbox->close();
            }
        }
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->worker.joinable()) {
                inst->worker.join();
            }
            if (inst->mailbox) {
                std::atomic<uint64_t>& peak = inst->queue_metrics->queue_peak;
                peak.store(std::max<uint64_t>(peak.load(), inst->mailbox->peak()));
            }
        }
    }
    threaded_ = false;
}

void Job::Impl::work(NodeInstance& inst) {
    using clock = std::chrono::steady_clock;
    const Clock& wall = *job_.options_.clock;
    Batch watermark_only;
    Message m;
    while (true) {
        // Sleep until a message arrives or the next processing-time timer is due.
        int64_t next = kEndOfTime;
        for (auto& op : inst.ops) {
            next = std::min(next, op->timers_.next(TimeDomain::kProcessingTime));
        }
        auto deadline = clock::now() + std::chrono::milliseconds(100);
        if (next != kEndOfTime) {
            int64_t wait = std::clamp<int64_t>(next - wall.now_ms(), 0, 100);
            deadline = clock::now() + std::chrono::milliseconds(wait);
        }
        Mailbox::Popped popped = inst.mailbox->pop(m, deadline);
        if (popped == Mailbox::Popped::kClosed) {
            return;
        }
        if (popped == Mailbox::Popped::kMessage) {
            inst.queue_metrics->shard(static_cast<size_t>(inst.shard))
                .queued.fetch_sub(1, std::memory_order_relaxed);
            switch (m.kind) {
                case Message::Kind::kData:
                    deliver(inst, m.channel, *m.batch);
                    pool_.release(std::move(m.batch));
                    break;
                case Message::Kind::kWatermark:
                    watermark_only.clear();
                    watermark_only.set_watermark(m.watermark);
                    deliver(inst, m.channel, watermark_only);
                    break;
                case Message::Kind::kIdle:
                    deliver_idle(inst, m.channel, m.idle);
                    break;
            }
            finish_one();
        }
        if (inst.tasks.pending()) {
            run_tasks(inst);
        }
        if (next != kEndOfTime && wall.now_ms() >= next) {
            // Counted in flight, so that a checkpoint waits for it (or it waits
            // for the checkpoint).
            in_flight_.fetch_add(1);
            if (!paused_.load() && !failed()) {
                fire_processing_timers(inst, wall.now_ms());
            }
            finish_one();
        }
    }
}

void Job::Impl::note_caught_up() {
    for (const auto& src : sources_) {
        if (!src->caught_up_) {
            return;
        }
    }
    job_.ready_.store(true, std::memory_order_release);
}

void Job::Impl::run_tasks(NodeInstance& inst) {
    // Counted in flight like a timer, so that a checkpoint waits for the
    // tasks (or they wait for it: they stay queued while paused).
    in_flight_.fetch_add(1);
    if (!paused_.load()) {
        inst.tasks.run_all();
    }
    finish_one();
}

void Job::Impl::run_all_tasks() {
    if (!tasks_posted_.exchange(false)) {
        return;
    }
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->tasks.pending()) {
                inst->tasks.run_all();
            }
        }
    }
}

void Job::Impl::close_tasks() {
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            inst->tasks.close();
        }
    }
}

void Job::Impl::resume() {
    paused_.store(false);
    if (!threaded_) {
        return;
    }
    // Tasks posted during the checkpoint waited; wake their workers.
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            if (inst->mailbox && inst->tasks.pending()) {
                inst->mailbox->interrupt();
            }
        }
    }
}

Status Job::Impl::post_task(std::string_view op, const Value* key,
                            std::function<void(const OwnerView*)> task) {
    auto at = operator_at_.find(op);
    if (at == operator_at_.end()) {
        return Status::not_found("no operator named '" + std::string(op) + "'");
    }
    auto& shards = instances_[static_cast<size_t>(at->second.first)];
    int parallelism = static_cast<int>(shards.size());
    int shard = key == nullptr ? 0 : shard_of_key_group(key_group(*key), parallelism);
    NodeInstance& inst = *shards[static_cast<size_t>(shard)];
    size_t k = at->second.second;
    bool posted = inst.tasks.post([this, &inst, k, task](bool run) {
        if (!run) {
            task(nullptr);
            return;
        }
        OperatorRuntime& rt = *inst.ops[k];
        OwnerView view;
        view.def = &rt.def_;
        view.op = rt.op_.get();
        view.states = &rt.states_;
        view.shard = inst.shard;
        view.parallelism = static_cast<int>(instances_[static_cast<size_t>(inst.node->id)].size());
        view.watermark = inst.output_watermark;
        view.checkpoint_id = checkpoint_id_;
        task(&view);
    });
    if (!posted) {
        task(nullptr);
        return Status::ok();
    }
    wake(inst);
    return Status::ok();
}

void Job::Impl::wake(NodeInstance& inst) {
    if (inst.mailbox) {
        inst.mailbox->interrupt();
    } else {
        tasks_posted_.store(true);
        std::lock_guard lock(wake_mu_);
        wake_cv_.notify_one();
    }
}

Status Job::Impl::for_each_instance(std::string_view op, const std::function<void(Operator&)>& f) {
    auto at = operator_at_.find(op);
    if (at == operator_at_.end()) {
        return Status::not_found("no operator named '" + std::string(op) + "'");
    }
    for (auto& inst : instances_[static_cast<size_t>(at->second.first)]) {
        f(*inst->ops[at->second.second]->op_);
    }
    return Status::ok();
}

Status Job::Impl::find_owner(std::string_view op, const Value* key, SharedOwner& out) const {
    auto at = operator_at_.find(op);
    if (at == operator_at_.end()) {
        return Status::not_found("no operator named '" + std::string(op) + "'");
    }
    const auto& shards = instances_[static_cast<size_t>(at->second.first)];
    int shard =
        key == nullptr ? 0 : shard_of_key_group(key_group(*key), static_cast<int>(shards.size()));
    const OperatorRuntime& rt = *shards[static_cast<size_t>(shard)]->ops[at->second.second];
    out.def = &rt.def_;
    out.op = rt.op_.get();
    out.shard = shard;
    out.watermark =
        rt.metrics_->shard(static_cast<size_t>(shard)).watermark.load(std::memory_order_relaxed);
    out.checkpoint_id = job_.metrics_.checkpoints().last_id.load(std::memory_order_relaxed);
    return Status::ok();
}

void Job::Impl::quiesce() {
    paused_.store(true);
    std::unique_lock lock(quiet_mu_);
    quiet_cv_.wait(lock, [&] { return in_flight_.load() == 0; });
}

void Job::Impl::close_all() {
    closed_ = true;
    for (auto& src : sources_) {
        Status s = src->source_->close();
        if (!s.is_ok()) {
            spdlog::warn("[{}] close failed: {}", src->def_.name, s.message());
        }
    }
    // In plan order, so that everything upstream of a component (including
    // a sink whose `errors` it reads) has closed and passed on its last
    // records before it closes.
    for (auto& shards : instances_) {
        for (auto& inst : shards) {
            for (size_t k = 0; k < inst->ops.size(); ++k) {
                OperatorRuntime& op = *inst->ops[k];
                guarded(op.def_, "close()", [&] { op.op_->close(op); });
                flush_outputs(*inst, k);
            }
            if (inst->sink != nullptr && inst->sink != txn_owner_ &&
                std::find(close_last_.begin(), close_last_.end(), inst->sink) ==
                    close_last_.end()) {
                close_sink(*inst->sink);
            }
        }
    }
    // Sinks that read the errors of sinks a reload added (the dead-letter
    // sink), after those.
    for (SinkRuntime* sink : close_last_) {
        close_sink(*sink);
    }
    // Last, the transactional sink whose producer others write through.
    if (txn_owner_ != nullptr) {
        close_sink(*txn_owner_);
    }
}

void Job::Impl::close_sink(SinkRuntime& sink) {
    Status s = sink.sink_->close();
    pass_rejected(sink);
    if (!s.is_ok()) {
        fail(Status(s.code(), "sink '" + sink.def_.name + "': " + s.message()));
    }
}

Status Job::Impl::run() {
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    auto next_progress = start;
    auto interval = std::chrono::milliseconds(job_.topology_.state.checkpoint_interval_ms);
    auto next_checkpoint = start + interval;
    auto metrics_interval = std::chrono::milliseconds(job_.options_.metrics_interval_ms);
    auto next_metrics = start + metrics_interval;
    auto next_sample = start + std::chrono::milliseconds(kSampleIntervalMs);
    int threads = 1;
    for (const PlanNode& node : job_.plan_.nodes) {
        threads = std::max(threads, node.kind == PlanNodeKind::kChain ? node.parallelism : 1);
    }
    job_.running_.store(true, std::memory_order_release);
    if (parallel_) {
        start_workers();
        start_parallel_decoding(threads);
    }
    while (!failed()) {
        if (job_.stop_.load(std::memory_order_relaxed)) {
            job_.stopped_early_ = true;
            break;
        }
        bool any_data = false;
        bool all_ended = true;
        for (auto& src : sources_) {
            if (src->ended_) {
                continue;
            }
            all_ended = false;
            any_data |= poll_source(*src);
        }
        if (!threaded_) {
            fire_processing_timers();
            run_all_tasks();
        }
        if (!scale_outs_.empty()) {
            move_partitions();
        }
        if (all_ended) {
            break;
        }
        auto now = clock::now();
        if (store_ && now >= next_checkpoint) {
            if (threaded_) {
                quiesce();
            }
            fail_on_error(checkpoint());
            resume();
            next_checkpoint = clock::now() + interval;
        }
        if (reload_pending_.load(std::memory_order_relaxed)) {
            if (threaded_) {
                quiesce();
            }
            apply_pending_reload();
            resume();
        }
        if (now >= next_sample) {
            next_sample = now + std::chrono::milliseconds(kSampleIntervalMs);
            sample_metrics();
        }
        if (!job_.options_.metrics_file.empty() && now >= next_metrics) {
            next_metrics = now + metrics_interval;
            if (Status s = write_metrics(); !s.is_ok() && !metrics_warned_) {
                metrics_warned_ = true;  // the job goes on; the file is only a view
                spdlog::warn("{}", s.message());
            }
        }
        if (job_.options_.on_progress && now >= next_progress) {
            next_progress = now + std::chrono::milliseconds(500);
            JobProgress p;
            for (auto& src : sources_) {
                SourceProgress sp = src->source_->progress();
                p.done += sp.done;
                p.total += sp.total;
                p.bytes = sp.bytes;
            }
            p.records = job_.metrics_.source_records();
            p.seconds = std::chrono::duration<double>(now - start).count();
            job_.options_.on_progress(p);
        }
        if (!any_data) {
            std::unique_lock lock(wake_mu_);
            wake_cv_.wait_for(lock, std::chrono::milliseconds(5),
                              [&] { return tasks_posted_.load(); });
        }
    }
    job_.running_.store(false, std::memory_order_release);
    close_reloads();
    if (threaded_) {
        quiesce();
    }
    // The last checkpoint covers everything processed; a failed run keeps the previous one.
    if (!failed()) {
        fail_on_error(checkpoint());
    }
    if (threaded_) {
        stop_workers();
    }
    sample_metrics();  // the workers are stopped: on this thread
    close_tasks();
    close_all();
    end_taps("the job stopped");
    job_.elapsed_ = std::chrono::duration<double>(clock::now() - start).count();
    if (Status s = write_metrics(); !s.is_ok()) {
        spdlog::warn("{}", s.message());
    }
    return failure_;
}

Job::Job(const Topology& topology, JobOptions options)
    : topology_(topology), plan_(build_plan(topology_)), options_(std::move(options)) {}

Job::~Job() = default;

Result<std::unique_ptr<Job>> Job::create(const Topology& topology, JobOptions options) {
    std::unique_ptr<Job> job(new Job(topology, std::move(options)));
    job->impl_ = std::make_unique<Impl>(*job);
    EDDY_RETURN_IF_ERROR(job->impl_->build());
    return job;
}

Status Job::run() {
    return impl_->run();
}

Status Job::run_on_owner(std::string_view op, const Value* key,
                         std::function<void(const OwnerView*)> task) {
    return impl_->post_task(op, key, std::move(task));
}

Status Job::for_each_instance(std::string_view op, const std::function<void(Operator&)>& f) {
    return impl_->for_each_instance(op, f);
}

Status Job::find_owner(std::string_view op, const Value* key, SharedOwner& out) const {
    return impl_->find_owner(op, key, out);
}

TimeReport Job::explain_time(int64_t timeout_ms) {
    return impl_->explain_time(timeout_ms);
}

Result<std::shared_ptr<Tap>> Job::open_tap(TapRequest request) {
    return impl_->open_tap(std::move(request));
}

void Job::close_tap(const std::shared_ptr<Tap>& tap) {
    impl_->close_tap(tap);
}

size_t Job::open_taps() const {
    return impl_->open_taps();
}

Job::KeyPlace Job::place_of(std::string_view op, const Value& key) const {
    return impl_->place_of(op, key);
}

void Job::set_advertised_address(std::string address) {
    impl_->set_advertised_address(std::move(address));
}

Status Job::checkpoint() {
    return impl_->checkpoint();
}

uint64_t Job::checkpoints() const {
    return impl_->checkpoints();
}

bool Job::restored() const {
    return impl_->restored();
}

uint64_t Job::last_checkpoint_bytes() const {
    return impl_->last_checkpoint_bytes();
}

double Job::last_checkpoint_ms() const {
    return impl_->last_checkpoint_ms();
}

}  // namespace eddy
