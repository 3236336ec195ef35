package dockerhosts

import (
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// applyTTLs gives an answer's records the TTL their hosts ask (a container's
// dockerhosts.ttl label; the block's by default): the answer e's, each
// additional record its own name's. The records are this query's own.
func (d *DockerHosts) applyTTLs(answer, extra []dns.RR, e *index.Entry, snap *index.Snapshot) {
	if ttl := e.TTL(d.TTL); ttl != d.TTL {
		for _, rr := range answer {
			rr.Header().Ttl = ttl
		}
	}
	name, ttl := "", d.TTL
	for _, rr := range extra {
		if h := rr.Header(); h.Name != name {
			name, ttl = h.Name, d.TTL
			if t := snap.Lookup(name); t != nil {
				ttl = t.TTL(d.TTL)
			}
		}
		rr.Header().Ttl = ttl
	}
}
