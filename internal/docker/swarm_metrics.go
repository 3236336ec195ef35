package docker

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Swarm metrics carry the engine's name, so that two swarms (or the old and
// new instance during a reload) do not overwrite each other's series.
var (
	swarmServices = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_services",
		Help:      "Number of swarm services served, by engine.",
	}, []string{"engine"})
	swarmTasks = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_tasks",
		Help:      "Number of running swarm tasks served, by engine.",
	}, []string{"engine"})
	swarmNodes = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_nodes",
		Help:      "Number of swarm nodes served, by engine.",
	}, []string{"engine"})
	swarmUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_up",
		Help:      "1 while the engine's swarm is followed through a manager, else 0, by engine.",
	}, []string{"engine"})
	swarmPollsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_polls_total",
		Help:      "Counter of polls of a swarm manager, by engine and scope (status: service task counts; service: one service's tasks; all: every task).",
	}, []string{"engine", "scope"})
	swarmResyncsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_resyncs_total",
		Help:      "Counter of full swarm resynchronisations, by engine and reason (startup, reconnect, periodic).",
	}, []string{"engine", "reason"})
	swarmEventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_events_total",
		Help:      "Counter of swarm-related Docker events received, by engine and type (service, node, container).",
	}, []string{"engine", "type"})
	swarmTaskLag = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_task_lag_seconds",
		Help:      "Time from the manager recording a task as running to the index serving it, by engine.",
		Buckets:   prometheus.ExponentialBuckets(0.005, 2, 12), // 5ms .. 10s
	}, []string{"engine"})
	swarmSkippedNamesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "swarm_skipped_names_total",
		Help:      "Counter of swarm service, node and alias names not served because they are not valid DNS names, by engine.",
	}, []string{"engine"})
)

// swarmMetrics are the series of one engine, resolved once.
type swarmMetrics struct {
	services, tasks, nodes, up prometheus.Gauge
	pollsAll, pollsService     prometheus.Counter
	pollsStatus                prometheus.Counter
	skippedNames               prometheus.Counter
	taskLag, programmed        prometheus.Observer
	engine                     string
}

func newSwarmMetrics(engine string) swarmMetrics {
	return swarmMetrics{
		services:     swarmServices.WithLabelValues(engine),
		tasks:        swarmTasks.WithLabelValues(engine),
		nodes:        swarmNodes.WithLabelValues(engine),
		up:           swarmUp.WithLabelValues(engine),
		pollsAll:     swarmPollsTotal.WithLabelValues(engine, "all"),
		pollsService: swarmPollsTotal.WithLabelValues(engine, "service"),
		pollsStatus:  swarmPollsTotal.WithLabelValues(engine, "status"),
		skippedNames: swarmSkippedNamesTotal.WithLabelValues(engine),
		taskLag:      swarmTaskLag.WithLabelValues(engine),
		programmed:   programmingDuration.WithLabelValues(engine, "swarm_task"),
		engine:       engine,
	}
}

func (m swarmMetrics) resync(reason string) {
	swarmResyncsTotal.WithLabelValues(m.engine, reason).Inc()
}
func (m swarmMetrics) event(typ string) { swarmEventsTotal.WithLabelValues(m.engine, typ).Inc() }

// gaugeKey is the set of gauges s writes: as for Source.gaugeKey.
func (s *SwarmSource) gaugeKey() any { return s.metrics.up }

func (s *SwarmSource) ownGauges() { ownGauges(s.gaugeKey(), s) }

// releaseGauges zeroes swarm_up unless a newer source owns the gauges.
func (s *SwarmSource) releaseGauges() { releaseGauges(s.gaugeKey(), s, func() { s.metrics.up.Set(0) }) }

// setGauges runs set only while s owns its engine's swarm gauges.
func (s *SwarmSource) setGauges(set func(m swarmMetrics)) {
	withGauges(s.gaugeKey(), s, func() { set(s.metrics) })
}
