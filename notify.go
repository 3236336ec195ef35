package dockerhosts

import (
	"context"
	"sync"
	"time"
)

// notifyDelay is how long the notifier gathers changes before it tells the
// secondaries: a burst of container events (a compose project starting)
// becomes one NOTIFY. bench/xfer measures the choice.
const notifyDelay = 100 * time.Millisecond

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
	delay   time.Duration
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
	wait := n.delay // at start, as after a change
	for {
		if wait < 0 {
			select {
			case <-ctx.Done():
				return
			case <-n.changes:
				wait = n.delay
			}
		}
		if !sleep(ctx, wait) {
			return
		}
		// Changes until now are in the snapshot loaded below.
		select {
		case <-n.changes:
		default:
		}
		s, fresh, stale := n.d.serials().Serial(n.d.index.Load().Generation())
		switch {
		case stale:
			wait = 0 // a newer snapshot has its serial already: load it
			continue
		case !fresh:
			wait = n.d.serials().Wait() // its serial comes with the next second
			continue
		}
		wait = -1
		if s == notified {
			continue
		}
		notified = s
		for _, z := range n.d.Zones {
			if err := n.target.Notify(z); err != nil {
				log.Warningf("NOTIFY of %s serial %d: %v", z, s, err)
			}
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
