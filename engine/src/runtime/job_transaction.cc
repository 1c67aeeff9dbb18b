// SPDX-License-Identifier: Apache-2.0
// One Kafka transaction per checkpoint (docs/kafka.md, "Transactions"): a
// kafka sink with `transactional: true` writes in a transaction that each
// checkpoint commits, together with the changelog's records and the input
// offsets under scale-out (docs/scale-out.md).
#include <cstdio>
#include <random>

#include "runtime/job_impl.h"

namespace eddy {

std::string Job::Impl::member_id() {
    std::optional<std::string> member = store_->get_meta("scaleout_member");
    if (!member) {
        // The state dir's identity: a restarted process replaces its models
        // in the model topic, and fences its previous run's transaction.
        uint64_t r = std::random_device{}();
        r = (r << 32) ^ std::random_device{}();
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
        member = hex;
        rocksdb::WriteBatch batch;
        store_->put_meta(batch, "scaleout_member", *member);
        if (Status s = store_->commit(batch); !s.is_ok()) {
            spdlog::warn("the state dir did not keep this process's id: {}", s.message());
        }
    }
    return *member;
}

Status Job::Impl::open_transaction() {
    for (auto& sink : sinks_) {
        auto* t = dynamic_cast<KafkaTransactionalSink*>(sink->sink_.get());
        if (t == nullptr || !t->transactional()) {
            continue;
        }
        if (txn_sink_ != nullptr) {
            return Status::invalid_argument(
                "sink '" + sink->def_.name + "': transactional: true, as sink '" + txn_name_ +
                "' has; one transactional sink per topology (each checkpoint commits one "
                "transaction)");
        }
        txn_sink_ = t;
        txn_name_ = sink->def_.name;
        if (!store_) {
            continue;  // the sink's open() says why it cannot be transactional
        }
        const Topology& topo = job_.topology_;
        t->set_transactional_id(topo.job_name() + "-" + sink->def_.name + "-" + member_id());
        join_repartition_writers(*sink, *t);
        if (topo.state.checkpoint_interval_ms * 2 > kDefaultTransactionTimeoutMs) {
            spdlog::warn(
                "[{}] a transaction spans a checkpoint interval ({} ms): unless `properties` "
                "sets transaction.timeout.ms above twice that, Kafka aborts transactions "
                "(librdkafka's default: 60 s)",
                sink->def_.name, topo.state.checkpoint_interval_ms);
        }
    }
    return Status::ok();
}

void Job::Impl::join_repartition_writers(SinkRuntime& owner, KafkaTransactionalSink& t) {
    // The writers of repartition topics write in the same transactions, so
    // that state behind a repartition topic is exactly-once too: a record
    // reaches the topic (for read_committed readers) with the checkpoint
    // that read its input, and not at all when that checkpoint fails.
    for (const RepartitionDef& r : job_.topology_.repartitions) {
        for (auto& sink : sinks_) {
            if (sink->def_.name != r.sink) {
                continue;
            }
            auto* writer = dynamic_cast<KafkaTransactionalSink*>(sink->sink_.get());
            std::string why = "not a kafka sink";
            if (writer != nullptr && writer->write_through(t, why)) {
                txn_owner_ = &owner;
            } else {
                spdlog::warn(
                    "[{}] writes outside the transactions of sink '{}' ({}): after a crash the "
                    "state of '{}' may count some events twice",
                    r.sink, owner.def_.name, why, r.op);
            }
        }
    }
}

Status Job::Impl::commit_transaction(const std::vector<GroupOffsets>& offsets) {
    if (txn_sink_ == nullptr) {
        return Status::ok();
    }
    return txn_sink_->commit_transaction(offsets);
}

}  // namespace eddy
