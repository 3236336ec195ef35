package hostsfile

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Labelled by source ("hostsfile:<path>"), like the plugin's per-source
// metrics, so one file's figures can be read next to its entries.
var (
	skippedLines = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "dockerhosts",
		Name:      "skipped_lines",
		Help:      "Invalid lines or names skipped in the hosts file as last read.",
	}, []string{"source"})

	droppedNames = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "dockerhosts",
		Name:      "dropped_names",
		Help:      "Names not served because the hosts file as last read exceeds a limit (max_line_size, max_file_size).",
	}, []string{"source", "limit"})

	readFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "dockerhosts",
		Name:      "read_failures_total",
		Help:      "Hosts-file reads that failed; the last good records were kept.",
	}, []string{"source"})
)
