package dockerhosts

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

var _ metadata.Provider = (*DockerHosts)(nil)

// Metadata implements metadata.Provider:
//
//	dockerhosts/container         the containers the answer's addresses belong to (a hosts file: its path)
//	dockerhosts/source            their sources: docker:<engine>, swarm:<engine> or hostsfile:<path>
//	dockerhosts/client-container  the container the client's address belongs to (a swarm task's too)
//	dockerhosts/client-network    that container's network holding the client's address
//
// Each value is worked out only when read (by log, view, ...), from the
// snapshot current when the query arrived; several values are joined by
// commas, an unknown one is empty.
func (d *DockerHosts) Metadata(ctx context.Context, state request.Request) context.Context {
	snap := d.index.Load()
	var answer, clientOwners []index.Owner
	answerOwners := func() []index.Owner {
		if answer == nil {
			answer = d.answerOwners(snap, state)
		}
		return answer
	}
	from := clientAddr(state.W)
	clientOwner := func() (index.Owner, bool) {
		if clientOwners == nil {
			clientOwners = snap.Owners(from)
		}
		for _, o := range clientOwners {
			if d.isContainer(snap, o, from) {
				return o, true
			}
		}
		return index.Owner{}, false
	}
	metadata.SetValueFunc(ctx, pluginName+"/container", func() string {
		return joinUnique(answerOwners(), containerOrFile)
	})
	metadata.SetValueFunc(ctx, pluginName+"/source", func() string {
		return joinUnique(answerOwners(), func(o index.Owner) string { return o.Source.String() })
	})
	metadata.SetValueFunc(ctx, pluginName+"/client-container", func() string {
		o, _ := clientOwner()
		return o.Name
	})
	metadata.SetValueFunc(ctx, pluginName+"/client-network", func() string {
		o, ok := clientOwner()
		if !ok {
			return ""
		}
		return d.networkOf(snap, o, from)
	})
	return ctx
}

// answerOwners are the hosts behind the addresses the question is answered
// with: the name's A or AAAA (both for other types), an SRV's targets, or a
// PTR's address.
func (d *DockerHosts) answerOwners(snap *index.Snapshot, state request.Request) []index.Owner {
	qname := state.Name()
	var addrs []index.Target
	switch {
	case dnsutil.IsReverse(qname) > 0:
		if a := reverseAddr(qname); a.IsValid() && len(snap.Reverse(a)) > 0 {
			addrs = []index.Target{{IP: a}}
		}
	case state.QType() == dns.TypeSRV:
		if e := snap.Lookup(qname); e != nil {
			for _, s := range e.SRV {
				if t := snap.Lookup(s.Target); t != nil {
					addrs = append(append(addrs, t.A...), t.AAAA...)
				}
			}
		}
	default:
		if e := snap.Lookup(qname); e != nil {
			switch state.QType() {
			case dns.TypeA:
				addrs = e.A
			case dns.TypeAAAA:
				addrs = e.AAAA
			default:
				addrs = append(slices.Clip(e.A), e.AAAA...)
			}
		}
	}
	out := []index.Owner{}
	for _, t := range addrs {
		// The first owner is the winner of the source priority: the one
		// whose records are served.
		if owners := snap.Owners(t.IP); len(owners) > 0 && !slices.Contains(out, owners[0]) {
			out = append(out, owners[0])
		}
	}
	return out
}

// isContainer reports whether o, an owner of addr, is a container: any host
// of an engine's containers source, or a host of its swarm source that has
// addr on a network, which only a task's container has (a node's address
// has none, and no client sends from a service's virtual IP).
func (d *DockerHosts) isContainer(snap *index.Snapshot, o index.Owner, addr netip.Addr) bool {
	switch o.Source.Kind {
	case dockerKind:
		return true
	case swarmKind:
		return d.networkOf(snap, o, addr) != ""
	}
	return false
}

// networkOf is the network on which container o has addr: read from the
// targets of its name, which carry each address's network.
func (d *DockerHosts) networkOf(snap *index.Snapshot, o index.Owner, addr netip.Addr) string {
	engine := o.Source.Name // the scope of the engine's networks
	for _, z := range d.Zones {
		if dnsutil.IsReverse(z) > 0 {
			continue
		}
		name := dns.Fqdn(o.Name)
		if z != "." && !dns.IsSubDomain(z, name) {
			name += z
		}
		e := snap.Lookup(name)
		if e == nil {
			continue
		}
		for _, t := range append(slices.Clip(e.A), e.AAAA...) {
			if t.IP == addr && t.Net != nil && t.Net.Scope == engine && t.Net.Network != "" {
				return t.Net.Network
			}
		}
	}
	return ""
}

// containerOrFile names where a host comes from: a container by its name, a
// hosts-file line by its file.
func containerOrFile(o index.Owner) string {
	if o.Source.Kind == hostsFileKind {
		return o.Source.Name
	}
	return o.Name
}

func joinUnique(owners []index.Owner, field func(index.Owner) string) string {
	var vals []string
	for _, o := range owners {
		if v := field(o); !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	return strings.Join(vals, ",")
}
