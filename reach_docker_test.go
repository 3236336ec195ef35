//go:build linux

package dockerhosts

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"

	// The README's Corefile caches and forwards.
	_ "github.com/coredns/coredns/plugin/cache"
)

// readmeCorefile is the Corefile block that follows intro in README.md.
func readmeCorefile(t *testing.T, intro string) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), intro)
	if !ok {
		t.Fatalf("README.md has no %q", intro)
	}
	_, rest, ok = strings.Cut(rest, "```corefile\n")
	block, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatalf("README.md has no Corefile after %q", intro)
	}
	return block
}

// askAt asks server:53 one question from this host's namespace when ns is
// nil, else from inside ns.
func askAt(t *testing.T, ns *hostlan.Namespace, server netip.Addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	addr := net.JoinHostPort(server.String(), "53")
	var conn net.Conn
	var err error
	if ns == nil {
		conn, err = net.DialTimeout("udp", addr, 2*time.Second)
	} else {
		conn, err = ns.Dial("udp", addr, 2*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.ExchangeWithConn(new(dns.Msg).SetQuestion(name, qtype), &dns.Conn{Conn: conn})
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// TestEveryClientReachesThePublishedContainer serves the README's first
// example Corefile (cache in front) on a LAN address of this host and on a
// Docker network's gateway. A LAN machine (a namespace with no route to
// Docker's networks, its resolv.conf naming the resolver) resolves a
// container that publishes a port to the host's LAN address, and reaches it
// over HTTP, by A and by SRV; the host and a container on the network get
// the container's own address. They ask in turn: the cache gives no client
// another's answer.
func TestEveryClientReachesThePublishedContainer(t *testing.T) {
	l := newDockerLab(t)
	hostlan.RequirePrograms(t, "getent", "curl")
	lan := hostlan.NewUplink(t, "lan")
	lan.WriteResolvConf("nameserver " + lan.HostAddr.String() + "\n")
	gateway := l.subnet.Addr().Next()

	corefile := readmeCorefile(t, "Serve the Docker Engine under `docker.`")
	if !strings.Contains(corefile, "cache") {
		t.Fatalf("the README's example has no cache any more:\n%s", corefile)
	}
	head, body, _ := strings.Cut(corefile, "{\n")
	s := startCoreDNS(t, head+"{\n    bind "+lan.HostAddr.String()+" "+gateway.String()+"\n"+body)

	web := l.Run("web", "--network", l.net, "-p", "8080", l.HostnameImage())
	name := fqdn(l.Name("web"))
	own := l.ip(web, l.net)
	port := l.hostPort(web, "8080/tcp", "0.0.0.0")
	url := "http://" + strings.TrimSuffix(name, ".") + ":" + strconv.Itoa(int(port)) + "/"
	s.waitA(t, name, own)

	lanGets := func(want string) {
		t.Helper()
		if got := answerA(askAt(t, lan.Namespace, lan.HostAddr, name, dns.TypeA)); !slices.Equal(got, []string{want}) {
			t.Errorf("the LAN machine is told %v, want %s", got, want)
		}
	}
	hostGets := func(want string) {
		t.Helper()
		if got := answerA(askAt(t, nil, lan.HostAddr, name, dns.TypeA)); !slices.Equal(got, []string{want}) {
			t.Errorf("the host is told %v, want %s", got, want)
		}
	}
	lanGets(lan.HostAddr.String())
	hostGets(own)
	lanGets(lan.HostAddr.String())
	hostGets(own)

	// Through glibc and the resolv.conf, then over HTTP.
	if out, err := lan.Run("getent", "ahostsv4", strings.TrimSuffix(name, ".")); err != nil || !strings.HasPrefix(out, lan.HostAddr.String()+" ") {
		t.Errorf("getent ahostsv4 %s on the LAN machine: %q, %v; want %s", name, out, err, lan.HostAddr)
	}
	if out, err := lan.Run("curl", "-sS", "--max-time", "5", url); err != nil || strings.TrimSpace(out) != web[:12] {
		t.Errorf("curl %s from the LAN machine: %q, %v; want container %.12s", url, out, err, web)
	}

	// SRV: the host's port, its target's address the one this client reaches.
	r := askAt(t, lan.Namespace, lan.HostAddr, "_8080._tcp."+name, dns.TypeSRV)
	var target string
	for _, rr := range r.Answer {
		if v, ok := rr.(*dns.SRV); ok && v.Port == port {
			target = v.Target
		}
	}
	var extra []string
	for _, rr := range r.Extra {
		if v, ok := rr.(*dns.A); ok && v.Hdr.Name == target {
			extra = append(extra, v.A.String())
		}
	}
	if target == "" || !slices.Equal(extra, []string{lan.HostAddr.String()}) {
		t.Errorf("SRV from the LAN machine: %v, want port %d at a target whose address is %s", r, port, lan.HostAddr)
	} else if out, err := lan.Run("curl", "-sS", "--max-time", "5", "http://"+extra[0]+":"+strconv.Itoa(int(port))+"/"); err != nil || strings.TrimSpace(out) != web[:12] {
		t.Errorf("curl the SRV target from the LAN machine: %q, %v", out, err)
	}

	// A container on the network, asking on its gateway, between LAN
	// questions.
	asker := l.Name("asker")
	l.Run("asker", "--network", l.net, l.DNSClientImage(), gateway.String()+":53", name)
	await.True(t, dockerWithin, "the container is told "+own, func() bool {
		return slices.Contains(strings.Split(l.Docker("logs", asker), "\n"), own)
	})
	lanGets(lan.HostAddr.String())
	if logs := l.Docker("logs", asker); slices.Contains(strings.Split(logs, "\n"), lan.HostAddr.String()) {
		t.Errorf("the container was told the LAN's answer:\n%s", logs)
	}
}

// TestSwarmServiceByWhoAsks: a swarm service publishing an ingress port is
// its VIP on this machine (the engine's) and in its overlay (the probe in
// TestSwarm), and the node to a LAN machine. Only the answers: this kernel
// has no IPVS, so the routing mesh carries no traffic.
func TestSwarmServiceByWhoAsks(t *testing.T) {
	l := newSwarmLab(t)
	lan := hostlan.NewUplink(t, "lan")
	startCoreDNS(t, "docker.:53 {\n\tbind "+lan.HostAddr.String()+"\n\tdockerhosts {\n\t\tdocker\n\t}\n}")
	svc := l.Service("pub", "--network", l.net, "--publish", "8080", l.idle)
	l.tasks(svc, 1)
	node := l.Docker("info", "--format", "{{.Swarm.NodeAddr}}")
	l.dns.waitA(t, fqdn(svc), l.vip(svc))
	await.True(t, swarmWithin, "the LAN machine is told the node, "+node, func() bool {
		return slices.Equal(answerA(askAt(t, lan.Namespace, lan.HostAddr, fqdn(svc), dns.TypeA)), []string{node})
	})
}
