// Package metricstest checks the plugin's metrics the way CoreDNS lints its
// own (test/metric_naming_test.go): promlint on a pedantic registry, and
// every name under coredns_dockerhosts_.
package metricstest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// Lint fails t for every promlint problem of collectors and every metric
// not named coredns_dockerhosts_*. Vectors need a child to be linted: touch
// them first.
func Lint(t testing.TB, collectors ...prometheus.Collector) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range collectors {
		reg.MustRegister(c)
	}
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
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "coredns_dockerhosts_") {
			t.Errorf("metric %s is not under coredns_dockerhosts_", f.GetName())
		}
	}
}
