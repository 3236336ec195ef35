//go:build linux

package dockerhosts

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/fleet"
	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"
)

// testOutside: clients outside the swarm (a LAN machine with no route to
// any overlay, and this host) are answered where they reach a service: an
// ingress port's service at every node (not its overlay VIP), its SRV
// records at each node's name; a host-mode port only at the nodes running
// a task, at each task's own port, where a GET reaches that task. The
// routing mesh carries no traffic here (no IP_VS): no GET through it.
func (l *fleetLab) testOutside(t *testing.T) {
	m1 := l.Machines[0].For(t)
	sw := m1.Swarm()
	ingress := sw.Service("ingress", "--network", l.Overlay, "--publish", "published=8080,target=8080", "--replicas", "1", l.web)
	hostMode := sw.Service("hostmode", "--network", l.Overlay, "--publish", "mode=host,target=8080",
		"--replicas", "2", "--replicas-max-per-node", "1", l.web)
	l.tasks(t, m1, ingress, 1, nil)
	tasks := l.tasks(t, m1, hostMode, 2, nil)

	var nodes []string
	var srvIngress []string // "target port"
	for _, m := range l.Machines {
		nodes = append(nodes, m.Addr.String())
		srvIngress = append(srvIngress, fqdn(m.Hostname)+" 8080")
	}
	slices.Sort(nodes)
	var taskNodes []string
	var srvHostMode []string
	for _, task := range tasks {
		m := l.Machine(t, task.node)
		taskNodes = append(taskNodes, m.Addr.String())
		srvHostMode = append(srvHostMode, fqdn(m.Hostname)+" "+task.hostPort)
	}
	slices.Sort(taskNodes)

	for _, from := range []*hostlan.Namespace{l.Outside, nil} {
		who := "this host"
		if from != nil {
			who = "the LAN machine"
		}
		for _, c := range []struct {
			svc   string
			addrs []string
			srv   []string
		}{{ingress, nodes, srvIngress}, {hostMode, taskNodes, srvHostMode}} {
			var a, srv *dns.Msg
			defer func() { // Fatal ends the wait: say what was answered
				if t.Failed() && a != nil {
					t.Logf("%s was told last %s at %v and SRV %v", who, c.svc, answerA(a), srvPorts(srv))
				}
			}()
			await.True(t, fleetWithin, fmt.Sprintf("%s is told %s at %v, SRV %v", who, c.svc, c.addrs, c.srv), func() bool {
				a = askAt(t, from, l.HostAddr, fqdn(c.svc), dns.TypeA)
				srv = askAt(t, from, l.HostAddr, fqdn("_8080._tcp."+c.svc), dns.TypeSRV)
				return slices.Equal(answerA(a), c.addrs) && slices.Equal(srvPorts(srv), slices.Sorted(slices.Values(c.srv)))
			})
			t.Logf("%s is told %s at %v and SRV %v", who, c.svc, answerA(a), srvPorts(srv))
			// Each SRV target's address, in the additional section and
			// asked, is its node's.
			for _, rr := range srv.Answer {
				target := rr.(*dns.SRV).Target
				want := []string{l.Machine(t, strings.TrimSuffix(target, ".docker.")).Addr.String()}
				if got := additionalA(srv, target); !slices.Equal(got, want) {
					t.Errorf("%s: SRV target %s has additional addresses %v, want %v", who, target, got, want)
				}
				if got := answerA(askAt(t, from, l.HostAddr, target, dns.TypeA)); !slices.Equal(got, want) {
					t.Errorf("%s: %s answers %v, want %v", who, target, got, want)
				}
			}
		}
	}

	// The LAN machine reaches each host-mode task at its SRV target and
	// port, by name through the resolver (its resolv.conf).
	for _, task := range tasks {
		url := fmt.Sprintf("http://%s:%s/", strings.TrimSuffix(fqdn(task.node), "."), task.hostPort)
		out, err := l.Outside.Run("curl", "-sS", "--max-time", "5", url)
		if want := task.container[:12]; err != nil || strings.TrimSpace(out) != want {
			t.Errorf("GET %s from the LAN machine: %q, %v; want task container %s", url, out, err, want)
		}
	}
}

// srvPorts lists the SRV records as "target port", sorted.
func srvPorts(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, strings.ToLower(s.Target)+" "+strconv.Itoa(int(s.Port)))
		}
	}
	slices.Sort(out)
	return out
}

// additionalA is the A addresses of owner in r's additional section, each
// once (they come once per SRV record naming owner: handler.go).
func additionalA(r *dns.Msg, owner string) []string {
	var out []string
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, owner) {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// testResolverOnTheSwarm deploys packaging/swarm-stack.yml: a resolver on
// every manager, port 53 in host mode, its engine's socket read-only. A
// LAN machine asks any manager's address, is told the same by each, and
// reaches a service with what it is told; when a manager's machine dies,
// its resolver with it, the others answer on, without the dead node.
func (l *fleetLab) testResolverOnTheSwarm(t *testing.T) {
	m1 := l.Machines[0].For(t)
	tag := m1.Name("fleet")
	l.ResolverImage(t, tag)
	// Each machine's socket where the stack mounts it from: the machines
	// share this host's file system, so the path names the node.
	sockets := t.TempDir()
	for _, m := range l.Machines {
		dir := filepath.Join(sockets, m.Hostname)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.TrimPrefix(m.Host(), "unix://"), filepath.Join(dir, "docker.sock")); err != nil {
			t.Fatal(err)
		}
	}
	var socket syscall.Stat_t
	if err := syscall.Stat(strings.TrimPrefix(m1.Host(), "unix://"), &socket); err != nil {
		t.Fatal(err)
	}
	stack := strings.ReplaceAll(m1.Name("dns"), "-", "")
	t.Cleanup(func() {
		if _, err := m1.TryDocker("stack", "rm", stack); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	deploy := exec.Command("docker", "--host", m1.Host(), "stack", "deploy", "--resolve-image", "never",
		"--compose-file", "packaging/swarm-stack.yml", stack)
	deploy.Env = append(os.Environ(), "VERSION="+tag, "DOCKER_GID="+strconv.Itoa(int(socket.Gid)),
		"DOCKER_SOCKET="+filepath.Join(sockets, "{{.Node.Hostname}}", "docker.sock"))
	if out, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("docker stack deploy: %v: %s", err, out)
	}
	if nodes := nodesOf(l.tasks(t, m1, stack+"_coredns", len(l.Machines), nil)); len(nodes) != len(l.Machines) {
		t.Fatalf("the resolver runs on %v, want every manager", nodes)
	}

	// Its tasks on the first machine, through which the test drives the
	// swarm, and on the one that dies, which is not the leader (that would
	// add an election to the wait).
	leader := l.Leader(m1)
	if leader == nil || leader == l.Machines[0] {
		t.Fatalf("the leader is %v, want one of the machines after the first (it died earlier)", leader)
	}
	web := m1.Swarm().Service("stackweb", "--network", l.Overlay, "--publish", "mode=host,target=8080",
		"--replicas", "2", "--constraint", "node.hostname!="+leader.Hostname, l.web)
	tasks := l.tasks(t, m1, web, 2, nil)
	if nodes := nodesOf(tasks); len(nodes) != 2 {
		t.Fatalf("the 2 replicas run on %v, want two nodes", nodes)
	}
	l.toldAndReached(t, fleetAddrs(l.Machines), web, tasks)

	dead := l.Machine(t, tasks[slices.IndexFunc(tasks, func(x fleetTask) bool { return x.node != m1.Hostname })].node)
	dead.PowerOff(t)
	var alive []*fleet.Machine
	for _, m := range l.Machines {
		if m != dead {
			alive = append(alive, m)
		}
	}
	tasks = l.tasks(t, m1, web, 2, notOnNode(dead.Hostname))
	// Its task moves to the first machine (the leader's is ruled out).
	l.toldAndReached(t, fleetAddrs(alive), web, tasks)
}

// toldAndReached checks that each resolver (at port 53 of each address)
// tells the LAN machine the nodes of the host-mode service's tasks, and SRV
// records there at each task's port, with which it reaches every task.
func (l *fleetLab) toldAndReached(t *testing.T, resolvers []netip.Addr, svc string, tasks []fleetTask) {
	t.Helper()
	var nodes, srv []string
	for _, task := range tasks {
		m := l.Machine(t, task.node)
		if !slices.Contains(nodes, m.Addr.String()) {
			nodes = append(nodes, m.Addr.String())
		}
		srv = append(srv, fqdn(m.Hostname)+" "+task.hostPort)
	}
	slices.Sort(nodes)
	slices.Sort(srv)
	for _, r := range resolvers {
		var a, answer *dns.Msg
		defer func() {
			if t.Failed() && a != nil {
				t.Logf("the resolver at %s told last %s at %v and SRV %v", r, svc, answerA(a), srvPorts(answer))
			}
		}()
		await.True(t, fleetWithin, fmt.Sprintf("the resolver at %s tells %s at %v, SRV %v", r, svc, nodes, srv), func() bool {
			a = askAt(t, l.Outside, r, fqdn(svc), dns.TypeA)
			answer = askAt(t, l.Outside, r, fqdn("_8080._tcp."+svc), dns.TypeSRV)
			return slices.Equal(answerA(a), nodes) && slices.Equal(srvPorts(answer), srv)
		})
		t.Logf("the resolver at %s tells the LAN machine %s at %v and SRV %v", r, svc, nodes, srvPorts(answer))
		for _, rr := range answer.Answer {
			s := rr.(*dns.SRV)
			addrs := additionalA(answer, s.Target)
			if len(addrs) != 1 {
				t.Errorf("the resolver at %s gives %s at %v", r, s.Target, addrs)
				continue
			}
			i := slices.IndexFunc(tasks, func(x fleetTask) bool {
				return fqdn(x.node) == strings.ToLower(s.Target) && x.hostPort == strconv.Itoa(int(s.Port))
			})
			url := fmt.Sprintf("http://%s:%d/", addrs[0], s.Port)
			out, err := l.Outside.Run("curl", "-sS", "--max-time", "5", url)
			if want := tasks[i].container[:12]; err != nil || strings.TrimSpace(out) != want {
				t.Errorf("GET %s (told by %s) from the LAN machine: %q, %v; want task container %s", url, r, out, err, want)
			}
		}
	}
}

// fleetAddrs are the machines' addresses.
func fleetAddrs(machines []*fleet.Machine) []netip.Addr {
	var out []netip.Addr
	for _, m := range machines {
		out = append(out, m.Addr)
	}
	return out
}
