package docker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

var log = clog.NewWithPlugin("dockerhosts")

// Config says which engine to watch and what to serve.
type Config struct {
	// Engine names the engine: the engine label of its metrics, the scope of
	// its networks, the name of its host in the zones (published ports are
	// reached there) and the middle label of <container>.<Engine> names.
	// It must be a valid DNS label.
	Engine string
	// HostAddrs are the addresses of the engine's host, where ports published
	// on 0.0.0.0 or :: are reached. Empty: the address of a tcp:// endpoint,
	// or this machine's addresses for a local socket.
	HostAddrs []netip.Addr
	// Endpoint is the engine address ("unix:///var/run/docker.sock",
	// "tcp://host:2376"). "" means DOCKER_HOST, else the default socket.
	// For tcp:// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are honoured.
	Endpoint string
	// TLSCert, TLSKey and TLSCA are explicit TLS files for tcp:// (optional).
	TLSCert, TLSKey, TLSCA string
	// Resync is the period of full resyncs; 0 turns them off.
	Resync time.Duration
	// OptIn serves only containers labelled <prefix>.enable=true.
	OptIn bool
	// LabelPrefix starts the labels read (<prefix>.name, ...); "" is
	// DefaultLabelPrefix.
	LabelPrefix string
	// NoShortID leaves out the 12-hex short ID as a name.
	NoShortID bool
	// NameTemplates make extra names (ParseTemplate).
	NameTemplates []*template.Template
	// HostMode answers the addresses a container's ports are published on
	// (the engine host's for all addresses) instead of its own: for clients
	// outside Docker. Containers without published ports answer NODATA.
	HostMode bool
	// SwarmTasks, when the engine's swarm is served, says while the swarm
	// source serves its tasks: their containers are then left to it.
	SwarmTasks *SwarmTasks
	// Zones are the plugin's zones (lowercase FQDNs): Traefik router names
	// outside them are not served.
	Zones []string
	// TraefikProxy names the container Traefik router names alias; ""
	// finds it by its image. TraefikOptIn reads the router rules only of
	// containers labelled traefik.enable=true (exposedByDefault=false).
	TraefikProxy string
	TraefikOptIn bool
	// Health withholds a container's service names while it is not ready
	// (starting, unhealthy, paused, being stopped); its identity names
	// answer whenever it runs.
	Health bool
}

// DefaultResync is the plugin's full-resync period when none is configured.
const DefaultResync = 5 * time.Minute

const (
	pingTimeout    = 10 * time.Second
	requestTimeout = 30 * time.Second
	// sinceMargin widens the event subscription backwards to absorb clock
	// skew with a remote engine; replayed events are harmless.
	sinceMargin = 5 * time.Second
	// syncWorkers bounds concurrent inspects during a full sync.
	syncWorkers = 8
)

// Source follows one Docker Engine and feeds a Sink.
type Source struct {
	cfg      Config
	engine   engine
	sink     index.Sink
	endpoint string
	metrics  engineMetrics
	synced   atomic.Bool // first sync done, or the engine known down

	backoffMin, backoffMax time.Duration

	// kills carries stop requests from the event stream to Run's goroutine.
	kills kills

	// Owned by the goroutine running Run.
	served         map[string]index.Host // what the sink has from this source, by host ID
	containers     map[string]tracked    // served containers by ID
	claims         map[string]claim      // served names
	binds          map[netip.Addr]int    // containers publishing on each specific host address
	stops          map[string]int64      // engine time of the last stop request, by running container
	states         [readinessStates]int  // served containers by readiness
	hostAddrs      []netip.Addr          // the engine host's addresses as last served
	up             bool                  // connected and synced
	downLogged     bool                  // the current outage has been logged
	connected      bool                  // has been up at least once
	traefik        traefikState          // the proxy, and containers' router names
	product        string                // what /version says the engine is, for log lines
	rootless       bool                  // the engine said it is rootless (at the last connection that told)
	rootlessLogged bool                  // a failure to tell has been logged
}

// New builds a source for cfg. It does not contact the engine: an
// unreachable engine is retried by Run. It fails only on a malformed
// configuration (endpoint, unreadable TLS files).
func New(cfg Config, sink index.Sink) (*Source, error) {
	if cfg.Resync < 0 {
		return nil, fmt.Errorf("docker resync period %s is negative", cfg.Resync)
	}
	if !dnsname.ValidLabel(cfg.Engine) {
		return nil, fmt.Errorf("docker engine name %q is not a DNS label", cfg.Engine)
	}
	c, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	s := newSource(cfg, mobyEngine{c}, sink)
	s.endpoint = endpointName(cfg)
	return s, nil
}

// newSource builds a source on any engine; tests pass a fake.
func newSource(cfg Config, e engine, sink index.Sink) *Source {
	return &Source{
		cfg:        cfg,
		engine:     e,
		sink:       sink,
		endpoint:   endpointName(cfg),
		metrics:    metricsFor(cfg.Engine),
		backoffMin: 250 * time.Millisecond,
		backoffMax: 30 * time.Second,
		served:     make(map[string]index.Host),
		containers: make(map[string]tracked),
		claims:     make(map[string]claim),
		binds:      make(map[netip.Addr]int),
		traefik:    newTraefikState(),
		stops:      make(map[string]int64),
	}
}

// Synced reports whether the first full sync has completed, or the first
// attempt found the engine down: one dead engine must not keep a fleet's
// resolver unready. It stays true through later outages: the last known
// records keep being served.
func (s *Source) Synced() bool { return s.synced.Load() }

// Run follows the engine until ctx is cancelled: it syncs, applies events,
// resyncs periodically, and reconnects with capped exponential backoff when
// the engine or the stream goes away. Call it once.
func (s *Source) Run(ctx context.Context) {
	defer s.engine.Close()
	s.ownGauges()
	defer s.releaseGauges()
	delay := s.backoffMin
	reason := "startup"
	for {
		began := time.Now()
		err := s.session(ctx, reason)
		if ctx.Err() != nil {
			return
		}
		switch {
		case s.up:
			log.Warningf("Lost Docker engine %q at %s: %v; serving the last known records and reconnecting", s.cfg.Engine, s.endpoint, err)
			s.up = false
			s.setGauges(func(m engineMetrics) { m.up.Set(0) })
			if time.Since(began) > s.backoffMax {
				delay = s.backoffMin
			}
		case !s.downLogged:
			log.Errorf("Cannot reach Docker engine %q at %s: %v; retrying", s.cfg.Engine, s.endpoint, err)
		default:
			log.Debugf("Docker engine %q at %s still unreachable: %v", s.cfg.Engine, s.endpoint, err)
		}
		s.downLogged = true
		s.synced.Store(true) // known down
		if s.connected {
			reason = "reconnect"
		}

		t := time.NewTimer(jitter(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, s.backoffMax)
	}
}

// jitter spreads d over [d/2, d) so that many instances do not reconnect
// in lockstep after an engine restart.
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// session is one connection: subscribe, full sync, then apply events until
// the stream breaks. It returns why it ended.
func (s *Source) session(ctx context.Context, reason string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pingCtx, pingCancel := context.WithTimeout(ctx, pingTimeout)
	ping, err := s.engine.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true})
	pingCancel()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}

	s.identify(ctx)

	var pending backlog
	pending.init()
	s.kills.reset()
	// Events older than the subscription are replays: the full sync has
	// the state they led to, and their die must not withdraw a container
	// that has started again since.
	live := time.Now().UnixNano()
	streamErr, unsubscribe := subscribe(ctx, s.engine.Events, eventFilters(),
		func(ev events.Message) {
			ev = dockerShape(ev) // Podman's words as Docker's, before anything reads it
			s.noteKill(ev)
			queue(ev, &pending, s.metrics.events, live)
		})
	defer unsubscribe()

	if err := s.fullSync(ctx, reason); err != nil {
		return err
	}
	if s.connected {
		log.Infof("Reconnected to Docker engine %q at %s (%s, API %s); serving %d containers", s.cfg.Engine, s.endpoint, s.product, ping.APIVersion, len(s.containers))
		s.metrics.reconnects.Inc()
	} else {
		log.Infof("Connected to Docker engine %q at %s (%s, API %s); serving %d containers", s.cfg.Engine, s.endpoint, s.product, ping.APIVersion, len(s.containers))
	}
	s.connected, s.up, s.downLogged = true, true, false
	s.setGauges(func(m engineMetrics) { m.up.Set(1) })
	// Synced after the gauge: whoever waits for it (CoreDNS's start, then a
	// reload stopping the old instance) sees the engine's gauges final.
	s.synced.Store(true)

	var resync <-chan time.Time // nil: periodic resync is off
	if s.cfg.Resync > 0 {
		t := time.NewTicker(s.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-streamErr:
			return err
		case <-pending.wake:
			for {
				id, at, exited, ok := pending.pop()
				if !ok {
					break
				}
				if err := s.apply(ctx, id, at, exited); err != nil {
					return err
				}
			}
		case <-resync:
			if err := s.fullSync(ctx, "periodic"); err != nil {
				return err
			}
		case <-s.cfg.SwarmTasks.Changed():
			if err := s.fullSync(ctx, "swarm"); err != nil {
				return err
			}
		}
	}
}

// subscribe subscribes to the engine's events before the caller lists
// anything, from a moment before now: whatever changes while the list is
// taken arrives as an event and is applied after it. A goroutine hands each
// event to handle as fast as they come, so that the engine never waits on a
// slow sync (it drops events for subscribers that lag); handle must not
// block. The stream's error arrives on the channel. unsubscribe ends the
// subscription and waits for the goroutine; defer it.
func subscribe(ctx context.Context, events func(context.Context, client.EventsListOptions) client.EventsResult,
	filters client.Filters, handle func(events.Message)) (streamErr <-chan error, unsubscribe func()) {
	ctx, cancel := context.WithCancel(ctx)
	since := time.Now().Add(-sinceMargin)
	stream := events(ctx, client.EventsListOptions{
		Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		Filters: filters,
	})
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- readStream(ctx, stream, handle)
	}()
	return errs, func() {
		cancel()
		wg.Wait()
	}
}

// readStream hands every event to handle until the stream ends, and says
// why it ended.
func readStream(ctx context.Context, stream client.EventsResult, handle func(events.Message)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err, ok := <-stream.Err:
			if !ok || err == nil {
				err = errors.New("closed by the engine")
			}
			return fmt.Errorf("event stream: %w", err)
		case ev := <-stream.Messages:
			handle(ev)
		}
	}
}

// eventFilters asks the engine only for the events that can change a
// container's records; exec_* events from health checks stay on the engine.
func eventFilters() client.Filters {
	return make(client.Filters).
		Add("type", string(events.ContainerEventType), string(events.NetworkEventType)).
		Add("event", append([]string{"start", "restart", "die", "stop", "kill", "destroy", "rename",
			"pause", "unpause", "health_status", "connect", "disconnect"}, podmanEventActions...)...)
}

// queue moves a container event into the backlog, counted by action. Events
// from before live (replays) say nothing about whether it runs.
func queue(ev events.Message, pending *backlog, counted *prometheus.CounterVec, live int64) {
	action, id := containerOf(ev)
	counted.WithLabelValues(action).Inc()
	if id != "" {
		pending.push(id, ev.TimeNano, lifeOf(ev, live))
	}
}

// life is what an event says about whether its container runs.
type life int8

const (
	lifeSame    life = iota // nothing: the inspect tells
	lifeExited              // its process exited (die): not running until a start
	lifeStarted             // started again: the inspect tells
)

// lifeOf is what ev says; a replay (from before live) says nothing.
func lifeOf(ev events.Message, live int64) life {
	if ev.Type != events.ContainerEventType || ev.TimeNano < live {
		return lifeSame
	}
	switch ev.Action {
	case events.ActionDie:
		return lifeExited
	case events.ActionStart, events.ActionRestart:
		return lifeStarted
	}
	return lifeSame
}

// containerOf names the event's action (for metrics) and the container whose
// records it may change, "" when none.
func containerOf(ev events.Message) (action, id string) {
	action = string(ev.Action)
	if i := len("health_status"); len(action) > i && action[:i] == "health_status" {
		action = "health_status" // "health_status: healthy"
	}
	switch ev.Type {
	case events.ContainerEventType:
		switch events.Action(action) {
		case events.ActionStart, events.ActionRestart, events.ActionDie, events.ActionStop, events.ActionKill,
			events.ActionDestroy, events.ActionRename, events.ActionPause, events.ActionUnPause, events.ActionHealthStatus:
			return action, ev.Actor.ID
		}
	case events.NetworkEventType:
		switch events.Action(action) {
		case events.ActionConnect, events.ActionDisconnect:
			return action, ev.Actor.Attributes["container"]
		}
	}
	return "other", ""
}

// backlog holds the containers with unapplied events, once each however
// many events they got, in arrival order. It never blocks the producer.
type backlog struct {
	mu     sync.Mutex
	ids    []string
	queued map[string]queued
	wake   chan struct{}
}

// queued is what the backlog knows of a container's unapplied events.
type queued struct {
	first  int64 // TimeNano of the oldest
	exited bool  // a die came after its last start
}

func (b *backlog) init() {
	b.queued = make(map[string]queued)
	b.wake = make(chan struct{}, 1)
}

func (b *backlog) push(id string, at int64, l life) {
	b.mu.Lock()
	q, ok := b.queued[id]
	if !ok {
		q.first = at
		b.ids = append(b.ids, id)
	}
	if l != lifeSame {
		q.exited = l == lifeExited
	}
	b.queued[id] = q
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued container: the time of its oldest event, and
// whether it exited after its last start (a die, then nothing that starts
// it: stop, destroy and the rest leave it exited).
func (b *backlog) pop() (id string, at int64, exited, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ids) == 0 {
		b.ids = nil // let a burst's backing array go
		return "", 0, false, false
	}
	id, b.ids = b.ids[0], b.ids[1:]
	q := b.queued[id]
	delete(b.queued, id)
	return id, q.first, q.exited, true
}
