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
	_, port, err := net.SplitHostPort(e.Docker("port", web, "8080/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(fmt.Sprintf("http://%s/", net.JoinHostPort(answer[0], port)))
	if err != nil {
		t.Fatalf("GET the answer %s at the published port %s: %v", answer[0], port, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if got := strings.TrimSpace(string(body)); !strings.HasPrefix(web, got) || got == "" {
		t.Errorf("the answer reached %q, want the container %.12s", got, web)
	}

	// No published port, no address to answer: the name exists, empty.
	s.waitNODATA(t, fqdn(e.Name("quiet")))

	e.Docker("stop", "--time", "0", web)
	s.waitNXDOMAIN(t, name)
}
