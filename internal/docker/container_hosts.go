package docker

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// shortIDLen is the length of the ID prefix Docker uses as the default
// hostname and adds as a network alias.
const shortIDLen = 12

// record is what one container contributes: the host handed to the sink, the
// names with whether the container claims them as its own (for conflict
// accounting), and what was skipped and why.
type record struct {
	host      index.Host
	name      string       // container name, for log lines
	claims    []nameClaim  // one per name of host.Names and host.Withheld
	state     readiness    // whether its service names answer it
	binds     []netip.Addr // specific host addresses its ports are published on
	skipped   []string     // invalid names
	badLabels []string     // malformed label values, skipped
	problems  []string     // failed name templates
	routes    []string     // Traefik router names in the zones (traefik.go)
	proxy     bool         // a candidate for the Traefik proxy
}

// mapping is what decides a container's records besides the container.
type mapping struct {
	// engine names the engine: the scope of its networks, the target of its
	// published ports and <name>.<engine> names. "" (tests) leaves them out.
	engine string
	optIn  bool
	// labelPrefix starts the labels read; "" means DefaultLabelPrefix.
	labelPrefix string
	noShortID   bool
	templates   []*template.Template
	// hostMode answers published host addresses instead of the container's
	// own, which are the engine host's (hostAddrs) for ports published on
	// all addresses.
	hostMode  bool
	hostAddrs []netip.Addr
	// outsideAll is where a client outside the engine reaches a port
	// published on all addresses: the engine host's addresses, or nil for
	// an engine on this machine, whose host the client reaches at the
	// address its query arrived on.
	outsideAll []netip.Addr
	// leaveTasks leaves swarm task containers to the swarm source.
	leaveTasks bool
	// zones bound the Traefik router names served; traefikProxy and
	// traefikOptIn are Config's.
	zones        []string
	traefikProxy string
	traefikOptIn bool
	// health withholds the service names of containers that are not ready;
	// stops are the engine times of the stop requests seen, by container.
	health bool
	stops  map[string]int64
}

func (m mapping) prefix() string {
	if m.labelPrefix == "" {
		return DefaultLabelPrefix
	}
	return m.labelPrefix
}

// nameClaim is one served name. A name is exclusive when it should identify
// one container (its name, hostname, dockerhosts.name); shared names (compose
// service.project, network aliases) are meant to answer for every replica.
// A service name answers the container only while it is ready; the others
// (its identity: name, hostname, short ID) whenever it runs.
type nameClaim struct {
	name      string
	exclusive bool
	service   bool
}

// recordFor turns an inspected container into its record. ok is false when
// the container is not to be served: not running (Docker hands its address
// to the next container at stop), restarting (it holds no address then),
// excluded by label, or a swarm task the swarm source answers for. A
// container that is not ready (paused, being stopped, not healthy yet)
// keeps its identity names and withholds its service names (m.health).
func recordFor(c container.InspectResponse, m mapping) (r record, ok bool) {
	c = dockerShapeState(c)
	if c.State == nil || !c.State.Running || c.State.Restarting {
		return r, false
	}
	var labels map[string]string
	var hostname string
	if c.Config != nil {
		labels = c.Config.Labels
		hostname = c.Config.Hostname
	}
	cl := parseLabels(labels, m.prefix())
	if !cl.enabled(m.optIn) || m.leaveTasks && labels[labelSwarmTaskID] != "" {
		return r, false
	}
	r.badLabels = cl.problems
	r.routes, r.badLabels = traefikRoutes(labels, m, r.badLabels)
	r.proxy = isTraefik(c, m)

	r.name = strings.TrimPrefix(c.Name, "/")
	r.host.ID = c.ID
	r.host.TXT = cl.txt
	r.host.Wildcard = cl.wildcard
	r.host.TTL, r.host.HasTTL = cl.ttl, cl.hasTTL
	seen := make(map[string]bool, 4)
	add := func(name string, exclusive, service bool) {
		raw := strings.TrimSpace(name)
		if raw == "" {
			return
		}
		name, ok := dnsname.Normalize(raw)
		if !ok {
			if raw = strings.ToLower(raw); !slices.Contains(r.skipped, raw) {
				r.skipped = append(r.skipped, raw)
			}
			return
		}
		if seen[name] {
			// A name claimed both ways (an alias equal to the container
			// name) counts as the container's own, and as its identity.
			for i := range r.claims {
				if r.claims[i].name == name {
					r.claims[i].exclusive = r.claims[i].exclusive || exclusive
					r.claims[i].service = r.claims[i].service && service
				}
			}
			return
		}
		seen[name] = true
		r.claims = append(r.claims, nameClaim{name: name, exclusive: exclusive, service: service})
	}

	add(r.name, true, false)
	if hostname != "" && !strings.HasPrefix(c.ID, hostname) && ownNetworkStack(c.HostConfig) {
		add(hostname, true, false)
	}
	if project, service := labels[labelComposeProject], labels[labelComposeService]; project != "" && service != "" &&
		!strings.EqualFold(labels[labelComposeOneoff], "true") {
		add(service+"."+project, false, true)
	}
	for _, extra := range cl.names {
		add(extra, true, true)
	}
	for i, t := range m.templates {
		name, err := runTemplate(t, c, labels, m.engine)
		if err != nil {
			r.problems = append(r.problems, fmt.Sprintf("name template %d (%s) gives no name: %v", i+1, t.Root, err))
			continue
		}
		add(name, true, true)
	}

	networks := sortedNetworks(c.NetworkSettings)
	shortID := c.ID[:min(len(c.ID), shortIDLen)]
	// The short ID answers as Docker's embedded DNS answers it (the alias
	// is on every user network); its own, like the container name.
	if !m.noShortID && len(c.ID) >= shortIDLen {
		add(shortID, true, false)
	}
	for _, n := range networks {
		ep := c.NetworkSettings.Networks[n]
		for _, alias := range ep.Aliases {
			if !strings.EqualFold(alias, shortID) {
				add(alias, false, true)
			}
		}
	}
	// <name>.<engine> picks this engine's container when several engines
	// have one of that name.
	if m.engine != "" {
		for _, cl := range slices.Clone(r.claims) {
			add(cl.name+"."+m.engine, cl.exclusive, cl.service)
		}
	}
	r.state = readinessOf(c.State, m.stops[c.ID])
	withhold := m.health && r.state != ready && !cl.healthIgnored
	for _, nc := range r.claims {
		if withhold && nc.service {
			r.host.Withheld = append(r.host.Withheld, nc.name)
		} else {
			r.host.Names = append(r.host.Names, nc.name)
		}
	}
	var ports network.PortMap
	if c.NetworkSettings != nil {
		ports = c.NetworkSettings.Ports
	}
	if m.engine != "" {
		r.host.Services, r.binds = publishedPorts(ports, m.engine)
		rankAll(r.host.Services, cl.rank)
		r.host.Published = publishedAddrs(ports, m.outsideAll)
	}
	if m.hostMode || userModeNetwork(c.HostConfig) {
		// Reached on the engine host: no PTR (the host's addresses are
		// everyone's), and label SRV ports are the container's, not the host's.
		r.host.Addrs = hostModeAddrs(ports, m.hostAddrs)
		r.host.Published = nil // already the published addresses, for everyone
		r.host.CNAME = cl.cname
		return r, true
	}
	for _, n := range networks {
		ep := c.NetworkSettings.Networks[n]
		if a, ok := addr(ep.IPAddress, ep.IPPrefixLen, n, m.engine); ok {
			r.host.Addrs = append(r.host.Addrs, a)
		}
		if a, ok := addr(ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen, n, m.engine); ok {
			r.host.Addrs = append(r.host.Addrs, a)
		}
	}
	if cl.cname != "" {
		// An alias has no PTR name (RFC 2181 10.2: PTR names a canonical
		// name) and no label SRV (RFC 2782: no alias as target); its
		// addresses stay, to know it as a client.
		r.host.CNAME = cl.cname
		return r, true
	}
	if len(r.claims) > 0 && r.claims[0].name == strings.ToLower(r.name) {
		r.host.ReverseNames = r.host.Names[:1:1]
	}
	r.host.Services = append(cl.services, withExposed(r.host.Services, cl.services, c, r.host.Addrs, cl.rank)...)
	return r, true
}

// hostModeAddrs are the addresses the container's published ports are bound
// on, all addresses standing for the engine host's.
func hostModeAddrs(ports network.PortMap, hostAddrs []netip.Addr) []index.Addr {
	var ips []netip.Addr
	for _, bindings := range ports {
		for _, b := range bindings {
			if ip := b.HostIP.Unmap(); ip.IsValid() && !ip.IsUnspecified() {
				ips = append(ips, ip)
			} else {
				ips = append(ips, hostAddrs...)
			}
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	out := make([]index.Addr, len(ips))
	for i, ip := range ips {
		out[i] = index.Addr{IP: ip}
	}
	return out
}

// publishedAddrs are where a client outside the engine reaches the
// container: the addresses its ports are published on, all addresses
// standing for outsideAll (nil: the unspecified address of the family,
// which the index reads as the address the query arrived on).
func publishedAddrs(ports network.PortMap, outsideAll []netip.Addr) []netip.Addr {
	var ips []netip.Addr
	for p, bindings := range ports {
		if !p.IsValid() {
			continue
		}
		for _, b := range bindings {
			if hostPort, err := strconv.ParseUint(b.HostPort, 10, 16); err != nil || hostPort == 0 {
				continue
			}
			switch ip := b.HostIP.Unmap(); {
			case ip.IsValid() && !ip.IsUnspecified():
				ips = append(ips, ip)
			case outsideAll != nil:
				ips = append(ips, outsideAll...)
			case ip.Is6():
				ips = append(ips, netip.IPv6Unspecified())
			default:
				ips = append(ips, netip.IPv4Unspecified())
			}
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return slices.Compact(ips)
}

// ownNetworkStack reports whether the container has its own UTS/network
// identity. With --network host (or container:<id>) Config.Hostname is the
// host's (or the other container's) name, which is not this container's to
// claim.
func ownNetworkStack(hc *container.HostConfig) bool {
	if hc == nil {
		return true
	}
	mode := hc.NetworkMode
	return mode != "host" && !mode.IsContainer()
}

func sortedNetworks(ns *container.NetworkSettings) []string {
	if ns == nil {
		return nil
	}
	names := make([]string, 0, len(ns.Networks))
	for n, ep := range ns.Networks {
		if ep != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func addr(ip netip.Addr, prefixLen int, network, scope string) (index.Addr, bool) {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		return index.Addr{}, false
	}
	a := index.Addr{IP: ip, Network: network, Scope: scope}
	if prefixLen > 0 && prefixLen <= ip.BitLen() {
		a.Subnet = netip.PrefixFrom(ip, prefixLen).Masked()
	}
	return a, true
}

// publishedPorts turns the container's published ports into SRV services
// _<container port>._<proto>, one per distinct host address name and host
// port: a port published on 0.0.0.0 and on :: is one record, reached at the
// engine host; one published on a specific address is reached at that
// address's name, which binds lists.
func publishedPorts(ports network.PortMap, engine string) (services []index.Service, binds []netip.Addr) {
	for p, bindings := range ports {
		if !p.IsValid() {
			continue
		}
		proto := string(p.Proto())
		if proto != "tcp" && proto != "udp" {
			continue // sctp has no SRV convention clients follow
		}
		// Docker may publish a port on 0.0.0.0 and on :: under two different
		// host ports. Both would point at the engine host, whose name answers
		// both families: keep the IPv4 one, whose port is right for A.
		v4Everywhere := slices.ContainsFunc(bindings, func(b network.PortBinding) bool {
			return !b.HostIP.IsValid() || b.HostIP.Unmap().Is4() && b.HostIP.IsUnspecified()
		})
		for _, b := range bindings {
			hostPort, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || hostPort == 0 {
				continue
			}
			if v4Everywhere && b.HostIP.Is6() && !b.HostIP.Is4In6() && b.HostIP.IsUnspecified() {
				continue
			}
			target := engine
			if ip := b.HostIP.Unmap(); ip.IsValid() && !ip.IsUnspecified() {
				target = bindName(ip) + "." + engine
				if !slices.Contains(binds, ip) {
					binds = append(binds, ip)
				}
			}
			svc := index.Service{Name: strconv.Itoa(int(p.Num())), Proto: proto, Port: uint16(hostPort), Target: target}
			if !slices.Contains(services, svc) {
				services = append(services, svc)
			}
		}
	}
	// Map order is random; a stable order keeps an unchanged container
	// from republishing the index.
	slices.SortFunc(services, func(a, b index.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Target, b.Target), cmp.Compare(a.Port, b.Port))
	})
	slices.SortFunc(binds, netip.Addr.Compare)
	return services, binds
}
