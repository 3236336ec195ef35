package dockerhosts

import (
	"context"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// outcome of a query, the label of queries.
type outcome int

const (
	outcomeAnswer outcome = iota
	outcomeNODATA
	outcomeNXDOMAIN
	outcomeFallthrough
	outcomeRefused
	outcomes
)

var outcomeNames = [outcomes]string{"answer", "nodata", "nxdomain", "fallthrough", "refused"}

var (
	queries = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "queries_total",
		Help:      "Queries handled, by outcome: answer, nodata, nxdomain, fallthrough, refused.",
	}, []string{"server", "outcome"})

	withheldNODATA = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "withheld_nodata_total",
		Help:      "Queries answered NODATA at a service name because none of its containers is ready.",
	}, []string{"server"})

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

	brokenChains = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "broken_chains_total",
		Help:      "Changes that left a name's CNAME chain looping or longer than 8; such names are not served.",
	})

	lastUpdate = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "last_update_timestamp_seconds",
		Help:      "When a source last changed the index, in Unix seconds.",
	}, []string{"source"})
)

// queryCounters are the counters of one server, looked up once: looking a
// labelled counter up allocates, and every query counts.
type queryCounters struct {
	server   string
	counter  [outcomes]prometheus.Counter
	withheld prometheus.Counter
}

func (d *DockerHosts) count(ctx context.Context, o outcome) { d.countersFor(ctx).counter[o].Inc() }

// countWithheld counts a NODATA at a name whose containers are none ready.
func (d *DockerHosts) countWithheld(ctx context.Context) { d.countersFor(ctx).withheld.Inc() }

func (d *DockerHosts) countersFor(ctx context.Context) *queryCounters {
	server := metrics.WithServer(ctx)
	c := d.counters.Load()
	if c == nil || c.server != server {
		c = &queryCounters{server: server, withheld: withheldNODATA.WithLabelValues(server)}
		for i := range c.counter {
			c.counter[i] = queries.WithLabelValues(server, outcomeNames[i])
		}
		d.counters.Store(c)
	}
	return c
}
