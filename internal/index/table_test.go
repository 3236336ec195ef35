package index

import (
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
