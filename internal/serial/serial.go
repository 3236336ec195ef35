// Package serial derives the zones' SOA serials so that they only ever
// increase: across changes, across a Corefile reload (the new instance runs
// beside the old one for a moment) and across a restart of the process,
// without any state on disk.
//
// A serial is a Unix time in seconds, issued lazily: when a changed snapshot
// is first asked for its serial (an SOA answer, a transfer, a NOTIFY), it
// gets the current second, provided that second is newer than every serial
// issued for its zones so far. Serials are never ahead of the clock, so a
// restarted process, starting from the clock, can never go below what the
// previous one issued; it only has to wait for the next second to be sure of
// going above it. Changes within one second share the next second's serial:
// at most one new serial per second per zone, which is as often as a
// secondary such as Knot refreshes anyway.
//
// Comparisons use RFC 1982 serial arithmetic, so the wrap-around of 2106 is
// an increase as well.
package serial

import (
	"sync"
	"sync/atomic"
	"time"
)

// Less reports whether serial a comes before b in RFC 1982 serial
// arithmetic.
func Less(a, b uint32) bool { return a != b && int32(b-a) > 0 }

// Issuer hands out serials for zones, at most one per second per zone and
// never ahead of the clock. One process-wide Issuer (Default) is shared by
// every plugin instance, so the two instances of a reload issue from the
// same record of what was issued.
type Issuer struct {
	now   func() time.Time
	mu    sync.Mutex
	start uint32            // the clock second this process started in
	last  map[string]uint32 // zone -> last serial issued
}

// Default is the issuer of this process.
var Default = NewIssuer(time.Now)

// NewIssuer returns an issuer reading the clock now. It assumes a previous
// process may have issued serials up to the second it is created in.
func NewIssuer(now func() time.Time) *Issuer {
	return &Issuer{now: now, start: clockSerial(now()), last: map[string]uint32{}}
}

func clockSerial(t time.Time) uint32 { return uint32(t.Unix()) }

// latest is the newest serial that may already be out for zones: issued by
// this process, or, for a zone it has not issued for, by a previous process
// up to the second this one started in. Callers hold mu.
func (x *Issuer) latest(zones []string) uint32 {
	s := x.start
	for _, z := range zones {
		if l, ok := x.last[z]; ok && Less(s, l) {
			s = l
		}
	}
	return s
}

// issue returns a serial newer than any out for zones, and true; or, when
// the clock has not yet moved past them, the newest one out and false.
func (x *Issuer) issue(zones []string) (uint32, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	latest := x.latest(zones)
	now := clockSerial(x.now())
	if !Less(latest, now) {
		return latest, false
	}
	for _, z := range zones {
		x.last[z] = now
	}
	return now, true
}

// next is when the clock moves to the second after serial s.
func next(s uint32, now time.Time) time.Duration {
	d := time.Unix(int64(s)+1, 0).Sub(now)
	if d < 0 || d > time.Second {
		// A wrapped serial or a clock stepped back: try again in a second.
		return time.Second
	}
	return d
}

// Tracker gives the generations of one index their serials, for the zones
// that index serves. Each plugin instance has its own.
type Tracker struct {
	issuer  *Issuer
	zones   []string
	current atomic.Pointer[issued] // the newest generation with a serial
	mu      sync.Mutex             // serialises issuing
}

type issued struct {
	gen    uint64
	serial uint32
}

// NewTracker returns a tracker for zones (lowercase FQDNs) that issues from
// x. Until the first generation gets its serial, the serial is the newest
// that may be out already: equal to what secondaries hold at worst, never
// below it.
func NewTracker(x *Issuer, zones []string) *Tracker {
	return &Tracker{issuer: x, zones: zones}
}

// Serial returns the serial of generation gen (generations only grow). Fresh
// is false when gen has no serial of its own yet, because its zones already
// got one in this clock second: the serial returned is then the previous one,
// and gen gets a new one once the clock moves on (Wait says when). Stale is
// true when a newer generation than gen has a serial already: whoever needs
// the data and the serial to match (a transfer) must load the newer one.
func (t *Tracker) Serial(gen uint64) (serial uint32, fresh, stale bool) {
	if c := t.current.Load(); c != nil {
		switch {
		case c.gen == gen:
			return c.serial, true, false
		case c.gen > gen:
			return c.serial, false, true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.current.Load(); c != nil && c.gen >= gen {
		return c.serial, c.gen == gen, c.gen > gen
	}
	s, ok := t.issuer.issue(t.zones)
	if ok {
		t.current.Store(&issued{gen: gen, serial: s})
	}
	return s, ok, false
}

// Wait is how long until a generation that is not fresh can get its serial.
func (t *Tracker) Wait() time.Duration {
	t.issuer.mu.Lock()
	defer t.issuer.mu.Unlock()
	return next(t.issuer.latest(t.zones), t.issuer.now())
}
