package docker

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/events"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

func TestIsTraefik(t *testing.T) {
	for image, want := range map[string]bool{
		"traefik":                          true,
		"traefik:v3.1":                     true,
		"traefik@sha256:abcd":              true,
		"library/traefik:latest":           true,
		"docker.io/traefik:v2.11":          true,
		"docker.io/library/traefik:v3":     true,
		"registry.lan:5000/traefik":        true,
		"localhost/traefik:test":           true,
		"someone/traefik":                  false, // a Hub user's image, not Traefik's
		"traefik-forward-auth":             false,
		"registry.lan:5000/tools/traefik":  false,
		"nginx:traefik":                    false,
		"registry.lan:5000/traefik/plugin": false,
		"":                                 false,
	} {
		c := ctr{id: "0123456789abcdef", name: "proxy", image: image}.build()
		if got := isTraefik(c, mapping{}); got != want {
			t.Errorf("image %q: %v, want %v", image, got, want)
		}
	}
	named := ctr{id: "0123456789abcdef", name: "Edge", image: "nginx"}.build()
	if !isTraefik(named, mapping{traefikProxy: "edge"}) {
		t.Error("the container the Corefile names is the proxy, whatever its image")
	}
	if isTraefik(ctr{id: "0123456789abcdef", name: "proxy", image: "traefik"}.build(), mapping{traefikProxy: "edge"}) {
		t.Error("a named proxy is the only one")
	}
}

func TestTraefikRoutes(t *testing.T) {
	zones := []string{"lan.", "docker."}
	for _, c := range []struct {
		name     string
		labels   map[string]string
		optIn    bool
		want     []string
		problems int
	}{
		{"http and tcp routers, in zones only", map[string]string{
			"traefik.http.routers.web.rule":  "Host(`App.example.lan`) || Host(`www.example.com`)",
			"traefik.tcp.routers.db.rule":    "HostSNI(`db.lan`)",
			"traefik.udp.routers.dns.rule":   "Host(`udp.lan`)",
			"traefik.http.routers.web.tls":   "true",
			"traefik.http.services.web.rule": "Host(`service.lan`)",
		}, false, []string{"app.example.lan", "db.lan"}, 0},
		{"duplicates once", map[string]string{
			"traefik.http.routers.a.rule": "Host(`a.lan`)", "traefik.http.routers.b.rule": "Host(`a.lan`) && Path(`/b`)",
		}, false, []string{"a.lan"}, 0},
		{"malformed rule and name skipped", map[string]string{
			"traefik.http.routers.a.rule": "Host(`a.lan`", "traefik.http.routers.b.rule": "Host(`bad name.lan`) || Host(`b.lan`)",
		}, false, []string{"b.lan"}, 2},
		{"traefik.enable=false", map[string]string{"traefik.enable": "false", "traefik.http.routers.a.rule": "Host(`a.lan`)"}, false, nil, 0},
		{"exposedByDefault=false without enable", map[string]string{"traefik.http.routers.a.rule": "Host(`a.lan`)"}, true, nil, 0},
		{"exposedByDefault=false with enable", map[string]string{"traefik.enable": "true", "traefik.http.routers.a.rule": "Host(`a.lan`)"}, true, []string{"a.lan"}, 0},
		{"enable not a boolean", map[string]string{"traefik.enable": "yes please", "traefik.http.routers.a.rule": "Host(`a.lan`)"}, false, nil, 1},
	} {
		got, problems := traefikRoutes(c.labels, mapping{zones: zones, traefikOptIn: c.optIn}, nil)
		if !slices.Equal(got, c.want) || len(problems) != c.problems {
			t.Errorf("%s: %q, problems %q; want %q and %d problems", c.name, got, problems, c.want, c.problems)
		}
	}
}

// TestRouterNamesFollowTheProxy: router names alias the proxy's name while
// a proxy runs, and follow it when it changes.
func TestRouterNamesFollowTheProxy(t *testing.T) {
	fe := newFakeEngine()
	app := ctr{id: "aaa", name: "app", labels: map[string]string{
		"traefik.http.routers.app.rule": "Host(`app.lan`) || Host(`app.other`)", "dockerhosts.ttl": "20"},
		nets: map[string]ep{"n": {ip: "10.0.0.2"}}}
	fe.set(app.build())
	_, sink := running(t, Config{Zones: []string{"lan."}}, fe)
	if h, ok := sink.host(routeHostID("aaa")); ok {
		t.Fatalf("router names served without a proxy: %+v", h)
	}
	fe.set(ctr{id: "ppp", name: "edge", image: "traefik:v3", nets: map[string]ep{"n": {ip: "10.0.0.9"}}}.build())
	fe.containerEvent(t, events.ActionStart, "ppp")
	want := index.Host{ID: routeHostID("aaa"), Names: []string{"app.lan"}, CNAME: "edge", TTL: 20, HasTTL: true}
	await.True(t, waitLimit, "app.lan aliases edge", func() bool { h, _ := sink.host(want.ID); return h.Equal(want) })

	// A second proxy that sorts first takes over; when it goes, edge again.
	fe.set(ctr{id: "qqq", name: "a-edge", image: "traefik", nets: map[string]ep{"n": {ip: "10.0.0.8"}}}.build())
	fe.containerEvent(t, events.ActionStart, "qqq")
	await.True(t, waitLimit, "app.lan aliases a-edge", func() bool { h, _ := sink.host(want.ID); return h.CNAME == "a-edge" })
	fe.remove("qqq")
	fe.containerEvent(t, events.ActionDie, "qqq")
	await.True(t, waitLimit, "app.lan aliases edge again", func() bool { h, _ := sink.host(want.ID); return h.CNAME == "edge" })

	// The app going takes its router names; the proxy going takes all.
	fe.remove("aaa")
	fe.containerEvent(t, events.ActionDie, "aaa")
	await.True(t, waitLimit, "app's router names go", func() bool { _, ok := sink.host(want.ID); return !ok })
	fe.set(app.build())
	fe.containerEvent(t, events.ActionStart, "aaa")
	await.True(t, waitLimit, "app's router names are back", func() bool { _, ok := sink.host(want.ID); return ok })
	fe.remove("ppp")
	fe.containerEvent(t, events.ActionDie, "ppp")
	await.True(t, waitLimit, "no proxy, no router names", func() bool { _, ok := sink.host(want.ID); return !ok })
}

// TestRouterNamesAfterResync: a full sync serves the same router names as
// events did, and a proxy's own name is never its alias.
func TestRouterNamesAfterResync(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "ppp", name: "traefik", image: "traefik", labels: map[string]string{
		"traefik.http.routers.dash.rule": "Host(`traefik.lan`) || Host(`dash.lan`)"}}.build())
	fe.set(ctr{id: "aaa", name: "app", labels: map[string]string{"traefik.http.routers.app.rule": "Host(`app.lan`)"}}.build())
	_, sink := running(t, Config{Zones: []string{"lan."}}, fe)
	if h, _ := sink.host(routeHostID("aaa")); h.CNAME != "traefik" || !slices.Equal(h.Names, []string{"app.lan"}) {
		t.Errorf("app after the first sync: %+v", h)
	}
	if h, _ := sink.host(routeHostID("ppp")); h.CNAME != "traefik" || !slices.Equal(h.Names, []string{"dash.lan"}) {
		t.Errorf("the proxy's own routers: %+v, want dash.lan only (traefik.lan is its own name)", h)
	}
}

// TestNamedProxyAndOptIn: with TraefikProxy the named container is the
// proxy whatever its image (a Traefik-image container is not); with
// TraefikOptIn only traefik.enable=true containers have router names.
func TestNamedProxyAndOptIn(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "ppp", name: "edge", image: "nginx"}.build())
	fe.set(ctr{id: "ttt", name: "a-traefik", image: "traefik"}.build())
	fe.set(ctr{id: "aaa", name: "app", labels: map[string]string{
		"traefik.enable": "true", "traefik.http.routers.app.rule": "Host(`app.lan`)"}}.build())
	fe.set(ctr{id: "bbb", name: "other", labels: map[string]string{"traefik.http.routers.b.rule": "Host(`b.lan`)"}}.build())
	_, sink := running(t, Config{Zones: []string{"lan."}, TraefikProxy: "edge", TraefikOptIn: true}, fe)
	if h, _ := sink.host(routeHostID("aaa")); h.CNAME != "edge" || !slices.Equal(h.Names, []string{"app.lan"}) {
		t.Errorf("app: %+v, want app.lan aliasing edge", h)
	}
	if h, ok := sink.host(routeHostID("bbb")); ok {
		t.Errorf("a container without traefik.enable=true got router names: %+v", h)
	}
}
