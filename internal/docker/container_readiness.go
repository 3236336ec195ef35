package docker

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// readiness is whether a running container can take traffic. Its service
// names (aliases, compose service, label and template names) answer it only
// while it is ready; its identity names (container name, hostname, short ID)
// answer it whatever its readiness, as long as it runs.
type readiness uint8

const (
	ready     readiness = iota
	starting            // its HEALTHCHECK has not passed yet
	unhealthy           // its HEALTHCHECK fails
	stopping            // Docker was asked to stop it: withdrawn before it exits
	paused
	readinessStates
)

var readinessNames = [readinessStates]string{"ready", "starting", "unhealthy", "stopping", "paused"}

func (r readiness) String() string { return readinessNames[r] }

// readinessOf reads a running container's readiness from its inspected state.
// stopAt is the engine time of the last stop request seen for it (0: none):
// a request before the container's current start belongs to an earlier run.
func readinessOf(st *container.State, stopAt int64) readiness {
	switch {
	case st == nil:
		return ready
	case st.Paused:
		return paused
	case stopAt > 0 && stopAt >= startedAt(st):
		return stopping
	case st.Health == nil:
		return ready
	}
	switch st.Health.Status {
	case container.Starting:
		return starting
	case container.Unhealthy:
		return unhealthy
	}
	return ready
}

// startedAt is the container's start time in Unix nanoseconds, 0 when
// unknown (then every stop request seen counts).
func startedAt(st *container.State) int64 {
	t, err := time.Parse(time.RFC3339Nano, st.StartedAt)
	if err != nil || t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// stopRequest is a kill event: Docker signalling the container.
type stopRequest struct {
	signal string // as the event carries it: a number on Docker
	at     int64  // the event's engine time, Unix nanoseconds
}

// stopsTo says whether the signal stops c: its stop signal (a reload
// signal such as SIGHUP sent with docker kill -s does not) or SIGKILL.
func (k stopRequest) stopsTo(c *container.Config) bool {
	sig, ok := signalNumber(k.signal)
	if !ok {
		return false
	}
	stop := "SIGTERM"
	if c != nil && c.StopSignal != "" {
		stop = c.StopSignal
	}
	want, ok := signalNumber(stop)
	return sig == sigKILL || ok && sig == want
}

// kills hands the stop requests seen on the event stream to the goroutine
// that applies events; the stream never waits on it.
type kills struct {
	mu sync.Mutex
	by map[string][]stopRequest
}

func (k *kills) add(id string, r stopRequest) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.by == nil {
		k.by = make(map[string][]stopRequest)
	}
	k.by[id] = append(k.by[id], r)
}

// reset forgets every request: a new session's resync reads the state
// afresh, and requests whose events were lost with the old session's
// backlog would otherwise stay.
func (k *kills) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.by = nil
}

// take returns and forgets the requests seen for id.
func (k *kills) take(id string) []stopRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.by[id]
	delete(k.by, id)
	return r
}

// The engine runs Linux: signal numbers are Linux's whatever this
// machine's are.
const sigKILL = 9

var linuxSignals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
	"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
	"CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
	"VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}

// signalNumber parses a signal as Docker writes one: a number ("15"), a
// name ("SIGTERM", "TERM", any case), or a real-time one ("SIGRTMIN+3").
func signalNumber(s string) (int, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(s); err == nil {
		return n, n > 0 && n < 65
	}
	s = strings.TrimPrefix(s, "SIG")
	if n, ok := linuxSignals[s]; ok {
		return n, true
	}
	const rtmin, rtmax = 34, 64
	if s == "RTMIN" {
		return rtmin, true
	}
	if s == "RTMAX" {
		return rtmax, true
	}
	if rest, ok := strings.CutPrefix(s, "RTMIN+"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && rtmin+n <= rtmax {
			return rtmin + n, true
		}
	}
	if rest, ok := strings.CutPrefix(s, "RTMAX-"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && rtmax-n >= rtmin {
			return rtmax - n, true
		}
	}
	return 0, false
}

// noteKill keeps a container's kill event for apply, which alone knows
// (from its inspect) whether the signal stops the container.
func (s *Source) noteKill(ev events.Message) {
	if ev.Type == events.ContainerEventType && ev.Action == events.ActionKill && ev.Actor.ID != "" {
		s.kills.add(ev.Actor.ID, stopRequest{signal: ev.Actor.Attributes["signal"], at: ev.TimeNano})
	}
}

// noteStops remembers the latest of the kill events that stop the
// container: from then until it exits it is stopping.
func (s *Source) noteStops(id string, reqs []stopRequest, c *container.Config) {
	for _, k := range reqs {
		if k.stopsTo(c) && k.at > s.stops[id] {
			s.stops[id] = k.at
		}
	}
}
