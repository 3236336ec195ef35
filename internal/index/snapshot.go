package index

import (
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// Snapshot is one immutable state of the index. Queries hold on to it for
// their whole answer, so an answer never mixes two states.
type Snapshot struct {
	names pmap[string, *Entry]
	addrs pmap[netip.Addr, addrEntry]
	gen   uint64
	// layers are the sources' tables, by source name; read beside the
	// maps, they hold the bulk of a large hosts file.
	layers       []*layer
	zones        zoned    // the index's forward zones, to qualify table names
	reverseZones []string // served reverse zones, for the names above addresses
}

// Entry is what exists at one owner name. An Entry with no records is a name
// that exists without data of any type (an empty non-terminal): NODATA.
type Entry struct {
	A, AAAA []Target
	SRV     []SRV
	// TXT are TXT records, each its character-strings as miekg/dns packs
	// them (escaped).
	TXT [][]string
	// CNAME is the lowercase FQDN this name is an alias of; the name then
	// has no other data (A, AAAA, SRV and TXT are nil).
	CNAME string
	// Networked is set when some target carries a subnet, so the answer may
	// depend on who asks.
	Networked bool
	// ttls says which of the hosts giving the records ask a TTL of their
	// own; ttl is the smallest asked. Read through TTL.
	ttls ttlAsk
	ttl  uint32
	// Reached is set when some target has a Reach, or the targets are of
	// several scopes: the answer then depends on which engines the client
	// is on (its addresses, and their order).
	Reached bool
	// Bound is set when some target's names are bound to networks
	// (Addr.Names): which hosts answer depends on the client's network.
	Bound bool
	// Withheld is set when some host holds the name without answering at
	// it (a container that is not ready): with no addresses, that is why.
	Withheld bool
	// prio is the priority of the sources whose hosts gave the records.
	prio int

	// The writer's view, never read by queries: the one host that owns the
	// name (an entry that host shares among all its names), or the state
	// of a name with more to it.
	one *placed
	st  *nameState
}

// Target is one address at a name; Group tells which host it belongs to, so
// that per-host network selection can pick among one host's addresses.
type Target struct {
	IP    netip.Addr
	Raw   net.IP // IP as DNS records hold it, built once; never modify
	Group int
	// Net is the address with its network (name, subnet, scope), as the
	// source gave it; nil when it has none (hosts files).
	Net *Addr
	// Reach is where a client outside Net's scope reaches the host instead
	// (Host.Published); nil: here, for every client. Shared by all the
	// host's targets.
	Reach *Reach
}

// Reach is where a host's published ports are reached from outside its
// engine, built once per host.
type Reach struct {
	A, AAAA []Target // specific addresses
	// Here4 and Here6 are set when ports are published on all addresses of
	// that family: the client reaches them at the address its query
	// arrived on.
	Here4, Here6 bool
}

// reachOf builds the Reach of a host's published addresses.
func reachOf(published []netip.Addr) *Reach {
	if len(published) == 0 {
		return nil
	}
	r := &Reach{}
	for _, ip := range published {
		switch {
		case ip.IsUnspecified() && ip.Is4():
			r.Here4 = true
		case ip.IsUnspecified():
			r.Here6 = true
		case ip.Is4() && !slices.ContainsFunc(r.A, func(t Target) bool { return t.IP == ip }):
			r.A = append(r.A, Target{IP: ip, Raw: ip.AsSlice()})
		case ip.Is6() && !slices.ContainsFunc(r.AAAA, func(t Target) bool { return t.IP == ip }):
			r.AAAA = append(r.AAAA, Target{IP: ip, Raw: ip.AsSlice()})
		}
	}
	return r
}

// addrEntry is what the index knows of one address: the names PTR returns,
// and the scopes in which some host has exactly that address. An address
// one host has outside any scope is just that host.
type addrEntry struct {
	one *placed
	st  *addrState
}

func (a addrEntry) names() []string {
	if a.st != nil {
		return a.st.names
	}
	if a.one != nil {
		return a.one.reverse
	}
	return nil
}

func (a addrEntry) owners() []Owner {
	if a.st != nil {
		return a.st.hosts
	}
	if a.one != nil {
		return []Owner{a.one.owner()}
	}
	return nil
}

// Owner is a host that has an address: its source and the name it is known
// by (a container's name, a hosts-file line's first name).
type Owner struct {
	Source SourceID // e.g. docker:host, hostsfile:/etc/hosts
	Name   string   // relative, as the source gave it
}

func (a addrEntry) scopes() []string {
	if a.st != nil {
		return a.st.scopes
	}
	return nil
}

// SRV is one service record at a name.
type SRV struct {
	Target           string
	Port             uint16
	Priority, Weight uint16
	// Reach says which clients the record is for; On, for a record not
	// for all, is the name of its host, whose addresses' networks tell.
	Reach SRVReach
	On    string
}

// Lookup returns the entry at the lowercase FQDN name, or nil.
func (s *Snapshot) Lookup(name string) *Entry {
	e, _ := s.names.get(name)
	if len(s.layers) == 0 {
		return e
	}
	// The common case, one table host alone at the name, on a small stack
	// frame: each query runs on a fresh goroutine, whose stack would grow
	// (a copy) for merged's frame.
	switch l, h, n := s.oneHost(name); {
	case n == 1 && e == nil:
		return l.entry(h)
	case n == 0 && e == nil && s.aboveHosts(name):
		return emptyEntry
	case n == 0:
		return e
	}
	return s.merged(name, e)
}

// Wildcard returns the entry that synthesizes the answer for qname, a
// lowercase name in zone with no entry of its own (RFC 4592 3.3.1): the
// wildcard "*." right below qname's closest encloser, the nearest existing
// ancestor (the apex at the latest), or nil. A name that exists between
// qname and a wildcard further up blocks it.
func (s *Snapshot) Wildcard(qname, zone string) *Entry {
	for off, end := dns.NextLabel(qname, 0); !end; off, end = dns.NextLabel(qname, off) {
		encloser := qname[off:]
		if len(encloser) < len(zone) {
			return nil
		}
		if encloser == zone || s.Lookup(encloser) != nil {
			return s.Lookup("*." + encloser)
		}
	}
	return nil
}

// Served reports whether e's CNAME chain, if it has one, is served: it
// neither loops nor is longer than MaxChain.
func (s *Snapshot) Served(e *Entry) bool {
	_, ok := chainEnd(e, s.Lookup)
	return ok
}

// Reverse returns the names of addr, for PTR.
func (s *Snapshot) Reverse(addr netip.Addr) []string {
	r, _ := s.addrs.get(addr)
	if len(s.layers) > 0 {
		return s.reverse(addr, r)
	}
	return r.names()
}

// Scopes returns the scopes in which a host has exactly addr: for a client
// address, the engines it is a container of.
func (s *Snapshot) Scopes(addr netip.Addr) []string {
	r, _ := s.addrs.get(addr)
	return r.scopes()
}

// Owners returns the hosts that have addr, winners of the source priority
// first: who an answer's address came from, or who a client is.
func (s *Snapshot) Owners(addr netip.Addr) []Owner {
	r, _ := s.addrs.get(addr)
	if len(s.layers) > 0 {
		return s.owners(addr, r)
	}
	return r.owners()
}

// Generation increases by one with every published snapshot of an index.
func (s *Snapshot) Generation() uint64 { return s.gen }

// EachName calls fn for every owner name in the snapshot (forward names and
// names inside served reverse zones), in no particular order, until fn
// returns false. The snapshot never changes, so a walk is consistent.
func (s *Snapshot) EachName(fn func(name string, e *Entry) bool) {
	if s.eachName(fn) {
		s.eachLayerReverse(fn)
	}
}

// EachForwardName is EachName less the names above tables' addresses in the
// served reverse zones, for a walk that has no use for them (the transfer
// of a forward zone): for a table they are most of the walk's cost. The
// maps' reverse names still come.
func (s *Snapshot) EachForwardName(fn func(name string, e *Entry) bool) { s.eachName(fn) }

// eachName walks the maps' names and the tables', and reports whether the
// walk goes on to the tables' reverse names (there are tables, and fn asked
// for more).
func (s *Snapshot) eachName(fn func(name string, e *Entry) bool) bool {
	if len(s.layers) == 0 {
		s.names.each(fn)
		return false
	}
	done := false
	s.names.each(func(n string, e *Entry) bool {
		done = !fn(n, s.merged(n, e))
		return !done
	})
	return !done && s.eachLayerName(fn)
}

// EachAddr calls fn for every address with PTR names, until fn returns
// false.
func (s *Snapshot) EachAddr(fn func(addr netip.Addr, names []string) bool) {
	if len(s.layers) == 0 {
		s.addrs.each(func(a netip.Addr, r addrEntry) bool { return len(r.names()) == 0 || fn(a, r.names()) })
		return
	}
	done := false
	s.addrs.each(func(a netip.Addr, r addrEntry) bool {
		names := s.reverse(a, r)
		done = len(names) > 0 && !fn(a, names)
		return !done
	})
	if !done {
		s.eachLayerAddr(fn)
	}
}
