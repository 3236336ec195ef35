package hostsfile

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestMetricNamesPassPromlint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(skippedLines, readFailures, droppedNames)
	droppedNames.WithLabelValues("lint", "max_line_size")
	skippedLines.WithLabelValues("lint")
	readFailures.WithLabelValues("lint")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
