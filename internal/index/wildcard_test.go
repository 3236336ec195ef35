package index

import "testing"

func TestWildcardIsANameOfItsHost(t *testing.T) {
	x := New([]string{"docker."})
	h := host("c1", []string{"app", "web"}, "10.0.0.1")
	h.Wildcard = true
	x.Upsert(docker, h)
	x.Upsert(docker, host("c2", []string{"x.app"}, "10.0.0.2"))
	s := x.Load()
	for _, q := range []string{"a.app.docker.", "a.b.web.docker.", "*.app.docker."} {
		if e := s.Wildcard(q, "docker."); s.Lookup(q) == nil && (e == nil || len(e.A) != 1) {
			t.Errorf("%s: wildcard entry %+v", q, e)
		}
	}
	for _, q := range []string{"y.x.app.docker.", "a.other.docker.", "docker."} {
		if e := s.Wildcard(q, "docker."); e != nil {
			t.Errorf("%s: a wildcard answers, %+v", q, e)
		}
	}
	h.Wildcard = false
	if !x.Upsert(docker, h) {
		t.Fatal("turning the wildcard off must publish")
	}
	if e := x.Load().Lookup("*.app.docker."); e != nil {
		t.Fatalf("*.app.docker. stayed: %+v", e)
	}
}
