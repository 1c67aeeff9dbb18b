// SPDX-License-Identifier: Apache-2.0
// The Prometheus text of a job's metrics: families once each, label values
// escaped, components' own metrics with their labels, retired gauges hidden
// until asked for again; histograms, watermark lag, state, queue, source and
// checkpoint figures; and a strict format check of all of it.
#include "metrics/metrics.h"

#include <limits>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exposition_check.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::read_exposition;
using testing::sample_value;

constexpr const char* kOp = R"(component="op",type="filter",kind="operator")";
constexpr const char* kSink = R"(component="out",type="file",kind="sink")";
constexpr const char* kSource = R"(component="in",type="file",kind="source")";

/// A job's metrics with every family filled in.
void fill(JobMetrics& m) {
    ComponentMetrics& in = m.add("in", "file", ComponentKind::kSource);
    in.add_out(10);
    in.set_watermark(0, 9'000);
    in.source_remaining.store(1234);
    ComponentMetrics& op = m.add("op", "filter", ComponentKind::kOperator);
    op.set_shards(2);
    op.queue_capacity = 64;
    op.shard(0).queued.store(3);
    op.shard(1).queued.store(-1);  // a sender has not counted its message yet
    op.queue_peak.store(17);
    op.add_in(10);
    op.observe_batch(5'000, 4);           // 5 µs
    op.observe_batch(20'000, 4);          // 20 µs
    op.observe_batch(3'000'000'000, 2);   // 3 s
    op.observe_batch(20'000'000'000, 0);  // 20 s: only in +Inf
    op.set_watermark(0, 10'000);
    op.set_watermark(1, 7'000);
    op.add_late(0);
    op.add_late(5);
    op.add_late(1000);
    op.set_state_names({"counts", "model"});
    op.set_state_size(0, 0, 5, 500);
    op.set_state_size(0, 1, 7, 700);
    op.set_state_size(1, 0, 1, 64);
    op.states_sampled.store(true);
    ComponentMetrics& out = m.add("out", "file", ComponentKind::kSink);
    Batch batch;
    for (int64_t t : {12'000, 11'999, 10'000, 2'500, 20'000}) {
        batch.append().set_time(t);
    }
    out.observe_end_to_end(batch, 12'000);  // 0, 1, 2000, 9500 ms and one ahead (0)
    m.checkpoints().enabled.store(true);
    m.checkpoints().record(7, 4096, 11'500, 1'500);  // 1.5 ms
    m.checkpoints().record(8, 2048, 12'000, 40'000);
}

TEST(MetricsTest, ComponentMetricsAreExportedWithTheirLabelsAndEscapedValues) {
    JobMetrics m;
    m.add("clicks", "kafka", ComponentKind::kSource).add_out(42);
    Gauge lag(m.component_metric("clicks", "kafka_consumer_lag", "Messages behind the end.",
                                 MetricKind::kGauge, {{"topic", "we\"ird\\"}, {"partition", "0"}}));
    Gauge other(m.component_metric("clicks", "kafka_consumer_lag", "Messages behind the end.",
                                   MetricKind::kGauge, {{"topic", "b"}, {"partition", "1"}}));
    lag.set(7);
    other.set(3);
    Counter rebalances(m.component_metric("clicks", "kafka_rebalances_total", "Rebalances.",
                                          MetricKind::kCounter, {}));
    rebalances.add();
    rebalances.add(2);

    std::string text = render_prometheus(m);
    EXPECT_THAT(text,
                HasSubstr("# HELP eddy_kafka_consumer_lag Messages behind the end.\n"
                          "# TYPE eddy_kafka_consumer_lag gauge\n"
                          "eddy_kafka_consumer_lag{component=\"clicks\",topic=\"we\\\"ird\\\\\","
                          "partition=\"0\"} 7\n"
                          "eddy_kafka_consumer_lag{component=\"clicks\",topic=\"b\","
                          "partition=\"1\"} 3\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE eddy_kafka_rebalances_total counter\n"
                                "eddy_kafka_rebalances_total{component=\"clicks\"} 3\n"));
    EXPECT_THAT(text, HasSubstr("eddy_records_out_total{component=\"clicks\",type=\"kafka\","
                                "kind=\"source\"} 42\n"));
}

TEST(MetricsTest, TheSameNameAndLabelsGiveTheSameCell) {
    JobMetrics m;
    MetricCell* a = m.component_metric("op", "x_total", "X.", MetricKind::kCounter, {});
    MetricCell* b = m.component_metric("op", "x_total", "X.", MetricKind::kCounter, {});
    MetricCell* c = m.component_metric("other", "x_total", "X.", MetricKind::kCounter, {});
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    Counter(a).add(2);
    Counter(b).add(3);
    EXPECT_EQ(Counter(a).value(), 5);
}

TEST(MetricsTest, ARetiredGaugeIsHiddenUntilAskedForAgain) {
    JobMetrics m;
    auto ask = [&] {
        return Gauge(m.component_metric("in", "kafka_consumer_lag", "Lag.", MetricKind::kGauge,
                                        {{"partition", "3"}}));
    };
    Gauge lag = ask();
    lag.set(9);
    lag.retire();
    EXPECT_THAT(render_prometheus(m), Not(HasSubstr("eddy_kafka_consumer_lag")));
    ask().set(4);
    EXPECT_THAT(render_prometheus(m),
                HasSubstr("eddy_kafka_consumer_lag{component=\"in\",partition=\"3\"} 4\n"));
}

TEST(MetricsTest, AHandleWithoutACellCountsNowhere) {
    Counter c;
    Gauge g;
    c.add(5);
    g.set(5);
    g.retire();
    EXPECT_EQ(c.value(), 0);
    EXPECT_EQ(g.value(), 0);
    EvaluationMetric e;
    e.set(0.5, 10);
    EXPECT_EQ(e.value(), 0);
    EXPECT_EQ(e.scored(), 0);
}

TEST(MetricsTest, EvaluationFiguresAreSharedByShardsAndKeepTheirFraction) {
    JobMetrics m;
    EvaluationMetric shard0(m.component_evaluation("recs", "mae", 0));
    EvaluationMetric shard1(m.component_evaluation("recs", "mae", 0));
    EvaluationMetric other(m.component_evaluation("recs", "hit_rate", 10));
    shard0.set(0.25, 3);
    shard1.set(0.7431, 943);  // the last set wins, whichever shard set it
    EXPECT_EQ(shard0.value(), 0.7431);
    EXPECT_EQ(shard0.scored(), 943);
    EXPECT_EQ(other.scored(), 0);
    int n = 0;
    m.for_each_evaluation([&](const ComponentEvaluation& e) {
        EXPECT_EQ(e.component, "recs");
        ++n;
    });
    EXPECT_EQ(n, 2);
}

TEST(MetricsTest, EvaluationLabelsNameTheCutoff) {
    EXPECT_EQ(evaluation_label("mae", 0), "MAE");
    EXPECT_EQ(evaluation_label("rmse", 0), "RMSE");
    EXPECT_EQ(evaluation_label("hit_rate", 10), "HR@10");
    EXPECT_EQ(evaluation_label("ndcg", 5), "NDCG@5");
    EXPECT_EQ(evaluation_label("coverage", 0), "coverage");
    EXPECT_EQ(evaluation_label("recall", 20), "recall@20");
}

TEST(MetricsTest, EvaluationFiguresAreExportedAsDoublesWithTheirCutoff) {
    JobMetrics m;
    EvaluationMetric(m.component_evaluation("recs", "rmse", 0)).set(0.9412, 943);
    EvaluationMetric(m.component_evaluation("pop", "ndcg", 10)).set(0.0412, 60);
    EvaluationMetric(m.component_evaluation("odd", "x", 0))
        .set(std::numeric_limits<double>::quiet_NaN(), 0);
    std::string text = render_prometheus(m);
    EXPECT_THAT(text, HasSubstr("# TYPE eddy_evaluation gauge\n"
                                "eddy_evaluation{component=\"recs\",metric=\"rmse\"} 0.9412\n"
                                "eddy_evaluation{component=\"pop\",metric=\"ndcg\",top_n=\"10\"} "
                                "0.0412\n"
                                "eddy_evaluation{component=\"odd\",metric=\"x\"} NaN\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE eddy_evaluation_scored_events gauge\n"
                                "eddy_evaluation_scored_events{component=\"recs\",metric=\"rmse\"} "
                                "943\n"));
}

TEST(MetricsTest, TheSummaryShowsAnEvaluationSectionOnlyWhenSomethingIsEvaluated) {
    JobMetrics m;
    m.add("ratings", "file", ComponentKind::kSource).add_out(1000);
    m.add("recs", "mf", ComponentKind::kOperator).add_in(1000);
    EXPECT_THAT(format_summary(m, 1.0, "input drained"), Not(HasSubstr("evaluation")));
    EXPECT_EQ(format_evaluation(m), "");

    EvaluationMetric(m.component_evaluation("recs", "mae", 0)).set(0.74312, 999);
    EvaluationMetric(m.component_evaluation("recs", "rmse", 0)).set(0.94118, 999);
    EvaluationMetric(m.component_evaluation("popularity_model", "hit_rate", 10));  // none scored
    std::string summary = format_summary(m, 1.0, "input drained");
    EXPECT_THAT(summary, HasSubstr("  evaluation (prequential: every event predicted, scored, then "
                                   "learned)\n"
                                   "    component        metric      value       scored\n"
                                   "    recs             MAE        0.7431          999\n"
                                   "    recs             RMSE       0.9412          999\n"
                                   "    popularity_model HR@10           -            0\n"));
    // The evaluation table comes after the component table.
    EXPECT_LT(summary.find("events read"), summary.find("evaluation ("));
}

TEST(MetricsTest, EveryFamilyIsValidExpositionFormat) {
    JobMetrics m;
    fill(m);
    Counter(m.component_metric("in", "kafka_consumer_lag", "Lag.", MetricKind::kGauge,
                               {{"partition", "0"}}))
        .add(3);
    EvaluationMetric(m.component_evaluation("op", "mae", 0)).set(0.5, 10);
    std::string text = render_prometheus(m, 12'500);
    auto e = read_exposition(text);
    EXPECT_THAT(e.problems, IsEmpty()) << text;
    for (const char* family : {"eddy_records_in_total",
                               "eddy_operator_batch_seconds",
                               "eddy_operator_batch_records_total",
                               "eddy_end_to_end_latency_seconds",
                               "eddy_watermark_seconds",
                               "eddy_watermark_lag_seconds",
                               "eddy_state_entries",
                               "eddy_state_memory_bytes",
                               "eddy_queue_messages",
                               "eddy_queue_capacity",
                               "eddy_queue_peak_messages",
                               "eddy_source_remaining",
                               "eddy_lateness_seconds",
                               "eddy_checkpoints_total",
                               "eddy_checkpoint_duration_seconds",
                               "eddy_last_checkpoint_duration_seconds",
                               "eddy_checkpoint_bytes",
                               "eddy_last_checkpoint_id",
                               "eddy_last_checkpoint_timestamp_seconds",
                               "eddy_kafka_consumer_lag",
                               "eddy_evaluation"}) {
        EXPECT_EQ(e.families.count(family), 1u) << family;
    }
    EXPECT_EQ(e.families["eddy_operator_batch_seconds"], "histogram");
    EXPECT_EQ(e.families["eddy_watermark_lag_seconds"], "gauge");
}

TEST(MetricsTest, TheFormatCheckFindsBrokenTexts) {
    auto problems = [](const std::string& text) { return read_exposition(text).problems.size(); };
    EXPECT_EQ(problems("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"), 0u);
    EXPECT_GT(problems("a_total 2\n"), 0u);                                // undeclared
    EXPECT_GT(problems("# HELP a A.\n# TYPE a counter\na 2\n"), 0u);       // no _total
    EXPECT_GT(problems("# HELP a A.\n# TYPE a gauge\nb 2\n"), 0u);         // other family
    EXPECT_GT(problems("# HELP a A.\n# TYPE a gauge\na{x=\"1} 2\n"), 0u);  // bad label
    EXPECT_GT(problems("# HELP a A.\n# TYPE a gauge\na 2\na 3\n"), 0u);    // twice
    EXPECT_GT(problems("# HELP a A.\n# TYPE a gauge\na two\n"), 0u);       // bad value
    EXPECT_GT(problems("# HELP a A.\n# TYPE a gauge\n"), 0u);              // no samples
    const std::string h = "# HELP h H.\n# TYPE h histogram\n";
    EXPECT_EQ(problems(h + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"),
              0u);
    EXPECT_GT(problems(h + "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"),
              0u);                                                                 // not cumulative
    EXPECT_GT(problems(h + "h_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n"), 0u);     // no +Inf
    EXPECT_GT(problems(h + "h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 3\n"), 0u);  // count
    EXPECT_GT(problems(h + "h_bucket{le=\"+Inf\"} 2\nh_count 2\n"), 0u);           // no sum
    EXPECT_GT(problems(h + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
                           "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"),
              0u);  // le not increasing
}

TEST(MetricsTest, OperatorBatchTimeIsAHistogramInSecondsWithRecordsPerBatch) {
    JobMetrics m;
    fill(m);
    auto e = read_exposition(render_prometheus(m, 12'500));
    auto bucket = [&](const char* le) {
        return sample_value(e, "eddy_operator_batch_seconds_bucket", kOp, le);
    };
    EXPECT_EQ(bucket("0.00001"), 1);
    EXPECT_EQ(bucket("0.000025"), 2);
    EXPECT_EQ(bucket("2.5"), 2);
    EXPECT_EQ(bucket("5"), 3);
    EXPECT_EQ(bucket("10"), 3);
    EXPECT_EQ(bucket("+Inf"), 4);
    EXPECT_EQ(sample_value(e, "eddy_operator_batch_seconds_count", kOp), 4);
    EXPECT_DOUBLE_EQ(sample_value(e, "eddy_operator_batch_seconds_sum", kOp).value_or(-1),
                     23.000025);
    EXPECT_EQ(sample_value(e, "eddy_operator_batch_records_total", kOp), 10);
    size_t buckets = 0;
    for (const auto& s : e.samples) {
        buckets += s.name == "eddy_operator_batch_seconds_bucket" ? 1 : 0;
    }
    EXPECT_EQ(buckets, kBatchTimeBoundsNs.size() + 1);
    // Only operators time batches; only sinks measure end-to-end latency.
    EXPECT_FALSE(sample_value(e, "eddy_operator_batch_seconds_count", kSink));
    EXPECT_FALSE(sample_value(e, "eddy_end_to_end_latency_seconds_count", kOp));
}

TEST(MetricsTest, EndToEndLatencyCountsEveryRecordOfASinksBatch) {
    JobMetrics m;
    fill(m);
    auto e = read_exposition(render_prometheus(m, 12'500));
    auto bucket = [&](const char* le) {
        return sample_value(e, "eddy_end_to_end_latency_seconds_bucket", kSink, le);
    };
    EXPECT_EQ(bucket("0.001"), 3);  // 0 ms, 1 ms, and 0 for the one ahead of the clock
    EXPECT_EQ(bucket("1"), 3);
    EXPECT_EQ(bucket("2.5"), 4);  // 2 s
    EXPECT_EQ(bucket("10"), 5);   // 9.5 s
    EXPECT_EQ(bucket("+Inf"), 5);
    EXPECT_DOUBLE_EQ(sample_value(e, "eddy_end_to_end_latency_seconds_sum", kSink).value_or(-1),
                     11.501);
}

TEST(MetricsTest, WatermarkLagIsNowMinusTheSlowestShardsWatermark) {
    JobMetrics m;
    fill(m);
    auto e = read_exposition(render_prometheus(m, 12'500));
    EXPECT_EQ(sample_value(e, "eddy_watermark_seconds", kOp), 7);
    EXPECT_EQ(sample_value(e, "eddy_watermark_lag_seconds", kOp), 5.5);
    EXPECT_EQ(sample_value(e, "eddy_watermark_lag_seconds", kSource), 3.5);
    EXPECT_FALSE(sample_value(e, "eddy_watermark_lag_seconds", kSink));  // none yet

    // The input ended: no lag left.
    JobMetrics ended;
    ended.add("op", "filter", ComponentKind::kOperator).set_watermark(0, kEndOfTime);
    auto f = read_exposition(render_prometheus(ended, 12'500));
    EXPECT_THAT(f.problems, IsEmpty());
    EXPECT_EQ(sample_value(f, "eddy_watermark_lag_seconds", kOp), 0);
    EXPECT_EQ(sample_value(f, "eddy_watermark_seconds", kOp),
              std::numeric_limits<double>::infinity());
}

TEST(MetricsTest, TheOneArgumentRenderUsesTheJobsClock) {
    JobMetrics m;
    ManualClock clock(20'000);
    m.set_clock(clock);
    m.add("op", "filter", ComponentKind::kOperator).set_watermark(0, 15'000);
    EXPECT_THAT(render_prometheus(m),
                HasSubstr("eddy_watermark_lag_seconds{" + std::string(kOp) + "} 5\n"));
    clock.advance(1'500);
    EXPECT_THAT(render_prometheus(m),
                HasSubstr("eddy_watermark_lag_seconds{" + std::string(kOp) + "} 6.5\n"));
}

TEST(MetricsTest, StateQueueAndSourceGaugesAreSummedOverShards) {
    JobMetrics m;
    fill(m);
    auto e = read_exposition(render_prometheus(m, 12'500));
    std::string counts = std::string(kOp) + R"(,state="counts")";
    std::string model = std::string(kOp) + R"(,state="model")";
    EXPECT_EQ(sample_value(e, "eddy_state_entries", counts), 12);
    EXPECT_EQ(sample_value(e, "eddy_state_memory_bytes", counts), 1200);
    EXPECT_EQ(sample_value(e, "eddy_state_entries", model), 1);
    EXPECT_EQ(sample_value(e, "eddy_queue_messages", kOp), 3);  // -1 counts as 0
    EXPECT_EQ(sample_value(e, "eddy_queue_capacity", kOp), 64);
    EXPECT_EQ(sample_value(e, "eddy_queue_peak_messages", kOp), 17);
    EXPECT_FALSE(sample_value(e, "eddy_queue_messages", kSink));  // no mailbox
    EXPECT_EQ(sample_value(e, "eddy_source_remaining", std::string(kSource) + R"(,unit="bytes")"),
              1234);
    EXPECT_FALSE(sample_value(e, "eddy_source_remaining", std::string(kOp) + R"(,unit="bytes")"));

    // State not sampled yet: not exported rather than shown as empty.
    JobMetrics fresh;
    fresh.add("op", "filter", ComponentKind::kOperator).set_state_names({"counts"});
    EXPECT_THAT(render_prometheus(fresh, 0), Not(HasSubstr("eddy_state_entries")));
}

TEST(MetricsTest, LatenessIsAHistogramWithExactMillisecondBounds) {
    JobMetrics m;
    fill(m);
    auto e = read_exposition(render_prometheus(m, 12'500));
    auto bucket = [&](const char* le) {
        return sample_value(e, "eddy_lateness_seconds_bucket", kOp, le);
    };
    EXPECT_EQ(bucket("0"), 1);
    EXPECT_EQ(bucket("0.007"), 2);  // 5 ms is in [4, 7]
    EXPECT_EQ(bucket("0.511"), 2);
    EXPECT_EQ(bucket("1.023"), 3);  // 1000 ms
    EXPECT_EQ(bucket("+Inf"), 3);
    EXPECT_DOUBLE_EQ(sample_value(e, "eddy_lateness_seconds_sum", kOp).value_or(-1), 1.005);
    // Components without late records have no lateness series.
    EXPECT_FALSE(sample_value(e, "eddy_lateness_seconds_count", kSink));
}

TEST(MetricsTest, CheckpointFiguresAreJobLevelAndOnlyWithAStateDir) {
    JobMetrics m;
    fill(m);
    std::string text = render_prometheus(m, 12'500);
    EXPECT_THAT(text,
                HasSubstr("# TYPE eddy_checkpoints_total counter\neddy_checkpoints_total 2\n"));
    auto e = read_exposition(text);
    EXPECT_EQ(sample_value(e, "eddy_last_checkpoint_id", ""), 8);
    EXPECT_EQ(sample_value(e, "eddy_checkpoint_bytes", ""), 2048);
    EXPECT_EQ(sample_value(e, "eddy_last_checkpoint_timestamp_seconds", ""), 12);
    EXPECT_EQ(sample_value(e, "eddy_last_checkpoint_duration_seconds", ""), 0.04);
    EXPECT_EQ(sample_value(e, "eddy_checkpoint_duration_seconds_bucket", "", "0.001"), 0);
    EXPECT_EQ(sample_value(e, "eddy_checkpoint_duration_seconds_bucket", "", "0.0025"), 1);
    EXPECT_EQ(sample_value(e, "eddy_checkpoint_duration_seconds_bucket", "", "0.05"), 2);
    EXPECT_EQ(sample_value(e, "eddy_checkpoint_duration_seconds_count", ""), 2);

    JobMetrics none;
    none.add("in", "file", ComponentKind::kSource);
    EXPECT_THAT(render_prometheus(none, 0), Not(HasSubstr("checkpoint")));
    // With a state dir but before the first checkpoint: the count and the
    // (empty) histogram, and no "last" figures yet.
    none.checkpoints().enabled.store(true);
    auto f = read_exposition(render_prometheus(none, 0));
    EXPECT_THAT(f.problems, IsEmpty());
    EXPECT_EQ(sample_value(f, "eddy_checkpoints_total", ""), 0);
    EXPECT_FALSE(sample_value(f, "eddy_checkpoint_bytes", ""));
    EXPECT_FALSE(sample_value(f, "eddy_last_checkpoint_id", ""));
}

TEST(MetricsTest, HistogramBucketsAreInclusiveUpperBounds) {
    Histogram h(kEndToEndBoundsMs, 1e3);
    EXPECT_EQ(h.bucket_of(-5), 0u);
    EXPECT_EQ(h.bucket_of(1), 0u);
    EXPECT_EQ(h.bucket_of(2), 1u);
    EXPECT_EQ(h.bucket_of(3'600'000), kEndToEndBoundsMs.size() - 1);
    EXPECT_EQ(h.bucket_of(3'600'001), kEndToEndBoundsMs.size());
    h.observe(1);
    h.observe(3'600'001);
    EXPECT_EQ(h.count(), 2u);
    EXPECT_EQ(h.sum(), 3'600'002);
}

}  // namespace
}  // namespace eddy
