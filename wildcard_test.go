package dockerhosts

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func wildcardHandler() *DockerHosts {
	d := testHandler()
	d.Fall = fallNone()
	addr := func(s string) []index.Addr { return []index.Addr{{IP: netip.MustParseAddr(s)}} }
	d.index.Replace(index.Source{Name: "wild"}, []index.Host{
		{ID: "app", Names: []string{"app"}, ReverseNames: []string{"app"}, Addrs: addr("172.18.0.5"), Wildcard: true},
		{ID: "x", Names: []string{"x.app"}, ReverseNames: []string{"x.app"}, Addrs: addr("172.18.0.9")},
		{ID: "deep", Names: []string{"deep.sub.app"}, Addrs: addr("172.18.0.10")},
		{ID: "www", Names: []string{"www"}, CNAME: "tenant.app"},
	})
	return d
}

func TestWildcard(t *testing.T) {
	nodata := []dns.RR{soa("docker.")}
	for _, c := range []struct {
		name string
		tc   test.Case
	}{
		{"a name below answers with its own owner", test.Case{Qname: "tenant1.app.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("tenant1.app.docker. 5 IN A 172.18.0.5")}}},
		{"in the question's case", test.Case{Qname: "Tenant1.APP.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("Tenant1.APP.docker. 5 IN A 172.18.0.5")}}},
		{"several labels below", test.Case{Qname: "a.b.app.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("a.b.app.docker. 5 IN A 172.18.0.5")}}},
		{"the wildcard name itself", test.Case{Qname: "*.app.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("*.app.docker. 5 IN A 172.18.0.5")}}},
		{"the name itself is unchanged", test.Case{Qname: "app.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("app.docker. 5 IN A 172.18.0.5")}}},
		{"a name that exists blocks it", test.Case{Qname: "x.app.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("x.app.docker. 5 IN A 172.18.0.9")}}},
		{"and so does it below itself", test.Case{Qname: "y.x.app.docker.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: nodata}},
		{"an empty non-terminal is a closest encloser", test.Case{Qname: "q.sub.app.docker.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: nodata}},
		{"other types are NODATA", test.Case{Qname: "tenant1.app.docker.", Qtype: dns.TypeTXT, Ns: nodata}},
		{"AAAA is NODATA", test.Case{Qname: "tenant1.app.docker.", Qtype: dns.TypeAAAA, Ns: nodata}},
		{"a CNAME chain reaches it", test.Case{Qname: "www.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("www.docker. 5 IN CNAME tenant.app.docker."), test.A("tenant.app.docker. 5 IN A 172.18.0.5")}}},
		{"no wildcard elsewhere", test.Case{Qname: "tenant1.appsrv1.docker.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: nodata}},
	} {
		t.Run(c.name, func(t *testing.T) { checkInOrder(t, wildcardHandler(), c.tc) })
	}
}

func TestTransferHasTheWildcard(t *testing.T) {
	if got := transferred(wildcardHandler(), dns.TypeA); !slices.Contains(got, "*.app.docker.\t5\tIN\tA\t172.18.0.5") {
		t.Fatalf("AXFR lacks *.app.docker. A 172.18.0.5: %q", got)
	}
}
