package dockerhosts

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// reachesContainer checks that a GET of ip at the port the container
// publishes for 8080/tcp (the hostname image's) reaches that container,
// which answers its hostname (the ID's start).
func reachesContainer(t *testing.T, e *dockertest.Engine, id, ip string) {
	t.Helper()
	_, port, err := net.SplitHostPort(e.Docker("port", id, "8080/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(fmt.Sprintf("http://%s/", net.JoinHostPort(ip, port)))
	if err != nil {
		t.Fatalf("GET the answer %s at the published port %s: %v", ip, port, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if got := strings.TrimSpace(string(body)); got == "" || !strings.HasPrefix(id, got) {
		t.Errorf("the answer %s reached %q, want the container %.12s", ip, got, id)
	}
}

// TestPodmanRootlessPublishedPort: a user's own Podman service (a test user
// with subordinate ids, its own podman system service) runs a container on
// slirp4netns, which has no address a client can reach. Its name answers
// the address its port is published on, and a request from the host to
// that answer and the published port reaches the container; a container
// without published ports is NODATA; the stop withdraws the name.
func TestPodmanRootlessPublishedPort(t *testing.T) {
	e := dockertest.RequireRootlessPodman(t)
	s := startCoreDNS(t, dockerCorefile(dockertest.RootlessPodmanHost()+" pmu", nil))
	image := e.HostnameImage()
	web := e.Run("web", "-p", "127.0.0.1::8080", image)
	e.Run("quiet", image)
	if mode := e.Docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", web); !strings.HasPrefix(mode, "slirp4netns") {
		t.Fatalf("rootless container's network: %q, want slirp4netns", mode)
	}
	name := fqdn(e.Name("web"))
	s.waitA(t, name, "127.0.0.1")

	answer := answerA(s.exchange(t, "udp", name, dns.TypeA))
	reachesContainer(t, e, web, answer[0])

	// No published port, no address to answer: the name exists, empty.
	s.waitNODATA(t, fqdn(e.Name("quiet")))

	e.Docker("stop", "--time", "0", web)
	s.waitNXDOMAIN(t, name)
}

// TestPodmanRootlessNetwork: a rootless container on a network of its own
// (netavark inside the user's namespaces) has an address there that
// neither this machine nor the LAN reaches. The engine says it is rootless
// (Podman's /libpod/info), so the name answers where its port is published
// and is reached there; a container on that network without published
// ports is NODATA, and the namespace address is answered to no one.
func TestPodmanRootlessNetwork(t *testing.T) {
	e := dockertest.RequireRootlessPodman(t)
	s := startCoreDNS(t, dockerCorefile(dockertest.RootlessPodmanHost()+" pmn", nil))
	image := e.HostnameImage()
	netName := e.Network("net")
	web := e.Run("web", "--network", netName, "-p", "127.0.0.1::8080", image)
	e.Run("quiet", "--network", netName, image)
	inner := e.Docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", web)
	if inner == "" || inner == "127.0.0.1" {
		t.Fatalf("rootless container's address on %s: %q, want one in the network's subnet", netName, inner)
	}
	name := fqdn(e.Name("web"))
	s.waitA(t, name, "127.0.0.1")
	if got := answerA(s.exchange(t, "udp", name, dns.TypeA)); len(got) != 1 {
		t.Errorf("%s A %v, want only the published address (not %s)", name, got, inner)
	}
	if rev, err := dns.ReverseAddr(inner); err == nil {
		if m := s.exchange(t, "udp", rev, dns.TypePTR); len(m.Answer) != 0 {
			t.Errorf("PTR of the namespace address %s: %v", inner, m.Answer)
		}
	}

	reachesContainer(t, e, web, "127.0.0.1")
	s.waitNODATA(t, fqdn(e.Name("quiet")))

	if v, ok := series(t, "coredns_dockerhosts_engine_info", map[string]string{"engine": "pmn", "kind": "podman", "rootless": "true"}); !ok || v != 1 {
		t.Errorf("engine_info{engine=pmn,rootless=true} = %v (present %v), want 1", v, ok)
	}
}
