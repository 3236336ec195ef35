package index

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Index merges the hosts of every source into Snapshots. Writers (sources)
// serialise on a mutex; readers only ever load the current Snapshot.
// A change recomputes just the names it touches.
type Index struct {
	zones        []string // forward zones, lowercase FQDN, most specific first
	reverseZones []string // in-addr.arpa. and ip6.arpa. zones we are authoritative for

	mu    sync.Mutex
	gen   uint64
	hosts map[hostKey]*placed
	names map[string]*nameState               // owner name -> who puts it there
	addrs map[netip.Addr]map[hostKey]struct{} // address -> hosts that have it
	count map[string]int                      // hosts per source name
	snap  atomic.Pointer[Snapshot]
}

type hostKey struct{ source, id string }

// placed is a host with everything derived from it, kept so that removing it
// touches exactly the names it added.
type placed struct {
	src      Source
	host     Host
	owners   map[string]struct{}    // qualified names it answers
	srvNames map[string][]srvRecord // qualified SRV owner name -> its records
	ents     []string               // empty non-terminals above its names
	reverse  []string               // qualified PTR targets
}

type srvRecord struct {
	target string
	port   uint16
}

type nameState struct {
	hosts map[hostKey]struct{} // hosts that own the name or an SRV record at it
	ents  int                  // names below it (it exists even without records)
}

var seed = maphash.MakeSeed()

func hashName(s string) uint64     { return maphash.String(seed, s) }
func hashAddr(a netip.Addr) uint64 { return maphash.Comparable(seed, a) }

// New returns an empty index for the given zones. Forward zones qualify the
// relative names sources hand in; reverse zones create no forward names.
func New(zones []string) *Index {
	x := &Index{
		hosts: map[hostKey]*placed{},
		names: map[string]*nameState{},
		addrs: map[netip.Addr]map[hostKey]struct{}{},
		count: map[string]int{},
	}
	for _, z := range zones {
		z = dns.CanonicalName(z)
		if isReverseZone(z) {
			x.reverseZones = append(x.reverseZones, z)
		} else {
			x.zones = append(x.zones, z)
		}
	}
	// Most specific first, so a name inside both docker. and lab.docker. is
	// seen as lying in lab.docker.
	slices.SortStableFunc(x.zones, func(a, b string) int { return dns.CountLabel(b) - dns.CountLabel(a) })
	x.snap.Store(&Snapshot{
		names:  newPmap[string, *Entry](hashName),
		addrs:  newPmap[netip.Addr, addrEntry](hashAddr),
		serial: uint32(time.Now().Unix()),
	})
	return x
}

func isReverseZone(z string) bool {
	return dns.IsSubDomain("in-addr.arpa.", z) || dns.IsSubDomain("ip6.arpa.", z)
}

// Load returns the current snapshot; it never blocks.
func (x *Index) Load() *Snapshot { return x.snap.Load() }

// Count returns how many hosts a source currently has in the index.
func (x *Index) Count(source string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.count[source]
}

// Replace makes hosts the complete view of src: hosts it no longer lists go.
func (x *Index) Replace(src Source, hosts []Host) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	keep := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		keep[h.ID] = struct{}{}
	}
	for k := range x.hosts {
		if _, ok := keep[k.id]; k.source == src.Name && !ok {
			x.remove(t, k)
		}
	}
	for _, h := range hosts {
		x.put(t, src, h)
	}
	x.commit(t)
}

// Upsert adds h to src, replacing any host with the same ID. It reports
// whether that changed anything: an identical host publishes nothing.
func (x *Index) Upsert(src Source, h Host) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	changed := x.put(t, src, h)
	x.commit(t)
	return changed
}

// Delete removes the host id from src and reports whether it was there.
func (x *Index) Delete(src Source, id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	changed := x.remove(t, hostKey{src.Name, id})
	x.commit(t)
	return changed
}

// txn collects the names and addresses a change touched; commit recomputes
// only those.
type txn struct {
	names map[string]struct{}
	addrs map[netip.Addr]struct{}
}

func (x *Index) begin() *txn {
	return &txn{names: map[string]struct{}{}, addrs: map[netip.Addr]struct{}{}}
}

func (x *Index) put(t *txn, src Source, h Host) bool {
	k := hostKey{src.Name, h.ID}
	if old, ok := x.hosts[k]; ok {
		if old.src == src && old.host.Equal(h) {
			return false
		}
		x.remove(t, k)
	}
	p := x.place(src, h)
	x.hosts[k] = p
	x.count[src.Name]++
	for n := range p.owners {
		x.nameState(n).hosts[k] = struct{}{}
		t.names[n] = struct{}{}
	}
	for n := range p.srvNames {
		x.nameState(n).hosts[k] = struct{}{}
		t.names[n] = struct{}{}
	}
	for _, n := range p.ents {
		x.nameState(n).ents++
		t.names[n] = struct{}{}
	}
	for _, a := range h.Addrs {
		s := x.addrs[a.IP]
		if s == nil {
			s = map[hostKey]struct{}{}
			x.addrs[a.IP] = s
		}
		s[k] = struct{}{}
		t.addrs[a.IP] = struct{}{}
	}
	return true
}

func (x *Index) remove(t *txn, k hostKey) bool {
	p, ok := x.hosts[k]
	if !ok {
		return false
	}
	delete(x.hosts, k)
	x.count[k.source]--
	if x.count[k.source] == 0 {
		delete(x.count, k.source)
	}
	drop := func(n string) {
		s := x.names[n]
		delete(s.hosts, k)
		t.names[n] = struct{}{}
	}
	for n := range p.owners {
		drop(n)
	}
	for n := range p.srvNames {
		drop(n)
	}
	for _, n := range p.ents {
		x.names[n].ents--
		t.names[n] = struct{}{}
	}
	for _, a := range p.host.Addrs {
		if s := x.addrs[a.IP]; s != nil {
			delete(s, k)
			t.addrs[a.IP] = struct{}{}
		}
	}
	return true
}

func (x *Index) nameState(n string) *nameState {
	s := x.names[n]
	if s == nil {
		s = &nameState{hosts: map[hostKey]struct{}{}}
		x.names[n] = s
	}
	return s
}

// place derives the owner names, SRV names and reverse targets of h.
func (x *Index) place(src Source, h Host) *placed {
	p := &placed{src: src, host: h, owners: map[string]struct{}{}, srvNames: map[string][]srvRecord{}}
	ents := map[string]struct{}{}
	for _, name := range h.Names {
		for _, q := range x.qualify(name) {
			p.owners[q] = struct{}{}
			x.addEnts(ents, q)
		}
	}
	for _, name := range h.ReverseNames {
		p.reverse = append(p.reverse, x.qualify(name)[0])
	}
	// SRV targets default to the host's own name in the same zone, so that
	// each replica is its own target with its own address.
	for _, s := range h.Services {
		target := s.Target
		if target == "" && len(h.ReverseNames) > 0 {
			target = h.ReverseNames[0]
		}
		if target == "" {
			continue
		}
		targets := x.qualify(target)
		for _, name := range h.Names {
			for i, q := range x.qualify(name) {
				owner := "_" + s.Name + "._" + s.Proto + "." + q
				p.srvNames[owner] = append(p.srvNames[owner], srvRecord{target: targets[min(i, len(targets)-1)], port: s.Port})
				x.addEnts(ents, owner)
			}
		}
	}
	// In a reverse zone we serve, the names between an address's PTR name
	// and the zone apex exist too (RFC 8020: NXDOMAIN there would deny the
	// PTR below).
	for _, a := range h.Addrs {
		rev, err := dns.ReverseAddr(a.IP.String())
		if err != nil {
			continue
		}
		for _, z := range x.reverseZones {
			if dns.IsSubDomain(z, rev) {
				addParents(ents, rev, z)
			}
		}
	}
	for n := range ents {
		if _, own := p.owners[n]; !own {
			p.ents = append(p.ents, n)
		}
	}
	return p
}

// addEnts records every name strictly between q and its zone apex.
func (x *Index) addEnts(ents map[string]struct{}, q string) { addParents(ents, q, x.zoneOf(q)) }

func addParents(ents map[string]struct{}, q, zone string) {
	for off, end := dns.NextLabel(q, 0); !end; off, end = dns.NextLabel(q, off) {
		parent := q[off:]
		if len(parent) <= len(zone) {
			return
		}
		ents[parent] = struct{}{}
	}
}

func (x *Index) zoneOf(q string) string {
	for _, z := range x.zones {
		if dns.IsSubDomain(z, q) {
			return z
		}
	}
	return "."
}

// qualify turns a source name into owner names: as written when it lies in
// a zone, otherwise once under each zone (the root zone adds just a dot).
func (x *Index) qualify(name string) []string {
	fq := dns.Fqdn(strings.ToLower(name))
	if len(x.zones) == 0 {
		return []string{fq}
	}
	for _, z := range x.zones {
		if dns.IsSubDomain(z, fq) {
			return []string{fq}
		}
	}
	out := make([]string, 0, len(x.zones))
	for _, z := range x.zones {
		if z == "." {
			out = append(out, fq)
		} else {
			out = append(out, fq+z)
		}
	}
	return out
}

// commit recomputes the touched names and addresses and publishes a new
// snapshot built on the old one.
func (x *Index) commit(t *txn) {
	if len(t.names) == 0 && len(t.addrs) == 0 {
		return
	}
	x.gen++
	old := x.snap.Load()
	names := old.names.edit(x.gen)
	for n := range t.names {
		if e := x.entry(n); e != nil {
			names.set(n, e)
		} else {
			names.del(n)
			delete(x.names, n)
		}
	}
	addrs := old.addrs.edit(x.gen)
	for a := range t.addrs {
		if r := x.addrEntry(a); len(r.owners) > 0 {
			addrs.set(a, r)
		} else {
			addrs.del(a)
			delete(x.addrs, a)
		}
	}
	serial := uint32(time.Now().Unix())
	if serial <= old.serial {
		serial = old.serial + 1
	}
	x.snap.Store(&Snapshot{names: names.done(), addrs: addrs.done(), serial: serial, gen: x.gen})
}

// winners returns the hosts of keys from the highest-priority source among
// them, in a stable order.
func (x *Index) winners(keys map[hostKey]struct{}) []*placed {
	best := 0
	var out []*placed
	for k := range keys {
		p := x.hosts[k]
		switch {
		case len(out) == 0 || p.src.Priority > best:
			best, out = p.src.Priority, append(out[:0], p)
		case p.src.Priority == best:
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *placed) int {
		if c := strings.Compare(a.src.Name, b.src.Name); c != 0 {
			return c
		}
		return strings.Compare(a.host.ID, b.host.ID)
	})
	return out
}

func (x *Index) entry(n string) *Entry {
	s := x.names[n]
	if s == nil || (len(s.hosts) == 0 && s.ents == 0) {
		return nil
	}
	e := &Entry{}
	seen := map[netip.Addr]struct{}{}
	for group, p := range x.winners(s.hosts) {
		if _, ok := p.owners[n]; ok {
			for _, a := range p.host.Addrs {
				if _, dup := seen[a.IP]; dup {
					continue
				}
				seen[a.IP] = struct{}{}
				t := Target{IP: a.IP, Raw: a.IP.AsSlice(), Group: group, Network: a.Network, Subnet: a.Subnet, Scope: a.Scope}
				e.Networked = e.Networked || a.Subnet.IsValid()
				if a.IP.Is4() {
					e.A = append(e.A, t)
				} else {
					e.AAAA = append(e.AAAA, t)
				}
			}
		}
		for _, r := range p.srvNames[n] {
			e.SRV = append(e.SRV, SRV{Target: r.target, Port: r.port})
		}
	}
	return e
}

// ownerOf names a host: by the name its PTR gives, else its first name.
func ownerOf(p *placed) Owner {
	o := Owner{Source: p.src.Name}
	switch {
	case len(p.host.ReverseNames) > 0:
		o.Name = p.host.ReverseNames[0]
	case len(p.host.Names) > 0:
		o.Name = p.host.Names[0]
	}
	return o
}

func (x *Index) addrEntry(a netip.Addr) addrEntry {
	var out addrEntry
	for _, p := range x.winners(x.addrs[a]) {
		for _, r := range p.reverse {
			if !slices.Contains(out.names, r) {
				out.names = append(out.names, r)
			}
		}
	}
	for k := range x.addrs[a] {
		for _, ha := range x.hosts[k].host.Addrs {
			if ha.IP == a && ha.Scope != "" && !slices.Contains(out.scopes, ha.Scope) {
				out.scopes = append(out.scopes, ha.Scope)
			}
		}
	}
	slices.Sort(out.scopes)
	// Winners first, then the hidden ones, each group in a stable order.
	winners := x.winners(x.addrs[a])
	for _, p := range winners {
		out.owners = append(out.owners, ownerOf(p))
	}
	var hidden []Owner
	for k := range x.addrs[a] {
		if p := x.hosts[k]; !slices.Contains(winners, p) {
			hidden = append(hidden, ownerOf(p))
		}
	}
	slices.SortFunc(hidden, func(a, b Owner) int { return strings.Compare(a.Source+" "+a.Name, b.Source+" "+b.Name) })
	out.owners = append(out.owners, hidden...)
	return out
}
