package docker

import (
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

	// Without a network of its own (host networking), a container's
	// published ports stay for everyone and nothing is exposed.
	host := ctr{id: "0123456789abcdef", name: "db", mode: "host", ports: map[string][]string{"5432/tcp": {"0.0.0.0:5432"}}}.build()
	host.Config.ExposedPorts = network.PortSet{network.MustParsePort("5432/tcp"): {}}
	if r, _ := recordFor(host, mapping{engine: "host"}); len(r.host.Services) != 1 || r.host.Services[0].Reach != index.ReachAll {
		t.Errorf("host-networked: %+v, want the published port for all", r.host.Services)
	}
}
