package index

import (
	"hash/maphash"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Index merges the hosts of every source into Snapshots. Writers (sources)
// serialise on a mutex; readers only ever load the current Snapshot.
// A change recomputes just the names it touches.
//
// The writer keeps no second copy of the names: which hosts own a name, and
// how many names lie below it, live in the snapshot's own entries (unexported
// fields that queries never read). A name owned by one host alone, the common
// case, points at an Entry that host built once and shares among all its
// names; only a name with several owners, names below it or SRV records gets
// an Entry of its own.
type Index struct {
	zones        []string // forward zones, lowercase FQDN, most specific first
	reverseZones []string // in-addr.arpa. and ip6.arpa. zones we are authoritative for

	mu        sync.Mutex
	gen       uint64                          // of txns
	published uint64                          // snapshots published
	hosts     map[SourceID]map[string]*placed // source -> host ID -> host
	sources   map[Source]*sourceRec
	snap      atomic.Pointer[Snapshot]
	// brokenChain hears of each changed alias whose chain loops or is
	// longer than MaxChain; nil ignores them.
	brokenChain func(name string)
	// changed hears of each write of a source; nil ignores them.
	changed func(src SourceID, hosts int)
}

// MaxChain is the longest CNAME chain served: a longer one, or a loop, is
// broken, and its names answer as if they had no CNAME data.
const MaxChain = 8

// OnBrokenChain sets fn to hear, at each change, of the changed names whose
// CNAME chain loops or is longer than MaxChain (to log and count them).
func (x *Index) OnBrokenChain(fn func(name string)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.brokenChain = fn
}

// OnChange sets fn to hear of each write of a source that may have changed
// the index: every Replace, SetTable and Patch, and each Upsert and Delete
// that changed something. It hears the source and how many hosts it now
// has (to count them and signal secondaries). fn runs with the index
// locked: it must not call the index.
func (x *Index) OnChange(fn func(src SourceID, hosts int)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.changed = fn
}

// wrote tells the change hook that src wrote.
func (x *Index) wrote(src Source) {
	if x.changed != nil {
		id := src.ID()
		x.changed(id, x.count(id))
	}
}

// placed is a host with everything derived from it, kept so that removing it
// touches exactly the names it added. The source's Host itself is not kept:
// its relative names, once qualified, are all the index needs. A host with
// one address and no services (every hosts-file line) is one allocation
// besides its names: its entry, target and address are inside it.
type placed struct {
	src *sourceRec // interned: one per source
	id  string
	// named is set when the name the host is known by (its PTR name, else
	// its first) was given inside a zone: Owner then needs only the dot
	// dropped, not the zone. Keeping this bit rather than the name saves a
	// string per hosts-file line.
	named   bool
	owners  []string     // qualified names it answers, without duplicates
	reverse []string     // qualified PTR targets, without duplicates; often owners' own
	ents    []string     // empty non-terminals above its names
	ips     []netip.Addr // its addresses
	nets    []Addr       // the same with their networks; nil when none has any (hosts files)
	more    *placedMore  // what few hosts have
	self    [1]*placed   // backs the owner list of a name only this host has
	plain   Entry        // the entry of a name only this host has
	target  [1]Target    // backs plain's one target
	ip      [1]netip.Addr
}

type placedMore struct {
	ownerSet  map[string]struct{} // owners as a set, for hosts with many names
	services  []Service
	srvNames  map[string][]srvRecord // qualified SRV owner name -> its records
	cname     string                 // qualified alias target of all its names
	txt       [][]string             // TXT records at its own names
	txtNames  map[string][][]string  // qualified <key>.<name> -> its TXT records
	published []netip.Addr           // Host.Published, as given
	reach     *Reach                 // the same, built for queries
	withheld  []string               // qualified names it holds without records (Host.Withheld, their SRV names)
}

// manyOwners is where a host's names get a set for membership tests rather
// than a scan.
const manyOwners = 16

func (p *placed) owns(n string) bool {
	if p.more != nil && p.more.ownerSet != nil {
		_, ok := p.more.ownerSet[n]
		return ok
	}
	return slices.Contains(p.owners, n)
}

// reach is where a client outside the host's engine reaches it; nil for
// everyone here.
func (p *placed) reach() *Reach {
	if p.more == nil {
		return nil
	}
	return p.more.reach
}

func (p *placed) srvAt(n string) []srvRecord {
	if p.more == nil {
		return nil
	}
	return p.more.srvNames[n]
}

func (p *placed) txtAt(n string) [][]string {
	if p.more == nil {
		return nil
	}
	return p.more.txtNames[n]
}

// hasRecordsAt reports whether p puts records of its own at n besides
// its addresses: then n needs an entry of its own.
func (p *placed) hasRecordsAt(n string) bool { return p.srvAt(n) != nil || p.txtAt(n) != nil }

// eachNameBelow calls fn once for every name p puts records at without
// owning it: SRV and keyed TXT names.
func (p *placed) eachNameBelow(fn func(n string)) {
	if p.more == nil {
		return
	}
	for n := range p.more.srvNames {
		if !p.owns(n) {
			fn(n)
		}
	}
	for n := range p.more.txtNames {
		if _, srv := p.more.srvNames[n]; !srv && !p.owns(n) {
			fn(n)
		}
	}
}

func (p *placed) cname() string {
	if p.more == nil {
		return ""
	}
	return p.more.cname
}

func (p *placed) extra() *placedMore {
	if p.more == nil {
		p.more = &placedMore{}
	}
	return p.more
}

// addr is the i-th address with its network, nil for none.
func (p *placed) addr(i int) *Addr {
	if p.nets == nil {
		return nil
	}
	return &p.nets[i]
}

type srvRecord struct {
	target string
	port   uint16
	rank   Rank
	reach  SRVReach
	on     string // the host's own name, whose networks Reach is about
}

var seed = maphash.MakeSeed()

func hashName(s string) uint64     { return maphash.String(seed, s) }
func hashAddr(a netip.Addr) uint64 { return maphash.Comparable(seed, a) }

// New returns an empty index for the given zones. Forward zones qualify the
// relative names sources hand in; reverse zones create no forward names.
func New(zones []string) *Index {
	x := &Index{hosts: map[SourceID]map[string]*placed{}, sources: map[Source]*sourceRec{}}
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
		names:        newPmap[string, *Entry](hashName),
		addrs:        newPmap[netip.Addr, addrEntry](hashAddr),
		zones:        zoned(x.zones),
		reverseZones: x.reverseZones,
	})
	return x
}

func isReverseZone(z string) bool {
	return dns.IsSubDomain("in-addr.arpa.", z) || dns.IsSubDomain("ip6.arpa.", z)
}

// Load returns the current snapshot; it never blocks.
func (x *Index) Load() *Snapshot { return x.snap.Load() }

// count is how many hosts a source has in the index; x.mu is held.
func (x *Index) count(source SourceID) int {
	return len(x.hosts[source]) + x.tableCount(source)
}

// Replace makes hosts the complete view of src: hosts it no longer lists go.
func (x *Index) Replace(src Source, hosts []Host) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	x.setLayer(t, src, func(*layer) *layer { return nil })
	if old := x.hosts[src.ID()]; len(old) > 0 {
		keep := make(map[string]struct{}, len(hosts))
		for _, h := range hosts {
			keep[h.ID] = struct{}{}
		}
		for id := range old {
			if _, ok := keep[id]; !ok {
				x.remove(t, src.ID(), id)
				t.pace.Tick()
			}
		}
	}
	for _, h := range hosts {
		x.put(t, src, h)
		t.pace.Tick()
	}
	x.commit(t)
	x.wrote(src)
}

// Upsert adds h to src, replacing any host with the same ID. It reports
// whether that changed anything: an identical host publishes nothing.
func (x *Index) Upsert(src Source, h Host) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	changed := x.put(t, src, h)
	x.commit(t)
	if changed {
		x.wrote(src)
	}
	return changed
}

// Delete removes the host id from src and reports whether it was there.
func (x *Index) Delete(src Source, id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	changed := x.remove(t, src.ID(), id)
	x.commit(t)
	if changed {
		x.wrote(src)
	}
	return changed
}

// txn is one change being made: the maps it edits (copies of the published
// ones, sharing all they did not touch) and the names and addresses whose
// records commit must recompute.
type txn struct {
	gen        uint64
	names      *ptxn[string, *Entry]
	addrs      *ptxn[netip.Addr, addrEntry]
	dirtyNames []string
	dirtyAddrs []netip.Addr
	aliases    []string // a name of each alias put, for checkChains
	changed    bool
	pace       Pacer
	layers     []*layer // the sources' tables, as this txn leaves them
}

func (x *Index) begin() *txn {
	x.gen++
	old := x.snap.Load()
	return &txn{gen: x.gen, names: old.names.edit(x.gen), addrs: old.addrs.edit(x.gen), layers: old.layers}
}

func (x *Index) put(t *txn, src Source, h Host) bool {
	if old := x.hosts[src.ID()][h.ID]; old != nil {
		if old.src.Source == src && x.same(old, h) {
			return false
		}
		x.remove(t, src.ID(), h.ID)
	}
	p := x.place(x.source(src), h)
	byID := x.hosts[src.ID()]
	if byID == nil {
		byID = map[string]*placed{}
		x.hosts[src.ID()] = byID
	}
	byID[h.ID] = p
	t.changed = true
	for _, n := range p.owners {
		x.addOwner(t, n, p)
	}
	if p.cname() != "" && len(p.owners) > 0 {
		// Its names share one target: one chain to check, one log line.
		t.aliases = append(t.aliases, p.owners[0])
	}
	p.eachNameBelow(func(n string) { x.addOwner(t, n, p) })
	for _, n := range p.ents {
		x.addEnt(t, n, +1)
	}
	for _, n := range p.withheld() {
		x.hold(t, n, +1)
	}
	for i, ip := range p.ips {
		if !slices.Contains(p.ips[:i], ip) {
			x.addAddrOwner(t, ip, p)
		}
	}
	return true
}

// sourceRec is a source as its hosts point at it, with what they share.
type sourceRec struct {
	Source
	zone string // the zone qualify adds to a relative name; "." for none
}

// source interns src: every host of a source points at one copy.
func (x *Index) source(src Source) *sourceRec {
	s := x.sources[src]
	if s == nil {
		s = &sourceRec{Source: src, zone: "."}
		if len(x.zones) > 0 {
			s.zone = x.zones[0]
		}
		x.sources[src] = s
	}
	return s
}

func (x *Index) remove(t *txn, source SourceID, id string) bool {
	p := x.hosts[source][id]
	if p == nil {
		return false
	}
	delete(x.hosts[source], id)
	if len(x.hosts[source]) == 0 {
		delete(x.hosts, source)
	}
	t.changed = true
	for _, n := range p.owners {
		x.dropOwner(t, n, p)
	}
	p.eachNameBelow(func(n string) { x.dropOwner(t, n, p) })
	for _, n := range p.ents {
		x.addEnt(t, n, -1)
	}
	for _, n := range p.withheld() {
		x.hold(t, n, -1)
	}
	for i, ip := range p.ips {
		if !slices.Contains(p.ips[:i], ip) {
			x.dropAddrOwner(t, ip, p)
		}
	}
	return true
}

// same reports whether p is what placing h would give.
func (x *Index) same(p *placed, h Host) bool {
	q := x.place(p.src, h)
	var pm, qm placedMore
	if p.more != nil {
		pm = *p.more
	}
	if q.more != nil {
		qm = *q.more
	}
	return p.id == q.id && p.plain.ttls == q.plain.ttls && p.plain.ttl == q.plain.ttl && slices.Equal(p.owners, q.owners) && slices.Equal(p.reverse, q.reverse) &&
		slices.Equal(p.ips, q.ips) && slices.Equal(p.nets, q.nets) && slices.Equal(pm.services, qm.services) &&
		slices.Equal(pm.published, qm.published) &&
		pm.cname == qm.cname && slices.Equal(pm.withheld, qm.withheld) && slices.EqualFunc(pm.txt, qm.txt, slices.Equal) &&
		maps.EqualFunc(pm.txtNames, qm.txtNames, func(a, b [][]string) bool { return slices.EqualFunc(a, b, slices.Equal) })
}

// place derives the owner names, SRV names and reverse targets of h.
func (x *Index) place(src *sourceRec, h Host) *placed {
	p := &placed{src: src, id: h.ID}
	p.self[0] = p
	switch {
	case len(h.ReverseNames) > 0:
		p.named = x.inAZone(h.ReverseNames[0])
	case len(h.Names) > 0:
		p.named = x.inAZone(h.Names[0])
	}
	if len(h.Addrs) == 1 {
		p.ip[0] = h.Addrs[0].IP
		p.ips = p.ip[:]
	} else if len(h.Addrs) > 1 {
		p.ips = make([]netip.Addr, len(h.Addrs))
		for i, a := range h.Addrs {
			p.ips[i] = a.IP
		}
	}
	for _, a := range h.Addrs {
		if a.Network != "" || a.Subnet.IsValid() || a.Scope != "" {
			p.nets = h.Addrs // sources never change a Host they handed in
			break
		}
	}
	if len(h.Services) > 0 {
		p.extra().services = h.Services
	}
	if len(h.Published) > 0 {
		p.extra().published = h.Published
		p.more.reach = reachOf(h.Published)
	}
	if h.CNAME != "" {
		// An absolute target stays as written; a relative one lies in the
		// first zone, as the host's own names do.
		if strings.HasSuffix(h.CNAME, ".") {
			p.extra().cname = strings.ToLower(h.CNAME)
		} else {
			p.extra().cname = x.qualify(h.CNAME)[0]
		}
	}
	var ents nameSet
	for _, r := range h.TXT {
		if r.Key == "" {
			p.extra().txt = append(p.extra().txt, r.Strings)
		}
	}
	own := func(q string) {
		if p.owns(q) {
			return
		}
		p.owners = append(p.owners, q)
		if len(p.owners) == manyOwners {
			set := make(map[string]struct{}, 2*len(p.owners))
			for _, o := range p.owners {
				set[o] = struct{}{}
			}
			p.extra().ownerSet = set
		} else if len(p.owners) > manyOwners {
			p.more.ownerSet[q] = struct{}{}
		}
	}
	for _, name := range h.Names {
		for _, q := range x.qualify(name) {
			own(q)
			x.addEnts(&ents, q)
		}
	}
	if h.Wildcard {
		// *.<name> is one more name of the host, answered as it is;
		// queries reach it only for names that do not exist (RFC 4592).
		for _, q := range p.owners[:len(p.owners):len(p.owners)] {
			own("*." + q)
		}
	}
	for _, name := range h.ReverseNames {
		if r := x.qualify(name)[0]; !slices.Contains(p.reverse, r) {
			p.reverse = append(p.reverse, r)
		}
	}
	if len(p.reverse) > 0 && len(p.reverse) <= len(p.owners) && slices.Equal(p.reverse, p.owners[:len(p.reverse)]) {
		p.reverse = p.owners[:len(p.reverse):len(p.reverse)] // the usual case: share the strings and the slice
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
		var on []string // the host's own name, for a record not for all
		if s.Reach != ReachAll && len(h.ReverseNames) > 0 {
			on = x.qualify(h.ReverseNames[0])
		} else if s.Reach != ReachAll {
			continue // no name to tell its clients by
		}
		for _, name := range h.Names {
			for i, q := range x.qualify(name) {
				owner := "_" + s.Name + "._" + s.Proto + "." + q
				m := p.extra()
				if m.srvNames == nil {
					m.srvNames = map[string][]srvRecord{}
				}
				m.srvNames[owner] = append(m.srvNames[owner], srvRecord{target: targets[min(i, len(targets)-1)], port: s.Port, rank: s.Rank.OrDefault(), reach: s.Reach})
				if on != nil {
					rs := m.srvNames[owner]
					rs[len(rs)-1].on = on[min(i, len(on)-1)]
				}
				x.addEnts(&ents, owner)
			}
		}
	}
	for _, r := range h.TXT {
		if r.Key == "" {
			continue
		}
		for _, name := range h.Names {
			for _, q := range x.qualify(name) {
				owner := r.Key + "." + q
				m := p.extra()
				if m.txtNames == nil {
					m.txtNames = map[string][][]string{}
				}
				m.txtNames[owner] = append(m.txtNames[owner], r.Strings)
				x.addEnts(&ents, owner)
			}
		}
	}
	// A withheld name exists, as do the names above it and the SRV names
	// its services would have; none gets a record from this host.
	for _, name := range h.Withheld {
		for _, q := range x.qualify(name) {
			held := []string{q}
			for _, s := range h.Services {
				held = append(held, "_"+s.Name+"._"+s.Proto+"."+q)
			}
			for _, n := range held {
				if !slices.Contains(p.extra().withheld, n) && !p.owns(n) {
					p.more.withheld = append(p.more.withheld, n)
					x.addEnts(&ents, n)
				}
			}
		}
	}
	// In a reverse zone we serve, the names between an address's PTR name
	// and the zone apex exist too (RFC 8020: NXDOMAIN there would deny the
	// PTR below).
	if len(x.reverseZones) > 0 {
		for _, a := range h.Addrs {
			rev, err := dns.ReverseAddr(a.IP.String())
			if err != nil {
				continue
			}
			for _, z := range x.reverseZones {
				if dns.IsSubDomain(z, rev) {
					addParents(&ents, rev, z)
				}
			}
		}
	}
	for _, n := range ents.list {
		if !p.owns(n) {
			p.ents = append(p.ents, n)
		}
	}
	p.plain.one, p.plain.prio = p, src.Priority
	p.plain.addTTL(h.TTL, h.HasTTL)
	if p.plain.CNAME = p.cname(); p.plain.CNAME == "" {
		p.plain.addTargets(p, 0, nil)
		if p.more != nil {
			p.plain.TXT = p.more.txt
		}
	}
	return p
}

// addEnts records every name strictly between q and its zone apex.
func (x *Index) addEnts(ents *nameSet, q string) { addParents(ents, q, zoned(x.zones).zoneOf(q)) }

func addParents(ents *nameSet, q, zone string) { eachParent(q, zone, ents.add) }

// eachParent calls fn with each name strictly between the lowercase FQDN q
// and zone, the nearest first.
func eachParent[T string | []byte](q T, zone string, fn func(parent T)) {
	for i := 0; i < len(q); i++ {
		if q[i] != '.' {
			continue
		}
		parent := q[i+1:]
		if len(parent) <= len(zone) {
			return
		}
		fn(parent)
	}
}

// nameSet is a set of names in the order added: a slice while small (a
// host has a few), with a map once large.
type nameSet struct {
	list []string
	set  map[string]struct{}
}

func (s *nameSet) add(n string) {
	if s.set != nil {
		if _, ok := s.set[n]; ok {
			return
		}
		s.set[n] = struct{}{}
	} else if slices.Contains(s.list, n) {
		return
	} else if len(s.list) == manyOwners {
		s.set = make(map[string]struct{}, 2*manyOwners)
		for _, m := range s.list {
			s.set[m] = struct{}{}
		}
		s.set[n] = struct{}{}
	}
	s.list = append(s.list, n)
}

// qualify turns a source name into owner names: as written when it lies in
// a zone, otherwise once under each zone (the root zone adds just a dot).
func (x *Index) qualify(name string) []string {
	return zoned(x.zones).qualify(strings.TrimSuffix(strings.ToLower(name), "."))
}

// nameState returns the entry at n as this txn may change it: the published
// entry is copied once per txn (snapshots never change) and the name is
// marked for commit to recompute.
func (x *Index) nameState(t *txn, n string) *nameState {
	e, _ := t.names.get(n)
	switch {
	case e != nil && e.st != nil && e.st.gen == t.gen:
		return e.st
	case e == nil:
		e = &Entry{st: &nameState{}}
	case e.st == nil: // the shared entry of a name one host owns
		e = &Entry{st: &nameState{owners: []*placed{e.one}}}
	default:
		c := *e.st
		c.owners = slices.Clone(c.owners)
		c.index, c.done = nil, false
		e = &Entry{st: &c}
	}
	e.st.gen = t.gen
	t.names.set(n, e)
	t.dirtyNames = append(t.dirtyNames, n)
	return e.st
}

func (x *Index) addOwner(t *txn, n string, p *placed) {
	if e, _ := t.names.get(n); e == nil && p.owns(n) && !p.hasRecordsAt(n) {
		t.names.set(n, &p.plain) // the common case: nothing else is at n
		return
	}
	s := x.nameState(t, n)
	s.add(p)
}

func (x *Index) dropOwner(t *txn, n string, p *placed) {
	if e, _ := t.names.get(n); e != nil && e.st == nil && e.one == p {
		t.names.del(n)
		return
	}
	x.nameState(t, n).drop(p)
}

func (x *Index) addEnt(t *txn, n string, delta int32) { x.nameState(t, n).ents += delta }

// hold counts a host withholding n: the name exists, marked Withheld.
func (x *Index) hold(t *txn, n string, delta int32) {
	s := x.nameState(t, n)
	s.ents += delta
	s.held += delta
}

func (p *placed) withheld() []string {
	if p.more == nil {
		return nil
	}
	return p.more.withheld
}

func (x *Index) addAddrOwner(t *txn, a netip.Addr, p *placed) {
	if v, ok := t.addrs.get(a); !ok && !p.hasScope(a) {
		t.addrs.set(a, addrEntry{one: p})
		return
	} else if ok && v.st == nil && v.one == p {
		return
	}
	x.addrState(t, a).add(p)
}

func (x *Index) dropAddrOwner(t *txn, a netip.Addr, p *placed) {
	if v, ok := t.addrs.get(a); ok && v.st == nil && v.one == p {
		t.addrs.del(a)
		return
	}
	x.addrState(t, a).drop(p)
}

// hasScope reports whether p has ip within a scope.
func (p *placed) hasScope(ip netip.Addr) bool {
	for _, a := range p.nets {
		if a.IP == ip && a.Scope != "" {
			return true
		}
	}
	return false
}

func (x *Index) addrState(t *txn, a netip.Addr) *nameState {
	v, _ := t.addrs.get(a)
	switch {
	case v.st != nil && v.st.gen == t.gen:
		return &v.st.nameState
	case v.st == nil && v.one == nil:
		v = addrEntry{st: &addrState{}}
	case v.st == nil:
		v = addrEntry{st: &addrState{nameState: nameState{owners: []*placed{v.one}}}}
	default:
		c := *v.st
		c.owners = slices.Clone(c.owners)
		c.index, c.done = nil, false
		v = addrEntry{st: &c}
	}
	v.st.gen = t.gen
	t.addrs.set(a, v)
	t.dirtyAddrs = append(t.dirtyAddrs, a)
	return &v.st.nameState
}

// inZone reports whether the lowercase FQDN q is zone z or below it, as
// dns.IsSubDomain does for canonical names, without allocating.
func inZone(z, q string) bool {
	return z == "." || q == z || (len(q) > len(z) && q[len(q)-len(z)-1] == '.' && strings.HasSuffix(q, z))
}

// commit recomputes the touched names and addresses and publishes a new
// snapshot built on the old one.
func (x *Index) commit(t *txn) {
	if !t.changed {
		return
	}
	for _, n := range t.dirtyNames {
		t.pace.Tick()
		e, _ := t.names.get(n)
		if e == nil || e.st == nil || e.st.gen != t.gen || e.st.done {
			continue
		}
		e.st.done = true
		s := e.st
		switch {
		case len(s.owners) == 0 && s.ents == 0:
			t.names.del(n)
		case len(s.owners) == 1 && s.ents == 0 && s.owners[0].owns(n) && !s.owners[0].hasRecordsAt(n):
			t.names.set(n, &s.owners[0].plain)
		default:
			x.fill(e, n)
		}
	}
	x.checkChains(t)
	for _, a := range t.dirtyAddrs {
		t.pace.Tick()
		v, _ := t.addrs.get(a)
		if v.st == nil || v.st.gen != t.gen || v.st.done {
			continue
		}
		v.st.done = true
		s := v.st
		switch {
		case len(s.owners) == 0:
			t.addrs.del(a)
		case len(s.owners) == 1 && !s.owners[0].hasScope(a):
			t.addrs.set(a, addrEntry{one: s.owners[0]})
		default:
			x.fillAddr(s, a)
		}
	}
	x.published++
	x.snap.Store(&Snapshot{names: t.names.done(), addrs: t.addrs.done(), gen: x.published,
		layers: t.layers, zones: zoned(x.zones), reverseZones: x.reverseZones})
}

// winners returns the hosts among owners from the highest-priority source,
// in a stable order.
func winners(owners []*placed) []*placed {
	best := 0
	var out []*placed
	for _, p := range owners {
		switch {
		case len(out) == 0 || p.src.Priority > best:
			best, out = p.src.Priority, append(out[:0], p)
		case p.src.Priority == best:
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *placed) int {
		if c := a.src.ID().compare(b.src.ID()); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// fill computes the records of e, the entry at n, from its owners.
//
// An alias wins its name: when a winning host has a CNAME there, the first
// such host (by source, then ID) gives the name its CNAME and nothing else,
// whatever addresses other hosts of the same priority have.
func (x *Index) fill(e *Entry, n string) {
	e.A, e.AAAA, e.SRV, e.TXT, e.CNAME, e.Networked, e.Reached, e.Bound, e.ttls, e.ttl = nil, nil, nil, nil, "", false, false, false, 0, 0
	e.Withheld = e.st.held > 0
	won := winners(e.st.owners)
	if len(won) > 0 {
		e.prio = won[0].src.Priority
	}
	for _, p := range won {
		if p.cname() != "" && p.owns(n) {
			e.CNAME = p.cname()
			e.addTTLOf(&p.plain)
			return
		}
	}
	seen := map[scopedAddr]struct{}{}
	for group, p := range won {
		if p.owns(n) || p.hasRecordsAt(n) {
			e.addTTLOf(&p.plain) // its TTL is the one of its host
		}
		if p.owns(n) {
			e.addTargets(p, group, seen)
			if p.more != nil {
				e.TXT = append(e.TXT, p.more.txt...)
			}
		}
		for _, r := range p.srvAt(n) {
			e.SRV = append(e.SRV, SRV{Target: r.target, Port: r.port, Priority: r.rank.Priority, Weight: r.rank.Weight, Reach: r.reach, On: r.on})
		}
		e.TXT = append(e.TXT, p.txtAt(n)...)
	}
}

// checkChains tells brokenChain of each changed alias whose chain, within
// the names about to be published, loops or exceeds MaxChain. Only changed
// names are walked: a change elsewhere that breaks an old alias's chain is
// reported at the changed name of the loop, or not at all for a chain made
// too long; queries refuse every broken chain regardless (they walk it).
func (x *Index) checkChains(t *txn) {
	if x.brokenChain == nil {
		return
	}
	var reported []string
	// A name an alias alone owns was set without being marked dirty.
	for _, n := range slices.Concat(t.aliases, t.dirtyNames) {
		e, _ := t.names.get(n)
		if e == nil || e.CNAME == "" || slices.Contains(reported, n) {
			continue
		}
		if _, ok := chainEnd(e, func(name string) *Entry { v, _ := t.names.get(name); return v }); !ok {
			reported = append(reported, n)
			x.brokenChain(n)
		}
	}
}

// chainEnd follows e's CNAME chain through lookup. It returns the last
// name's entry (nil when the chain leaves the names lookup knows), and false
// when the chain loops or is longer than MaxChain.
func chainEnd(e *Entry, lookup func(string) *Entry) (*Entry, bool) {
	for hops := 0; e != nil && e.CNAME != ""; hops++ {
		if hops == MaxChain {
			return nil, false
		}
		e = lookup(e.CNAME)
	}
	return e, true
}

// scopedAddr is an address within its scope: two engines' containers may
// have one address (both default bridges are 172.17.0.0/16) and are two
// targets, which a client of one engine tells apart.
type scopedAddr struct {
	ip    netip.Addr
	scope string
}

// addTargets adds p's addresses to e, each once (seen, when not nil, spans
// several hosts). The first target of a host's own entry lives in the host.
func (e *Entry) addTargets(p *placed, group int, seen map[scopedAddr]struct{}) {
	for i, ip := range p.ips {
		if seen != nil {
			k := scopedAddr{ip, ""}
			if a := p.addr(i); a != nil {
				k.scope = a.Scope
			}
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		} else if slices.Contains(p.ips[:i], ip) {
			continue
		}
		t := Target{IP: ip, Raw: ip.AsSlice(), Group: group, Net: p.addr(i), Reach: p.reach()}
		e.Networked = e.Networked || (t.Net != nil && t.Net.Subnet.IsValid())
		e.Reached = e.Reached || t.Reach != nil || e.otherScope(t)
		e.Bound = e.Bound || t.Net != nil && t.Net.Names != NamesEverywhere
		list := &e.AAAA
		if ip.Is4() {
			list = &e.A
		}
		if *list == nil && e == &p.plain && !p.target[0].IP.IsValid() {
			p.target[0] = t
			*list = p.target[:1:1]
		} else {
			*list = append(*list, t)
		}
	}
}

// otherScope reports whether t is of another scope than e's targets so far:
// the order of the answer then depends on the client's engine.
func (e *Entry) otherScope(t Target) bool {
	first := e.A
	if len(first) == 0 {
		first = e.AAAA
	}
	return len(first) > 0 && scopeOf(first[0]) != scopeOf(t)
}

func scopeOf(t Target) string {
	if t.Net == nil {
		return ""
	}
	return t.Net.Scope
}

func (x *Index) fillAddr(s *addrState, a netip.Addr) {
	s.names, s.scopes = nil, nil
	for _, p := range winners(s.owners) {
		for _, r := range p.reverse {
			if !slices.Contains(s.names, r) {
				s.names = append(s.names, r)
			}
		}
	}
	for _, p := range s.owners {
		for _, ha := range p.nets {
			if ha.IP == a && ha.Scope != "" && !slices.Contains(s.scopes, ha.Scope) {
				s.scopes = append(s.scopes, ha.Scope)
			}
		}
	}
	slices.Sort(s.scopes)
	// Owners: the winners first, then the hidden ones, each group in a
	// stable order.
	s.hosts = s.hosts[:0]
	won := winners(s.owners)
	for _, p := range won {
		s.hosts = append(s.hosts, p.owner())
	}
	var hidden []Owner
	for _, p := range s.owners {
		if !slices.Contains(won, p) {
			hidden = append(hidden, p.owner())
		}
	}
	slices.SortFunc(hidden, func(a, b Owner) int {
		return strings.Compare(a.Source.String()+" "+a.Name, b.Source.String()+" "+b.Name)
	})
	s.hosts = append(s.hosts, hidden...)
}

func (p *placed) owner() Owner { return Owner{Source: p.src.ID(), Name: p.knownAs()} }

// knownAs is the name the host is known by, relative as the source gave it:
// its first qualified PTR name (else name) without the zone qualify added.
func (p *placed) knownAs() string {
	var q string
	switch {
	case len(p.reverse) > 0:
		q = p.reverse[0]
	case len(p.owners) > 0:
		q = p.owners[0]
	default:
		return ""
	}
	if !p.named && p.src.zone != "." {
		q = strings.TrimSuffix(q, p.src.zone)
	}
	return strings.TrimSuffix(q, ".")
}

// inAZone reports whether the source name lies in one of the zones, so
// that qualify keeps it as written.
func (x *Index) inAZone(name string) bool {
	return zoned(x.zones).inAZone(strings.TrimSuffix(strings.ToLower(name), "."))
}
