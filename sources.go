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

// The kinds of source compose makes, as their index.SourceID says.
const (
	hostsFileKind = "hostsfile"
	dockerKind    = "docker" // an engine's containers
	swarmKind     = "swarm"  // an engine's swarm: services, tasks, nodes
)

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

// newSources are the sources of idx, none yet: from now on every change
// to idx is counted and signalled.
func newSources(idx *index.Index) *sources {
	s := &sources{changes: make(chan struct{}, 1)}
	idx.OnChange(s.changed)
	return s
}

// changed hears of each change a source made to the index (index.OnChange):
// it is counted under the source's identity, and signalled on changes.
func (s *sources) changed(src index.SourceID, hosts int) {
	label := src.String()
	entries.WithLabelValues(label).Set(float64(hosts))
	updates.WithLabelValues(label).Inc()
	lastUpdate.WithLabelValues(label).SetToCurrentTime()
	select {
	case s.changes <- struct{}{}:
	default: // one pending signal covers every change before it is taken
	}
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
// gives a source its identity (kind and name) and priority in the index.
func compose(cfg *config, idx *index.Index) (*sources, error) {
	s := newSources(idx)
	for _, path := range cfg.hostsFiles {
		id := index.Source{Kind: hostsFileKind, Name: path, Priority: hostsFilePriority}
		src := hostsfile.NewSource(path, id.ID().String(), cfg.reload, idx.For(id))
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
		sink := idx.For(index.Source{Kind: dockerKind, Name: e.name, Priority: dockerPriority})
		src, err := docker.New(docker.Config{
			Engine: e.name, Endpoint: e.endpoint, HostAddrs: e.hostAddrs,
			TLSCert: e.tlsCert, TLSKey: e.tlsKey, TLSCA: e.tlsCA,
			Resync: cfg.resync, OptIn: cfg.optIn, LabelPrefix: cfg.labels, NoShortID: cfg.noShortID,
			NameTemplates: cfg.templates, HostMode: cfg.hostMode, SwarmTasks: tasks, Health: !cfg.noHealth,
			Zones: cfg.zones, TraefikProxy: cfg.traefikProxy, TraefikOptIn: cfg.traefikOptIn,
		}, sink)
		if err != nil {
			return nil, err
		}
		s.list = append(s.list, src)
		if e.noSwarm {
			continue
		}
		swarmSink := idx.For(index.Source{Kind: swarmKind, Name: e.name, Priority: dockerPriority})
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
