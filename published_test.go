package dockerhosts

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// srvAnswer is one SRV record with the addresses the additional section
// gives its target.
type srvAnswer struct {
	target string
	port   uint16
	addrs  string // sorted, comma-separated
}

// srv asks name's SRV over TCP (answers with many targets exceed UDP) and
// returns the records sorted, with their targets' additional addresses.
func (s *coreDNS) srv(t *testing.T, name string) ([]srvAnswer, int) {
	t.Helper()
	r := s.exchange(t, "tcp", name, dns.TypeSRV)
	extra := map[string][]string{}
	for _, rr := range r.Extra {
		switch a := rr.(type) {
		case *dns.A:
			extra[a.Hdr.Name] = append(extra[a.Hdr.Name], a.A.String())
		case *dns.AAAA:
			extra[a.Hdr.Name] = append(extra[a.Hdr.Name], a.AAAA.String())
		}
	}
	var out []srvAnswer
	for _, rr := range r.Answer {
		if v, ok := rr.(*dns.SRV); ok {
			out = append(out, srvAnswer{v.Target, v.Port, strings.Join(slices.Sorted(slices.Values(extra[v.Target])), ",")})
		}
	}
	slices.SortFunc(out, func(a, b srvAnswer) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out, r.Rcode
}

// hostPort is the host port Docker published the container's port on, for
// the binding on bindIP.
func (l *dockerLab) hostPort(id, port, bindIP string) uint16 {
	l.t.Helper()
	for _, line := range strings.Split(l.Docker("port", id, port), "\n") {
		host, p, err := net.SplitHostPort(strings.TrimSpace(line))
		if err == nil && host == bindIP {
			var n uint16
			fmt.Sscan(p, &n)
			return n
		}
	}
	l.t.Fatalf("container %.12s publishes %s on no %s address", id, port, bindIP)
	return 0
}

// TestDockerPublishedPortsAnswerSRV: every published port is an SRV record
// _<container port>._<proto>.<name>, pointing at the engine host (host.docker.,
// here given the loopback address 127.0.0.2) for a port published on all
// addresses, and at <address>.host.docker. for one bound to an address;
// the target's address comes in the additional section.
func TestDockerPublishedPortsAnswerSRV(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", []string{"host_address 127.0.0.2"}))
	id := l.run("pub", "-p", "127.0.0.3::8080/tcp", "-p", "8081/tcp", "-p", "127.0.0.3::53/udp")
	name := fqdn(l.Name("pub"))
	s.waitA(t, name, l.ip(id, l.net))

	bound := l.hostPort(id, "8080/tcp", "127.0.0.3")
	all := l.hostPort(id, "8081/tcp", "0.0.0.0")
	udp := l.hostPort(id, "53/udp", "127.0.0.3")
	for _, c := range []struct {
		qname string
		want  []srvAnswer
	}{
		{"_8080._tcp." + name, []srvAnswer{{"127-0-0-3.host.docker.", bound, "127.0.0.3"}}},
		// Docker lists a port published on all addresses once for IPv4 and
		// once for IPv6: one record.
		{"_8081._tcp." + name, []srvAnswer{{"host.docker.", all, "127.0.0.2"}}},
		{"_53._udp." + name, []srvAnswer{{"127-0-0-3.host.docker.", udp, "127.0.0.3"}}},
		// <name>.<engine> picks this engine's container.
		{"_8081._tcp." + l.Name("pub") + ".host.docker.", []srvAnswer{{"host.docker.", all, "127.0.0.2"}}},
	} {
		if got, rcode := s.srv(t, c.qname); rcode != dns.RcodeSuccess || !slices.Equal(got, c.want) {
			t.Errorf("SRV %s: %v (rcode %s), want %v", c.qname, got, dns.RcodeToString[rcode], c.want)
		}
	}
	if !s.answersA(t, "udp", "host.docker.", "127.0.0.2") || !s.answersA(t, "udp", "127-0-0-3.host.docker.", "127.0.0.3") {
		t.Error("the engine host and the bound address do not answer their addresses")
	}
	// A port the container does not publish is no record; its name is.
	if r := s.exchange(t, "udp", "_9999._tcp."+name, dns.TypeSRV); r.Rcode != dns.RcodeNameError {
		t.Errorf("unpublished port: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}

	// Stopped: its records go, and so does the name of the address only it
	// published on.
	l.Docker("stop", "--time", "1", id)
	await.True(t, dockerWithin, "SRV gone with the container", func() bool {
		_, rcode := s.srv(t, "_8080._tcp."+name)
		return rcode == dns.RcodeNameError
	})
	s.waitNXDOMAIN(t, "127-0-0-3.host.docker.")
	if !s.answersA(t, "udp", "host.docker.", "127.0.0.2") {
		t.Error("the engine host's name went with the last container")
	}
}

// TestDockerHostModeTemplatesAndShortID: with host_mode a container answers
// the addresses its ports are published on (the engine host's for all
// addresses), one without published ports answers NODATA; a name template
// over labels adds a name; the short ID answers as Docker's DNS does.
func TestDockerHostModeTemplatesAndShortID(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", []string{
		"host_address 127.0.0.2", "host_mode", "name_template \"{{.Label `app`}}.apps\""}))
	pub := l.run("pub", "--label", "app=shop", "-p", "127.0.0.3::8080/tcp", "-p", "8081/tcp")
	l.run("quiet")
	for _, proto := range []string{"udp", "tcp"} {
		for _, name := range []string{fqdn(l.Name("pub")), "shop.apps.docker.", fqdn(pub[:12])} {
			await.True(t, dockerWithin, proto+" "+name+" answers the published addresses", func() bool {
				return s.answersA(t, proto, name, "127.0.0.2", "127.0.0.3")
			})
		}
		await.True(t, dockerWithin, proto+": a container without published ports is NODATA with the SOA", func() bool {
			r := s.exchange(t, proto, fqdn(l.Name("quiet")), dns.TypeA)
			return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1
		})
	}
}
