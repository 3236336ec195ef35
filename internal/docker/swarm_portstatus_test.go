package docker

import (
	"slices"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSwarmKeepsHostPortsANewLeaderForgets: after a leader change, the
// managers record each running task's status again without its host
// ports (keepHostPorts). Its SRV record stays, through polls and through
// the full sync of a reconnection to another manager; a task that moves
// to another node, a new task, gets none until Docker reports its port.
func TestSwarmKeepsHostPortsANewLeaderForgets(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.ports = []swarm.PortConfig{{Protocol: network.TCP, TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}
	sw.setService(spec.build())
	t1 := webTask("t1", 1, "n1", "10.0.1.5")
	t1.hostPorts = []uint32{30001}
	sw.setTask(t1.build())
	m1, m2 := newFakeManager(sw), newFakeManager(sw)
	s, sink := runningSwarm(t, pollOften, m1, m2)
	srv := []index.Service{{Name: "8080", Proto: "tcp", Port: 30001, Target: "node1"}}
	served := func() []index.Service { h, _ := sink.host("service/s-web"); return h.Services }
	if !slices.Equal(served(), srv) {
		t.Fatalf("SRV of web %+v, want %+v", served(), srv)
	}

	sw.updateTask("t1", func(t *swarm.Task) {
		t.Status.PortStatus = swarm.PortStatus{}
		t.Status.Timestamp = time.Now()
	})
	polls := func() float64 { return testutil.ToFloat64(s.metrics.pollsAll) }
	after := polls()
	await.True(t, waitLimit, "two full polls", func() bool { return polls() >= after+2 })
	if !slices.Equal(served(), srv) {
		t.Errorf("after a poll, SRV of web %+v, want %+v kept", served(), srv)
	}
	m1.setDown(errEngineDown)
	await.True(t, waitLimit, "synced again through the second manager", func() bool { return m2.count("info") > 0 && polls() >= after+4 })
	if !slices.Equal(served(), srv) {
		t.Errorf("after a full sync, SRV of web %+v, want %+v kept", served(), srv)
	}

	sw.updateTask("t1", func(t *swarm.Task) { t.NodeID = "n2" })
	await.True(t, waitLimit, "a task on another node without ports has no SRV", func() bool { return len(served()) == 0 })
}
