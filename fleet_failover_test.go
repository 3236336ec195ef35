//go:build linux

package dockerhosts

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/fleet"
)

// testManagerFailover: the dockerd of the manager the resolver uses (the
// first, the swarm's leader) is SIGKILLed. The resolver keeps the last
// records while no manager answers, follows a scale done through a
// surviving manager once a new leader is elected, keeps the host-mode
// ports of the tasks the new leader re-records without them
// (keepHostPorts), and nothing flaps when the killed machine's dockerd
// comes back.
func (l *fleetLab) testManagerFailover(t *testing.T) {
	m1, m2 := l.Machines[0].For(t), l.Machines[1].For(t)
	// Docker's default heartbeat: with the fleet's 1 s, the new leader
	// marks nodes down that have not yet found it, and moves their tasks.
	l.heartbeat(t, m1, "5s")
	sw := m2.Swarm()
	// No task on the machine that dies: every change seen is the scale.
	svc := sw.Service("failover", "--network", l.Overlay, "--replicas", "2",
		"--constraint", "node.hostname!="+m1.Hostname, l.idle)
	web := sw.Service("failover-web", "--network", l.Overlay, "--publish", "mode=host,target=8080",
		"--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.hostname!="+m1.Hostname, l.web)
	tasks := l.tasks(t, m2, svc, 2, nil)
	webTasks := l.tasks(t, m2, web, 2, nil)
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	l.toldAndReached(t, []netip.Addr{l.HostAddr}, web, webTasks)
	w := watchA(t, l.dns.udp, fqdn("tasks."+svc))
	before := addrsOf(tasks)

	killed := time.Now()
	m1.Kill()
	var accepted time.Time
	await.True(t, fleetWithin, "a surviving manager accepts a scale", func() bool {
		_, err := m2.TryDocker("service", "update", "--detach", "--replicas", "3", svc)
		accepted = time.Now()
		return err == nil
	})
	tasks = l.tasks(t, m2, svc, 3, nil)
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	var lags lagStats
	lags.note(t, w, tasks)
	first, _ := w.firstChangeAfter(killed)
	t.Logf("SIGKILL of the first manager's dockerd to the first change followed through the next manager: %s "+
		"(a surviving manager accepted the scale after %s)",
		first.at.Sub(killed).Round(time.Millisecond), accepted.Sub(killed).Round(time.Millisecond))
	lags.report(t, "scale through a surviving manager")
	for _, c := range w.since(killed) {
		if missing := slices.DeleteFunc(slices.Clone(before), func(a string) bool { return slices.Contains(c.addrs, a) }); len(missing) > 0 {
			t.Errorf("at %s after the kill, tasks.%s answered %v: %v withdrawn", c.at.Sub(killed).Round(time.Millisecond), svc, c.addrs, missing)
		}
	}

	// The host-mode tasks kept running: their ports are still told, and
	// reached, whatever the new leader says of them.
	now := l.tasks(t, m2, web, 2, nil)
	forgotten := 0
	for _, task := range now {
		if task.hostPort == "" {
			forgotten++
		}
	}
	t.Logf("the new leader lists %d of the %d running host-mode tasks without their ports", forgotten, len(now))
	l.toldAndReached(t, []netip.Addr{l.HostAddr}, web, webTasks)

	// The machine comes back: it rejoins, its engine's containers are
	// served again, the swarm source polls on; tasks.<svc> never changes.
	restarted := time.Now()
	m1.Start()
	await.True(t, fleetWithin, "the first manager is ready again", func() bool {
		return l.ReadyNodes(m1) == len(l.Machines)
	})
	await.True(t, fleetWithin, "the resolver follows the first engine again", func() bool {
		up, _ := series(t, "coredns_dockerhosts_docker_up", map[string]string{"engine": "fleet"})
		return up == 1
	})
	polls := func() float64 {
		n, _ := series(t, "coredns_dockerhosts_swarm_polls_total", map[string]string{"engine": "fleet", "scope": "all"})
		return n
	}
	after := polls()
	await.True(t, fleetWithin, "two full polls of the swarm since", func() bool { return polls() >= after+2 })
	want := addrsOf(tasks)
	for _, c := range w.since(restarted) {
		if !slices.Equal(c.addrs, want) {
			t.Errorf("at %s after the restart, tasks.%s answered %v, want %v throughout", c.at.Sub(restarted).Round(time.Millisecond), svc, c.addrs, want)
		}
	}
}

// testNodeDown: a node's dockerd is killed (not the leader's: that would
// add an election to the wait). Once the managers mark it down, its tasks
// leave tasks.<svc> as they are rescheduled, and its address leaves the
// ingress answers.
func (l *fleetLab) testNodeDown(t *testing.T) {
	m1 := l.Machines[0].For(t)
	victim := l.Machines[2].For(t)
	if leader := l.Leader(m1); leader == nil || leader.Hostname == victim.Hostname {
		victim = l.Machines[1].For(t)
	}
	sw := m1.Swarm()
	svc := sw.Service("nodedown", "--network", l.Overlay, "--publish", "published=8081,target=8080", "--replicas", "3", l.idle)
	tasks := l.tasks(t, m1, svc, 3, nil)
	if nodes := nodesOf(tasks); len(nodes) != 3 {
		t.Fatalf("3 replicas on nodes %v, want one on each", nodes)
	}
	var nodes []string
	for _, m := range l.Machines {
		nodes = append(nodes, m.Addr.String())
	}
	slices.Sort(nodes)
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	await.True(t, fleetWithin, "the LAN machine is told every node for "+svc, func() bool {
		return slices.Equal(answerA(askAt(t, l.Outside, l.HostAddr, fqdn(svc), dns.TypeA)), nodes)
	})
	w := watchA(t, l.dns.udp, fqdn("tasks."+svc))
	// This host is outside the swarm too: told the nodes, like the LAN.
	ingress := watchA(t, l.dns.udp, fqdn(svc))
	lost := tasks[slices.IndexFunc(tasks, func(x fleetTask) bool { return x.node == victim.Hostname })]

	killed := time.Now()
	victim.Kill()
	await.True(t, fleetWithin, "the managers mark the node down", func() bool { return l.NodeState(m1, victim) == "down" })
	down := time.Now()
	tasks = l.tasks(t, m1, svc, 3, notOnNode(victim.Hostname))
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	var lags lagStats
	lags.note(t, w, tasks)
	left := slices.DeleteFunc(slices.Clone(nodes), func(a string) bool { return a == victim.Addr.String() })
	await.True(t, fleetWithin, "the LAN machine is told the nodes left for "+svc, func() bool {
		return slices.Equal(answerA(askAt(t, l.Outside, l.HostAddr, fqdn(svc), dns.TypeA)), left)
	})
	t.Logf("SIGKILL of a node's dockerd: marked down after %s; its task left tasks.%s after %s; its address left the ingress answers after %s",
		down.Sub(killed).Round(time.Millisecond), svc, leftAt(w, killed, lost.addr), leftAt(ingress, killed, victim.Addr.String()))
	lags.report(t, "tasks rescheduled off a node down")

	// Back for the next subtest.
	victim.Start()
	await.True(t, fleetWithin, "the node is ready again", func() bool { return l.ReadyNodes(m1) == len(l.Machines) })
}

// leftAt is how long after at addr left w's answers, for a log line.
func leftAt(w *answerWatch, at time.Time, addr string) string {
	for _, c := range w.since(at) {
		if !slices.Contains(c.addrs, addr) {
			return c.at.Sub(at).Round(time.Millisecond).String()
		}
	}
	return "(never)"
}

// heartbeat sets the swarm's dispatcher heartbeat period until t ends,
// then puts back the fleet's.
func (l *fleetLab) heartbeat(t *testing.T, m *fleet.Machine, period string) {
	t.Helper()
	was := m.Docker("info", "--format", "{{.Swarm.Cluster.Spec.Dispatcher.HeartbeatPeriod}}")
	m.Docker("swarm", "update", "--dispatcher-heartbeat", period)
	t.Cleanup(func() {
		if _, err := l.Machines[0].TryDocker("swarm", "update", "--dispatcher-heartbeat", was); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}
