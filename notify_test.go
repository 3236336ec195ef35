package dockerhosts

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// A notifier sends one NOTIFY per zone at start, once its first own serial
// is out, and one for a burst of changes closer together than the quiet
// period, after the last of them.
func TestNotifierSendsOneNOTIFYPerBurst(t *testing.T) {
	zones := []string{"docker."}
	d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
	changes := newSources(d.index).changes
	sink := d.index.For(index.Source{Name: "docker:test"})
	target := &notifyTimes{}
	n := &notifier{d: d, target: target, changes: changes, quiet: 300 * time.Millisecond, maxWait: 5 * time.Second}
	n.start()
	t.Cleanup(n.stop)
	await.True(t, 5*time.Second, "the NOTIFY at start", func() bool { return len(target.since(time.Time{})) == 1 })

	for i := range 20 {
		sink.Upsert(index.Host{ID: "c", Names: []string{"c"}, Addrs: []index.Addr{{IP: netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", i+1))}}})
		time.Sleep(5 * time.Millisecond)
	}
	last := d.index.Load().Generation()
	await.True(t, 5*time.Second, "the last change has its serial and its NOTIFY", func() bool {
		_, fresh, _ := d.serials().Serial(last)
		return fresh && len(target.since(time.Time{})) >= 2
	})
	if got := len(target.since(time.Time{})); got != 2 {
		t.Fatalf("%d NOTIFYs, want 2: one at start, one for the burst", got)
	}
}

// failingTarget refuses the first fails NOTIFYs, as a secondary not yet
// listening does, and counts every one.
type failingTarget struct {
	mu    sync.Mutex
	fails int
	sent  int
}

func (f *failingTarget) Notify(string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent++
	if f.sent <= f.fails {
		return errors.New("connection refused")
	}
	return nil
}

func (f *failingTarget) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

// A NOTIFY that is not accepted is sent again on the retry schedule until
// one is, and no more after that; one never accepted is given up after the
// last retry.
func TestNotifierRetriesANOTIFYNotAccepted(t *testing.T) {
	retries := []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	for _, tc := range []struct {
		name       string
		fails, out int // refused, and sent in all
	}{
		{"accepted at the third try", 2, 3},
		{"never accepted", 100, 1 + len(retries)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zones := []string{"docker."}
			d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
			target := &failingTarget{fails: tc.fails}
			n := &notifier{d: d, target: target, changes: make(chan struct{}), quiet: 10 * time.Millisecond, maxWait: time.Second, retries: retries}
			n.start()
			t.Cleanup(n.stop)
			await.True(t, 5*time.Second, fmt.Sprintf("%d NOTIFYs", tc.out), func() bool { return target.count() >= tc.out })
			// Nothing may follow: wait out the whole schedule again.
			time.Sleep(4 * 20 * time.Millisecond)
			if got := target.count(); got != tc.out {
				t.Fatalf("%d NOTIFYs sent, want %d", got, tc.out)
			}
		})
	}
}
