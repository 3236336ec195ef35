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

// TestSwarmServiceNameLabels: a service's dockerhosts.name, txt, wildcard
// and srv act on it as on a container: extra names with their tasks. names,
// TXT on its names, *.<name> for every name, its ports at the service (its
// VIP) and at each task; the task list keeps its addresses under a cname.
func TestSwarmServiceNameLabels(t *testing.T) {
	sw := twoNodeSwarm()
	spec := webService()
	spec.ports = nil
	spec.labels = map[string]string{"dockerhosts.name": "www", "dockerhosts.txt": "v=1", "dockerhosts.txt._acme": "token",
		"dockerhosts.wildcard": "true", "dockerhosts.srv": "http:80/tcp"}
	sw.setService(spec.build())
	sw.setTask(webTask("t1", 1, "n1", "10.0.1.5").build())
	_, sink := runningSwarm(t, pollNever, newFakeManager(sw))

	http := index.Service{Name: "http", Proto: "tcp", Port: 80}
	withTarget := http
	withTarget.Target = "web"
	wantHost(t, sink, index.Host{ID: "service/s-web", Names: []string{"web", "www"}, Addrs: []index.Addr{appnet("10.0.1.2")},
		TXT: []index.TXT{{Strings: []string{"v=1"}}, {Key: "_acme", Strings: []string{"token"}}}, Wildcard: true,
		Services: []index.Service{withTarget}})
	wantHost(t, sink, index.Host{ID: "task/t1", Names: []string{"web.1.t1", "tasks.web", "tasks.www"}, ReverseNames: []string{"web.1.t1"},
		Addrs: []index.Addr{appnet("10.0.1.5")}, Wildcard: true, Services: []index.Service{http}})

	spec.labels = map[string]string{"dockerhosts.cname": "front.example."}
	svc := spec.build()
	svc.Version.Index++
	sw.setService(svc)
	_, sink = runningSwarm(t, pollNever, newFakeManager(sw))
	if h, _ := sink.host("service/s-web"); h.CNAME != "front.example." {
		t.Errorf("service host %+v, want a CNAME to front.example.", h)
	}
	if h, _ := sink.host("task/t1"); h.CNAME != "" || len(h.Addrs) != 1 {
		t.Errorf("task host %+v, want its address, no CNAME", h)
	}
}
