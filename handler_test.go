package dockerhosts

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// nextRcode marks answers that came from the next plugin.
const nextRcode = dns.RcodeNotImplemented

var (
	fileSource   = index.Source{Name: "hostsfile:test", Priority: 10}
	dockerSource = index.Source{Name: "docker", Priority: 0}
)

func testHandler(fallZones ...string) *DockerHosts {
	d := &DockerHosts{
		Zones: []string{"docker.", "17.172.in-addr.arpa."},
		TTL:   5,
		Next:  test.NextHandler(nextRcode, nil),
		index: index.New([]string{"docker.", "17.172.in-addr.arpa."}),
	}
	if fallZones != nil {
		d.Fall.SetZonesFromArgs(fallZones)
	}
	addr := func(s string) index.Addr { return index.Addr{IP: netip.MustParseAddr(s)} }
	d.index.Replace(fileSource, []index.Host{
		{ID: "1", Names: []string{"appsrv1"}, ReverseNames: []string{"appsrv1"}, Addrs: []index.Addr{addr("172.17.0.2")}},
		{ID: "2", Names: []string{"dual", "dual-alias"}, ReverseNames: []string{"dual", "dual-alias"}, Addrs: []index.Addr{addr("172.17.0.3"), addr("fd00::3")}},
		{ID: "3", Names: []string{"many"}, ReverseNames: []string{"many"}, Addrs: []index.Addr{addr("10.0.0.1"), addr("10.0.0.2")}},
		{ID: "4", Names: []string{"web.lab"}, ReverseNames: []string{"web.lab"}, Addrs: []index.Addr{addr("10.0.1.1")}},
		{ID: "5", Names: []string{"v6only"}, ReverseNames: []string{"v6only"}, Addrs: []index.Addr{addr("fd00::5")}},
		{ID: "6", Names: []string{"noaddr"}, ReverseNames: []string{"noaddr"}},
	})
	srvHost := func(id, name, ip string) index.Host {
		return index.Host{ID: id, Names: []string{name, "api.lab"}, ReverseNames: []string{name},
			Addrs: []index.Addr{addr(ip)}, Services: []index.Service{{Name: "http", Proto: "tcp", Port: 8080}}}
	}
	d.index.Replace(dockerSource, []index.Host{srvHost("c1", "lab-api-1", "172.18.0.11"), srvHost("c2", "lab-api-2", "172.18.0.12")})
	return d
}

func soa(zone string) dns.RR { return soaOwned(zone, zone) }

// soaOwned is zone's SOA with owner spelled as a question spelled it.
func soaOwned(owner, zone string) dns.RR {
	return test.SOA(owner + " 5 IN SOA ns.dns." + zone + " hostmaster." + zone + " 1 7200 1800 86400 5")
}

func TestServeDNS(t *testing.T) {
	cases := []struct {
		name  string
		fall  []string
		class uint16
		tc    test.Case
	}{
		{name: "A", tc: test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("appsrv1.docker. 5 IN A 172.17.0.2")}}},
		{name: "case is kept", tc: test.Case{Qname: "AppSrv1.DOCKER.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("AppSrv1.DOCKER. 5 IN A 172.17.0.2")}}},
		{name: "all addresses", tc: test.Case{Qname: "many.docker.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("many.docker. 5 IN A 10.0.0.1"), test.A("many.docker. 5 IN A 10.0.0.2")}}},
		{name: "AAAA", tc: test.Case{Qname: "dual.docker.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("dual.docker. 5 IN AAAA fd00::3")}}},
		{name: "name inside a zone answers as written", tc: test.Case{Qname: "web.lab.docker.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web.lab.docker. 5 IN A 10.0.1.1")}}},
		{name: "AAAA of an IPv4-only name is NODATA with SOA", tc: test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeAAAA,
			Ns: []dns.RR{soa("docker.")}}},
		{name: "A of an IPv6-only name is NODATA", tc: test.Case{Qname: "v6only.docker.", Qtype: dns.TypeA,
			Ns: []dns.RR{soa("docker.")}}},
		{name: "MX is NODATA", tc: test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeMX, Ns: []dns.RR{soa("docker.")}}},
		{name: "unknown type is NODATA", tc: test.Case{Qname: "appsrv1.docker.", Qtype: 65280, Ns: []dns.RR{soa("docker.")}}},
		{name: "a name without addresses is NODATA", tc: test.Case{Qname: "noaddr.docker.", Qtype: dns.TypeA, Ns: []dns.RR{soa("docker.")}}},
		{name: "NODATA never falls through", fall: []string{}, tc: test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeTXT,
			Ns: []dns.RR{soa("docker.")}}},
		{name: "empty non-terminal is NODATA", tc: test.Case{Qname: "lab.docker.", Qtype: dns.TypeA, Ns: []dns.RR{soa("docker.")}}},
		{name: "unknown name is NXDOMAIN with SOA", tc: test.Case{Qname: "nope.docker.", Qtype: dns.TypeA,
			Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("docker.")}}},
		{name: "SOA owner keeps the question's case", tc: test.Case{Qname: "nope.DoCkEr.", Qtype: dns.TypeA,
			Rcode: dns.RcodeNameError, Ns: []dns.RR{soaOwned("DoCkEr.", "docker.")}}},
		{name: "NS target in the zone's spelling", tc: test.Case{Qname: "DoCkEr.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("DoCkEr. 5 IN NS ns.dns.docker.")}, Extra: []dns.RR{test.A("ns.dns.docker. 5 IN A 127.0.0.1")}}},
		{name: "unknown name falls through", fall: []string{}, tc: test.Case{Qname: "nope.docker.", Qtype: dns.TypeA, Rcode: nextRcode}},
		{name: "fallthrough limited to other zones", fall: []string{"example.org."}, tc: test.Case{Qname: "nope.docker.", Qtype: dns.TypeA,
			Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("docker.")}}},
		{name: "outside the zones goes to next", tc: test.Case{Qname: "example.org.", Qtype: dns.TypeA, Rcode: nextRcode}},
		{name: "apex SOA", tc: test.Case{Qname: "docker.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa("docker.")}}},
		{name: "apex NS", tc: test.Case{Qname: "docker.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("docker. 5 IN NS ns.dns.docker.")}, Extra: []dns.RR{test.A("ns.dns.docker. 5 IN A 127.0.0.1")}}},
		{name: "apex A is NODATA", tc: test.Case{Qname: "docker.", Qtype: dns.TypeA, Ns: []dns.RR{soa("docker.")}}},
		{name: "name server address", tc: test.Case{Qname: "ns.dns.docker.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("ns.dns.docker. 5 IN A 127.0.0.1")}}},
		{name: "reverse zone's name server address", tc: test.Case{Qname: "ns.dns.17.172.in-addr.arpa.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("ns.dns.17.172.in-addr.arpa. 5 IN A 127.0.0.1")}}},
		{name: "the name above the name server is NODATA", tc: test.Case{Qname: "dns.docker.", Qtype: dns.TypeA,
			Ns: []dns.RR{soa("docker.")}}},
		{name: "the name above a reverse zone's name server is NODATA", tc: test.Case{Qname: "dns.17.172.in-addr.arpa.", Qtype: dns.TypePTR,
			Ns: []dns.RR{soa("17.172.in-addr.arpa.")}}},
		{name: "AXFR of a name that is no zone apex is NOTAUTH", tc: test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeAXFR,
			Rcode: dns.RcodeNotAuth}},
		{name: "AXFR no transfer plugin took is REFUSED", tc: test.Case{Qname: "docker.", Qtype: dns.TypeAXFR,
			Rcode: dns.RcodeRefused}},
		{name: "ANY is minimal", tc: test.Case{Qname: "dual.docker.", Qtype: dns.TypeANY,
			Answer: []dns.RR{test.A("dual.docker. 5 IN A 172.17.0.3")}}},
		{name: "ANY without addresses is HINFO RFC8482", tc: test.Case{Qname: "noaddr.docker.", Qtype: dns.TypeANY,
			Answer: []dns.RR{test.HINFO("noaddr.docker. 5 IN HINFO RFC8482 \"\"")}}},
		{name: "SRV per replica with addresses", tc: test.Case{Qname: "_http._tcp.api.lab.docker.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("_http._tcp.api.lab.docker. 5 IN SRV 10 10 8080 lab-api-1.docker."),
				test.SRV("_http._tcp.api.lab.docker. 5 IN SRV 10 10 8080 lab-api-2.docker."),
			},
			Extra: []dns.RR{test.A("lab-api-1.docker. 5 IN A 172.18.0.11"), test.A("lab-api-2.docker. 5 IN A 172.18.0.12")}}},
		{name: "PTR in a reverse zone", tc: test.Case{Qname: "2.0.17.172.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("2.0.17.172.in-addr.arpa. 5 IN PTR appsrv1.docker.")}}},
		{name: "PTR lists every name of the line", tc: test.Case{Qname: "3.0.17.172.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("3.0.17.172.in-addr.arpa. 5 IN PTR dual-alias.docker."), test.PTR("3.0.17.172.in-addr.arpa. 5 IN PTR dual.docker.")}}},
		{name: "PTR outside the zones", tc: test.Case{Qname: "1.0.0.10.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("1.0.0.10.in-addr.arpa. 5 IN PTR many.docker.")}}},
		{name: "PTR for IPv6", tc: test.Case{Qname: "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{
				test.PTR("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR dual-alias.docker."),
				test.PTR("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR dual.docker."),
			}}},
		{name: "a reverse name above known addresses is NODATA", tc: test.Case{Qname: "0.17.172.in-addr.arpa.", Qtype: dns.TypePTR,
			Ns: []dns.RR{soa("17.172.in-addr.arpa.")}}},
		{name: "a reverse name above no known address is NXDOMAIN", tc: test.Case{Qname: "9.17.172.in-addr.arpa.", Qtype: dns.TypePTR,
			Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("17.172.in-addr.arpa.")}}},
		{name: "unknown PTR in our reverse zone is NXDOMAIN", tc: test.Case{Qname: "9.9.17.172.in-addr.arpa.", Qtype: dns.TypePTR,
			Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("17.172.in-addr.arpa.")}}},
		{name: "unknown PTR falls through", fall: []string{}, tc: test.Case{Qname: "9.9.17.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode}},
		{name: "unknown PTR outside zones without fallthrough is NXDOMAIN", tc: test.Case{Qname: "9.9.9.9.in-addr.arpa.", Qtype: dns.TypePTR,
			Rcode: dns.RcodeNameError}},
		{name: "PTR of a forward name outside the zones goes to next", tc: test.Case{Qname: "example.org.", Qtype: dns.TypePTR, Rcode: nextRcode}},
		{name: "unknown PTR outside zones falls through", fall: []string{}, tc: test.Case{Qname: "9.9.9.9.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode}},
		{name: "known address, other type is NODATA", tc: test.Case{Qname: "2.0.17.172.in-addr.arpa.", Qtype: dns.TypeTXT,
			Ns: []dns.RR{soa("17.172.in-addr.arpa.")}}},
		{name: "CHAOS class gets no IN data", class: dns.ClassCHAOS, tc: test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeA,
			Rcode: dns.RcodeRefused}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := testHandler(c.fall...)
			if c.fall == nil {
				d.Fall = fallNone()
			}
			m := c.tc.Msg()
			if c.class != 0 {
				m.Question[0].Qclass = c.class
			}
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			rcode, err := d.ServeDNS(context.Background(), rec, m)
			if err != nil {
				t.Fatal(err)
			}
			if rcode == nextRcode {
				if c.tc.Rcode != nextRcode {
					t.Fatalf("went to the next plugin, want rcode %s", dns.RcodeToString[c.tc.Rcode])
				}
				return
			}
			resp := rec.Msg
			if resp == nil {
				t.Fatal("no reply written")
			}
			if err := test.SortAndCheck(resp, c.tc); err != nil {
				t.Fatal(err)
			}
			inZones := matchZone(d.Zones, strings.ToLower(c.tc.Qname)) != ""
			if resp.Authoritative != (inZones && resp.Rcode == dns.RcodeNameError || resp.Rcode == dns.RcodeSuccess) {
				t.Errorf("authoritative=%v: answers in our zones and PTR answers must be, refusals, NOTAUTH and foreign NXDOMAINs not", resp.Authoritative)
			}
		})
	}
}

func fallNone() fall.F { return fall.F{} }

func TestMatchZoneAgreesWithCoreDNS(t *testing.T) {
	zones := []string{".", "docker.", "lab.docker.", "17.172.in-addr.arpa."}
	for _, q := range []string{"docker.", "a.docker.", "xdocker.", "a.lab.docker.", "lab.docker.", "alab.docker.",
		"example.org.", "2.0.17.172.in-addr.arpa.", "172.in-addr.arpa.", "."} {
		for _, zs := range [][]string{zones, zones[1:], zones[1:2]} {
			if got, want := matchZone(zs, q), plugin.Zones(zs).Matches(q); got != want {
				t.Errorf("matchZone(%v, %q) = %q, plugin.Zones.Matches says %q", zs, q, got, want)
			}
		}
	}
}

// TestAnswerFollowsTheClientsNetwork: a container on two networks answers the
// address on the client's own network, else the preferred network's, else
// both; a name served by two containers does this per container.
func TestAnswerFollowsTheClientsNetwork(t *testing.T) {
	on := func(ip, network, subnet string) index.Addr {
		return index.Addr{IP: netip.MustParseAddr(ip), Network: network, Subnet: netip.MustParsePrefix(subnet)}
	}
	d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: index.New([]string{"docker."})}
	d.index.Replace(dockerSource, []index.Host{
		{ID: "c1", Names: []string{"app", "svc"}, ReverseNames: []string{"app"},
			Addrs: []index.Addr{on("10.1.0.2", "front", "10.1.0.0/24"), on("10.2.0.2", "back", "10.2.0.0/24")}},
		{ID: "c2", Names: []string{"svc"}, ReverseNames: []string{"other"},
			Addrs: []index.Addr{on("10.1.0.3", "front", "10.1.0.0/24"), on("10.2.0.3", "back", "10.2.0.0/24")}},
	})
	for _, c := range []struct {
		client, name string
		networks     []string
		want         []string
	}{
		{"10.2.0.77", "app.docker.", nil, []string{"10.2.0.2"}},
		{"10.1.0.77", "app.docker.", []string{"back"}, []string{"10.1.0.2"}},
		{"192.0.2.1", "app.docker.", []string{"back", "front"}, []string{"10.2.0.2"}},
		{"192.0.2.1", "app.docker.", []string{"elsewhere"}, []string{"10.1.0.2", "10.2.0.2"}},
		{"192.0.2.1", "app.docker.", nil, []string{"10.1.0.2", "10.2.0.2"}},
		{"10.1.0.77", "svc.docker.", nil, []string{"10.1.0.2", "10.1.0.3"}},
		{"192.0.2.1", "svc.docker.", []string{"back"}, []string{"10.2.0.2", "10.2.0.3"}},
	} {
		d.Networks = c.networks
		if got := askAFrom(t, d, c.client, c.name); !slices.Equal(got, c.want) {
			t.Errorf("%s asking %s with networks %v: got %v, want %v", c.client, c.name, c.networks, got, c.want)
		}
	}
}

// TestOverlappingSubnetsOfTwoEngines: both engines' default bridges are
// 172.17.0.0/16. A subnet is matched only within the client's own engine (the
// engine it is a container of; for another client, the local engines), so a
// client never gets a remote engine's bridge address because its own bridge
// has the same numbers.
func TestOverlappingSubnetsOfTwoEngines(t *testing.T) {
	on := func(ip, network, subnet, engine string) index.Addr {
		return index.Addr{IP: netip.MustParseAddr(ip), Network: network, Subnet: netip.MustParsePrefix(subnet), Scope: engine}
	}
	d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: index.New([]string{"docker."}), LocalScopes: []string{"a"}}
	d.index.Replace(index.Source{Name: "docker:a"}, []index.Host{
		{ID: "client", Names: []string{"client"}, Addrs: []index.Addr{on("172.17.0.5", "bridge", "172.17.0.0/16", "a")}},
		{ID: "web", Names: []string{"web", "web.a"}, Addrs: []index.Addr{
			on("172.17.0.2", "bridge", "172.17.0.0/16", "a"), on("10.1.0.2", "front", "10.1.0.0/24", "a")}},
	})
	d.index.Replace(index.Source{Name: "docker:b"}, []index.Host{
		{ID: "web", Names: []string{"web", "web.b"}, Addrs: []index.Addr{
			on("172.17.0.2", "bridge", "172.17.0.0/16", "b"), on("10.9.0.2", "back", "10.9.0.0/24", "b")}},
		{ID: "peer", Names: []string{"peer"}, Addrs: []index.Addr{on("172.17.0.9", "bridge", "172.17.0.0/16", "b")}},
	})
	for _, c := range []struct {
		client, name string
		networks     []string
		want         []string
	}{
		// A container of engine a: a's bridge address; b's container by
		// the preferred network, else all of its addresses.
		{"172.17.0.5", "web.a.docker.", nil, []string{"172.17.0.2"}},
		{"172.17.0.5", "web.b.docker.", nil, []string{"10.9.0.2", "172.17.0.2"}},
		{"172.17.0.5", "web.b.docker.", []string{"back"}, []string{"10.9.0.2"}},
		{"172.17.0.5", "web.docker.", []string{"back"}, []string{"10.9.0.2", "172.17.0.2"}},
		// A container of engine b (seen here when it reaches the resolver
		// unmasqueraded): b's bridge address, a's by preference.
		{"172.17.0.9", "web.b.docker.", nil, []string{"172.17.0.2"}},
		{"172.17.0.9", "web.a.docker.", []string{"front"}, []string{"10.1.0.2"}},
		// The host on a's bridge gateway is no container: local engine a
		// matches, remote engine b does not.
		{"172.17.0.1", "web.a.docker.", nil, []string{"172.17.0.2"}},
		{"172.17.0.1", "web.b.docker.", nil, []string{"10.9.0.2", "172.17.0.2"}},
	} {
		d.Networks = c.networks
		if got := askAFrom(t, d, c.client, c.name); !slices.Equal(got, c.want) {
			t.Errorf("%s asking %s with networks %v: got %v, want %v", c.client, c.name, c.networks, got, c.want)
		}
	}
}

// askAFrom asks d for name's A records as the client at address client
// does, and returns the addresses sorted.
func askAFrom(t *testing.T, d *DockerHosts, client, name string) []string {
	t.Helper()
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: client})
	if _, err := d.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(name, dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range rec.Msg.Answer {
		got = append(got, rr.(*dns.A).A.String())
	}
	slices.Sort(got)
	return got
}
