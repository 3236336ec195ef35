package dockerhosts

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/await"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// A notifier sends one NOTIFY per zone at start, once its first own serial
// is out, and one for a burst of changes closer together than the quiet
// period, after the last of them.
func TestNotifierSendsOneNOTIFYPerBurst(t *testing.T) {
	zones := []string{"docker."}
	d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
	changes := make(chan struct{}, 1)
	sink := meteredSink{d.index, index.Source{Name: "docker:test"}, changes}
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
