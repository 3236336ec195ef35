package index

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// BenchmarkLookupTable is a query's lookup of a name held in a table of
// 200,000 names, beside maps holding a few hosts.
func BenchmarkLookupTable(b *testing.B) {
	const hosts = 100_000
	x := New([]string{"bench.test."})
	tb := x.NewTableBuilder()
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

func TestDeadSetCopiesWhatItChanges(t *testing.T) {
	const hosts = 3*deadChunk + 5
	var a deadSet
	a = a.set(7, hosts, true, map[int]bool{})
	a = a.set(2*deadChunk+1, hosts, true, map[int]bool{})
	b := append(deadSet(nil), a...)
	b = b.set(7, hosts, false, map[int]bool{})
	b = b.set(hosts-1, hosts, true, map[int]bool{})
	for _, c := range []struct {
		set  deadSet
		h    int32
		want bool
	}{
		{a, 7, true}, {a, 2*deadChunk + 1, true}, {a, hosts - 1, false}, {a, 8, false},
		{b, 7, false}, {b, 2*deadChunk + 1, true}, {b, hosts - 1, true},
	} {
		if got := c.set.has(c.h); got != c.want {
			t.Errorf("has(%d) = %v, want %v", c.h, got, c.want)
		}
	}
	// Chunk 0 changed in b, chunk 2 (holding 2*deadChunk+1) did not.
	if a[0] == b[0] || a[2] == nil || a[2] != b[2] {
		t.Errorf("a change must copy the chunk it touches and share the rest")
	}
}

// TestPacerYieldsAndGoesOn: a yield parks on the pipe and comes back, on
// one P as on several, however often it is asked.
func TestPacerYieldsAndGoesOn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 200 {
				yieldToNetwork()
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("GOMAXPROCS %d: 200 yields did not return within 10 s", procs)
		}
	}
}
