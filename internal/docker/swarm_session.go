package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// swarmEngine is the part of the Engine API the swarm source uses: reads
// only, answered by a manager. *client.Client implements it.
type swarmEngine interface {
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
	TaskInspect(ctx context.Context, taskID string, options client.TaskInspectOptions) (client.TaskInspectResult, error)
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	Close() error
}

var _ swarmEngine = (*client.Client)(nil)

// SwarmConfig says which swarm to follow.
type SwarmConfig struct {
	// Engine names the engine whose swarm this is: the engine label of the
	// metrics, and the scope of the overlay addresses (a client matches an
	// overlay's subnet only as a container of that engine, or from this
	// machine when the engine is local). A valid DNS label.
	Engine string
	// Endpoints are managers of one swarm, tried in order: when one fails,
	// the next is used. Empty means one endpoint: DOCKER_HOST or the
	// default socket.
	Endpoints []Config
	// Poll is the period of the service status poll, which catches tasks
	// changing on other nodes (tasks have no events); 0 means
	// DefaultSwarmPoll.
	Poll time.Duration
	// Resync is the period of full resyncs; 0 turns them off.
	Resync time.Duration
	// OptIn serves only services labelled <prefix>.enable=true; without it,
	// services labelled <prefix>.enable=false are left out.
	OptIn bool
	// LabelPrefix starts the labels read, as for containers; "" is
	// DefaultLabelPrefix.
	LabelPrefix string
	// Tasks tells the engine's container source while this source serves
	// the swarm's tasks; nil when there is none.
	Tasks *SwarmTasks
}

// DefaultSwarmPoll is the period of the service status poll: the running
// task count of every service, one small answer whatever the number of
// tasks. A service whose count differs from what is served has its tasks
// polled at once, so a task that fails or starts on another node (tasks
// have no events) is followed within about this period.
const DefaultSwarmPoll = time.Second

// fullPollCost bounds the full poll of every running task, the net under
// the status poll, to about 2 % of the time: its period is the larger of
// the status poll's and fullPollCost times the last full poll's duration.
// Decoding a manager's answer costs 25-30 us of CPU per task (2 KB of
// JSON; BenchmarkSwarmPollUnchanged), so the period stays 1 s up to some
// 700 tasks and was 13-19 s at 10,000 here, 1.5 % of a core; the status
// poll costs 0.1 % of a core at 10,000 tasks (BenchmarkSwarmStatusPoll).
const fullPollCost = 50

const (
	// serviceWatchPeriod and serviceWatchWindow: after an event for a
	// service, its tasks are polled this often for this long, so scaling
	// and rolling updates are followed within a fraction of a second.
	serviceWatchPeriod = 200 * time.Millisecond
	serviceWatchWindow = 30 * time.Second
	// notManagerRecheck is how often an engine that is not a manager is
	// asked again: it may be promoted or join a swarm.
	notManagerRecheck = time.Minute
	// nodeBurstWindow and nodeBurstPeriod: after a node event, every task
	// is polled this often for this long (Docker drains a task for 2 s).
	nodeBurstWindow = 3 * time.Second
	nodeBurstPeriod = 500 * time.Millisecond
)

// Labels Docker puts on a task's container.
const (
	labelSwarmTaskID    = "com.docker.swarm.task.id"
	labelSwarmServiceID = "com.docker.swarm.service.id"
)

// SwarmSource follows a Docker swarm through a manager's API and feeds a
// Sink with one host per service, running task and node.
type SwarmSource struct {
	cfg       SwarmConfig
	engines   []swarmEngine
	endpoints []string
	sink      index.Sink
	metrics   swarmMetrics
	synced    atomic.Bool

	backoffMin, backoffMax time.Duration
	recheck                time.Duration // notManagerRecheck, shorter in tests
	watchPeriod            time.Duration
	watchWindow            time.Duration
	fullPollPeriod         time.Duration // adapts to the cost of a full poll

	// Owned by the goroutine running Run.
	state      swarmState
	served     map[string]index.Host // what the sink holds, by host ID
	reported   map[string]bool       // invalid names already logged
	up         bool
	connected  bool                    // has been synced with a manager once
	downLogged bool                    // the current outage has been logged
	notManager map[int]string          // endpoints known not to be managers -> their swarm state
	watched    map[string]serviceWatch // services changed lately, polled often
}

// errNotManager: the engine answers but cannot list the swarm.
type errNotManager struct{ state string }

func (e errNotManager) Error() string {
	if e.state == "" || e.state == "active" {
		return "not a swarm manager"
	}
	return fmt.Sprintf("not a swarm manager (swarm state %q)", e.state)
}

// NewSwarm builds a swarm source for cfg. It does not contact any engine;
// it fails only on a malformed endpoint or unreadable TLS files.
func NewSwarm(cfg SwarmConfig, sink index.Sink) (*SwarmSource, error) {
	if cfg.Poll < 0 || cfg.Resync < 0 {
		return nil, fmt.Errorf("swarm poll %s or resync %s is negative", cfg.Poll, cfg.Resync)
	}
	if cfg.Engine != "" && !dnsname.ValidLabel(cfg.Engine) {
		return nil, fmt.Errorf("docker engine name %q is not a DNS label", cfg.Engine)
	}
	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		endpoints = []Config{{}}
	}
	engines := make([]swarmEngine, 0, len(endpoints))
	names := make([]string, 0, len(endpoints))
	for _, ep := range endpoints {
		c, err := newEngine(ep)
		if err != nil {
			for _, e := range engines {
				e.Close()
			}
			return nil, err
		}
		engines = append(engines, c)
		names = append(names, endpointName(ep))
	}
	s := newSwarmSource(cfg, engines, sink)
	s.endpoints = names
	return s, nil
}

// newSwarmSource builds a source on any engines; tests pass fakes.
func newSwarmSource(cfg SwarmConfig, engines []swarmEngine, sink index.Sink) *SwarmSource {
	if cfg.Poll == 0 {
		cfg.Poll = DefaultSwarmPoll
	}
	if cfg.Engine == "" {
		cfg.Engine = "docker"
	}
	if cfg.LabelPrefix == "" {
		cfg.LabelPrefix = DefaultLabelPrefix
	}
	s := &SwarmSource{
		cfg:            cfg,
		engines:        engines,
		sink:           sink,
		metrics:        newSwarmMetrics(cfg.Engine),
		backoffMin:     250 * time.Millisecond,
		backoffMax:     30 * time.Second,
		recheck:        notManagerRecheck,
		watchPeriod:    serviceWatchPeriod,
		watchWindow:    serviceWatchWindow,
		fullPollPeriod: cfg.Poll,
		served:         make(map[string]index.Host),
		reported:       make(map[string]bool),
		notManager:     make(map[int]string),
		watched:        make(map[string]serviceWatch),
	}
	for i := range engines {
		s.endpoints = append(s.endpoints, fmt.Sprintf("manager %d", i+1))
	}
	s.state.init()
	return s
}

// Engine names the engine whose swarm the source follows.
func (s *SwarmSource) Engine() string { return s.cfg.Engine }

// Synced reports whether the first full sync is done, or every endpoint is
// known down or not a manager: there is nothing to wait for.
func (s *SwarmSource) Synced() bool { return s.synced.Load() }

// Run follows the swarm until ctx is cancelled: it syncs from a manager,
// applies events and polls, and when the manager goes away keeps the last
// records and moves on to the next endpoint, backing off once every
// endpoint failed. Call it once.
func (s *SwarmSource) Run(ctx context.Context) {
	s.ownGauges()
	defer func() {
		for _, e := range s.engines {
			e.Close()
		}
		s.releaseGauges()
		s.cfg.Tasks.set(false)
	}()
	delay := s.backoffMin
	reason := "startup"
	current, failures := 0, 0
	for {
		began := time.Now()
		err := s.session(ctx, current, reason)
		if ctx.Err() != nil {
			return
		}
		var nm errNotManager
		switch {
		case errors.As(err, &nm):
			s.noteNotManager(current, nm)
		case s.up:
			log.Warningf("Lost swarm manager %s: %v; serving the last known swarm records", s.endpoints[current], err)
			s.setUp(false)
			failures = 0 // try every other manager before backing off
			if time.Since(began) > s.backoffMax {
				delay = s.backoffMin
			}
		case !s.downLogged:
			log.Errorf("Cannot follow the swarm through %s: %v; retrying", s.endpoints[current], err)
			s.downLogged = true
		default:
			log.Debugf("Swarm manager %s still unusable: %v", s.endpoints[current], err)
		}
		if s.connected {
			reason = "reconnect"
		}
		current = (current + 1) % len(s.engines)
		failures++
		if failures < len(s.engines) {
			continue // the next manager, at once
		}
		failures = 0
		// Every endpoint failed or is no manager: known down, which must
		// not keep the plugin unready.
		s.synced.Store(true)
		wait := jitter(delay)
		if len(s.notManager) == len(s.engines) {
			wait = s.recheck // nothing is broken: no manager to follow
			s.withdrawAll()
		} else {
			delay = min(2*delay, s.backoffMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// noteNotManager logs once per endpoint and state that the swarm is not
// served from it.
func (s *SwarmSource) noteNotManager(i int, err errNotManager) {
	if prev, ok := s.notManager[i]; !ok || prev != err.state {
		// An engine in no swarm is the common case: not worth a line.
		logf := log.Infof
		if err.state == string(swarm.LocalNodeStateInactive) {
			logf = log.Debugf
		}
		logf("Docker at %s is %v: its swarm services are not served from it (its containers are, as usual)", s.endpoints[i], err)
	}
	s.notManager[i] = err.state
	if s.up {
		s.setUp(false)
	}
}

// withdrawAll drops every swarm record once no endpoint is a manager: the
// engines answer but left the swarm or were demoted, so the last records
// can only grow stale (a manager that does not answer keeps them).
func (s *SwarmSource) withdrawAll() {
	if len(s.served) == 0 {
		return
	}
	log.Warningf("No endpoint of the swarm followed through %s is a manager any more: withdrawing its %d services and %d tasks",
		s.endpoints[0], len(s.state.services), len(s.state.tasks))
	s.sink.Replace(nil)
	s.served = make(map[string]index.Host)
	s.state.init()
	s.updateGauges()
	s.cfg.Tasks.set(false)
}

func (s *SwarmSource) setUp(up bool) {
	s.up = up
	v := 0.0
	if up {
		v = 1
	}
	s.setGauges(func(m swarmMetrics) { m.up.Set(v) })
}

// session follows the swarm through engine i until it fails: subscribe,
// full sync, then events, polls and resyncs.
func (s *SwarmSource) session(ctx context.Context, i int, reason string) error {
	e := s.engines[i]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	infoCtx, infoCancel := context.WithTimeout(ctx, pingTimeout)
	info, err := e.Info(infoCtx, client.InfoOptions{})
	infoCancel()
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if sw := info.Info.Swarm; sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable {
		return errNotManager{state: string(sw.LocalNodeState)}
	}
	delete(s.notManager, i)

	var work swarmWork
	work.init()
	streamErr, unsubscribe := subscribe(ctx, e.Events, swarmEventFilters(),
		func(ev events.Message) { s.note(ev, &work) })
	defer unsubscribe()

	if err := s.fullSync(ctx, e, reason); err != nil {
		if isNotManager(err) {
			return errNotManager{state: "active"}
		}
		return err
	}
	verb := "Following"
	if s.connected {
		verb = "Following again"
	}
	log.Infof("%s the swarm through %s: %d services, %d running tasks, %d nodes",
		verb, s.endpoints[i], len(s.state.services), len(s.state.tasks), len(s.state.nodes))
	s.connected, s.downLogged = true, false
	s.setUp(true)

	statusPoll := time.NewTicker(s.cfg.Poll)
	defer statusPoll.Stop()
	fullPoll := time.NewTimer(s.fullPollPeriod)
	defer fullPoll.Stop()
	var burstUntil time.Time // full polls come fast until then, after a node event
	var resync <-chan time.Time
	if s.cfg.Resync > 0 {
		t := time.NewTicker(s.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	watch := time.NewTicker(s.watchPeriod)
	defer watch.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err = <-streamErr:
		case <-work.wake:
			var nodes bool
			nodes, err = s.applyWork(ctx, e, &work)
			if nodes {
				// A drained or failed node's tasks get a new desired state
				// with no event and, while they drain, no change in the
				// running counts: poll them all, a few times.
				burstUntil = time.Now().Add(nodeBurstWindow)
				fullPoll.Reset(0)
			}
		case <-statusPoll.C:
			err = s.pollStatus(ctx, e)
		case <-fullPoll.C:
			err = s.pollAllTasks(ctx, e)
			next := s.fullPollPeriod
			if time.Now().Before(burstUntil) {
				next = min(next, nodeBurstPeriod)
			}
			fullPoll.Reset(next)
		case <-watch.C:
			err = s.pollWatched(ctx, e)
		case <-resync:
			err = s.fullSync(ctx, e, "periodic")
		}
		if err != nil {
			if isNotManager(err) {
				return errNotManager{state: "active"}
			}
			return err
		}
	}
}

// isNotManager recognises a manager demoted under us: Docker answers 503
// "This node is not a swarm manager".
func isNotManager(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not a swarm manager")
}

// swarmEventFilters: service and node events (managers only) and the
// container events that start and stop tasks on this node.
func swarmEventFilters() client.Filters {
	return make(client.Filters).
		Add("type", string(events.ServiceEventType), string(events.NodeEventType), string(events.ContainerEventType)).
		Add("event", "create", "update", "remove", "start", "die", "kill", "stop")
}

// swarmWork is what events asked for and the session has not done yet. The
// stream reader never waits on the session (the engine drops subscribers
// that lag).
type swarmWork struct {
	mu       sync.Mutex
	services map[string]struct{} // to re-read, with their tasks
	tasks    map[string]string   // task ID -> service ID, to inspect
	nodes    bool                // to re-list
	wake     chan struct{}
}

func (w *swarmWork) init() {
	w.services = make(map[string]struct{})
	w.tasks = make(map[string]string)
	w.wake = make(chan struct{}, 1)
}

func (w *swarmWork) add(f func(w *swarmWork)) {
	w.mu.Lock()
	f(w)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns the pending work and leaves none.
func (w *swarmWork) take() (services map[string]struct{}, tasks map[string]string, nodes bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	services, tasks, nodes = w.services, w.tasks, w.nodes
	w.services, w.tasks, w.nodes = make(map[string]struct{}), make(map[string]string), false
	return services, tasks, nodes
}

// note turns one event into work.
func (s *SwarmSource) note(ev events.Message, work *swarmWork) {
	switch ev.Type {
	case events.ServiceEventType:
		s.metrics.event("service")
		if ev.Actor.ID != "" {
			work.add(func(w *swarmWork) { w.services[ev.Actor.ID] = struct{}{} })
		}
	case events.NodeEventType:
		s.metrics.event("node")
		work.add(func(w *swarmWork) { w.nodes = true })
	case events.ContainerEventType:
		task := ev.Actor.Attributes[labelSwarmTaskID]
		if task == "" || ev.Action == events.ActionCreate {
			return
		}
		s.metrics.event("container")
		work.add(func(w *swarmWork) { w.tasks[task] = ev.Actor.Attributes[labelSwarmServiceID] })
	}
}

// applyWork does what events asked for: nodes first (ports depend on
// them), then services with their tasks, then single tasks. It reports
// whether nodes changed.
func (s *SwarmSource) applyWork(ctx context.Context, e swarmEngine, work *swarmWork) (nodes bool, err error) {
	services, tasks, nodes := work.take()
	if nodes {
		if err := s.listNodes(ctx, e); err != nil {
			return nodes, err
		}
	}
	now := time.Now()
	for id := range services {
		if err := s.refreshService(ctx, e, id); err != nil {
			return nodes, err
		}
		s.watch(id, now)
	}
	for id, service := range tasks {
		if err := s.inspectTask(ctx, e, id); err != nil {
			return nodes, err
		}
		// The task's status reaches the manager a little after its
		// container event: watch the service until it has.
		if service != "" {
			s.watch(service, now)
		}
	}
	s.flush()
	return nodes, nil
}

// refreshService re-reads one service (gone: removed with its tasks) and
// its running tasks.
func (s *SwarmSource) refreshService(ctx context.Context, e swarmEngine, id string) error {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.ServiceList(reqCtx, client.ServiceListOptions{Filters: make(client.Filters).Add("id", id)})
	cancel()
	if err != nil {
		return fmt.Errorf("list service %s: %w", id, err)
	}
	found := false
	for _, svc := range res.Items {
		if svc.ID != id { // the id filter matches prefixes
			continue
		}
		found = true
		if err := s.ensureNetworks(ctx, e, svc); err != nil {
			return err
		}
		s.setService(svc)
	}
	if !found {
		s.removeService(id)
		delete(s.watched, id)
		return nil
	}
	return s.pollTasks(ctx, e, id)
}

// inspectTask applies one task as the manager has it now.
func (s *SwarmSource) inspectTask(ctx context.Context, e swarmEngine, id string) error {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.TaskInspect(reqCtx, id, client.TaskInspectOptions{})
	cancel()
	switch {
	case errdefs.IsNotFound(err):
		s.removeTask(id)
	case err != nil:
		return fmt.Errorf("inspect task %s: %w", id, err)
	case serves(res.Task):
		if _, known := s.state.services[res.Task.ServiceID]; known {
			s.setTask(res.Task)
		}
	default:
		s.removeTask(id)
	}
	return nil
}

// serviceWatch is the fast poll of one service after an event.
type serviceWatch struct {
	until time.Time // end of the watch
	next  time.Time // next poll
}

// watchCost bounds a watched service's polls to about 5 % of the time: a
// service of a thousand tasks (25 ms to decode) is polled every 500 ms
// rather than every 200 ms.
const watchCost = 20

// watch (re)starts the fast poll of service.
func (s *SwarmSource) watch(service string, now time.Time) {
	w := s.watched[service]
	w.until = now.Add(s.watchWindow)
	s.watched[service] = w
}

// pollWatched polls the tasks of the services changed lately, each at a
// period its poll's cost allows.
func (s *SwarmSource) pollWatched(ctx context.Context, e swarmEngine) error {
	for id, w := range s.watched {
		now := time.Now()
		switch {
		case now.After(w.until):
			delete(s.watched, id)
			continue
		case now.Before(w.next):
			continue
		}
		if err := s.pollTasks(ctx, e, id); err != nil {
			return err
		}
		if w, ok := s.watched[id]; ok { // not removed by the poll
			w.next = now.Add(watchCost * time.Since(now))
			s.watched[id] = w
		}
	}
	return nil
}

// pollTasks lists the tasks meant to run, of one service or (service "")
// of the whole swarm, and applies the difference with what is served:
// tasks that left first, so that an address that went to a new task is
// never answered for the old one.
func (s *SwarmSource) pollTasks(ctx context.Context, e swarmEngine, service string) error {
	filters := make(client.Filters).Add("desired-state", "running")
	if service != "" {
		filters.Add("service", service)
		s.metrics.pollsService.Inc()
	} else {
		s.metrics.pollsAll.Inc()
	}
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.TaskList(reqCtx, client.TaskListOptions{Filters: filters})
	cancel()
	if service != "" && errdefs.IsNotFound(err) {
		// Removed since we looked: its tasks go with it.
		s.removeService(service)
		delete(s.watched, service)
		s.flush()
		return nil
	}
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	unknownService := false
	for i := range res.Items {
		id := res.Items[i].ServiceID
		_, known := s.state.services[id]
		_, excluded := s.state.excluded[id]
		if !known && !excluded && serves(res.Items[i]) {
			unknownService = true
			break
		}
	}
	if unknownService && service == "" {
		// A service created since the last look whose event is still on
		// its way, or was missed: read the services again.
		if err := s.listServices(ctx, e); err != nil {
			return err
		}
	}
	s.applyTasks(res.Items, service)
	s.flush()
	return nil
}

// fullSync lists nodes, networks, services and tasks and replaces the
// sink's view: what vanished while we were away disappears.
func (s *SwarmSource) fullSync(ctx context.Context, e swarmEngine, reason string) error {
	// Built apart and swapped in whole: one Replace, and nothing of the
	// old state (a task that vanished while we were away) survives.
	fresh := &SwarmSource{cfg: s.cfg, metrics: s.metrics, reported: s.reported, served: make(map[string]index.Host)}
	fresh.state.init()
	fresh.state.before = s.state.tasks
	if err := fresh.listNodes(ctx, e); err != nil {
		return err
	}
	if err := fresh.listNetworks(ctx, e); err != nil {
		return err
	}
	if err := fresh.listServices(ctx, e); err != nil {
		return err
	}
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.TaskList(reqCtx, client.TaskListOptions{Filters: make(client.Filters).Add("desired-state", "running")})
	cancel()
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	s.metrics.pollsAll.Inc()
	fresh.applyTasks(res.Items, "")
	fresh.flush() // into fresh.served only: fresh has no sink

	hosts := make([]index.Host, 0, len(fresh.served))
	for _, h := range fresh.served {
		hosts = append(hosts, h)
	}
	s.sink.Replace(hosts)
	s.state, s.served = fresh.state, fresh.served
	s.state.before = nil
	s.cfg.Tasks.set(true)
	s.updateGauges()
	s.metrics.resync(reason)
	s.synced.Store(true)
	return nil
}

func (s *SwarmSource) listNodes(ctx context.Context, e swarmEngine) error {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.NodeList(reqCtx, client.NodeListOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	s.setNodes(res.Items)
	return nil
}

func (s *SwarmSource) listNetworks(ctx context.Context, e swarmEngine) error {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.NetworkList(reqCtx, client.NetworkListOptions{Filters: make(client.Filters).Add("scope", "swarm")})
	cancel()
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	s.state.networks = make(map[string]swarmNetwork, len(res.Items))
	for _, n := range res.Items {
		s.state.networks[n.ID] = swarmNetwork{name: n.Name, ingress: n.Ingress}
	}
	return nil
}

// ensureNetworks re-lists networks when svc has a VIP on one not seen yet.
func (s *SwarmSource) ensureNetworks(ctx context.Context, e swarmEngine, svc swarm.Service) error {
	for _, vip := range svc.Endpoint.VirtualIPs {
		if _, ok := s.state.networks[vip.NetworkID]; !ok {
			return s.listNetworks(ctx, e)
		}
	}
	return nil
}

func (s *SwarmSource) listServices(ctx context.Context, e swarmEngine) error {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.ServiceList(reqCtx, client.ServiceListOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	return s.setServices(ctx, e, res.Items, nil)
}

// setServices makes items the swarm's services; each service whose running
// count differs from the tasks served (known with a status list) is handed
// to stale.
func (s *SwarmSource) setServices(ctx context.Context, e swarmEngine, items []swarm.Service, stale func(id string) error) error {
	present := make(map[string]struct{}, len(items))
	for _, svc := range items {
		present[svc.ID] = struct{}{}
		if err := s.ensureNetworks(ctx, e, svc); err != nil {
			return err
		}
		s.setService(svc)
		if _, excluded := s.state.excluded[svc.ID]; excluded {
			continue // its tasks are not served: its count says nothing
		}
		if stale != nil && svc.ServiceStatus != nil && svc.ServiceStatus.RunningTasks != uint64(len(s.state.byService[svc.ID])) {
			if err := stale(svc.ID); err != nil {
				return err
			}
		}
	}
	for id := range s.state.services {
		if _, ok := present[id]; !ok {
			s.removeService(id)
		}
	}
	for id := range s.state.excluded {
		if _, ok := present[id]; !ok {
			delete(s.state.excluded, id)
		}
	}
	return nil
}

// pollStatus reads every service with its running task count: a service
// changed without our noticing is re-read, and one whose count differs
// from the tasks served has its tasks polled.
func (s *SwarmSource) pollStatus(ctx context.Context, e swarmEngine) error {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	res, err := e.ServiceList(reqCtx, client.ServiceListOptions{Status: true})
	cancel()
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	s.metrics.pollsStatus.Inc()
	err = s.setServices(ctx, e, res.Items, func(id string) error { return s.pollTasks(ctx, e, id) })
	s.flush()
	return err
}

// pollAllTasks polls every running task and sets the next full poll's
// period from what this one cost.
func (s *SwarmSource) pollAllTasks(ctx context.Context, e swarmEngine) error {
	began := time.Now()
	err := s.pollTasks(ctx, e, "")
	s.fullPollPeriod = max(s.cfg.Poll, fullPollCost*time.Since(began))
	return err
}
