//go:build linux

package dockerhosts

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// answerWatch asks a resolver one name's A records every watchEvery, from
// this host, and keeps each change of the answer with when it was first
// seen: when a task's address came into the answers, and whether anything
// left them meanwhile.
type answerWatch struct {
	mu      sync.Mutex
	changes []answerChange
	stop    chan struct{}
	done    chan struct{}
}

type answerChange struct {
	at    time.Time
	addrs []string // sorted
}

// watchEvery is the watch's resolution, and its cost: 100 queries a second.
const watchEvery = 10 * time.Millisecond

// watchA starts watching name at server (host:port) until t ends.
func watchA(t *testing.T, server, name string) *answerWatch {
	w := &answerWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go w.run(server, dns.Fqdn(name))
	t.Cleanup(func() { close(w.stop); <-w.done })
	// The first answer, so that every later change is a change.
	deadline := time.Now().Add(5 * time.Second)
	for len(w.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no answer for %s from %s", name, server)
		}
		time.Sleep(watchEvery)
	}
	return w
}

func (w *answerWatch) run(server, name string) {
	defer close(w.done)
	c := &dns.Client{Timeout: time.Second}
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		if r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), server); err == nil {
			w.note(time.Now(), answerA(r))
		}
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

func (w *answerWatch) note(at time.Time, addrs []string) {
	if addrs == nil {
		addrs = []string{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.changes); n == 0 || !slices.Equal(w.changes[n-1].addrs, addrs) {
		w.changes = append(w.changes, answerChange{at: at, addrs: addrs})
	}
}

func (w *answerWatch) all() []answerChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.changes)
}

// since returns the answers seen from at on: the one current at that time,
// then each change.
func (w *answerWatch) since(at time.Time) []answerChange {
	all := w.all()
	i, _ := slices.BinarySearchFunc(all, at, func(c answerChange, at time.Time) int { return c.at.Compare(at) })
	return all[max(0, i-1):]
}

// firstChangeAfter returns the first change seen after at.
func (w *answerWatch) firstChangeAfter(at time.Time) (answerChange, bool) {
	for _, c := range w.all() {
		if c.at.After(at) {
			return c, true
		}
	}
	return answerChange{}, false
}

// presentSince returns when addr last came into the answer, if it is in
// the current one.
func (w *answerWatch) presentSince(addr string) (time.Time, bool) {
	all := w.all()
	var since time.Time
	in := false
	for _, c := range all {
		switch has := slices.Contains(c.addrs, addr); {
		case has && !in:
			since, in = c.at, true
		case !has:
			in = false
		}
	}
	return since, in
}

// lagStats collects how long after a task ran its address was answered.
type lagStats struct {
	noted map[string]bool // task IDs already counted
	lags  []time.Duration
}

// note counts the tasks not counted yet, whose addresses w answers now;
// those that ran or were answered when w began are not counted (a
// manager may re-record a running task's status later, with a new time).
func (s *lagStats) note(t *testing.T, w *answerWatch, tasks []fleetTask) {
	t.Helper()
	if s.noted == nil {
		s.noted = map[string]bool{}
	}
	began := w.all()[0]
	for _, task := range tasks {
		if s.noted[task.id] {
			continue
		}
		if task.running.Before(began.at) || slices.Contains(began.addrs, task.addr) {
			s.noted[task.id] = true
			continue
		}
		// The caller saw it answered; the watch's next query sees it too.
		var since time.Time
		await.True(t, time.Second, fmt.Sprintf("the watch sees task %.12s at %s", task.id, task.addr), func() bool {
			var ok bool
			since, ok = w.presentSince(task.addr)
			return ok
		})
		s.noted[task.id] = true
		s.lags = append(s.lags, since.Sub(task.running))
	}
}

// report logs the median and the largest lag.
func (s *lagStats) report(t *testing.T, what string) {
	if len(s.lags) == 0 {
		return
	}
	lags := slices.Sorted(slices.Values(s.lags))
	t.Logf("%s: task running to answered, %d tasks: p50 %s, max %s (targets: p50 <= 1s, max <= 3s; watched every %s)",
		what, len(lags), lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond), watchEvery)
}
