package dockerhosts

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"

	"github.com/dockerhosts/dockerhosts/internal/docker"
	"github.com/dockerhosts/dockerhosts/internal/hostsfile"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// Hosts files are operator overrides: their names hide Docker's.
const hostsFilePriority = 10

// sources runs the hosts-file watcher and the Docker source of one plugin
// instance, from OnStartup to OnShutdown.
type sources struct {
	cfg  *config
	idx  *index.Index

	filesLoaded atomic.Bool
	watcher     *hostsfile.Watcher
	docker      atomic.Pointer[docker.Source]
	cancel      context.CancelFunc
	done        sync.WaitGroup
}

func newSources(cfg *config, idx *index.Index) *sources {
	return &sources{cfg: cfg, idx: idx}
}

func (s *sources) start() error {
	if len(s.cfg.hostsFiles) > 0 {
		s.watcher = hostsfile.NewWatcher(s.cfg.hostsFiles, s.cfg.reload, s.applyFile)
		if err := s.watcher.Start(); err != nil {
			return plugin.Error(pluginName, err)
		}
		s.filesLoaded.Store(true)
	}
	if d := s.cfg.docker; d != nil {
		src, err := docker.New(docker.Config{
			Endpoint: d.endpoint, TLSCert: d.tlsCert, TLSKey: d.tlsKey, TLSCA: d.tlsCA,
			Resync: d.resync, OptIn: d.optIn,
		}, meteredSink{s.idx, index.Source{Name: "docker"}})
		if err != nil {
			s.stop()
			return plugin.Error(pluginName, err)
		}
		s.docker.Store(src)
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			src.Run(ctx)
		}()
	}
	return nil
}

func (s *sources) stop() error {
	if s.watcher != nil {
		s.watcher.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.done.Wait()
	return nil
}

// ready is true once every configured source has loaded once.
func (s *sources) ready() bool {
	if len(s.cfg.hostsFiles) > 0 && !s.filesLoaded.Load() {
		return false
	}
	if s.cfg.docker != nil {
		d := s.docker.Load()
		return d != nil && d.Synced()
	}
	return true
}

// applyFile turns a watcher update into the file's table in the index,
// keeping the last good table when the file could not be read.
func (s *sources) applyFile(u hostsfile.Update) {
	src := index.Source{Name: "hostsfile:" + u.Path, Priority: hostsFilePriority}
	switch {
	case u.Err != nil:
		readFailures.WithLabelValues(src.Name).Inc()
		log.Warningf("Reading %s failed, still serving its last good records: %v", u.Path, u.Err)
		return
	case u.Missing:
		log.Warningf("Hosts file %s does not exist; it is served as soon as it appears", u.Path)
	}
	if u.Stats.Skipped > 0 {
		log.Infof("Skipped %d invalid lines or names in %s", u.Stats.Skipped, u.Path)
	}
	skippedLines.WithLabelValues(src.Name).Set(float64(u.Stats.Skipped))
	meteredSink{s.idx, src}.Replace(u.Hosts)
}

// meteredSink is the index as one source sees it: every change is counted.
type meteredSink struct {
	idx *index.Index
	src index.Source
}

func (m meteredSink) Replace(hosts []index.Host) {
	m.idx.Replace(m.src, hosts)
	m.changed()
}

func (m meteredSink) Upsert(h index.Host) bool {
	changed := m.idx.Upsert(m.src, h)
	if changed {
		m.changed()
	}
	return changed
}

func (m meteredSink) Delete(id string) bool {
	changed := m.idx.Delete(m.src, id)
	if changed {
		m.changed()
	}
	return changed
}

func (m meteredSink) changed() {
	entries.WithLabelValues(m.src.Name).Set(float64(m.idx.Count(m.src.Name)))
	updates.WithLabelValues(m.src.Name).Inc()
	lastUpdate.WithLabelValues(m.src.Name).SetToCurrentTime()
}
