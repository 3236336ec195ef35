package dockerhosts

import (
	"context"
	"sync"
	"time"
)

// A burst of container events (a compose project starting) becomes one
// NOTIFY: the notifier waits until the changes have been quiet for
// notifyQuiet, but no longer than notifyMaxWait after the first one.
// BenchmarkNotifyCoalescing measures the choice against recorded bursts.
const (
	notifyQuiet   = 400 * time.Millisecond
	notifyMaxWait = 2 * time.Second
)

// notifyRetries are the waits before each new try of a NOTIFY that a
// secondary did not accept (RFC 1996 3.6: a master resends until
// answered, a few times). A secondary that starts after us, or restarts,
// still hears of the serial before its refresh timer (hours) runs out.
var notifyRetries = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// notifyTarget sends a NOTIFY for a zone: CoreDNS's transfer plugin, which
// sends it to every `to` address of the zone.
type notifyTarget interface {
	Notify(zone string) error
}

// notifier tells secondaries when the zones change: after a change, once the
// changed snapshot has a serial of its own, one NOTIFY per zone. It also
// notifies once at start, when its first own serial is out: a restarted
// process may serve other data than the one before it.
type notifier struct {
	d       *DockerHosts
	target  notifyTarget
	changes <-chan struct{}
	quiet   time.Duration // changes settle when none came for this long
	maxWait time.Duration // or when this long has passed since the first
	retries []time.Duration
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func (n *notifier) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		n.run(ctx)
	}()
}

// stop returns once the notifier has stopped; a NOTIFY in flight finishes
// first (the transfer plugin retries an unanswered one three times).
func (n *notifier) stop() {
	if n.cancel != nil {
		n.cancel()
	}
	n.done.Wait()
}

func (n *notifier) run(ctx context.Context) {
	var notified uint32
	var failed []string // zones of the serial notified whose NOTIFY failed
	tries := 0          // retries of them so far
	settle := true      // at start, as after a change
	for {
		if settle && !n.settle(ctx) {
			return
		}
		s, fresh, stale := n.d.serials().Serial(n.d.index.Load().Generation())
		switch {
		case stale:
			settle = false // a newer snapshot has its serial already: load it
			continue
		case !fresh:
			// Its serial comes with the next second; changes until then are
			// in the snapshot loaded after.
			if !sleep(ctx, n.d.serials().Wait()) {
				return
			}
			settle = false
			continue
		}
		if s != notified {
			notified, tries = s, 0
			failed = n.send(n.d.Zones, s, tries)
		}
		retry := time.NewTimer(time.Hour)
		if len(failed) == 0 || tries == len(n.retries) {
			retry.Stop()
		} else {
			retry.Reset(n.retries[tries])
		}
		select {
		case <-ctx.Done():
			retry.Stop()
			return
		case <-n.changes:
			retry.Stop()
			settle = true
		case <-retry.C:
			tries++
			failed = n.send(failed, notified, tries)
		}
	}
}

// send notifies the zones of serial s, the try-th time (0 for the first),
// and returns those that failed. A failure is logged at the first try and
// at the last, not at each.
func (n *notifier) send(zones []string, s uint32, try int) (failed []string) {
	for _, z := range zones {
		err := n.target.Notify(z)
		if err == nil {
			continue
		}
		failed = append(failed, z)
		switch {
		case try == len(n.retries):
			log.Warningf("NOTIFY of %s serial %d: %v; not accepted in %d tries", z, s, err, try+1)
		case try == 0:
			log.Warningf("NOTIFY of %s serial %d: %v; trying again, %d times at most", z, s, err, len(n.retries))
		}
	}
	return failed
}

// settle waits until no change has come for quiet, or maxWait has passed; it
// reports whether ctx is still live.
func (n *notifier) settle(ctx context.Context) bool {
	limit := time.Now().Add(n.maxWait)
	for {
		wait := min(n.quiet, time.Until(limit))
		if wait <= 0 {
			return ctx.Err() == nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-n.changes:
			t.Stop() // not quiet yet
		case <-t.C:
			return true
		}
	}
}

// sleep waits for d, or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
