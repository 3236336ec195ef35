package dockerhosts

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"

	// The plugins the test Corefiles use besides ours.
	_ "github.com/coredns/coredns/plugin/forward"
)

func TestMain(m *testing.M) {
	// The stock directive list has no dockerhosts; put it where plugin.cfg does.
	i := slices.Index(dnsserver.Directives, "hosts")
	dirs := slices.Insert(slices.Clone(dnsserver.Directives), i, pluginName)
	if err := dnsserver.SetDirectives(dirs); err != nil {
		panic(err)
	}
	caddy.Quiet, dnsserver.Quiet = true, true
	os.Exit(m.Run())
}

// coreDNS is a CoreDNS server running in this process on loopback ports.
type coreDNS struct {
	inst     *caddy.Instance
	udp, tcp string
}

func startCoreDNS(t *testing.T, corefile string) *coreDNS {
	t.Helper()
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("start CoreDNS: %v", err)
	}
	s := &coreDNS{inst: inst}
	s.addrs(t)
	t.Cleanup(func() { s.inst.Stop(); s.inst.ShutdownCallbacks() })
	return s
}

func (s *coreDNS) addrs(t *testing.T) {
	srv := s.inst.Servers()
	if len(srv) == 0 {
		t.Fatal("CoreDNS started no server")
	}
	s.udp, s.tcp = srv[0].LocalAddr().String(), srv[0].Addr().String()
}

// exchange sends one question and fails the test on a transport error.
func (s *coreDNS) exchange(t *testing.T, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	addr := s.udp
	if proto == "tcp" {
		addr = s.tcp
	}
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}

func answerA(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stubUpstream answers every A question with 192.0.2.53, like an upstream
// resolver would for names outside our zones.
func stubUpstream(t *testing.T) string {
	s := dnstest.NewServer(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 53}}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	t.Cleanup(s.Close)
	return s.Addr
}

func TestServerAnswersOverUDPAndTCP(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	var big strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&big, "10.9.0.%d big\n", i)
	}
	writeFile(t, hosts, "172.17.0.2 appsrv1\n172.17.0.3 appsrv2 # comment\n"+big.String())
	s := startCoreDNS(t, fmt.Sprintf(`.:0 {
		dockerhosts docker. {
			hostsfile %s
			fallthrough
		}
		forward . %s
	}`, hosts, stubUpstream(t)))

	for _, proto := range []string{"udp", "tcp"} {
		r := s.exchange(t, proto, "appsrv1.docker.", dns.TypeA)
		if got := answerA(r); !r.Authoritative || !slices.Equal(got, []string{"172.17.0.2"}) {
			t.Errorf("%s appsrv1: aa=%v %v", proto, r.Authoritative, got)
		}
		r = s.exchange(t, proto, "appsrv1.docker.", dns.TypeAAAA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s AAAA of an IPv4-only name must be NODATA with SOA, got %v", proto, r)
		}
		r = s.exchange(t, proto, "www.example.org.", dns.TypeA)
		if got := answerA(r); !slices.Equal(got, []string{"192.0.2.53"}) {
			t.Errorf("%s fallthrough to forward: %v", proto, got)
		}
		r = s.exchange(t, proto, "missing.docker.", dns.TypeA)
		if got := answerA(r); !slices.Equal(got, []string{"192.0.2.53"}) {
			t.Errorf("%s an unknown name in the zone must fall through, got %v", proto, r)
		}
		r = s.exchange(t, proto, "2.0.17.172.in-addr.arpa.", dns.TypePTR)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "appsrv1.docker." {
			t.Errorf("%s PTR: %v", proto, r)
		}
	}

	// 100 addresses do not fit 512 bytes: truncated over UDP, whole over TCP.
	if r := s.exchange(t, "udp", "big.docker.", dns.TypeA); !r.Truncated {
		t.Errorf("UDP answer of %d records should be truncated", len(r.Answer))
	}
	if r := s.exchange(t, "tcp", "big.docker.", dns.TypeA); r.Truncated || len(r.Answer) != 100 {
		t.Errorf("TCP: truncated=%v with %d records, want all 100", r.Truncated, len(r.Answer))
	}

	// A rewrite of the file is served without a restart.
	writeFile(t, hosts, "172.17.0.9 appsrv1\n")
	await.True(t, 5*time.Second, "appsrv1 moves to 172.17.0.9", func() bool {
		return slices.Equal(answerA(s.exchange(t, "udp", "appsrv1.docker.", dns.TypeA)), []string{"172.17.0.9"})
	})
}

func TestServerIsAuthoritativeWithoutFallthrough(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	s := startCoreDNS(t, fmt.Sprintf(`docker.:0 {
		dockerhosts {
			hostsfile %s
		}
	}`, hosts))
	r := s.exchange(t, "udp", "nope.docker.", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || !r.Authoritative {
		t.Fatalf("want authoritative NXDOMAIN with SOA, got %v", r)
	}
	r = s.exchange(t, "tcp", "docker.", dns.TypeSOA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("apex SOA: %v", r)
	}
}

// TestReloadLeavesNothingBehind restarts the server with a new Corefile 20
// times, as the reload plugin does, and checks goroutines and descriptors.
func TestReloadLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	corefile := func(ttl int) string {
		// The Docker endpoint does not exist: its retry loop must stop too.
		return fmt.Sprintf(`docker.:0 {
			dockerhosts {
				hostsfile %s %s
				docker unix://%s
				ttl %d
			}
		}`, hosts, filepath.Join(dir, "later"), filepath.Join(dir, "no-docker.sock"), ttl)
	}
	s := startCoreDNS(t, corefile(1))
	s.exchange(t, "udp", "appsrv1.docker.", dns.TypeA)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	for i := 2; i <= 21; i++ {
		inst, err := s.inst.Restart(caddy.CaddyfileInput{Contents: []byte(corefile(i)), ServerTypeName: "dns"})
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		s.inst = inst
		s.addrs(t)
		if r := s.exchange(t, "udp", "appsrv1.docker.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != uint32(i) {
			t.Fatalf("after reload %d: %v", i, r)
		}
	}
	// Allow a little slack for runtime and listener goroutines in flux.
	await.True(t, 10*time.Second, "goroutines and descriptors back to where they were", func() bool {
		return runtime.NumGoroutine() <= goroutines+2 && openFDs(t) <= fds+2
	})
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestServerAnswersRFC8906Probes sends the probes resolvers use to learn what
// a server supports: each must get its proper answer, never silence.
func TestServerAnswersRFC8906Probes(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	s := startCoreDNS(t, fmt.Sprintf("docker.:0 {\n dockerhosts {\n  hostsfile %s\n }\n}", hosts))
	edns := func(m *dns.Msg) *dns.OPT { m.SetEdns0(1232, false); return m.IsEdns0() }
	cases := []struct {
		name   string
		tweak  func(*dns.Msg)
		rcode  int
		answer bool
	}{
		{"plain EDNS", func(m *dns.Msg) { edns(m) }, dns.RcodeSuccess, true},
		{"no EDNS", func(m *dns.Msg) {}, dns.RcodeSuccess, true},
		{"EDNS version 1", func(m *dns.Msg) { edns(m).SetVersion(1) }, dns.RcodeBadVers, false},
		{"unknown EDNS option", func(m *dns.Msg) {
			o := edns(m)
			o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2}})
		}, dns.RcodeSuccess, true},
		{"unknown EDNS flag", func(m *dns.Msg) { edns(m).Hdr.Ttl |= 0x40 }, dns.RcodeSuccess, true},
		{"Z bit", func(m *dns.Msg) { edns(m); m.Zero = true }, dns.RcodeSuccess, true},
		{"DO bit", func(m *dns.Msg) { edns(m).SetDo() }, dns.RcodeSuccess, true},
		{"opcode UPDATE", func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }, dns.RcodeNotImplemented, false},
	}
	for _, c := range cases {
		for _, proto := range []string{"udp", "tcp"} {
			m := new(dns.Msg).SetQuestion("appsrv1.docker.", dns.TypeA)
			c.tweak(m)
			addr := map[string]string{"udp": s.udp, "tcp": s.tcp}[proto]
			r, _, err := (&dns.Client{Net: proto, Timeout: 2 * time.Second}).Exchange(m, addr)
			if err != nil {
				t.Errorf("%s over %s: no answer: %v", c.name, proto, err)
				continue
			}
			if r.Rcode != c.rcode || (len(r.Answer) > 0) != c.answer {
				t.Errorf("%s over %s: rcode %s with %d answers, want %s (answer: %v)",
					c.name, proto, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[c.rcode], c.answer)
			}
			if o := r.IsEdns0(); o != nil && (o.Hdr.Ttl&0x7fff != 0 || len(o.Option) > 0 && c.name == "unknown EDNS option") {
				t.Errorf("%s over %s: unknown flags or options echoed: %v", c.name, proto, o)
			}
		}
	}
}
