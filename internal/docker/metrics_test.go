package docker

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
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
	reg := prometheus.NewPedanticRegistry()
	for _, c := range []prometheus.Collector{containersServed, namesServed, eventsTotal, resyncsTotal,
		reconnectsTotal, dockerUp, eventLag, nameConflictsTotal, skippedNamesTotal} {
		reg.MustRegister(c)
	}
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}
