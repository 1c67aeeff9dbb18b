// SPDX-License-Identifier: Apache-2.0
#include "testing/memory_io.h"

#include "eddy/source.h"

#include "record/line_decoder.h"

namespace eddy::topology_tests {
namespace {

/// A replaced source: decodes its queue's lines when polled, bad ones to
/// its `errors` output as a file source would.
class QueueSource final : public Source {
public:
    QueueSource(std::shared_ptr<InputQueue> queue, DecoderOptions options)
        : queue_(std::move(queue)), options_(std::move(options)) {}

    Status open(ComponentContext& ctx) override {
        DecoderOptions json = options_;
        json.format = LineFormat::kJson;
        as_written_ = std::make_unique<LineDecoder>(options_, ctx);
        as_json_ = std::make_unique<LineDecoder>(std::move(json), ctx);
        return Status::ok();
    }

    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override {
        size_t n = 0;
        while (n < max_records && !queue_->lines.empty()) {
            InputLine line = std::move(queue_->lines.front());
            queue_->lines.pop_front();
            ++n;
            LineDecoder& decoder = line.json ? *as_json_ : *as_written_;
            if (decoder.needs_header()) {
                if (Status s = decoder.read_header(line.text); !s.is_ok()) {
                    out.error(s.message(), line.position, line.text);
                }
                continue;
            }
            Record& r = out.append();
            if (Status s = decoder.decode(line.text, r); !s.is_ok()) {
                out.discard_last();
                out.error(s.message(), line.position, line.text);
            }
        }
        if (n > 0) {
            return PollStatus::kData;
        }
        return queue_->ended ? PollStatus::kEnd : PollStatus::kIdle;
    }

private:
    std::shared_ptr<InputQueue> queue_;
    DecoderOptions options_;
    std::unique_ptr<LineDecoder> as_written_;
    std::unique_ptr<LineDecoder> as_json_;
};

class DiscardSink final : public Sink {
public:
    Status open(SinkContext&) override { return Status::ok(); }
    Status write(const Batch&) override { return Status::ok(); }
};

}  // namespace

IsolatedTopology isolate(const Topology& topology) {
    IsolatedTopology out;
    out.topology = topology;
    Topology& t = out.topology;
    t.parallelism = 1;
    t.state.dir.clear();
    t.serve.listen.clear();
    // A repartition topic only moves records between processes: in one
    // process, its operator reads what the topic's writer would have.
    for (const RepartitionDef& r : t.repartitions) {
        int writer = t.find(r.sink);
        int reader = t.find(r.op);
        if (writer >= 0 && reader >= 0) {
            t.components[static_cast<size_t>(reader)].inputs =
                t.components[static_cast<size_t>(writer)].inputs;
        }
        std::erase_if(t.components, [&](const ComponentDef& c) {
            return c.name == r.sink || c.name == r.source;
        });
    }
    t.repartitions.clear();
    for (ComponentDef& c : t.components) {
        c.parallelism = 0;  // the topology's: 1
        if (c.kind == ComponentKind::kOperator) {
            continue;
        }
        auto spec = std::make_unique<ComponentSpec>(*c.spec);
        if (c.kind == ComponentKind::kSource) {
            auto queue = std::make_shared<InputQueue>();
            out.queues[c.name] = queue;
            spec->make_source = [queue](const Config& cfg) -> Result<std::unique_ptr<Source>> {
                // The source's own decoding parameters (absent ones: JSON, ingestion time).
                Result<DecoderOptions> options = decoder_options(cfg);
                if (!options.is_ok()) {
                    return options.status();
                }
                return std::unique_ptr<Source>(
                    std::make_unique<QueueSource>(queue, std::move(options).value()));
            };
        } else {
            spec->make_sink = [](const Config&) -> Result<std::unique_ptr<Sink>> {
                return std::unique_ptr<Sink>(std::make_unique<DiscardSink>());
            };
        }
        c.spec = spec.get();
        out.specs.push_back(std::move(spec));
    }
    return out;
}

}  // namespace eddy::topology_tests
