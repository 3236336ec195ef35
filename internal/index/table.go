package index

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
)

// Table is a compact, immutable set of plain hosts, each an address and
// names: what a hosts file holds. It is the bulk form of a source's hosts
// (a million names in a few flat, pointer-free arrays the garbage collector
// never walks), read beside the snapshot's maps rather than merged into them.
//
// A table knows no zones: names are kept as the source wrote them (lowercase,
// no trailing dot, relative or already inside a zone) and qualified when a
// query reads them, by the same rule the index applies to a Host's names.
type Table struct {
	arena []byte     // the names' bytes
	recs  []tableRec // each host's names, host by host, then the empty non-terminals
	// hostFirst[i] is where host i's names start in recs; one past the
	// last host it is where the empty non-terminals start.
	hostFirst []uint32
	addrs     [][2]uint64 // each host's address, its 16-byte form in big-endian halves
	byAddr    []uint32    // hosts in address order, for PTR
	slots     []uint32    // open addressing over recs by name: index+1, 0 for empty
	zones     zoned       // of the index it was built for
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

func (t *Table) name(r tableRec) []byte { return t.arena[r.off : r.off+uint32(r.n)] }

// Hosts is the number of hosts in t.
func (t *Table) Hosts() int { return len(t.hostFirst) - 1 }

// Addr returns host i's address.
func (t *Table) Addr(i int32) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], t.addrs[i][0])
	binary.BigEndian.PutUint64(b[8:], t.addrs[i][1])
	return netip.AddrFrom16(b).Unmap()
}

// HostNames calls fn with each name of host i, in order.
func (t *Table) HostNames(i int32, fn func(name []byte)) {
	for _, r := range t.recs[t.hostFirst[i]:t.hostFirst[i+1]] {
		fn(t.name(r))
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
	if len(t.slots) == 0 {
		return
	}
	mask := uint32(len(t.slots) - 1)
	for at := uint32(maphash.String(seed, s)) & mask; ; at = (at + 1) & mask {
		v := t.slots[at]
		if v == 0 {
			return
		}
		if r := t.recs[v-1]; int(r.n) == len(s) && string(t.name(r)) == s {
			if !fn(v - 1) {
				return
			}
		}
	}
}

// addrFrom is the position in byAddr of the first host whose address is k
// or after it.
func (t *Table) addrFrom(k [2]uint64) int {
	i, _ := slices.BinarySearchFunc(t.byAddr, k, func(h uint32, k [2]uint64) int { return cmpAddrKey(t.addrs[h], k) })
	return i
}

// hostsWith returns the hosts whose address is ip, in host order.
func (t *Table) hostsWith(ip netip.Addr, out []int32) []int32 {
	k := addrKey(ip)
	for i := t.addrFrom(k); i < len(t.byAddr) && t.addrs[t.byAddr[i]] == k; i++ {
		out = append(out, int32(t.byAddr[i]))
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

// NewTableBuilder returns a builder of a table for x, with room for about
// hosts hosts, names names and nameBytes bytes of them.
func (x *Index) NewTableBuilder(hosts, names, nameBytes int) *TableBuilder {
	b := &TableBuilder{entIndex: map[string]int32{}}
	b.t.zones = zoned(x.zones)
	// Each allocation is zeroed at once, megabytes the scheduler cannot
	// interrupt: yield between them.
	b.t.arena = make([]byte, 0, nameBytes)
	b.pace.Yield()
	b.t.recs = make([]tableRec, 0, names)
	b.pace.Yield()
	b.t.hostFirst = make([]uint32, 0, hosts+1)
	b.t.addrs = make([][2]uint64, 0, hosts)
	b.pace.Yield()
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
	t := &b.t
	host := int32(len(t.addrs))
	t.addrs = append(t.addrs, addrKey(ip))
	t.hostFirst = append(t.hostFirst, uint32(len(t.recs)))
	b.hostEnts = b.hostEnts[:0]
	for _, n := range names {
		off := uint32(len(t.arena))
		t.arena = append(t.arena, n...)
		t.recs = append(t.recs, tableRec{off: off, host: host, n: uint8(len(n))})
		// The names above it exist too: count the host once in each.
		b.scratch = t.zones.eachEnt(n, b.scratch, func(parent []byte) {
			e, ok := b.entIndex[string(parent)]
			if !ok {
				e = int32(len(b.ents))
				b.entIndex[string(parent)] = e
				b.ents = append(b.ents, tableRec{off: uint32(len(t.arena)), n: uint8(len(parent))})
				t.arena = append(t.arena, parent...)
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
	t.hostFirst = append(t.hostFirst, uint32(len(t.recs)))
	t.recs = append(t.recs, b.ents...)
	// Fill the slots in the order of their positions: the writes then walk
	// the array once instead of missing the cache on every name.
	t.slots = make([]uint32, slotsFor(len(t.recs)))
	pace.Yield()
	mask := uint32(len(t.slots) - 1)
	at := make([]uint32, len(t.recs)) // each rec's slot position
	pace.Yield()
	for i, r := range t.recs {
		at[i] = uint32(maphash.Bytes(seed, t.name(r))) & mask
		pace.Tick()
	}
	for _, i := range radixSort(len(t.recs), 2, func(i uint32, pass int) uint16 { return uint16(at[i] >> (16 * pass)) }, pace) {
		pos := at[i]
		for t.slots[pos] != 0 {
			pos = (pos + 1) & mask
		}
		t.slots[pos] = i + 1
		pace.Tick()
	}
	// Hosts by address, least significant 16 bits first; a stable sort
	// keeps a shared address's hosts in host order.
	t.byAddr = radixSort(len(t.addrs), 8, func(h uint32, pass int) uint16 {
		return uint16(t.addrs[h][1-pass/4] >> (16 * (pass % 4)))
	}, pace)
	// The hints are upper bounds: give back what they overshot.
	t.arena, t.addrs, t.recs = exact(t.arena, pace), exact(t.addrs, pace), exact(t.recs, pace)
	out := *t
	*b = TableBuilder{}
	return &out
}

// radixSort returns 0..n-1 ordered by the digits digit gives, least
// significant (pass 0) first, stable. A pass in which every item has the
// same digit is skipped: IPv4 addresses share their upper 96 bits.
func radixSort(n, passes int, digit func(item uint32, pass int) uint16, pace *Pacer) []uint32 {
	items, tmp := make([]uint32, n), make([]uint32, n)
	pace.Yield()
	for i := range items {
		items[i] = uint32(i)
	}
	count := make([]int, 1<<16)
	for pass := range passes {
		clear(count)
		for _, it := range items {
			count[digit(it, pass)]++
			pace.Tick()
		}
		if n == 0 || count[digit(items[0], pass)] == n {
			continue
		}
		sum := 0
		for d, c := range count {
			count[d], sum = sum, sum+c
		}
		for _, it := range items {
			d := digit(it, pass)
			tmp[count[d]] = it
			count[d]++
			pace.Tick()
		}
		items, tmp = tmp, items
	}
	return items
}

// exact returns s in an array of its length, when it holds much more. It
// copies a block at a time, yielding between blocks: a copy of megabytes
// is one non-preemptible memmove otherwise.
func exact[T any](s []T, pace *Pacer) []T {
	if cap(s) <= len(s)+len(s)/16 {
		return s
	}
	out := make([]T, len(s))
	pace.Yield()
	const block = 64 << 10
	for i := 0; i < len(s); i += block {
		copy(out[i:], s[i:min(i+block, len(s))])
		pace.Block()
	}
	return out
}

// Find calls fn with each host of t whose address is ip and whose names are
// names, in order.
func (t *Table) Find(ip netip.Addr, names []string, fn func(h int32)) {
	if len(names) == 0 || t.Hosts() == 0 {
		return
	}
	k := addrKey(ip)
	t.probe(names[0], func(i uint32) bool {
		h := t.recs[i].host
		if h < 0 || t.addrs[h] != k || int(t.hostFirst[h+1]-t.hostFirst[h]) != len(names) {
			return true
		}
		for j, r := range t.recs[t.hostFirst[h]:t.hostFirst[h+1]] {
			if string(t.name(r)) != names[j] {
				return true
			}
		}
		fn(h)
		return true
	})
}
