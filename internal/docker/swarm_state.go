package docker

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/moby/moby/api/types/swarm"
)

// swarmState is the swarm as last read from a manager, kept so that a poll
// that changed nothing costs a map lookup per task and no allocation.
type swarmState struct {
	nodes     map[string]swarmNode
	nodeOrder []string // node IDs, sorted: SRV records in a stable order
	networks  map[string]swarmNetwork
	services  map[string]swarmService
	tasks     map[string]*swarmTask          // served tasks by ID
	byService map[string]map[string]struct{} // service ID -> its served tasks
	byAddr    map[netip.Addr]string          // task address -> the task holding it
	dirty     map[string]struct{}            // services whose host to rebuild at flush
	excluded  map[string]struct{}            // services left out by their labels
	pollGen   uint64                         // marks the tasks seen by the current poll
	// before are the tasks of the state a full sync is replacing, while it
	// runs: what keepHostPorts remembers.
	before map[string]*swarmTask
}

func (st *swarmState) init() {
	st.nodes = make(map[string]swarmNode)
	st.networks = make(map[string]swarmNetwork)
	st.services = make(map[string]swarmService)
	st.tasks = make(map[string]*swarmTask)
	st.byService = make(map[string]map[string]struct{})
	st.byAddr = make(map[netip.Addr]string)
	st.dirty = make(map[string]struct{})
	st.excluded = make(map[string]struct{})
}

// publish hands h to the sink unless the sink already has it. Without a
// sink (a full sync being assembled) it only records h in served.
func (s *SwarmSource) publish(h index.Host) {
	if old, ok := s.served[h.ID]; ok && old.Equal(h) {
		return
	}
	s.served[h.ID] = h
	if s.sink != nil {
		s.sink.Upsert(h)
	}
}

func (s *SwarmSource) withdraw(id string) {
	if _, ok := s.served[id]; !ok {
		return
	}
	delete(s.served, id)
	if s.sink != nil {
		s.sink.Delete(id)
	}
}

// report logs a malformed label value once per source lifetime.
func (s *SwarmSource) report(what, problem string) {
	key := what + ": " + problem
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	log.Warningf("Swarm %s: %s", what, problem)
}

// skip logs and counts an invalid name once per source lifetime.
func (s *SwarmSource) skip(what, name string) {
	key := what + " " + name
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	s.metrics.skippedNames.Inc()
	log.Warningf("Swarm %s %q: not a valid DNS name, not served", what, name)
}

// setNodes makes items the swarm's nodes. Published ports depend on the
// nodes, so any change rebuilds the services that publish ports.
func (s *SwarmSource) setNodes(items []swarm.Node) {
	st := &s.state
	changed := len(items) != len(st.nodes)
	present := make(map[string]struct{}, len(items))
	for _, n := range items {
		present[n.ID] = struct{}{}
		if old, ok := st.nodes[n.ID]; ok && old.version == n.Version.Index {
			continue
		}
		v, bad := nodeFrom(n)
		if bad != "" {
			s.skip("node", bad)
		}
		if old, ok := st.nodes[n.ID]; !ok || old != v {
			changed = true
		}
		st.nodes[n.ID] = v
		s.publish(nodeHost(n.ID, v))
	}
	for id := range st.nodes {
		if _, ok := present[id]; !ok {
			delete(st.nodes, id)
			s.withdraw(nodeHostPrefix + id)
			changed = true
		}
	}
	if !changed {
		return
	}
	st.nodeOrder = slices.Sorted(maps.Keys(st.nodes))
	for id, svc := range st.services {
		if len(svc.ingress) > 0 || s.hasHostPorts(id) {
			st.dirty[id] = struct{}{}
		}
	}
}

func (s *SwarmSource) hasHostPorts(service string) bool {
	for id := range s.state.byService[service] {
		if len(s.state.tasks[id].hostPorts) > 0 {
			return true
		}
	}
	return false
}

// setService records svc; a change of its names or mode republishes its
// tasks, whose names derive from the service's.
func (s *SwarmSource) setService(svc swarm.Service) {
	st := &s.state
	labels := parseLabels(svc.Spec.Labels, s.cfg.LabelPrefix)
	for _, p := range labels.problems {
		s.report("service "+svc.Spec.Name, p)
	}
	if !labels.enabled(s.cfg.OptIn) {
		s.removeService(svc.ID) // as if it did not exist
		st.excluded[svc.ID] = struct{}{}
		return
	}
	delete(st.excluded, svc.ID)
	old, known := st.services[svc.ID]
	if known && old.version == svc.Version.Index {
		return
	}
	v, skipped := serviceFrom(svc, labels, st.networks, s.cfg.Engine)
	for _, name := range skipped {
		s.skip("service name", name)
	}
	st.services[svc.ID] = v
	st.dirty[svc.ID] = struct{}{}
	if known && !sameTaskRecords(old, v) {
		for id := range st.byService[svc.ID] {
			s.publishTask(id, *st.tasks[id], v)
		}
	}
}

// sameTaskRecords reports whether a and b give their tasks the same hosts.
func sameTaskRecords(a, b swarmService) bool {
	return a.dnsrr == b.dnsrr && slices.Equal(a.names, b.names) && a.ttl == b.ttl && a.hasTTL == b.hasTTL &&
		a.wildcard == b.wildcard && slices.Equal(a.services, b.services) && slices.EqualFunc(a.aliases, b.aliases, func(x, y aliasGroup) bool {
		return slices.Equal(x.networks, y.networks) && slices.Equal(x.names, y.names)
	})
}

// publishTask publishes the hosts of task id: its own and its aliases'.
func (s *SwarmSource) publishTask(id string, t swarmTask, svc swarmService) {
	own := taskHost(id, t, svc)
	s.publishWithAliases(own, taskAliasHosts(t, svc, own))
}

// publishWithAliases publishes own and its alias hosts, and withdraws the
// alias hosts own had beyond them.
func (s *SwarmSource) publishWithAliases(own index.Host, aliases []index.Host) {
	s.publish(own)
	for _, h := range aliases {
		s.publish(h)
	}
	s.withdrawAliases(own.ID, len(aliases)+1)
}

// withdrawAliases withdraws the alias hosts of base from the from-th on.
func (s *SwarmSource) withdrawAliases(base string, from int) {
	for i := from; ; i++ {
		id := aliasHostID(base, i)
		if _, ok := s.served[id]; !ok {
			return
		}
		s.withdraw(id)
	}
}

// removeService withdraws a service and its tasks.
func (s *SwarmSource) removeService(id string) {
	st := &s.state
	if _, ok := st.services[id]; !ok {
		return
	}
	for task := range st.byService[id] {
		s.removeTask(task)
	}
	delete(st.services, id)
	delete(st.dirty, id)
	s.withdraw(serviceHostPrefix + id)
	s.withdrawAliases(serviceHostPrefix+id, 1)
}

// setTask serves a running task of a known service. A task holding one of
// its addresses is stale (its address went to this one): it goes first.
func (s *SwarmSource) setTask(t swarm.Task) {
	st := &s.state
	old := st.tasks[t.ID]
	if old != nil && old.version == t.Version.Index {
		old.seen = st.pollGen
		return
	}
	svc := st.services[t.ServiceID]
	v := taskFrom(t, svc, s.cfg.Engine)
	keepHostPorts(&v, old, st.before[t.ID])
	v.seen = st.pollGen
	v.nodeAddr = st.nodes[v.nodeID].addr
	for _, a := range v.addrs {
		if holder, ok := st.byAddr[a.IP]; ok && holder != t.ID {
			s.removeTask(holder)
		}
	}
	if old != nil {
		s.unindexTask(t.ID, old)
		if len(old.hostPorts) > 0 || old.nodeID != v.nodeID {
			st.dirty[old.serviceID] = struct{}{}
		}
	} else if s.sink != nil && v.runningSince > 0 {
		lag := max(0, time.Since(time.Unix(0, v.runningSince)).Seconds())
		s.metrics.taskLag.Observe(lag)
		s.metrics.programmed.Observe(lag)
	}
	st.tasks[t.ID] = &v
	byService := st.byService[v.serviceID]
	if byService == nil {
		byService = make(map[string]struct{})
		st.byService[v.serviceID] = byService
	}
	byService[t.ID] = struct{}{}
	for _, a := range v.addrs {
		st.byAddr[a.IP] = t.ID
	}
	if len(v.hostPorts) > 0 {
		st.dirty[v.serviceID] = struct{}{}
	}
	s.publishTask(t.ID, v, svc)
}

// removeTask withdraws a task, if it is served.
func (s *SwarmSource) removeTask(id string) {
	st := &s.state
	t := st.tasks[id]
	if t == nil {
		return
	}
	s.unindexTask(id, t)
	delete(st.tasks, id)
	if tasks := st.byService[t.serviceID]; tasks != nil {
		delete(tasks, id)
		if len(tasks) == 0 {
			delete(st.byService, t.serviceID)
		}
	}
	if len(t.hostPorts) > 0 {
		st.dirty[t.serviceID] = struct{}{}
	}
	s.withdraw(taskHostPrefix + id)
	s.withdrawAliases(taskHostPrefix+id, 1)
}

func (s *SwarmSource) unindexTask(id string, t *swarmTask) {
	for _, a := range t.addrs {
		if s.state.byAddr[a.IP] == id {
			delete(s.state.byAddr, a.IP)
		}
	}
}

// applyTasks applies a task list of one service (or, service "", of the
// whole swarm): served tasks missing from it, or no longer running, go
// first; then new and changed tasks are served.
func (s *SwarmSource) applyTasks(items []swarm.Task, service string) {
	st := &s.state
	st.pollGen++
	for i := range items {
		t := &items[i]
		if old := st.tasks[t.ID]; old != nil && serves(*t) && (service == "" || t.ServiceID == service) {
			old.seen = st.pollGen
		}
	}
	if service == "" {
		for id, t := range st.tasks {
			if t.seen != st.pollGen {
				s.removeTask(id)
			}
		}
	} else {
		for id := range st.byService[service] {
			if st.tasks[id].seen != st.pollGen {
				s.removeTask(id)
			}
		}
	}
	for i := range items {
		t := &items[i]
		if service != "" && t.ServiceID != service {
			continue
		}
		if _, known := st.services[t.ServiceID]; known && serves(*t) {
			s.setTask(*t)
		}
	}
}

// flush rebuilds the hosts of the services changed since the last flush.
func (s *SwarmSource) flush() {
	st := &s.state
	for id := range st.dirty {
		svc, ok := st.services[id]
		if !ok {
			continue
		}
		var tasks []swarmTask
		if s.hasHostPorts(id) {
			for _, tid := range slices.Sorted(maps.Keys(st.byService[id])) {
				tasks = append(tasks, *st.tasks[tid])
			}
		}
		own := serviceHost(id, svc, tasks, st.nodes, st.nodeOrder)
		s.publishWithAliases(own, serviceAliasHosts(svc, own))
	}
	clear(st.dirty)
	s.updateGauges()
}

func (s *SwarmSource) updateGauges() {
	services, tasks, nodes := float64(len(s.state.services)), float64(len(s.state.tasks)), float64(len(s.state.nodes))
	s.setGauges(func(m swarmMetrics) {
		m.services.Set(services)
		m.tasks.Set(tasks)
		m.nodes.Set(nodes)
	})
}
