package docker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/moby/moby/api/types/container"
)

// discardSink stands in for the index so that benchmarks measure the source.
type discardSink struct{}

func (discardSink) Replace([]index.Host)   {}
func (discardSink) Upsert(index.Host) bool { return true }
func (discardSink) Delete(string) bool     { return true }

// populate gives fe n running compose containers, 250 per project, each
// with one address and its compose aliases: a typical container.
func populate(fe *fakeEngine, n int) []string { return populateAs(fe, n, 0) }

// populateAs is populate for engine number engine: its IDs, projects and
// addresses differ from every other engine's.
func populateAs(fe *fakeEngine, n, engine int) []string {
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%02x%062x", engine, i+1)
		project := fmt.Sprintf("e%dproj%d", engine, i/250)
		ip := fmt.Sprintf("10.%d.%d.%d", engine<<5|i>>16&0x1f, i>>8&0xff, i&0xff)
		// Each engine's services have names of their own: a name shared by
		// thousands of containers (an alias like "db" in every project) is
		// recomputed whole by the index on each of their events.
		fe.set(composeCtr(id, project, fmt.Sprintf("svc%d", engine), fmt.Sprint(i%250+1), ip).build())
		ids[i] = id
	}
	return ids
}

var benchSizes = []int{100, 10_000}

// BenchmarkInitialSync: one full sync (list + inspect each + Replace).
func BenchmarkInitialSync(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			fe := newFakeEngine()
			populate(fe, n)
			ctx := context.Background()
			for b.Loop() {
				s := newSource(Config{}, fe, discardSink{})
				if err := s.fullSync(ctx, "startup"); err != nil {
					b.Fatal(err)
				}
				if len(s.containers) != n {
					b.Fatalf("served %d containers, want %d", len(s.containers), n)
				}
			}
		})
	}
}

// BenchmarkApplyEvent: one event that changes a container (a rename), from
// inspect to the sink call. ns/op must not grow with the container count.
func BenchmarkApplyEvent(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			fe := newFakeEngine()
			ids := populate(fe, n)
			ctx := context.Background()
			s := newSource(Config{}, fe, discardSink{})
			if err := s.fullSync(ctx, "startup"); err != nil {
				b.Fatal(err)
			}
			id := ids[n/2]
			orig := fe.get(id)
			renamed := orig
			renamed.Name = "/renamed"
			states := [2]container.InspectResponse{renamed, orig}
			i := 0
			for b.Loop() {
				fe.set(states[i%2])
				i++
				if err := s.apply(ctx, id, 0, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemoryPerContainer: heap the source keeps per served container
// (the index's own copy of the records is not included).
func BenchmarkMemoryPerContainer(b *testing.B) {
	const n = 10_000
	fe := newFakeEngine()
	populate(fe, n)
	ctx := context.Background()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newSource(Config{}, fe, discardSink{})
		if err := s.fullSync(ctx, "startup"); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/container")
	}
}

// BenchmarkEventBesideAResync: engine b's events, applied into one real
// index, while engine a resyncs 10,000 containers in a loop (resync=busy)
// or stays idle (resync=idle). An event of b must cost the same either way:
// a resync of an unchanged engine takes no lock in the index. Reports the
// median and worst single-event time.
func BenchmarkEventBesideAResync(b *testing.B) {
	for _, busy := range []bool{false, true} {
		name := "resync=idle"
		if busy {
			name = "resync=busy"
		}
		b.Run(name, func(b *testing.B) {
			idx := index.New([]string{"docker."})
			ctx := context.Background()
			feA, feB := newFakeEngine(), newFakeEngine()
			populateAs(feA, 10_000, 1)
			ids := populateAs(feB, 100, 2)
			a := newSource(Config{Engine: "a"}, feA, idx.For(index.Source{Name: "docker:a"}))
			bs := newSource(Config{Engine: "b"}, feB, idx.For(index.Source{Name: "docker:b"}))
			for _, s := range []*Source{a, bs} {
				if err := s.fullSync(ctx, "startup"); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for busy {
					select {
					case <-stop:
						return
					default:
					}
					if err := a.fullSync(ctx, "periodic"); err != nil {
						panic(err)
					}
				}
			}()
			id := ids[50]
			orig := feB.get(id)
			renamed := orig
			renamed.Name = "/renamed"
			states := [2]container.InspectResponse{renamed, orig}
			var times []time.Duration
			i := 0
			for b.Loop() {
				feB.set(states[i%2])
				i++
				began := time.Now()
				if err := bs.apply(ctx, id, 0, false); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(began))
			}
			close(stop)
			<-done
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-us")
			b.ReportMetric(float64(times[len(times)-1].Microseconds()), "max-us")
		})
	}
}
