package dockerhosts

import (
	"context"
	"sync"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/docker"
	"github.com/dockerhosts/dockerhosts/internal/hostsfile"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// source is the one shape of every producer of hosts (a hosts file, a Docker
// engine): it writes to the sink it was built with from Run until ctx is
// cancelled, and says once it has loaded (or, for an engine, is known to be
// down). A new kind of source is new files behind this contract plus one
// entry in compose.
type source interface {
	Run(ctx context.Context)
	Synced() bool
}

// Priorities in the index: hosts files are operator overrides, their names
// hide Docker's.
const (
	hostsFilePriority = 10
	dockerPriority    = 0
)

// sources are the running sources of one plugin instance, from OnStartup to
// OnShutdown.
type sources struct {
	list   []source
	cancel context.CancelFunc
	done   sync.WaitGroup
	// changes has a value after any source changed the index: the
	// notifier's signal.
	changes chan struct{}
}

// hostsFileLimits are the limits the Corefile gives hosts files.
func (cfg *config) hostsFileLimits() hostsfile.Limits {
	l := hostsfile.DefaultLimits
	if cfg.maxLineSize > 0 {
		l.LineBytes = cfg.maxLineSize
	}
	if cfg.maxFileSize > 0 {
		l.FileBytes = cfg.maxFileSize
	}
	return l
}

// compose builds the sources of cfg over idx. It is the only place that
// gives a source its identity and priority in the index.
func compose(cfg *config, idx *index.Index) (*sources, error) {
	s := &sources{changes: make(chan struct{}, 1)}
	for _, path := range cfg.hostsFiles {
		name := "hostsfile:" + path
		sink := meteredSink{idx, index.Source{Name: name, Priority: hostsFilePriority}, s.changes}
		src := hostsfile.NewSource(path, name, cfg.reload, sink)
		src.SetLimits(cfg.hostsFileLimits())
		s.list = append(s.list, src)
	}
	for _, e := range cfg.engines {
		// The engine's swarm, served while the engine is a swarm manager,
		// answers for its tasks; their containers are left to it.
		var tasks *docker.SwarmTasks
		if !e.noSwarm {
			tasks = docker.NewSwarmTasks()
		}
		sink := meteredSink{idx, index.Source{Name: "docker:" + e.name, Priority: dockerPriority}, s.changes}
		src, err := docker.New(docker.Config{
			Engine: e.name, Endpoint: e.endpoint, HostAddrs: e.hostAddrs,
			TLSCert: e.tlsCert, TLSKey: e.tlsKey, TLSCA: e.tlsCA,
			Resync: cfg.resync, OptIn: cfg.optIn, LabelPrefix: cfg.labels, NoShortID: cfg.noShortID,
			NameTemplates: cfg.templates, HostMode: cfg.hostMode, SwarmTasks: tasks, Health: !cfg.noHealth,
		}, sink)
		if err != nil {
			return nil, err
		}
		s.list = append(s.list, src)
		if e.noSwarm {
			continue
		}
		swarmSink := meteredSink{idx, index.Source{Name: "swarm:" + e.name, Priority: dockerPriority}, s.changes}
		sw, err := docker.NewSwarm(docker.SwarmConfig{Engine: e.name, Resync: cfg.resync, OptIn: cfg.optIn, LabelPrefix: cfg.labels,
			Endpoints: swarmEndpoints(e), Tasks: tasks}, swarmSink)
		if err != nil {
			return nil, err
		}
		s.list = append(s.list, sw)
	}
	return s, nil
}

// swarmEndpoints are the managers an engine's swarm is followed through:
// the engine itself, then its swarm_managers, with the engine's TLS.
func swarmEndpoints(e *engineConfig) []docker.Config {
	out := []docker.Config{{Endpoint: e.endpoint, TLSCert: e.tlsCert, TLSKey: e.tlsKey, TLSCA: e.tlsCA}}
	for _, m := range e.managers {
		out = append(out, docker.Config{Endpoint: m, TLSCert: e.tlsCert, TLSKey: e.tlsKey, TLSCA: e.tlsCA})
	}
	return out
}

// startupWait bounds how long start waits for the sources' first load, so
// that the first queries after a (re)start already find the names; a slow or
// dead engine delays CoreDNS by at most this.
const startupWait = time.Second

// start runs every source until stop, and returns once all have loaded
// once, or after startupWait.
func (s *sources) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, src := range s.list {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			src.Run(ctx)
		}()
	}
	deadline := time.Now().Add(startupWait)
	for !s.ready() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return nil
}

// stop cancels every source and returns once all have stopped.
func (s *sources) stop() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.done.Wait()
	return nil
}

// ready is true once every source has loaded once.
func (s *sources) ready() bool {
	for _, src := range s.list {
		if !src.Synced() {
			return false
		}
	}
	return true
}

// meteredSink is the index as one source sees it: every change is counted
// under the source's name, and signalled on changes.
type meteredSink struct {
	idx     *index.Index
	src     index.Source
	changes chan<- struct{}
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

// NewTableBuilder starts a table for a hosts file (index.Tabler).
func (m meteredSink) NewTableBuilder() *index.TableBuilder {
	return m.idx.NewTableBuilder()
}

// SetTable takes a hosts file loaded whole (index.Tabler).
func (m meteredSink) SetTable(t *index.Table) {
	m.idx.SetTable(m.src, t)
	m.changed()
}

// Patch takes an edit of a hosts file loaded whole (index.Tabler).
func (m meteredSink) Patch(kill, revive []int32, remove []string, add []index.Host) {
	m.idx.Patch(m.src, kill, revive, remove, add)
	m.changed()
}

func (m meteredSink) changed() {
	entries.WithLabelValues(m.src.Name).Set(float64(m.idx.Count(m.src.Name)))
	updates.WithLabelValues(m.src.Name).Inc()
	lastUpdate.WithLabelValues(m.src.Name).SetToCurrentTime()
	select {
	case m.changes <- struct{}{}:
	default: // one pending signal covers every change before it is taken
	}
}
