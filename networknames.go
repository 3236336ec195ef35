package dockerhosts

import (
	"slices"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// bound is e as the client sees it when some of its hosts' names exist only
// on some networks (a swarm service's network alias: index.NamesHere where
// the alias is given, index.NamesElsewhere on the service's other
// networks), as Docker's embedded DNS answers them:
//
//   - a client on one of those networks gets only the hosts whose names
//     exist on its network, at their addresses there: another service's
//     alias of the same name on another network (another stack's) is not
//     answered, and on a network where no host has the name the answer is
//     NODATA (Docker: NXDOMAIN; the name exists for other clients);
//   - any other client (the host, the LAN, a container on none of those
//     networks) gets the addresses where the names exist, as a container's
//     network alias answers it, or where its ports are published (reach.go).
//
// Only such entries (e.Bound) get here; the result is a copy.
func (d *DockerHosts) bound(e *index.Entry, c *client) *index.Entry {
	type network struct{ name, scope string }
	var on []network // the entry's networks the client is on
	inside := false  // one of them is a network of a bound host
	for _, ts := range [][]index.Target{e.A, e.AAAA} {
		for _, t := range ts {
			if d.clientOn(t, c) {
				on = append(on, network{t.Net.Network, t.Net.Scope})
				inside = inside || t.Net.Names != index.NamesEverywhere
			}
		}
	}
	keep := func(t index.Target) bool {
		switch {
		case t.Net != nil && t.Net.Names == index.NamesElsewhere:
			return false
		case inside:
			return t.Net != nil && slices.Contains(on, network{t.Net.Network, t.Net.Scope})
		}
		return true
	}
	out := *e
	out.A, out.AAAA = filterTargets(e.A, keep), filterTargets(e.AAAA, keep)
	return &out
}

// unbound is ts without the addresses its hosts' names do not exist at: what
// a client on none of their networks gets, and a zone transfer carries.
func unbound(ts []index.Target) []index.Target {
	return filterTargets(ts, func(t index.Target) bool { return t.Net == nil || t.Net.Names != index.NamesElsewhere })
}

// filterTargets is the targets of ts that keep accepts, ts itself when it
// accepts all of them.
func filterTargets(ts []index.Target, keep func(index.Target) bool) []index.Target {
	for i, t := range ts {
		if keep(t) {
			continue
		}
		out := slices.Clone(ts[:i])
		for _, t := range ts[i+1:] {
			if keep(t) {
				out = append(out, t)
			}
		}
		return out
	}
	return ts
}
