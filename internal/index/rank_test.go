package index

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSRVRankDefaultsAndLabels(t *testing.T) {
	x := New([]string{"docker."})
	a := host("c1", []string{"api-1", "api"}, "10.0.0.1")
	a.ReverseNames = []string{"api-1"}
	a.Services = []Service{{Name: "http", Proto: "tcp", Port: 80}}
	b := host("c2", []string{"api-2", "api"}, "10.0.0.2")
	b.ReverseNames = []string{"api-2"}
	b.Services = []Service{{Name: "http", Proto: "tcp", Port: 80, Rank: Rank{Priority: 20, Weight: 0, Set: true}}}
	x.Upsert(docker, a)
	x.Upsert(docker, b)
	e := x.Load().Lookup("_http._tcp.api.docker.")
	if e == nil || len(e.SRV) != 2 {
		t.Fatalf("got %+v, want two SRV records", e)
	}
	want := map[string][2]uint16{"api-1.docker.": {10, 10}, "api-2.docker.": {20, 0}}
	for _, s := range e.SRV {
		if w := want[s.Target]; s.Priority != w[0] || s.Weight != w[1] {
			t.Errorf("%s: priority %d weight %d, want %v", s.Target, s.Priority, s.Weight, w)
		}
	}
	// A new weight alone is a change (a new slice: sources never change
	// a host they handed in).
	b.Services = []Service{{Name: "http", Proto: "tcp", Port: 80, Rank: Rank{Priority: 20, Weight: 5, Set: true}}}
	if !x.Upsert(docker, b) {
		t.Fatal("a new weight must publish")
	}
}

func TestTTLOfSharedNameIsTheSmallest(t *testing.T) {
	const block = 30
	x := New([]string{"docker."})
	a := host("c1", []string{"web-1", "web"}, "10.0.0.1")
	a.TTL, a.HasTTL = 60, true
	a.TXT = []TXT{{Key: "info", Strings: []string{"a"}}}
	x.Upsert(docker, a)
	s := x.Load()
	for n, want := range map[string]uint32{"web-1.docker.": 60, "web.docker.": 60, "info.web.docker.": 60} {
		if e := s.Lookup(n); e == nil || e.TTL(block) != want {
			t.Errorf("%s: TTL %v, want %d", n, e, want)
		}
	}

	b := host("c2", []string{"web-2", "web"}, "10.0.0.2")
	b.TTL, b.HasTTL = 7, true
	x.Upsert(docker, b)
	if e := x.Load().Lookup("web.docker."); e.TTL(block) != 7 {
		t.Errorf("web with TTLs 60 and 7: %d, want 7", e.TTL(block))
	}
	// A member asking none counts as the block's TTL.
	c := host("c3", []string{"web"}, "10.0.0.3")
	x.Upsert(docker, c)
	x.Delete(docker, "c2")
	if e := x.Load().Lookup("web.docker."); e.TTL(block) != block {
		t.Errorf("web with TTLs 60 and the block's %d: %d", block, e.TTL(block))
	}
	if e := x.Load().Lookup("web-1.docker."); e.TTL(block) != 60 {
		t.Errorf("web-1 alone keeps its 60: %d", e.TTL(block))
	}
	// A TTL of 0 is asked for, not the default.
	a.TTL = 0
	if !x.Upsert(docker, a) {
		t.Fatal("a new TTL must publish")
	}
	if e := x.Load().Lookup("web.docker."); e.TTL(block) != 0 {
		t.Errorf("web with TTL 0 beside the block's: %d, want 0", e.TTL(block))
	}
	if e := x.Load().Lookup("web-3.docker."); e != nil {
		t.Errorf("unexpected %+v", e)
	}
}

func TestTTLBesideATable(t *testing.T) {
	x := New([]string{"docker."})
	tb := x.NewTableBuilder()
	tb.Add(netip.MustParseAddr("10.1.0.1"), [][]byte{[]byte("web")})
	x.SetTable(Source{Name: "hostsfile:/t", Priority: 0}, tb.Done())
	h := host("c1", []string{"web"}, "10.0.0.1")
	h.TTL, h.HasTTL = 60, true
	x.Upsert(docker, h)
	if e := x.Load().Lookup("web.docker."); e == nil || len(e.A) != 2 || e.TTL(30) != 30 {
		t.Fatalf("web from a table and a host asking 60: %+v, want both addresses at the block's 30", e)
	}
}

func TestSRVReachNamesItsHost(t *testing.T) {
	x := New([]string{"docker."})
	h := host("c1", []string{"db", "pg"}, "10.0.0.1")
	h.ReverseNames = []string{"db"}
	h.Services = []Service{
		{Name: "5432", Proto: "tcp", Port: 15432, Target: "host", Reach: ReachElsewhere},
		{Name: "5432", Proto: "tcp", Port: 5432, Reach: ReachNetworks},
	}
	x.Upsert(docker, h)
	e := x.Load().Lookup("_5432._tcp.pg.docker.")
	want := []SRV{
		{Target: "host.docker.", Port: 15432, Priority: 10, Weight: 10, Reach: ReachElsewhere, On: "db.docker."},
		{Target: "db.docker.", Port: 5432, Priority: 10, Weight: 10, Reach: ReachNetworks, On: "db.docker."},
	}
	if e == nil || !slices.Equal(e.SRV, want) {
		t.Fatalf("SRV %+v\nwant %+v", e, want)
	}
	// A host with no name of its own has no record whose clients depend
	// on its networks.
	n := host("c2", []string{"anon"}, "10.0.0.2")
	n.ReverseNames = nil
	n.Services = []Service{{Name: "80", Proto: "tcp", Port: 80, Target: "host", Reach: ReachElsewhere}}
	x.Upsert(docker, n)
	if e := x.Load().Lookup("_80._tcp.anon.docker."); e != nil {
		t.Errorf("got %+v", e)
	}
}
