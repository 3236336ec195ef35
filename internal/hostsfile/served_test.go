package hostsfile

import (
	"fmt"
	"sort"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// served is what a consumer of Updates serves for one file, as hosts by ID:
// a table's hosts are "#<index>", patched hosts their own IDs.
type served struct {
	base  *index.Table
	hosts map[string]index.Host
}

// apply changes s as a consumer would; it panics when the update does not
// fit what s serves (a host removed that is absent, added that is present).
func (s *served) apply(u Update) {
	switch {
	case u.Err != nil:
		return
	case u.Missing:
		*s = served{}
		return
	case u.Table != nil:
		s.base, s.hosts = u.Table, map[string]index.Host{}
		for i := range int32(u.Table.Hosts()) {
			s.hosts[baseID(i)] = tableHost(u.Table, i)
		}
	}
	if s.hosts == nil {
		s.hosts = map[string]index.Host{}
	}
	for _, i := range u.Kill {
		if _, ok := s.hosts[baseID(i)]; !ok {
			panic(fmt.Sprintf("update kills table host %d, which is not served", i))
		}
		delete(s.hosts, baseID(i))
	}
	for _, i := range u.Revive {
		if _, ok := s.hosts[baseID(i)]; ok {
			panic(fmt.Sprintf("update revives table host %d, which is served", i))
		}
		s.hosts[baseID(i)] = tableHost(s.base, i)
	}
	for _, id := range u.Removed {
		if _, ok := s.hosts[id]; !ok {
			panic(fmt.Sprintf("update removes host %q, which is not served", id))
		}
		delete(s.hosts, id)
	}
	for _, h := range u.Hosts {
		if _, ok := s.hosts[h.ID]; ok {
			panic(fmt.Sprintf("update adds host %+v, which is served", h))
		}
		s.hosts[h.ID] = h
	}
}

// list is the served hosts ordered by first name.
func (s *served) list() []index.Host {
	out := make([]index.Host, 0, len(s.hosts))
	for _, h := range s.hosts {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Names[0] < out[j].Names[0] })
	return out
}

func baseID(i int32) string { return fmt.Sprintf("#%d", i) }

func tableHost(t *index.Table, i int32) index.Host {
	h := index.Host{ID: baseID(i), Addrs: []index.Addr{{IP: t.Addr(i)}}}
	t.HostNames(i, func(n []byte) { h.Names = append(h.Names, string(n)) })
	h.ReverseNames = h.Names
	return h
}
