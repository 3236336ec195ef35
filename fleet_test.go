//go:build linux

package dockerhosts

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/dockerhosts/dockerhosts/internal/testkit/fleet"
	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"
)

// TestFleet serves a swarm of three managers, each a machine of its own (a
// network namespace running its own dockerd: internal/testkit/fleet), from
// a resolver on this host that talks to the first manager and knows the
// two others (swarm_managers). The fleet is built once and shared by the
// subtests, which run in order: the last three kill machines.
//
// Nothing is sent from this host to an overlay or task address: containers
// on the overlay ask Docker's embedded DNS and ours from inside, on each
// node. The kernel here has no IP_VS, so swarm VIPs and the ingress routing
// mesh carry no traffic (dockerd logs "Could not get ipvs family
// information"): ingress is checked through the answers (which addresses
// and ports are given), traffic through host-mode ports.
func TestFleet(t *testing.T) {
	began := time.Now()
	hostlan.RequirePrograms(t, "curl")
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
	out, err := m.TryDocker(dockertest.ServicePSArgs(svc)...)
	if err != nil {
		return nil, 0, err
	}
	ids, others := dockertest.ParseServicePS(out)
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
