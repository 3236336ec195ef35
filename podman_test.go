package dockerhosts

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// The Podman tests run the Docker tests' checks against the test binary's
// own podman system service (internal/dockertest), served as the engine
// "pm", with its resync left at five minutes: every change must come from
// an event.

// newPodmanLab is newDockerLab on the Podman service: the same helpers
// drive it through podman --url.
func newPodmanLab(t *testing.T) *dockerLab {
	t.Helper()
	e := dockertest.RequirePodman(t)
	l := &dockerLab{Engine: e, t: t, image: e.IdleImage()}
	l.net, l.subnet = e.SubnetNetwork("net")
	return l
}

// podmanCorefile serves docker. from the Podman service as the engine "pm".
func podmanCorefile(props ...string) string {
	return dockerCorefile(dockertest.PodmanHost()+" pm", props)
}

// TestPodmanContainerLifecycle: start, stop (Podman's "died"), a restart
// onto a new address and a rename, as with Docker.
func TestPodmanContainerLifecycle(t *testing.T) {
	l := newPodmanLab(t)
	checkContainerLifecycle(t, l, startCoreDNS(t, podmanCorefile()))
}

// TestPodmanNetworkConnectAndDisconnect: Podman's network events name the
// container where Docker names the network.
func TestPodmanNetworkConnectAndDisconnect(t *testing.T) {
	l := newPodmanLab(t)
	checkNetworkConnectAndDisconnect(t, l, startCoreDNS(t, podmanCorefile()))
}

// TestPodmanPauseKillAndRemove: a paused container keeps its address and
// is answered; a killed one and a force-removed one are withdrawn at once.
func TestPodmanPauseKillAndRemove(t *testing.T) {
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile())
	paused, killed, removed := l.Name("paused"), l.Name("killed"), l.Name("removed")
	pausedIP := l.ip(l.run("paused"), l.net)
	killedIP := l.ip(l.run("killed"), l.net)
	removedIP := l.ip(l.run("removed"), l.net)
	s.waitA(t, fqdn(paused), pausedIP)
	s.waitA(t, fqdn(killed), killedIP)
	s.waitA(t, fqdn(removed), removedIP)

	l.Docker("pause", paused)
	l.Docker("kill", killed)
	l.Docker("rm", "--force", removed)
	s.waitNXDOMAIN(t, fqdn(killed))
	s.waitNXDOMAIN(t, fqdn(removed))
	if !s.answersA(t, "udp", fqdn(paused), pausedIP) {
		t.Errorf("paused container does not answer %s", pausedIP)
	}
	l.Docker("unpause", paused)
	if !s.answersA(t, "udp", fqdn(paused), pausedIP) {
		t.Errorf("unpaused container does not answer %s", pausedIP)
	}
}

// TestPodmanPodNames: the infra container holds a pod's network and its
// members share it. The pod's name (the infra container's hostname), each
// member's name and the pod's network aliases answer the pod's address;
// a published port of the pod is an SRV record of each; the pod's stop
// withdraws them all.
func TestPodmanPodNames(t *testing.T) {
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile("host_address 127.0.0.2"))
	pod, alias := l.Name("pod"), l.Name("podalias")
	l.Docker("pod", "create", "--name", pod, "--label", "dockerhosts.test="+l.Prefix,
		"--network", l.net, "--network-alias", alias, "-p", "127.0.0.3::8080/tcp")
	a := l.Run("a", "--pod", pod, l.image)
	l.Run("b", "--pod", pod, l.image)
	ip := l.ip(a, l.net)
	for _, name := range []string{pod, l.Name("a"), l.Name("b"), alias} {
		s.waitA(t, fqdn(name), ip)
	}
	port := l.hostPort(a, "8080/tcp", "127.0.0.3")
	want := []srvAnswer{{"127-0-0-3.pm.docker.", port, "127.0.0.3"}}
	if got, rcode := s.srv(t, "_8080._tcp."+fqdn(l.Name("a"))); rcode != dns.RcodeSuccess || !slices.Equal(got, want) {
		t.Errorf("SRV of a pod member: %v (rcode %s), want %v", got, dns.RcodeToString[rcode], want)
	}

	l.Docker("pod", "stop", "--time", "1", pod)
	for _, name := range []string{pod, l.Name("a"), l.Name("b"), alias} {
		s.waitNXDOMAIN(t, fqdn(name))
	}
}

// TestPodmanPublishedPortsAnswerSRV: published ports are SRV records that
// point at the engine host, or at the address a port is bound to.
func TestPodmanPublishedPortsAnswerSRV(t *testing.T) {
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile("host_address 127.0.0.2"))
	id := l.run("pub", "-p", "127.0.0.3::8080/tcp", "-p", "8081/tcp")
	name := fqdn(l.Name("pub"))
	s.waitA(t, name, l.ip(id, l.net))
	bound := l.hostPort(id, "8080/tcp", "127.0.0.3")
	all := l.hostPort(id, "8081/tcp", "0.0.0.0")
	for _, c := range []struct {
		qname string
		want  []srvAnswer
	}{
		{"_8080._tcp." + name, []srvAnswer{{"127-0-0-3.pm.docker.", bound, "127.0.0.3"}}},
		{"_8081._tcp." + name, []srvAnswer{{"pm.docker.", all, "127.0.0.2"}}},
	} {
		if got, rcode := s.srv(t, c.qname); rcode != dns.RcodeSuccess || !slices.Equal(got, c.want) {
			t.Errorf("SRV %s: %v (rcode %s), want %v", c.qname, got, dns.RcodeToString[rcode], c.want)
		}
	}
	l.Docker("stop", "--time", "1", id)
	await.True(t, dockerWithin, "SRV gone with the container", func() bool {
		_, rcode := s.srv(t, "_8080._tcp."+name)
		return rcode == dns.RcodeNameError
	})
}

// TestPodmanAardvarkParity: for a container on a Podman network, each name
// aardvark-dns answers inside that network (the container's name, its
// aliases) answers the same address from dockerhosts. A client container on
// the network asks aardvark (at the network's gateway) itself.
func TestPodmanAardvarkParity(t *testing.T) {
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile())
	client := l.DNSClientImage()
	web, alias := l.Name("web"), l.Name("webalias")
	ip := l.ip(l.run("web", "--network-alias", alias), l.net)
	gateway := netip.PrefixFrom(l.subnet.Addr().Next(), 32).Addr()
	for _, name := range []string{web, alias} {
		asker := l.Run("ask-"+strings.TrimPrefix(name, l.Prefix+"-"), "--network", l.net, client, gateway.String()+":53", name)
		var aardvark string
		await.True(t, dockerWithin, "aardvark answers "+name, func() bool {
			lines := strings.Split(l.Docker("logs", asker), "\n")
			aardvark = strings.TrimSpace(lines[len(lines)-1])
			return aardvark != "" && aardvark != "-"
		})
		if aardvark != ip {
			t.Errorf("aardvark answers %s with %q, want %s", name, aardvark, ip)
		}
		s.waitA(t, fqdn(name), strings.Fields(aardvark)...)
	}
}

// TestPodmanServiceOutage: the Podman service stops while clients keep
// asking; meanwhile one container stops and another starts, with no event
// stream to tell. The last known records are served throughout; after the
// service returns, the resync withdraws the stopped one (its address is
// free for the next container) and serves the new one.
func TestPodmanServiceOutage(t *testing.T) {
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile())
	stays, goes := l.Name("stays"), l.Name("goes")
	staysIP := l.ip(l.run("stays"), l.net)
	goesIP := l.ip(l.run("goes"), l.net)
	s.waitA(t, fqdn(stays), staysIP)
	s.waitA(t, fqdn(goes), goesIP)

	// Load: clients ask for the container that stays, all along.
	var asked, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := s.exchange(t, "udp", fqdn(stays), dns.TypeA)
				if asked.Add(1); !slices.Equal(answerA(r), []string{staysIP}) {
					wrong.Add(1)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	late := l.Name("late")
	l.PodmanOutage(func(local func(args ...string) string) {
		local("stop", "--time", "1", goes)
		local("run", "--detach", "--name", late, "--label", "dockerhosts.test="+l.Prefix, "--network", l.net, l.image)
		if !s.answersA(t, "udp", fqdn(goes), goesIP) {
			t.Errorf("while the service is down, %s does not answer its last address", goes)
		}
	})
	s.waitNXDOMAIN(t, fqdn(goes))
	s.waitA(t, fqdn(late), l.ip(late, l.net))
	if n, bad := asked.Load(), wrong.Load(); bad > 0 || n == 0 {
		t.Errorf("%d of %d questions for %s during the outage got another answer", bad, n, stays)
	}
	t.Logf("%d questions answered during the test", asked.Load())
}

// TestPodmanComposeServiceName: a project brought up by podman-compose
// answers <service>.<project> as a Docker Compose project does (it sets
// the com.docker.compose labels).
func TestPodmanComposeServiceName(t *testing.T) {
	compose := dockertest.NeedProgram(t, "podman-compose", "podman-compose")
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile())
	project := strings.ReplaceAll(l.Name("proj"), "-", "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf(`services:
  web:
    image: %s
    labels:
      dockerhosts.test: %s
`, l.image, l.Prefix))
	podmanCompose := func(args ...string) {
		t.Helper()
		cmd := exec.Command(compose, append([]string{"--project-name", project, "--file", filepath.Join(dir, "compose.yaml")}, args...)...)
		cmd.Env = append(os.Environ(), "CONTAINER_HOST="+dockertest.PodmanHost()) // podman runs remote
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("podman-compose %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		cmd := exec.Command(compose, "--project-name", project, "--file", filepath.Join(dir, "compose.yaml"), "down")
		cmd.Env = append(os.Environ(), "CONTAINER_HOST="+dockertest.PodmanHost())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("cleanup: podman-compose down: %v: %s", err, out)
		}
	})
	podmanCompose("up", "--detach")
	ids := strings.Fields(l.Docker("ps", "--quiet", "--filter", "label=com.docker.compose.project="+project))
	if len(ids) != 1 {
		t.Fatalf("podman-compose started %d containers, want 1", len(ids))
	}
	nets := strings.Fields(l.Docker("inspect", "--format", "{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{end}}", ids[0]))
	if len(nets) != 1 {
		t.Fatalf("compose container on networks %v", nets)
	}
	s.waitA(t, "web."+project+".docker.", l.ip(ids[0], nets[0]))
	podmanCompose("stop")
	s.waitNXDOMAIN(t, "web."+project+".docker.")
}

// TestEngineKindDockerAndPodman: one resolver follows the machine's Docker
// engine and the Podman service; each is known for what it is from its
// /version.
func TestEngineKindDockerAndPodman(t *testing.T) {
	dockertest.Require(t)
	l := newPodmanLab(t)
	s := startCoreDNS(t, dockerCorefile("unix://"+dockertest.EngineSocket()+" main", []string{"docker " + dockertest.PodmanHost() + " pm"}))
	id := l.run("app")
	s.waitA(t, fqdn(l.Name("app")), l.ip(id, l.net))
	for engine, kind := range map[string]string{"main": "docker", "pm": "podman"} {
		if v, ok := series(t, "coredns_dockerhosts_engine_info", map[string]string{"engine": engine, "kind": kind}); !ok || v != 1 {
			t.Errorf("engine_info{engine=%s,kind=%s} = %v (present %v), want 1", engine, kind, v, ok)
		}
	}
}
