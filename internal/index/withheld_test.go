package index

import (
	"net/netip"
	"slices"
	"testing"
)

// A container that is not ready withholds its service names: they exist
// with no records of its own, and answer the ready replicas' addresses.
func TestWithheldNameExistsWithoutRecords(t *testing.T) {
	x := New([]string{"docker."})
	starting := host("c1", []string{"app1"}, "10.0.0.1")
	starting.Withheld = []string{"web"}
	starting.Services = []Service{{Name: "http", Proto: "tcp", Port: 80}}
	x.Upsert(docker, starting)
	s := x.Load()
	for _, n := range []string{"web.docker.", "_http._tcp.web.docker.", "_tcp.web.docker."} {
		e := s.Lookup(n)
		if e == nil || len(e.A) > 0 || len(e.SRV) > 0 {
			t.Fatalf("%s: want an entry without records, got %+v", n, e)
		}
		if n != "_tcp.web.docker." && !e.Withheld {
			t.Errorf("%s: want Withheld", n)
		}
	}
	if e := s.Lookup("app1.docker."); e == nil || !slices.Equal(ips(e.A), []string{"10.0.0.1"}) || e.Withheld {
		t.Fatalf("identity name: got %+v", e)
	}
	if r := s.Reverse(netip.MustParseAddr("10.0.0.1")); !slices.Equal(r, []string{"app1.docker."}) {
		t.Errorf("PTR: %v", r)
	}

	ready := host("c2", []string{"app2", "web"}, "10.0.0.2")
	x.Upsert(docker, ready)
	if e := x.Load().Lookup("web.docker."); e == nil || !slices.Equal(ips(e.A), []string{"10.0.0.2"}) || !e.Withheld {
		t.Fatalf("one ready replica: got %+v", e)
	}

	// c1 becomes ready: the name answers both, and nothing is withheld.
	x.Upsert(docker, host("c1", []string{"app1", "web"}, "10.0.0.1"))
	if e := x.Load().Lookup("web.docker."); e == nil || !slices.Equal(ips(e.A), []string{"10.0.0.1", "10.0.0.2"}) || e.Withheld {
		t.Fatalf("both ready: got %+v", e)
	}
	x.Delete(docker, "c1")
	x.Delete(docker, "c2")
	if e := x.Load().Lookup("web.docker."); e != nil {
		t.Fatalf("all gone: got %+v", e)
	}
}

func TestWithheldChangeIsAChange(t *testing.T) {
	x := New([]string{"docker."})
	h := host("c1", []string{"app1"}, "10.0.0.1")
	h.Withheld = []string{"web"}
	if !x.Upsert(docker, h) {
		t.Fatal("first upsert: no change")
	}
	if x.Upsert(docker, h) {
		t.Fatal("same host again: a change")
	}
	ready := host("c1", []string{"app1", "web"}, "10.0.0.1")
	if !x.Upsert(docker, ready) {
		t.Fatal("withheld -> served: no change")
	}
	if !x.Upsert(docker, h) {
		t.Fatal("served -> withheld: no change")
	}
	if e := x.Load().Lookup("web.docker."); e == nil || len(e.A) > 0 || !e.Withheld {
		t.Fatalf("withheld again: got %+v", e)
	}
}

// A hosts file's table answers a name a container withholds: its records
// win, and the name is still known as withheld.
func TestWithheldNameBesideATable(t *testing.T) {
	x := New([]string{"docker."})
	tb := x.NewTableBuilder()
	tb.Add(netip.MustParseAddr("192.0.2.1"), [][]byte{[]byte("web")})
	x.SetTable(files, tb.Done())
	h := host("c1", []string{"app1"}, "10.0.0.1")
	h.Withheld = []string{"web", "api"}
	x.Upsert(docker, h)
	s := x.Load()
	if e := s.Lookup("web.docker."); e == nil || !slices.Equal(ips(e.A), []string{"192.0.2.1"}) {
		t.Fatalf("web: %+v", e)
	}
	if e := s.Lookup("api.docker."); e == nil || len(e.A) != 0 || !e.Withheld {
		t.Fatalf("api: %+v", e)
	}
}
