package docker

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// fakeSwarm is the state of one swarm, shared by its fake managers. Tests
// change it by hand; nothing happens on its own.
type fakeSwarm struct {
	mu       sync.Mutex
	version  uint64
	nodes    map[string]swarm.Node
	networks map[string]network.Summary
	services map[string]swarm.Service
	tasks    map[string]swarm.Task
}

func newFakeSwarm() *fakeSwarm {
	return &fakeSwarm{
		nodes:    make(map[string]swarm.Node),
		networks: make(map[string]network.Summary),
		services: make(map[string]swarm.Service),
		tasks:    make(map[string]swarm.Task),
	}
}

func (f *fakeSwarm) next() swarm.Meta {
	f.version++
	return swarm.Meta{Version: swarm.Version{Index: f.version}}
}

func (f *fakeSwarm) setNode(n swarm.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n.Meta = f.next()
	f.nodes[n.ID] = n
}

func (f *fakeSwarm) setNetwork(id, name, subnet string, ingress bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := network.Summary{}
	n.ID, n.Name, n.Ingress, n.Scope = id, name, ingress, "swarm"
	f.networks[id] = n
}

func (f *fakeSwarm) setService(s swarm.Service) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.Meta = f.next()
	f.services[s.ID] = s
}

func (f *fakeSwarm) removeService(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, id)
	for tid, t := range f.tasks {
		if t.ServiceID == id {
			delete(f.tasks, tid)
		}
	}
}

func (f *fakeSwarm) setTask(t swarm.Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Meta = f.next()
	f.tasks[t.ID] = t
}

// updateTask changes a task in place, as the manager does when its
// desired or current state moves on.
func (f *fakeSwarm) updateTask(id string, change func(*swarm.Task)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[id]
	change(&t)
	t.Meta = f.next()
	f.tasks[id] = t
}

func (f *fakeSwarm) removeTask(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tasks, id)
}

// fakeManager is one manager's API over a fakeSwarm.
type fakeManager struct {
	swarm *fakeSwarm

	mu         sync.Mutex
	down       error // every call fails with it while set
	worker     bool  // answers Info as a worker, and refuses swarm calls
	stream     *fakeStream
	subscribed chan struct{}
	calls      map[string]int
}

func newFakeManager(sw *fakeSwarm) *fakeManager {
	return &fakeManager{swarm: sw, subscribed: make(chan struct{}, 100), calls: make(map[string]int)}
}

var errNotSwarmManager = fmt.Errorf("Error response from daemon: This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")

// enter counts a call and says whether it fails, and how.
func (m *fakeManager) enter(call string, swarmCall bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[call]++
	if m.down != nil {
		return m.down
	}
	if swarmCall && m.worker {
		return errNotSwarmManager
	}
	return nil
}

func (m *fakeManager) count(call string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[call]
}

func (m *fakeManager) setDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = err
	if err != nil && m.stream != nil {
		m.stream.errs <- err
		m.stream = nil
	}
}

func (m *fakeManager) setWorker(worker bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.worker = worker
}

func (m *fakeManager) Info(ctx context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	if err := m.enter("info", false); err != nil {
		return client.SystemInfoResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var info system.Info
	info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
	info.Swarm.ControlAvailable = !m.worker
	return client.SystemInfoResult{Info: info}, nil
}

func (m *fakeManager) NodeList(ctx context.Context, _ client.NodeListOptions) (client.NodeListResult, error) {
	if err := m.enter("nodes", true); err != nil {
		return client.NodeListResult{}, err
	}
	f := m.swarm
	f.mu.Lock()
	defer f.mu.Unlock()
	return client.NodeListResult{Items: slices.Collect(maps.Values(f.nodes))}, nil
}

func (m *fakeManager) NetworkList(ctx context.Context, _ client.NetworkListOptions) (client.NetworkListResult, error) {
	if err := m.enter("networks", false); err != nil {
		return client.NetworkListResult{}, err
	}
	f := m.swarm
	f.mu.Lock()
	defer f.mu.Unlock()
	return client.NetworkListResult{Items: slices.Collect(maps.Values(f.networks))}, nil
}

func (m *fakeManager) ServiceList(ctx context.Context, opts client.ServiceListOptions) (client.ServiceListResult, error) {
	if err := m.enter("services", true); err != nil {
		return client.ServiceListResult{}, err
	}
	f := m.swarm
	f.mu.Lock()
	defer f.mu.Unlock()
	var res client.ServiceListResult
	for id, s := range f.services {
		if ids := opts.Filters["id"]; len(ids) > 0 && !ids[id] {
			continue
		}
		if opts.Status {
			// As swarmkit counts: running now, whatever the desired state
			// (a task being drained still counts).
			s.ServiceStatus = &swarm.ServiceStatus{}
			for _, t := range f.tasks {
				if t.ServiceID == s.ID && t.Status.State == swarm.TaskStateRunning {
					s.ServiceStatus.RunningTasks++
				}
			}
		}
		res.Items = append(res.Items, s)
	}
	return res, nil
}

func (m *fakeManager) TaskList(ctx context.Context, opts client.TaskListOptions) (client.TaskListResult, error) {
	if err := m.enter("tasks", true); err != nil {
		return client.TaskListResult{}, err
	}
	if len(opts.Filters["service"]) == 0 {
		_ = m.enter("tasks of every service", true)
	}
	f := m.swarm
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range opts.Filters["service"] {
		if _, ok := f.services[id]; !ok {
			return client.TaskListResult{}, fmt.Errorf("service %s not found: %w", id, errdefs.ErrNotFound)
		}
	}
	res := client.TaskListResult{Items: make([]swarm.Task, 0, len(f.tasks))}
	for _, t := range f.tasks {
		if want := opts.Filters["service"]; len(want) > 0 && !want[t.ServiceID] {
			continue
		}
		if want := opts.Filters["desired-state"]; len(want) > 0 && !want[string(t.DesiredState)] {
			continue
		}
		res.Items = append(res.Items, t)
	}
	return res, nil
}

func (m *fakeManager) TaskInspect(ctx context.Context, id string, _ client.TaskInspectOptions) (client.TaskInspectResult, error) {
	if err := m.enter("task", true); err != nil {
		return client.TaskInspectResult{}, err
	}
	f := m.swarm
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[id]
	if !ok {
		return client.TaskInspectResult{}, fmt.Errorf("no such task: %s: %w", id, errdefs.ErrNotFound)
	}
	return client.TaskInspectResult{Task: t}, nil
}

func (m *fakeManager) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	_ = m.enter("events", false)
	m.mu.Lock()
	defer m.mu.Unlock()
	st, res := openStream(ctx, m.down)
	if st != nil {
		m.stream = st
	}
	m.subscribed <- struct{}{}
	return res
}

func (m *fakeManager) Close() error { return nil }

// emit delivers an event and waits until the source has taken it.
func (m *fakeManager) emit(t *testing.T, typ events.Type, action events.Action, actor string, attrs map[string]string) {
	t.Helper()
	m.mu.Lock()
	st := m.stream
	m.mu.Unlock()
	if st == nil {
		t.Fatal("emit: no subscription")
	}
	st.deliver(t, events.Message{Type: typ, Action: action, Actor: events.Actor{ID: actor, Attributes: attrs}, TimeNano: time.Now().UnixNano()})
}

// deliver hands ev to the source reading the stream and waits until it has
// taken it.
func (st *fakeStream) deliver(t *testing.T, ev events.Message) {
	t.Helper()
	select {
	case st.msgs <- ev:
	case <-st.ctx.Done():
		t.Fatal("emit: subscription ended")
	case <-time.After(5 * time.Second):
		t.Fatal("emit: source does not read events")
	}
}

// Builders of API objects, with what a real manager fills in.

func fakeNode(id, hostname, addr string) swarm.Node {
	n := swarm.Node{ID: id}
	n.Description.Hostname = hostname
	n.Status = swarm.NodeStatus{State: swarm.NodeStateReady, Addr: addr}
	n.Spec.Availability = swarm.NodeAvailabilityActive
	n.Spec.Role = swarm.NodeRoleWorker
	return n
}

// svcSpec describes a service for the fake.
type svcSpec struct {
	id, name string
	dnsrr    bool
	vips     map[string]string // network ID -> VIP CIDR
	ports    []swarm.PortConfig
	labels   map[string]string
	aliases  []string
	networks []string
}

func (s svcSpec) build() swarm.Service {
	svc := swarm.Service{ID: s.id}
	svc.Spec.Name = s.name
	svc.Spec.Labels = s.labels
	mode := swarm.ResolutionModeVIP
	if s.dnsrr {
		mode = swarm.ResolutionModeDNSRR
	}
	svc.Spec.EndpointSpec = &swarm.EndpointSpec{Mode: mode, Ports: s.ports}
	svc.Endpoint.Spec = *svc.Spec.EndpointSpec
	svc.Endpoint.Ports = s.ports
	for _, nid := range s.networks {
		svc.Spec.TaskTemplate.Networks = append(svc.Spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: nid, Aliases: s.aliases})
	}
	for _, nid := range slices.Sorted(maps.Keys(s.vips)) {
		svc.Endpoint.VirtualIPs = append(svc.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: nid, Addr: netip.MustParsePrefix(s.vips[nid])})
	}
	return svc
}

// taskSpec describes a task for the fake: running and meant to run unless
// said otherwise.
type taskSpec struct {
	id, service string
	slot        int
	node        string
	addrs       map[string]string // network name -> CIDR
	hostPorts   []uint32          // published host ports of target 8080/tcp
	hostPortsV6 []uint32          // their IPv6 ports when they differ (else the same)
	state       swarm.TaskState   // default running
	desired     swarm.TaskState   // default running
	since       time.Time
}

func (s taskSpec) build() swarm.Task {
	t := swarm.Task{ID: s.id, ServiceID: s.service, Slot: s.slot, NodeID: s.node}
	t.DesiredState, t.Status.State = swarm.TaskStateRunning, swarm.TaskStateRunning
	if s.desired != "" {
		t.DesiredState = s.desired
	}
	if s.state != "" {
		t.Status.State = s.state
	}
	t.Status.Timestamp = s.since
	for _, name := range slices.Sorted(maps.Keys(s.addrs)) {
		att := swarm.NetworkAttachment{Addresses: []netip.Prefix{netip.MustParsePrefix(s.addrs[name])}}
		att.Network.ID = "net-" + name
		att.Network.Spec.Name = name
		att.Network.Spec.Ingress = name == "ingress"
		t.NetworksAttachments = append(t.NetworksAttachments, att)
	}
	for i, p := range s.hostPorts {
		// Docker lists each host port twice: IPv4, then IPv6, whose
		// random port may differ.
		pc := swarm.PortConfig{Protocol: network.TCP, TargetPort: 8080, PublishedPort: p, PublishMode: swarm.PortConfigPublishModeHost}
		v6 := pc
		if i < len(s.hostPortsV6) {
			v6.PublishedPort = s.hostPortsV6[i]
		}
		t.Status.PortStatus.Ports = append(t.Status.PortStatus.Ports, pc, v6)
	}
	return t
}

// runningSwarm starts a swarm source on managers, polling every poll, and
// waits for its first sync. It stops when the test ends.
func runningSwarm(t *testing.T, poll time.Duration, managers ...*fakeManager) (*SwarmSource, *recordingSink) {
	t.Helper()
	s, sink := startSwarm(t, poll, managers...)
	await.True(t, waitLimit, "first swarm sync", s.Synced)
	return s, sink
}

var swarmSourcesStarted atomic.Int64

func startSwarm(t *testing.T, poll time.Duration, managers ...*fakeManager) (*SwarmSource, *recordingSink) {
	t.Helper()
	return startSwarmWith(t, poll, func(*SwarmSource) {}, managers...)
}

// startSwarmWith is startSwarm with the source adjusted by configure
// before it runs.
func startSwarmWith(t *testing.T, poll time.Duration, configure func(*SwarmSource), managers ...*fakeManager) (*SwarmSource, *recordingSink) {
	t.Helper()
	sink := newRecordingSink()
	engines := make([]swarmEngine, len(managers))
	for i, m := range managers {
		engines[i] = m
	}
	// An engine label of its own: metrics start from zero with -count=N too.
	engine := fmt.Sprintf("test-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), swarmSourcesStarted.Add(1))
	s := newSwarmSource(SwarmConfig{Engine: engine, Poll: poll}, engines, sink)
	s.backoffMin, s.backoffMax = time.Millisecond, 10*time.Millisecond
	s.recheck = 20 * time.Millisecond
	s.watchPeriod = 5 * time.Millisecond
	configure(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return s, sink
}
