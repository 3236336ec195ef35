package index

import (
	"slices"
	"testing"
)

func txtEqual(got [][]string, want ...[]string) bool {
	return slices.EqualFunc(got, want, slices.Equal)
}

func TestTXTOnNamesAndKeyedNames(t *testing.T) {
	x := New([]string{"docker."})
	h := host("c1", []string{"web", "www"}, "10.0.0.1")
	h.TXT = []TXT{{Strings: []string{"v=1"}}, {Key: "_acme", Strings: []string{"a", "b"}}}
	x.Upsert(docker, h)
	s := x.Load()
	for _, n := range []string{"web.docker.", "www.docker."} {
		if e := s.Lookup(n); e == nil || !txtEqual(e.TXT, []string{"v=1"}) || len(e.A) != 1 {
			t.Errorf("%s: got %+v, want its address and TXT v=1", n, e)
		}
		if e := s.Lookup("_acme." + n); e == nil || !txtEqual(e.TXT, []string{"a", "b"}) || e.A != nil {
			t.Errorf("_acme.%s: got %+v, want only TXT a b", n, e)
		}
	}
	// Another host on the same name adds its TXT; the keyed name goes with
	// its host.
	o := host("c2", []string{"web"}, "10.0.0.2")
	o.TXT = []TXT{{Strings: []string{"v=2"}}}
	x.Upsert(docker, o)
	x.Delete(docker, "c1")
	s = x.Load()
	if e := s.Lookup("web.docker."); e == nil || !txtEqual(e.TXT, []string{"v=2"}) {
		t.Errorf("web after c1 went: %+v", e)
	}
	if e := s.Lookup("_acme.web.docker."); e != nil {
		t.Errorf("_acme.web stayed after its host went: %+v", e)
	}
}

func TestTXTChangeIsSeenAndAnAliasHasNone(t *testing.T) {
	x := New([]string{"docker."})
	h := host("c1", []string{"web"})
	h.TXT = []TXT{{Strings: []string{"a"}}}
	x.Upsert(docker, h)
	h.TXT = []TXT{{Strings: []string{"b"}}}
	if !x.Upsert(docker, h) {
		t.Fatal("a new TXT value must publish")
	}
	h.CNAME = "other"
	x.Upsert(docker, h)
	if e := x.Load().Lookup("web.docker."); e == nil || e.TXT != nil || e.CNAME == "" {
		t.Fatalf("an alias has nothing but its CNAME: %+v", e)
	}
}
