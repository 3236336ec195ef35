package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Benchmark swarm: 50 nodes, 100 services of 100 tasks each on one overlay
// (and ingress, like a service publishing through the routing mesh); every
// tenth service also publishes a host-mode port.
const (
	benchNodes           = 50
	benchServices        = 100
	benchTasksPerService = 100
)

func populateSwarm(sw *fakeSwarm) {
	for n := range benchNodes {
		sw.setNode(fakeNode(fmt.Sprintf("n%02d", n), fmt.Sprintf("node%02d", n), fmt.Sprintf("192.0.2.%d", n+10)))
	}
	sw.setNetwork("net-appnet", "appnet", "10.0.0.0/16", false)
	sw.setNetwork("net-ingress", "ingress", "10.255.0.0/16", true)
	for s := range benchServices {
		spec := svcSpec{
			id: fmt.Sprintf("s%03d", s), name: fmt.Sprintf("svc%03d", s), networks: []string{"net-appnet"},
			vips:  map[string]string{"net-appnet": fmt.Sprintf("10.1.%d.%d/16", s/250, s%250+1)},
			ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: uint32(20000 + s), PublishMode: swarm.PortConfigPublishModeIngress}},
		}
		if s%10 == 0 {
			spec.ports = append(spec.ports, swarm.PortConfig{Protocol: "tcp", TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost})
		}
		sw.setService(spec.build())
		for i := range benchTasksPerService {
			n := s*benchTasksPerService + i
			ts := taskSpec{
				id: fmt.Sprintf("task%021d", n), service: spec.id, slot: i + 1, node: fmt.Sprintf("n%02d", n%benchNodes),
				addrs: map[string]string{"appnet": fmt.Sprintf("10.0.%d.%d/16", n/250, n%250+1), "ingress": fmt.Sprintf("10.255.%d.%d/16", n/250, n%250+1)},
				since: time.Now(),
			}
			if s%10 == 0 {
				ts.hostPorts = []uint32{uint32(30000 + i)}
			}
			sw.setTask(realistic(ts.build()))
		}
	}
}

// realistic fills in what a manager's answer carries besides what the
// source reads, so that decoding costs what it does for real (about 2 KB of
// JSON per task, as measured on Docker 20.10).
func realistic(t swarm.Task) swarm.Task {
	now := time.Now()
	t.CreatedAt, t.UpdatedAt = now, now
	t.Spec.ContainerSpec = &swarm.ContainerSpec{Image: "registry.example/app:1.2.3@sha256:" + strings.Repeat("0", 64), Isolation: "default"}
	t.Spec.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}}
	t.Spec.Placement = &swarm.Placement{}
	t.Status.Message = "started"
	t.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: strings.Repeat("a", 64), PID: 1234}
	for i := range t.NetworksAttachments {
		n := &t.NetworksAttachments[i].Network
		t.Spec.Networks = append(t.Spec.Networks, swarm.NetworkAttachmentConfig{Target: n.ID})
		n.CreatedAt, n.UpdatedAt = now, now
		n.Spec.Labels = map[string]string{}
		n.Spec.DriverConfiguration = &swarm.Driver{Name: "overlay"}
		n.Spec.Scope = "swarm"
		n.DriverState = swarm.Driver{Name: "overlay", Options: map[string]string{"com.docker.network.driver.overlay.vxlanid_list": "4097"}}
		ipam := &swarm.IPAMOptions{Driver: swarm.Driver{Name: "default"},
			Configs: []swarm.IPAMConfig{{Subnet: t.NetworksAttachments[i].Addresses[0].Masked()}}}
		n.Spec.IPAMOptions, n.IPAMOptions = ipam, ipam
	}
	return t
}

// cannedTasks answers TaskList with one prepared list, so that the
// benchmark measures the source, not the fake; with decode set it decodes
// the list from JSON each time, as the moby client does with the manager's
// answer.
type cannedTasks struct {
	*fakeManager
	items    []swarm.Task
	body     []byte
	services []byte // the service list with status, as JSON
	decode   bool
}

func newCannedTasks(sw *fakeSwarm, decode bool) *cannedTasks {
	m := newFakeManager(sw)
	res, _ := m.TaskList(context.Background(), client.TaskListOptions{})
	body, err := json.Marshal(res.Items)
	if err != nil {
		panic(err)
	}
	svcs, _ := m.ServiceList(context.Background(), client.ServiceListOptions{Status: true})
	services, err := json.Marshal(svcs.Items)
	if err != nil {
		panic(err)
	}
	return &cannedTasks{fakeManager: m, items: res.Items, body: body, services: services, decode: decode}
}

func (c *cannedTasks) ServiceList(ctx context.Context, opts client.ServiceListOptions) (client.ServiceListResult, error) {
	if !c.decode || !opts.Status {
		return c.fakeManager.ServiceList(ctx, opts)
	}
	var items []swarm.Service
	err := json.NewDecoder(bytes.NewReader(c.services)).Decode(&items)
	return client.ServiceListResult{Items: items}, err
}

func (c *cannedTasks) TaskList(ctx context.Context, opts client.TaskListOptions) (client.TaskListResult, error) {
	if !c.decode {
		return client.TaskListResult{Items: c.items}, nil
	}
	var items []swarm.Task
	err := json.NewDecoder(bytes.NewReader(c.body)).Decode(&items)
	return client.TaskListResult{Items: items}, err
}

// BenchmarkSwarmInitialSync: one full sync of 10,000 tasks on 50 nodes
// (lists, hosts built, Replace).
func BenchmarkSwarmInitialSync(b *testing.B) {
	sw := newFakeSwarm()
	populateSwarm(sw)
	engine := newCannedTasks(sw, false)
	ctx := context.Background()
	for b.Loop() {
		s := newSwarmSource(SwarmConfig{Engine: "bench"}, []swarmEngine{engine}, discardSink{})
		if err := s.fullSync(ctx, engine, "startup"); err != nil {
			b.Fatal(err)
		}
		if len(s.state.tasks) != benchServices*benchTasksPerService {
			b.Fatalf("%d tasks served", len(s.state.tasks))
		}
	}
}

// BenchmarkSwarmPollUnchanged: one poll of every running task when nothing
// changed. "source" is the source's own work on the listed tasks; "decoded"
// adds decoding the manager's JSON answer, as the real client does.
func BenchmarkSwarmPollUnchanged(b *testing.B) {
	for _, decode := range []bool{false, true} {
		name := "source"
		if decode {
			name = "decoded"
		}
		b.Run(name, func(b *testing.B) {
			sw := newFakeSwarm()
			populateSwarm(sw)
			engine := newCannedTasks(sw, decode)
			ctx := context.Background()
			s := newSwarmSource(SwarmConfig{Engine: "bench"}, []swarmEngine{engine}, discardSink{})
			if err := s.fullSync(ctx, engine, "startup"); err != nil {
				b.Fatal(err)
			}
			measurePolls(b, func() error { return s.pollTasks(ctx, engine, "") }, true)
		})
	}
}

// BenchmarkSwarmStatusPoll: the poll made every DefaultSwarmPoll: the
// service list with task counts (100 services, 10,000 tasks), decoded from
// JSON, when nothing changed.
func BenchmarkSwarmStatusPoll(b *testing.B) {
	sw := newFakeSwarm()
	populateSwarm(sw)
	engine := newCannedTasks(sw, true)
	ctx := context.Background()
	s := newSwarmSource(SwarmConfig{Engine: "bench"}, []swarmEngine{engine}, discardSink{})
	if err := s.fullSync(ctx, engine, "startup"); err != nil {
		b.Fatal(err)
	}
	measurePolls(b, func() error { return s.pollStatus(ctx, engine) }, false)
	// One list was made to prepare the canned answer.
	if n := engine.count("tasks") - 1; n > 0 {
		b.Fatalf("%d task polls: the counts matched, none was needed", n)
	}
}

// measurePolls runs poll in the benchmark loop and reports its CPU time
// (garbage collection included) and what that is in a core at one poll
// every DefaultSwarmPoll, or, for the full poll (adaptive), at the period
// the source picks from the poll's duration.
func measurePolls(b *testing.B, poll func() error, adaptive bool) {
	var cpu, wall time.Duration
	for b.Loop() {
		start, began := processCPU(), time.Now()
		if err := poll(); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - start
		wall += time.Since(began)
	}
	n := float64(b.N)
	period := DefaultSwarmPoll
	if adaptive {
		period = max(period, fullPollCost*wall/time.Duration(b.N))
	}
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/poll")
	b.ReportMetric(period.Seconds(), "s-period")
	b.ReportMetric(100*cpu.Seconds()/n/period.Seconds(), "%core")
}

// BenchmarkSwarmMemoryPerTask: heap the source keeps per served task (the
// index's own copy of the records is not included).
func BenchmarkSwarmMemoryPerTask(b *testing.B) {
	sw := newFakeSwarm()
	populateSwarm(sw)
	engine := newCannedTasks(sw, false)
	ctx := context.Background()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newSwarmSource(SwarmConfig{Engine: "bench"}, []swarmEngine{engine}, discardSink{})
		if err := s.fullSync(ctx, engine, "startup"); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(s.state.tasks)), "bytes/task")
	}
}

// processCPU is the CPU time (user + system) this process has used: a poll's
// cost including the garbage collection it causes.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
