// SPDX-License-Identifier: Apache-2.0
// Job::reload(): the live part of a topology reload (runtime/reload.h),
// applied on the job's thread between two polls while every worker is idle.
#include <future>
#include <tuple>

#include <pthread.h>

#include "eddy/query.h"

#include "runtime/job_impl.h"
#include "runtime/reload.h"

namespace eddy {

Status Job::reload(const ReloadPlan& plan) {
    return impl_->request_reload(plan);
}

Status Job::Impl::request_reload(const ReloadPlan& plan) {
    auto request = std::make_shared<ReloadRequest>();
    for (const ComponentDef* def : plan.reconfigured) {
        request->reconfigured.push_back(*def);
    }
    for (const ComponentDef* def : plan.added_sinks) {
        request->added_sinks.push_back(*def);
    }
    request->error_links = plan.error_links;
    std::future<Status> done = request->done.get_future();
    {
        std::lock_guard lock(reload_mu_);
        if (!job_.running() || reload_closed_) {
            return Status::aborted("the job is not running");
        }
        if (reload_request_) {
            return Status::aborted("another reload is being applied");
        }
        reload_request_ = request;
        reload_pending_.store(true);
    }
    tasks_posted_.store(true);
    {
        std::lock_guard lock(wake_mu_);
        wake_cv_.notify_one();
    }
    return done.get();
}

void Job::Impl::apply_pending_reload() {
    std::shared_ptr<ReloadRequest> request;
    {
        std::lock_guard lock(reload_mu_);
        request = std::move(reload_request_);
        reload_pending_.store(false);
    }
    if (request) {
        Status s = Status::ok();
        try {
            s = apply_reload(*request);
        } catch (const std::exception& e) {
            s = Status::internal(std::string("the reload threw: ") + e.what());
        } catch (...) {
            s = Status::internal("the reload threw");
        }
        request->done.set_value(std::move(s));
    }
}

void Job::Impl::close_reloads() {
    std::shared_ptr<ReloadRequest> request;
    {
        std::lock_guard lock(reload_mu_);
        reload_closed_ = true;
        request = std::move(reload_request_);
        reload_pending_.store(false);
    }
    if (request) {
        request->done.set_value(
            Status::aborted("the job stopped before the reload could be applied"));
    }
}

using detail::output_id;

Status Job::Impl::apply_reload(ReloadRequest& request) {
    // Check everything before changing anything: a reload is all or nothing.
    struct Swap {
        NodeInstance* inst;
        size_t k;
        std::unique_ptr<Operator> op;
    };
    std::vector<Swap> swaps;
    for (const ComponentDef& def : request.reconfigured) {
        auto at = operator_at_.find(def.name);
        if (at == operator_at_.end()) {
            return Status::not_found("the job runs no operator named '" + def.name + "'");
        }
        for (auto& inst : instances_[static_cast<size_t>(at->second.first)]) {
            OperatorRuntime& rt = *inst->ops[at->second.second];
            if (!rt.states_.empty()) {
                return Status::unsupported("operator '" + def.name +
                                           "' keeps state: changing its parameters "
                                           "needs a restart");
            }
            if (rt.timers_.pending() > 0) {
                return Status::unsupported(
                    "operator '" + def.name + "' has " + std::to_string(rt.timers_.pending()) +
                    " timer(s) pending: it cannot be replaced while they are");
            }
            if (dynamic_cast<Queryable*>(rt.op_.get()) != nullptr ||
                dynamic_cast<PublishedQueryable*>(rt.op_.get()) != nullptr) {
                return Status::unsupported("operator '" + def.name +
                                           "' answers queries: changing its "
                                           "parameters needs a restart");
            }
            swaps.push_back({inst.get(), at->second.second, nullptr});
        }
    }
    if (added_defs_.size() + request.added_sinks.size() > kMaxAddedSinks) {
        return Status::unsupported("a job takes at most " + std::to_string(kMaxAddedSinks) +
                                   " sinks added by reloads; restart it to add more");
    }
    for (const ComponentDef& def : request.added_sinks) {
        if (job_.topology_.find(def.name) >= 0 || operator_at_.count(def.name) > 0) {
            return Status::invalid_argument("the job already has a component named '" + def.name +
                                            "'");
        }
        for (const InputRef& in : def.inputs) {
            int ci = job_.topology_.find(in.component);
            if (SinkRuntime* added = ci < 0 ? running_sink(in.component) : nullptr) {
                // A sink an earlier reload added: it has only `errors`, and
                // must close before the new sink does.
                if (in.output != "errors") {
                    return Status::not_found("sink '" + def.name + "' reads '" + in.to_string() +
                                             "': no such output");
                }
                if (std::find(close_last_.begin(), close_last_.end(), added) != close_last_.end()) {
                    return Status::unsupported("sink '" + def.name +
                                               "' would read the errors of '" + in.component +
                                               "', which reads the errors of other sinks: that "
                                               "needs a restart");
                }
                continue;
            }
            bool earlier_new_sink = false;
            for (const ComponentDef& other : request.added_sinks) {
                if (&other == &def) {
                    break;
                }
                earlier_new_sink |= other.name == in.component && in.output == "errors";
            }
            if (earlier_new_sink) {
                continue;  // wired in before this one (plan_reload() orders them)
            }
            if (ci < 0) {
                return Status::not_found("sink '" + def.name + "' reads '" + in.to_string() +
                                         "', which the running job does not have");
            }
            if (output_id(job_.topology_.components[static_cast<size_t>(ci)], in.output) < 0) {
                return Status::not_found("sink '" + def.name + "' reads '" + in.to_string() +
                                         "': no such output");
            }
        }
    }
    for (const auto& link : request.error_links) {
        SinkRuntime* reader = running_sink(link.reader);
        if (reader == nullptr) {
            return Status::not_found("sink '" + link.reader + "' that reads the errors of '" +
                                     link.sink + "' is not running");
        }
        // It will be flushed and closed after the new sink, which it could
        // not be if something read its own errors.
        if (reader->routes_errors_ != nullptr) {
            return Status::unsupported("sink '" + link.reader + "' would read the errors of '" +
                                       link.sink +
                                       "' while its own errors are read: that needs a restart");
        }
    }

    // New sinks first, then the new operator instances: the sinks touch
    // nothing of the running job until they are wired in.
    size_t first_def = added_defs_.size();
    std::vector<std::unique_ptr<SinkRuntime>> sinks;
    std::deque<ComponentMetrics> opening_metrics;
    auto close_opened_sinks = [&] {
        for (auto& sink : sinks) {
            try {
                (void)sink->sink_->close();
            } catch (...) {
                // Closing what is being discarded: nothing more to do.
            }
        }
        sinks.clear();
        added_defs_.resize(first_def);
    };
    for (size_t i = 0; i < request.added_sinks.size(); ++i) {
        const ComponentDef& def = added_defs_.emplace_back(request.added_sinks[i]);
        auto rt = std::make_unique<SinkRuntime>(*this, def, 0, 1);
        rt->index_ = job_.topology_.components.size() + first_def + i;
        // The job's metrics get the sink once it is wired in: one that
        // fails to open leaves no trace in them.
        rt->metrics_ = &opening_metrics.emplace_back();
        Status s = Status::ok();
        try {
            auto made = def.spec->make_sink(def.config);
            s = made.is_ok() ? made.value()->open(*rt) : made.status();
            if (s.is_ok()) {
                rt->sink_ = std::move(made.value());
            }
        } catch (const std::exception& e) {
            s = Status::internal(std::string("threw: ") + e.what());
        }
        if (!s.is_ok()) {
            close_opened_sinks();
            return Status(s.code(), "sink '" + def.name + "': " + s.message());
        }
        sinks.push_back(std::move(rt));
    }

    // New operator instances, opened with the contexts of the ones they
    // replace (same name, outputs, metrics and timers). A failure undoes
    // what the ones opened so far did to those contexts.
    auto undo_swaps = [&](size_t opened) {
        for (size_t i = 0; i < opened; ++i) {
            OperatorRuntime& rt = *swaps[i].inst->ops[swaps[i].k];
            discard_opened(rt, std::move(swaps[i].op), rt.states_.size());
        }
        close_opened_sinks();
    };
    for (size_t i = 0; i < swaps.size(); ++i) {
        Swap& swap = swaps[i];
        OperatorRuntime& rt = *swap.inst->ops[swap.k];
        const ComponentDef* def = nullptr;
        for (const ComponentDef& d : request.reconfigured) {
            if (d.name == rt.def_.name) {
                def = &d;
            }
        }
        size_t states = rt.states_.size();
        std::unique_ptr<Operator> made;
        Status opened = Status::ok();
        try {
            auto created = def->spec->make_operator(def->config);
            if (created.is_ok()) {
                made = std::move(created.value());
                opened = made->open(rt);
            } else {
                opened = created.status();
            }
        } catch (const std::exception& e) {
            opened = Status::internal(std::string("threw: ") + e.what());
        }
        if (opened.is_ok() && (rt.states_.size() != states || rt.timers_.pending() > 0)) {
            opened = Status::unsupported(
                "it registers state or timers with its new parameters: that needs a restart");
        }
        if (!opened.is_ok()) {
            // Not closed: its open() did not succeed.
            discard_opened(rt, nullptr, states);
            undo_swaps(i);
            return Status(opened.code(), "operator '" + def->name +
                                             "' with its new parameters: " + opened.message());
        }
        swap.op = std::move(made);
    }

    // Commit: nothing below fails.
    for (Swap& swap : swaps) {
        OperatorRuntime& rt = *swap.inst->ops[swap.k];
        std::unique_ptr<Operator> old = std::exchange(rt.op_, std::move(swap.op));
        guarded(rt.def_, "close()", [&] { old->close(rt); });
        flush_outputs(*swap.inst, swap.k);
    }
    for (size_t i = 0; i < sinks.size(); ++i) {
        attach_sink(std::move(sinks[i]));
    }
    for (const auto& link : request.error_links) {
        SinkRuntime* from = running_sink(link.sink);
        SinkRuntime* reader = running_sink(link.reader);
        // The reader may be a sink an earlier reload added: not in the plan.
        NodeInstance* reading = nullptr;
        for (auto& shards : instances_) {
            if (shards.front()->sink == reader) {
                reading = shards.front().get();
            }
        }
        auto& routes = added_routes_.emplace_back();
        connect(routes, 1, *reading, link.sink + ".errors", {from_watermark(*from)});
        from->routes_errors_ = &routes;
        // Flushed and closed after the sinks whose errors it reads.
        auto at = std::find_if(sinks_.begin(), sinks_.end(),
                               [&](const auto& s) { return s.get() == reader; });
        std::unique_ptr<SinkRuntime> moved = std::move(*at);
        sinks_.erase(at);
        sinks_.push_back(std::move(moved));
        if (std::find(close_last_.begin(), close_last_.end(), reader) == close_last_.end()) {
            close_last_.push_back(reader);
        }
    }
    return Status::ok();
}

Job::Impl::SinkRuntime* Job::Impl::running_sink(const std::string& name) {
    for (auto& s : sinks_) {
        if (s->def_.name == name) {
            return s.get();
        }
    }
    return nullptr;
}

void Job::Impl::discard_opened(OperatorRuntime& rt, std::unique_ptr<Operator> op, size_t states) {
    for (size_t h = states; h < rt.states_.size(); ++h) {
        std::erase_if(shared_states_,
                      [&](const auto& entry) { return entry.second == rt.states_[h]; });
    }
    rt.states_.resize(states);
    // It had no timers before (apply_reload() checks): cancel every one.
    std::vector<std::tuple<TimeDomain, int64_t, Value>> timers;
    rt.timers_.for_each([&](TimeDomain domain, int64_t time, const Value& key) {
        timers.emplace_back(domain, time, key);
    });
    for (const auto& [domain, time, key] : timers) {
        rt.timers_.cancel(domain, key, time);
    }
    if (op) {
        try {
            op->close(rt);
        } catch (...) {
            // It is being discarded: its failure to close changes nothing.
        }
    }
    // What it emitted (the outputs were empty between two polls) goes nowhere.
    for (Batch& out : rt.outputs_) {
        out.clear();
    }
}

int64_t Job::Impl::from_watermark(const SinkRuntime& sink) {
    for (auto& shards : instances_) {
        if (shards.front()->sink == &sink) {
            return shards.front()->combiner.current();
        }
    }
    return kNoWatermark;
}

void Job::Impl::connect(Routes& routes, int from_shards, NodeInstance& dest,
                        const std::string& from_name, const std::vector<int64_t>& watermarks) {
    Destination d;
    d.node = dest.node->id;
    for (int s = 0; s < from_shards; ++s) {
        size_t channel = dest.combiner.add_channel();
        dest.input_names.push_back(from_shards > 1 ? from_name + " shard " + std::to_string(s)
                                                   : from_name);
        // The channel starts where its upstream is, so that the sink's
        // watermark does not wait for the next one sent.
        if (watermarks[static_cast<size_t>(s)] != kNoWatermark) {
            dest.combiner.update(channel, watermarks[static_cast<size_t>(s)]);
        }
        d.channel_of_shard.push_back(channel);
    }
    d.dest_shards = 1;
    d.staging.resize(static_cast<size_t>(from_shards));
    d.next.assign(static_cast<size_t>(from_shards), 0);
    routes.push_back(std::move(d));
}

void Job::Impl::attach_sink(std::unique_ptr<SinkRuntime> sink) {
    const ComponentDef& def = sink->def_;
    sink->metrics_ = &job_.metrics_.add(def.name, def.type, ComponentKind::kSink);
    detail::set_destination(*sink->metrics_, def);
    PlanNode& node = added_nodes_.emplace_back();
    node.id = static_cast<int>(instances_.size());
    node.kind = PlanNodeKind::kSink;
    node.components = {static_cast<int>(sink->index_)};
    auto inst = std::make_unique<NodeInstance>();
    inst->node = &node;
    inst->sink = sink.get();
    NodeInstance& dest = *inst;
    for (const InputRef& in : def.inputs) {
        int ci = job_.topology_.find(in.component);
        if (ci < 0) {  // the errors of a sink an earlier reload added
            SinkRuntime& up = *running_sink(in.component);
            if (up.routes_errors_ == nullptr) {
                up.routes_errors_ = &added_routes_.emplace_back();
            }
            connect(*up.routes_errors_, 1, dest, in.to_string(), {from_watermark(up)});
            continue;
        }
        const ComponentDef& up = job_.topology_.components[static_cast<size_t>(ci)];
        auto out = static_cast<size_t>(output_id(up, in.output));
        std::string name = in.to_string();
        if (up.kind == ComponentKind::kSource) {
            for (auto& src : sources_) {
                if (&src->def_ == &up) {
                    connect(out == 0 ? src->routes_main_ : src->routes_errors_, 1, dest, name,
                            {src->sent_watermark_});
                    // An idle source holds no watermark back.
                    dest.combiner.set_idle(dest.combiner.size() - 1, src->idle_);
                }
            }
        } else if (up.kind == ComponentKind::kSink) {
            for (auto& s : sinks_) {
                if (&s->def_ == &up) {
                    Routes& routes = *routes_[static_cast<size_t>(ci)][out];
                    connect(routes, 1, dest, name, {from_watermark(*s)});
                    s->routes_errors_ = &routes;
                }
            }
        } else {
            auto [node_id, k] = operator_at_.find(up.name)->second;
            auto& shards = instances_[static_cast<size_t>(node_id)];
            std::vector<int64_t> watermarks;
            for (auto& shard : shards) {
                watermarks.push_back(shard->output_watermark);
            }
            Routes& routes = *routes_[static_cast<size_t>(ci)][out];
            connect(routes, static_cast<int>(shards.size()), dest, name, watermarks);
            for (auto& shard : shards) {
                shard->ops[k]->routes_[out] = &routes;
            }
        }
    }
    sink->metrics_->set_watermark(0, dest.combiner.current());
    if (parallel_) {
        inst->mailbox = std::make_unique<Mailbox>(kMailboxCapacity);
        inst->queue_metrics = sink->metrics_;
        inst->queue_metrics->queue_capacity += kMailboxCapacity;
    }
    NodeInstance* added = inst.get();
    {
        // explain_time() reads instances_ from other threads; this is
        // within the capacity build() reserved, so nothing moves.
        std::lock_guard lock(graph_mu_);
        instances_.emplace_back().push_back(std::move(inst));
        sinks_.push_back(std::move(sink));
    }
    if (threaded_) {
        start_worker(*added);
    }
    spdlog::info("[{}] sink added by a reload, reading {}", def.name,
                 def.inputs.front().to_string());
}

}  // namespace eddy
