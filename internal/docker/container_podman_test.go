package docker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// servedPodmanWeb is a source on a fake Podman serving one container, web
// (ID aaa, 10.88.0.2 on the podman network).
func servedPodmanWeb(t *testing.T) (*Source, *fakeEngine, *recordingSink, ctr) {
	t.Helper()
	fe := newFakeEngine()
	web := ctr{id: "aaa", name: "web", nets: map[string]ep{"podman": {ip: "10.88.0.2"}}}
	fe.set(web.build())
	s, sink := running(t, Config{Engine: "pm"}, fe)
	if _, ok := sink.host("aaa"); !ok {
		t.Fatal("web not served")
	}
	return s, fe, sink, web
}

// Podman reports a stop as "died" and matches subscription filters against
// that word: a source that asks only for "die" never hears of the stop and
// keeps answering with an address Podman hands to the next container.
func TestPodmanDiedWithdrawsTheContainer(t *testing.T) {
	s, fe, sink, web := servedPodmanWeb(t)
	before := testutil.ToFloat64(s.metrics.events.WithLabelValues("die"))

	web.stopped = true
	fe.set(web.build())
	fe.containerEvent(t, podmanActionDied, "aaa")
	flush(t, fe, sink)
	if h, ok := sink.host("aaa"); ok {
		t.Errorf("stopped container still served: %+v", h)
	}
	if got := testutil.ToFloat64(s.metrics.events.WithLabelValues("die")) - before; got != 1 {
		t.Errorf("died counted as die %v times, want 1", got)
	}
}

// Podman's network events name the container in Actor.ID and carry no
// "container" attribute.
func TestPodmanNetworkEventsFindTheContainer(t *testing.T) {
	fe := newFakeEngine()
	web := ctr{id: "aaa", name: "web", nets: map[string]ep{"front": {ip: "10.89.0.2"}}}
	fe.set(web.build())
	_, sink := running(t, Config{}, fe)

	web.nets["back"] = ep{ip: "10.89.1.2"}
	fe.set(web.build())
	fe.emit(t, events.NetworkEventType, events.ActionConnect, "aaa", map[string]string{"name": "web", "podId": ""})
	flush(t, fe, sink)
	if h, _ := sink.host("aaa"); len(h.Addrs) != 2 {
		t.Fatalf("after connect: %+v, want two addresses", h)
	}

	delete(web.nets, "front")
	fe.set(web.build())
	fe.emit(t, events.NetworkEventType, events.ActionDisconnect, "aaa", map[string]string{"name": "web", "podId": ""})
	flush(t, fe, sink)
	if h, _ := sink.host("aaa"); len(h.Addrs) != 1 || h.Addrs[0].IP.String() != "10.89.1.2" {
		t.Fatalf("after disconnect: %+v, want 10.89.1.2 only", h)
	}
}

func TestPodmanRemoveIsDestroy(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web", nets: map[string]ep{"podman": {ip: "10.88.0.2"}}}.build())
	_, sink := running(t, Config{}, fe)
	fe.remove("aaa")
	fe.containerEvent(t, podmanActionRemove, "aaa")
	flush(t, fe, sink)
	if _, ok := sink.host("aaa"); ok {
		t.Error("removed container still served")
	}
}

// dockerShape leaves Docker's own events as they are.
func TestDockerShapeKeepsDockerEvents(t *testing.T) {
	for _, ev := range []events.Message{
		{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "c1"}},
		{Type: events.ContainerEventType, Action: "health_status: healthy", Actor: events.Actor{ID: "c1"}},
		{Type: events.NetworkEventType, Action: events.ActionConnect, Actor: events.Actor{ID: "n1", Attributes: map[string]string{"container": "c1"}}},
	} {
		got := dockerShape(ev)
		if got.Action != ev.Action || got.Actor.ID != ev.Actor.ID || got.Actor.Attributes["container"] != ev.Actor.Attributes["container"] {
			t.Errorf("dockerShape(%+v) = %+v", ev, got)
		}
	}
}

func TestEngineKindFromVersionComponents(t *testing.T) {
	for _, tc := range []struct {
		components []string
		want       EngineKind
	}{
		{[]string{"Engine", "containerd", "runc", "docker-init"}, KindDocker},
		{[]string{"Podman Engine", "Conmon", "OCI Runtime (runc)"}, KindPodman},
		{nil, KindUnknown},
		{[]string{"something"}, KindUnknown},
	} {
		var v client.ServerVersionResult
		for _, c := range tc.components {
			v.Components = append(v.Components, system.ComponentVersion{Name: c})
		}
		if got := engineKind(v); got != tc.want {
			t.Errorf("engineKind(%v) = %s, want %s", tc.components, got, tc.want)
		}
	}
}

func TestEngineInfoNamesTheKind(t *testing.T) {
	fe := newFakeEngine()
	fe.version = client.ServerVersionResult{Version: "4.3.1", Components: []system.ComponentVersion{{Name: "Podman Engine", Version: "4.3.1"}}}
	_, _ = running(t, Config{Engine: "infotest"}, fe)
	if got := testutil.ToFloat64(engineInfo.WithLabelValues("infotest", "podman", "4.3.1", "false")); got != 1 {
		t.Errorf("engine_info{kind=podman} = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(engineInfo); n < 1 {
		t.Errorf("engine_info has %d series", n)
	}
	if !slices.Contains(podmanEventActions, "died") {
		t.Error("the subscription does not ask for died")
	}
}

// Podman reports a paused container as not running; it keeps its address.
func TestPodmanPausedContainerIsServed(t *testing.T) {
	c := ctr{id: "aaa", name: "web", nets: map[string]ep{"podman": {ip: "10.88.0.2"}}, paused: true}.build()
	c.State.Running = false
	if _, ok := recordFor(c, mapping{}); !ok {
		t.Error("paused Podman container not served")
	}
	c.State.Paused = false
	if _, ok := recordFor(c, mapping{}); ok {
		t.Error("stopped container served")
	}
}

// A rootless container on slirp4netns or pasta is reached only through its
// published ports, on the engine's host: answered as host_mode answers,
// without host_mode; without published ports its name has no address
// (NODATA). Podman lists no network for it.
func TestPodmanUserModeNetworkAnswersPublishedAddresses(t *testing.T) {
	host := []netip.Addr{netip.MustParseAddr("192.0.2.7")}
	m := mapping{engine: "e", hostAddrs: host}
	for _, mode := range []string{"slirp4netns", "pasta", "slirp4netns:port_handler=slirp4netns"} {
		c := ctr{id: "0123456789abcdef", name: "web", mode: mode, ports: map[string][]string{"80/tcp": {"0.0.0.0:8080"}}}
		r, ok := recordFor(c.build(), m)
		if !ok || len(r.host.Addrs) != 1 || r.host.Addrs[0].IP != host[0] || len(r.host.ReverseNames) != 0 {
			t.Errorf("%s: %+v, %v; want the engine host's address, no PTR", mode, r.host, ok)
		}
		c.ports = nil
		if r, ok := recordFor(c.build(), m); !ok || len(r.host.Addrs) != 0 || !slices.Contains(r.host.Names, "web") {
			t.Errorf("%s without published ports: %+v, %v; want the name without addresses", mode, r.host, ok)
		}
	}
	// A bridge network's address is still the container's own.
	c := ctr{id: "0123456789abcdef", name: "web", mode: "bridge", nets: map[string]ep{"podman": {ip: "10.88.0.2"}}}
	if r, _ := recordFor(c.build(), m); len(r.host.Addrs) != 1 || r.host.Addrs[0].IP.String() != "10.88.0.2" {
		t.Errorf("bridge: %+v", r.host.Addrs)
	}
}

// Podman answers an inspect of a container it is removing with a 500 (it
// found the container, then could not read it). That is the container
// gone, as Docker's 404 says, not the engine failing: the container is
// withdrawn and the session goes on, with no reconnect and no resync.
func TestPodmanRemovedWhileInspectedIsGone(t *testing.T) {
	_, fe, sink, _ := servedPodmanWeb(t)
	fe.mu.Lock()
	lists := fe.lists
	fe.inspectErr = map[string]error{"aaa": podmanInspectError(t, "aaa",
		"container aaa does not exist in database: no such container")}
	fe.mu.Unlock()

	fe.containerEvent(t, podmanActionRemove, "aaa")
	flush(t, fe, sink)
	if h, ok := sink.host("aaa"); ok {
		t.Errorf("removed container still served: %+v", h)
	}
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if fe.lists != lists {
		t.Errorf("the session resynced (%d lists, was %d): Podman's 500 was taken for a failure", fe.lists, lists)
	}
}

// A 500 that does not say the container is gone still breaks the session.
func TestContainerGoneOnlyForMissingContainers(t *testing.T) {
	for _, tc := range []struct {
		message string
		gone    bool
	}{
		{"container aaa does not exist in database: no such container", true},
		{"runtime crashed: no space left on device", false},
	} {
		if got := containerGone(podmanInspectError(t, "aaa", tc.message)); got != tc.gone {
			t.Errorf("containerGone(500 %q) = %v, want %v", tc.message, got, tc.gone)
		}
	}
}

// podmanInspectError is the error the Docker client returns for an inspect
// that Podman answers with 500 and message.
func podmanInspectError(t *testing.T, id, message string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"cause":"no such container","message":%q,"response":500}`, message)
	}))
	defer srv.Close()
	c, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err == nil {
		t.Fatal("inspect did not fail")
	}
	return err
}

// Podman sends health_status as a check starts, before its result is saved;
// the check's exec_died follows its end. A source that heeded only
// health_status would read the previous result and keep it until the next
// check: exec_died brings the new one.
func TestPodmanHealthCheckEndAppliesItsResult(t *testing.T) {
	fe := newFakeEngine()
	c := healthCtr(container.Starting)
	fe.set(c.build())
	_, sink := running(t, Config{Health: true}, fe)
	wantServed(t, sink, c.id, "web", false)

	fe.containerEvent(t, "health_status", c.id) // the check starts: still starting
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", false)
	c.health = container.Healthy
	fe.set(c.build()) // its result is saved after its exec_died is sent
	fe.containerEvent(t, podmanActionExecDied, c.id)
	flush(t, fe, sink)
	wantServed(t, sink, c.id, "web", true)
}
