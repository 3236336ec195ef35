package docker

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const subsystem = "dockerhosts"

// The source runs outside any request, so these carry no "server" label.
var (
	containersServed = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "containers",
		Help:      "Number of Docker containers served.",
	})
	namesServed = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "container_names",
		Help:      "Number of distinct names served for Docker containers.",
	})
	eventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "events_total",
		Help:      "Counter of Docker events received, by action.",
	}, []string{"action"})
	resyncsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "resyncs_total",
		Help:      "Counter of full resynchronisations with Docker, by reason (startup, reconnect, periodic).",
	}, []string{"reason"})
	reconnectsTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "reconnects_total",
		Help:      "Counter of successful reconnections to Docker after the event stream was lost.",
	})
	dockerUp = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "docker_up",
		Help:      "1 while the Docker event stream is connected and synced, else 0.",
	})
	eventLag = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "event_lag_seconds",
		Help:      "Time from a Docker event to its records reaching the index.",
		Buckets:   prometheus.ExponentialBuckets(0.00025, 2, 16), // 250µs .. 8s
	})
	nameConflictsTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "name_conflicts_total",
		Help:      "Counter of names that became claimed as their own by more than one container.",
	})
	skippedNamesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "skipped_names_total",
		Help:      "Counter of container names not served because they are not valid DNS names.",
	})
)
