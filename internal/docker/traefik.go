package docker

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// Traefik's labels name the hostnames a reverse proxy routes to a
// container: traefik.http.routers.<r>.rule=Host(`app.example.lan`). Each
// such name inside the zones answers as a CNAME to the proxy's name (the
// container running Traefik), so a client reaches the proxy, which routes by
// name; the chain stays live, and what applies to the proxy's name applies.
// Names outside the zones are not ours to answer.

const (
	traefikLabelPrefix = "traefik."
	traefikEnable      = "traefik.enable"
	traefikImage       = "traefik"
)

// routeHostID is the ID of the host answering a container's router names;
// container IDs are hex, so no container has it.
func routeHostID(containerID string) string { return "traefik:" + containerID }

// traefikRoutes reads a container's Traefik router rules: the names in the
// zones, sorted and without duplicates. Malformed rules and names are added
// to problems; Host names outside the zones and other matchers are left out
// without a word.
func traefikRoutes(labels map[string]string, m mapping, problems []string) ([]string, []string) {
	var rules []string
	for key := range labels {
		if strings.HasPrefix(key, traefikLabelPrefix) && isRouterRule(key) {
			rules = append(rules, key)
		}
	}
	if len(rules) == 0 {
		return nil, problems // the common case: no Traefik routers
	}
	if v, ok := labels[traefikEnable]; ok {
		enabled, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, append(problems, fmt.Sprintf("%s=%q is not true or false", traefikEnable, v))
		}
		if !enabled {
			return nil, problems
		}
	} else if m.traefikOptIn {
		return nil, problems // exposedByDefault=false: only traefik.enable=true
	}
	var routes []string
	slices.Sort(rules) // one order of problems for one set of labels
	for _, key := range rules {
		hosts, err := ruleHosts(labels[key])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q: %v", key, labels[key], err))
			continue
		}
		for _, h := range hosts {
			name, ok := dnsname.Normalize(h)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %q is not a DNS name", key, h))
				continue
			}
			if inZones(m.zones, name) && !slices.Contains(routes, name) {
				routes = append(routes, name)
			}
		}
	}
	slices.Sort(routes)
	return routes, problems
}

// isRouterRule reports whether key is traefik.http.routers.<r>.rule or
// traefik.tcp.routers.<r>.rule (UDP routers route by port, not by name).
func isRouterRule(key string) bool {
	for _, kind := range []string{"traefik.http.routers.", "traefik.tcp.routers."} {
		if r, ok := strings.CutPrefix(key, kind); ok {
			router, ok := strings.CutSuffix(r, ".rule")
			return ok && router != "" && !strings.Contains(router, ".")
		}
	}
	return false
}

// inZones reports whether the name (lowercase, no trailing dot) lies in one
// of zones (lowercase FQDNs).
func inZones(zones []string, name string) bool {
	fqdn := name + "."
	for _, z := range zones {
		if z = strings.ToLower(z); z == "." || fqdn == z || strings.HasSuffix(fqdn, "."+z) {
			return true
		}
	}
	return false
}

// isTraefik reports whether the container is the proxy: the one the
// Corefile names, or else one running Traefik's image (traefik or
// <registry>/traefik, as on Docker Hub, any tag or digest).
func isTraefik(c container.InspectResponse, m mapping) bool {
	if m.traefikProxy != "" {
		return strings.EqualFold(strings.TrimPrefix(c.Name, "/"), m.traefikProxy)
	}
	if c.Config == nil {
		return false
	}
	repo := c.Config.Image
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i] // a tag; a colon before the last slash is a registry port
	}
	parts := strings.Split(repo, "/")
	registry := func(p string) bool { return strings.ContainsAny(p, ".:") || p == "localhost" }
	switch {
	case parts[len(parts)-1] != traefikImage:
		return false
	case len(parts) == 1:
		return true
	case len(parts) == 2:
		return registry(parts[0]) || parts[0] == "library"
	case len(parts) == 3:
		return registry(parts[0]) && parts[1] == "library"
	}
	return false
}

// traefikState is what the source knows of the proxy and of the router
// names of its containers. Owned by the goroutine running Run.
type traefikState struct {
	proxies map[string]string     // candidate proxies: container ID -> name
	routes  map[string]routedHost // containers with router names, by ID
	proxy   string                // the chosen proxy's name; "" when none runs
}

// routedHost is a container's router names, with the TTL it asks.
type routedHost struct {
	names  []string
	ttl    uint32
	hasTTL bool
}

// host is the index host of id's router names, aliases of proxy.
func (r routedHost) host(id, proxy string) index.Host {
	return index.Host{ID: routeHostID(id), Names: r.names, CNAME: proxy, TTL: r.ttl, HasTTL: r.hasTTL}
}

// choose picks the proxy among the candidates: the first by name, so that
// the choice does not depend on the order containers started in.
func (t *traefikState) choose() string {
	best := ""
	for _, name := range t.proxies {
		if best == "" || name < best {
			best = name
		}
	}
	return best
}

// set records r's part as candidate proxy and router names.
func (t *traefikState) set(r record) {
	id := r.host.ID
	delete(t.proxies, id)
	delete(t.routes, id)
	if r.proxy && len(r.host.Names) > 0 {
		t.proxies[id] = r.host.Names[0]
	}
	if len(r.routes) > 0 {
		t.routes[id] = routedHost{names: r.routes, ttl: r.host.TTL, hasTTL: r.host.HasTTL}
	}
}

// hostFor returns the router-name host of container id to serve; ok is
// false without a proxy or router names. A name of the proxy itself in a
// zone is left out: it would alias itself.
func (t *traefikState) hostFor(id string, zones []string) (h index.Host, ok bool) {
	r, routed := t.routes[id]
	if !routed || t.proxy == "" {
		return h, false
	}
	r.names = slices.DeleteFunc(slices.Clone(r.names), func(n string) bool {
		return n == t.proxy || slices.ContainsFunc(zones, func(z string) bool { return n+"." == t.proxy+"."+z })
	})
	return r.host(id, t.proxy), len(r.names) > 0
}

// reroute brings the served router-name hosts up to date after container
// r changed (or went: r.host.ID with nothing else). Only its own host
// changes, unless the proxy did: then every one does.
func (s *Source) reroute(r record) {
	if _, routed := s.traefik.routes[r.host.ID]; !routed && !r.proxy && len(r.routes) == 0 && s.traefik.proxies[r.host.ID] == "" {
		return // the common case: nothing to do with Traefik
	}
	before, ids := s.traefik.proxy, []string{r.host.ID}
	s.traefik.set(r)
	if s.traefik.proxy = s.traefik.choose(); s.traefik.proxy != before {
		ids = slices.Collect(maps.Keys(s.traefik.routes))
		ids = append(ids, r.host.ID) // its names may just have gone
	}
	for _, id := range ids {
		if h, ok := s.traefik.hostFor(id, s.cfg.Zones); ok {
			s.put(h) // a no-op for a host served unchanged
		} else {
			s.drop(routeHostID(id))
		}
	}
}

// routeAll resets t to the records of a full sync and adds the hosts to
// serve to want.
func (s *Source) routeAll(records []record, want map[string]index.Host) {
	s.traefik = newTraefikState()
	for i := range records {
		s.traefik.set(records[i])
	}
	s.traefik.proxy = s.traefik.choose()
	for id := range s.traefik.routes {
		if h, ok := s.traefik.hostFor(id, s.cfg.Zones); ok {
			want[h.ID] = h
		}
	}
}

func newTraefikState() traefikState {
	return traefikState{proxies: map[string]string{}, routes: map[string]routedHost{}}
}
