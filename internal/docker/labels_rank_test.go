package docker

import (
	"slices"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func TestSRVRankLabels(t *testing.T) {
	for _, c := range []struct {
		name     string
		labels   map[string]string
		want     index.Rank
		problems int
	}{
		{"none", nil, index.Rank{}, 0},
		{"weight alone keeps the default priority", map[string]string{"dockerhosts.srv.weight": "0"}, index.Rank{Priority: 10, Weight: 0, Set: true}, 0},
		{"both", map[string]string{"dockerhosts.srv.priority": " 1 ", "dockerhosts.srv.weight": "65535"}, index.Rank{Priority: 1, Weight: 65535, Set: true}, 0},
		{"malformed is skipped", map[string]string{"dockerhosts.srv.priority": "-1", "dockerhosts.srv.weight": "heavy"}, index.Rank{}, 2},
		{"too large is skipped", map[string]string{"dockerhosts.srv.priority": "2", "dockerhosts.srv.weight": "65536"}, index.Rank{Priority: 2, Weight: 10, Set: true}, 1},
	} {
		cl := parseLabels(c.labels, DefaultLabelPrefix)
		if cl.rank != c.want || len(cl.problems) != c.problems {
			t.Errorf("%s: rank %+v, problems %q; want %+v and %d problems", c.name, cl.rank, cl.problems, c.want, c.problems)
		}
	}
}

func TestSRVRankAppliesToEverySRVOfTheContainer(t *testing.T) {
	c := ctr{id: "0123456789abcdef", name: "api", labels: map[string]string{
		keySRV: "http:80/tcp,dns:53/udp", "dockerhosts.srv.priority": "5", "dockerhosts.srv.weight": "0"},
		nets:  map[string]ep{"n": {ip: "10.0.0.2"}},
		ports: map[string][]string{"8080/tcp": {"0.0.0.0:32768"}}}
	r, ok := recordFor(c.build(), mapping{engine: "host", noShortID: true})
	if !ok || len(r.host.Services) != 4 {
		t.Fatalf("got %+v (served %v), want two label services and a port both published and exposed", r.host.Services, ok)
	}
	want := index.Rank{Priority: 5, Weight: 0, Set: true}
	if i := slices.IndexFunc(r.host.Services, func(s index.Service) bool { return s.Rank != want }); i >= 0 {
		t.Errorf("service %+v lacks the container's rank %+v", r.host.Services[i], want)
	}
}

func TestTTLLabel(t *testing.T) {
	for _, c := range []struct {
		value   string
		ttl     uint32
		has     bool
		problem bool
	}{
		{"60", 60, true, false},
		{" 0 ", 0, true, false},
		{"86400", 86400, true, false},
		{"86401", 0, false, true},
		{"1m", 0, false, true},
		{"", 0, false, true},
	} {
		cl := parseLabels(map[string]string{"dockerhosts.ttl": c.value}, DefaultLabelPrefix)
		if cl.ttl != c.ttl || cl.hasTTL != c.has || (len(cl.problems) > 0) != c.problem {
			t.Errorf("ttl=%q: %d %v, problems %q", c.value, cl.ttl, cl.hasTTL, cl.problems)
		}
	}
	c := ctr{id: "0123456789abcdef", name: "web", labels: map[string]string{"dockerhosts.ttl": "60"}, nets: map[string]ep{"n": {ip: "10.0.0.2"}}}
	if r, ok := recordFor(c.build(), mapping{}); !ok || r.host.TTL != 60 || !r.host.HasTTL {
		t.Errorf("host %+v, want TTL 60", r.host)
	}
}
