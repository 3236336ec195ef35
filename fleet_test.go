//go:build linux

package dockerhosts

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/dockerhosts/dockerhosts/internal/testkit/fleet"
	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"
)

// TestFleet serves a swarm of three managers, each a machine of its own (a
// network namespace running its own dockerd: internal/testkit/fleet), from
// a resolver on this host that talks to the first manager and knows the
// two others (swarm_managers). The fleet is built once and shared by the
// subtests, which run in order: the last two kill machines.
//
// Nothing is sent from this host to an overlay or task address: containers
// on the overlay ask Docker's embedded DNS and ours from inside, on each
// node. The kernel here has no IP_VS, so swarm VIPs and the ingress routing
// mesh carry no traffic (dockerd logs "Could not get ipvs family
// information"): ingress is checked through the answers (which addresses
// and ports are given), traffic through host-mode ports.
func TestFleet(t *testing.T) {
	began := time.Now()
	f := fleet.New(t, dockertest.Require(t), 3)
	l := &fleetLab{Fleet: f,
		idle:  f.Image(t, "./testdata/idle"),
		web:   f.Image(t, "./internal/testkit/dockertest/testdata/hostname"),
		probe: f.Image(t, "./testdata/dnsprobe"),
	}
	var managers []string
	for _, m := range f.Machines[1:] {
		managers = append(managers, m.Endpoint())
	}
	l.dns = startCoreDNS(t, fmt.Sprintf(`docker.:53 {
	bind %s
	dockerhosts {
		docker %s fleet
		swarm_managers %s
	}
}`, f.HostAddr, f.Machines[0].Endpoint(), strings.Join(managers, " ")))
	f.Outside.WriteResolvConf("nameserver " + f.HostAddr.String() + "\n")
	t.Logf("fleet lab ready in %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("fleet tests took %s", time.Since(began).Round(time.Millisecond)) })

	t.Run("tasks on every node followed", l.testTasksFollowed)
	t.Run("reached from outside the swarm", l.testOutside)
	t.Run("manager failover", l.testManagerFailover)
	t.Run("node down", l.testNodeDown)
	t.Run("resolver deployed on the swarm", l.testResolverOnTheSwarm)
}

// fleetWithin bounds waits on the swarm of machines; a manager's death
// costs a leader election, a node's the managers' heartbeat timeout.
const fleetWithin = 60 * time.Second

type fleetLab struct {
	*fleet.Fleet
	idle, web, probe string
	dns              *coreDNS
}

// fleetTask is a running task as a manager reports it.
type fleetTask struct {
	id, container string
	node          string // its node's hostname
	addr          string // on the fleet's overlay
	running       time.Time
	hostPort      string // its first host-mode port, "" without
}

// runningTasks returns the tasks of svc that manager m reports running,
// and how many more are meant to run but do not yet.
func (l *fleetLab) runningTasks(m *fleet.Machine, svc string) ([]fleetTask, int, error) {
	out, err := m.TryDocker("service", "ps", svc, "--filter", "desired-state=running", "--no-trunc", "--format", "{{.ID}} {{.CurrentState}}")
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	others := 0
	for _, line := range strings.Split(out, "\n") {
		id, state, ok := strings.Cut(line, " ")
		switch {
		case !ok:
		case strings.HasPrefix(state, "Running"):
			ids = append(ids, id)
		default:
			others++
		}
	}
	if len(ids) == 0 {
		return nil, others, nil
	}
	tasks, err := l.inspectTasks(m, ids)
	return tasks, others, err
}

// inspectTasks reads the tasks from manager m.
func (l *fleetLab) inspectTasks(m *fleet.Machine, ids []string) ([]fleetTask, error) {
	format := fmt.Sprintf(`{{.ID}}|{{.Status.ContainerStatus.ContainerID}}|{{.NodeID}}|{{json .Status.Timestamp}}|`+
		`{{range .NetworksAttachments}}{{if eq .Network.Spec.Name %q}}{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}|`+
		`{{range .Status.PortStatus.Ports}}{{.PublishedPort}} {{end}}`, l.Overlay)
	out, err := m.TryDocker(append([]string{"inspect", "--type", "task", "--format", format}, ids...)...)
	if err != nil {
		return nil, err
	}
	nodes, err := l.nodeNames(m)
	if err != nil {
		return nil, err
	}
	var tasks []fleetTask
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 6 {
			return nil, fmt.Errorf("task inspect said %q", line)
		}
		task := fleetTask{id: f[0], container: f[1], node: nodes[f[2]], addr: strings.Split(f[4], "/")[0]}
		if err := json.Unmarshal([]byte(f[3]), &task.running); err != nil {
			return nil, fmt.Errorf("task %s running since %q: %w", f[0], f[3], err)
		}
		if ports := strings.Fields(f[5]); len(ports) > 0 {
			task.hostPort = ports[0] // Docker lists IPv4 first (swarm_hosts.go)
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// nodeNames maps node IDs to hostnames, as manager m knows them.
func (l *fleetLab) nodeNames(m *fleet.Machine) (map[string]string, error) {
	args := []string{"node", "inspect", "--format", "{{.ID}} {{.Description.Hostname}}"}
	for _, n := range l.Machines {
		args = append(args, n.Hostname)
	}
	out, err := m.TryDocker(args...)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		id, name, _ := strings.Cut(line, " ")
		names[id] = name
	}
	return names, nil
}

// tasks waits until manager m reports exactly n tasks of svc running (and
// no other meant to run) and ok approves them, and returns them.
func (l *fleetLab) tasks(t *testing.T, m *fleet.Machine, svc string, n int, ok func([]fleetTask) bool) []fleetTask {
	t.Helper()
	var tasks []fleetTask
	var others int
	var err error
	await.True(t, fleetWithin, fmt.Sprintf("%d tasks of %s running", n, svc), func() bool {
		tasks, others, err = l.runningTasks(m, svc)
		return err == nil && len(tasks) == n && others == 0 && (ok == nil || ok(tasks))
	})
	return tasks
}

func addrsOf(tasks []fleetTask) []string {
	var out []string
	for _, task := range tasks {
		out = append(out, task.addr)
	}
	slices.Sort(out)
	return out
}

func nodesOf(tasks []fleetTask) []string {
	var out []string
	for _, task := range tasks {
		if !slices.Contains(out, task.node) {
			out = append(out, task.node)
		}
	}
	slices.Sort(out)
	return out
}

func onNode(node string) func([]fleetTask) bool {
	return func(tasks []fleetTask) bool { return slices.Contains(nodesOf(tasks), node) }
}

func notOnNode(node string) func([]fleetTask) bool {
	return func(tasks []fleetTask) bool { return !slices.Contains(nodesOf(tasks), node) }
}

// startProbes starts on every machine a container on the overlay holding
// dnsprobe, for probeOn, and returns their IDs in machine order.
func (l *fleetLab) startProbes(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, m := range l.Machines {
		// -watch keeps it running; what it prints is not used.
		ids = append(ids, m.For(t).Run("probe", "--network", l.Overlay, l.probe, "-ours", l.dns.udp, "-watch", "probe"))
	}
	return ids
}

// probeOn asks Docker's embedded DNS and ours the same names from the probe
// container on machine i, until the answers are equal, and fails t if they
// do not become equal.
func (l *fleetLab) probeOn(t *testing.T, i int, probes []string, names ...string) {
	t.Helper()
	m := l.Machines[i]
	args := append([]string{"exec", probes[i], "/dnsprobe", "-ours", l.dns.udp, "-zone", "docker.", "-within", "15s"}, names...)
	out, err := m.TryDocker(args...)
	if err != nil {
		t.Fatalf("on %s, answers differ from Docker's embedded DNS: %v", m.Hostname, err)
	}
	t.Logf("on %s, same answers from Docker's embedded DNS and ours:\n%s", m.Hostname, out)
}

// testTasksFollowed: a service's tasks on every node, scaled, updated
// rolling, and moved off a drained node: tasks.<svc> answers every running
// task whatever its node, as Docker's embedded DNS does on each node.
func (l *fleetLab) testTasksFollowed(t *testing.T) {
	m1, m3 := l.Machines[0].For(t), l.Machines[2]
	sw := m1.Swarm()
	svc := sw.Service("spread", "--network", l.Overlay, "--replicas", "3",
		"--update-parallelism", "3", "--update-order", "start-first", l.idle)
	probes := l.startProbes(t)
	tasks := l.tasks(t, m1, svc, 3, nil)
	if nodes := nodesOf(tasks); len(nodes) != 3 {
		t.Fatalf("3 replicas on nodes %v, want one on each", nodes)
	}
	names := []string{svc, "tasks." + svc}
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	for i := range l.Machines {
		l.probeOn(t, i, probes, names...)
	}
	w := watchA(t, l.dns.udp, fqdn("tasks."+svc))
	var lags lagStats
	lags.note(t, w, tasks)

	m1.Docker("service", "update", "--detach", "--replicas", "6", svc)
	tasks = l.tasks(t, m1, svc, 6, nil)
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	lags.note(t, w, tasks)
	l.probeOn(t, 1, probes, names...)

	// A rolling update replaces every task.
	old := tasks
	m1.Docker("service", "update", "--detach", "--force", svc)
	tasks = l.tasks(t, m1, svc, 6, func(now []fleetTask) bool {
		return !slices.ContainsFunc(now, func(n fleetTask) bool {
			return slices.ContainsFunc(old, func(o fleetTask) bool { return o.id == n.id })
		})
	})
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	lags.note(t, w, tasks)
	l.probeOn(t, 2, probes, names...)

	// A drained node's tasks move to the others.
	t.Cleanup(func() {
		if _, err := m1.TryDocker("node", "update", "--availability", "active", m3.Hostname); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	m1.Docker("node", "update", "--availability", "drain", m3.Hostname)
	tasks = l.tasks(t, m1, svc, 6, notOnNode(m3.Hostname))
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
	lags.note(t, w, tasks)
	for i := range l.Machines {
		l.probeOn(t, i, probes, names...)
	}
	lags.report(t, "scale 3 to 6, rolling update, drain")
}

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
	srvIngress := map[string]string{} // target -> port
	for _, m := range l.Machines {
		nodes = append(nodes, m.Addr.String())
		srvIngress[fqdn(m.Hostname)] = "8080"
	}
	slices.Sort(nodes)
	var taskNodes []string
	srvHostMode := map[string]string{}
	for _, task := range tasks {
		m := l.Machine(t, task.node)
		taskNodes = append(taskNodes, m.Addr.String())
		srvHostMode[fqdn(m.Hostname)] = task.hostPort
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
			srv   map[string]string
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
				return slices.Equal(answerA(a), c.addrs) && maps.Equal(srvPorts(srv), c.srv)
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

// srvPorts maps the SRV records' targets to their ports.
func srvPorts(r *dns.Msg) map[string]string {
	out := map[string]string{}
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out[strings.ToLower(s.Target)] = strconv.Itoa(int(s.Port))
		}
	}
	return out
}

// additionalA is the A addresses of owner in r's additional section.
func additionalA(r *dns.Msg, owner string) []string {
	var out []string
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, owner) {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// testManagerFailover: the dockerd of the manager the resolver uses (the
// first, the swarm's leader) is SIGKILLed. The resolver keeps the last
// records while no manager answers, follows a scale done through a
// surviving manager once a new leader is elected, and nothing flaps when
// the killed machine's dockerd comes back.
func (l *fleetLab) testManagerFailover(t *testing.T) {
	m1, m2 := l.Machines[0].For(t), l.Machines[1].For(t)
	sw := m2.Swarm()
	// No task on the machine that dies: every change seen is the scale.
	svc := sw.Service("failover", "--network", l.Overlay, "--replicas", "2",
		"--constraint", "node.hostname!="+m1.Hostname, l.idle)
	tasks := l.tasks(t, m2, svc, 2, nil)
	l.dns.waitA(t, fqdn("tasks."+svc), addrsOf(tasks)...)
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
		"(a surviving manager accepted the scale after %s; its task ran after %s)",
		first.at.Sub(killed).Round(time.Millisecond), accepted.Sub(killed).Round(time.Millisecond),
		tasks[slices.IndexFunc(tasks, func(x fleetTask) bool { return !slices.Contains(before, x.addr) })].running.Sub(killed).Round(time.Millisecond))
	lags.report(t, "scale through a surviving manager")
	for _, c := range w.since(killed) {
		if missing := slices.DeleteFunc(slices.Clone(before), func(a string) bool { return slices.Contains(c.addrs, a) }); len(missing) > 0 {
			t.Errorf("at %s after the kill, tasks.%s answered %v: %v withdrawn", c.at.Sub(killed).Round(time.Millisecond), svc, c.addrs, missing)
		}
	}

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
	t.Logf("the managers expect a heartbeat every %s", m1.Docker("info", "--format", "{{.Swarm.Cluster.Spec.Dispatcher.HeartbeatPeriod}}"))

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

	web := m1.Swarm().Service("stackweb", "--network", l.Overlay, "--publish", "mode=host,target=8080",
		"--replicas", "2", "--replicas-max-per-node", "1", l.web)
	tasks := l.tasks(t, m1, web, 2, nil)
	l.toldAndReached(t, l.Machines, web, tasks)

	// A machine running a task dies (not the first: the test drives the
	// swarm through it).
	dead := l.Machine(t, tasks[slices.IndexFunc(tasks, func(x fleetTask) bool { return x.node != m1.Hostname })].node)
	dead.PowerOff(t)
	var alive []*fleet.Machine
	for _, m := range l.Machines {
		if m != dead {
			alive = append(alive, m)
		}
	}
	tasks = l.tasks(t, m1, web, 2, notOnNode(dead.Hostname))
	l.toldAndReached(t, alive, web, tasks)
}

// toldAndReached checks that the resolver on each of the machines tells
// the LAN machine the nodes of the host-mode service's tasks, and SRV
// records there at each task's port, with which it reaches every task.
func (l *fleetLab) toldAndReached(t *testing.T, resolvers []*fleet.Machine, svc string, tasks []fleetTask) {
	t.Helper()
	var nodes []string
	srv := map[string]string{}
	for _, task := range tasks {
		m := l.Machine(t, task.node)
		nodes = append(nodes, m.Addr.String())
		srv[fqdn(m.Hostname)] = task.hostPort
	}
	slices.Sort(nodes)
	for _, r := range resolvers {
		var a, answer *dns.Msg
		defer func() {
			if t.Failed() && a != nil {
				t.Logf("the resolver on %s told last %s at %v and SRV %v", r.Hostname, svc, answerA(a), srvPorts(answer))
			}
		}()
		await.True(t, fleetWithin, fmt.Sprintf("the resolver on %s tells %s at %v, SRV %v", r.Hostname, svc, nodes, srv), func() bool {
			a = askAt(t, l.Outside, r.Addr, fqdn(svc), dns.TypeA)
			answer = askAt(t, l.Outside, r.Addr, fqdn("_8080._tcp."+svc), dns.TypeSRV)
			return slices.Equal(answerA(a), nodes) && maps.Equal(srvPorts(answer), srv)
		})
		t.Logf("the resolver on %s tells the LAN machine %s at %v and SRV %v", r.Hostname, svc, nodes, srvPorts(answer))
		for _, rr := range answer.Answer {
			s := rr.(*dns.SRV)
			addrs := additionalA(answer, s.Target)
			if len(addrs) != 1 {
				t.Errorf("the resolver on %s gives %s at %v", r.Hostname, s.Target, addrs)
				continue
			}
			task := tasks[slices.IndexFunc(tasks, func(x fleetTask) bool { return fqdn(x.node) == strings.ToLower(s.Target) })]
			url := fmt.Sprintf("http://%s:%d/", addrs[0], s.Port)
			out, err := l.Outside.Run("curl", "-sS", "--max-time", "5", url)
			if want := task.container[:12]; err != nil || strings.TrimSpace(out) != want {
				t.Errorf("GET %s (told by %s) from the LAN machine: %q, %v; want task container %s", url, r.Hostname, out, err, want)
			}
		}
	}
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
