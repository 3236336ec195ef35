//go:build linux

// Package fleet builds a Docker swarm of several machines on this host, for
// tests of what a swarm spread over machines looks like from outside: each
// machine a network namespace on a LAN of the test's own (hostlan), running
// a dockerd of its own (dockertest.Daemon) in its own UTS namespace and
// hostname, its API on tcp://ADDR:2375; the machines joined as managers of
// one swarm, advertising their LAN addresses. This host joins the LAN at
// HostAddr, where a test's resolver listens; Outside is a LAN machine with
// no route to any Docker network of the machines.
//
// The LAN's bridge lives in a namespace of its own (hostlan's switch), so
// frames between machines never cross this host's FORWARD chain (Docker's
// DROP policy): no firewall rule of this host is touched, nor docker0, nor
// the host engine's swarm. Images are built into each machine directly,
// without the host engine. Everything is removed when the test that built
// the fleet ends, passed or failed: dockerds, their containerd, shims and
// containers by PID, their mounts, cgroups and directories, then the
// namespaces (dockertest and hostlan cleanups).
//
// Building a fleet of three takes some 10-20 s: build it once per test
// binary and share it among subtests (Machine.For).
package fleet

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"
)

// formWithin bounds the wait for joined nodes to show ready.
const formWithin = 60 * time.Second

// Fleet is a swarm of machines on a LAN of its own.
type Fleet struct {
	// Machines are the swarm's nodes, all managers; the first formed it.
	Machines []*Machine
	// HostAddr is this host on the LAN: a resolver of the test binds there.
	HostAddr netip.Addr
	// Outside is a LAN machine in no swarm and on no Docker network: it
	// reaches the machines' own addresses and HostAddr, nothing else.
	Outside     *hostlan.Namespace
	OutsideAddr netip.Addr
	// Overlay is an attachable overlay network on every node.
	Overlay string
}

// Machine is one node: its namespace and its dockerd.
type Machine struct {
	*dockertest.Daemon
	Netns    *hostlan.Namespace
	Addr     netip.Addr
	Hostname string
}

// For returns the machine as the subtest t sees it (dockertest.Daemon.For).
func (m *Machine) For(t testing.TB) *Machine {
	c := *m
	c.Daemon = m.Daemon.For(t)
	return &c
}

// PowerOff ends the machine as if it died: every process of its dockerd
// killed (dockertest.Daemon.PowerOff) and its link down, so that its
// address answers nothing.
func (m *Machine) PowerOff(t testing.TB) {
	t.Helper()
	m.Daemon.For(t).PowerOff()
	if out, err := exec.Command("ip", "-n", m.Netns.Name, "link", "set", "eth0", "down").CombinedOutput(); err != nil {
		t.Fatalf("power off %s: %v: %s", m.Hostname, err, out)
	}
}

// New builds a fleet of n managers for e's test, and removes it when that
// test ends. It skips (fails under DOCKERHOSTS_REQUIRE_DOCKER=1) without
// root or the programs it needs.
func New(t testing.TB, e *dockertest.Engine, n int) *Fleet {
	t.Helper()
	hostlan.RequireRoot(t)
	hostlan.RequirePrograms(t, "ip", "nsenter", "hostname", "dockerd")
	began := time.Now()
	subnet := hostlan.FreeSubnet(t)
	at := func(i int) netip.Addr { a := subnet.Addr().As4(); a[3] = byte(i); return netip.AddrFrom4(a) }
	f := &Fleet{HostAddr: at(1), OutsideAddr: at(200)}

	lan := hostlan.NewLAN(t, 24)
	lan.JoinHost(f.HostAddr)
	f.Outside = lan.Machine("out", f.OutsideAddr)
	for i := range n {
		m := &Machine{Addr: at(11 + i), Hostname: fmt.Sprintf("%s-m%d", e.Prefix, i+1)}
		m.Netns = lan.Machine(fmt.Sprintf("m%d", i+1), m.Addr)
		m.Daemon = e.StartDaemon(dockertest.DaemonOptions{Netns: m.Netns.Name, TCP: m.Addr, Hostname: m.Hostname})
		f.Machines = append(f.Machines, m)
	}
	// Registered after the daemons' own teardowns, so it runs before them:
	// a dockerd SIGTERMed in a swarm that lost its quorum waits up to
	// 30 s; killed, the rest is removed by PID, mount and name all the same.
	t.Cleanup(func() {
		for _, m := range f.Machines {
			if m.Running() {
				m.Kill()
			}
		}
	})
	f.form(t)
	// Its subnet exists only inside the machines: no route of this host
	// leads there, whatever else uses 10.216.0.0/24 here.
	f.Overlay = f.Machines[0].Name("overlay")
	f.Machines[0].Docker("network", "create", "--driver", "overlay", "--attachable", "--subnet", "10.216.0.0/24", f.Overlay)
	t.Logf("fleet of %d managers formed in %s", n, time.Since(began).Round(time.Millisecond))
	return f
}

// form makes the first machine a swarm's first manager and joins the
// others as managers, each advertising its LAN address, and waits until
// every node is ready.
func (f *Fleet) form(t testing.TB) {
	t.Helper()
	first := f.Machines[0]
	// A heartbeat of 1 s, not 5: a node whose dockerd dies is marked down
	// within some 3 s instead of 15 s or more, which keeps a test short.
	// After a leader change it also marks down the nodes that have not yet
	// found the new leader: a test of a failover puts 5 s back for it.
	first.Docker("swarm", "init", "--advertise-addr", first.Addr.String(), "--listen-addr", first.Addr.String()+":2377",
		"--dispatcher-heartbeat", "1s")
	token := first.Docker("swarm", "join-token", "--quiet", "manager")
	for _, m := range f.Machines[1:] {
		m.Docker("swarm", "join", "--token", token, "--advertise-addr", m.Addr.String(),
			"--listen-addr", m.Addr.String()+":2377", first.Addr.String()+":2377")
	}
	await.True(t, formWithin, fmt.Sprintf("%d nodes ready", len(f.Machines)), func() bool {
		return f.ReadyNodes(first) == len(f.Machines)
	})
}

// ReadyNodes counts the nodes that manager m reports ready, 0 if it does
// not answer.
func (f *Fleet) ReadyNodes(m *Machine) int {
	out, err := m.TryDocker("node", "ls", "--format", "{{.Status}}")
	if err != nil {
		return 0
	}
	return strings.Count(out, "Ready")
}

// Leader returns the machine the swarm's managers follow, as manager m
// sees it; nil if m does not know one.
func (f *Fleet) Leader(m *Machine) *Machine {
	out, _ := m.TryDocker("node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}")
	for _, line := range strings.Split(out, "\n") {
		if name, status, _ := strings.Cut(line, " "); status == "Leader" {
			for _, n := range f.Machines {
				if n.Hostname == name {
					return n
				}
			}
		}
	}
	return nil
}

// NodeState is the node's state (ready, down, unknown) as manager m sees
// it; "" if m does not answer.
func (f *Fleet) NodeState(m *Machine, node *Machine) string {
	out, _ := m.TryDocker("node", "inspect", "--format", "{{.Status.State}}", node.Hostname)
	return out
}

// Image builds the static Go program in pkg (a path from the module root)
// into an image on the first machine, copies it to the others, and
// returns its reference.
func (f *Fleet) Image(t testing.TB, pkg string) string {
	t.Helper()
	first := f.Machines[0].For(t)
	ref := first.ProgramImage(pkg)
	for _, m := range f.Machines[1:] {
		m.For(t).CopyImageFrom(first.Daemon, ref)
	}
	return ref
}

// Machine returns the machine whose hostname is name.
func (f *Fleet) Machine(t testing.TB, name string) *Machine {
	t.Helper()
	for _, m := range f.Machines {
		if strings.EqualFold(m.Hostname, name) {
			return m
		}
	}
	t.Fatalf("no machine named %q", name)
	return nil
}
