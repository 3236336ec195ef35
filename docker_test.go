package dockerhosts

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"

	// The readiness endpoint, to check what Ready reports.
	_ "github.com/coredns/coredns/plugin/ready"
)

// These tests run an in-process CoreDNS against the real Docker Engine and
// check everything through DNS queries. They skip without an engine (fail
// with DOCKERHOSTS_REQUIRE_DOCKER=1) and remove what they create.

// dockerWithin bounds the wait for an engine event to show in the answers.
// Events take milliseconds; the margin is for a busy 2-core CI machine.
const dockerWithin = 20 * time.Second

// dockerLab is one test's part of the engine: the idle image and a
// user-defined network with a subnet of its own, so that --ip can pin
// addresses.
type dockerLab struct {
	*dockertest.Engine
	t      *testing.T
	image  string
	net    string
	subnet netip.Prefix
}

func newDockerLab(t *testing.T) *dockerLab {
	t.Helper()
	e := dockertest.Require(t)
	l := &dockerLab{Engine: e, t: t, image: e.IdleImage()}
	l.net, l.subnet = e.SubnetNetwork("net")
	return l
}

// run starts a container named after suffix on the lab's network.
func (l *dockerLab) run(suffix string, args ...string) string {
	l.t.Helper()
	return l.Run(suffix, append(append([]string{"--network", l.net}, args...), l.image)...)
}

// ip is the container's IPv4 address on network.
func (l *dockerLab) ip(id, network string) string {
	l.t.Helper()
	ip := l.Docker("inspect", "--format", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, network), id)
	if _, err := netip.ParseAddr(ip); err != nil {
		l.t.Fatalf("container %.12s has no address on %s: %q", id, network, ip)
	}
	return ip
}

// dockerCorefile serves docker. from the engine at endpoint ("" for
// DOCKER_HOST or the default socket), with more dockerhosts properties and
// more plugins. The root zone lets PTR questions in.
func dockerCorefile(endpoint string, props []string, plugins ...string) string {
	return fmt.Sprintf(`.:0 {
	%s
	dockerhosts docker. {
		docker %s
		%s
	}
}`, strings.Join(plugins, "\n\t"), endpoint, strings.Join(props, "\n\t\t"))
}

func fqdn(name string) string { return name + ".docker." }

// answersA reports whether name's A answer over proto is exactly want.
func (s *coreDNS) answersA(t *testing.T, proto, name string, want ...string) bool {
	t.Helper()
	r := s.exchange(t, proto, name, dns.TypeA)
	want = slices.Sorted(slices.Values(want))
	return r.Rcode == dns.RcodeSuccess && slices.Equal(answerA(r), want)
}

// nxdomain reports whether name's A question gets NXDOMAIN.
func (s *coreDNS) nxdomain(t *testing.T, name string) bool {
	t.Helper()
	return s.exchange(t, "udp", name, dns.TypeA).Rcode == dns.RcodeNameError
}

// ptr returns the PTR targets of ip, and the rcode.
func (s *coreDNS) ptr(t *testing.T, proto, ip string) ([]string, int) {
	t.Helper()
	rev, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	r := s.exchange(t, proto, rev, dns.TypePTR)
	var out []string
	for _, rr := range r.Answer {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, p.Ptr)
		}
	}
	return out, r.Rcode
}

func (s *coreDNS) waitA(t *testing.T, name string, want ...string) {
	t.Helper()
	await.True(t, dockerWithin, fmt.Sprintf("%s answers %v", name, want), func() bool {
		return s.answersA(t, "udp", name, want...)
	})
}

func (s *coreDNS) waitNXDOMAIN(t *testing.T, name string) {
	t.Helper()
	await.True(t, dockerWithin, name+" is NXDOMAIN", func() bool { return s.nxdomain(t, name) })
}

func TestDockerContainerLifecycle(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	app, alias, host := l.Name("app"), l.Name("alias"), l.Name("host")

	// start: the name, a network alias and an explicit hostname answer;
	// the address points back to the container name.
	id := l.run("app", "--network-alias", alias, "--hostname", host)
	ip := l.ip(id, l.net)
	s.waitA(t, fqdn(app), ip)
	for _, name := range []string{alias, host} {
		for _, proto := range []string{"udp", "tcp"} {
			if !s.answersA(t, proto, fqdn(name), ip) {
				t.Errorf("%s %s does not answer %s", proto, name, ip)
			}
		}
	}
	if got, _ := s.ptr(t, "tcp", ip); !slices.Equal(got, []string{fqdn(app)}) {
		t.Errorf("PTR %s: %v, want %s", ip, got, fqdn(app))
	}

	// stop: every name goes, and so does the reverse record.
	l.Docker("stop", "--time", "5", id)
	s.waitNXDOMAIN(t, fqdn(app))
	for _, name := range []string{alias, host} {
		if !s.nxdomain(t, fqdn(name)) {
			t.Errorf("%s still answers after stop", name)
		}
	}
	if got, rcode := s.ptr(t, "udp", ip); rcode != dns.RcodeNameError {
		t.Errorf("PTR %s after stop: %v rcode %s, want NXDOMAIN", ip, got, dns.RcodeToString[rcode])
	}

	// Restart at a new address: a squatter takes the old one first. The
	// name must follow the container, never answer the squatter's address.
	squatter := l.Name("squatter")
	l.run("squatter", "--ip", ip)
	s.waitA(t, fqdn(squatter), ip)
	l.Docker("start", id)
	newIP := l.ip(id, l.net)
	if newIP == ip {
		t.Fatalf("the restarted container kept %s although the squatter holds it", ip)
	}
	await.True(t, dockerWithin, app+" answers its new address "+newIP, func() bool {
		r := s.exchange(t, "udp", fqdn(app), dns.TypeA)
		if got := answerA(r); slices.Contains(got, ip) {
			t.Fatalf("%s answered the squatter's address: %v", app, got)
		}
		return slices.Equal(answerA(r), []string{newIP})
	})
	if got, _ := s.ptr(t, "udp", ip); !slices.Equal(got, []string{fqdn(squatter)}) {
		t.Errorf("PTR %s: %v, want the squatter", ip, got)
	}

	// rename: the old name goes, the new one answers, PTR follows.
	renamed := l.Name("renamed")
	l.Docker("rename", app, renamed)
	s.waitA(t, fqdn(renamed), newIP)
	s.waitNXDOMAIN(t, fqdn(app))
	if got, _ := s.ptr(t, "udp", newIP); !slices.Equal(got, []string{fqdn(renamed)}) {
		t.Errorf("PTR %s after rename: %v", newIP, got)
	}
}

func TestDockerNetworkConnectAndDisconnect(t *testing.T) {
	l := newDockerLab(t)
	second, _ := l.SubnetNetwork("second")
	s := startCoreDNS(t, dockerCorefile("", nil))
	app := fqdn(l.Name("app"))

	id := l.run("app")
	ip := l.ip(id, l.net)
	s.waitA(t, app, ip)

	// The client, 127.0.0.1, is on neither network: it gets both addresses.
	l.Docker("network", "connect", second, id)
	ip2 := l.ip(id, second)
	s.waitA(t, app, ip, ip2)
	if !s.answersA(t, "tcp", app, ip, ip2) {
		t.Errorf("TCP answer differs from UDP after connect")
	}
	l.Docker("network", "disconnect", second, id)
	s.waitA(t, app, ip)
}

func TestDockerPreferredNetworkIsTheOnlyAnswer(t *testing.T) {
	l := newDockerLab(t)
	second, _ := l.SubnetNetwork("second")
	s := startCoreDNS(t, dockerCorefile("", []string{"networks " + second}))
	app := fqdn(l.Name("app"))

	id := l.run("app")
	l.Docker("network", "connect", second, id)
	ip2 := l.ip(id, second)
	s.waitA(t, app, ip2)
}

func TestDockerComposeServiceAndSRV(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	project := strings.ReplaceAll(l.Prefix, "-", "")

	addrOf := map[string]string{} // SRV target -> address
	for n := 1; n <= 3; n++ {
		suffix := fmt.Sprintf("web-%d", n)
		id := l.run(suffix,
			"--label", "com.docker.compose.project="+project,
			"--label", "com.docker.compose.service=web",
			"--label", fmt.Sprintf("com.docker.compose.container-number=%d", n),
			"--label", "dockerhosts.srv=http:8080/tcp")
		addrOf[fqdn(l.Name(suffix))] = l.ip(id, l.net)
	}
	service := "web." + project + ".docker."
	s.waitA(t, service, slices.Collect(maps.Values(addrOf))...)

	r := s.exchange(t, "tcp", "_http._tcp."+service, dns.TypeSRV)
	targets := map[string]bool{}
	for _, rr := range r.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Port != 8080 {
			t.Fatalf("answer %v, want SRV port 8080", rr)
		}
		targets[srv.Target] = true
	}
	if len(r.Answer) != 3 || len(targets) != 3 {
		t.Fatalf("want one SRV per replica, got %v", r.Answer)
	}
	extra := map[string]string{}
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok {
			extra[a.Hdr.Name] = a.A.String()
		}
	}
	for target, ip := range addrOf {
		if !targets[target] {
			t.Errorf("no SRV record targets %s (targets %v)", target, targets)
		}
		if extra[target] != ip {
			t.Errorf("additional A of %s: %q, want %s", target, extra[target], ip)
		}
	}
}

func TestDockerOptOutLabel(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	l.run("off", "--label", "dockerhosts.enable=false")
	// Events apply in order: once the later container answers, the
	// opted-out one has been seen.
	marker := l.run("marker")
	s.waitA(t, fqdn(l.Name("marker")), l.ip(marker, l.net))
	if !s.nxdomain(t, fqdn(l.Name("off"))) {
		t.Error("a container labelled dockerhosts.enable=false is served")
	}
}

func TestDockerOptInServesOnlyEnabled(t *testing.T) {
	l := newDockerLab(t)
	// Before the server starts: these come from the (filtered) list.
	listedOn := l.run("listed-on", "--label", "dockerhosts.enable=true")
	l.run("listed-plain")
	s := startCoreDNS(t, dockerCorefile("", []string{"opt_in"}))
	s.waitA(t, fqdn(l.Name("listed-on")), l.ip(listedOn, l.net))

	// After: these come from events.
	l.run("plain")
	l.run("off", "--label", "dockerhosts.enable=false")
	on := l.run("on", "--label", "dockerhosts.enable=true")
	s.waitA(t, fqdn(l.Name("on")), l.ip(on, l.net))
	for _, suffix := range []string{"listed-plain", "plain", "off"} {
		if !s.nxdomain(t, fqdn(l.Name(suffix))) {
			t.Errorf("opt_in serves %s, which is not labelled dockerhosts.enable=true", suffix)
		}
	}
}

func TestDockerFiftyContainers(t *testing.T) {
	const n = 50
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))

	// docker run in a few goroutines: the engine starts them concurrently.
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ids[i], errs[i] = l.TryRun(fmt.Sprintf("many-%02d", i), "--network", l.net, l.image)
			}
		}()
	}
	began := time.Now()
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()

	// One inspect for all: name and address.
	format := fmt.Sprintf(`{{.Name}} {{(index .NetworkSettings.Networks %q).IPAddress}}`, l.net)
	want := map[string]string{}
	for line := range strings.Lines(l.Docker(append([]string{"inspect", "--format", format}, ids...)...)) {
		name, ip, _ := strings.Cut(strings.TrimSpace(line), " ")
		want[fqdn(strings.TrimPrefix(name, "/"))] = ip
	}
	if len(want) != n {
		t.Fatalf("inspect found %d containers, want %d", len(want), n)
	}
	pending := maps.Clone(want)
	await.True(t, 30*time.Second, "all 50 names answer", func() bool {
		for name, ip := range pending {
			if !s.answersA(t, "udp", name, ip) {
				return false
			}
			delete(pending, name)
		}
		return true
	})
	t.Logf("%d containers started in %s; all answered %s after the last start",
		n, started.Sub(began).Round(time.Millisecond), time.Since(started).Round(time.Millisecond))

	// One by one: Docker 20.10 can lose count of a network's endpoints when
	// containers on it are removed concurrently (moby/moby#42119), and the
	// network then outlives the test.
	for _, id := range ids {
		l.Docker("rm", "--force", id)
	}
	removed := time.Now()
	pending = maps.Clone(want)
	await.True(t, 30*time.Second, "all 50 names are gone", func() bool {
		for name := range pending {
			if !s.nxdomain(t, name) {
				return false
			}
			delete(pending, name)
		}
		return true
	})
	t.Logf("all gone %s after the last removal", time.Since(removed).Round(time.Millisecond))
}

func TestDockerHostsFileWinsOverContainer(t *testing.T) {
	l := newDockerLab(t)
	app := l.Name("app")
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "192.0.2.77 "+app+"\n")
	s := startCoreDNS(t, dockerCorefile("", []string{"hostsfile " + hosts}))

	id := l.run("app")
	marker := l.run("marker")
	s.waitA(t, fqdn(l.Name("marker")), l.ip(marker, l.net))
	if !s.answersA(t, "udp", fqdn(app), "192.0.2.77") {
		t.Errorf("%s: %v, want only the hosts file's 192.0.2.77", app, answerA(s.exchange(t, "udp", fqdn(app), dns.TypeA)))
	}

	// Without the file's line, the container's own address shows again.
	writeFile(t, hosts, "192.0.2.78 other\n")
	s.waitA(t, fqdn(app), l.ip(id, l.net))
}

func TestDockerKeepsRecordsThroughConnectionLoss(t *testing.T) {
	l := newDockerLab(t)
	proxy := dockertest.StartProxy(t, dockertest.EngineSocket(), dockertest.PassThrough)
	keep := l.run("keep")
	gone := l.run("gone")
	readyAddr := freeLoopbackAddr(t)
	s := startCoreDNS(t, dockerCorefile(proxy.Endpoint(), nil, "ready "+readyAddr+" {\n\t\tmonitor continuously\n\t}"))
	keepName, goneName, freshName := fqdn(l.Name("keep")), fqdn(l.Name("gone")), fqdn(l.Name("fresh"))
	keepIP, goneIP := l.ip(keep, l.net), l.ip(gone, l.net)
	s.waitA(t, keepName, keepIP)
	s.waitA(t, goneName, goneIP)
	await.True(t, dockerWithin, "ready", func() bool { return readyStatus(t, readyAddr) == http.StatusOK })

	proxy.Cut()
	await.True(t, dockerWithin, "the plugin tries to reconnect", func() bool { return proxy.Refused() > 0 })
	fresh := l.run("fresh")
	l.Docker("rm", "--force", gone)
	// At least one more failed attempt after the changes: the plugin has
	// had its chance to notice them, and must still serve what it knew.
	tried := proxy.Refused()
	await.True(t, dockerWithin, "another reconnection attempt", func() bool { return proxy.Refused() > tried })
	if !s.answersA(t, "udp", goneName, goneIP) || !s.answersA(t, "tcp", keepName, keepIP) {
		t.Error("records were dropped while the engine was unreachable")
	}
	if !s.nxdomain(t, freshName) {
		t.Error("a container started while cut answers before the reconnection")
	}
	if code := readyStatus(t, readyAddr); code != http.StatusOK {
		t.Errorf("ready while cut: %d, want 200: the last known records are still served", code)
	}

	proxy.Restore()
	s.waitA(t, freshName, l.ip(fresh, l.net))
	s.waitNXDOMAIN(t, goneName)
	if !s.answersA(t, "udp", keepName, keepIP) {
		t.Error("the container left alone is gone after the resync")
	}
}

func TestDockerThroughReadOnlySocketProxy(t *testing.T) {
	l := newDockerLab(t)
	proxy := dockertest.StartProxy(t, dockertest.EngineSocket(), dockertest.ReadOnly)
	listed := l.run("listed")
	s := startCoreDNS(t, dockerCorefile(proxy.Endpoint(), nil))
	s.waitA(t, fqdn(l.Name("listed")), l.ip(listed, l.net))
	started := l.run("started")
	s.waitA(t, fqdn(l.Name("started")), l.ip(started, l.net))
	if proxy.Forbidden() != 0 || proxy.Forwarded() == 0 {
		t.Errorf("the proxy forbade %d and forwarded %d requests: the plugin must only read", proxy.Forbidden(), proxy.Forwarded())
	}
}

// TestDockerUnreachableAtStartupServesHostsFile needs no engine.
func TestDockerUnreachableAtStartupServesHostsFile(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "192.0.2.10 filehost\n")
	readyAddr := freeLoopbackAddr(t)
	s := startCoreDNS(t, dockerCorefile("unix:///nonexistent", []string{"hostsfile " + hosts}, "ready "+readyAddr))
	for _, proto := range []string{"udp", "tcp"} {
		if !s.answersA(t, proto, "filehost.docker.", "192.0.2.10") {
			t.Errorf("%s: the hosts file is not served while Docker is unreachable", proto)
		}
	}
	if !s.nxdomain(t, "missing.docker.") {
		t.Error("an unknown name is not NXDOMAIN")
	}
	// Ready once the engine is known down: one dead engine must not keep
	// the resolver (and every other source) unready.
	await.True(t, dockerWithin, "ready with the engine known down", func() bool {
		return readyStatus(t, readyAddr) == http.StatusOK
	})
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readyStatus(t *testing.T, addr string) int {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/ready")
	if err != nil {
		t.Fatalf("ready endpoint: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
