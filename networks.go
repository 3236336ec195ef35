package dockerhosts

import (
	"slices"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// pick chooses, for each host behind a name, the addresses a client should
// use: the network the client itself is on, else the first preferred network
// the host is on, else all of them. Names without network data (hosts files)
// are returned as they are, without allocating.
//
// Engines reuse subnets (every default bridge is 172.17.0.0/16), so a subnet
// is matched only within the client's engine: the engines on which a running
// container has the client's address, or, for a client that is no known
// container (the host, the LAN), the engines on this machine (local socket):
// a remote engine's networks are not reachable from outside its machine.
func (d *DockerHosts) pick(ts []index.Target, networked bool, c *client) []index.Target {
	if !networked || len(ts) < 2 {
		return ts
	}
	out := make([]index.Target, 0, len(ts))
	for start := 0; start < len(ts); {
		end := start + 1
		for end < len(ts) && ts[end].Group == ts[start].Group {
			end++
		}
		out = append(out, d.pickHost(ts[start:end], c)...)
		start = end
	}
	return out
}

func (d *DockerHosts) pickHost(ts []index.Target, c *client) []index.Target {
	if len(ts) == 1 {
		return ts
	}
	for i, t := range ts {
		if d.clientOn(t, c) {
			return ts[i : i+1]
		}
	}
	for _, n := range d.Networks {
		for i, t := range ts {
			if t.Net != nil && t.Net.Network == n {
				return ts[i : i+1]
			}
		}
	}
	return ts
}

// clientOn reports whether the client is on t's network: inside its subnet,
// in the engine (scope) that subnet belongs to.
func (d *DockerHosts) clientOn(t index.Target, c *client) bool {
	return t.Net != nil && t.Net.Subnet.IsValid() && t.Net.Subnet.Contains(c.address()) && d.sameScope(t.Net.Scope, c)
}

// sameScope reports whether a subnet of scope can hold the client.
func (d *DockerHosts) sameScope(scope string, c *client) bool {
	if scope == "" {
		return true
	}
	if engines := c.engines(); len(engines) > 0 {
		return slices.Contains(engines, scope)
	}
	return slices.Contains(d.LocalScopes, scope)
}
