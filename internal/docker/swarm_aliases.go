package docker

import (
	"slices"
	"strconv"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// A swarm service's network alias exists in Docker's DNS only on the network
// it is given on (libnetwork adds it, and tasks.<alias>, to that network's
// service records alone), while the service name and tasks.<service> exist on
// every network of the service. So the aliases are hosts of their own, one
// per group of aliases given on the same networks, beside the service's host
// and each task's: they hold every address of the service (or task), marked
// index.NamesHere on the alias's networks and index.NamesElsewhere on the
// others, and the handler answers each client by the network it is on
// (networknames.go in the plugin).

// aliasHostID is the ID of the i-th alias host (from 1) of the host base.
func aliasHostID(base string, i int) string { return base + "/alias" + strconv.Itoa(i) }

// serviceAliasHosts are the hosts of svc's network aliases: each as the
// service's own host (its SRV records, published addresses, TTL and label
// records), at the addresses marked for the group's networks.
func serviceAliasHosts(svc swarmService, own index.Host) []index.Host {
	out := make([]index.Host, 0, len(svc.aliases))
	for i, g := range svc.aliases {
		h := own
		h.ID, h.Names, h.ReverseNames = aliasHostID(own.ID, i+1), g.names, nil
		h.Addrs = boundTo(svc.vips, svc.vipNets, g.networks)
		out = append(out, h)
	}
	return out
}

// taskAliasHosts are the hosts of a task's names under svc's network
// aliases: tasks.<alias>, and in dnsrr mode the aliases themselves.
func taskAliasHosts(t swarmTask, svc swarmService, own index.Host) []index.Host {
	out := make([]index.Host, 0, len(svc.aliases))
	for i, g := range svc.aliases {
		h := own
		h.ID, h.ReverseNames = aliasHostID(own.ID, i+1), nil
		h.Names = g.taskNames
		if svc.dnsrr {
			h.Names = slices.Concat(g.taskNames, g.names)
		}
		h.Addrs = boundTo(t.addrs, t.addrNets, g.networks)
		h.Services = targeted(own.Services, t.containerName) // it has no name of its own
		out = append(out, h)
	}
	return out
}

// targeted is services with the default target (the host's own name) made
// target.
func targeted(services []index.Service, target string) []index.Service {
	out := make([]index.Service, 0, len(services))
	for _, s := range services {
		if s.Target == "" {
			s.Target = target
		}
		out = append(out, s)
	}
	return out
}

// boundTo is addrs, each marked as the network (of nets, by index) it is
// on: here when one of networks, elsewhere when not.
func boundTo(addrs []index.Addr, nets, networks []string) []index.Addr {
	out := make([]index.Addr, len(addrs))
	for i, a := range addrs {
		a.Names = index.NamesElsewhere
		if i < len(nets) && slices.Contains(networks, nets[i]) {
			a.Names = index.NamesHere
		}
		out[i] = a
	}
	return out
}
