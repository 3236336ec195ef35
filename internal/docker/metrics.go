package docker

import (
	"strconv"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const subsystem = "dockerhosts"

// Every Docker metric carries the engine's name, so that two engines never
// write the same series. The source runs outside any request: no "server".
var (
	containersServed = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "containers",
		Help:      "Number of Docker containers served, by engine.",
	}, []string{"engine"})
	namesServed = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "container_names",
		Help:      "Number of distinct names served for Docker containers, by engine.",
	}, []string{"engine"})
	eventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "events_total",
		Help:      "Counter of Docker events received, by engine and action.",
	}, []string{"engine", "action"})
	resyncsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "resyncs_total",
		Help:      "Counter of full resynchronisations with Docker, by engine and reason (startup, reconnect, periodic).",
	}, []string{"engine", "reason"})
	reconnectsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "reconnects_total",
		Help:      "Counter of successful reconnections to Docker after the event stream was lost, by engine.",
	}, []string{"engine"})
	dockerUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "docker_up",
		Help:      "1 while the engine's event stream is connected and synced, else 0.",
	}, []string{"engine"})
	eventLag = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "event_lag_seconds",
		Help:      "Time from a Docker event to its records reaching the index, by engine.",
		Buckets:   prometheus.ExponentialBuckets(0.00025, 2, 16), // 250µs .. 8s
	}, []string{"engine"})
	nameConflictsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "name_conflicts_total",
		Help:      "Counter of names that became claimed as their own by more than one container, by engine.",
	}, []string{"engine"})
	skippedNamesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "skipped_names_total",
		Help:      "Counter of container names not served because they are not valid DNS names, by engine.",
	}, []string{"engine"})
	engineInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "engine_info",
		Help:      "1 for the product (docker, podman, unknown), version and rootlessness (true, false) an engine reported at its last connection, by engine.",
	}, []string{"engine", "kind", "version", "rootless"})
	// programmingDuration is the counterpart of the kubernetes plugin's
	// dns_programming_duration_seconds: the promise an operator watches.
	programmingDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "programming_duration_seconds",
		Help:      "Time from an engine's event (its own timestamp) to the snapshot that serves it, by engine and kind (container, swarm_task).",
		Buckets:   prometheus.ExponentialBuckets(0.00025, 2, 16), // 250µs .. 8s
	}, []string{"engine", "kind"})
	containerReadiness = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "container_readiness",
		Help:      "Number of Docker containers served, by engine and readiness (ready, starting, unhealthy, stopping, paused).",
	}, []string{"engine", "state"})
	skippedLabelsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "skipped_labels_total",
		Help:      "Counter of container label values not used because they are malformed, by engine.",
	}, []string{"engine"})
)

// engineMetrics are one engine's series, looked up once.
type engineMetrics struct {
	containers, names, up          prometheus.Gauge
	events, resyncs                *prometheus.CounterVec
	reconnects, conflicts, skipped prometheus.Counter
	skippedLabels                  prometheus.Counter
	lag, programmed                prometheus.Observer
	readiness                      [readinessStates]prometheus.Gauge
	engine                         string
}

// setInfo makes kind, version and rootless the engine's only engine_info
// series.
func (m engineMetrics) setInfo(kind EngineKind, version string, rootless bool) {
	engineInfo.DeletePartialMatch(prometheus.Labels{"engine": m.engine})
	engineInfo.WithLabelValues(m.engine, string(kind), version, strconv.FormatBool(rootless)).Set(1)
}

func metricsFor(engine string) engineMetrics {
	l := prometheus.Labels{"engine": engine}
	m := engineMetrics{
		containers:    containersServed.With(l),
		names:         namesServed.With(l),
		up:            dockerUp.With(l),
		events:        eventsTotal.MustCurryWith(l),
		resyncs:       resyncsTotal.MustCurryWith(l),
		reconnects:    reconnectsTotal.With(l),
		conflicts:     nameConflictsTotal.With(l),
		skipped:       skippedNamesTotal.With(l),
		skippedLabels: skippedLabelsTotal.With(l),
		lag:           eventLag.With(l),
		engine:        engine,
		programmed:    programmingDuration.WithLabelValues(engine, "container"),
	}
	for i := range m.readiness {
		m.readiness[i] = containerReadiness.WithLabelValues(engine, readiness(i).String())
	}
	return m
}

// gaugeOwners gives each set of gauges (an engine's containers, an engine's
// swarm) to one source: the one started last. A Corefile reload starts the
// new instance before it stops the old one; without an owner the old one's
// last word (docker_up 0 as it stops) would stand while the new one is up.
var gaugeOwners = struct {
	sync.Mutex
	by map[any]any // a set's up gauge -> its owner
}{by: map[any]any{}}

func ownGauges(key, owner any) {
	gaugeOwners.Lock()
	gaugeOwners.by[key] = owner
	gaugeOwners.Unlock()
}

// releaseGauges runs zero unless a newer source owns the gauges.
func releaseGauges(key, owner any, zero func()) {
	gaugeOwners.Lock()
	defer gaugeOwners.Unlock()
	if gaugeOwners.by[key] == owner {
		delete(gaugeOwners.by, key)
		zero()
	}
}

// withGauges runs set only while owner owns the gauges.
func withGauges(key, owner any, set func()) {
	gaugeOwners.Lock()
	defer gaugeOwners.Unlock()
	if gaugeOwners.by[key] == owner {
		set()
	}
}

// gaugeKey is the set of gauges s writes, named by its own up gauge (one
// per engine), so that a source never names itself.
func (s *Source) gaugeKey() any { return s.metrics.up }

func (s *Source) ownGauges() { ownGauges(s.gaugeKey(), s) }

// releaseGauges zeroes docker_up and drops engine_info unless a newer source owns the gauges.
func (s *Source) releaseGauges() {
	releaseGauges(s.gaugeKey(), s, func() {
		s.metrics.up.Set(0)
		engineInfo.DeletePartialMatch(prometheus.Labels{"engine": s.cfg.Engine})
	})
}

// setGauges runs set only while s owns its engine's gauges.
func (s *Source) setGauges(set func(m engineMetrics)) {
	withGauges(s.gaugeKey(), s, func() { set(s.metrics) })
}
