package hostsfile

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// Source serves one hosts file through a sink: the dockerhosts source
// contract (Run until cancelled, Synced once loaded) over a Watcher.
type Source struct {
	path   string
	name   string // metrics label and log identity, given by the composer
	poll   time.Duration
	limits Limits
	sink   Sink
	loaded atomic.Bool
	// The limits' figures last logged, so a limit hit is said once, not on
	// every change of the file.
	longLogged, cutLogged int
}

// Sink is where a Source puts the file's hosts: the index, which takes the
// bulk of a file as a Table and its edits as patches.
type Sink = index.Tabler

// NewSource serves the file at path (absolute) under the identity name.
// poll is the stat-poll interval that backs up fsnotify; 0 turns it off.
func NewSource(path, name string, poll time.Duration, sink Sink) *Source {
	return &Source{path: path, name: name, poll: poll, limits: DefaultLimits, sink: sink}
}

// SetLimits replaces the default limits; call it before Run.
func (s *Source) SetLimits(l Limits) { s.limits = l }

// Run loads the file, then follows it until ctx is cancelled.
func (s *Source) Run(ctx context.Context) {
	w := NewWatcher([]string{s.path}, s.poll, s.apply)
	w.limits = s.limits
	w.newTable = s.sink.NewTableBuilder
	w.Start()
	s.loaded.Store(true) // Start has delivered the first read
	<-ctx.Done()
	w.Stop()
}

// Synced reports whether the file has been read (or found missing) once.
func (s *Source) Synced() bool { return s.loaded.Load() }

// apply turns a watcher update into a change of the file's table in the
// index, keeping the last good table when the file could not be read.
func (s *Source) apply(u Update) {
	switch {
	case u.Err != nil:
		readFailures.WithLabelValues(s.name).Inc()
		log.Warningf("Reading %s failed, still serving its last good records: %v", u.Path, u.Err)
		return
	case u.Missing:
		log.Warningf("Hosts file %s does not exist; it is served as soon as it appears", u.Path)
		s.sink.Replace(nil)
	case u.Table != nil:
		s.sink.SetTable(u.Table)
		if u.Table.Hosts() >= bigChange {
			// A load leaves as much garbage as the file holds names. The
			// first is handed back to the system before serving starts;
			// later, that would stall queries (returning memory holds up
			// the allocator), so a collection makes the old table's memory
			// reusable at once and the scavenger returns it in the
			// background. Once the watcher has dropped the update, that is.
			if !s.loaded.Load() {
				go debug.FreeOSMemory()
			} else {
				go runtime.GC()
			}
		}
	default:
		s.sink.Patch(u.Kill, u.Revive, u.Removed, u.Hosts)
	}
	if u.Stats.Skipped > 0 {
		log.Infof("Skipped %d invalid lines or names in %s", u.Stats.Skipped, u.Path)
	}
	skippedLines.WithLabelValues(s.name).Set(float64(u.Stats.Skipped))
	s.reportLimits(u)
}

// bigChange is the number of hosts in a first table at which the memory its
// load used is handed back to the system at once.
const bigChange = 50_000

// reportLimits logs a limit once when it starts (or stops) keeping names
// out, and keeps the dropped-names gauge current.
func (s *Source) reportLimits(u Update) {
	st := u.Stats
	droppedNames.WithLabelValues(s.name, "max_line_size").Set(float64(st.LongLineNames))
	droppedNames.WithLabelValues(s.name, "max_file_size").Set(float64(st.CutNames))
	if st.LongLines > 0 && st.LongLineNames != s.longLogged {
		log.Warningf("%s: %d lines are longer than %d bytes (max_line_size): skipped, %d names on them are not served",
			u.Path, st.LongLines, s.limits.LineBytes, st.LongLineNames)
	}
	if st.Truncated && st.CutNames != s.cutLogged {
		log.Warningf("%s is larger than %d bytes (max_file_size): read up to the last line within it, %d names after it are not served",
			u.Path, s.limits.FileBytes, st.CutNames)
	}
	s.longLogged, s.cutLogged = st.LongLineNames, st.CutNames
	if !st.Truncated {
		s.cutLogged = -1
	}
}
