package dockerhosts

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// pick chooses, for each host behind a name, the addresses a client should
// use: the network the client itself is on, else the first preferred network
// the host is on, else all of them. Names without network data (hosts files)
// are returned as they are, without allocating.
func (d *DockerHosts) pick(ts []index.Target, networked bool, w dns.ResponseWriter) []index.Target {
	if !networked || len(ts) < 2 {
		return ts
	}
	client := clientAddr(w)
	out := make([]index.Target, 0, len(ts))
	for start := 0; start < len(ts); {
		end := start + 1
		for end < len(ts) && ts[end].Group == ts[start].Group {
			end++
		}
		out = append(out, d.pickHost(ts[start:end], client)...)
		start = end
	}
	return out
}

func (d *DockerHosts) pickHost(ts []index.Target, client netip.Addr) []index.Target {
	if len(ts) == 1 {
		return ts
	}
	for i, t := range ts {
		if t.Subnet.IsValid() && t.Subnet.Contains(client) {
			return ts[i : i+1]
		}
	}
	for _, n := range d.Networks {
		for i, t := range ts {
			if t.Network == n {
				return ts[i : i+1]
			}
		}
	}
	return ts
}
