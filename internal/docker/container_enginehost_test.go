package docker

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/events"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

func TestPublishedPortsBecomeSRV(t *testing.T) {
	c := ctr{id: "0123456789abcdef", name: "web", nets: map[string]ep{"bridge": {ip: "172.17.0.2"}},
		ports: map[string][]string{
			// Docker lists a port published on all addresses once per family.
			"8080/tcp": {"0.0.0.0:32768", "[::]:32768"},
			"53/udp":   {"127.0.0.2:1053"},
			"9090/tcp": {"127.0.0.2:9090", "[fd00::2]:9091"},
			"7/sctp":   {"0.0.0.0:7"},
			// Published on every address under two host ports, one per
			// family: the IPv4 one.
			"8443/tcp": {"0.0.0.0:32770", "[::]:32771"},
			// Published on :: only.
			"8444/tcp": {"[::]:32772"},
		}}
	r, ok := recordFor(c.build(), mapping{engine: "edge", noShortID: true})
	if !ok {
		t.Fatal("not served")
	}
	want := []index.Service{
		{Name: "53", Proto: "udp", Port: 1053, Target: "127-0-0-2.edge"},
		{Name: "8080", Proto: "tcp", Port: 32768, Target: "edge"},
		{Name: "8443", Proto: "tcp", Port: 32770, Target: "edge"},
		{Name: "8444", Proto: "tcp", Port: 32772, Target: "edge"},
		{Name: "9090", Proto: "tcp", Port: 9090, Target: "127-0-0-2.edge"},
		{Name: "9090", Proto: "tcp", Port: 9091, Target: "fd00--2.edge"},
	}
	if !slices.Equal(r.host.Services, want) {
		t.Errorf("services\n got %+v\nwant %+v", r.host.Services, want)
	}
	if want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("fd00::2")}; !slices.Equal(r.binds, want) {
		t.Errorf("binds %v, want %v", r.binds, want)
	}
	if !slices.Equal(r.host.Names, []string{"web", "web.edge"}) {
		t.Errorf("names %q, want web and web.edge", r.host.Names)
	}
	if r.host.Addrs[0].Scope != "edge" {
		t.Errorf("address scope %q, want the engine", r.host.Addrs[0].Scope)
	}
}

// The engine host and each specific published address get a host of their
// own, kept while some container publishes on it.
func TestEngineHostAndBindHostsFollowContainers(t *testing.T) {
	fe := newFakeEngine()
	pub := func(id, name, bind string) ctr {
		return ctr{id: id, name: name, nets: map[string]ep{"bridge": {ip: "172.17.0.9"}}, ports: map[string][]string{"80/tcp": {bind}}}
	}
	fe.set(pub("aaa", "one", "127.0.0.3:8001").build())
	_, sink := running(t, Config{Engine: "edge", HostAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, fe)

	h, ok := sink.host(engineHostID)
	if !ok || !slices.Equal(h.Names, []string{"edge"}) || h.Addrs[0].IP.String() != "192.0.2.7" {
		t.Fatalf("engine host: %+v, %v", h, ok)
	}
	bind := bindHostID(netip.MustParseAddr("127.0.0.3"))
	if h, ok := sink.host(bind); !ok || !slices.Equal(h.Names, []string{"127-0-0-3.edge"}) {
		t.Fatalf("bind host after the sync: %+v, %v", h, ok)
	}
	// A second container on the same address, then both go: the name stays
	// while one publishes there.
	fe.set(pub("bbb", "two", "127.0.0.3:8002").build())
	fe.containerEvent(t, events.ActionStart, "bbb")
	flush(t, fe, sink)
	fe.remove("aaa")
	fe.containerEvent(t, events.ActionDie, "aaa")
	flush(t, fe, sink)
	if _, ok := sink.host(bind); !ok {
		t.Fatal("bind host gone while bbb still publishes on it")
	}
	fe.remove("bbb")
	fe.containerEvent(t, events.ActionDie, "bbb")
	await.True(t, waitLimit, "bind host gone with its last container", func() bool { _, ok := sink.host(bind); return !ok })
}

func TestEngineHostAddresses(t *testing.T) {
	s := newSource(Config{Engine: "e", Endpoint: "tcp://192.0.2.1:2376"}, newFakeEngine(), newRecordingSink())
	if got := s.engineHostAddrs(t.Context()); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.1")}) {
		t.Errorf("tcp endpoint: %v", got)
	}
	s = newSource(Config{Engine: "e", Endpoint: "unix:///var/run/docker.sock",
		HostAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}}, newFakeEngine(), newRecordingSink())
	if got := s.engineHostAddrs(t.Context()); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.0.5")}) {
		t.Errorf("configured: %v", got)
	}
	s = newSource(Config{Engine: "e", Endpoint: "unix:///var/run/docker.sock"}, newFakeEngine(), newRecordingSink())
	for _, a := range s.engineHostAddrs(t.Context()) {
		if !a.IsGlobalUnicast() && !a.IsLoopback() {
			t.Errorf("local engine host address %s", a)
		}
	}
}

// A Corefile reload runs the new instance before it stops the old one: the
// old one stopping must not leave docker_up at 0 while the new one is up.
func TestDockerUpSurvivesAReload(t *testing.T) {
	up := func() float64 { return metricValue(t, dockerUp.WithLabelValues("reload")) }
	old := newFakeEngine()
	oldSrc, oldStop := startStoppable(t, Config{Engine: "reload"}, old)
	await.True(t, waitLimit, "old instance synced", oldSrc.Synced)
	await.True(t, waitLimit, "docker_up 1", func() bool { return up() == 1 })

	next := newFakeEngine()
	newSrc, _ := startStoppable(t, Config{Engine: "reload"}, next)
	await.True(t, waitLimit, "new instance synced", newSrc.Synced)
	oldStop()
	if got := up(); got != 1 {
		t.Fatalf("docker_up after the old instance stopped: %v, want 1", got)
	}
}
