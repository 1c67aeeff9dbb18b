// SPDX-License-Identifier: Apache-2.0
// The Prometheus text of a job's metrics: families once each, label values
// escaped, components' own metrics with their labels, retired gauges hidden
// until asked for again.
#include "metrics/metrics.h"

#include <limits>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace eddy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

}  // namespace
}  // namespace eddy
