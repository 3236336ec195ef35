package index

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
	"sort"
)

// Table is a compact, immutable set of plain hosts, each an address and
// names: what a hosts file holds. It is the bulk form of a source's hosts
// (a million names in a few flat, pointer-free arrays the garbage collector
// never walks), read beside the snapshot's maps rather than merged into them.
//
// A table knows no zones: names are kept as the source wrote them (lowercase,
// no trailing dot, relative or already inside a zone) and qualified when a
// query reads them, by the same rule the index applies to a Host's names.
//
// Its arrays are kept in blocks (see blocks), so that building one never
// holds the CPU for the zeroing of megabytes.
type Table struct {
	arena arena            // the names' bytes
	recs  blocks[tableRec] // each host's names, host by host, then the empty non-terminals
	// hostFirst[i] is where host i's names start in recs; one past the
	// last host it is where the empty non-terminals start.
	hostFirst blocks[uint32]
	addrs     blocks[[2]uint64] // each host's address, its 16-byte form in big-endian halves
	byAddr    blocks[uint32]    // hosts in address order, for PTR
	slots     blocks[uint32]    // open addressing over recs by name: index+1, 0 for empty
	zones     zoned             // of the index it was built for
}

// tableRec is one name in a table: one of a host's names, as written, or an
// empty non-terminal (a name above some host's qualified name, below its
// zone's apex, as a lowercase FQDN) when host is negative: then -host is the
// number of hosts with a name below it.
type tableRec struct {
	off  uint32
	host int32
	n    uint8
}

func (t *Table) name(r tableRec) []byte { return t.arena.name(r.off, r.n) }

func (t *Table) rec(i uint32) tableRec { return t.recs.at(int(i)) }

func (t *Table) addr(h int32) [2]uint64 { return t.addrs.at(int(h)) }

// hostRecs is where host h's recs start and end.
func (t *Table) hostRecs(h int32) (from, to int) {
	return int(t.hostFirst.at(int(h))), int(t.hostFirst.at(int(h) + 1))
}

// byAddrAt is the host at place i in address order.
func (t *Table) byAddrAt(i int) int32 { return int32(t.byAddr.at(i)) }

// Hosts is the number of hosts in t.
func (t *Table) Hosts() int { return t.hostFirst.len() - 1 }

// Addr returns host i's address.
func (t *Table) Addr(i int32) netip.Addr {
	var b [16]byte
	k := t.addr(i)
	binary.BigEndian.PutUint64(b[:8], k[0])
	binary.BigEndian.PutUint64(b[8:], k[1])
	return netip.AddrFrom16(b).Unmap()
}

// HostNames calls fn with each name of host i, in order.
func (t *Table) HostNames(i int32, fn func(name []byte)) {
	from, to := t.hostRecs(i)
	for r := from; r < to; r++ {
		fn(t.name(t.recs.at(r)))
	}
}

func addrKey(ip netip.Addr) [2]uint64 {
	b := ip.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func cmpAddrKey(a, b [2]uint64) int {
	switch {
	case a[0] != b[0]:
		if a[0] < b[0] {
			return -1
		}
		return 1
	case a[1] < b[1]:
		return -1
	case a[1] > b[1]:
		return 1
	}
	return 0
}

// probe calls fn with the index of every rec named s, until fn returns
// false.
func (t *Table) probe(s string, fn func(i uint32) bool) {
	if t.slots.len() == 0 {
		return
	}
	mask := uint32(t.slots.len() - 1)
	for at := uint32(maphash.String(seed, s)) & mask; ; at = (at + 1) & mask {
		v := t.slots.at(int(at))
		if v == 0 {
			return
		}
		if r := t.rec(v - 1); int(r.n) == len(s) && string(t.name(r)) == s {
			if !fn(v - 1) {
				return
			}
		}
	}
}

// addrFrom is the position in byAddr of the first host whose address is k
// or after it.
func (t *Table) addrFrom(k [2]uint64) int {
	return sort.Search(t.byAddr.len(), func(i int) bool { return cmpAddrKey(t.addr(t.byAddrAt(i)), k) >= 0 })
}

// hostsWith returns the hosts whose address is ip, in host order.
func (t *Table) hostsWith(ip netip.Addr, out []int32) []int32 {
	k := addrKey(ip)
	for i := t.addrFrom(k); i < t.byAddr.len() && t.addr(t.byAddrAt(i)) == k; i++ {
		out = append(out, t.byAddrAt(i))
	}
	slices.Sort(out)
	return out
}

// TableBuilder makes a Table, one host at a time.
type TableBuilder struct {
	t        Table
	ents     []tableRec       // the empty non-terminals, counting the hosts below each
	entIndex map[string]int32 // an empty non-terminal's name -> its place in ents
	hostEnts []int32          // the current host's, to count it once in each
	scratch  []byte
	pace     Pacer
}

// NewTableBuilder returns a builder of a table for x.
func (x *Index) NewTableBuilder() *TableBuilder {
	b := &TableBuilder{entIndex: map[string]int32{}}
	b.t.zones = zoned(x.zones)
	return b
}

// slotsFor is the slot count for n recs: a power of two, at most 3/4 full.
func slotsFor(n int) int {
	size := 64
	for 3*size < 4*n {
		size *= 2
	}
	return size
}

// MaxTableName is the longest name a table holds; a Host's names are never
// longer (a DNS name is at most 253 bytes).
const MaxTableName = 255

// Add adds a host with address ip and names (lowercase, without a trailing
// dot, each once, none longer than MaxTableName) and returns its index.
func (b *TableBuilder) Add(ip netip.Addr, names [][]byte) int32 {
	t, pace := &b.t, &b.pace
	host := int32(t.addrs.len())
	t.addrs.push(addrKey(ip), pace)
	t.hostFirst.push(uint32(t.recs.len()), pace)
	b.hostEnts = b.hostEnts[:0]
	for _, n := range names {
		t.recs.push(tableRec{off: t.arena.add(n, pace), host: host, n: uint8(len(n))}, pace)
		// The names above it exist too: count the host once in each.
		b.scratch = t.zones.eachEnt(n, b.scratch, func(parent []byte) {
			e, ok := b.entIndex[string(parent)]
			if !ok {
				e = int32(len(b.ents))
				b.entIndex[string(parent)] = e
				b.ents = append(b.ents, tableRec{off: t.arena.add(parent, pace), n: uint8(len(parent))})
			}
			if !slices.Contains(b.hostEnts, e) {
				b.hostEnts = append(b.hostEnts, e)
				b.ents[e].host--
			}
		})
	}
	return host
}

// Done returns the table. The builder must not be used after. Its sorts
// are radix sorts that yield the CPU as they go (a Pacer): a table of a
// million names is built beside queries on one core.
func (b *TableBuilder) Done() *Table {
	t := &b.t
	pace := &b.pace
	t.hostFirst.push(uint32(t.recs.len()), pace)
	for _, e := range b.ents {
		t.recs.push(e, pace)
	}
	// Fill the slots in the order of their positions: the writes then walk
	// the array once instead of missing the cache on every name.
	n := t.recs.len()
	t.slots = makeBlocks[uint32](slotsFor(n), pace)
	mask := uint32(t.slots.len() - 1)
	at := makeBlocks[uint32](n, pace) // each rec's slot position
	t.recs.each(func(i int, r tableRec) {
		*at.ref(i) = uint32(maphash.Bytes(seed, t.name(r))) & mask
		pace.Tick()
	})
	order := radixSort(n, 2, func(i uint32, pass int) uint16 { return uint16(at.at(int(i)) >> (16 * pass)) }, pace)
	order.each(func(_ int, i uint32) {
		pos := at.at(int(i))
		for t.slots.at(int(pos)) != 0 {
			pos = (pos + 1) & mask
		}
		*t.slots.ref(int(pos)) = i + 1
		pace.Tick()
	})
	// Hosts by address, least significant 16 bits first; a stable sort
	// keeps a shared address's hosts in host order.
	t.byAddr = radixSort(t.addrs.len(), 8, func(h uint32, pass int) uint16 {
		return uint16(t.addrs.at(int(h))[1-pass/4] >> (16 * (pass % 4)))
	}, pace)
	out := *t
	*b = TableBuilder{}
	return &out
}

// radixSort returns 0..n-1 ordered by the digits digit gives, least
// significant (pass 0) first, stable. A pass in which every item has the
// same digit is skipped: IPv4 addresses share their upper 96 bits.
func radixSort(n, passes int, digit func(item uint32, pass int) uint16, pace *Pacer) blocks[uint32] {
	items, tmp := makeBlocks[uint32](n, pace), makeBlocks[uint32](n, pace)
	items.each(func(i int, _ uint32) {
		*items.ref(i) = uint32(i) // the first touch of fresh pages: 4 ms for 4 MB here
		pace.Tick()
	})
	count := make([]int, 1<<16)
	for pass := range passes {
		clear(count)
		items.each(func(_ int, it uint32) {
			count[digit(it, pass)]++
			pace.Tick()
		})
		if n == 0 || count[digit(items.at(0), pass)] == n {
			continue
		}
		sum := 0
		for d, c := range count {
			count[d], sum = sum, sum+c
		}
		items.each(func(_ int, it uint32) {
			d := digit(it, pass)
			*tmp.ref(count[d]) = it
			count[d]++
			pace.Tick()
		})
		items, tmp = tmp, items
	}
	return items
}

// Find calls fn with each host of t whose address is ip and whose names are
// names, in order.
func (t *Table) Find(ip netip.Addr, names []string, fn func(h int32)) {
	if len(names) == 0 || t.Hosts() == 0 {
		return
	}
	k := addrKey(ip)
	t.probe(names[0], func(i uint32) bool {
		h := t.rec(i).host
		if h < 0 || t.addr(h) != k {
			return true
		}
		from, to := t.hostRecs(h)
		if to-from != len(names) {
			return true
		}
		for j := range names {
			if string(t.name(t.recs.at(from+j))) != names[j] {
				return true
			}
		}
		fn(h)
		return true
	})
}
