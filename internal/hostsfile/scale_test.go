package hostsfile

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// scaleFile is the large hosts file: lines of two names,
// "10.x.y.z hostN aliasN.svc".
func scaleFile(lines int) []byte {
	var b bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&b, "10.%d.%d.%d host%d alias%d.svc\n", (i>>16)&0xff, (i>>8)&0xff, i&0xff, i, i)
	}
	return b.Bytes()
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLoadLarge reads a large hosts file into an empty index, as the
// watcher does at startup, and reports the heap the index and the watcher's
// table hold per name once loaded.
func BenchmarkLoadLarge(b *testing.B) {
	for _, lines := range []int{100_000, 500_000} {
		b.Run(fmt.Sprint(lines), func(b *testing.B) {
			in := scaleFile(lines)
			src := index.Source{Name: "hostsfile:/bench", Priority: 10}
			var x *index.Index
			tab := table{newTable: x.NewTableBuilder}
			var perName float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				x = nil
				base := liveHeap()
				b.StartTimer()
				x = index.New([]string{"bench.test."})
				tab = table{newTable: x.NewTableBuilder}
				c := tab.diff(in, DefaultLimits, false, 0)
				send(x, src, c)
				tab.accept(c)
				b.StopTimer()
				perName = float64(liveHeap()-base) / float64(2*lines)
				writeHeapProfile(b, fmt.Sprint(lines))
			}
			if x.Load().Lookup(fmt.Sprintf("alias%d.svc.bench.test.", lines-1)) == nil {
				b.Fatal("last name missing")
			}
			b.ReportMetric(perName, "heapB/name")
		})
	}
}

// writeHeapProfile writes the heap as it is now to $HEAP_PROFILE.<name>
// when that variable is set: the profile of what a loaded index holds.
func writeHeapProfile(b *testing.B, name string) {
	path := os.Getenv("HEAP_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRereadOneLine is the work of one changed line in a 100,000-line
// file once it is read: the diff against the last table and the index
// change. A line in the middle moves to a new address.
func BenchmarkRereadOneLine(b *testing.B) {
	const lines = 100_000
	in := scaleFile(lines)
	x := index.New([]string{"bench.test."})
	src := index.Source{Name: "hostsfile:/bench", Priority: 10}
	tab := table{newTable: x.NewTableBuilder}
	c := tab.diff(in, DefaultLimits, false, 0)
	send(x, src, c)
	tab.accept(c)
	mid := bytes.Index(in, []byte(" host50000 "))
	start := bytes.LastIndexByte(in[:mid], '\n') + 1
	versions := [2][]byte{in, nil}
	versions[1] = bytes.Clone(in)
	copy(versions[1][start:], "10.200.0.1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := tab.diff(versions[(i+1)%2], DefaultLimits, false, 0)
		if len(c.added)+len(c.revive) != 1 || len(c.removed)+len(c.kill) != 1 {
			b.Fatalf("diff: %+v", c)
		}
		send(x, src, c)
		tab.accept(c)
	}
}

// BenchmarkMemoryAfterChanges makes 100 single-line changes to a loaded
// 100,000-line file, through the watcher's table and the index, and reports
// the live heap before and after: what the changes leave behind.
func BenchmarkMemoryAfterChanges(b *testing.B) {
	const lines = 100_000
	for i := 0; i < b.N; i++ {
		in := scaleFile(lines)
		x := index.New([]string{"bench.test."})
		src := index.Source{Name: "hostsfile:/bench", Priority: 10}
		tab := table{newTable: x.NewTableBuilder}
		apply := func(content []byte) {
			c := tab.diff(content, DefaultLimits, false, 0)
			send(x, src, c)
			tab.accept(c)
		}
		apply(in)
		before := liveHeap()
		for k := range 100 {
			next := bytes.Clone(in)
			at := bytes.Index(next, fmt.Appendf(nil, " host%d ", k*997))
			start := bytes.LastIndexByte(next[:at], '\n') + 1
			copy(next[start:], "10.222")
			apply(next)
		}
		after := liveHeap()
		if x.Load().Lookup("host0.bench.test.") == nil {
			b.Fatal("host0 missing")
		}
		b.ReportMetric(float64(before)/(1<<20), "heapMiB-before")
		b.ReportMetric(float64(after)/(1<<20), "heapMiB-after")
	}
}

// send hands c to x as a Source would.
func send(x *index.Index, src index.Source, c change) {
	if c.base != nil {
		x.SetTable(src, c.base)
		return
	}
	x.Patch(src, c.kill, c.revive, c.removed, c.added)
}

// BenchmarkRereadWhole is the work of a rewrite of every line of a
// 500,000-line file (every address changes) once it is read: a new table.
func BenchmarkRereadWhole(b *testing.B) {
	const lines = 500_000
	versions := [2][]byte{scaleFile(lines), bytes.ReplaceAll(scaleFile(lines), []byte("\n10."), []byte("\n11."))}
	x := index.New([]string{"bench.test."})
	src := index.Source{Name: "hostsfile:/bench", Priority: 10}
	tab := table{newTable: x.NewTableBuilder}
	c := tab.diff(versions[0], DefaultLimits, false, 0)
	send(x, src, c)
	tab.accept(c)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := tab.diff(versions[(i+1)%2], DefaultLimits, false, 0)
		if c.base == nil || c.drops {
			b.Fatalf("diff: new table %v, drops %v", c.base != nil, c.drops)
		}
		send(x, src, c)
		tab.accept(c)
	}
}
