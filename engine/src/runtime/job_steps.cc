// SPDX-License-Identifier: Apache-2.0
// Stepped runs (Job::start_steps()): the pieces of run() driven one call at a
// time from the caller's thread, so that `eddy test` can interleave input,
// watermarks and processing time exactly as a test case says.
#include <algorithm>

#include "runtime/job_impl.h"

namespace eddy {

Status Job::Impl::start_steps() {
    if (parallel_) {
        return Status::unsupported(
            "a stepped run needs a sequential job: set every parallelism to 1");
    }
    if (job_.running()) {
        return Status::invalid_argument("the job is already running");
    }
    close_reloads();  // a stepped run takes no reloads
    job_.running_.store(true, std::memory_order_release);
    return Status::ok();
}

Result<Job::StepOutcome> Job::Impl::step() {
    if (!job_.running()) {
        return Status::invalid_argument("step() before start_steps() or after finish_steps()");
    }
    StepOutcome outcome;
    // As one round of run()'s loop.
    for (auto& src : sources_) {
        if (!src->ended_) {
            outcome.had_data |= poll_source(*src);
        }
    }
    fire_processing_timers();
    run_all_tasks();
    outcome.ended =
        std::all_of(sources_.begin(), sources_.end(), [](const auto& src) { return src->ended_; });
    if (failed()) {
        return failure_;
    }
    return outcome;
}

Status Job::Impl::inject(std::string_view op, Batch& records) {
    if (!job_.running()) {
        return Status::invalid_argument("inject() before start_steps() or after finish_steps()");
    }
    auto at = operator_at_.find(op);
    if (at == operator_at_.end()) {
        return Status::not_found("no operator named '" + std::string(op) + "'");
    }
    // Sequential (start_steps()): every chain has one instance.
    process_into(instance(at->second.first, 0), at->second.second, records);
    return failed() ? failure_ : Status::ok();
}

Status Job::Impl::advance_sources_watermark(int64_t watermark) {
    if (!job_.running()) {
        return Status::invalid_argument(
            "advance_watermark() before start_steps() or after finish_steps()");
    }
    for (auto& src : sources_) {
        if (src->ended_ || watermark <= src->sent_watermark_) {
            continue;
        }
        // As send_source_watermark(), with a watermark the records did not make.
        src->sent_watermark_ = watermark;
        src->metrics_->set_watermark(0, watermark);
        broadcast_watermark(src->routes_main_, 0, watermark);
        broadcast_watermark(src->routes_errors_, 0, watermark);
    }
    return failed() ? failure_ : Status::ok();
}

int64_t Job::Impl::sources_watermark() const {
    int64_t highest = kNoWatermark;
    for (const auto& src : sources_) {
        highest = std::max(highest, src->sent_watermark_);
    }
    return highest;
}

Status Job::Impl::finish_steps() {
    if (!job_.running()) {
        return Status::invalid_argument("finish_steps() before start_steps() or twice");
    }
    // As the end of run().
    job_.running_.store(false, std::memory_order_release);
    if (!failed()) {
        fail_on_error(checkpoint());
    }
    sample_metrics();
    close_tasks();
    close_all();
    end_taps("the job stopped");
    return failure_;
}

Status Job::start_steps() {
    return impl_->start_steps();
}

Result<Job::StepOutcome> Job::step() {
    return impl_->step();
}

Status Job::inject(std::string_view op, Batch& records) {
    return impl_->inject(op, records);
}

Status Job::advance_watermark(int64_t watermark) {
    return impl_->advance_sources_watermark(watermark);
}

int64_t Job::sources_watermark() const {
    return impl_->sources_watermark();
}

Status Job::finish_steps() {
    return impl_->finish_steps();
}

FieldId Job::field(std::string_view name) {
    return impl_->intern(name);
}

}  // namespace eddy
