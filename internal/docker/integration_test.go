package docker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/moby/moby/client"
)

// TestEngineIntegration runs the source against the real engine (API 1.41
// here) with a recording sink: list, events, inspect and reconnect-free
// following through the moby client.
func TestEngineIntegration(t *testing.T) {
	e := dockertest.Require(t)
	image := e.IdleImage()
	front := e.Network("front")
	back := e.Network("back")

	// One container exists before the source starts: it comes from the list.
	early := e.Run("early", "--network", front, image)

	sink := newRecordingSink()
	s, err := New(Config{Engine: "local", Resync: time.Hour}, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	await.True(t, waitLimit, "first sync", s.Synced)

	hostOf := func(id string) func() (index.Host, bool) {
		return func() (index.Host, bool) { return sink.host(id) }
	}
	waitHost := func(what, id string, cond func(h index.Host, ok bool) bool) index.Host {
		t.Helper()
		var h index.Host
		await.True(t, waitLimit, what, func() bool {
			var ok bool
			h, ok = hostOf(id)()
			return cond(h, ok)
		})
		return h
	}
	onNetwork := func(h index.Host, network string) bool {
		return slices.ContainsFunc(h.Addrs, func(a index.Addr) bool {
			return a.Network == network && a.IP.Is4() && a.Subnet.IsValid() && a.Subnet.Contains(a.IP)
		})
	}

	waitHost("listed container", early, func(h index.Host, ok bool) bool {
		return ok && slices.Contains(h.Names, e.Name("early")) && onNetwork(h, front)
	})

	// start: a container started while the source follows events.
	alias := e.Name("alias")
	id := e.Run("web", "--network", front, "--network-alias", alias, "--hostname", e.Name("host"),
		"--label", "dockerhosts.srv=http:80/tcp", image)
	h := waitHost("started container", id, func(h index.Host, ok bool) bool { return ok })
	for _, want := range []string{e.Name("web"), alias, e.Name("host")} {
		if !slices.Contains(h.Names, want) {
			t.Errorf("names %q lack %q", h.Names, want)
		}
	}
	// The short ID answers as Docker's embedded DNS answers it: once, as
	// the container's own name, not again as the network alias it also is.
	if n := slices.Index(h.Names, id[:12]); n < 0 || slices.Index(h.Names[n+1:], id[:12]) >= 0 {
		t.Errorf("names %q should hold the short ID once", h.Names)
	}
	if !onNetwork(h, front) {
		t.Errorf("addresses %+v lack network %s", h.Addrs, front)
	}
	if !slices.Equal(h.Services, []index.Service{{Name: "http", Proto: "tcp", Port: 80}}) {
		t.Errorf("services %+v", h.Services)
	}
	if !slices.Equal(h.ReverseNames, []string{e.Name("web")}) {
		t.Errorf("reverse names %q", h.ReverseNames)
	}

	// rename
	e.Docker("rename", e.Name("web"), e.Name("renamed"))
	waitHost("rename", id, func(h index.Host, ok bool) bool {
		return ok && slices.Contains(h.Names, e.Name("renamed")) && !slices.Contains(h.Names, e.Name("web"))
	})

	// network connect / disconnect
	e.Docker("network", "connect", back, id)
	waitHost("connect", id, func(h index.Host, ok bool) bool { return ok && onNetwork(h, back) })
	e.Docker("network", "disconnect", back, id)
	waitHost("disconnect", id, func(h index.Host, ok bool) bool { return ok && !onNetwork(h, back) })

	// pause keeps the records, stop drops them.
	e.Docker("pause", id)
	// Events apply in order: once a later container shows up, the pause
	// has been applied.
	marker := e.Run("marker", image)
	waitHost("marker", marker, func(_ index.Host, ok bool) bool { return ok })
	if _, ok := sink.host(id); !ok {
		t.Error("paused container dropped")
	}
	e.Docker("unpause", id)
	e.Docker("stop", "--time", "5", id)
	waitHost("stop", id, func(_ index.Host, ok bool) bool { return !ok })
	if _, ok := sink.host(early); !ok {
		t.Error("untouched container dropped")
	}

	// Removed at once: the inspect after its events finds nothing.
	e.Docker("rm", "--force", early)
	waitHost("forced removal", early, func(_ index.Host, ok bool) bool { return !ok })
	if _, err := s.engine.ContainerInspect(ctx, early, client.ContainerInspectOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("inspect of a removed container: %v, want a not-found error", err)
	}
}
