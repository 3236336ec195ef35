package dockerhosts

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// haproxy is a real HAProxy (Debian's) run by a test on loopback.
type haproxy struct {
	front string // address of its HTTP frontend
}

// startHAProxy runs haproxy -db with cfg, in which FRONT stands for the
// frontend's address; it is stopped when the test ends. It skips without
// haproxy, but fails under DOCKERHOSTS_REQUIRE_DOCKER=1 (CI installs it).
func startHAProxy(t *testing.T, cfg string) *haproxy {
	t.Helper()
	bin := dockertest.NeedProgram(t, "haproxy", "haproxy")
	h := &haproxy{front: freeLoopbackAddr(t)}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, strings.ReplaceAll(cfg, "FRONT", h.front))
	startListening(t, "haproxy", exec.Command(bin, "-db", "-f", path), h.front)
	return h
}

// startListening starts cmd, which serves TCP on the loopback address addr,
// and waits until it accepts connections. The process is killed when the
// test ends, and its output (returned) is logged if the test failed.
func startListening(t *testing.T, name string, cmd *exec.Cmd, addr string) *bytes.Buffer {
	t.Helper()
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	await.True(t, dockerWithin, name+" listens on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return out
}

// followSRV is an HAProxy configuration whose backend follows the SRV
// records of srvName at the resolver dnsAddr (a CoreDNS on loopback), with
// no reload: up to 5 servers, each record's target and port.
func followSRV(dnsAddr, srvName string) string {
	return resolvingHAProxy(dnsAddr, "balance roundrobin\n    server-template app 5 "+srvName+" resolvers dh init-addr none")
}

// resolvingHAProxy is an HAProxy configuration whose backend app, given by
// its lines, resolves its servers at dnsAddr (the resolvers section dh).
func resolvingHAProxy(dnsAddr, backend string) string {
	_, port, _ := net.SplitHostPort(dnsAddr)
	return fmt.Sprintf(`
defaults
    mode http
    option redispatch
    retries 3
    # A new server connection per request, so that one made before an
    # address changed is not reused after.
    option http-server-close
    http-reuse never
    timeout connect 1s
    timeout client 5s
    timeout server 5s

resolvers dh
    nameserver dh 127.0.0.1:%s
    accepted_payload_size 8192
    resolve_retries 2
    timeout resolve 200ms
    timeout retry 200ms
    hold valid 1s
    hold obsolete 1s
    hold nx 1s

frontend web
    bind FRONT
    default_backend app

backend app
    %s
`, port, backend)
}

// backends asks the frontend n times and returns the distinct answers (the
// hostnames of the containers that served them), sorted.
func (h *haproxy) backends(n int) []string {
	c := &http.Client{Timeout: 2 * time.Second}
	seen := map[string]bool{}
	for range n {
		resp, err := c.Get("http://" + h.front + "/")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			seen[strings.TrimSpace(string(b))] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestHAProxyFollowsPublishedPortSRV: HAProxy on the host reaches containers
// of the second engine through their published ports, found by SRV
// (_8080._tcp.<alias>.docker, targets on 127.0.0.1 with their address in
// the additional section), and follows containers being added and removed
// without a reload.
func TestHAProxyFollowsPublishedPortSRV(t *testing.T) {
	w := startTwoEngines(t)
	l, d := w.l, w.d
	image := l.HostnameImage()
	d.CopyImage(image)
	alias := l.Name("app")
	run := func(suffix string) string {
		id := d.Run(suffix, "--network", w.net2, "--network-alias", alias, "--hostname", l.Name(suffix),
			"-p", "127.0.0.1::8080", image)
		return id
	}
	run("a1")
	run("a2")
	h := startHAProxy(t, followSRV(w.s.udp, "_8080._tcp."+alias+".docker"))

	want := func(suffixes ...string) []string {
		var out []string
		for _, s := range suffixes {
			out = append(out, l.Name(s))
		}
		slices.Sort(out)
		return out
	}
	follow := func(what string, names []string) {
		t.Helper()
		await.True(t, dockerWithin, fmt.Sprintf("haproxy %s: serves %v", what, names), func() bool {
			return slices.Equal(h.backends(20), names)
		})
	}
	follow("at start", want("a1", "a2"))
	run("a3")
	follow("after a container was added", want("a1", "a2", "a3"))
	d.Docker("rm", "--force", l.Name("a1"))
	follow("after a container was removed", want("a2", "a3"))
}

// TestHAProxyResolvesACNAME: HAProxy's own resolver asks A for an alias
// (dockerhosts.cname) and follows the CNAME in the answer to the target's
// address; when the alias is made again to point elsewhere, it follows
// without a reload.
func TestHAProxyResolvesACNAME(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	image := l.HostnameImage()
	for _, v := range []string{"v1", "v2"} {
		l.Run(v, "--network", l.net, "--hostname", l.Name(v), image)
	}
	www := l.Name("www")
	alias := func(target string) {
		l.run("www", "--label", "dockerhosts.cname="+l.Name(target))
		want := "CNAME " + fqdn(l.Name(target)) + "; A " + l.ip(l.Name(target), l.net)
		await.True(t, dockerWithin, fqdn(www)+" answers "+want, func() bool {
			return answerText(s.exchange(t, "udp", fqdn(www), dns.TypeA)) == want
		})
	}
	alias("v1")

	h := startHAProxy(t, resolvingHAProxy(s.udp,
		"server www "+strings.TrimSuffix(fqdn(www), ".")+":8080 resolvers dh init-addr none resolve-prefer ipv4"))

	follow := func(what, want string) {
		t.Helper()
		await.True(t, dockerWithin, fmt.Sprintf("haproxy %s: serves %s", what, want), func() bool {
			return slices.Equal(h.backends(5), []string{want})
		})
	}
	follow("at start", l.Name("v1"))
	l.Docker("rm", "--force", www)
	alias("v2")
	follow("after the alias was pointed at v2", l.Name("v2"))
}
