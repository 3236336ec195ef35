package index

import (
	"runtime"
	"time"
)

// Pacer keeps a long change (a reload of a million names) from holding the
// CPU for whole scheduler slices: every half millisecond of work it yields.
// Queries never wait for the writer's lock, but on a server given one core
// they wait for the CPU.
//
// The zero Pacer is ready; one goroutine uses it.
type Pacer struct {
	n    int
	last time.Time
}

// paceWork is the work between yields.
const paceWork = 500 * time.Microsecond

// Tick counts one step of work and yields when the last yield is paceWork
// ago. A yield lets the runnable goroutines (queries being answered) run
// first.
//
// What it cannot do is let queries that are still in the socket in: the
// scheduler polls the network when nothing is runnable, or every 10 ms,
// and a writer that yields stays runnable. Sleeping instead (so that the
// scheduler runs dry and polls) was measured and dropped: a sleep shorter
// than the network poll's 1 ms granularity has fired by the time the
// scheduler looks, one longer slows every load, the first one too, by as
// much as it sleeps.
func (p *Pacer) Tick() {
	p.n++
	if p.n%32 != 0 {
		return
	}
	now := time.Now()
	if p.last.IsZero() {
		p.last = now
		return
	}
	if now.Sub(p.last) >= paceWork {
		runtime.Gosched()
		p.last = time.Now()
	}
}

// Yield yields now: after a step too large to count in ticks (zeroing a
// large allocation, a read of a megabyte).
func (p *Pacer) Yield() {
	runtime.Gosched()
	p.last = time.Now()
}
