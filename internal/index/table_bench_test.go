package index

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkLookupTable is a query's lookup of a name held in a table of
// 200,000 names, beside maps holding a few hosts.
func BenchmarkLookupTable(b *testing.B) {
	const hosts = 100_000
	x := New([]string{"bench.test."})
	tb := x.NewTableBuilder(hosts, 2*hosts, 30*hosts)
	for i := range hosts {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tb.Add(ip, [][]byte{fmt.Appendf(nil, "host%d", i), fmt.Appendf(nil, "alias%d.svc", i)})
	}
	x.SetTable(Source{Name: "hostsfile:/bench", Priority: 10}, tb.Done())
	x.Upsert(Source{Name: "docker"}, Host{ID: "c1", Names: []string{"web"}, Addrs: []Addr{{IP: netip.MustParseAddr("172.17.0.2")}}})
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("host%d.bench.test.", i*97)
	}
	snap := x.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if e := snap.Lookup(names[i%len(names)]); e == nil || len(e.A) != 1 {
			b.Fatal("no answer")
		}
	}
}
