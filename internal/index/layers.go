package index

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// layer is one source's Table in a snapshot: the table as built, less the
// hosts the source has removed since (a reread file whose lines changed),
// which is cheaper than rebuilding the table for every edit. Hosts the source
// added since live in the snapshot's maps like any other source's.
type layer struct {
	src   *sourceRec
	tab   *Table
	dead  deadSet // the hosts of tab removed since it was built
	ndead int
	// cache holds recent entries of single hosts, by host: a name asked
	// again is answered without an allocation. Shared by the layer's
	// copies (a host's entry never changes with its table).
	cache []atomic.Pointer[hostEntry]
	// entDead counts, per empty non-terminal rec, the hosts below it that
	// are removed: it goes with the last of them.
	entDead map[uint32]int32
}

func (l *layer) live(h int32) bool { return !l.dead.has(h) }

// deadSet is a set of table hosts, a bit each, in chunks that a change
// copies only when it touches them: an edit of a million-host table copies
// a few kilobytes, not the whole set.
type deadSet []*[deadChunk / 64]uint64

const deadChunk = 1 << 15 // hosts a chunk

func (d deadSet) has(h int32) bool {
	c := int(h) / deadChunk
	return c < len(d) && d[c] != nil && d[c][(h%deadChunk)>>6]&(1<<(h&63)) != 0
}

// set returns d with h's bit set to dead, copying what it changes (fresh
// marks the chunks this change already copied).
func (d deadSet) set(h int32, hosts int, dead bool, fresh map[int]bool) deadSet {
	if len(d) == 0 {
		d = make(deadSet, (hosts+deadChunk-1)/deadChunk)
	}
	c := int(h) / deadChunk
	if !fresh[c] {
		chunk := new([deadChunk / 64]uint64)
		if d[c] != nil {
			*chunk = *d[c]
		}
		d[c] = chunk
		fresh[c] = true
	}
	if dead {
		d[c][(h%deadChunk)>>6] |= 1 << (h & 63)
	} else {
		d[c][(h%deadChunk)>>6] &^= 1 << (h & 63)
	}
	return d
}

// at appends to out l's live hosts with the written name w, in host order.
func (l *layer) at(w string, out []int32) []int32 {
	start := len(out)
	l.tab.probe(w, func(i uint32) bool {
		if r := l.tab.rec(i); r.host >= 0 && l.live(r.host) {
			out = append(out, r.host)
		}
		return true
	})
	slices.Sort(out[start:])
	return out
}

// has reports whether a live host of l has the written name w.
func (l *layer) has(w string) bool {
	found := false
	l.tab.probe(w, func(i uint32) bool {
		r := l.tab.rec(i)
		found = r.host >= 0 && l.live(r.host)
		return !found
	})
	return found
}

// above reports whether the lowercase FQDN q is a name above a live host's
// name in l.
func (l *layer) above(q string) bool {
	found := false
	l.tab.probe(q, func(i uint32) bool {
		r := l.tab.rec(i)
		found = r.host < 0 && -r.host > l.entDead[i]
		return !found
	})
	return found
}

// entsAbove appends the empty non-terminal recs above host h's names, each
// once.
func (l *layer) entsAbove(h int32, out []uint32) []uint32 {
	t := l.tab
	var scratch []byte
	t.HostNames(h, func(n []byte) {
		scratch = t.zones.eachEnt(n, scratch, func(parent []byte) {
			t.probe(string(parent), func(r uint32) bool {
				if t.rec(r).host < 0 {
					if !slices.Contains(out, r) {
						out = append(out, r)
					}
					return false
				}
				return true
			})
		})
	})
	return out
}

// tableHit is the live hosts of one layer at a name or address.
type tableHit struct {
	from, to int // of the hosts, in the buffer nameHits filled
	l        *layer
	hosts    []int32
}

// nameHits appends to hits the layers' live hosts at the lowercase FQDN q,
// their hosts to buf (returned, as the hits' from:to). The caller's buffers
// keep a query's lookup off the heap.
func (s *Snapshot) nameHits(q string, hits []tableHit, buf []int32) ([]tableHit, []int32) {
	var wbuf [4]string
	written := s.zones.written(q, wbuf[:0])
	for _, l := range s.layers {
		start := len(buf)
		for _, w := range written {
			buf = l.at(w, buf)
		}
		if len(buf) > start {
			hits = append(hits, tableHit{l: l, from: start, to: len(buf)})
		}
	}
	return hits, buf
}

// aboveHosts reports whether q is a name above some live table host's
// name, forward or, in a served reverse zone, above its address.
func (s *Snapshot) aboveHosts(q string) bool {
	for _, l := range s.layers {
		if l.above(q) {
			return true
		}
	}
	return s.aboveReverse(q)
}

// oneHost counts the live table hosts at the lowercase FQDN q, up to 2,
// and returns the first.
func (s *Snapshot) oneHost(q string) (first *layer, host int32, n int) {
	var wbuf [4]string
	for _, w := range s.zones.written(q, wbuf[:0]) {
		for _, l := range s.layers {
			l.tab.probe(w, func(i uint32) bool {
				if r := l.tab.rec(i); r.host >= 0 && l.live(r.host) {
					if n == 0 {
						first, host = l, r.host
					}
					n++
				}
				return n < 2
			})
		}
	}
	return first, host, n
}

// hostEntry is the entry of a name one table host alone has, in one
// allocation.
type hostEntry struct {
	e    Entry
	host int32
	t    [1]Target
	raw  [16]byte
}

// entry is the entry of a name that host h of l alone has.
func (l *layer) entry(h int32) *Entry {
	slot := &l.cache[int(h)%len(l.cache)]
	if he := slot.Load(); he != nil && he.host == h {
		return &he.e
	}
	he := &hostEntry{host: h}
	defer slot.Store(he)
	ip := l.tab.Addr(h)
	he.e.prio = l.src.Priority
	if ip.Is4() {
		a := ip.As4()
		he.t[0] = Target{IP: ip, Raw: he.raw[:copy(he.raw[:], a[:])]}
		he.e.A = he.t[:1:1]
	} else {
		he.raw = ip.As16()
		he.t[0] = Target{IP: ip, Raw: he.raw[:]}
		he.e.AAAA = he.t[:1:1]
	}
	return &he.e
}

// entryCache is the most entries a table's layer keeps: about a megabyte.
const entryCache = 4096

// emptyEntry is the entry of a name that exists only above others' names.
var emptyEntry = &Entry{}

// owned reports whether some host owns e's name (or puts records there),
// rather than e being only a name above others.
func (e *Entry) owned() bool { return e.one != nil || (e.st != nil && len(e.st.owners) > 0) }

// merged is the entry at q across the snapshot's maps (e) and its layers.
// Priority works as within the maps: the hosts of the highest-priority
// sources that own q give its records, and an alias among them wins.
func (s *Snapshot) merged(q string, e *Entry) *Entry {
	var hitBuf [4]tableHit
	var hostBuf [8]int32
	hits, hosts := s.nameHits(q, hitBuf[:0], hostBuf[:0])
	if len(hits) == 0 {
		if e == nil && s.aboveHosts(q) {
			return emptyEntry
		}
		return e
	}
	mapsOwn := e != nil && e.owned()
	best := math.MinInt
	if mapsOwn {
		best = e.prio
	}
	for _, h := range hits {
		best = max(best, h.l.src.Priority)
	}
	if h := hits[0]; !mapsOwn && len(hits) == 1 && h.to-h.from == 1 {
		return h.l.entry(hosts[h.from]) // the common case
	}
	out := &Entry{prio: best}
	group := 0
	if mapsOwn && e.prio == best {
		if e.CNAME != "" {
			return e // an alias wins its name
		}
		out.A, out.AAAA = slices.Clip(e.A), slices.Clip(e.AAAA)
		out.SRV, out.TXT, out.Networked, out.Reached, out.Bound = e.SRV, e.TXT, e.Networked, e.Reached, e.Bound
		out.addTTLOf(e)
		for _, t := range slices.Concat(e.A, e.AAAA) {
			group = max(group, t.Group+1)
		}
	}
	var seen map[netip.Addr]struct{}
	have := func(ip netip.Addr) bool {
		list := out.AAAA
		if ip.Is4() {
			list = out.A
		}
		if seen == nil && len(list) < 16 {
			return slices.ContainsFunc(list, func(t Target) bool { return t.IP == ip })
		}
		if seen == nil {
			seen = map[netip.Addr]struct{}{}
			for _, t := range slices.Concat(out.A, out.AAAA) {
				seen[t.IP] = struct{}{}
			}
		}
		_, ok := seen[ip]
		return ok
	}
	for _, h := range hits {
		if h.l.src.Priority != best {
			continue
		}
		out.ttls |= ttlUnasked // table hosts (hosts files) ask no TTL
		for _, host := range hosts[h.from:h.to] {
			ip := h.l.tab.Addr(host)
			if have(ip) {
				continue
			}
			if seen != nil {
				seen[ip] = struct{}{}
			}
			t := Target{IP: ip, Raw: ip.AsSlice(), Group: group}
			group++
			if ip.Is4() {
				out.A = append(out.A, t)
			} else {
				out.AAAA = append(out.AAAA, t)
			}
		}
	}
	return out
}

// aboveReverse reports whether q is a name inside a served reverse zone
// above some table host's address (RFC 8020: it exists). The apex is not
// such a name, as addParents stops below it.
func (s *Snapshot) aboveReverse(q string) bool {
	if len(s.reverseZones) == 0 {
		return false
	}
	served := false
	for _, z := range s.reverseZones {
		served = served || (q != z && inZone(z, q))
	}
	if !served {
		return false
	}
	lo, hi, ok := reverseRange(q)
	if !ok {
		return false
	}
	for _, l := range s.layers {
		if l.liveIn(lo, hi) {
			return true
		}
	}
	return false
}

// liveIn reports whether a live host of l has an address from lo to hi.
func (l *layer) liveIn(lo, hi [2]uint64) bool {
	t := l.tab
	for i := t.addrFrom(lo); i < t.byAddr.len() && cmpAddrKey(t.addr(t.byAddrAt(i)), hi) <= 0; i++ {
		if l.live(t.byAddrAt(i)) {
			return true
		}
	}
	return false
}

// reverseRange is the range of addresses whose reverse names lie below q, a
// partial reverse name (fewer labels than an address has).
func reverseRange(q string) (lo, hi [2]uint64, ok bool) {
	var b [16]byte
	var labels []string
	bits, width := 0, 0
	switch {
	case strings.HasSuffix(q, ".in-addr.arpa."):
		labels = strings.Split(strings.TrimSuffix(q, ".in-addr.arpa."), ".")
		if len(labels) > 3 {
			return lo, hi, false
		}
		b[10], b[11] = 0xff, 0xff // IPv4, as tables keep it
		bits, width = 96, 8
	case strings.HasSuffix(q, ".ip6.arpa."):
		labels = strings.Split(strings.TrimSuffix(q, ".ip6.arpa."), ".")
		if len(labels) > 31 {
			return lo, hi, false
		}
		width = 4
	default:
		return lo, hi, false
	}
	for i := len(labels) - 1; i >= 0; i-- {
		v, err := parseLabel(labels[i], width)
		if err {
			return lo, hi, false
		}
		b[bits/8] |= byte(v << (8 - width - bits%8))
		bits += width
	}
	prefix := netip.PrefixFrom(netip.AddrFrom16(b), bits)
	lo = addrKey(prefix.Addr())
	hi = lo
	for i := bits; i < 128; i++ {
		hi[i/64] |= 1 << (63 - i%64)
	}
	return lo, hi, true
}

// parseLabel reads one label of a reverse name: a decimal octet (width 8) or
// a hex nibble (width 4). err is set for anything else.
func parseLabel(s string, width int) (v int, err bool) {
	if width == 4 {
		if len(s) != 1 {
			return 0, true
		}
		switch c := s[0]; {
		case '0' <= c && c <= '9':
			return int(c - '0'), false
		case 'a' <= c && c <= 'f':
			return int(c-'a') + 10, false
		}
		return 0, true
	}
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, true
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, true
		}
		v = 10*v + int(c-'0')
	}
	return v, v > 255
}

// addrHits returns the layers' live hosts with address a.
func (s *Snapshot) addrHits(a netip.Addr) []tableHit {
	var hits []tableHit
	for _, l := range s.layers {
		var hosts []int32
		for _, h := range l.tab.hostsWith(a, nil) {
			if l.live(h) {
				hosts = append(hosts, h)
			}
		}
		if len(hosts) > 0 {
			hits = append(hits, tableHit{l: l, hosts: hosts})
		}
	}
	return hits
}

// prio is the priority of the sources that win a, and how many of its
// owners (first in owners()) are theirs; ok is false when a has none.
func (a addrEntry) prio() (best, n int, ok bool) {
	switch {
	case a.st != nil && len(a.st.owners) > 0:
		won := winners(a.st.owners)
		return won[0].src.Priority, len(won), true
	case a.one != nil:
		return a.one.src.Priority, 1, true
	}
	return 0, 0, false
}

// reverse is Reverse across the maps' record r and the layers.
func (s *Snapshot) reverse(a netip.Addr, r addrEntry) []string {
	hits := s.addrHits(a)
	if len(hits) == 0 {
		return r.names()
	}
	mapsBest, _, mapsOwn := r.prio()
	best, have := mapsBest, mapsOwn
	for _, h := range hits {
		if !have || h.l.src.Priority > best {
			best, have = h.l.src.Priority, true
		}
	}
	var out []string
	if mapsOwn && mapsBest == best {
		out = slices.Clip(r.names())
	}
	for _, h := range hits {
		if h.l.src.Priority != best {
			continue
		}
		for _, host := range h.hosts {
			h.l.tab.HostNames(host, func(n []byte) {
				// PTR names are under the first zone, as the maps' place gives them.
				if q := s.zones.qualify(string(n))[0]; !slices.Contains(out, q) {
					out = append(out, q)
				}
			})
		}
	}
	return out
}

// owners is Owners across the maps' record r and the layers: the hosts of
// the winning sources first.
func (s *Snapshot) owners(a netip.Addr, r addrEntry) []Owner {
	hits := s.addrHits(a)
	if len(hits) == 0 {
		return r.owners()
	}
	type ranked struct {
		prio  int
		owner Owner
	}
	var all []ranked
	best, n, _ := r.prio()
	for i, o := range r.owners() {
		p := math.MinInt // the maps' hidden owners: below every winner
		if i < n {
			p = best
		}
		all = append(all, ranked{p, o})
	}
	for _, h := range hits {
		for _, host := range h.hosts {
			var first string
			h.l.tab.HostNames(host, func(n []byte) {
				if first == "" {
					first = string(n)
				}
			})
			all = append(all, ranked{h.l.src.Priority, Owner{Source: h.l.src.ID(), Name: first}})
		}
	}
	slices.SortStableFunc(all, func(a, b ranked) int {
		switch {
		case a.prio > b.prio:
			return -1
		case a.prio < b.prio:
			return 1
		}
		return 0
	})
	out := make([]Owner, len(all))
	for i, o := range all {
		out[i] = o.owner
	}
	return out
}

// eachLayerName calls fn for every name the layers add to the maps' names,
// each once, with its merged entry, until fn returns false.
func (s *Snapshot) eachLayerName(fn func(name string, e *Entry) bool) bool {
	for i, l := range s.layers {
		t := l.tab
		for slot := range t.slots.len() {
			v := t.slots.at(slot)
			if v == 0 {
				continue
			}
			r := t.rec(v - 1)
			name := string(t.name(r))
			if !s.firstSlot(t, name, slot) {
				continue // a name is walked at its first rec
			}
			var owners []string
			switch {
			case r.host >= 0 && l.has(name):
				owners = s.zones.qualify(name)
			case r.host < 0 && l.above(name) && !s.holds(l, name):
				owners = []string{name} // a name above others, walked here unless a host has it
			}
			for _, q := range owners {
				if _, ok := s.names.get(q); ok || s.heldBefore(i, q) || (r.host >= 0 && !s.writtenFirst(l, q, name)) {
					continue
				}
				if e := s.Lookup(q); e != nil && !fn(q, e) {
					return false
				}
			}
		}
	}
	return true
}

// holds reports whether a live host of l has the owner name q.
func (s *Snapshot) holds(l *layer, q string) bool {
	var wbuf [4]string
	for _, w := range s.zones.written(q, wbuf[:0]) {
		if l.has(w) {
			return true
		}
	}
	return false
}

// firstSlot reports whether slot is where probing for w meets it first.
func (s *Snapshot) firstSlot(t *Table, w string, slot int) bool {
	first := -1
	t.probe(w, func(i uint32) bool {
		first = int(i)
		return false
	})
	return first >= 0 && t.slots.at(slot) == uint32(first)+1
}

// heldBefore reports whether a layer before the i-th has q.
func (s *Snapshot) heldBefore(i int, q string) bool {
	for _, l := range s.layers[:i] {
		if s.holds(l, q) || l.above(q) {
			return true
		}
	}
	return false
}

// writtenFirst reports whether w is the first name l has that qualifies to
// q: two written names ("web" and "web.docker") can give one owner name.
func (s *Snapshot) writtenFirst(l *layer, q, w string) bool {
	var wbuf [4]string
	for _, c := range s.zones.written(q, wbuf[:0]) {
		if l.has(c) {
			return c == w
		}
	}
	return false
}

// eachLayerReverse calls fn for every name of a served reverse zone above
// the layers' live addresses that neither the maps nor the layers' names
// hold (those are walked with them), each once, until fn returns false.
func (s *Snapshot) eachLayerReverse(fn func(name string, e *Entry) bool) bool {
	if len(s.reverseZones) == 0 {
		return true
	}
	for i, l := range s.layers {
		t := l.tab
		var last [2]uint64 // the live address before, in address order
		had := false
		for j := range t.byAddr.len() {
			h := t.byAddrAt(j)
			if !l.live(h) || (had && t.addr(h) == last) {
				continue
			}
			prev, hadPrev := last, had
			last, had = t.addr(h), true
			rev, err := dns.ReverseAddr(t.Addr(h).String())
			if err != nil {
				continue
			}
			// The names below the outermost served zone holding rev are
			// those addParents gives in each zone holding it.
			apex := ""
			for _, z := range s.reverseZones {
				if inZone(z, rev) && (apex == "" || len(z) < len(apex)) {
					apex = z
				}
			}
			if apex == "" {
				continue
			}
			var above nameSet
			addParents(&above, rev, apex)
			for _, q := range above.list {
				lo, hi, ok := reverseRange(q)
				// A name is walked at the first live address below it.
				if !ok || (hadPrev && cmpAddrKey(prev, lo) >= 0) {
					continue
				}
				if _, ok := s.names.get(q); ok || slices.ContainsFunc(s.layers[:i], func(b *layer) bool { return b.liveIn(lo, hi) }) {
					continue
				}
				if _, _, n := s.oneHost(q); n > 0 || slices.ContainsFunc(s.layers, func(l *layer) bool { return l.above(q) }) {
					continue
				}
				if e := s.Lookup(q); e != nil && !fn(q, e) {
					return false
				}
			}
		}
	}
	return true
}

// eachLayerAddr calls fn for every address the layers add to the maps'
// addresses, each once, with its merged PTR names, until fn returns false.
func (s *Snapshot) eachLayerAddr(fn func(a netip.Addr, names []string) bool) bool {
	for i, l := range s.layers {
		t := l.tab
		for j := range t.byAddr.len() {
			h := t.byAddrAt(j)
			if !l.live(h) || (j > 0 && t.addr(t.byAddrAt(j-1)) == t.addr(h) && s.liveBefore(l, j)) {
				continue
			}
			a := t.Addr(h)
			if _, ok := s.addrs.get(a); ok || s.addrBefore(i, a) {
				continue
			}
			if names := s.Reverse(a); len(names) > 0 && !fn(a, names) {
				return false
			}
		}
	}
	return true
}

// liveBefore reports whether a live host with the address of byAddr[j] comes
// before j.
func (s *Snapshot) liveBefore(l *layer, j int) bool {
	t := l.tab
	k := t.addr(t.byAddrAt(j))
	for j--; j >= 0 && t.addr(t.byAddrAt(j)) == k; j-- {
		if l.live(t.byAddrAt(j)) {
			return true
		}
	}
	return false
}

func (s *Snapshot) addrBefore(i int, a netip.Addr) bool {
	for _, l := range s.layers[:i] {
		for _, h := range l.tab.hostsWith(a, nil) {
			if l.live(h) {
				return true
			}
		}
	}
	return false
}

// Tabler is a Sink that also takes its hosts as a Table: a source with
// many plain hosts (a large hosts file) hands them over in bulk, then
// changes them by patches.
type Tabler interface {
	Sink
	// NewTableBuilder starts a table for this index (its zones decide
	// which names lie above a host's).
	NewTableBuilder() *TableBuilder
	// SetTable makes t the source's complete view (nil for none): the
	// hosts it had go.
	SetTable(t *Table)
	// Patch removes the table's hosts in kill, brings back those in
	// revive, removes the hosts with the IDs in remove and adds (or
	// replaces) those in add, in one snapshot.
	Patch(kill, revive []int32, remove []string, add []Host)
}

func (b boundSink) NewTableBuilder() *TableBuilder {
	return b.x.NewTableBuilder()
}
func (b boundSink) SetTable(t *Table) { b.x.SetTable(b.src, t) }
func (b boundSink) Patch(kill, revive []int32, remove []string, add []Host) {
	b.x.Patch(b.src, kill, revive, remove, add)
}

// SetTable makes tab the complete view of src: its hosts and any table it
// had before go, in the same snapshot as tab comes.
func (x *Index) SetTable(src Source, tab *Table) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	for id := range x.hosts[src.ID()] {
		x.remove(t, src.ID(), id)
		t.pace.Tick()
	}
	x.setLayer(t, src, func(*layer) *layer {
		if tab == nil || tab.Hosts() == 0 {
			return nil
		}
		return &layer{src: x.source(src), tab: tab, cache: make([]atomic.Pointer[hostEntry], min(tab.Hosts(), entryCache))}
	})
	x.commit(t)
	x.wrote(src)
}

// Patch changes src's table and hosts in one snapshot, so a reader sees
// all of the change or none of it: the table's hosts in kill go and those
// in revive come back, the hosts with the IDs in remove go, and those in
// add come (or replace the hosts with their IDs). With no kill or revive it
// is how any source that knows what changed touches only that.
func (x *Index) Patch(src Source, kill, revive []int32, remove []string, add []Host) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.begin()
	if len(kill)+len(revive) > 0 {
		x.setLayer(t, src, func(old *layer) *layer {
			if old == nil {
				return nil
			}
			l := *old
			l.dead = slices.Clone(old.dead) // the chunks' pointers; set copies the chunks it touches
			fresh := map[int]bool{}
			l.entDead = make(map[uint32]int32, len(old.entDead))
			for k, v := range old.entDead {
				l.entDead[k] = v
			}
			var ents []uint32
			for _, h := range kill {
				if h >= 0 && int(h) < l.tab.Hosts() && l.live(h) {
					l.dead = l.dead.set(h, l.tab.Hosts(), true, fresh)
					l.ndead++
					for _, e := range l.entsAbove(h, ents[:0]) {
						l.entDead[e]++
					}
				}
			}
			for _, h := range revive {
				if h >= 0 && int(h) < l.tab.Hosts() && !l.live(h) {
					l.dead = l.dead.set(h, l.tab.Hosts(), false, fresh)
					l.ndead--
					for _, e := range l.entsAbove(h, ents[:0]) {
						if l.entDead[e]--; l.entDead[e] == 0 {
							delete(l.entDead, e)
						}
					}
				}
			}
			return &l
		})
	}
	for _, id := range remove {
		x.remove(t, src.ID(), id)
		t.pace.Tick()
	}
	for _, h := range add {
		x.put(t, src, h)
		t.pace.Tick()
	}
	x.commit(t)
	x.wrote(src)
}

// setLayer replaces src's layer in t with what change makes of it (nil for
// none).
func (x *Index) setLayer(t *txn, src Source, change func(old *layer) *layer) {
	var old *layer
	var rest []*layer
	for _, l := range t.layers {
		if l.src.Source == src {
			old = l
		} else {
			rest = append(rest, l)
		}
	}
	l := change(old)
	if l == nil && old == nil {
		return
	}
	if l != nil {
		rest = append(rest, l)
		slices.SortFunc(rest, func(a, b *layer) int { return a.src.ID().compare(b.src.ID()) })
	}
	t.layers, t.changed = rest, true
}

// tableCount is how many live table hosts src has.
func (x *Index) tableCount(source SourceID) int {
	for _, l := range x.snap.Load().layers {
		if l.src.ID() == source {
			return l.tab.Hosts() - l.ndead
		}
	}
	return 0
}
