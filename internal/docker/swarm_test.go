package docker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Polls in these tests: "often" where a test relies on the poll, "never"
// where it shows that an event alone is enough.
const (
	pollOften = 5 * time.Millisecond
	pollNever = time.Hour
)

// twoNodeSwarm is a swarm of two ready, active nodes with one overlay
// network "appnet" (10.0.1.0/24) and the ingress network.
func twoNodeSwarm() *fakeSwarm {
	sw := newFakeSwarm()
	sw.setNode(fakeNode("n1", "node1", "192.0.2.11"))
	sw.setNode(fakeNode("n2", "Node2", "192.0.2.12"))
	sw.setNetwork("net-appnet", "appnet", "10.0.1.0/24", false)
	sw.setNetwork("net-ingress", "ingress", "10.0.0.0/24", true)
	return sw
}

var ingressPort = swarm.PortConfig{Protocol: network.TCP, TargetPort: 80, PublishedPort: 18080, PublishMode: swarm.PortConfigPublishModeIngress}

// webService is a vip-mode service on appnet publishing 80 as 18080 through
// the routing mesh.
func webService() svcSpec {
	return svcSpec{
		id: "s-web", name: "web", networks: []string{"net-appnet"},
		vips:  map[string]string{"net-appnet": "10.0.1.2/24", "net-ingress": "10.0.0.3/24"},
		ports: []swarm.PortConfig{ingressPort},
	}
}

func webTask(id string, slot int, node, addr string) taskSpec {
	return taskSpec{id: id, service: "s-web", slot: slot, node: node,
		addrs: map[string]string{"appnet": addr + "/24", "ingress": "10.0.0.9/24"}}
}

// wantHost checks what the sink has for want.ID, but for the scope of the
// addresses (the engine, which each test names for itself).
func wantHost(t *testing.T, sink *recordingSink, want index.Host) {
	t.Helper()
	got, ok := sink.host(want.ID)
	if !ok {
		t.Fatalf("host %s not served", want.ID)
	}
	got.Addrs = slices.Clone(got.Addrs)
	for i := range got.Addrs {
		got.Addrs[i].Scope = ""
	}
	if !got.Equal(want) {
		t.Fatalf("host %s:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

func appnet(ip string) index.Addr {
	return index.Addr{IP: netip.MustParseAddr(ip), Network: "appnet", Subnet: netip.MustParsePrefix("10.0.1.0/24")}
}

func TestSwarmServesServicesTasksAndNodes(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	sw.setTask(webTask("t2", 2, "n2", "10.0.1.6").build())
	_, sink := runningSwarm(t, pollNever, newFakeManager(sw))

	// The VIP of the service's own network; the routing mesh's is useless
	// to clients and Docker's DNS does not give it either.
	wantHost(t, sink, index.Host{
		ID: "service/s-web", Names: []string{"web"}, Addrs: []index.Addr{appnet("10.0.1.2")},
		Services: []index.Service{
			{Name: "80", Proto: "tcp", Port: 18080, Target: "node1"},
			{Name: "80", Proto: "tcp", Port: 18080, Target: "node2"},
		},
		// Outside the swarm's engine: the nodes, which route the port.
		Published: []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")},
	})
	wantHost(t, sink, index.Host{
		ID: "task/t1", Names: []string{"web.1.t1", "tasks.web"}, ReverseNames: []string{"web.1.t1"},
		Addrs: []index.Addr{appnet("10.0.1.5")},
	})
	wantHost(t, sink, index.Host{
		ID: "task/t2", Names: []string{"web.2.t2", "tasks.web"}, ReverseNames: []string{"web.2.t2"},
		Addrs: []index.Addr{appnet("10.0.1.6")},
	})
	wantHost(t, sink, index.Host{
		ID: "node/n2", Names: []string{"node2"}, ReverseNames: []string{"node2"},
		Addrs: []index.Addr{{IP: netip.MustParseAddr("192.0.2.12")}},
	})
}

func TestSwarmDNSRRServiceNameAnswersTasks(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.dnsrr, spec.vips, spec.ports = true, nil, nil
	sw.setService(spec.build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	sw.setTask(webTask("t2", 2, "n2", "10.0.1.6").build())
	_, sink := runningSwarm(t, pollNever, newFakeManager(sw))

	wantHost(t, sink, index.Host{ID: "service/s-web", Names: []string{"web"}})
	if got, want := sink.owners("web"), []string{"service/s-web", "task/t1", "task/t2"}; !slices.Equal(got, want) {
		t.Errorf("web is served by %v, want %v", got, want)
	}
	if got := sink.owners("tasks.web"); len(got) != 2 {
		t.Errorf("tasks.web is served by %v, want both tasks", got)
	}
}

func TestSwarmStackShortNameAndAliases(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(svcSpec{
		id: "s-shop", name: "shop_web", networks: []string{"net-appnet"}, aliases: []string{"web", "Front"},
		labels: map[string]string{labelStackNamespace: "shop"},
		vips:   map[string]string{"net-appnet": "10.0.1.2/24"},
	}.build())
	sw.setTask(taskSpec{id: "t1", service: "s-shop", slot: 3, node: "n1", addrs: map[string]string{"appnet": "10.0.1.5/24"}}.build())
	_, sink := runningSwarm(t, pollNever, newFakeManager(sw))

	wantHost(t, sink, index.Host{ID: "service/s-shop", Names: []string{"shop_web", "web.shop"},
		Addrs: []index.Addr{appnet("10.0.1.2")}})
	wantHost(t, sink, index.Host{ID: "task/t1",
		Names:        []string{"shop_web.3.t1", "tasks.shop_web", "tasks.web.shop"},
		ReverseNames: []string{"shop_web.3.t1"}, Addrs: []index.Addr{appnet("10.0.1.5")}})
	// The aliases, on their network only.
	here := func(ip string) index.Addr { a := appnet(ip); a.Names = index.NamesHere; return a }
	wantHost(t, sink, index.Host{ID: "service/s-shop/alias1", Names: []string{"web", "front"},
		Addrs: []index.Addr{here("10.0.1.2")}})
	wantHost(t, sink, index.Host{ID: "task/t1/alias1", Names: []string{"tasks.web", "tasks.front"},
		Addrs: []index.Addr{here("10.0.1.5")}})
}

// TestSwarmAliasesPerNetwork: an alias given on one network of two holds
// the service's addresses on both, marked, so that a client on the other
// one is told apart; an alias dropped by an update goes with its hosts.
func TestSwarmAliasesPerNetwork(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setNetwork("net-backnet", "backnet", "10.0.2.0/24", false)
	spec := svcSpec{id: "s-api", name: "api", networks: []string{"net-appnet", "net-backnet"},
		vips: map[string]string{"net-appnet": "10.0.1.2/24", "net-backnet": "10.0.2.2/24"}}
	svc := spec.build()
	svc.Spec.TaskTemplate.Networks[1].Aliases = []string{"db"}
	sw.setService(svc)
	sw.setTask(taskSpec{id: "t1", service: "s-api", slot: 1, node: "n1",
		addrs: map[string]string{"appnet": "10.0.1.5/24", "backnet": "10.0.2.5/24"}}.build())
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollOften, m)

	mark := func(a index.Addr, names index.NetworkNames) index.Addr { a.Names = names; return a }
	back := func(ip string) index.Addr {
		return index.Addr{IP: netip.MustParseAddr(ip), Network: "backnet", Subnet: netip.MustParsePrefix("10.0.2.0/24")}
	}
	wantHost(t, sink, index.Host{ID: "service/s-api/alias1", Names: []string{"db"},
		Addrs: []index.Addr{mark(appnet("10.0.1.2"), index.NamesElsewhere), mark(back("10.0.2.2"), index.NamesHere)}})
	wantHost(t, sink, index.Host{ID: "task/t1/alias1", Names: []string{"tasks.db"},
		Addrs: []index.Addr{mark(appnet("10.0.1.5"), index.NamesElsewhere), mark(back("10.0.2.5"), index.NamesHere)}})

	svc.Spec.TaskTemplate.Networks[1].Aliases = nil
	svc.Version.Index++
	sw.setService(svc)
	m.emit(t, events.ServiceEventType, "update", "s-api", nil)
	await.True(t, waitLimit, "alias hosts withdrawn", func() bool {
		_, svcAlias := sink.host("service/s-api/alias1")
		_, taskAlias := sink.host("task/t1/alias1")
		return !svcAlias && !taskAlias
	})
}

func TestSwarmHostPortsOnTheTasksNodeOnce(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.ports = []swarm.PortConfig{{Protocol: network.TCP, TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}
	sw.setService(spec.build())
	t1, t2, t3 := webTask("t1", 1, "n1", "10.0.1.5"), webTask("t2", 2, "n1", "10.0.1.6"), webTask("t3", 3, "n2", "10.0.1.7")
	t1.hostPorts, t2.hostPorts, t3.hostPorts = []uint32{30001}, []uint32{30002}, []uint32{30001}
	for _, ts := range []taskSpec{t1, t2, t3} {
		sw.setTask(ts.build())
	}
	_, sink := runningSwarm(t, pollNever, newFakeManager(sw))

	h, _ := sink.host("service/s-web")
	want := []index.Service{
		{Name: "8080", Proto: "tcp", Port: 30001, Target: "node1"},
		{Name: "8080", Proto: "tcp", Port: 30002, Target: "node1"},
		{Name: "8080", Proto: "tcp", Port: 30001, Target: "node2"},
	}
	if !slices.Equal(h.Services, want) {
		t.Errorf("SRV of web:\n got %+v\nwant %+v (each host port once, though Docker lists it twice)", h.Services, want)
	}
}

func TestSwarmDrainedOrDownNodeOffersNoPorts(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.ports = append(spec.ports, swarm.PortConfig{Protocol: network.UDP, TargetPort: 53, PublishMode: swarm.PortConfigPublishModeHost})
	sw.setService(spec.build())
	task := webTask("t2", 2, "n2", "10.0.1.6")
	sw.setTask(task.build())
	sw.updateTask("t2", func(t *swarm.Task) {
		t.Status.PortStatus.Ports = []swarm.PortConfig{{Protocol: network.UDP, TargetPort: 53, PublishedPort: 30053, PublishMode: swarm.PortConfigPublishModeHost}}
	})
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollNever, m)
	srvTargets := func() []string {
		h, _ := sink.host("service/s-web")
		var out []string
		for _, s := range h.Services {
			out = append(out, s.Name+"/"+s.Proto+"@"+s.Target)
		}
		return out
	}
	if got, want := srvTargets(), []string{"80/tcp@node1", "80/tcp@node2", "53/udp@node2"}; !slices.Equal(got, want) {
		t.Fatalf("SRV before drain: %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name   string
		change func(*swarm.Node)
	}{
		{"drained", func(n *swarm.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain }},
		{"down", func(n *swarm.Node) { n.Status.State = swarm.NodeStateDown }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := fakeNode("n2", "Node2", "192.0.2.12")
			tc.change(&n)
			sw.setNode(n)
			m.emit(t, events.NodeEventType, "update", "n2", nil)
			await.True(t, waitLimit, "node2's ports withdrawn", func() bool { return slices.Equal(srvTargets(), []string{"80/tcp@node1"}) })
			if _, ok := sink.host("node/n2"); !ok {
				t.Error("the node's own name must still answer")
			}

			sw.setNode(fakeNode("n2", "Node2", "192.0.2.12"))
			m.emit(t, events.NodeEventType, "update", "n2", nil)
			await.True(t, waitLimit, "node2's ports back", func() bool { return len(srvTargets()) == 3 })
		})
	}
}

func TestSwarmFollowsTasksMovingBetweenNodes(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.ports = []swarm.PortConfig{{Protocol: network.TCP, TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}
	sw.setService(spec.build())
	t1 := webTask("t1", 1, "n1", "10.0.1.5")
	t1.hostPorts = []uint32{30001}
	sw.setTask(t1.build())
	_, sink := runningSwarm(t, pollOften, newFakeManager(sw))

	// Node 1 fails: the orchestrator shuts t1 down and starts slot 1 again
	// on node 2, with no event a manager would send about tasks.
	sw.updateTask("t1", func(t *swarm.Task) { t.DesiredState = swarm.TaskStateShutdown })
	moved := webTask("t9", 1, "n2", "10.0.1.8")
	moved.hostPorts = []uint32{30007}
	sw.setTask(moved.build())

	await.True(t, waitLimit, "the task on node 2 served, the one on node 1 gone", func() bool {
		_, old := sink.host("task/t1")
		h, _ := sink.host("service/s-web")
		return !old && slices.Equal(h.Services, []index.Service{{Name: "8080", Proto: "tcp", Port: 30007, Target: "node2"}}) &&
			slices.Equal(h.Published, []netip.Addr{netip.MustParseAddr("192.0.2.12")})
	})
	// Outside the swarm's engine, the task is reached on its node.
	wantHost(t, sink, index.Host{ID: "task/t9", Names: []string{"web.1.t9", "tasks.web"}, ReverseNames: []string{"web.1.t9"},
		Addrs: []index.Addr{appnet("10.0.1.8")}, Published: []netip.Addr{netip.MustParseAddr("192.0.2.12")}})
}

func TestSwarmDropsTaskAtOnceWhenItsDesiredStateChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		emit func(t *testing.T, m *fakeManager)
	}{
		// A task on the manager's node: its container's kill event.
		{"container event", func(t *testing.T, m *fakeManager) {
			m.emit(t, events.ContainerEventType, events.ActionKill, "c1",
				map[string]string{labelSwarmTaskID: "t1", labelSwarmServiceID: "s-web"})
		}},
		// Anywhere: the service update that scales it down.
		{"service event", func(t *testing.T, m *fakeManager) {
			m.emit(t, events.ServiceEventType, "update", "s-web", map[string]string{"name": "web"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := twoNodeSwarm()
			sw.setService(webService().build())
			sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
			sw.setTask(webTask("t2", 2, "n1", "10.0.1.6").build())
			m := newFakeManager(sw)
			_, sink := runningSwarm(t, pollNever, m)

			// Still running, but no longer meant to: Docker's DNS has
			// already dropped it.
			sw.updateTask("t1", func(t *swarm.Task) { t.DesiredState = swarm.TaskStateShutdown })
			tc.emit(t, m)
			await.True(t, waitLimit, "t1 withdrawn without a poll", func() bool {
				_, ok := sink.host("task/t1")
				return !ok
			})
			if _, ok := sink.host("task/t2"); !ok {
				t.Error("t2 was withdrawn too")
			}
		})
	}
}

func TestSwarmServesNewTaskFromServiceEvent(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollNever, m)

	// Scaled up: the service event comes first, the task runs a little
	// later; the service's fast poll picks it up.
	m.emit(t, events.ServiceEventType, "update", "s-web", nil)
	starting := webTask("t1", 1, "n2", "10.0.1.5")
	starting.state = swarm.TaskStateStarting
	sw.setTask(starting.build())
	sw.updateTask("t1", func(t *swarm.Task) { t.Status.State = swarm.TaskStateRunning })
	await.True(t, waitLimit, "t1 served", func() bool {
		_, ok := sink.host("task/t1")
		return ok
	})
}

func TestSwarmNeverServesAnAddressTwice(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	other := webService()
	other.id, other.name, other.vips, other.ports = "s-api", "api", nil, nil
	sw.setService(other.build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollNever, m)

	// t1 leaves and its address goes to a task of another service; the
	// container event of the new task arrives before anything about t1.
	sw.removeTask("t1")
	newcomer := taskSpec{id: "t7", service: "s-api", slot: 1, node: "n1", addrs: map[string]string{"appnet": "10.0.1.5/24"}}
	sw.setTask(newcomer.build())
	m.emit(t, events.ContainerEventType, events.ActionStart, "c7",
		map[string]string{labelSwarmTaskID: "t7", labelSwarmServiceID: "s-api"})
	await.True(t, waitLimit, "t7 served", func() bool {
		_, ok := sink.host("task/t7")
		return ok
	})
	if got := sink.ipOwners("10.0.1.5"); !slices.Equal(got, []string{"task/t7"}) {
		t.Errorf("10.0.1.5 is served for %v, want only the task holding it now", got)
	}
}

func TestSwarmUsesAnotherManagerWhenOneIsLost(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m1, m2 := newFakeManager(sw), newFakeManager(sw)
	s, sink := runningSwarm(t, pollOften, m1, m2)
	if m2.count("info") != 0 {
		t.Fatal("the second manager was used while the first one worked")
	}

	// The first manager goes away; meanwhile the swarm moves on.
	m1.setDown(errEngineDown)
	sw.setTask(webTask("t2", 2, "n2", "10.0.1.6").build())
	sw.removeTask("t1")
	await.True(t, waitLimit, "followed through the second manager", func() bool {
		_, t1 := sink.host("task/t1")
		_, t2 := sink.host("task/t2")
		return !t1 && t2
	})
	if _, ok := sink.host("service/s-web"); !ok {
		t.Error("service lost while switching managers")
	}
	if !s.Synced() {
		t.Error("not synced")
	}
	if got := testutil.ToFloat64(swarmUp.WithLabelValues(s.cfg.Engine)); got != 1 {
		t.Errorf("swarm_up = %v, want 1", got)
	}
}

func TestSwarmKeepsRecordsWhileNoManagerAnswers(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	s, sink := runningSwarm(t, pollOften, m)

	m.setDown(errEngineDown)
	attempts := m.count("info")
	await.True(t, waitLimit, "retries", func() bool { return m.count("info") >= attempts+3 })
	if _, ok := sink.host("task/t1"); !ok {
		t.Fatal("last known task dropped while the manager is away")
	}
	if got := testutil.ToFloat64(swarmUp.WithLabelValues(s.cfg.Engine)); got != 0 {
		t.Errorf("swarm_up = %v while down, want 0", got)
	}

	// Back, with t1 gone while we were away: the resync drops it.
	sw.removeTask("t1")
	m.setDown(nil)
	await.True(t, waitLimit, "resynced", func() bool {
		_, ok := sink.host("task/t1")
		return !ok
	})
}

func TestSwarmWorkerServesNothingAndIsSynced(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	m := newFakeManager(sw)
	m.setWorker(true)
	s, sink := runningSwarm(t, pollOften, m)
	if r, u, d := sink.counts(); r+u+d != 0 {
		t.Errorf("a worker's source changed the sink: %d replaces, %d upserts, %d deletes", r, u, d)
	}
	if m.count("tasks")+m.count("services") != 0 {
		t.Error("asked a worker for the swarm")
	}

	// Promoted: served from then on.
	m.setWorker(false)
	await.True(t, waitLimit, "served after promotion", func() bool {
		_, ok := sink.host("service/s-web")
		return ok
	})
	if !s.Synced() {
		t.Error("not synced")
	}
}

func TestSwarmSkipsInvalidNames(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setNode(fakeNode("n3", "bad host", "192.0.2.13"))
	spec := webService()
	spec.aliases = []string{"no spaces", "ok-alias"}
	sw.setService(spec.build())
	m := newFakeManager(sw)
	s, sink := runningSwarm(t, pollOften, m)

	wantHost(t, sink, index.Host{ID: "node/n3", Addrs: []index.Addr{{IP: netip.MustParseAddr("192.0.2.13")}}})
	h, _ := sink.host("service/s-web")
	alias, _ := sink.host("service/s-web/alias1")
	if !slices.Equal(h.Names, []string{"web"}) || !slices.Equal(alias.Names, []string{"ok-alias"}) {
		t.Errorf("names %v, alias names %v, want the valid ones", h.Names, alias.Names)
	}
	before := testutil.ToFloat64(swarmSkippedNamesTotal.WithLabelValues(s.cfg.Engine))
	if before != 2 {
		t.Errorf("skipped names = %v, want 2", before)
	}
	// Seen again by later syncs: counted once.
	m.emit(t, events.ServiceEventType, "update", "s-web", nil)
	m.emit(t, events.NodeEventType, "update", "n3", nil)
	sw.setService(spec.build())
	m.emit(t, events.ServiceEventType, "update", "s-web", nil)
	await.True(t, waitLimit, "polled", func() bool { return m.count("tasks") > 3 })
	if got := testutil.ToFloat64(swarmSkippedNamesTotal.WithLabelValues(s.cfg.Engine)); got != before {
		t.Errorf("skipped names counted again: %v", got)
	}
}

func TestSwarmServiceRemovedWithItsTasks(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollNever, m)

	sw.removeService("s-web")
	m.emit(t, events.ServiceEventType, "remove", "s-web", nil)
	await.True(t, waitLimit, "service and task withdrawn", func() bool {
		_, svc := sink.host("service/s-web")
		_, task := sink.host("task/t1")
		return !svc && !task
	})
}

func TestSwarmConfigErrors(t *testing.T) {
	if _, err := NewSwarm(SwarmConfig{Poll: -time.Second}, discardSink{}); err == nil {
		t.Error("negative poll accepted")
	}
	if _, err := NewSwarm(SwarmConfig{Endpoints: []Config{{Endpoint: "unix:///a"}, {Endpoint: "::bad::"}}}, discardSink{}); err == nil {
		t.Error("malformed endpoint accepted")
	}
	s, err := NewSwarm(SwarmConfig{Endpoints: []Config{{Endpoint: "unix:///a"}, {Endpoint: "tcp://m2:2376"}}}, discardSink{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.endpoints, []string{"unix:///a", "tcp://m2:2376"}) {
		t.Errorf("endpoints %v", s.endpoints)
	}
}

func TestSwarmWatchedServiceRemovedIsNoOutage(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollNever, m)

	// An update puts the service under watch; then it is removed and its
	// remove event is not applied yet: the watch's task list gets "not
	// found", which means the service is gone, not that the manager is.
	m.emit(t, events.ServiceEventType, "update", "s-web", nil)
	infos := m.count("info")
	sw.removeService("s-web")
	await.True(t, waitLimit, "service withdrawn", func() bool {
		_, ok := sink.host("service/s-web")
		return !ok
	})
	if m.count("info") != infos {
		t.Error("the session was restarted")
	}
}

func TestSwarmStatusPollFollowsTasksWithoutEvents(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	noFullPoll := func(s *SwarmSource) { s.fullPollPeriod = time.Hour }
	s, sink := startSwarmWith(t, pollOften, noFullPoll, m)
	await.True(t, waitLimit, "first sync", s.Synced)
	full := m.count("tasks of every service")

	// A task starts on another node, then another one fails there: no
	// event reaches the manager's stream; the running counts differ from
	// what is served, which polls that service's tasks.
	sw.setTask(webTask("t2", 2, "n2", "10.0.1.6").build())
	await.True(t, waitLimit, "t2 served", func() bool {
		_, ok := sink.host("task/t2")
		return ok
	})
	sw.updateTask("t1", func(t *swarm.Task) { t.Status.State = swarm.TaskStateFailed })
	await.True(t, waitLimit, "t1 withdrawn", func() bool {
		_, ok := sink.host("task/t1")
		return !ok
	})
	if got := m.count("tasks of every service"); got != full {
		t.Errorf("%d full polls; the status poll alone should have found both changes", got-full)
	}
}

func TestSwarmOverlayAddressesAreScopedToTheEngine(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	s, sink := runningSwarm(t, pollNever, newFakeManager(sw))
	for _, id := range []string{"service/s-web", "task/t1"} {
		h, _ := sink.host(id)
		for _, a := range h.Addrs {
			if a.Scope != s.cfg.Engine {
				t.Errorf("%s: address %s in scope %q, want the engine's, %q", id, a.IP, a.Scope, s.cfg.Engine)
			}
		}
	}
	if h, _ := sink.host("node/n1"); h.Addrs[0].Scope != "" {
		t.Errorf("a node's address is no overlay's: scope %q", h.Addrs[0].Scope)
	}
}

func TestSwarmServiceLabelsOptOutAndIn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		optIn  bool
		labels map[string]string
		served bool
	}{
		{"served by default", false, nil, true},
		{"opted out", false, map[string]string{keyEnable: "false"}, false},
		{"opt-in mode, unlabelled", true, nil, false},
		{"opt-in mode, opted in", true, map[string]string{keyEnable: "true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := twoNodeSwarm()
			spec := webService()
			spec.labels = tc.labels
			sw.setService(spec.build())
			sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
			optIn := func(s *SwarmSource) { s.cfg.OptIn = tc.optIn }
			s, sink := startSwarmWith(t, pollNever, optIn, newFakeManager(sw))
			await.True(t, waitLimit, "first sync", s.Synced)
			_, svc := sink.host("service/s-web")
			_, task := sink.host("task/t1")
			if svc != tc.served || task != tc.served {
				t.Errorf("service served %v, task served %v; want %v", svc, task, tc.served)
			}

		})
	}
}

func TestSwarmPollIgnoresTasksOfLeftOutServices(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.labels = map[string]string{keyEnable: "false"}
	sw.setService(spec.build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	s := newSwarmSource(SwarmConfig{Engine: "left-out"}, []swarmEngine{m}, newRecordingSink())
	ctx := context.Background()
	if err := s.fullSync(ctx, m, "startup"); err != nil {
		t.Fatal(err)
	}
	lists := m.count("services")
	if err := s.pollTasks(ctx, m, ""); err != nil {
		t.Fatal(err)
	}
	if got := m.count("services"); got != lists {
		t.Errorf("the poll listed the services again: a left-out service's task taken for a new service's")
	}
	polls := m.count("tasks")
	if err := s.pollStatus(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := m.count("tasks"); got != polls {
		t.Errorf("the status poll polled a left-out service's tasks: its count differs from the none served")
	}
}

func TestSwarmKnownDownCountsAsSynced(t *testing.T) {
	sw := twoNodeSwarm()
	m1, m2 := newFakeManager(sw), newFakeManager(sw)
	m1.setDown(errEngineDown)
	m2.setDown(errEngineDown)
	s, sink := startSwarm(t, pollNever, m1, m2)
	await.True(t, waitLimit, "synced once every manager failed", s.Synced)
	if r, u, d := sink.counts(); r+u+d != 0 {
		t.Error("served something with no manager")
	}
	if m1.count("info") == 0 || m2.count("info") == 0 {
		t.Error("not every manager was tried")
	}
}

func TestSwarmUpSurvivesAReloadOverlap(t *testing.T) {
	sw := twoNodeSwarm()
	engine := fmt.Sprintf("reload-%d", swarmSourcesStarted.Add(1))
	run := func() (*SwarmSource, context.CancelFunc, chan struct{}) {
		s := newSwarmSource(SwarmConfig{Engine: engine, Poll: pollNever}, []swarmEngine{newFakeManager(sw)}, newRecordingSink())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Run(ctx)
		}()
		await.True(t, waitLimit, "synced", s.Synced)
		return s, cancel, done
	}
	_, stopOld, oldDone := run()
	_, stopNew, newDone := run() // a reload starts the new instance first
	stopOld()
	<-oldDone
	if got := testutil.ToFloat64(swarmUp.WithLabelValues(engine)); got != 1 {
		t.Errorf("swarm_up = %v after the old instance stopped, want 1", got)
	}
	stopNew()
	<-newDone
	if got := testutil.ToFloat64(swarmUp.WithLabelValues(engine)); got != 0 {
		t.Errorf("swarm_up = %v after both stopped, want 0", got)
	}
}

func TestSwarmDrainedNodesTasksDroppedWithoutServiceEvents(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	sw.setTask(webTask("t2", 2, "n2", "10.0.1.6").build())
	m := newFakeManager(sw)
	noFullPoll := func(s *SwarmSource) { s.fullPollPeriod = time.Hour }
	s, sink := startSwarmWith(t, pollNever, noFullPoll, m)
	await.True(t, waitLimit, "first sync", s.Synced)

	// Node 2 drained: its task is no longer meant to run but still runs
	// (the running counts do not change); only the node event tells.
	n := fakeNode("n2", "Node2", "192.0.2.12")
	n.Spec.Availability = swarm.NodeAvailabilityDrain
	sw.setNode(n)
	sw.updateTask("t2", func(t *swarm.Task) { t.DesiredState = swarm.TaskStateShutdown })
	m.emit(t, events.NodeEventType, "update", "n2", nil)
	await.True(t, waitLimit, "t2 withdrawn", func() bool {
		_, ok := sink.host("task/t2")
		return !ok
	})
}

func TestSwarmWithdrawsRecordsWhenNoManagerIsLeft(t *testing.T) {
	sw := twoNodeSwarm()
	sw.setService(webService().build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	m := newFakeManager(sw)
	_, sink := runningSwarm(t, pollOften, m)

	// Demoted: the engine answers, the swarm cannot be followed; unlike a
	// manager that is away, nothing will bring the records up to date.
	m.setWorker(true)
	m.setDown(errEngineDown) // ends the session, as the demotion does
	m.setDown(nil)
	await.True(t, waitLimit, "swarm records withdrawn", func() bool {
		_, svc := sink.host("service/s-web")
		_, task := sink.host("task/t1")
		return !svc && !task
	})
}
