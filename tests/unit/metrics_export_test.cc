// SPDX-License-Identifier: Apache-2.0
// What a running job exports: batch time, end-to-end latency, watermarks,
// state size, queues, source progress and checkpoints, in valid Prometheus
// text (the same through --metrics-file); and the Grafana dashboard in
// docs/grafana/ asks only for metrics the exporter emits. Counts, never
// durations, so nothing here depends on the machine's speed.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include "exposition_check.h"
#include "harness.h"
#include "metrics/metrics.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;
using testing::read_exposition;
using testing::run_yaml;
using testing::sample_value;

/// Keyed: counts records per key in state `counts` and passes them on;
/// reports those whose `late` is true as 5 ms late instead.
class Tally final : public Operator {
public:
    explicit Tally(const Config&) {}
    Status open(OpenContext& ctx) override {
        ctx.register_state(counts_);
        late_ = ctx.field("late");
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override {
        if (const Value* late = r.get(late_);
            late != nullptr && late->is_bool() && late->as_bool()) {
            out.late(r, 5, LatePolicy::kDrop);
            return;
        }
        ++counts_.get_or_create(r.key());
        out.emit(r);
    }

private:
    KeyedValue<int64_t> counts_{"counts"};
    FieldId late_{};
};

class MetricsExportTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        Registry& r = testing::test_registry();
        if (r.find(ComponentKind::kOperator, "tally") == nullptr) {
            Status s = r.add(OperatorSpec("tally")
                                 .summary("Test: counts per key.")
                                 .keyed(KeyMode::kRequired)
                                 .factory(make_component<Operator, Tally>),
                             "tests");
            ASSERT_TRUE(s.is_ok()) << s.message();
        }
    }
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("eddy_metrics_export_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// A parallel job with a state dir, reading a file of 200 records over
    /// 17 keys, 10 of them late: every runtime family shows in its metrics.
    std::string run_parallel_job() {
        std::ofstream in(dir_ / "in.jsonl");
        for (int i = 0; i < 200; ++i) {
            in << R"({"ts":)" << 1000 * i << R"(,"k":"k)" << i % 17 << "\""
               << (i % 20 == 0 ? R"(,"late":true)" : "") << "}\n";
        }
        in.close();
        JobOptions options;
        options.batch_size = 16;
        auto r = run_yaml("parallelism: 2\nstate: {dir: " + (dir_ / "state").string() +
                              "}\n"
                              "sources:\n  in: {type: file, path: " +
                              (dir_ / "in.jsonl").string() +
                              ", event_time: {field: ts, unit: ms}}\n"
                              "operators:\n  count: {type: tally, input: in, key: k}\n"
                              "sinks:\n  out: {type: collect, input: count}\n",
                          options);
        EXPECT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
        EXPECT_EQ(r.lines("out").size(), 190u);
        return r.job ? render_prometheus(r.job->metrics()) : "";
    }

    fs::path dir_;
};

constexpr const char* kCount = R"(component="count",type="tally",kind="operator")";
constexpr const char* kOut = R"(component="out",type="collect",kind="sink")";
constexpr const char* kIn = R"(component="in",type="file",kind="source")";

TEST_F(MetricsExportTest, ASequentialJobTimesBatchesAndMeasuresLatencyAtTheSink) {
    ManualClock clock(10'000);
    JobOptions options;
    options.clock = &clock;
    options.batch_size = 2;
    options.metrics_file = (dir_ / "m.prom").string();
    auto r = run_yaml(R"(
sources:
  in: {type: memory, records: [{ts: 1000, k: a}, {ts: 2000, k: b}, {ts: 3000, k: a},
                               {ts: 4000, k: c}, {ts: 5000, k: a}]}
operators:
  count: {type: tally, input: in, key: k}
sinks:
  out: {type: collect, input: count}
)",
                      options);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message() << r.diagnostics;
    std::string text = render_prometheus(r.job->metrics());
    auto e = read_exposition(text);
    EXPECT_THAT(e.problems, IsEmpty()) << text;

    // Polls of 2, 2 and 1 records: three batches reach the operator.
    EXPECT_EQ(sample_value(e, "eddy_operator_batch_seconds_count", kCount), 3);
    EXPECT_EQ(sample_value(e, "eddy_operator_batch_records_total", kCount), 5);
    // The clock stands at 10 s: latencies of 9, 8, 7, 6 and 5 s.
    auto e2e = [&](const char* le) {
        return sample_value(e, "eddy_end_to_end_latency_seconds_bucket", kOut, le);
    };
    EXPECT_EQ(e2e("2.5"), 0);
    EXPECT_EQ(e2e("5"), 1);
    EXPECT_EQ(e2e("10"), 5);
    EXPECT_EQ(sample_value(e, "eddy_end_to_end_latency_seconds_sum", kOut), 35);
    // The input ended, so every watermark is at the end of time.
    for (const char* c : {R"(component="in",type="memory",kind="source")", kCount, kOut}) {
        EXPECT_EQ(sample_value(e, "eddy_watermark_lag_seconds", c), 0) << c;
    }
    EXPECT_EQ(sample_value(e, "eddy_state_entries", std::string(kCount) + R"(,state="counts")"), 3);
    EXPECT_GT(sample_value(e, "eddy_state_memory_bytes", std::string(kCount) + R"(,state="counts")")
                  .value_or(0),
              0);
    // Sequential, without a state dir, a source of unknown size.
    EXPECT_EQ(e.families.count("eddy_queue_messages"), 0u);
    EXPECT_EQ(e.families.count("eddy_checkpoints_total"), 0u);
    EXPECT_EQ(e.families.count("eddy_source_remaining"), 0u);

    // --metrics-file's last write is the same text.
    std::ifstream file(options.metrics_file);
    std::stringstream written;
    written << file.rdbuf();
    EXPECT_EQ(written.str(), text);
}

TEST_F(MetricsExportTest, AParallelJobWithAStateDirExportsQueuesStateAndCheckpoints) {
    std::string text = run_parallel_job();
    auto e = read_exposition(text);
    EXPECT_THAT(e.problems, IsEmpty()) << text;
    EXPECT_EQ(sample_value(e, "eddy_operator_batch_records_total", kCount), 200);
    EXPECT_EQ(sample_value(e, "eddy_late_total", kCount), 10);
    EXPECT_EQ(sample_value(e, "eddy_lateness_seconds_bucket", kCount, "0.007"), 10);
    // Two shards' mailboxes for the chain, one for the sink; all drained.
    EXPECT_EQ(sample_value(e, "eddy_queue_capacity", kCount), 64);
    EXPECT_EQ(sample_value(e, "eddy_queue_capacity", kOut), 32);
    EXPECT_EQ(sample_value(e, "eddy_queue_messages", kCount), 0);
    EXPECT_EQ(sample_value(e, "eddy_queue_messages", kOut), 0);
    EXPECT_GE(sample_value(e, "eddy_queue_peak_messages", kCount).value_or(0), 1);
    // 17 keys over both shards, sampled at the last checkpoint.
    EXPECT_EQ(sample_value(e, "eddy_state_entries", std::string(kCount) + R"(,state="counts")"),
              17);
    EXPECT_EQ(sample_value(e, "eddy_source_remaining", std::string(kIn) + R"(,unit="bytes")"), 0);
    // At least the last checkpoint, at the end of the input.
    EXPECT_GE(sample_value(e, "eddy_checkpoints_total", "").value_or(0), 1);
    EXPECT_GE(sample_value(e, "eddy_last_checkpoint_id", "").value_or(0), 1);
    EXPECT_GT(sample_value(e, "eddy_checkpoint_bytes", "").value_or(0), 0);
    EXPECT_EQ(sample_value(e, "eddy_checkpoint_duration_seconds_count", ""),
              sample_value(e, "eddy_checkpoints_total", ""));
    EXPECT_GT(sample_value(e, "eddy_last_checkpoint_timestamp_seconds", "").value_or(0), 0);
}

/// Names of metrics components register themselves (`gauge("kafka_consumer_lag", ...`),
/// as exported: with the `eddy_` prefix.
std::set<std::string> component_metric_names() {
    std::set<std::string> names;
    std::regex registered(R"re((?:gauge|counter)\(\s*"([a-z_]+)")re");
    for (const auto& entry : fs::directory_iterator(fs::path(EDDY_SOURCE_DIR) / "engine/src/io")) {
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        std::string s = text.str();
        for (std::sregex_iterator it(s.begin(), s.end(), registered), end; it != end; ++it) {
            names.insert("eddy_" + (*it)[1].str());
        }
    }
    return names;
}

/// Every `expr` of the dashboard's panels, rows included.
void collect_exprs(simdjson::dom::array panels, std::vector<std::string>& exprs,
                   std::vector<std::string>& problems) {
    for (simdjson::dom::element panel : panels) {
        std::string_view title;
        if (panel["title"].get(title) != simdjson::SUCCESS) {
            title = "(untitled)";
        }
        if (simdjson::dom::array nested; panel["panels"].get(nested) == simdjson::SUCCESS) {
            collect_exprs(nested, exprs, problems);
        }
        std::string_view type;
        if (panel["type"].get(type) != simdjson::SUCCESS || type == "row") {
            continue;
        }
        std::string_view uid;
        if (panel["datasource"]["uid"].get(uid) != simdjson::SUCCESS || uid != "${DS_PROMETHEUS}") {
            problems.push_back(std::string(title) + ": datasource is not ${DS_PROMETHEUS}");
        }
        simdjson::dom::array targets;
        if (panel["targets"].get(targets) != simdjson::SUCCESS || targets.size() == 0) {
            problems.push_back(std::string(title) + ": no targets");
            continue;
        }
        for (simdjson::dom::element t : targets) {
            std::string_view expr;
            if (t["expr"].get(expr) != simdjson::SUCCESS) {
                problems.push_back(std::string(title) + ": a target without expr");
                continue;
            }
            if (expr.find(R"(job=~"$job")") == std::string_view::npos ||
                expr.find(R"(instance=~"$instance")") == std::string_view::npos) {
                problems.push_back(std::string(title) +
                                   ": not filtered by $job and $instance: " + std::string(expr));
            }
            exprs.emplace_back(expr);
        }
    }
}

TEST_F(MetricsExportTest, TheGrafanaDashboardUsesOnlyMetricsTheExporterEmits) {
    auto json =
        simdjson::padded_string::load(std::string(EDDY_SOURCE_DIR) + "/docs/grafana/eddy.json");
    ASSERT_EQ(json.error(), simdjson::SUCCESS) << "docs/grafana/eddy.json cannot be read";
    simdjson::dom::parser parser;
    simdjson::dom::element dashboard;
    ASSERT_EQ(parser.parse(json.value()).get(dashboard), simdjson::SUCCESS)
        << "docs/grafana/eddy.json is not valid JSON";

    int64_t schema = 0;
    ASSERT_EQ(dashboard["schemaVersion"].get(schema), simdjson::SUCCESS);
    EXPECT_GE(schema, 36);
    std::set<std::string> variables;
    simdjson::dom::array templating;
    ASSERT_EQ(dashboard["templating"]["list"].get(templating), simdjson::SUCCESS);
    for (simdjson::dom::element v : templating) {
        std::string_view name;
        std::string_view type;
        if (v["name"].get(name) != simdjson::SUCCESS || v["type"].get(type) != simdjson::SUCCESS) {
            ADD_FAILURE() << "a template variable without name or type";
            continue;
        }
        variables.insert(std::string(name) + ":" + std::string(type));
    }
    EXPECT_TRUE(variables.count("DS_PROMETHEUS:datasource"));
    EXPECT_TRUE(variables.count("job:query"));
    EXPECT_TRUE(variables.count("instance:query"));
    EXPECT_TRUE(variables.count("component:query"));

    std::vector<std::string> exprs;
    std::vector<std::string> problems;
    simdjson::dom::array panels;
    ASSERT_EQ(dashboard["panels"].get(panels), simdjson::SUCCESS);
    collect_exprs(panels, exprs, problems);
    EXPECT_THAT(problems, IsEmpty());
    ASSERT_FALSE(exprs.empty());

    auto e = read_exposition(run_parallel_job());
    ASSERT_THAT(e.problems, IsEmpty());
    std::set<std::string> own = component_metric_names();
    ASSERT_TRUE(own.count("eddy_kafka_consumer_lag")) << "the Kafka source's lag gauge moved";
    std::set<std::string> used;
    std::regex metric(R"(eddy_[a-z_]+)");
    for (const std::string& expr : exprs) {
        for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
            std::string name = it->str();
            for (std::string suffix : {"_bucket", "_sum", "_count"}) {
                if (!name.ends_with(suffix)) {
                    continue;
                }
                std::string base = name.substr(0, name.size() - suffix.size());
                if (auto f = e.families.find(base);
                    f != e.families.end() && f->second == "histogram") {
                    name = base;
                }
            }
            used.insert(name);
            EXPECT_TRUE(e.families.count(name) || own.count(name))
                << name << " (in " << expr << ") is not exported";
        }
    }
    // And the other way: every runtime family has a panel, but for a few
    // that only matter while debugging.
    std::set<std::string> not_shown = {"eddy_last_checkpoint_duration_seconds",
                                       "eddy_watermark_seconds"};
    for (const auto& [family, type] : e.families) {
        if (!used.count(family) && !not_shown.count(family)) {
            ADD_FAILURE() << family << " is exported but on no panel of the dashboard";
        }
    }
}

}  // namespace
}  // namespace eddy
