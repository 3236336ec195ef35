package docker

import (
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// TestSwarmServiceTTLAndRankLabels: a service's dockerhosts.ttl applies to
// its records and its tasks', its dockerhosts.srv.* to its SRV records.
func TestSwarmServiceTTLAndRankLabels(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.labels = map[string]string{"dockerhosts.ttl": "45", "dockerhosts.srv.weight": "0"}
	spec.ports = []swarm.PortConfig{{Protocol: network.TCP, TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}
	sw.setService(spec.build())
	task := webTask("t1", 1, "n1", "10.0.1.5")
	task.hostPorts = []uint32{30001}
	sw.setTask(task.build())
	_, sink := runningSwarm(t, pollNever, newFakeManager(sw))

	svc, _ := sink.host("service/s-web")
	if svc.TTL != 45 || !svc.HasTTL || len(svc.Services) != 1 || svc.Services[0].Rank != (index.Rank{Priority: 10, Weight: 0, Set: true}) {
		t.Errorf("service host %+v, want TTL 45 and its SRV at weight 0", svc)
	}
	if h, _ := sink.host("task/t1"); h.TTL != 45 || !h.HasTTL {
		t.Errorf("task host %+v, want TTL 45", h)
	}
}
