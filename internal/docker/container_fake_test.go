package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// fakeEngine is an in-memory engine. Tests change its containers and emit
// events by hand; nothing happens on its own.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]container.InspectResponse
	down       error         // every call fails with it while set
	stream     *fakeStream   // the current subscription
	subscribed chan struct{} // receives after each Events call
	pings      int
	badInspect int              // the next inspects that fail, as a hiccup would
	inspectErr map[string]error // what inspecting these containers fails with
	inspects   int
	lists      int
	sinces     []string
	version    client.ServerVersionResult // what /version says; zero: a Docker 20.10
	info       system.Info                // what /info says
	podman     podmanHost                 // what /libpod/info says
	infoErr    error                      // what /info and /libpod/info fail with
}

type fakeStream struct {
	ctx     context.Context
	msgs    chan events.Message
	errs    chan error
	filters client.Filters // nil: deliver everything
}

// matches applies the subscription's type and event filters as an engine
// does: an action matches by itself or by what precedes ":" in it
// ("health_status: healthy").
func (st *fakeStream) matches(ev events.Message) bool {
	if types := st.filters["type"]; len(types) > 0 && !types[string(ev.Type)] {
		return false
	}
	actions := st.filters["event"]
	before, _, _ := strings.Cut(string(ev.Action), ":")
	return len(actions) == 0 || actions[string(ev.Action)] || actions[before]
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		containers: make(map[string]container.InspectResponse),
		subscribed: make(chan struct{}, 100),
	}
}

func (f *fakeEngine) Ping(ctx context.Context, _ client.PingOptions) (client.PingResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	if f.down != nil {
		return client.PingResult{}, f.down
	}
	return client.PingResult{APIVersion: "1.41"}, nil
}

func (f *fakeEngine) ServerVersion(ctx context.Context, _ client.ServerVersionOptions) (client.ServerVersionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return client.ServerVersionResult{}, f.down
	}
	if f.version.Components == nil {
		return client.ServerVersionResult{Version: "20.10.24", Components: []system.ComponentVersion{{Name: "Engine", Version: "20.10.24"}}}, nil
	}
	return f.version, nil
}

func (f *fakeEngine) Info(ctx context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := cmp.Or(f.down, f.infoErr); err != nil {
		return client.SystemInfoResult{}, err
	}
	return client.SystemInfoResult{Info: f.info}, nil
}

func (f *fakeEngine) PodmanHost(ctx context.Context) (podmanHost, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := cmp.Or(f.down, f.infoErr); err != nil {
		return podmanHost{}, err
	}
	return f.podman, nil
}

func (f *fakeEngine) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.down != nil {
		return client.ContainerListResult{}, f.down
	}
	var res client.ContainerListResult
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if c.State == nil || !c.State.Running {
			continue
		}
		if _, optIn := opts.Filters["label"]; optIn && c.Config.Labels[keyEnable] != "true" {
			continue
		}
		res.Items = append(res.Items, container.Summary{ID: id, Names: []string{c.Name}})
	}
	return res, nil
}

func (f *fakeEngine) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspects++
	if f.down != nil {
		return client.ContainerInspectResult{}, f.down
	}
	if f.badInspect > 0 {
		f.badInspect--
		return client.ContainerInspectResult{}, errors.New("i/o timeout")
	}
	if err := f.inspectErr[id]; err != nil {
		return client.ContainerInspectResult{}, err
	}
	c, ok := f.containers[id]
	if !ok {
		return client.ContainerInspectResult{}, fmt.Errorf("no such container: %s: %w", id, errdefs.ErrNotFound)
	}
	return client.ContainerInspectResult{Container: c}, nil
}

func (f *fakeEngine) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinces = append(f.sinces, opts.Since)
	st, res := openStream(ctx, f.down)
	if st != nil {
		st.filters = opts.Filters
		f.stream = st
	}
	f.subscribed <- struct{}{}
	return res
}

// openStream is a subscription of a fake: failed at once with down, or
// open (st) for emit to deliver to.
func openStream(ctx context.Context, down error) (st *fakeStream, res client.EventsResult) {
	st = &fakeStream{ctx: ctx, msgs: make(chan events.Message), errs: make(chan error, 1)}
	res = client.EventsResult{Messages: st.msgs, Err: st.errs}
	if down != nil {
		st.errs <- down
		return nil, res
	}
	return st, res
}

func (f *fakeEngine) Close() error { return nil }

// set adds or replaces a container.
func (f *fakeEngine) set(c container.InspectResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[c.ID] = c
}

func (f *fakeEngine) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
}

func (f *fakeEngine) get(id string) container.InspectResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.containers[id]
}

// emit delivers an event on the current stream, if the subscription's
// filters let it through, and waits until the source has taken it.
func (f *fakeEngine) emit(t *testing.T, typ events.Type, action events.Action, actor string, attrs map[string]string) {
	t.Helper()
	f.emitAt(t, time.Now(), typ, action, actor, attrs)
}

// emitAt is emit of an event that happened at: a replay when that is
// before the subscription.
func (f *fakeEngine) emitAt(t *testing.T, at time.Time, typ events.Type, action events.Action, actor string, attrs map[string]string) {
	t.Helper()
	f.mu.Lock()
	st := f.stream
	f.mu.Unlock()
	if st == nil {
		t.Fatal("emit: no subscription")
	}
	ev := events.Message{Type: typ, Action: action, Actor: events.Actor{ID: actor, Attributes: attrs}, TimeNano: at.UnixNano()}
	if !st.matches(ev) {
		return // the engine keeps it
	}
	st.deliver(t, ev)
}

func (f *fakeEngine) containerEvent(t *testing.T, action events.Action, id string) {
	t.Helper()
	f.emit(t, events.ContainerEventType, action, id, nil)
}

func (f *fakeEngine) networkEvent(t *testing.T, action events.Action, netName, id string) {
	t.Helper()
	f.emit(t, events.NetworkEventType, action, "net-"+netName, map[string]string{"container": id, "name": netName, "type": "bridge"})
}

// breakStream ends the current subscription as an engine restart does.
func (f *fakeEngine) breakStream(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stream != nil {
		f.stream.errs <- err
		f.stream = nil
	}
}

func (f *fakeEngine) failInspects(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.badInspect = n
}

func (f *fakeEngine) setDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

func (f *fakeEngine) calls() (lists, inspects int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists, f.inspects
}

// attempts counts the connection attempts (pings) so far.
func (f *fakeEngine) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pings
}

// ctr describes a container for the fake; build turns it into what
// ContainerInspect returns.
type ctr struct {
	id, name string
	hostname string
	labels   map[string]string
	nets     map[string]ep // network name -> endpoint
	stopped  bool
	paused   bool
	mode     string              // HostConfig.NetworkMode
	ports    map[string][]string // "8080/tcp" -> "HOSTIP:HOSTPORT" bindings
	image    string
	health   container.HealthStatus // "" for no HEALTHCHECK
	started  time.Time              // State.StartedAt; zero for unknown
	stopSig  string                 // Config.StopSignal
}

type ep struct {
	ip, ip6 string
	aliases []string
}

func (c ctr) build() container.InspectResponse {
	hostname := c.hostname
	if hostname == "" { // Docker's default: the short ID
		hostname = c.id[:min(len(c.id), shortIDLen)]
	}
	res := container.InspectResponse{
		ID:         c.id,
		Name:       "/" + c.name,
		State:      &container.State{Running: !c.stopped, Paused: c.paused},
		Config:     &container.Config{Hostname: hostname, Labels: c.labels, Image: c.image, StopSignal: c.stopSig},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(c.mode)},
		NetworkSettings: &container.NetworkSettings{
			Networks: make(map[string]*network.EndpointSettings),
		},
	}
	if c.health != "" {
		res.State.Health = &container.Health{Status: c.health}
	}
	if !c.started.IsZero() {
		res.State.StartedAt = c.started.Format(time.RFC3339Nano)
	}
	if c.stopped {
		return res // a stopped container keeps its networks but no addresses
	}
	if len(c.ports) > 0 {
		res.NetworkSettings.Ports = make(network.PortMap)
		for p, bindings := range c.ports {
			port := network.MustParsePort(p)
			for _, b := range bindings {
				ap := netip.MustParseAddrPort(b)
				res.NetworkSettings.Ports[port] = append(res.NetworkSettings.Ports[port],
					network.PortBinding{HostIP: ap.Addr(), HostPort: fmt.Sprint(ap.Port())})
			}
		}
	}
	for name, e := range c.nets {
		s := &network.EndpointSettings{Aliases: e.aliases}
		if e.ip != "" {
			s.IPAddress = netip.MustParseAddr(e.ip)
			s.IPPrefixLen = 16
		}
		if e.ip6 != "" {
			s.GlobalIPv6Address = netip.MustParseAddr(e.ip6)
			s.GlobalIPv6PrefixLen = 64
		}
		res.NetworkSettings.Networks[name] = s
	}
	return res
}

// recordingSink keeps what a Sink is told, like the index would.
type recordingSink struct {
	mu       sync.Mutex
	hosts    map[string]index.Host
	replaces int
	upserts  int
	deletes  int
}

func newRecordingSink() *recordingSink {
	return &recordingSink{hosts: make(map[string]index.Host)}
}

func (s *recordingSink) Replace(hosts []index.Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaces++
	s.hosts = make(map[string]index.Host, len(hosts))
	for _, h := range hosts {
		s.hosts[h.ID] = h
	}
}

// Upsert and Delete count only changes, and report them, as the index does.
func (s *recordingSink) Upsert(h index.Host) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.hosts[h.ID]; ok && old.Equal(h) {
		return false
	}
	s.upserts++
	s.hosts[h.ID] = h
	return true
}

func (s *recordingSink) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hosts[id]; !ok {
		return false
	}
	s.deletes++
	delete(s.hosts, id)
	return true
}

func (s *recordingSink) host(id string) (index.Host, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hosts[id]
	return h, ok
}

// owners returns the IDs of the hosts serving name, sorted.
func (s *recordingSink) owners(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, h := range s.hosts {
		if slices.Contains(h.Names, name) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ipOwners returns the IDs of the hosts with address ip, sorted.
func (s *recordingSink) ipOwners(ip string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := netip.MustParseAddr(ip)
	var ids []string
	for id, h := range s.hosts {
		for _, a := range h.Addrs {
			if a.IP == want {
				ids = append(ids, id)
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *recordingSink) counts() (replaces, upserts, deletes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replaces, s.upserts, s.deletes
}

// waitLimit bounds every wait of these tests.
const waitLimit = 10 * time.Second

// running starts a source on fe and waits for its first sync. The source
// stops when the test ends.
func running(t *testing.T, cfg Config, fe *fakeEngine) (*Source, *recordingSink) {
	t.Helper()
	s, sink := start(t, cfg, fe)
	await.True(t, waitLimit, "first sync", s.Synced)
	return s, sink
}

// start runs a source on fe with fast retries until the test ends.
func start(t *testing.T, cfg Config, fe *fakeEngine) (*Source, *recordingSink) {
	t.Helper()
	s, _ := startStoppable(t, cfg, fe)
	return s, s.sink.(*recordingSink)
}

// startStoppable is start with a stop the test may call earlier; it waits
// for Run to return.
func startStoppable(t *testing.T, cfg Config, fe *fakeEngine) (*Source, func()) {
	t.Helper()
	s := newSource(cfg, fe, newRecordingSink())
	s.backoffMin, s.backoffMax = time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	t.Cleanup(stop)
	return s, stop
}

// flush waits until the source has applied every event emitted so far:
// it emits a marker event for a sentinel container and waits for its effect.
func flush(t *testing.T, fe *fakeEngine, sink *recordingSink) {
	t.Helper()
	const sentinel = "flushsentinel"
	_, present := sink.host(sentinel)
	if present {
		fe.remove(sentinel)
	} else {
		fe.set(ctr{id: sentinel, name: "flush-sentinel", labels: map[string]string{keyEnable: "true"}}.build())
	}
	fe.containerEvent(t, events.ActionStart, sentinel)
	await.True(t, waitLimit, "flush", func() bool {
		_, ok := sink.host(sentinel)
		return ok != present
	})
}

var errEngineDown = errors.New("dial unix /var/run/docker.sock: connect: connection refused")

// Label keys under the default prefix, as containers carry them.
const (
	keyEnable = DefaultLabelPrefix + "." + labelEnable
	keyName   = DefaultLabelPrefix + "." + labelName
	keySRV    = DefaultLabelPrefix + "." + labelSRV
)
