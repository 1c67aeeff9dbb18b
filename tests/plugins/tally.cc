// SPDX-License-Identifier: Apache-2.0
// Test plugin: one of each component kind, using what built-ins use (typed
// parameters, keyed state, event-time timers, a named output, a metric,
// logging). Built twice (libtally.so and libtally_copy.so) so that a test
// can load two plugins registering the same names.
#include <cstdint>
#include <fstream>
#include <string>

#include "eddy/operator.h"
#include "eddy/plugin.h"
#include "eddy/source.h"
#include "eddy/state.h"

namespace {

/// Counts each key's records per session (records of a key at most `gap`
/// apart in event time). Every record passes on with `n`, its number in the
/// session; a session's {key, count} goes to `totals` when the key's next
/// record comes after the gap, or when the watermark passes it. `last` keeps
/// each key's latest event time. Uses two keyed states, event-time timers, a
/// named output, a counter and the log.
class Tally final : public eddy::Operator {
public:
    explicit Tally(const eddy::Config& cfg) : gap_ms_(cfg.duration("gap").count()) {}

    eddy::Status open(eddy::OpenContext& ctx) override {
        n_ = ctx.field("n");
        key_field_ = ctx.field("key");
        count_ = ctx.field("count");
        totals_ = ctx.output("totals");
        timers_ = &ctx.timers();
        ctx.register_state(counts_);
        ctx.register_state(last_);
        sessions_ = ctx.counter("tally_sessions_total", "Sessions closed");
        ctx.log(eddy::LogLevel::kInfo, "tally opened");
        return eddy::Status::ok();
    }

    void process(const eddy::Record& record, eddy::Emitter& out) override {
        int64_t& count = counts_.get_or_create(record.key());
        int64_t& last = last_.get_or_create(record.key());
        if (count > 0 && record.time() > last + gap_ms_) {
            close_session(record.key(), last, count, out);
        }
        ++count;
        last = record.time();
        timers_->set(eddy::TimeDomain::kEventTime, record.key(), last + gap_ms_);
        eddy::Record& r = out.append();
        r.assign(record);
        r.set(n_, count);
    }

    void on_timer(const eddy::Timer& timer, eddy::Emitter& out) override {
        int64_t* count = counts_.find(timer.key);
        int64_t* last = last_.find(timer.key);
        if (count == nullptr || last == nullptr || *last + gap_ms_ != timer.time) {
            return;  // the session went on, or was closed by a later record
        }
        close_session(timer.key, *last, *count, out);
        counts_.erase(timer.key);  // `last` stays: when the key was last seen
    }

private:
    void close_session(const eddy::Value& key, int64_t last, int64_t& count, eddy::Emitter& out) {
        eddy::Record& r = out.append(totals_);
        r.set_time(last);
        r.set_value(key_field_, key);
        r.set(count_, count);
        count = 0;
        sessions_.add();
    }

    int64_t gap_ms_;
    eddy::FieldId n_ = eddy::kInvalidField;
    eddy::FieldId key_field_ = eddy::kInvalidField;
    eddy::FieldId count_ = eddy::kInvalidField;
    eddy::OutputId totals_ = eddy::kMainOutput;
    eddy::Timers* timers_ = nullptr;
    eddy::KeyedValue<int64_t> counts_{"counts"};
    eddy::KeyedValue<int64_t> last_{"last"};
    eddy::Counter sessions_;
};

/// Emits `count` records {user: "u<i % users>", i} one second apart.
class Numbers final : public eddy::Source {
public:
    explicit Numbers(const eddy::Config& cfg)
        : count_(cfg.integer("count")), users_(cfg.integer("users")) {}
    eddy::Status open(eddy::ComponentContext& ctx) override {
        user_ = ctx.field("user");
        i_ = ctx.field("i");
        ts_ = ctx.field("ts");
        return eddy::Status::ok();
    }
    eddy::Result<eddy::PollStatus> poll(eddy::SourceEmitter& out, size_t max_records) override {
        for (size_t n = 0; n < max_records && next_ < count_; ++n, ++next_) {
            eddy::Record& r = out.append();
            std::string user = "u" + std::to_string(next_ % users_);
            r.set(user_, std::string_view(user));
            r.set(i_, next_);
            r.set(ts_, next_ * 1000);
            r.set_time(next_ * 1000);
        }
        return next_ < count_ ? eddy::PollStatus::kData : eddy::PollStatus::kEnd;
    }

private:
    int64_t count_;
    int64_t users_;
    int64_t next_ = 0;
    eddy::FieldId user_ = eddy::kInvalidField;
    eddy::FieldId i_ = eddy::kInvalidField;
    eddy::FieldId ts_ = eddy::kInvalidField;
};

/// Writes the `field` of each record, one per line, to `path`.
class Lines final : public eddy::Sink {
public:
    explicit Lines(const eddy::Config& cfg)
        : path_(cfg.string("path")), field_name_(cfg.string("field")) {}
    eddy::Status open(eddy::SinkContext& ctx) override {
        field_ = ctx.field(field_name_);
        out_.open(path_, std::ios::trunc);
        return out_ ? eddy::Status::ok() : eddy::Status::io_error("cannot write " + path_);
    }
    eddy::Status write(const eddy::Batch& batch) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            if (const eddy::Value* v = batch[i].get(field_); v != nullptr && v->is_int()) {
                out_ << v->as_int() << '\n';
            }
        }
        return eddy::Status::ok();
    }
    eddy::Status close() override {
        out_.close();
        return eddy::Status::ok();
    }

private:
    std::string path_;
    std::string field_name_;
    eddy::FieldId field_ = eddy::kInvalidField;
    std::ofstream out_;
};

}  // namespace

EDDY_PLUGIN(registry) {
    registry.add(eddy::OperatorSpec("tally")
                     .summary("Counts records per key and session (test plugin).")
                     .keyed(eddy::KeyMode::kRequired)
                     .param(eddy::Param::duration("gap").default_value("30m").min(1).doc(
                         "Longest pause within a session."))
                     .output("totals", "One record per closed session: key, count.")
                     .keyed_state<int64_t>("counts", "Records of the key's open session.")
                     .keyed_state<int64_t>("last", "Event time of the key's last record.")
                     .factory(eddy::make_component<eddy::Operator, Tally>));
    registry.add(eddy::SourceSpec("tally_numbers")
                     .summary("Numbered records for several users (test plugin).")
                     .param(eddy::Param::integer("count").required().min(0).doc("Records."))
                     .param(eddy::Param::integer("users").default_value(3).min(1).doc("Users."))
                     .factory(eddy::make_component<eddy::Source, Numbers>));
    registry.add(eddy::SinkSpec("tally_lines")
                     .summary("Writes one integer field per line (test plugin).")
                     .param(eddy::Param::string("path").required().doc("Output file."))
                     .param(eddy::Param::string("field").required().doc("Integer field."))
                     .factory(eddy::make_component<eddy::Sink, Lines>));
}
