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
	ts := e.A
	if v6 {
		ts = e.AAAA
	}
	if !e.Reached {
		return d.pick(ts, e.Networked, c) // the plain path: no host publishes
	}
	return d.reach(e, v6, c)
}

// reach answers an entry some of whose hosts publish ports, host by host.
// It walks both families: a host with only IPv4 addresses of its own may
// still be reached over IPv6 where its ports are published.
func (d *DockerHosts) reach(e *index.Entry, v6 bool, c *client) []index.Target {
	var near, far []index.Target
	add := func(to *[]index.Target, ts []index.Target) {
		for _, t := range ts {
			if !hasIP(near, t.IP) && !hasIP(far, t.IP) {
				*to = append(*to, t)
			}
		}
	}
	for i, j := 0, 0; i < len(e.A) || j < len(e.AAAA); {
		four, six := hostAt(e.A, i), hostAt(e.AAAA, j)
		switch {
		case len(six) == 0 || len(four) > 0 && four[0].Group < six[0].Group:
			six = nil
		case len(four) == 0 || six[0].Group < four[0].Group:
			four = nil
		}
		i, j = i+len(four), j+len(six)
		own, first := four, append(four[:len(four):len(four)], six...)[0]
		if v6 {
			own = six
		}
		scope := ""
		if first.Net != nil {
			scope = first.Net.Scope
		}
		switch {
		case d.onEngine(c, scope) && scope != "":
			add(&near, d.pick(own, e.Networked, c))
		case first.Reach == nil:
			add(&far, d.pick(own, e.Networked, c))
		default:
			add(&far, published(first.Reach, v6, c))
		}
	}
	return append(near, far...)
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
// the address the client's query arrived on.
func published(r *index.Reach, v6 bool, c *client) []index.Target {
	ts, here := r.A, r.Here4
	if v6 {
		ts, here = r.AAAA, r.Here6
	}
	if a := c.arrivedOn(); here && a.IsValid() && a.Is6() == v6 && !a.IsUnspecified() {
		return append(ts[:len(ts):len(ts)], index.Target{IP: a, Raw: a.AsSlice()})
	}
	return ts
}

func hasIP(ts []index.Target, ip netip.Addr) bool {
	return slices.ContainsFunc(ts, func(t index.Target) bool { return t.IP == ip })
}
