// SPDX-License-Identifier: Apache-2.0
// The Prometheus text of a job's metrics: families once each, label values
// escaped, components' own metrics with their labels, retired gauges hidden
// until asked for again.
#include "metrics/metrics.h"

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
}

}  // namespace
}  // namespace eddy
