package docker

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/moby/moby/api/types/swarm"
)

// Host IDs of the three kinds of swarm hosts, unique within the source.
const (
	serviceHostPrefix = "service/"
	taskHostPrefix    = "task/"
	nodeHostPrefix    = "node/"
)

// swarmNode is what the source needs of a node.
type swarmNode struct {
	version  uint64
	hostname string // normalised; "" when not a valid DNS name
	addr     netip.Addr
	// offersPorts: ready and active. A drained, paused or down node gets
	// no new tasks and may not route its ports: they are not offered.
	offersPorts bool
}

// swarmService is what the source needs of a service, names normalised.
type swarmService struct {
	version uint64
	name    string
	dnsrr   bool
	// names answer the service on every network: its name, <svc>.<stack>,
	// its label names (dockerhosts.name).
	names []string
	// taskNames answer every task: tasks.<each of names>.
	taskNames []string
	// aliases are its network aliases, which answer only on their networks
	// (swarm_aliases.go).
	aliases []aliasGroup
	vips    []index.Addr
	vipNets []string           // the network ID of each VIP
	ingress []swarm.PortConfig // ingress-mode published ports
	// ttl (when hasTTL) and rank are its labels' (dockerhosts.ttl,
	// dockerhosts.srv.*), for its records and its tasks'.
	ttl    uint32
	hasTTL bool
	rank   index.Rank
	// cname and txt are its labels', for its own names (not its tasks'):
	// tasks.<svc> stays the task list. wildcard is for every name.
	cname    string
	txt      []index.TXT
	wildcard bool
	// services are its dockerhosts.srv ports: at its names, target the
	// service (its VIP); at its tasks' names, target each task.
	services []index.Service
}

// aliasGroup is the network aliases of a service that are given on the same
// networks: Docker's DNS answers them only there.
type aliasGroup struct {
	networks  []string // network IDs, sorted
	names     []string
	taskNames []string // tasks.<each of names>
}

// swarmTask is what the source needs of a running task.
type swarmTask struct {
	version   uint64
	serviceID string
	nodeID    string
	// containerName is <service>.<slot|node>.<task id>, as Docker names the
	// task's container.
	containerName string
	addrs         []index.Addr
	addrNets      []string           // the network ID of each address
	hostPorts     []swarm.PortConfig // host-mode ports as bound, one per port
	// nodeAddr is its node's address, where its host-mode ports are
	// reached; invalid while the node is unknown.
	nodeAddr netip.Addr
	// runningSince is when the manager recorded the task as running.
	runningSince int64
	seen         uint64 // the last poll that listed it
}

// nodeFrom turns an API node into the source's view; skip names a hostname
// that is not a valid DNS name.
func nodeFrom(n swarm.Node) (v swarmNode, skip string) {
	v.version = n.Version.Index
	if h, ok := dnsname.Normalize(n.Description.Hostname); ok {
		v.hostname = h
	} else if n.Description.Hostname != "" {
		skip = n.Description.Hostname
	}
	if a, err := netip.ParseAddr(n.Status.Addr); err == nil && !a.IsUnspecified() {
		v.addr = a.Unmap()
	}
	v.offersPorts = n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
	return v, skip
}

// serviceFrom turns an API service into the source's view, with the labels
// read from it (parseLabels). networks maps network IDs to their names (for
// the VIPs); scope is the engine whose clients the overlay subnets mean
// something to; skipped lists names that are not valid DNS names.
func serviceFrom(s swarm.Service, labels containerLabels, networks map[string]swarmNetwork, scope string) (v swarmService, skipped []string) {
	v.version = s.Version.Index
	v.ttl, v.hasTTL, v.rank = labels.ttl, labels.hasTTL, labels.rank
	v.cname, v.txt, v.wildcard, v.services = labels.cname, labels.txt, labels.wildcard, labels.services
	normalize := func(raw string) (string, bool) {
		if raw = strings.TrimSpace(raw); raw == "" {
			return "", false
		}
		name, ok := dnsname.Normalize(raw)
		if !ok && !slices.Contains(skipped, raw) {
			skipped = append(skipped, raw)
		}
		return name, ok
	}
	add := func(raw string) {
		if name, ok := normalize(raw); ok && !slices.Contains(v.names, name) {
			v.names = append(v.names, name)
		}
	}
	add(s.Spec.Name)
	if len(v.names) > 0 {
		v.name = v.names[0]
	}
	// A stack service <stack>_<svc> also answers <svc>.<stack>, as a
	// compose service answers <service>.<project>.
	if stack := s.Spec.Labels[labelStackNamespace]; stack != "" {
		if short, ok := strings.CutPrefix(s.Spec.Name, stack+"_"); ok && short != "" {
			add(short + "." + stack)
		}
	}
	for _, n := range labels.names {
		add(n)
	}
	v.taskNames = taskNamesOf(v.names)

	// Network aliases answer on their own networks only, as in Docker's
	// DNS (libnetwork adds them to that network's records alone). A name
	// the service has everywhere needs no alias.
	var aliases []string
	on := map[string][]string{} // alias -> the network IDs it is given on
	for _, n := range s.Spec.TaskTemplate.Networks {
		for _, raw := range n.Aliases {
			name, ok := normalize(raw)
			if !ok || slices.Contains(v.names, name) || slices.Contains(on[name], n.Target) {
				continue
			}
			if on[name] == nil {
				aliases = append(aliases, name)
			}
			on[name] = append(on[name], n.Target)
		}
	}
	for _, name := range aliases {
		nets := slices.Sorted(slices.Values(on[name]))
		i := slices.IndexFunc(v.aliases, func(g aliasGroup) bool { return slices.Equal(g.networks, nets) })
		if i < 0 {
			v.aliases = append(v.aliases, aliasGroup{networks: nets})
			i = len(v.aliases) - 1
		}
		v.aliases[i].names = append(v.aliases[i].names, name)
	}
	for i := range v.aliases {
		v.aliases[i].taskNames = taskNamesOf(v.aliases[i].names)
	}

	mode := s.Endpoint.Spec.Mode
	if s.Spec.EndpointSpec != nil && s.Spec.EndpointSpec.Mode != "" {
		mode = s.Spec.EndpointSpec.Mode
	}
	v.dnsrr = mode == swarm.ResolutionModeDNSRR
	if !v.dnsrr {
		for _, vip := range s.Endpoint.VirtualIPs {
			n, ok := networks[vip.NetworkID]
			if !ok || n.ingress || !vip.Addr.IsValid() {
				continue // the routing mesh's network has no names
			}
			v.vips = append(v.vips, index.Addr{IP: vip.Addr.Addr().Unmap(), Network: n.name, Subnet: vip.Addr.Masked(), Scope: scope})
			v.vipNets = append(v.vipNets, vip.NetworkID)
		}
	}
	for _, p := range s.Endpoint.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost && p.PublishedPort != 0 && !slices.Contains(v.ingress, p) {
			v.ingress = append(v.ingress, p)
		}
	}
	return v, skipped
}

// taskNamesOf are tasks.<name> for each of names that stays a valid name.
func taskNamesOf(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if t := "tasks." + n; len(t) <= dnsname.MaxName {
			out = append(out, t)
		}
	}
	return out
}

// swarmNetwork is what the source needs of a swarm network.
type swarmNetwork struct {
	name    string
	ingress bool
}

// taskFrom turns a running task of svc into the source's view; scope as
// for serviceFrom.
func taskFrom(t swarm.Task, svc swarmService, scope string) swarmTask {
	v := swarmTask{
		version:      t.Version.Index,
		serviceID:    t.ServiceID,
		nodeID:       t.NodeID,
		runningSince: t.Status.Timestamp.UnixNano(),
	}
	// Docker names a replicated task's container <service>.<slot>.<id>
	// and a global one's <service>.<node id>.<id>.
	slot := strconv.Itoa(t.Slot)
	if t.Slot == 0 {
		slot = t.NodeID
	}
	if name, ok := dnsname.Normalize(svc.name + "." + slot + "." + t.ID); ok && svc.name != "" {
		v.containerName = name
	}
	for _, att := range t.NetworksAttachments {
		if att.Network.Spec.Ingress {
			continue
		}
		for _, p := range att.Addresses {
			if p.IsValid() {
				v.addrs = append(v.addrs, index.Addr{IP: p.Addr().Unmap(), Network: att.Network.Spec.Name, Subnet: p.Masked(), Scope: scope})
				v.addrNets = append(v.addrNets, att.Network.ID)
			}
		}
	}
	// PortStatus lists a host-mode port once per address family, IPv4
	// (0.0.0.0) first, then IPv6 (::), and does not say which is which. A
	// random host port is allocated per family and the two drift apart
	// (32865 and 32861 for one task here): the IPv6 one is not reachable
	// at the node's IPv4 address. One port per target port: the first.
	for _, p := range t.Status.PortStatus.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 &&
			!slices.ContainsFunc(v.hostPorts, func(q swarm.PortConfig) bool {
				return q.TargetPort == p.TargetPort && q.Protocol == p.Protocol
			}) {
			v.hostPorts = append(v.hostPorts, p)
		}
	}
	return v
}

// serves reports whether Docker's embedded DNS would answer t: a task
// leaves it as soon as its desired state is no longer running, seconds
// before its container stops, and enters it once running.
func serves(t swarm.Task) bool {
	return t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning
}

// taskHost is the host of one running task: tasks.<name> for each service
// name, its container name, and in dnsrr mode the service names too.
func taskHost(id string, t swarmTask, svc swarmService) index.Host {
	names := make([]string, 0, 1+len(svc.taskNames)+len(svc.names))
	if t.containerName != "" {
		names = append(names, t.containerName)
	}
	names = append(names, svc.taskNames...)
	if svc.dnsrr {
		names = append(names, svc.names...)
	}
	h := index.Host{ID: taskHostPrefix + id, Names: names, Addrs: t.addrs, TTL: svc.ttl, HasTTL: svc.hasTTL, Wildcard: svc.wildcard}
	if t.containerName != "" {
		h.Services = svc.services // target "": the task, by its container name
	}
	if len(t.hostPorts) > 0 && t.nodeAddr.IsValid() {
		// Outside the swarm's engine, where its ports are: its node.
		h.Published = []netip.Addr{t.nodeAddr}
	}
	if t.containerName != "" {
		h.ReverseNames = names[:1:1]
	}
	return h
}

// serviceHost is the host of a service: its names at its VIPs (vip mode;
// in dnsrr mode the tasks answer them) and its published ports as SRV
// records whose targets are the node names where each port is reachable.
func serviceHost(id string, svc swarmService, tasks []swarmTask, nodes map[string]swarmNode, nodeOrder []string) index.Host {
	h := index.Host{ID: serviceHostPrefix + id, Names: svc.names, Addrs: svc.vips, TTL: svc.ttl, HasTTL: svc.hasTTL,
		CNAME: svc.cname, TXT: svc.txt, Wildcard: svc.wildcard}
	if !svc.dnsrr && svc.name != "" {
		// Its VIP forwards each port to the task's: one record, the
		// service. In dnsrr mode its tasks hold its names and records.
		for _, s := range svc.services {
			s.Target = svc.name
			h.Services = append(h.Services, s)
		}
	}
	add := func(p swarm.PortConfig, published uint32, node swarmNode) {
		if !node.offersPorts || node.hostname == "" || published == 0 || published > 65535 {
			return
		}
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return // sctp has no SRV convention here
		}
		s := index.Service{Name: strconv.FormatUint(uint64(p.TargetPort), 10), Proto: proto, Port: uint16(published), Target: node.hostname, Rank: svc.rank}
		if !slices.Contains(h.Services, s) {
			h.Services = append(h.Services, s)
		}
	}
	// Ingress ports answer on every node that routes them.
	for _, p := range svc.ingress {
		for _, nid := range nodeOrder {
			add(p, p.PublishedPort, nodes[nid])
		}
	}
	// Host-mode ports only on the task's own node, at the task's own port.
	for _, t := range tasks {
		for _, p := range t.hostPorts {
			add(p, p.PublishedPort, nodes[t.nodeID])
		}
	}
	h.Published = servicePublished(svc, tasks, nodes, nodeOrder)
	return h
}

// servicePublished are where a client outside the swarm's engine reaches a
// service (its VIPs are overlay addresses): every node that offers its
// ingress ports, and the nodes of its tasks with host-mode ports.
func servicePublished(svc swarmService, tasks []swarmTask, nodes map[string]swarmNode, nodeOrder []string) []netip.Addr {
	var out []netip.Addr
	add := func(n swarmNode) {
		if n.offersPorts && n.addr.IsValid() && !slices.Contains(out, n.addr) {
			out = append(out, n.addr)
		}
	}
	if len(svc.ingress) > 0 {
		for _, id := range nodeOrder {
			add(nodes[id])
		}
	}
	for _, t := range tasks {
		if len(t.hostPorts) > 0 {
			add(nodes[t.nodeID])
		}
	}
	return out
}

// nodeHost is the host of a node: its hostname at its address, the SRV
// targets of published ports.
func nodeHost(id string, n swarmNode) index.Host {
	h := index.Host{ID: nodeHostPrefix + id}
	if n.hostname != "" {
		h.Names = []string{n.hostname}
		h.ReverseNames = h.Names
	}
	if n.addr.IsValid() {
		h.Addrs = []index.Addr{{IP: n.addr}}
	}
	return h
}
