package dockerhosts

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// TestDockerRootlessPublishedPort: a rootless Docker (dockerd-rootless.sh
// under RootlessKit, as a test user) says so in /info. Its containers'
// bridge addresses exist only in the user's namespace: a container's name
// answers where its port is published (RootlessKit opens it on this
// machine) and is reached there; a container without published ports is
// NODATA; the bridge address is answered to no one; a stop withdraws it.
func TestDockerRootlessPublishedPort(t *testing.T) {
	e := dockertest.StartRootlessDocker(t)
	s := startCoreDNS(t, dockerCorefile(e.Host()+" drl", nil))
	image := e.HostnameImage()
	web := e.Run("web", "-p", "127.0.0.1::8080", image)
	e.Run("quiet", image)
	inner := e.Docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", web)
	if !strings.HasPrefix(inner, "172.") {
		t.Fatalf("rootless container's bridge address %q, want one of its namespace's docker0", inner)
	}
	name := fqdn(e.Name("web"))
	s.waitA(t, name, "127.0.0.1")
	if got := answerA(s.exchange(t, "udp", name, dns.TypeA)); len(got) != 1 {
		t.Errorf("%s A %v, want only the published address (not %s)", name, got, inner)
	}

	reachesContainer(t, e, web, "127.0.0.1")
	s.waitNODATA(t, fqdn(e.Name("quiet")))
	if v, ok := series(t, "coredns_dockerhosts_engine_info", map[string]string{"engine": "drl", "kind": "docker", "rootless": "true"}); !ok || v != 1 {
		t.Errorf("engine_info{engine=drl,kind=docker,rootless=true} = %v (present %v), want 1", v, ok)
	}

	e.Docker("stop", "--time", "0", web)
	s.waitNXDOMAIN(t, name)
}
