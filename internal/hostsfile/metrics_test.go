package hostsfile

import (
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/testkit/metricstest"
)

func TestMetricNamesPassPromlint(t *testing.T) {
	droppedNames.WithLabelValues("lint", "max_line_size")
	skippedLines.WithLabelValues("lint")
	readFailures.WithLabelValues("lint")
	metricstest.Lint(t, skippedLines, readFailures, droppedNames)
}
