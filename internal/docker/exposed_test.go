package docker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func TestExposedPortsForClientsOnTheNetworks(t *testing.T) {
	c := ctr{id: "0123456789abcdef", name: "db", nets: map[string]ep{"back": {ip: "10.0.0.2"}},
		ports: map[string][]string{"5432/tcp": {"127.0.0.1:15432"}}}.build()
	// Image EXPOSE and --expose, as inspect shows them; sctp has no SRV.
	c.Config.ExposedPorts = network.PortSet{network.MustParsePort("5432/tcp"): {}, network.MustParsePort("9187/tcp"): {},
		network.MustParsePort("53/udp"): {}, network.MustParsePort("7/sctp"): {}}
	rank := index.Rank{Priority: 1, Weight: 2, Set: true}
	c.Config.Labels = map[string]string{"dockerhosts.srv.priority": "1", "dockerhosts.srv.weight": "2"}
	r, ok := recordFor(c, mapping{engine: "host", noShortID: true})
	if !ok {
		t.Fatal("not served")
	}
	want := []index.Service{
		{Name: "5432", Proto: "tcp", Port: 15432, Target: "127-0-0-1.host", Rank: rank, Reach: index.ReachElsewhere},
		{Name: "53", Proto: "udp", Port: 53, Rank: rank, Reach: index.ReachNetworks},
		{Name: "5432", Proto: "tcp", Port: 5432, Rank: rank, Reach: index.ReachNetworks},
		{Name: "9187", Proto: "tcp", Port: 9187, Rank: rank, Reach: index.ReachNetworks},
	}
	if !slices.Equal(r.host.Services, want) {
		t.Errorf("services\n got %+v\nwant %+v", r.host.Services, want)
	}

	// A label that advertises the same port under its number already
	// answers every client: the exposed record would repeat it.
	c.Config.Labels["dockerhosts.srv"] = "9187:9187/tcp"
	r, _ = recordFor(c, mapping{engine: "host", noShortID: true})
	if n := len(slices.DeleteFunc(slices.Clone(r.host.Services), func(s index.Service) bool { return s.Name != "9187" })); n != 1 {
		t.Errorf("port 9187 in %d services, want the label's alone: %+v", n, r.host.Services)
	}

	// Without a network of its own (host networking), a container's
	// published ports stay for everyone and nothing is exposed.
	host := ctr{id: "0123456789abcdef", name: "db", mode: "host", ports: map[string][]string{"5432/tcp": {"0.0.0.0:5432"}}}.build()
	host.Config.ExposedPorts = network.PortSet{network.MustParsePort("5432/tcp"): {}}
	if r, _ := recordFor(host, mapping{engine: "host"}); len(r.host.Services) != 1 || r.host.Services[0].Reach != index.ReachAll {
		t.Errorf("host-networked: %+v, want the published port for all", r.host.Services)
	}
}

// BenchmarkIndexMemoryPerContainer: what a compose container costs in the
// index with ports=N exposed ports (each an SRV name under every name of
// the container), after a full sync of 10,000 of them.
func BenchmarkIndexMemoryPerContainer(b *testing.B) {
	const n = 10_000
	for _, ports := range []int{0, 1, 2} {
		b.Run(fmt.Sprintf("ports=%d", ports), func(b *testing.B) {
			fe := newFakeEngine()
			for i := range n {
				id := fmt.Sprintf("%064x", i+1)
				c := composeCtr(id, fmt.Sprintf("proj%d", i/250), "svc", fmt.Sprint(i%250+1),
					fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)).build()
				c.Config.ExposedPorts = network.PortSet{}
				for p := range ports {
					c.Config.ExposedPorts[network.MustParsePort(fmt.Sprintf("%d/tcp", 8080+p))] = struct{}{}
				}
				fe.set(c)
			}
			ctx := context.Background()
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				x := index.New([]string{"docker."})
				s := newSource(Config{Engine: "host"}, fe, x.For(index.Source{Kind: "docker", Name: "host"}))
				if err := s.fullSync(ctx, "startup"); err != nil {
					b.Fatal(err)
				}
				s = nil
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(x)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/container")
			}
		})
	}
}
