package index

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// The tests here hold a Table to what the same hosts give as Hosts: index A
// gets every plain host through Patch without a table, index B gets the
// table's through SetTable (and Patch), and every query must answer alike.

// picker makes the choices that build a case: from a seeded PRNG in the
// differential tests, from the input bytes in FuzzTable.
type picker interface{ intn(n int) int }

type randPicker struct{ r *rand.Rand }

func (p randPicker) intn(n int) int { return p.r.IntN(n) }

type bytePicker struct{ b []byte }

func (p *bytePicker) intn(n int) int {
	if len(p.b) == 0 {
		return 0
	}
	v := int(p.b[0])
	p.b = p.b[1:]
	return v % n
}

// plainHost is a hosts-file line: one address and its names, each once.
type plainHost struct {
	ip    netip.Addr
	names []string
}

func (h plainHost) host(id string) Host {
	return Host{ID: id, Names: h.names, ReverseNames: h.names, Addrs: []Addr{{IP: h.ip}}}
}

// tableID is the ID a table's host i has in index A: in host order, so that
// winners sorts A's hosts as the table orders them.
func tableID(i int) string { return fmt.Sprintf("t%05d", i) }

var (
	// Labels that make names relative, dotted, already inside a zone
	// ("x.docker", "a.lab.docker") or the apex itself ("docker").
	tableLabels = []string{"a", "b", "web", "svc", "x", "lab", "docker", "db-1", "_s", "home", "arpa", "nas"}
	tableAddrs  = []netip.Addr{
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.1.2.3"),
		netip.MustParseAddr("10.1.2.4"), netip.MustParseAddr("10.200.0.1"), netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00:1::1"),
		netip.MustParseAddr("2001:db8::1"),
	}
	// Zone sets, with zones whose parent is no zone ("home.arpa." alone,
	// "a.b.docker." beside "docker."): nothing above an in-zone name
	// ("nas.home.arpa") exists past its zone.
	tableZones = [][]string{
		{"home.arpa."},
		{"a.b.docker.", "docker."},
		{"docker."},
		{"lab.docker.", "docker."},
		{"."},
		nil,
		{"docker.", "10.in-addr.arpa."},
		{"docker.", "1.10.in-addr.arpa.", "d.f.ip6.arpa."},
	}
)

func genName(p picker) string {
	labels := make([]string, 1+p.intn(3))
	for i := range labels {
		labels[i] = tableLabels[p.intn(len(tableLabels))]
	}
	return strings.Join(labels, ".")
}

func genAddr(p picker) netip.Addr {
	switch p.intn(4) {
	case 0:
		return netip.AddrFrom4([4]byte{10, byte(p.intn(2)), byte(p.intn(3)), byte(1 + p.intn(4))})
	case 1:
		return netip.AddrFrom16([16]byte{0xfd, 0, 15: byte(1 + p.intn(3))})
	}
	return tableAddrs[p.intn(len(tableAddrs))]
}

func genHosts(p picker, n int) []plainHost {
	out := make([]plainHost, 0, n)
	for range n {
		h := plainHost{ip: genAddr(p)}
		for range 1 + p.intn(3) {
			if name := genName(p); !slices.Contains(h.names, name) {
				h.names = append(h.names, name)
			}
		}
		out = append(out, h)
	}
	return out
}

func buildTable(x *Index, hosts []plainHost) *Table {
	b := x.NewTableBuilder()
	for i, h := range hosts {
		names := make([][]byte, len(h.names))
		for j, n := range h.names {
			names[j] = []byte(n)
		}
		if got := b.Add(h.ip, names); got != int32(i) {
			panic(fmt.Sprintf("Add returned %d for host %d", got, i))
		}
	}
	return b.Done()
}

// tableSrc is a source whose plain hosts index B holds as a table.
type tableSrc struct {
	src   Source
	hosts []plainHost
	dead  []bool
}

// mapSrc is a source both indexes hold as Hosts.
type mapSrc struct {
	src   Source
	hosts []Host
}

// tablePair is index A (every host a Host) and index B (the tables as
// tables) kept in step.
type tablePair struct {
	zones []string
	a, b  *Index
	tabs  []*tableSrc
	maps  []mapSrc
	order order
}

// order says how far B must list PTR names and owners in A's order (sources
// by name, hosts by ID; table hosts have IDs in table order). B lists what
// the maps give before what its tables give, and the hosts of sources that
// lose an address by priority, rather than by name.
type order struct {
	// exact is set when B's order must be A's: one table and nothing else.
	exact bool
	// mapsLast is set when some Hosts of a table's priority sort after the
	// table's hosts in A: then the first PTR name may differ.
	mapsLast bool
	// prio is each source's priority: in both, the owners from the winning
	// sources come first.
	prio map[SourceID]int
}

func newTablePair(zones []string, tabs []*tableSrc, maps []mapSrc) *tablePair {
	p := &tablePair{zones: zones, a: New(zones), b: New(zones), tabs: tabs, maps: maps}
	p.order = order{exact: len(tabs) == 1 && len(maps) == 0, prio: map[SourceID]int{}}
	for _, ts := range tabs {
		p.order.prio[ts.src.ID()] = ts.src.Priority
		for _, ms := range maps {
			p.order.mapsLast = p.order.mapsLast || (ms.src.Priority == ts.src.Priority && ms.src.Name > ts.src.Name)
		}
	}
	for _, ms := range maps {
		p.order.prio[ms.src.ID()] = ms.src.Priority
	}
	for _, ts := range tabs {
		hosts := make([]Host, len(ts.hosts))
		for i, h := range ts.hosts {
			hosts[i] = h.host(tableID(i))
		}
		ts.dead = make([]bool, len(ts.hosts))
		p.a.Patch(ts.src, nil, nil, nil, hosts)
		p.b.SetTable(ts.src, buildTable(p.b, ts.hosts))
	}
	for _, ms := range maps {
		p.a.Patch(ms.src, nil, nil, nil, ms.hosts)
		p.b.Patch(ms.src, nil, nil, nil, ms.hosts)
	}
	return p
}

// kill removes table hosts: from B's table by Patch, from A as Hosts.
func (p *tablePair) kill(i int, hosts []int32) {
	ts := p.tabs[i]
	var ids []string
	for _, h := range hosts {
		ids = append(ids, tableID(int(h)))
		ts.dead[h] = true
	}
	p.a.Patch(ts.src, nil, nil, ids, nil)
	p.b.Patch(ts.src, hosts, nil, nil, nil)
}

// revive brings table hosts back.
func (p *tablePair) revive(i int, hosts []int32) {
	ts := p.tabs[i]
	var add []Host
	for _, h := range hosts {
		if ts.dead[h] {
			add = append(add, ts.hosts[h].host(tableID(int(h))))
		}
		ts.dead[h] = false
	}
	p.a.Patch(ts.src, nil, nil, nil, add)
	p.b.Patch(ts.src, nil, hosts, nil, nil)
}

// reload makes the live hosts of a table's source its whole view: in B a
// new table, in A those hosts (renumbered) alone.
func (p *tablePair) reload(i int) {
	ts := p.tabs[i]
	var live []plainHost
	var hosts []Host
	for h, ph := range ts.hosts {
		if !ts.dead[h] {
			hosts = append(hosts, ph.host(tableID(len(live))))
			live = append(live, ph)
		}
	}
	ts.hosts, ts.dead = live, make([]bool, len(live))
	p.a.Replace(ts.src, hosts)
	p.b.SetTable(ts.src, buildTable(p.b, live))
}

// patchHosts removes and adds Hosts of a table's source beside its table.
func (p *tablePair) patchHosts(i int, remove []string, add []Host) {
	src := p.tabs[i].src
	// IDs that sort before the table's: A lists them first, as B does, but
	// after the hosts of a table whose source sorts before src.
	p.order.exact = false
	for _, ts := range p.tabs {
		p.order.mapsLast = p.order.mapsLast || (ts.src.Priority == src.Priority && ts.src.Name < src.Name)
	}
	p.a.Patch(src, nil, nil, remove, add)
	p.b.Patch(src, nil, nil, remove, add)
}

func (p *tablePair) check(t testing.TB) {
	t.Helper()
	var addrs []netip.Addr
	for _, ts := range p.tabs {
		for _, h := range ts.hosts {
			addrs = append(addrs, h.ip)
		}
	}
	for _, ms := range p.maps {
		for _, h := range ms.hosts {
			for _, a := range h.Addrs {
				addrs = append(addrs, a.IP)
			}
		}
	}
	addrs = append(addrs, tableAddrs...)
	addrs = append(addrs, netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("fd00::99"))
	errs := diffSnapshots(p.a.Load(), p.b.Load(), p.zones, addrs, p.order)
	for _, ts := range p.tabs {
		if ca, cb := p.a.count(ts.src.ID()), p.b.count(ts.src.ID()); ca != cb {
			errs = append(errs, fmt.Sprintf("Count(%s): A %d, B %d", ts.src.Name, ca, cb))
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%s\n%s", p.describe(), strings.Join(errs, "\n"))
	}
}

func (p *tablePair) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "zones %q\n", p.zones)
	for _, ts := range p.tabs {
		fmt.Fprintf(&b, "table %s (priority %d):\n", ts.src.Name, ts.src.Priority)
		for i, h := range ts.hosts {
			dead := ""
			if ts.dead[i] {
				dead = " (killed)"
			}
			fmt.Fprintf(&b, "  %d: %s %s%s\n", i, h.ip, strings.Join(h.names, " "), dead)
		}
	}
	for _, ms := range p.maps {
		fmt.Fprintf(&b, "hosts %s (priority %d):\n", ms.src.Name, ms.src.Priority)
		for _, h := range ms.hosts {
			fmt.Fprintf(&b, "  %s: %v addrs %v cname %q wildcard %v\n", h.ID, h.Names, h.Addrs, h.CNAME, h.Wildcard)
		}
	}
	return b.String()
}

// diffSnapshots lists how b answers differently from a. A and AAAA records
// are compared as sets: B lists a table's hosts in the order their written
// names qualify to the name ("x.docker" before "x"), A by ID. PTR names and
// owners are compared as far as ord says.
func diffSnapshots(a, b *Snapshot, zones []string, addrs []netip.Addr, ord order) []string {
	var errs []string
	bad := func(format string, args ...any) {
		if len(errs) < 30 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}

	// The walks: every name once, each with the entry Lookup gives.
	namesA := map[string]bool{}
	a.EachName(func(n string, _ *Entry) bool { namesA[n] = true; return true })
	namesB := map[string]int{}
	b.EachName(func(n string, e *Entry) bool {
		if namesB[n]++; namesB[n] == 2 {
			bad("EachName: B lists %s more than once", n)
		}
		if d := entryDiff(b.Lookup(n), e); d != "" {
			bad("EachName: B's entry at %s is not its Lookup: %s", n, d)
		}
		return true
	})
	for _, n := range sortedKeys(namesA) {
		if namesB[n] == 0 {
			bad("EachName: B misses %s", n)
		}
	}
	for _, n := range sortedKeys(namesB) {
		if !namesA[n] {
			bad("EachName: B has %s, A does not", n)
		}
	}
	// EachForwardName leaves out only names inside the reverse trees.
	forwardB := map[string]bool{}
	b.EachForwardName(func(n string, _ *Entry) bool { forwardB[n] = true; return true })
	for _, n := range sortedKeys(namesB) {
		if reverseName(n) {
			continue
		}
		if !forwardB[n] {
			bad("EachForwardName: B misses %s", n)
		}
	}
	for _, n := range sortedKeys(forwardB) {
		if namesB[n] == 0 {
			bad("EachForwardName: B has %s, EachName does not", n)
		}
	}

	// Lookup at every name either has, above them, below them, and at the
	// names qualifying could wrongly give.
	probes := map[string]bool{}
	addProbe := func(n string) {
		for off, end := 0, false; !end; off, end = dns.NextLabel(n, off) {
			probes[n[off:]] = true
		}
		probes["zz."+n] = true
	}
	for n := range namesA {
		addProbe(n)
	}
	for n := range namesB {
		addProbe(n)
	}
	for _, z := range zones {
		addProbe(dns.CanonicalName(z))
		for _, l := range tableLabels {
			addProbe(l + "." + dns.CanonicalName(z))
			addProbe(l + ".docker." + dns.CanonicalName(z))
		}
	}
	for _, ip := range addrs {
		if rev, err := dns.ReverseAddr(ip.String()); err == nil {
			addProbe(rev)
		}
	}
	var forward []string
	for _, z := range zones {
		if z = dns.CanonicalName(z); !isReverseZone(z) {
			forward = append(forward, z)
		}
	}
	for _, q := range sortedKeys(probes) {
		ea, eb := a.Lookup(q), b.Lookup(q)
		if d := entryDiff(ea, eb); d != "" {
			bad("Lookup(%s): %s", q, d)
		}
		for _, z := range forward {
			if inZone(z, q) {
				if d := entryDiff(a.Wildcard(q, z), b.Wildcard(q, z)); d != "" {
					bad("Wildcard(%s, %s): %s", q, z, d)
				}
			}
		}
	}

	// PTR and owners of each address.
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	for _, ip := range addrs {
		ra, rb := a.Reverse(ip), b.Reverse(ip)
		if !sameSet(ra, rb) || len(rb) != len(slices.Compact(slices.Sorted(slices.Values(rb)))) {
			bad("Reverse(%s): A %v, B %v", ip, ra, rb)
		} else if ord.exact && !slices.Equal(ra, rb) || !ord.mapsLast && len(ra) > 0 && ra[0] != rb[0] {
			bad("Reverse(%s): order: A %v, B %v", ip, ra, rb)
		}
		oa, ob := a.Owners(ip), b.Owners(ip)
		won := 0
		for _, o := range oa {
			if ord.prio[o.Source] == ord.prio[oa[0].Source] {
				won++
			}
		}
		if !slices.Equal(ownerStrings(oa), ownerStrings(ob)) {
			bad("Owners(%s): A %v, B %v", ip, oa, ob)
		} else if ord.exact && !slices.Equal(oa, ob) || !slices.Equal(ownerStrings(oa[:won]), ownerStrings(ob[:won])) {
			bad("Owners(%s): order: A %v, B %v", ip, oa, ob)
		}
	}
	walkA := map[netip.Addr][]string{}
	a.EachAddr(func(ip netip.Addr, names []string) bool { walkA[ip] = names; return true })
	walkB := map[netip.Addr][]string{}
	b.EachAddr(func(ip netip.Addr, names []string) bool {
		if _, dup := walkB[ip]; dup {
			bad("EachAddr: B lists %s more than once", ip)
		}
		walkB[ip] = names
		if r := b.Reverse(ip); !slices.Equal(r, names) {
			bad("EachAddr: B's names of %s are %v, its Reverse %v", ip, names, r)
		}
		return true
	})
	for ip, na := range walkA {
		if nb, ok := walkB[ip]; !ok || !sameSet(na, nb) {
			bad("EachAddr(%s): A %v, B %v", ip, na, nb)
		}
	}
	for ip, nb := range walkB {
		if _, ok := walkA[ip]; !ok {
			bad("EachAddr: B has %s %v, A does not", ip, nb)
		}
	}
	return errs
}

// entryDiff tells how eb's records differ from ea's, "" for not at all.
func entryDiff(ea, eb *Entry) string {
	switch {
	case ea == nil && eb == nil:
		return ""
	case ea == nil:
		return fmt.Sprintf("A has no entry, B %s", showEntry(eb))
	case eb == nil:
		return fmt.Sprintf("A %s, B has no entry", showEntry(ea))
	}
	for _, l := range [][]Target{eb.A, eb.AAAA} {
		got := ips(l)
		if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
			return fmt.Sprintf("B repeats an address: %s", showEntry(eb))
		}
	}
	for _, t := range eb.A {
		if raw, _ := netip.AddrFromSlice(t.Raw); !t.IP.Is4() || raw.Unmap() != t.IP {
			return fmt.Sprintf("B's A record %v", t)
		}
	}
	for _, t := range eb.AAAA {
		if t.IP.Is4() || !t.IP.Is6() {
			return fmt.Sprintf("B's AAAA record %v", t)
		}
	}
	same := ea.CNAME == eb.CNAME && sameSet(ips(ea.A), ips(eb.A)) && sameSet(ips(ea.AAAA), ips(eb.AAAA)) &&
		slices.Equal(ea.SRV, eb.SRV) && slices.EqualFunc(ea.TXT, eb.TXT, slices.Equal)
	if !same {
		return fmt.Sprintf("A %s, B %s", showEntry(ea), showEntry(eb))
	}
	return ""
}

func showEntry(e *Entry) string {
	if e.CNAME != "" {
		return "CNAME " + e.CNAME
	}
	return fmt.Sprintf("{A %v AAAA %v SRV %v TXT %v}", ips(e.A), ips(e.AAAA), e.SRV, e.TXT)
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}

// ownerStrings is owners as strings, sorted, repeats kept: two lines with
// the same first name at one address are two owners.
func ownerStrings(os []Owner) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.Source.String() + " " + o.Name
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var tableSource = Source{Name: "hostsfile:/t", Priority: 10}

// genOthers makes the hosts of a source beside a table: plain hosts on the
// same few names and addresses, an alias on some of the table's names, and
// a wildcard.
func genOthers(p picker, tab []plainHost, n int) []Host {
	var out []Host
	for i, h := range genHosts(p, n) {
		out = append(out, h.host(fmt.Sprintf("m%03d", i)))
	}
	if len(tab) > 0 {
		alias := Host{ID: "alias", CNAME: "web"}
		if p.intn(2) == 0 {
			alias.CNAME = "elsewhere.example."
		}
		for range 1 + p.intn(2) {
			t := tab[p.intn(len(tab))]
			if n := t.names[p.intn(len(t.names))]; !slices.Contains(alias.Names, n) {
				alias.Names = append(alias.Names, n)
			}
		}
		if p.intn(2) == 0 {
			alias.Addrs = []Addr{{IP: tab[p.intn(len(tab))].ip}}
		}
		out = append(out, alias)
	}
	wild := Host{ID: "wild", Names: []string{genName(p)}, Addrs: []Addr{{IP: genAddr(p)}}, Wildcard: true}
	wild.ReverseNames = wild.Names
	return append(out, wild)
}

// tableMode is what sits beside a table in a case.
var tableModes = []string{"alone", "higher", "equal-before", "equal-after", "lower", "two-tables", "two-tables-equal"}

// genPair builds a case: a table of n random hosts under zones, with
// what mode puts beside it.
func genPair(p picker, zones []string, mode string, n int) *tablePair {
	tab := genHosts(p, n)
	tabs := []*tableSrc{{src: tableSource, hosts: tab}}
	var maps []mapSrc
	other := func(name string, prio int) {
		maps = append(maps, mapSrc{Source{Name: name, Priority: prio}, genOthers(p, tab, 1+p.intn(6))})
	}
	switch mode {
	case "higher":
		other("docker", 20)
	case "equal-before":
		other("a-equal", tableSource.Priority)
	case "equal-after":
		other("z-equal", tableSource.Priority)
	case "lower":
		other("docker", 0)
	case "two-tables":
		tabs = append(tabs, &tableSrc{src: Source{Name: "hostsfile:/u", Priority: 5}, hosts: genHosts(p, 1+p.intn(n+1))})
		other("docker", 0)
	case "two-tables-equal":
		tabs = append(tabs, &tableSrc{src: Source{Name: "hostsfile:/a", Priority: tableSource.Priority}, hosts: genHosts(p, 1+p.intn(n+1))})
	}
	return newTablePair(zones, tabs, maps)
}

// exercise checks the pair as built, then through kills, revives and
// patched Hosts.
func exercise(t testing.TB, p picker, pair *tablePair) {
	t.Helper()
	pair.check(t)
	for i, ts := range pair.tabs {
		kill := some(p, allHosts(len(ts.hosts)), 3)
		pair.kill(i, kill)
		pair.check(t)
		pair.revive(i, some(p, kill, 2))
		pair.check(t)
	}
	// Hosts beside the table in its own source.
	extra := genHosts(p, 1+p.intn(3))
	var add []Host
	for i, h := range extra {
		add = append(add, h.host(fmt.Sprintf("p%03d", i)))
	}
	pair.patchHosts(0, nil, add)
	pair.check(t)
	// Every table host gone: nothing of the tables is left.
	for i, ts := range pair.tabs {
		pair.kill(i, allHosts(len(ts.hosts)))
	}
	pair.check(t)
	pair.patchHosts(0, []string{"p000"}, nil)
	pair.check(t)
	for i, ts := range pair.tabs {
		pair.revive(i, some(p, allHosts(len(ts.hosts)), 2))
	}
	pair.check(t)
	// A reload: the live hosts in a new table, the Hosts beside it gone.
	pair.reload(0)
	pair.check(t)
}

// allHosts is hosts 0..n-1 of a table.
func allHosts(n int) []int32 {
	all := make([]int32, n)
	for h := range all {
		all[h] = int32(h)
	}
	return all
}

// some picks each of hosts with a chance of one in k.
func some(p picker, hosts []int32, k int) []int32 {
	var out []int32
	for _, h := range hosts {
		if p.intn(k) == 0 {
			out = append(out, h)
		}
	}
	return out
}

func TestTableAnswersAsHosts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, zones := range tableZones {
		for _, mode := range tableModes {
			t.Run(fmt.Sprintf("%q/%s", zones, mode), func(t *testing.T) {
				for range 3 {
					p := randPicker{r}
					exercise(t, p, genPair(p, zones, mode, 1+r.IntN(30)))
				}
			})
		}
	}
}

// FuzzTable derives a case from the input (zones, what sits beside the
// table, its hosts, which of them go and come back) and holds B to A.
func FuzzTable(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x01\x06\x10lab.docker x.docker a.svc web"))
	f.Add([]byte("\x04\x02\x08 10.in-addr.arpa svc.svc web.lab db-1"))
	f.Add([]byte("\x05\x05\x0cfd00::1 d.f.ip6.arpa 1.10.in-addr.arpa alias1.svc alias2.svc"))
	f.Add([]byte("\x03\x03\x0f\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &bytePicker{data}
		zones := tableZones[p.intn(len(tableZones))]
		mode := tableModes[p.intn(len(tableModes))]
		exercise(t, p, genPair(p, zones, mode, 1+p.intn(24)))
	})
}

// TestTableNamesAboveHostsGoWithTheirHosts kills and revives the hosts below
// empty non-terminals, forward and in a served reverse zone.
func TestTableNamesAboveHostsGoWithTheirHosts(t *testing.T) {
	zones := []string{"docker.", "10.in-addr.arpa."}
	hosts := []plainHost{
		{netip.MustParseAddr("10.0.0.1"), []string{"alias1.svc"}},
		{netip.MustParseAddr("10.0.0.2"), []string{"alias2.svc", "x.docker"}},
		{netip.MustParseAddr("10.1.2.3"), []string{"web", "a.b.c"}},
	}
	pair := newTablePair(zones, []*tableSrc{{src: tableSource, hosts: hosts}}, nil)
	want := func(exist bool, names ...string) {
		t.Helper()
		s := pair.b.Load()
		for _, n := range names {
			if e := s.Lookup(n); (e != nil) != exist || e != nil && (len(e.A) > 0 || len(e.AAAA) > 0 || e.CNAME != "") {
				t.Errorf("%s: got %+v, want it to exist (without records) %v", n, e, exist)
			}
		}
		pair.check(t)
	}
	want(true, "svc.docker.", "b.c.docker.", "c.docker.", "0.0.10.in-addr.arpa.", "0.10.in-addr.arpa.", "2.1.10.in-addr.arpa.", "1.10.in-addr.arpa.")
	pair.kill(0, []int32{0})
	want(true, "svc.docker.", "0.0.10.in-addr.arpa.")
	before := pair.b.Load()
	pair.kill(0, []int32{1})
	want(false, "svc.docker.", "0.0.10.in-addr.arpa.", "0.10.in-addr.arpa.")
	want(true, "2.1.10.in-addr.arpa.", "1.10.in-addr.arpa.")
	if before.Lookup("svc.docker.") == nil || before.Lookup("x.docker.") == nil {
		t.Error("a patch changed an older snapshot")
	}
	pair.kill(0, []int32{2})
	want(false, "b.c.docker.", "c.docker.", "2.1.10.in-addr.arpa.", "1.10.in-addr.arpa.")
	pair.revive(0, []int32{0, 2})
	want(true, "svc.docker.", "0.0.10.in-addr.arpa.", "0.10.in-addr.arpa.", "c.docker.", "1.10.in-addr.arpa.")
	// A host killed twice in one patch goes once; reviving a live host, or
	// killing a dead one, changes nothing.
	pair.kill(0, []int32{2, 2, 1})
	pair.revive(0, []int32{0})
	want(false, "c.docker.", "1.10.in-addr.arpa.")
	want(true, "svc.docker.", "0.0.10.in-addr.arpa.")
	pair.revive(0, []int32{2})
	want(true, "c.docker.", "1.10.in-addr.arpa.")
	// A Host of the source below a name keeps it when the table's go.
	pair.patchHosts(0, nil, []Host{plainHost{netip.MustParseAddr("10.0.0.9"), []string{"alias3.svc"}}.host("p000")})
	pair.kill(0, []int32{0, 2})
	want(true, "svc.docker.", "0.0.10.in-addr.arpa.")
	want(false, "c.docker.", "1.10.in-addr.arpa.")
	pair.patchHosts(0, []string{"p000"}, nil)
	want(false, "svc.docker.", "0.0.10.in-addr.arpa.", "0.10.in-addr.arpa.")
}

// TestTableZoneApexIsNoNameAboveHosts: a table keeps the names above a
// host's name up to its last label ("docker" above "x.docker"), but a zone's
// apex is no such name, forward or reverse, as in the maps.
func TestTableZoneApexIsNoNameAboveHosts(t *testing.T) {
	// x.docker is a name, a.lab a relative one with a name above it.
	for _, tc := range []struct {
		zones       []string
		exist, none []string
	}{
		{[]string{"docker.", "10.in-addr.arpa."},
			[]string{"lab.docker.", "2.1.10.in-addr.arpa.", "1.10.in-addr.arpa."},
			[]string{"docker.", "10.in-addr.arpa."}},
		{[]string{"lab.docker.", "docker.", "10.in-addr.arpa."},
			[]string{"lab.lab.docker.", "1.10.in-addr.arpa."},
			[]string{"docker.", "lab.docker.", "10.in-addr.arpa."}},
		// A zone whose parent is no zone: nothing above it exists.
		{[]string{"x.docker."},
			[]string{"lab.x.docker."},
			[]string{"docker.", "docker.x.docker.", "lab.docker."}},
	} {
		ip := netip.MustParseAddr("10.1.2.3")
		names := []string{"x.docker", "a.lab"}
		tab, maps := New(tc.zones), New(tc.zones)
		b := tab.NewTableBuilder()
		b.Add(ip, [][]byte{[]byte(names[0]), []byte(names[1])})
		tab.SetTable(files, b.Done())
		maps.Upsert(files, Host{ID: "1", Names: names, ReverseNames: names, Addrs: []Addr{{IP: ip}}})
		for _, n := range slices.Concat(tc.exist, tc.none) {
			want := slices.Contains(tc.exist, n)
			if got := maps.Load().Lookup(n) != nil; got != want {
				t.Fatalf("zones %v: the maps have %s: %v", tc.zones, n, got)
			}
			if e := tab.Load().Lookup(n); (e != nil) != want {
				t.Errorf("zones %v: %s: got %+v, want it to exist %v", tc.zones, n, e, want)
			}
		}
		var walked []string
		tab.Load().EachName(func(n string, _ *Entry) bool { walked = append(walked, n); return true })
		for _, n := range tc.none {
			if slices.Contains(walked, n) {
				t.Errorf("zones %v: EachName lists %s", tc.zones, n)
			}
		}
	}
}

// TestTableEachNameListsNamesAboveAddresses: in a served reverse zone the
// names above a table host's address exist, so EachName lists them, each
// once, as it does the maps'.
func TestTableEachNameListsNamesAboveAddresses(t *testing.T) {
	zones := []string{"docker.", "10.in-addr.arpa."}
	lines := []struct {
		ip   string
		name string
	}{{"10.0.0.1", "a"}, {"10.0.0.1", "b"}, {"10.0.0.2", "c"}, {"10.1.2.3", "d"}, {"10.2.0.1", "e"}}
	tab, maps := New(zones), New(zones)
	b := tab.NewTableBuilder()
	for _, l := range lines[:4] {
		b.Add(netip.MustParseAddr(l.ip), [][]byte{[]byte(l.name)})
	}
	tab.SetTable(files, b.Done())
	tab.Patch(files, []int32{3}, nil, nil, nil) // 10.1.2.3 goes, and the names above it
	other := Source{Name: "docker"}
	for i, l := range lines {
		h := host(fmt.Sprint(i), []string{l.name}, l.ip)
		switch i {
		case 3:
			continue
		case 4:
			tab.Upsert(other, h)
			maps.Upsert(other, h)
		default:
			maps.Upsert(files, h)
		}
	}
	walk := func(s *Snapshot) []string {
		var out []string
		s.EachName(func(n string, _ *Entry) bool { out = append(out, n); return true })
		slices.Sort(out)
		return out
	}
	want := walk(maps.Load())
	if !slices.Contains(want, "0.0.10.in-addr.arpa.") || slices.Contains(want, "2.1.10.in-addr.arpa.") {
		t.Fatalf("the maps walk %v", want)
	}
	if got := walk(tab.Load()); !slices.Equal(got, want) {
		t.Errorf("EachName: got %v, want %v", got, want)
	}
}

func reverseName(n string) bool {
	return strings.HasSuffix(n, ".in-addr.arpa.") || strings.HasSuffix(n, ".ip6.arpa.") || n == "in-addr.arpa." || n == "ip6.arpa."
}
