package docker

import (
	"context"
	"fmt"
	"runtime"
	"testing"

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
func populate(fe *fakeEngine, n int) []string {
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%064x", i+1)
		project := fmt.Sprintf("proj%d", i/250)
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
		fe.set(composeCtr(id, project, "svc", fmt.Sprint(i%250+1), ip).build())
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
				if err := s.apply(ctx, id, 0); err != nil {
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
