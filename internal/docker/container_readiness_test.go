package docker

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// healthCtr is a container with an identity name (app1), a service name
// (the alias web), a label SRV record and the given health.
func healthCtr(health container.HealthStatus) ctr {
	return ctr{id: "aaaaaaaaaaaaaaaa", name: "app1", health: health, started: time.Now().Add(-time.Minute),
		labels: map[string]string{keySRV: "http:80/tcp"},
		nets:   map[string]ep{"app": {ip: "10.0.0.2", aliases: []string{"web"}}}}
}

// answers reports whether the sink's host id answers name, and whether it
// withholds it.
func answers(sink *recordingSink, id, name string) (answered, withheld bool) {
	h, _ := sink.host(id)
	return slices.Contains(h.Names, name), slices.Contains(h.Withheld, name)
}

func wantServed(t *testing.T, sink *recordingSink, id, name string, want bool) {
	t.Helper()
	answered, withheld := answers(sink, id, name)
	if answered != want || withheld == want {
		t.Fatalf("%s: answered %v, withheld %v; want answered %v", name, answered, withheld, want)
	}
}

func healthEvent(t *testing.T, fe *fakeEngine, c ctr) {
	t.Helper()
	fe.set(c.build())
	fe.containerEvent(t, events.Action("health_status: "+string(c.health)), c.id)
}

func TestServiceNamesFollowHealth(t *testing.T) {
	fe := newFakeEngine()
	c := healthCtr(container.Starting)
	fe.set(c.build())
	_, sink := running(t, Config{Health: true}, fe)
	wantServed(t, sink, c.id, "web", false)
	wantServed(t, sink, c.id, "app1", true) // the identity name answers during warm-up
	wantServed(t, sink, c.id, "aaaaaaaaaaaa", true)

	c.health = container.Healthy
	healthEvent(t, fe, c)
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", true)

	c.health = container.Unhealthy
	healthEvent(t, fe, c)
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", false)
	wantServed(t, sink, c.id, "app1", true)
	if h, _ := sink.host(c.id); len(h.Services) != 1 || len(h.Addrs) != 1 {
		t.Errorf("an unhealthy container keeps its SRV and addresses for its identity names: %+v", h)
	}
}

func TestHealthOffOrIgnoredServesEveryName(t *testing.T) {
	fe := newFakeEngine()
	c := healthCtr(container.Unhealthy)
	fe.set(c.build())
	_, sink := running(t, Config{}, fe)
	wantServed(t, sink, c.id, "web", true)

	fe2 := newFakeEngine()
	c.labels = map[string]string{DefaultLabelPrefix + ".health": "ignore"}
	fe2.set(c.build())
	_, sink2 := running(t, Config{Health: true}, fe2)
	wantServed(t, sink2, c.id, "web", true)
}

func TestStopRequestWithdrawsServiceNames(t *testing.T) {
	tests := []struct {
		name    string
		stopSig string
		signal  string
		want    bool // still answered at web
	}{
		{"docker stop: SIGTERM", "", "15", false},
		{"SIGKILL", "", "9", false},
		{"reload with HUP", "", "1", true},
		{"SIGTERM to a SIGQUIT container", "SIGQUIT", "15", true},
		{"its own stop signal", "SIGQUIT", "3", false},
		{"stop signal by number", "3", "3", false},
		{"garbled signal", "", "x", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEngine()
			c := healthCtr("")
			c.stopSig = tc.stopSig
			fe.set(c.build())
			_, sink := running(t, Config{Health: true}, fe)
			wantServed(t, sink, c.id, "web", true)
			fe.emit(t, events.ContainerEventType, events.ActionKill, c.id, map[string]string{"signal": tc.signal, "name": c.name})
			flush(t, fe, sink)
			wantServed(t, sink, c.id, "web", tc.want)
			wantServed(t, sink, c.id, "app1", true)
		})
	}
}

// A stop request belongs to one run: after a restart the container is
// ready again, whatever order the events are applied in.
func TestStopRequestEndsWithTheRun(t *testing.T) {
	fe := newFakeEngine()
	c := healthCtr("")
	fe.set(c.build())
	s, stop := startStoppable(t, Config{Health: true}, fe)
	await.True(t, waitLimit, "first sync", s.Synced)
	sink := s.sink.(*recordingSink)
	fe.emit(t, events.ContainerEventType, events.ActionKill, c.id, map[string]string{"signal": "15"})
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", false)

	c.started = time.Now().Add(time.Second) // docker restart: a new run
	fe.set(c.build())
	fe.containerEvent(t, events.ActionStart, c.id)
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", true)

	// The container exits: its stop request is forgotten.
	c.stopped = true
	fe.set(c.build())
	fe.containerEvent(t, events.ActionDie, c.id)
	flush(t, fe, sink)
	stop() // Run's state is now the test's to read
	if len(s.stops) != 0 {
		t.Errorf("stop requests kept after exit: %v", s.stops)
	}
}

func TestPausedContainerLeavesServiceNames(t *testing.T) {
	fe := newFakeEngine()
	c := healthCtr("")
	fe.set(c.build())
	_, sink := running(t, Config{Health: true}, fe)

	c.paused = true
	fe.set(c.build())
	fe.containerEvent(t, events.ActionPause, c.id)
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", false)
	wantServed(t, sink, c.id, "app1", true)

	c.paused = false
	fe.set(c.build())
	fe.containerEvent(t, events.ActionUnPause, c.id)
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", true)
}

func TestResyncRecoversHealth(t *testing.T) {
	fe := newFakeEngine()
	c := healthCtr(container.Starting)
	fe.set(c.build())
	_, sink := running(t, Config{Health: true}, fe)
	wantServed(t, sink, c.id, "web", false)

	fe.setDown(errEngineDown)
	fe.breakStream(io.ErrUnexpectedEOF)
	tries := fe.attempts()
	await.True(t, waitLimit, "failed reconnect attempts", func() bool { return fe.attempts() >= tries+1 })
	c.health = container.Healthy // its health_status event is lost with the stream
	fe.set(c.build())
	fe.setDown(nil)
	await.True(t, waitLimit, "healthy after resync", func() bool { a, _ := answers(sink, c.id, "web"); return a })
}

func TestReadinessGauges(t *testing.T) {
	fe := newFakeEngine()
	const engine = "gauges"
	a, b, p := healthCtr(container.Starting), healthCtr(container.Healthy), healthCtr("")
	b.id, b.name = "bbbbbbbbbbbbbbbb", "app2"
	p.id, p.name, p.paused = "cccccccccccccccc", "app3", true
	for _, c := range []ctr{a, b, p} {
		fe.set(c.build())
	}
	_, sink := running(t, Config{Engine: engine, Health: true}, fe)
	check := func(want map[string]float64) {
		t.Helper()
		for state, n := range want {
			if got := metricValue(t, containerReadiness.WithLabelValues(engine, state)); got != n {
				t.Errorf("%s: %v containers, want %v", state, got, n)
			}
		}
	}
	check(map[string]float64{"ready": 1, "starting": 1, "unhealthy": 0, "stopping": 0, "paused": 1})

	var observed dto.Metric
	programmingDuration.WithLabelValues(engine, "container").(prometheus.Histogram).Write(&observed)
	before := observed.GetHistogram().GetSampleCount()
	fe.emit(t, events.ContainerEventType, events.ActionKill, b.id, map[string]string{"signal": "15"})
	flush(t, fe, sink)
	check(map[string]float64{"ready": 1 /* flush sentinel */, "starting": 1, "unhealthy": 0, "stopping": 1, "paused": 1})
	programmingDuration.WithLabelValues(engine, "container").(prometheus.Histogram).Write(&observed)
	if observed.GetHistogram().GetSampleCount() <= before {
		t.Error("the withdrawal was not observed in programming_duration_seconds")
	}
}

func TestSignalNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"15", 15, true}, {"SIGTERM", 15, true}, {"term", 15, true}, {" SIGKILL ", 9, true}, {"SIGQUIT", 3, true},
		{"SIGRTMIN+3", 37, true}, {"RTMAX-1", 63, true}, {"SIGRTMAX", 64, true},
		{"0", 0, false}, {"65", 0, false}, {"SIGNOPE", 0, false}, {"", 0, false}, {"RTMIN+40", 0, false},
	} {
		if got, ok := signalNumber(tc.in); got != tc.want && tc.ok || ok != tc.ok {
			t.Errorf("signalNumber(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzSignalNumber: the kill event's signal and a container's StopSignal
// are outside input; anything parses to a valid Linux signal or fails.
func FuzzSignalNumber(f *testing.F) {
	for _, s := range []string{"15", "SIGTERM", "SIGRTMIN+3", "RTMAX-70", "-1", "SIG"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, ok := signalNumber(s); ok && (n < 1 || n > 64) {
			t.Fatalf("signalNumber(%q) = %d", s, n)
		}
	})
}
