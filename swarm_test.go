package dockerhosts

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/docker"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// These tests make this machine's engine a single-node swarm manager (only
// when it is in no swarm, and then leave it at the end), run services on an
// attachable overlay, and check through real DNS what an in-process CoreDNS
// answers: the names Docker's embedded DNS gives inside the overlay (the
// same answers, asked from a container on it) and published ports as SRV,
// followed by a real HAProxy on the host. Nothing is ever sent from the
// host to an overlay or task address: those are routed off this machine.

// swarmWithin bounds waits on the swarm: scheduling a task takes about a
// second here.
const swarmWithin = 30 * time.Second

type swarmLab struct {
	*dockertest.Swarm
	t         *testing.T
	net       string
	netID     string
	idle      string
	dns       *coreDNS
	hostsFile string
}

func newSwarmLab(t *testing.T) *swarmLab {
	t.Helper()
	sw := dockertest.Require(t).RequireSwarm()
	l := &swarmLab{Swarm: sw, t: t, idle: sw.IdleImage()}
	l.net, _ = sw.Overlay("net")
	l.netID = sw.Docker("network", "inspect", "--format", "{{.ID}}", l.net)
	// The node's name answers a loopback address: HAProxy on this host
	// reaches published ports there, and nothing leaves the machine.
	l.hostsFile = filepath.Join(t.TempDir(), "hosts")
	writeFile(t, l.hostsFile, "127.0.0.1 "+strings.ToLower(sw.NodeHostname)+"\n")
	// networks: a task container is also a container of this engine, on
	// the overlay and on ingress; the overlay's address is the one Docker's
	// DNS gives there.
	l.dns = startCoreDNS(t, dockerCorefile("", []string{"hostsfile " + l.hostsFile, "networks " + l.net}))
	return l
}

// tasks returns the running tasks of service: ID -> the name Docker gave
// the task's container.
func (l *swarmLab) tasks(service string, n int) map[string]string {
	l.t.Helper()
	ids := l.WaitRunning(service, n, swarmWithin)
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		container := l.Docker("inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", id)
		out[id] = strings.TrimPrefix(l.Docker("inspect", "--format", "{{.Name}}", container), "/")
	}
	return out
}

// taskAddrs returns the overlay addresses of the given tasks.
func (l *swarmLab) taskAddrs(tasks map[string]string) []string {
	l.t.Helper()
	var addrs []string
	for id := range tasks {
		out := l.Docker("inspect", "--format",
			fmt.Sprintf(`{{range .NetworksAttachments}}{{if eq .Network.ID %q}}{{range .Addresses}}{{.}} {{end}}{{end}}{{end}}`, l.netID), id)
		for _, cidr := range strings.Fields(out) {
			ip, _, _ := strings.Cut(cidr, "/")
			addrs = append(addrs, ip)
		}
	}
	slices.Sort(addrs)
	return addrs
}

// vip returns the service's virtual IP on the lab's overlay.
func (l *swarmLab) vip(service string) string {
	l.t.Helper()
	out := l.Docker("service", "inspect", "--format",
		fmt.Sprintf(`{{range .Endpoint.VirtualIPs}}{{if eq .NetworkID %q}}{{.Addr}}{{end}}{{end}}`, l.netID), service)
	ip, _, _ := strings.Cut(out, "/")
	return ip
}

// scale sets the service's replicas and returns its running tasks.
func (l *swarmLab) scale(service string, n int) map[string]string {
	l.t.Helper()
	l.Docker("service", "update", "--detach", "--replicas", strconv.Itoa(n), service)
	return l.tasks(service, n)
}

// For returns the lab as the parallel subtest t uses it.
func (l *swarmLab) For(t *testing.T) *swarmLab {
	c := *l
	c.Swarm, c.t = l.Swarm.For(t), t
	t.Parallel()
	return &c
}

// probe asks Docker's embedded DNS and ours the same names from a container
// on the overlay until the answers are equal, and fails the test if they
// do not become equal.
func (l *swarmLab) probe(image string, names ...string) {
	l.t.Helper()
	_, port, err := net.SplitHostPort(l.dns.udp)
	if err != nil {
		l.t.Fatal(err)
	}
	l.probeAt(l.net, net.JoinHostPort(l.GatewayBridge().String(), port), image, names...)
}

// probeAt is probe from a container on network, asking ours at server.
func (l *swarmLab) probeAt(network, server, image string, names ...string) {
	l.t.Helper()
	args := append([]string{"run", "--rm", "--network", network, "--label", "dockerhosts.test=" + l.Prefix, image,
		"-ours", server, "-zone", "docker.", "-within", "15s"}, names...)
	out, err := l.TryDocker(args...)
	if err != nil {
		l.t.Fatalf("answers on %s differ from Docker's embedded DNS: %v", network, err)
	}
	l.t.Logf("same answers on %s from Docker's embedded DNS and ours:\n%s", network, out)
}

// waitTasks waits until tasks.<service> and each task's container name
// answer the tasks' overlay addresses.
func (l *swarmLab) waitTasks(service string, tasks map[string]string) {
	l.t.Helper()
	addrs := l.taskAddrs(tasks)
	l.dns.waitA(l.t, fqdn("tasks."+service), addrs...)
	for id, name := range tasks {
		l.dns.waitA(l.t, fqdn(name), l.taskAddrs(map[string]string{id: name})...)
	}
}

func TestSwarmSourcePerEngineUnlessTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		input       string
		swarmsFor   []string
		wantSources int
	}{
		{"dockerhosts", []string{"host"}, 2},
		{"dockerhosts {\n docker unix:///a a\n no_swarm\n docker unix:///b b\n}", []string{"b"}, 3},
		{"dockerhosts {\n no_swarm\n docker\n}", nil, 1},
	} {
		cfg, err := parse(caddy.NewTestController("dns", tc.input))
		if err != nil {
			t.Fatalf("%q: %v", tc.input, err)
		}
		s, err := compose(cfg, index.New([]string{"docker."}))
		if err != nil {
			t.Fatalf("%q: %v", tc.input, err)
		}
		var swarms []string
		for _, src := range s.list {
			if sw, ok := src.(*docker.SwarmSource); ok {
				swarms = append(swarms, sw.Engine())
			}
		}
		if len(s.list) != tc.wantSources || !slices.Equal(swarms, tc.swarmsFor) {
			t.Errorf("%q: %d sources, swarms of %v; want %d, %v", tc.input, len(s.list), swarms, tc.wantSources, tc.swarmsFor)
		}
	}
	if _, err := parse(caddy.NewTestController("dns", "dockerhosts {\n docker\n no_swarm extra\n}")); err == nil {
		t.Error("no_swarm with an argument accepted")
	}
}

func TestSwarm(t *testing.T) {
	began := time.Now()
	lab := newSwarmLab(t)
	probe, web := lab.ProgramImage("dnsprobe"), lab.HostnameImage()
	t.Logf("swarm lab ready in %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("swarm tests took %s", time.Since(began).Round(time.Millisecond)) })

	for _, mode := range []string{"vip", "dnsrr"} {
		t.Run("replicated service, "+mode, func(t *testing.T) {
			l := lab.For(t)
			// Both tasks rolled at once, each new one started before the old
			// one stops: Docker drains a task for 2 s before stopping it.
			svc := l.Service(mode, "--network", l.net, "--endpoint-mode", mode,
				"--update-parallelism", "2", "--update-order", "start-first", l.idle)
			var tasks map[string]string
			for _, n := range []int{1, 4, 2} {
				tasks = l.scale(svc, n)
				l.waitTasks(svc, tasks)
				if mode == "vip" {
					l.dns.waitA(t, fqdn(svc), l.vip(svc))
				} else {
					l.dns.waitA(t, fqdn(svc), l.taskAddrs(tasks)...)
				}
			}
			names := append([]string{svc, "tasks." + svc}, slices.Sorted(mapValues(tasks))...)
			l.probe(probe, names...)

			// A rolling update replaces every task: the old ones go, the
			// new ones answer.
			l.Docker("service", "update", "--detach", "--force", svc)
			await.True(t, swarmWithin, "tasks replaced", func() bool {
				now := l.WaitRunning(svc, 2, swarmWithin)
				_, old0 := tasks[now[0]]
				_, old1 := tasks[now[1]]
				return !old0 && !old1
			})
			replaced := l.tasks(svc, 2)
			l.waitTasks(svc, replaced)
			for _, name := range tasks {
				l.dns.waitNXDOMAIN(t, fqdn(name))
			}
			l.probe(probe, append([]string{svc, "tasks." + svc}, slices.Sorted(mapValues(replaced))...)...)
		})
	}

	t.Run("stack service", func(t *testing.T) {
		l := lab.For(t)
		stack := strings.ReplaceAll(l.Prefix, "-", "")
		svc := l.StackService(stack, "api", l.net, "--replicas", "2", l.idle)
		tasks := l.tasks(svc, 2)
		vip := l.vip(svc)
		// The short name like compose's service.project, and the alias the
		// stack gives the service on its network, with their tasks. forms.
		for _, name := range []string{svc, "api." + stack, "api"} {
			l.dns.waitA(t, fqdn(name), vip)
		}
		for _, name := range []string{"tasks." + svc, "tasks.api." + stack, "tasks.api"} {
			l.dns.waitA(t, fqdn(name), l.taskAddrs(tasks)...)
		}
		l.probe(probe, svc, "tasks."+svc, "api", "tasks.api")
	})

	t.Run("service aliases per network", func(t *testing.T) { testSwarmAliasesPerNetwork(t, lab, probe) })
	t.Run("service labels", func(t *testing.T) { testSwarmServiceLabels(t, lab) })

	t.Run("global service", func(t *testing.T) {
		l := lab.For(t)
		svc := l.Service("global", "--network", l.net, "--mode", "global", l.idle)
		tasks := l.tasks(svc, 1)
		l.waitTasks(svc, tasks)
		l.probe(probe, append([]string{svc, "tasks." + svc}, slices.Sorted(mapValues(tasks))...)...)
	})

	t.Run("through a read-only proxy, cut and restored", func(t *testing.T) {
		l := lab.For(t)
		proxy := dockertest.StartProxy(t, dockertest.EngineSocket(), dockertest.ReadOnly)
		s := startCoreDNS(t, dockerCorefile(proxy.Endpoint(), nil))
		svc := l.Service("cut", "--network", l.net, "--endpoint-mode", "dnsrr", "--replicas", "2", l.idle)
		tasks := l.tasks(svc, 2)
		s.waitA(t, fqdn("tasks."+svc), l.taskAddrs(tasks)...)

		// The manager goes away: the last records stay; what changed
		// meanwhile shows once it is back.
		proxy.Cut()
		await.True(t, swarmWithin, "reconnection attempts", func() bool { return proxy.Refused() > 0 })
		if !s.answersA(t, "udp", fqdn("tasks."+svc), l.taskAddrs(tasks)...) {
			t.Error("the last known tasks are not answered while the manager is away")
		}
		tasks = l.scale(svc, 3)
		proxy.Restore()
		s.waitA(t, fqdn("tasks."+svc), l.taskAddrs(tasks)...)
		if proxy.Forbidden() != 0 {
			t.Errorf("the proxy forbade %d requests: the swarm source must only read", proxy.Forbidden())
		}
	})

	t.Run("host-mode port followed by HAProxy", func(t *testing.T) {
		l := lab.For(t)
		svc := l.Service("echo", "--network", l.net, "--publish", "mode=host,target=8080", "--replicas", "2", web)
		srvName := fqdn("_8080._tcp." + svc)
		node := fqdn(strings.ToLower(l.NodeHostname))
		tasks := l.tasks(svc, 2)
		var last *dns.Msg
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("last SRV answer for %s (node %s):\n%v", srvName, node, last)
			}
		})
		await.True(t, swarmWithin, "one SRV record per task, at the node", func() bool {
			last = l.dns.exchange(t, "udp", srvName, dns.TypeSRV)
			return len(srvTargets(last, node)) == 2
		})
		r := l.dns.exchange(t, "udp", srvName, dns.TypeSRV)
		if !slices.Equal(answerAdditionalA(r), []string{"127.0.0.1"}) {
			t.Errorf("SRV additional section %v, want the node at 127.0.0.1", r.Extra)
		}

		h := startHAProxy(t, followSRV(l.dns.udp, srvName))
		for _, n := range []int{2, 3, 1} {
			tasks = l.scale(svc, n)
			want := l.containerHostnames(tasks)
			await.True(t, swarmWithin, fmt.Sprintf("HAProxy spreads requests over the %d tasks", n), func() bool {
				return slices.Equal(h.backends(4*len(want)), want)
			})
		}
	})
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// srvTargets returns the ports of the SRV records in r that point at target.
func srvTargets(r *dns.Msg, target string) []uint16 {
	var ports []uint16
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok && strings.EqualFold(s.Target, target) {
			ports = append(ports, s.Port)
		}
	}
	return ports
}

func answerAdditionalA(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok && !slices.Contains(out, a.A.String()) {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// containerHostnames returns the hostnames of the tasks' containers (Docker
// sets each to its container's short ID), sorted.
func (l *swarmLab) containerHostnames(tasks map[string]string) []string {
	l.t.Helper()
	var out []string
	for id := range tasks {
		cid := l.Docker("inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", id)
		out = append(out, cid[:min(12, len(cid))])
	}
	slices.Sort(out)
	return out
}
