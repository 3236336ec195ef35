package dockerhosts

import (
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// These tests reach the real engine over tcp:// and mutual TLS, through a
// dockertest.TLSProxy in front of its Unix socket: the plugin's client must
// present a certificate the proxy trusts and trust the proxy's. They set
// environment variables, so they stay serial.

// untrustedWithin is how long an untrusted client is watched for a sync that
// must not happen: an assertion of absence, so a bound, kept short.
const untrustedWithin = 2 * time.Second

func TestDockerOverTLSWithExplicitCertificates(t *testing.T) {
	l := newDockerLab(t)
	proxy := dockertest.StartTLSProxy(t, dockertest.EngineSocket())
	c := proxy.Client
	s := startCoreDNS(t, dockerCorefile(proxy.Endpoint(), []string{"tls " + c.Cert + " " + c.Key + " " + c.CA}))

	// Started after CoreDNS: the name comes through the event stream over
	// TLS, not only the first list. The CLI uses the engine's own socket,
	// so every connection the proxy forwarded is the plugin's.
	id := l.run("app")
	s.waitA(t, fqdn(l.Name("app")), l.ip(id, l.net))
	if proxy.Forwarded() == 0 || proxy.Rejected() != 0 {
		t.Errorf("proxy forwarded %d and rejected %d connections, want some and none", proxy.Forwarded(), proxy.Rejected())
	}
}

func TestDockerOverTLSFromEnvironment(t *testing.T) {
	l := newDockerLab(t)
	proxy := dockertest.StartTLSProxy(t, dockertest.EngineSocket())
	// Started before DOCKER_HOST points at the proxy, so the CLI keeps the
	// engine's socket and the proxy sees only the plugin.
	id := l.run("app")
	ip := l.ip(id, l.net)

	t.Setenv("DOCKER_HOST", proxy.Endpoint())
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	t.Setenv("DOCKER_CERT_PATH", proxy.Client.Dir)
	s := startCoreDNS(t, dockerCorefile("", nil))

	s.waitA(t, fqdn(l.Name("app")), ip)
	if proxy.Forwarded() == 0 || proxy.Rejected() != 0 {
		t.Errorf("proxy forwarded %d and rejected %d connections, want some and none", proxy.Forwarded(), proxy.Rejected())
	}
}

func TestDockerOverTLSRejectsAnUntrustedClient(t *testing.T) {
	l := newDockerLab(t)
	proxy := dockertest.StartTLSProxy(t, dockertest.EngineSocket())
	// The client trusts the proxy; its own certificate comes from another
	// CA, so the proxy's RequireAndVerifyClientCert is what refuses it.
	c := proxy.UntrustedClient(t)
	readyAddr := freeLoopbackAddr(t)
	s := startCoreDNS(t, dockerCorefile(proxy.Endpoint(), []string{"tls " + c.Cert + " " + c.Key + " " + c.CA}, "ready "+readyAddr))
	l.run("app")

	await.True(t, dockerWithin, "the proxy rejects the plugin's handshake", func() bool { return proxy.Rejected() > 0 })
	name := fqdn(l.Name("app"))
	deadline := time.Now().Add(untrustedWithin)
	for time.Now().Before(deadline) {
		if !s.nxdomain(t, name) {
			t.Fatalf("%s resolves through an untrusted client", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := proxy.Forwarded(); n != 0 {
		t.Errorf("proxy forwarded %d connections of an untrusted client", n)
	}

	// CoreDNS still serves the zone, authoritatively, and is ready: the
	// engine is known down.
	r := s.exchange(t, "udp", "docker.", dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA || !r.Authoritative {
		t.Errorf("SOA docker.: want one authoritative SOA, got\n%v", r)
	}
	if code := readyStatus(t, readyAddr); code != http.StatusOK {
		t.Errorf("ready: %d, want 200 once the engine is known down", code)
	}
}
