package docker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// apply brings one container up to date with the engine: the inspect result
// is the truth, whatever the event was, so replays, duplicates and
// reordering do no harm, and the cost does not depend on how many
// containers there are. One event is taken at its word: a live die with no
// start after it (exited) withdraws the container without an inspect.
func (s *Source) apply(ctx context.Context, id string, at int64, exited bool) error {
	kills := s.kills.take(id) // before the inspect: a later one queues id again
	var (
		r       record
		running bool
	)
	// An exited container is withdrawn without the inspect: Podman holds
	// it for ~200 ms of network cleanup after "died", an inspect waits for
	// that, and meanwhile its address may go to the next container. A start
	// brings it back by its own event. (A remote engine's clock ahead of
	// this one can pass a replayed die for a live one: the start after it
	// then serves it again.)
	if !exited {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		res, err := s.engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		switch {
		case containerGone(err):
		case err != nil:
			return fmt.Errorf("inspect container %.12s: %w", id, err)
		default:
			s.noteStops(id, kills, res.Container.Config)
			r, running = recordFor(res.Container, s.mapping())
		}
	}
	var changed bool
	if running {
		changed = s.upsert(r)
	} else {
		delete(s.stops, id)
		changed = s.remove(id)
	}
	if changed && at > 0 {
		lag := max(0, time.Since(time.Unix(0, at)).Seconds())
		s.metrics.lag.Observe(lag)
		s.metrics.programmed.Observe(lag)
	}
	return nil
}

func (s *Source) mapping() mapping {
	return mapping{
		engine: s.cfg.Engine, optIn: s.cfg.OptIn, labelPrefix: s.cfg.LabelPrefix, noShortID: s.cfg.NoShortID,
		templates: s.cfg.NameTemplates, hostMode: s.cfg.HostMode || s.rootless, hostAddrs: s.hostAddrs,
		outsideAll: s.outsideAll(),
		leaveTasks: s.cfg.SwarmTasks.Served(), health: s.cfg.Health, stops: s.stops,
		zones: s.cfg.Zones, traefikProxy: s.cfg.TraefikProxy, traefikOptIn: s.cfg.TraefikOptIn,
	}
}

// upsert hands r to the sink. It reports whether that changed anything
// (an event such as health_status usually does not).
func (s *Source) upsert(r record) bool {
	old := s.containers[r.host.ID].binds
	changed := s.put(r.host)
	s.track(r)
	s.rebind(old, r.binds)
	s.reroute(r)
	s.updateGauges()
	return changed
}

// remove withdraws a container, if it is served.
func (s *Source) remove(id string) bool {
	t, ok := s.containers[id]
	if !ok {
		return false
	}
	changed := s.drop(id)
	s.untrack(id)
	s.rebind(t.binds, nil)
	s.reroute(record{host: index.Host{ID: id}})
	s.updateGauges()
	return changed
}

// rebind moves a container's published-port addresses from old to now,
// serving a name for each specific host address while any container
// publishes on it.
func (s *Source) rebind(old, now []netip.Addr) {
	for _, a := range now {
		if s.binds[a]++; s.binds[a] == 1 {
			s.put(s.bindHost(a))
		}
	}
	for _, a := range old {
		if s.binds[a]--; s.binds[a] == 0 {
			delete(s.binds, a)
			s.drop(bindHostID(a))
		}
	}
}

// put hands h to the sink unless the sink already has it from us: a resync
// of an unchanged engine then takes no lock in the index, so another
// engine's events never wait behind it.
func (s *Source) put(h index.Host) bool {
	if old, ok := s.served[h.ID]; ok && old.Equal(h) {
		return false
	}
	s.served[h.ID] = h
	return s.sink.Upsert(h)
}

// bulkChanges is the number of changed hosts from which a resync hands the
// sink the whole view in one Replace (one index transaction, each touched
// name recomputed once) rather than host by host.
const bulkChanges = 64

// converge brings the sink to want, the engine's complete view: what
// vanished disappears, what changed is replaced, the rest costs a
// comparison and no call to the sink.
func (s *Source) converge(want map[string]index.Host) {
	changes := 0
	for id, h := range want {
		if old, ok := s.served[id]; !ok || !old.Equal(h) {
			changes++
		}
	}
	for id := range s.served {
		if _, ok := want[id]; !ok {
			changes++
		}
	}
	if changes >= bulkChanges {
		hosts := make([]index.Host, 0, len(want))
		for _, h := range want {
			hosts = append(hosts, h)
		}
		s.sink.Replace(hosts)
		s.served = want
		return
	}
	for id := range s.served {
		if _, ok := want[id]; !ok {
			s.drop(id)
		}
	}
	for _, h := range want {
		s.put(h)
	}
}

func (s *Source) drop(id string) bool {
	if _, ok := s.served[id]; !ok {
		return false
	}
	delete(s.served, id)
	return s.sink.Delete(id)
}

// fullSync lists the running containers, inspects each, and brings the
// sink to the result.
func (s *Source) fullSync(ctx context.Context, reason string) error {
	opts := client.ContainerListOptions{}
	if s.cfg.OptIn {
		opts.Filters = make(client.Filters).Add("label", s.mapping().prefix()+"."+labelEnable+"=true")
	}
	listCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	list, err := s.engine.ContainerList(listCtx, opts)
	cancel()
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	s.hostAddrs = s.engineHostAddrs(ctx) // host mode maps containers with them
	records, err := s.inspectAll(ctx, list.Items)
	if err != nil {
		return err
	}

	// The engine's complete view, applied as a difference with what is
	// served: what vanished disappears, what changed is replaced, the rest
	// costs a comparison.
	binds := make(map[netip.Addr]int)
	want := make(map[string]index.Host, len(records)+1)
	for i := range records {
		want[records[i].host.ID] = records[i].host
		for _, a := range records[i].binds {
			binds[a]++
		}
	}
	if h, ok := s.engineHost(); ok {
		want[h.ID] = h
	}
	for a := range binds {
		h := s.bindHost(a)
		want[h.ID] = h
	}
	s.routeAll(records, want)
	s.converge(want)
	s.binds = binds

	present := make(map[string]struct{}, len(records))
	for i := range records {
		present[records[i].host.ID] = struct{}{}
	}
	for id := range s.containers {
		if _, ok := present[id]; !ok {
			s.untrack(id)
		}
	}
	for id := range s.stops {
		if _, ok := present[id]; !ok {
			delete(s.stops, id)
		}
	}
	for i := range records {
		s.track(records[i])
	}
	s.updateGauges()
	s.metrics.resyncs.WithLabelValues(reason).Inc()
	return nil
}

// inspectAll inspects the listed containers with a few requests in flight
// and returns the records of those to serve. Containers removed since the
// list are skipped; any other error fails the sync.
func (s *Source) inspectAll(ctx context.Context, items []container.Summary) ([]record, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]record, len(items))
	serve := make([]bool, len(items))
	m := s.mapping()
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range min(syncWorkers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) || ctx.Err() != nil {
					return
				}
				reqCtx, reqCancel := context.WithTimeout(ctx, requestTimeout)
				res, err := s.engine.ContainerInspect(reqCtx, items[i].ID, client.ContainerInspectOptions{})
				reqCancel()
				switch {
				case containerGone(err):
				case err != nil:
					errOnce.Do(func() {
						firstErr = fmt.Errorf("inspect container %.12s: %w", items[i].ID, err)
						cancel()
					})
					return
				default:
					results[i], serve[i] = recordFor(res.Container, m)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := results[:0]
	for i := range results {
		if serve[i] {
			out = append(out, results[i])
		}
	}
	return out, nil
}

func (s *Source) updateGauges() {
	containers, names, states := len(s.containers), len(s.claims), s.states
	s.setGauges(func(m engineMetrics) {
		m.containers.Set(float64(containers))
		m.names.Set(float64(names))
		for i, n := range states {
			m.readiness[i].Set(float64(n))
		}
	})
}

// tracked is what the source remembers of a served container: enough to
// account its names and log its problems once. The sink keeps the records.
type tracked struct {
	name     string
	claims   []nameClaim
	state    readiness
	binds    []netip.Addr // specific host addresses it publishes ports on
	reported []string     // problems already logged for this container
}

// claim counts the containers serving one name. Most names have one
// claimant, so the set is built only when a second one arrives.
type claim struct {
	exclusive int                 // claimants holding the name as their own
	owner     string              // the only claimant while owners is nil
	owners    map[string]struct{} // all claimants once there are two or more
}

func (c claim) count() int {
	if c.owners != nil {
		return len(c.owners)
	}
	return 1
}

// conflict is a name some container holds as its own that another
// container serves too. Replicas sharing service.project are not one.
func (c claim) conflict() bool { return c.exclusive > 0 && c.count() > 1 }

// other returns a claimant other than id, for log lines.
func (c claim) other(id string) string {
	for o := range c.owners {
		if o != id {
			return o
		}
	}
	return ""
}

// track records r as served, updating name claims by difference with what
// the container claimed before: the work is proportional to the container's
// own names, never to the number of containers.
func (s *Source) track(r record) {
	id := r.host.ID
	old := s.containers[id]
	for _, oc := range old.claims {
		i := slices.IndexFunc(r.claims, func(nc nameClaim) bool { return nc.name == oc.name })
		switch {
		case i < 0:
			s.release(oc, id)
		case r.claims[i].exclusive != oc.exclusive:
			s.release(oc, id)
			s.claim(r.claims[i], id, r.name)
		}
	}
	for _, nc := range r.claims {
		if !slices.ContainsFunc(old.claims, func(oc nameClaim) bool { return oc.name == nc.name }) {
			s.claim(nc, id, r.name)
		}
	}
	if _, ok := s.containers[id]; ok {
		s.states[old.state]--
	}
	s.states[r.state]++
	s.containers[id] = tracked{
		name:     r.name,
		claims:   r.claims,
		state:    r.state,
		binds:    r.binds,
		reported: s.report(r, old.reported),
	}
}

// untrack forgets a container and releases its names.
func (s *Source) untrack(id string) {
	old, ok := s.containers[id]
	if !ok {
		return
	}
	for _, oc := range old.claims {
		s.release(oc, id)
	}
	s.states[old.state]--
	delete(s.containers, id)
}

func (s *Source) claim(nc nameClaim, id, containerName string) {
	c, ok := s.claims[nc.name]
	was := ok && c.conflict()
	if !ok {
		c.owner = id
	} else {
		if c.owners == nil {
			c.owners = map[string]struct{}{c.owner: {}}
			c.owner = ""
		}
		c.owners[id] = struct{}{}
	}
	if nc.exclusive {
		c.exclusive++
	}
	s.claims[nc.name] = c
	if !was && c.conflict() {
		s.metrics.conflicts.Inc()
		other := c.other(id)
		log.Warningf("Name %q is claimed by %d containers, among them %q (%.12s) and %q (%.12s); answering with all of them",
			nc.name, c.count(), containerName, id, s.containers[other].name, other)
	}
}

func (s *Source) release(nc nameClaim, id string) {
	c, ok := s.claims[nc.name]
	if !ok {
		return
	}
	if nc.exclusive {
		c.exclusive--
	}
	if c.owners == nil {
		delete(s.claims, nc.name)
		return
	}
	delete(c.owners, id)
	if len(c.owners) == 1 {
		for o := range c.owners {
			c.owner = o
		}
		c.owners = nil
	}
	s.claims[nc.name] = c
}

// report logs the problems of r not already logged for the container, and
// returns the problems now known.
func (s *Source) report(r record, reported []string) []string {
	if len(r.skipped) == 0 && len(r.badLabels) == 0 && len(r.problems) == 0 {
		return nil
	}
	now := make([]string, 0, len(r.skipped)+len(r.badLabels)+len(r.problems))
	for _, name := range r.skipped {
		key := "name " + name
		now = append(now, key)
		if !slices.Contains(reported, key) {
			s.metrics.skipped.Inc()
			log.Warningf("Container %q (%.12s): skipping name %q: not a valid DNS name", r.name, r.host.ID, name)
		}
	}
	for _, p := range r.badLabels {
		now = append(now, p)
		if !slices.Contains(reported, p) {
			s.metrics.skippedLabels.Inc()
			log.Warningf("Container %q (%.12s): skipping label %s", r.name, r.host.ID, p)
		}
	}
	for _, p := range r.problems {
		now = append(now, p)
		if !slices.Contains(reported, p) {
			log.Warningf("Container %q (%.12s): skipping %s", r.name, r.host.ID, p)
		}
	}
	return now
}
