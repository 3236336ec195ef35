package docker

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

func TestDockerRootlessFromSecurityOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want bool
	}{
		{[]string{"name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"}, true},
		{[]string{"name=seccomp,profile=default"}, false},
		{[]string{"name=apparmor", "name=seccomp,profile=default", "name=cgroupns"}, false},
		{[]string{"name=rootlessish"}, false},
		{nil, false},
	} {
		if got := dockerRootless(system.Info{SecurityOptions: tc.opts}); got != tc.want {
			t.Errorf("dockerRootless(%q) = %v, want %v", tc.opts, got, tc.want)
		}
	}
}

func TestReadPodmanHost(t *testing.T) {
	// Podman 4.3's answer, cut down.
	const rootless = `{"host":{"arch":"amd64","security":{"apparmorEnabled":false,"rootless":true,"seccompEnabled":true}},"version":{"Version":"4.3.1"}}`
	if h, err := readPodmanHost(http.StatusOK, strings.NewReader(rootless)); err != nil || !h.Security.Rootless {
		t.Errorf("rootless answer: %+v, %v", h, err)
	}
	if h, err := readPodmanHost(http.StatusOK, strings.NewReader(`{"host":{"security":{"rootless":false}}}`)); err != nil || h.Security.Rootless {
		t.Errorf("rootful answer: %+v, %v", h, err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{http.StatusForbidden, "Forbidden\n", "403 Forbidden"},       // a socket proxy
		{http.StatusNotFound, `{"message":"page not found"}`, "404"}, // Docker: no libpod
		{http.StatusOK, `{"host":`, "unexpected EOF"},
		{http.StatusOK, `{"version":{}}`, "no host"},
	} {
		_, err := readPodmanHost(tc.status, strings.NewReader(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("readPodmanHost(%d, %q) = %v, want an error with %q", tc.status, tc.body, err, tc.want)
		}
	}
}

// FuzzReadPodmanHost: whatever the socket answers, no panic.
func FuzzReadPodmanHost(f *testing.F) {
	f.Add(`{"host":{"security":{"rootless":true}}}`)
	f.Add(`{"host":null}`)
	f.Add(`[1,2`)
	f.Fuzz(func(t *testing.T, body string) {
		_, _ = readPodmanHost(http.StatusOK, strings.NewReader(body))
	})
}

// A rootless engine's containers answer where their ports are published,
// as in host_mode: their bridge addresses live in the user's namespace.
func TestRootlessEngineAnswersPublishedAddresses(t *testing.T) {
	web := ctr{id: "aaa", name: "web", nets: map[string]ep{"podman": {ip: "10.88.0.2"}},
		ports: map[string][]string{"80/tcp": {"127.0.0.1:8080"}}}
	quiet := ctr{id: "bbb", name: "quiet", nets: map[string]ep{"podman": {ip: "10.88.0.3"}}}
	for _, tc := range []struct {
		name  string
		setup func(*fakeEngine)
	}{
		{"podman", func(fe *fakeEngine) {
			fe.version = client.ServerVersionResult{Version: "4.3.1", Components: []system.ComponentVersion{{Name: "Podman Engine"}}}
			fe.podman.Security.Rootless = true
		}},
		{"docker", func(fe *fakeEngine) {
			fe.info.SecurityOptions = []string{"name=seccomp,profile=builtin", "name=rootless"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEngine()
			tc.setup(fe)
			fe.set(web.build())
			fe.set(quiet.build())
			engine := "rl" + tc.name
			_, sink := running(t, Config{Engine: engine}, fe)
			if got := sink.ipOwners("127.0.0.1"); !slices.Contains(got, "aaa") {
				t.Errorf("127.0.0.1 (the published address) owned by %v, want the container", got)
			}
			if got := sink.ipOwners("10.88.0.2"); len(got) != 0 {
				t.Errorf("the namespace address 10.88.0.2 served for %v", got)
			}
			if h, ok := sink.host("bbb"); !ok || len(h.Addrs) != 0 || !slices.Contains(h.Names, "quiet") {
				t.Errorf("unpublished container: %+v (%v), want its names without addresses", h, ok)
			}
			kind := string(KindDocker)
			if tc.name == "podman" {
				kind = string(KindPodman)
			}
			version := fe.version.Version
			if version == "" {
				version = "20.10.24"
			}
			if got := testutil.ToFloat64(engineInfo.WithLabelValues(engine, kind, version, "true")); got != 1 {
				t.Errorf("engine_info{rootless=true} = %v, want 1", got)
			}
		})
	}
}

// When the engine cannot say (a socket proxy refusing /info), a rootful
// engine is assumed at first, and a rootless one stays rootless across a
// reconnection that cannot tell.
func TestRootlessUnknownKeepsWhatWasKnown(t *testing.T) {
	fe := newFakeEngine()
	fe.infoErr = errors.New("403 Forbidden")
	fe.set(ctr{id: "aaa", name: "web", nets: map[string]ep{"bridge": {ip: "172.17.0.2"}},
		ports: map[string][]string{"80/tcp": {"127.0.0.1:8080"}}}.build())
	_, sink := running(t, Config{Engine: "rlunknown"}, fe)
	if got := sink.ipOwners("172.17.0.2"); !slices.Equal(got, []string{"aaa"}) {
		t.Fatalf("unknown: 172.17.0.2 owned by %v, want the container (rootful)", got)
	}

	// reconnect breaks the stream and waits for the next subscription.
	reconnect := func() {
		t.Helper()
		for len(fe.subscribed) > 0 {
			<-fe.subscribed
		}
		fe.breakStream(errors.New("unexpected EOF"))
		select {
		case <-fe.subscribed:
		case <-time.After(waitLimit):
			t.Fatal("no new subscription after the stream broke")
		}
	}
	fe.mu.Lock()
	fe.infoErr = nil
	fe.info.SecurityOptions = []string{"name=rootless"}
	fe.mu.Unlock()
	reconnect()
	await.True(t, waitLimit, "rootless after the reconnection", func() bool {
		return slices.Contains(sink.ipOwners("127.0.0.1"), "aaa")
	})

	fe.mu.Lock()
	fe.infoErr = errors.New("403 Forbidden")
	fe.mu.Unlock()
	reconnect()
	flush(t, fe, sink)
	if got := sink.ipOwners("127.0.0.1"); !slices.Contains(got, "aaa") {
		t.Errorf("after a reconnection that cannot tell: 127.0.0.1 owned by %v, want the container", got)
	}
}
