package dockerhosts

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// aliasHandler is testHandler with aliases beside its hosts.
func aliasHandler() *DockerHosts {
	d := testHandler()
	d.Fall = fallNone()
	src := index.Source{Name: "aliases"}
	hosts := []index.Host{
		{ID: "www", Names: []string{"www"}, CNAME: "appsrv1"},
		{ID: "www2", Names: []string{"www2"}, CNAME: "www"},
		{ID: "ext", Names: []string{"ext"}, CNAME: "example.com."},
		{ID: "dual", Names: []string{"d"}, CNAME: "dual.docker."},
		{ID: "dangling", Names: []string{"dangling"}, CNAME: "nope"},
		{ID: "loop1", Names: []string{"loop1"}, CNAME: "loop2"},
		{ID: "loop2", Names: []string{"loop2"}, CNAME: "loop1"},
	}
	// long0 -> long1 -> ... -> long8 -> appsrv1: 9 CNAMEs, one too many;
	// long1 is a chain of 8, served.
	for i := range index.MaxChain + 1 {
		target := fmt.Sprintf("long%d", i+1)
		if i == index.MaxChain {
			target = "appsrv1"
		}
		hosts = append(hosts, index.Host{ID: fmt.Sprint("long", i), Names: []string{fmt.Sprint("long", i)}, CNAME: target})
	}
	d.index.Replace(src, hosts)
	return d
}

func TestCNAME(t *testing.T) {
	long1 := func() []dns.RR {
		var rrs []dns.RR
		for i := 1; i <= index.MaxChain; i++ {
			next := fmt.Sprintf("long%d.docker.", i+1)
			if i == index.MaxChain {
				next = "appsrv1.docker."
			}
			rrs = append(rrs, test.CNAME(fmt.Sprintf("long%d.docker. 5 IN CNAME %s", i, next)))
		}
		return append(rrs, test.A("appsrv1.docker. 5 IN A 172.17.0.2"))
	}
	for _, c := range []struct {
		name string
		tc   test.Case
	}{
		{"A follows the chain to the target's addresses", test.Case{Qname: "www.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("www.docker. 5 IN CNAME appsrv1.docker."), test.A("appsrv1.docker. 5 IN A 172.17.0.2")}}},
		{"the owner keeps the question's case", test.Case{Qname: "WWW.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("WWW.docker. 5 IN CNAME appsrv1.docker."), test.A("appsrv1.docker. 5 IN A 172.17.0.2")}}},
		{"a chain of two", test.Case{Qname: "www2.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("www2.docker. 5 IN CNAME www.docker."), test.CNAME("www.docker. 5 IN CNAME appsrv1.docker."),
			test.A("appsrv1.docker. 5 IN A 172.17.0.2")}}},
		{"AAAA at the target", test.Case{Qname: "d.docker.", Qtype: dns.TypeAAAA, Answer: []dns.RR{
			test.CNAME("d.docker. 5 IN CNAME dual.docker."), test.AAAA("dual.docker. 5 IN AAAA fd00::3")}}},
		{"a type the target lacks: the CNAME alone", test.Case{Qname: "www.docker.", Qtype: dns.TypeAAAA, Answer: []dns.RR{
			test.CNAME("www.docker. 5 IN CNAME appsrv1.docker.")}}},
		{"CNAME asks for the one record", test.Case{Qname: "www2.docker.", Qtype: dns.TypeCNAME, Answer: []dns.RR{
			test.CNAME("www2.docker. 5 IN CNAME www.docker.")}}},
		{"out of our zones: the CNAME alone", test.Case{Qname: "ext.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("ext.docker. 5 IN CNAME example.com.")}}},
		{"a target in our zone without data", test.Case{Qname: "dangling.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("dangling.docker. 5 IN CNAME nope.docker.")}}},
		{"a loop is not served", test.Case{Qname: "loop1.docker.", Qtype: dns.TypeA, Ns: []dns.RR{soa("docker.")}}},
		{"nor its CNAME", test.Case{Qname: "loop1.docker.", Qtype: dns.TypeCNAME, Ns: []dns.RR{soa("docker.")}}},
		{"a chain too long is not served", test.Case{Qname: "long0.docker.", Qtype: dns.TypeA, Ns: []dns.RR{soa("docker.")}}},
		{"a chain of the bound is", test.Case{Qname: "long1.docker.", Qtype: dns.TypeA, Answer: long1()}},
	} {
		t.Run(c.name, func(t *testing.T) { checkInOrder(t, aliasHandler(), c.tc) })
	}
}

// checkInOrder asks d the question of tc and checks the answer section in
// the order sent (a chain reads from the question's name down) and the
// authority section.
func checkInOrder(t *testing.T, d *DockerHosts, tc test.Case) {
	t.Helper()
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := d.ServeDNS(context.Background(), rec, tc.Msg()); err != nil {
		t.Fatal(err)
	}
	if err := test.CNAMEOrder(rec.Msg); err != nil {
		t.Error(err)
	}
	if err := test.Header(tc, rec.Msg); err != nil {
		t.Fatal(err)
	}
	if err := test.Section(tc, test.Answer, rec.Msg.Answer); err != nil {
		t.Fatal(err)
	}
	if err := test.Section(tc, test.Ns, rec.Msg.Ns); err != nil {
		t.Fatal(err)
	}
}

// transferred is the records of rrtype in an AXFR of docker. from d, as
// sorted text.
func transferred(d *DockerHosts, rrtype uint16) []string {
	var got []string
	d.zoneRecords("docker.", d.index.Load(), func(rrs []dns.RR) {
		for _, rr := range rrs {
			if rr.Header().Rrtype == rrtype {
				got = append(got, rr.String())
			}
		}
	})
	slices.Sort(got)
	return got
}

func TestTransferHasTheServedCNAMEs(t *testing.T) {
	got := transferred(aliasHandler(), dns.TypeCNAME)
	want := []string{
		"d.docker.\t5\tIN\tCNAME\tdual.docker.",
		"dangling.docker.\t5\tIN\tCNAME\tnope.docker.",
		"ext.docker.\t5\tIN\tCNAME\texample.com.",
	}
	for i := 1; i <= index.MaxChain; i++ {
		next := fmt.Sprintf("long%d.docker.", i+1)
		if i == index.MaxChain {
			next = "appsrv1.docker."
		}
		want = append(want, fmt.Sprintf("long%d.docker.\t5\tIN\tCNAME\t%s", i, next))
	}
	want = append(want, "www.docker.\t5\tIN\tCNAME\tappsrv1.docker.", "www2.docker.\t5\tIN\tCNAME\twww.docker.")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("CNAMEs transferred:\n%s\nwant (no loop, no chain too long):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
