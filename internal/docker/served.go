package docker

import "slices"

// tracked is what the source remembers of a served container: enough to
// account its names and log its problems once. The sink keeps the records.
type tracked struct {
	name     string
	claims   []nameClaim
	reported []string // problems already logged for this container
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
	s.containers[id] = tracked{
		name:     r.name,
		claims:   r.claims,
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
		nameConflictsTotal.Inc()
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
	if len(r.skipped) == 0 && len(r.badSRV) == 0 {
		return nil
	}
	now := make([]string, 0, len(r.skipped)+len(r.badSRV))
	for _, name := range r.skipped {
		key := "name " + name
		now = append(now, key)
		if !slices.Contains(reported, key) {
			skippedNamesTotal.Inc()
			log.Warningf("Container %q (%.12s): skipping name %q: not a valid DNS name", r.name, r.host.ID, name)
		}
	}
	for _, bad := range r.badSRV {
		key := "srv " + bad
		now = append(now, key)
		if !slices.Contains(reported, key) {
			log.Warningf("Container %q (%.12s): skipping %s entry %s", r.name, r.host.ID, labelSRV, bad)
		}
	}
	return now
}
