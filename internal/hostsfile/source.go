package hostsfile

import (
	"context"
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
	sink   index.Sink
	loaded atomic.Bool
}

// NewSource serves the file at path (absolute) under the identity name.
// poll is the stat-poll interval that backs up fsnotify; 0 turns it off.
func NewSource(path, name string, poll time.Duration, sink index.Sink) *Source {
	return &Source{path: path, name: name, poll: poll, sink: sink}
}

// Run loads the file, then follows it until ctx is cancelled.
func (s *Source) Run(ctx context.Context) {
	w := NewWatcher([]string{s.path}, s.poll, s.apply)
	w.Start()
	s.loaded.Store(true) // Start has delivered the first read
	<-ctx.Done()
	w.Stop()
}

// Synced reports whether the file has been read (or found missing) once.
func (s *Source) Synced() bool { return s.loaded.Load() }

// apply turns a watcher update into the file's table in the index, keeping
// the last good table when the file could not be read.
func (s *Source) apply(u Update) {
	switch {
	case u.Err != nil:
		readFailures.WithLabelValues(s.name).Inc()
		log.Warningf("Reading %s failed, still serving its last good records: %v", u.Path, u.Err)
		return
	case u.Missing:
		log.Warningf("Hosts file %s does not exist; it is served as soon as it appears", u.Path)
	}
	if u.Stats.Skipped > 0 {
		log.Infof("Skipped %d invalid lines or names in %s", u.Stats.Skipped, u.Path)
	}
	skippedLines.WithLabelValues(s.name).Set(float64(u.Stats.Skipped))
	s.sink.Replace(u.Hosts)
}
