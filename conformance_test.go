package dockerhosts

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"
)

// The zones of the conformance tests: a forward zone and both kinds of
// reverse zone, each with its synthesized name server ns.dns.<zone>.
var conformZones = []string{"docker.", "17.172.in-addr.arpa.", "0.0.d.f.ip6.arpa."}

// conformServer serves conformZones from a hosts file on 127.0.0.1, with
// transfers open to all.
func conformServer(t *testing.T) *coreDNS {
	t.Helper()
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1 web\n172.17.0.3 db\nfd00::3 db\n")
	var keys []string
	for _, z := range conformZones {
		keys = append(keys, z+":0")
	}
	return startCoreDNS(t, fmt.Sprintf(`%s {
		bind 127.0.0.1
		transfer {
			to *
		}
		dockerhosts {
			hostsfile %s
		}
	}`, strings.Join(keys, " "), hosts))
}

// ask sends one message over TCP (no truncation) and fails the test on a
// transport error.
func (s *coreDNS) ask(t *testing.T, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, s.tcp)
	if err != nil {
		t.Fatalf("%v: %v", m.Question, err)
	}
	return r
}

// Every zone, reverse ones included, has the name server it names in its
// NS and SOA (before, a reverse zone's was NXDOMAIN: zonemaster stopped with
// CRITICAL and dnsviz reported NO_ADDRESS_FOR_NS_NAME), and the name above
// it is an empty non-terminal: NODATA, not NXDOMAIN (RFC 8020).
func TestEveryZonesNameServerExists(t *testing.T) {
	s := conformServer(t)
	for _, z := range conformZones {
		for _, proto := range []string{"udp", "tcp"} {
			r := s.exchange(t, proto, "ns.dns."+z, dns.TypeA)
			if got := answerA(r); r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(got) != 1 || got[0] != "127.0.0.1" {
				t.Errorf("%s ns.dns.%s A: %s aa=%v %v, want 127.0.0.1", proto, z, dns.RcodeToString[r.Rcode], r.Authoritative, got)
			}
			r = s.exchange(t, proto, "ns.dns."+z, dns.TypeAAAA)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Errorf("%s ns.dns.%s AAAA (bound to IPv4 only): %v, want NODATA with SOA", proto, z, r)
			}
			for _, qtype := range []uint16{dns.TypeA, dns.TypePTR} {
				r = s.exchange(t, proto, "dns."+z, qtype)
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("%s dns.%s %s: %v, want NODATA with SOA", proto, z, dns.TypeToString[qtype], r)
				}
			}
		}
	}
	// The name server's own subtree holds nothing else.
	if r := s.exchange(t, "udp", "x.dns.docker.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("x.dns.docker. A: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

// A secondary serves the transfer and a resolver the direct answer: they
// must be the same RRsets, the name server's glue included.
func TestEveryTransferredRRsetIsTheDirectAnswer(t *testing.T) {
	s := conformServer(t)
	for _, z := range conformZones {
		rrs := axfr(t, s.tcp, z)
		checkTransfer(t, z, rrs)
		diffs := knottest.DirectDiffs(rrs, func(name string, qtype uint16) (*dns.Msg, error) {
			r, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion(name, qtype), s.tcp)
			return r, err
		})
		for _, d := range diffs {
			t.Errorf("zone %s: %s", z, d)
		}
		if len(rrs) < 4 { // SOA, NS, glue, SOA at least
			t.Errorf("zone %s: transfer of %d records: %v", z, len(rrs), rrs)
		}
	}
}

// We are the primary: a NOTIFY asks a secondary to refresh, so one sent
// to us is refused (RFC 1996 3.10; BIND refuses too), never answered as if
// taken, NOERROR with AA and the SOA.
func TestNOTIFYToThePrimaryIsRefused(t *testing.T) {
	s := conformServer(t)
	for _, z := range conformZones {
		m := new(dns.Msg).SetNotify(z)
		for _, proto := range []string{"udp", "tcp"} {
			r, _, err := (&dns.Client{Net: proto, Timeout: 2 * time.Second}).Exchange(m, map[string]string{"udp": s.udp, "tcp": s.tcp}[proto])
			if err != nil {
				t.Fatalf("NOTIFY %s over %s: %v", z, proto, err)
			}
			if r.Rcode != dns.RcodeRefused || r.Authoritative || len(r.Answer) != 0 || r.Opcode != dns.OpcodeNotify {
				t.Errorf("NOTIFY %s over %s: %v, want REFUSED without AA or answer", z, proto, r)
			}
		}
	}
}

// A transfer of a name that is no zone apex is not ours to give: NOTAUTH
// (RFC 5936 2.2.1; BIND and Knot answer so), not an empty NOERROR that
// dig and kdig report as a broken transfer.
func TestTransferOfANameThatIsNoApexIsNOTAUTH(t *testing.T) {
	s := conformServer(t)
	for _, name := range []string{"appsrv1.docker.", "nosuch.docker.", "dns.docker.", "ns.dns.docker.", "2.0.17.172.in-addr.arpa.", "0.17.172.in-addr.arpa."} {
		for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			m := new(dns.Msg)
			if qtype == dns.TypeAXFR {
				m.SetAxfr(name)
			} else {
				m.SetIxfr(name, 1, "ns.dns.docker.", "hostmaster.docker.")
			}
			r := s.ask(t, m)
			if r.Rcode != dns.RcodeNotAuth || r.Authoritative || len(r.Answer) != 0 {
				t.Errorf("%s %s: %s aa=%v answer %v, want NOTAUTH", dns.TypeToString[qtype], name, dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
			}
		}
	}
}

// Without a transfer plugin a transfer of a zone is refused (RFC 5936
// 2.2.1: by policy), never answered as an empty NOERROR.
func TestTransferWithoutTheTransferPluginIsRefused(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	s := startCoreDNS(t, fmt.Sprintf("docker.:0 {\n dockerhosts {\n  hostsfile %s\n }\n}", hosts))
	for name, rcode := range map[string]int{"docker.": dns.RcodeRefused, "appsrv1.docker.": dns.RcodeNotAuth} {
		if r := s.ask(t, new(dns.Msg).SetAxfr(name)); r.Rcode != rcode || r.Authoritative {
			t.Errorf("AXFR %s: %s aa=%v, want %s", name, dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[rcode])
		}
	}
}

// The SOA and NS RRsets have one set of bytes whoever asks: their RDATA is
// spelled as the zone is, while their owner keeps the question's case.
func TestSynthesizedRDATAKeepsTheZonesSpelling(t *testing.T) {
	s := conformServer(t)
	for _, z := range []string{"DoCkEr.", "17.172.In-Addr.ARPA.", "0.0.D.F.IP6.arpa."} {
		zone := strings.ToLower(z)
		r := s.exchange(t, "udp", z, dns.TypeSOA)
		soa, ok := firstAnswer(r).(*dns.SOA)
		if !ok || soa.Hdr.Name != z || soa.Ns != "ns.dns."+zone || soa.Mbox != "hostmaster."+zone {
			t.Errorf("%s SOA: %v, want owner %s and RDATA ns.dns.%s hostmaster.%s", z, r.Answer, z, zone, zone)
		}
		r = s.exchange(t, "udp", z, dns.TypeNS)
		ns, ok := firstAnswer(r).(*dns.NS)
		if !ok || ns.Hdr.Name != z || ns.Ns != "ns.dns."+zone || len(r.Extra) == 0 || r.Extra[0].Header().Name != "ns.dns."+zone {
			t.Errorf("%s NS: %v, glue %v; want owner %s, target and glue ns.dns.%s", z, r.Answer, r.Extra, z, zone)
		}
		r = s.exchange(t, "udp", "nosuch."+z, dns.TypeA)
		if len(r.Ns) != 1 || r.Ns[0].Header().Name != z || r.Ns[0].(*dns.SOA).Ns != "ns.dns."+zone {
			t.Errorf("nosuch.%s A: authority %v, want the SOA owned by %s naming ns.dns.%s", z, r.Ns, z, zone)
		}
	}
}

func firstAnswer(r *dns.Msg) dns.RR {
	if len(r.Answer) == 0 {
		return nil
	}
	return r.Answer[0]
}

// TestUpstreamFORMERRGapsAsDocumented pins what CoreDNS itself (its server
// in core/dnsserver, on miekg/dns) answers to malformed queries, before any
// plugin runs: the README's Bugs lists each with its component. The plugin
// does not work around them. When this test fails after an upgrade, the
// upstream code changed: update the README.
func TestUpstreamFORMERRGapsAsDocumented(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	s := startCoreDNS(t, fmt.Sprintf("docker.:0 {\n bind 127.0.0.1\n dockerhosts {\n  hostsfile %s\n }\n}", hosts))
	query := func() *dns.Msg { return new(dns.Msg).SetQuestion("appsrv1.docker.", dns.TypeA) }
	pack := func(m *dns.Msg) []byte {
		w, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	update := query()
	update.Opcode = dns.OpcodeUpdate
	update.RecursionDesired, update.RecursionAvailable, update.AuthenticatedData, update.CheckingDisabled = true, true, true, true
	cookie := query()
	o := cookie.SetEdns0(1232, false).IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405"}) // 5 bytes, RFC 7873 wants 8 or 16-40
	twoOPT := query()
	twoOPT.SetEdns0(1232, false)
	twoOPT.Extra = append(twoOPT.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
	ownedOPT := query()
	ownedOPT.Extra = append(ownedOPT.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: "docker.", Rrtype: dns.TypeOPT, Class: 1232}})
	headerOnly := pack(query())[:12] // QDCOUNT 1, no question

	cases := []struct {
		name  string
		wire  []byte
		rcode int // what CoreDNS answers; RFC: see the README's Bugs
		check func(*dns.Msg) bool
	}{
		{"NOTIMP echoes RD, RA, AD and CD (miekg/dns server)", pack(update), dns.RcodeNotImplemented,
			func(r *dns.Msg) bool { return r.RecursionAvailable && r.AuthenticatedData && r.CheckingDisabled }},
		{"malformed COOKIE is answered (RFC 7873 5.2.2: FORMERR)", pack(cookie), dns.RcodeSuccess, nil},
		{"two OPT records are answered (RFC 6891 6.1.1: FORMERR)", pack(twoOPT), dns.RcodeSuccess, nil},
		{"OPT owned by a name other than the root is answered (RFC 6891 6.1.2: FORMERR)", pack(ownedOPT), dns.RcodeSuccess, nil},
		{"header without its question is SERVFAIL (core/dnsserver; FORMERR)", headerOnly, dns.RcodeServerFailure, nil},
	}
	for _, c := range cases {
		r, err := exchangeWire(s.udp, c.wire)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if r.Rcode != c.rcode || c.check != nil && !c.check(r) {
			t.Errorf("%s: now %s %v: upstream changed, update the README's Bugs", c.name, dns.RcodeToString[r.Rcode], &r.MsgHdr)
		}
	}
}

// exchangeWire sends bytes that dns.Msg may not pack as a query over UDP
// and reads the answer.
func exchangeWire(addr string, wire []byte) (*dns.Msg, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(wire); err != nil {
		return nil, err
	}
	buf := make([]byte, dns.MaxMsgSize)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	return r, r.Unpack(buf[:n])
}
