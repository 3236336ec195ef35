package docker

import (
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/testkit/metricstest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue reads a gauge or counter.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Counter != nil:
		return d.Counter.GetValue()
	}
	t.Fatalf("metric %s is neither gauge nor counter", m.Desc())
	return 0
}

func TestMetricNamesPassPromlint(t *testing.T) {
	// Touch the vectors so that they have a child to lint.
	metricsFor("lint").events.WithLabelValues("start")
	metricsFor("lint").resyncs.WithLabelValues("startup")
	skippedLabelsTotal.WithLabelValues("lint")
	metricsFor("lint").setInfo(KindPodman, "4.3.1", true)
	metricstest.Lint(t, engineInfo, skippedLabelsTotal, containersServed, namesServed, eventsTotal, resyncsTotal, reconnectsTotal, dockerUp, eventLag, nameConflictsTotal, skippedNamesTotal, programmingDuration, containerReadiness)
}
