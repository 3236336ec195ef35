package index

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// TestTableZoneApexIsNoNameAboveHosts: a table keeps the names above a
// host's name up to its last label ("docker" above "x.docker"), but a zone's
// apex is no such name, forward or reverse, as in the maps.
func TestTableZoneApexIsNoNameAboveHosts(t *testing.T) {
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
	} {
		ip := netip.MustParseAddr("10.1.2.3")
		names := []string{"x.docker", "a.lab"}
		b := NewTableBuilder(1, len(names))
		b.Add(ip, [][]byte{[]byte(names[0]), []byte(names[1])})
		tab, maps := New(tc.zones), New(tc.zones)
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
	b := NewTableBuilder(len(lines), len(lines))
	for _, l := range lines[:4] {
		b.Add(netip.MustParseAddr(l.ip), [][]byte{[]byte(l.name)})
	}
	tab, maps := New(zones), New(zones)
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
