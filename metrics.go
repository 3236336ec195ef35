package dockerhosts

import (
	"context"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of a query, the label of queries.
const (
	outcomeAnswer      = "answer"
	outcomeNODATA      = "nodata"
	outcomeNXDOMAIN    = "nxdomain"
	outcomeFallthrough = "fallthrough"
	outcomeRefused     = "refused"
)

var (
	queries = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "queries_total",
		Help:      "Queries handled, by outcome: answer, nodata, nxdomain, fallthrough, refused.",
	}, []string{"server", "outcome"})

	entries = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "entries",
		Help:      "Hosts (hosts-file lines or containers) served, by source.",
	}, []string{"source"})

	updates = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "updates_total",
		Help:      "Changes applied to the index, by source.",
	}, []string{"source"})

	lastUpdate = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "last_update_timestamp_seconds",
		Help:      "When a source last changed the index, in Unix seconds.",
	}, []string{"source"})

	skippedLines = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "skipped_lines",
		Help:      "Invalid lines or names skipped in the hosts file as last read.",
	}, []string{"source"})

	readFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "read_failures_total",
		Help:      "Hosts-file reads that failed; the last good records were kept.",
	}, []string{"source"})
)

// queryCounters caches the counters of each (server, outcome) pair: looking a
// labelled counter up allocates, and every query counts.
var queryCounters sync.Map // queryKey -> prometheus.Counter

type queryKey struct{ server, outcome string }

func countQuery(ctx context.Context, outcome string) {
	k := queryKey{metrics.WithServer(ctx), outcome}
	c, ok := queryCounters.Load(k)
	if !ok {
		c, _ = queryCounters.LoadOrStore(k, queries.WithLabelValues(k.server, k.outcome))
	}
	c.(prometheus.Counter).Inc()
}
