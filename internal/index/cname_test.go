package index

import (
	"net/netip"
	"slices"
	"testing"
)

func alias(id string, names []string, target string, ips ...string) Host {
	h := host(id, names, ips...)
	h.ReverseNames, h.CNAME = nil, target
	return h
}

func TestCNAMEReplacesTheHostsAddresses(t *testing.T) {
	x := New([]string{"docker.", "10.in-addr.arpa."})
	x.Upsert(docker, alias("c1", []string{"www", "www2"}, "web", "10.0.0.1"))
	x.Upsert(docker, alias("c2", []string{"out"}, "example.com.", "10.0.0.2"))
	s := x.Load()
	for n, want := range map[string]string{"www.docker.": "web.docker.", "www2.docker.": "web.docker.", "out.docker.": "example.com."} {
		e := s.Lookup(n)
		if e == nil || e.CNAME != want || e.A != nil || e.AAAA != nil {
			t.Errorf("%s: got %+v, want only CNAME %s", n, e, want)
		}
	}
	if r := s.Reverse(netip.MustParseAddr("10.0.0.1")); r != nil {
		t.Errorf("an alias's address must have no PTR name, got %v", r)
	}
}

func TestCNAMEWinsItsNameOverAddresses(t *testing.T) {
	x := New([]string{"docker."})
	x.Upsert(docker, host("b", []string{"shared"}, "10.0.0.2"))
	x.Upsert(docker, alias("a", []string{"shared"}, "web"))
	if e := x.Load().Lookup("shared.docker."); e == nil || e.CNAME != "web.docker." || e.A != nil {
		t.Fatalf("got %+v, want only the CNAME", e)
	}
	// Source priority still decides first: the hosts file hides the alias.
	x.Upsert(files, host("f", []string{"shared"}, "10.0.0.3"))
	if e := x.Load().Lookup("shared.docker."); e == nil || e.CNAME != "" || !slices.Equal(ips(e.A), []string{"10.0.0.3"}) {
		t.Fatalf("got %+v, want the hosts file's address", e)
	}
	x.Delete(files, "f")
	x.Delete(docker, "a")
	if e := x.Load().Lookup("shared.docker."); e == nil || e.CNAME != "" || !slices.Equal(ips(e.A), []string{"10.0.0.2"}) {
		t.Fatalf("after the alias went: got %+v", e)
	}
}

func TestCNAMEChangeIsSeen(t *testing.T) {
	x := New([]string{"docker."})
	x.Upsert(docker, alias("a", []string{"www"}, "web"))
	if !x.Upsert(docker, alias("a", []string{"www"}, "web2")) {
		t.Fatal("a new target must publish")
	}
	if e := x.Load().Lookup("www.docker."); e == nil || e.CNAME != "web2.docker." {
		t.Fatalf("got %+v", e)
	}
}

func TestBrokenChainsAreReported(t *testing.T) {
	x := New([]string{"docker."})
	var broken []string
	x.OnBrokenChain(func(n string) { broken = append(broken, n) })
	x.Upsert(docker, alias("a", []string{"a"}, "b"))
	x.Upsert(docker, alias("b", []string{"b"}, "a"))
	if !slices.Equal(broken, []string{"b.docker."}) {
		t.Fatalf("a loop: reported %v, want b.docker.", broken)
	}
	broken = nil
	x.Upsert(docker, alias("self", []string{"self"}, "self"))
	for i := range MaxChain {
		x.Upsert(docker, alias(string(rune('0'+i)), []string{"n" + string(rune('0'+i))}, "n"+string(rune('1'+i))))
	}
	if !slices.Equal(broken, []string{"self.docker."}) {
		t.Fatalf("reported %v; want the self loop only (a chain of %d is served)", broken, MaxChain)
	}
	broken = nil
	x.Upsert(docker, alias("long", []string{"long"}, "n0"))
	if !slices.Equal(broken, []string{"long.docker."}) {
		t.Fatalf("a chain of %d: reported %v", MaxChain+1, broken)
	}
}
