package docker

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/container"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// exposedPorts are the container's ports (image EXPOSE, --expose, and every
// published one) as SRV services _<port>._<proto> at the container itself,
// for clients on its networks: they reach the container port directly.
// Everyone else keeps the published host port (index.Reach).
func exposedPorts(c container.InspectResponse, rank index.Rank) []index.Service {
	var out []index.Service
	add := func(p string, proto string, num uint16) {
		if proto != "tcp" && proto != "udp" || num == 0 {
			return // sctp has no SRV convention clients follow
		}
		s := index.Service{Name: p, Proto: proto, Port: num, Rank: rank, Reach: index.ReachNetworks}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if c.Config != nil {
		for p := range c.Config.ExposedPorts {
			if p.IsValid() {
				add(strconv.Itoa(int(p.Num())), string(p.Proto()), p.Num())
			}
		}
	}
	if c.NetworkSettings != nil {
		for p := range c.NetworkSettings.Ports {
			if p.IsValid() {
				add(strconv.Itoa(int(p.Num())), string(p.Proto()), p.Num())
			}
		}
	}
	// Map order is random; a stable order keeps an unchanged container
	// from republishing the index.
	slices.SortFunc(out, func(a, b index.Service) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
	})
	return out
}

// onNetworks reports whether some address has a subnet, so that a client
// can be told to be on its network.
func onNetworks(addrs []index.Addr) bool {
	return slices.ContainsFunc(addrs, func(a index.Addr) bool { return a.Subnet.IsValid() })
}

// withExposed adds the exposed ports of c to the published ones, which
// then are for clients elsewhere only; a container with no network of its
// own (no subnet known) keeps its published ports for all. A port a label
// already advertises for all under the same name is not repeated.
func withExposed(published, labelled []index.Service, c container.InspectResponse, addrs []index.Addr, rank index.Rank) []index.Service {
	exposed := exposedPorts(c, rank)
	if len(exposed) == 0 || !onNetworks(addrs) {
		return published
	}
	out := make([]index.Service, 0, len(published)+len(exposed))
	for _, s := range published {
		s.Reach = index.ReachElsewhere
		out = append(out, s)
	}
	for _, s := range exposed {
		if !slices.ContainsFunc(labelled, func(l index.Service) bool {
			return l.Name == s.Name && l.Proto == s.Proto && l.Port == s.Port && l.Target == ""
		}) {
			out = append(out, s)
		}
	}
	return out
}
