package serial

import (
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for issuers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(sec int64, ms int) {
	c.mu.Lock()
	c.t = time.Unix(sec, int64(ms)*1e6)
	c.mu.Unlock()
}
func (c *clock) add(d time.Duration)    { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(sec int64, ms int) *clock { c := &clock{}; c.set(sec, ms); return c }

var zones = []string{"docker.", "17.172.in-addr.arpa."}

func TestLessWrapsAround(t *testing.T) {
	for _, c := range []struct {
		a, b uint32
		less bool
	}{{1, 2, true}, {2, 1, false}, {5, 5, false}, {0xFFFFFFFF, 0, true}, {0, 0xFFFFFFFF, false}, {1, 1 << 30, true}} {
		if got := Less(c.a, c.b); got != c.less {
			t.Errorf("Less(%d, %d) = %v, want %v", c.a, c.b, got, c.less)
		}
	}
}

func TestSerialIsTheClockSecondOfTheFirstRead(t *testing.T) {
	c := newClock(1000, 200)
	tr := NewTracker(NewIssuer(c.now), zones)
	// The process started at 1000: a previous one may have issued 1000, so
	// the first own serial waits for 1001; meanwhile 1000, never less.
	if s, fresh, _ := tr.Serial(1); s != 1000 || fresh {
		t.Fatalf("before the clock moves on: serial %d fresh %v, want 1000 not fresh", s, fresh)
	}
	if w := tr.Wait(); w != 800*time.Millisecond {
		t.Fatalf("Wait = %s, want 800ms", w)
	}
	c.set(1001, 0)
	if s, fresh, _ := tr.Serial(1); s != 1001 || !fresh {
		t.Fatalf("at 1001: serial %d fresh %v, want 1001 fresh", s, fresh)
	}
	c.set(1005, 0)
	if s, _, _ := tr.Serial(1); s != 1001 {
		t.Fatalf("an unchanged generation keeps its serial, got %d", s)
	}
	if s, fresh, _ := tr.Serial(2); s != 1005 || !fresh {
		t.Fatalf("a change read at 1005: serial %d fresh %v", s, fresh)
	}
	if s, fresh, stale := tr.Serial(1); s != 1005 || fresh || !stale {
		t.Fatalf("an older generation: serial %d fresh %v stale %v, want the newer serial, stale", s, fresh, stale)
	}
}

// A burst of changes never runs the serial ahead of the clock: at most one
// new serial per second.
func TestBurstNeverRunsAheadOfTheClock(t *testing.T) {
	c := newClock(1000, 0)
	tr := NewTracker(NewIssuer(c.now), zones)
	var prev uint32
	for gen := uint64(1); gen <= 5000; gen++ {
		c.add(time.Millisecond)
		s, _, _ := tr.Serial(gen)
		now := uint32(c.now().Unix())
		if Less(now, s) {
			t.Fatalf("gen %d at %v: serial %d ahead of the clock", gen, c.now(), s)
		}
		if Less(s, prev) {
			t.Fatalf("gen %d: serial went back from %d to %d", gen, prev, s)
		}
		prev = s
	}
	if prev != 1005 {
		t.Fatalf("after 5 s of changes the serial is %d, want 1005", prev)
	}
}

// A Corefile reload runs the new instance beside the old one: both issue from
// the process's issuer, so the new one's serials start at the old one's and
// its first own serial is above every serial the old one gave.
func TestReloadOverlapNeverGoesBack(t *testing.T) {
	c := newClock(1000, 0)
	x := NewIssuer(c.now)
	old := NewTracker(x, zones)
	c.set(1003, 100)
	oldSerial, _, _ := old.Serial(7)
	if oldSerial != 1003 {
		t.Fatalf("old instance serial %d", oldSerial)
	}
	c.set(1003, 400)
	reloaded := NewTracker(x, zones) // its generations start again from 1
	s, fresh, _ := reloaded.Serial(1)
	if s != oldSerial || fresh {
		t.Fatalf("new instance in the same second: %d fresh %v, want %d not fresh", s, fresh, oldSerial)
	}
	// The old one still applies a change during the overlap.
	c.set(1004, 50)
	if s, _, _ := old.Serial(8); s != 1004 {
		t.Fatalf("old instance during the overlap: %d", s)
	}
	if s, fresh, _ := reloaded.Serial(1); s != 1004 || fresh {
		t.Fatalf("new instance after the old one's change in 1004: %d fresh %v", s, fresh)
	}
	c.set(1005, 0)
	if s, fresh, _ := reloaded.Serial(1); s != 1005 || !fresh {
		t.Fatalf("new instance at 1005: %d fresh %v", s, fresh)
	}
	// A zone of only the new instance is tied to the others of the instance.
	both := NewTracker(x, []string{"docker.", "lab."})
	if s, fresh, _ := both.Serial(1); s != 1005 || fresh {
		t.Fatalf("a new zone beside docker.: %d fresh %v", s, fresh)
	}
}

// A restart starts from the clock with nothing remembered: never below the
// previous process's last serial, and above it from the next second on.
func TestRestartNeverGoesBack(t *testing.T) {
	c := newClock(1000, 0)
	before := NewTracker(NewIssuer(c.now), zones)
	var last uint32
	for gen := uint64(1); gen <= 300; gen++ {
		c.add(10 * time.Millisecond)
		last, _, _ = before.Serial(gen)
	}
	// Restarted within the second of the last serial, then later.
	for _, restartAfter := range []time.Duration{0, 300 * time.Millisecond, 2 * time.Second} {
		c2 := &clock{t: c.now().Add(restartAfter)}
		after := NewTracker(NewIssuer(c2.now), zones)
		s, fresh, _ := after.Serial(1)
		if Less(s, last) {
			t.Fatalf("restart after %s: serial %d below the previous process's %d", restartAfter, s, last)
		}
		if fresh && !Less(last, s) {
			t.Fatalf("restart after %s: fresh serial %d not above %d", restartAfter, s, last)
		}
		c2.add(after.Wait())
		if s, fresh, _ := after.Serial(1); !fresh || !Less(last, s) {
			t.Fatalf("restart after %s, then Wait: serial %d fresh %v, want above %d", restartAfter, s, fresh, last)
		}
	}
}

// A clock stepped back holds the serial rather than lowering it.
func TestClockSteppedBackHoldsTheSerial(t *testing.T) {
	c := newClock(1000, 0)
	tr := NewTracker(NewIssuer(c.now), zones)
	c.set(1010, 0)
	s1, _, _ := tr.Serial(1)
	c.set(1005, 0)
	if s, fresh, _ := tr.Serial(2); s != s1 || fresh {
		t.Fatalf("clock back 5 s: serial %d fresh %v, want %d held", s, fresh, s1)
	}
	if w := tr.Wait(); w != time.Second {
		t.Fatalf("Wait with the clock behind = %s, want a second", w)
	}
	c.set(1011, 0)
	if s, fresh, _ := tr.Serial(2); s != 1011 || !fresh {
		t.Fatalf("clock caught up: %d fresh %v", s, fresh)
	}
}

func TestConcurrentReadersAgree(t *testing.T) {
	c := newClock(1000, 0)
	tr := NewTracker(NewIssuer(c.now), zones)
	c.set(1001, 0)
	var wg sync.WaitGroup
	got := make([]uint32, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _, _ = tr.Serial(3) }()
	}
	wg.Wait()
	for _, s := range got {
		if s != 1001 {
			t.Fatalf("concurrent readers of one generation got %v", got)
		}
	}
}
