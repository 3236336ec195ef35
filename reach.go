package dockerhosts

import (
	"net/netip"
	"slices"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// addrs are the addresses of e, of one family, that this client can reach:
// the one rule every A and AAAA answer (and every SRV target's additional
// addresses) follows.
//
// A client on a host's engine gets the host's own addresses (its network's
// first: pick). A client outside gets, for a host with published ports, the
// addresses they are published on; a host with none answers its own
// addresses to everyone (the client may have a route). Where several hosts
// answer, those of the client's own engine come first.
func (d *DockerHosts) addrs(e *index.Entry, v6 bool, c *client) []index.Target {
	if e.Bound {
		e = d.bound(e, c) // names that exist only on some networks
	}
	ts := e.A
	if v6 {
		ts = e.AAAA
	}
	if !e.Reached {
		return d.pick(ts, e.Networked, c) // the plain path: one engine, nothing published
	}
	return d.reach(e, v6, c)
}

// reach answers an entry some of whose hosts publish ports, or that has
// hosts of several engines, host by host. A name of one engine whose hosts
// this client reaches at their own addresses (a client on that engine, the
// common case) gets what the plain path gives, without allocating. Hosts of
// several engines always take the long way: their order depends on the
// client, and two of them may share an address, answered once.
func (d *DockerHosts) reach(e *index.Entry, v6 bool, c *client) []index.Target {
	ts := e.A
	if v6 {
		ts = e.AAAA
	}
	plain, scope0, started := true, "", false
	eachHost(e, func(four, six []index.Target) bool {
		first := firstOf(four, six)
		scope := scopeOf(first)
		if !started {
			scope0, started = scope, true
		}
		plain = scope == scope0 && (first.Reach == nil || scope != "" && d.onEngine(c, scope))
		return plain
	})
	if plain {
		return d.pick(ts, e.Networked, c)
	}
	out := make([]index.Target, 0, len(e.A)+len(e.AAAA)+1)
	near := 0 // out[:near] are of the client's own engines
	eachHost(e, func(four, six []index.Target) bool {
		own, first := four, firstOf(four, six)
		if v6 {
			own = six
		}
		scope, ts := scopeOf(first), own
		onEngine := scope != "" && d.onEngine(c, scope)
		switch {
		case onEngine || first.Reach == nil:
			ts = d.pick(own, e.Networked, c)
		default:
			ts = published(first.Reach, v6, c)
		}
		for _, t := range ts {
			switch {
			case hasIP(out, t.IP):
			case onEngine:
				out = slices.Insert(out, near, t)
				near++
			default:
				out = append(out, t)
			}
		}
		return true
	})
	return out
}

// eachHost calls fn with each host's targets of either family, in group
// order, until fn returns false. It walks both families: a host with only
// IPv4 addresses of its own may still be reached over IPv6 where its ports
// are published.
func eachHost(e *index.Entry, fn func(four, six []index.Target) bool) {
	for i, j := 0, 0; i < len(e.A) || j < len(e.AAAA); {
		four, six := hostAt(e.A, i), hostAt(e.AAAA, j)
		switch {
		case len(six) == 0 || len(four) > 0 && four[0].Group < six[0].Group:
			six = nil
		case len(four) == 0 || six[0].Group < four[0].Group:
			four = nil
		}
		i, j = i+len(four), j+len(six)
		if !fn(four, six) {
			return
		}
	}
}

func firstOf(four, six []index.Target) index.Target {
	if len(four) > 0 {
		return four[0]
	}
	return six[0]
}

func scopeOf(t index.Target) string {
	if t.Net == nil {
		return ""
	}
	return t.Net.Scope
}

// hostAt is the run of ts from i that belongs to one host (one Group).
func hostAt(ts []index.Target, i int) []index.Target {
	if i >= len(ts) {
		return nil
	}
	end := i + 1
	for end < len(ts) && ts[end].Group == ts[i].Group {
		end++
	}
	return ts[i:end]
}

// published are where an outside client reaches a host: the specific
// addresses of the family, and for ports published on all addresses of it,
// the address the client's query arrived on; the client's own first.
func published(r *index.Reach, v6 bool, c *client) []index.Target {
	ts, here := r.A, r.Here4
	if v6 {
		ts, here = r.AAAA, r.Here6
	}
	if a := c.arrivedOn(); here && a.IsValid() && a.Is6() == v6 && !a.IsUnspecified() {
		ts = append(ts[:len(ts):len(ts)], index.Target{IP: a, Raw: a.AsSlice()})
	}
	// A machine that publishes the ports itself (a swarm node) is told
	// itself first.
	if i := slices.IndexFunc(ts, func(t index.Target) bool { return t.IP == c.address() }); i > 0 {
		ts = slices.Concat(ts[i:i+1], ts[:i], ts[i+1:])
	}
	return ts
}

func hasIP(ts []index.Target, ip netip.Addr) bool {
	return slices.ContainsFunc(ts, func(t index.Target) bool { return t.IP == ip })
}

// uniqueAddrs is ts with each address once: two engines' containers may
// share one (index.scopedAddr), a zone holds it once.
func uniqueAddrs(ts []index.Target) []index.Target {
	seen := make(map[netip.Addr]struct{}, len(ts))
	var out []index.Target
	for i, t := range ts {
		if _, dup := seen[t.IP]; dup {
			if out == nil {
				out = slices.Clone(ts[:i])
			}
			continue
		}
		seen[t.IP] = struct{}{}
		if out != nil {
			out = append(out, t)
		}
	}
	if out == nil {
		return ts
	}
	return out
}
